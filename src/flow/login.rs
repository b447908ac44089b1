//! A login: the chain of steps of the method chosen on the login page (`[login]` config: the
//! method's own step, then its `then` steps, e.g. password → SMS code), and the one function
//! that completes every login, whatever the method ([`complete`], as dex's `finalizeLogin`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::otp::OtpStep;
use crate::authenticators::{
    self, CredentialUse, Ctx, Evidence, IdentitySource, Method, Outcome, Prompt, Refusal,
    RefusalKind, StepState, Subject, VerifiedIdentity,
};
use crate::domain::{AccountStatus, SubjectType};
use crate::message::Message;
use crate::oidc::authorize::{AuthorizationRequest, LoginNeed};
use crate::oidc::error::OAuthError;
use crate::oidc::interaction::{self, Interaction, Next};
use crate::oidc::params::Params;

/// A login between its steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginFlow {
    /// The pending authorization request, if a portal sent the user.
    pub ar: Option<String>,
    /// The method chosen on the login page (the chain's first step).
    pub method: Method,
    /// The steps after the current one, in order.
    pub then: Vec<Method>,
    /// The current step's own state.
    pub current: StepState,
    /// What the steps before the current one proved.
    pub so_far: Option<Evidence>,
    /// What the finished chain is for: a login (flows saved before purposes existed are
    /// logins), a registration, or an upgrade of the logged-in account.
    #[serde(default)]
    pub purpose: Purpose,
}

/// What a chain of steps is run for. The methods do not know: every method that proves who
/// someone is serves each purpose, and only the end of the chain differs ([`Progress::Done`]
/// carries the purpose to the one place that dispatches on it, `http::steps`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Log into the account of the evidence ([`complete`]).
    #[default]
    Login,
    /// Register a new account of this subject type from the verified identity
    /// (`flow::signature_registration`).
    Register(SubjectType),
    /// Raise this account (the logged-in one that asked) to the level the evidence proves
    /// (`flow::upgrade`).
    Upgrade(String),
}

impl FlowState for LoginFlow {
    const KIND: &'static str = "login";
}

impl WithOtp for LoginFlow {
    fn otp(&self) -> Option<&OtpStep> {
        match &self.current {
            StepState::SmsOtp(step) => Some(step),
            _ => None,
        }
    }
    fn otp_mut(&mut self) -> Option<&mut OtpStep> {
        match &mut self.current {
            StepState::SmsOtp(step) => Some(step),
            _ => None,
        }
    }
}

/// Where a login stands after a request.
#[derive(Debug)]
pub enum Progress {
    /// Show this prompt; save the flow.
    Prompt(LoginFlow, Prompt),
    /// Show the prompt again with why the input was refused; save the flow.
    Refused(LoginFlow, Prompt, Refusal),
    /// Every step is done: [`complete`] the login with this evidence, or register or upgrade
    /// with it, as `purpose` says.
    Done {
        method: Method,
        ar: Option<String>,
        evidence: Evidence,
        purpose: Purpose,
    },
    /// The login cannot go on; the user starts over on the login page of the pending request
    /// `ar` (told why).
    Failed {
        ar: Option<String>,
        /// The step that could not go on.
        step: Method,
        refusal: Refusal,
        /// What the chain was for: a registration or an upgrade starts over on its own page.
        purpose: Purpose,
    },
}

/// Starts `method` for the pending request `ar` with what the login page posted. Refuses a
/// method the page would not offer for this request.
pub async fn begin(
    app: &App,
    ctx: &Ctx<'_>,
    method: Method,
    ar: Option<String>,
    need: &LoginNeed,
    input: &Params,
) -> Progress {
    begin_for(app, ctx, Purpose::Login, method, ar, need, input).await
}

/// Starts `method` for `purpose`: a login, a registration or an upgrade all run the same
/// chain of steps.
pub async fn begin_for(
    app: &App,
    ctx: &Ctx<'_>,
    purpose: Purpose,
    method: Method,
    ar: Option<String>,
    need: &LoginNeed,
    input: &Params,
) -> Progress {
    if !authenticators::offered(&app.config.login, need).contains(&method) {
        let refusal = Refusal::invalid("error_method_unavailable", "method_not_offered");
        let step = method;
        let failed = Progress::Failed {
            ar,
            step,
            refusal,
            purpose,
        };
        return record(app, ctx, failed).await;
    }
    let flow = Chain {
        ar,
        method,
        then: app.config.login.then(method).to_vec(),
        so_far: None,
        purpose,
    };
    let outcome = method.start(ctx, None, input).await;
    record(app, ctx, drive(ctx, flow, method, outcome).await).await
}

/// Feeds what the page posted to the login's current step.
pub async fn submit(app: &App, ctx: &Ctx<'_>, flow: LoginFlow, input: &Params) -> Progress {
    let (current, chain) = flow.split();
    let step = current.method();
    let outcome = authenticators::submit(current, ctx, chain.so_far.as_ref(), input).await;
    record(app, ctx, drive(ctx, chain, step, outcome).await).await
}

/// Asks the current step (an outstanding push) how it went.
pub async fn poll(app: &App, ctx: &Ctx<'_>, flow: LoginFlow) -> Progress {
    let (current, chain) = flow.split();
    let step = current.method();
    let outcome = authenticators::poll(current, ctx).await;
    record(app, ctx, drive(ctx, chain, step, outcome).await).await
}

/// A login without its current step.
struct Chain {
    ar: Option<String>,
    method: Method,
    then: Vec<Method>,
    so_far: Option<Evidence>,
    purpose: Purpose,
}

impl LoginFlow {
    /// The current step's state, and the rest of the login.
    fn split(self) -> (StepState, Chain) {
        let chain = Chain {
            ar: self.ar,
            method: self.method,
            then: self.then,
            so_far: self.so_far,
            purpose: self.purpose,
        };
        (self.current, chain)
    }
}

impl Chain {
    /// Adds what a step proved to what the steps before it proved.
    fn add(&mut self, evidence: Evidence) {
        self.so_far = Some(match self.so_far.take() {
            Some(before) => before.then(evidence),
            None => evidence,
        });
    }

    fn with(self, current: StepState) -> LoginFlow {
        LoginFlow {
            ar: self.ar,
            method: self.method,
            then: self.then,
            current,
            so_far: self.so_far,
            purpose: self.purpose,
        }
    }
}

/// Runs steps until one needs the browser, or none is left.
async fn drive(
    ctx: &Ctx<'_>,
    mut chain: Chain,
    mut step: Method,
    mut outcome: Outcome,
) -> Progress {
    // A step a previous one demanded: it runs next, and may not skip.
    let mut required = None;
    loop {
        match outcome {
            Outcome::Prompt(state, prompt) => return Progress::Prompt(chain.with(state), prompt),
            Outcome::Refused(state, prompt, refusal) => {
                return Progress::Refused(chain.with(state), prompt, refusal);
            }
            Outcome::Failed(refusal) => {
                return Progress::Failed {
                    ar: chain.ar,
                    step,
                    refusal,
                    purpose: chain.purpose,
                };
            }
            Outcome::Done(evidence) => chain.add(evidence),
            Outcome::DoneRequiring(evidence, next) => {
                chain.add(evidence);
                chain.then.retain(|m| *m != next);
                chain.then.insert(0, next);
                required = Some(next);
            }
            Outcome::Skip if required == Some(step) => {
                let account = chain.so_far.as_ref().and_then(Evidence::account_id);
                let refusal = Refusal::new(
                    RefusalKind::Limited,
                    Message::new("error_login_step_required"),
                    "required_step_unavailable",
                )
                .account(account);
                return Progress::Failed {
                    ar: chain.ar,
                    step,
                    refusal,
                    purpose: chain.purpose,
                };
            }
            Outcome::Skip => {}
        }
        if chain.then.is_empty() {
            return match chain.so_far {
                Some(evidence) => Progress::Done {
                    method: chain.method,
                    ar: chain.ar,
                    evidence,
                    purpose: chain.purpose,
                },
                // Every step skipped: nothing was proven.
                None => Progress::Failed {
                    ar: chain.ar,
                    step,
                    refusal: Refusal::invalid("err_flow_expired", "nothing_proven"),
                    purpose: chain.purpose,
                },
            };
        }
        step = chain.then.remove(0);
        outcome = step
            .start(ctx, chain.so_far.as_ref(), &Params::default())
            .await;
    }
}

/// Audits and counts refusals (`login.failed`) under the step that refused, once, whatever
/// the method.
async fn record(app: &App, ctx: &Ctx<'_>, progress: Progress) -> Progress {
    match &progress {
        Progress::Refused(flow, _, refusal) => {
            record_failure(app, &ctx.ip, flow.current.method(), refusal).await;
        }
        Progress::Failed { step, refusal, .. } => {
            record_failure(app, &ctx.ip, *step, refusal).await;
        }
        Progress::Prompt(..) | Progress::Done { .. } => {}
    }
    progress
}

/// Audits and counts a refused login step (`login.failed`), for a step run outside the chain
/// (proving a local account before it is linked to an upstream: `http::federation_link`).
pub async fn record_failure(app: &App, ip: &str, step: Method, refusal: &Refusal) {
    // "Busy" checked nothing: it is load, not an attempt. Counted, not audited, so a burst
    // beyond the hashing pool does not become a burst of database writes.
    if refusal.kind == RefusalKind::Busy {
        app.metrics.login(step.name(), "busy");
        return;
    }
    app.metrics.login(step.name(), "failed");
    let mut detail = json!({ "method": step.name(), "reason": refusal.reason });
    if let Some(c) = &refusal.credential_id {
        detail["credential"] = json!(c);
    }
    let mut event = Event::new("login.failed").ip(Some(ip)).detail(detail);
    if let Some(id) = &refusal.account_id {
        event = event.account(id);
    }
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
    }
}

/// The account of a proven identity: a citizen's by ID number (also a person acting for an
/// organisation: the person logs in, not the organisation), an enterprise's by tax code, a
/// state official's agency account by the ID number of their Government-CA certificate.
async fn account_of(
    db: &crate::store::Database,
    identity: &VerifiedIdentity,
) -> Result<Option<crate::domain::Account>, crate::store::StoreError> {
    let found = match identity.subject_type {
        SubjectType::Citizen => match &identity.id_number {
            Some(id) => db.find_account_by_id_number(id).await?,
            None => None,
        },
        // Stored normalised (`TaxCode`), whatever spacing the certificate uses.
        SubjectType::Enterprise => match &identity.tax_code {
            Some(raw) => match crate::domain::TaxCode::parse(raw) {
                Ok(tax_code) => db.find_account_by_tax_code(tax_code.as_str()).await?,
                Err(_) => None,
            },
            None => None,
        },
        // An official's agency account is keyed by the ID number in their Government-CA
        // certificate (`official_id`), apart from any citizen account of the same person.
        SubjectType::Agency => match &identity.id_number {
            Some(id) if is_government(identity) => db.find_account_by_official_id(id).await?,
            _ => None,
        },
    };
    // Only an account of the same kind: an enterprise's tax code never opens a citizen's
    // account, and the other way round.
    Ok(found.filter(|a| a.subject_type == identity.subject_type))
}

/// Only a Government-CA certificate opens an agency account.
fn is_government(identity: &VerifiedIdentity) -> bool {
    identity
        .certificate
        .as_ref()
        .is_some_and(|c| c.trust == crate::domain::TrustSet::Government)
}

/// Where the browser goes once logged in.
pub enum Continuation {
    /// Back into the portal's pending request: a code, the consent page, or an error for it.
    Portal {
        request: Box<AuthorizationRequest>,
        next: Result<Next, OAuthError>,
    },
    /// No portal asked: the home page.
    Home,
    /// A portal asked, but its request has expired meanwhile.
    RequestExpired,
}

/// A finished login: the new SSO session's cookie secret and where to go.
pub struct Completion {
    pub cookie_secret: String,
    pub continuation: Continuation,
}

/// The one completion of every login: checks the account, starts the SSO session with the
/// evidence's `amr` and level, records when the credential was used, audits and counts, and
/// continues the portal's request, if it is one this browser (`browser`: its browser cookie)
/// started.
pub async fn complete(
    app: &App,
    method: Method,
    evidence: &Evidence,
    ar: Option<&str>,
    browser: Option<&str>,
    ip: &str,
) -> Result<Completion, Refusal> {
    // An upstream's person: their account is found, linked or made first (`flow::federation`).
    let resolved;
    let mut upstream = None;
    let mut upstream_logout = None;
    let evidence = match &evidence.subject {
        Subject::Identity(identity) => match &identity.source {
            IdentitySource::Upstream(u) => {
                let linked =
                    super::federation::account_for(app, identity, evidence.level, ip).await;
                let linked = match linked {
                    Ok(l) => l,
                    Err(refusal) => {
                        record_failure(app, ip, method, &refusal).await;
                        return Err(refusal);
                    }
                };
                upstream = Some(json!({ "id": u.upstream, "name": u.name, "level": u.level }));
                upstream_logout = u.end_session_endpoint.as_ref().map(|endpoint| {
                    crate::oidc::session::UpstreamLogout {
                        upstream: u.upstream.clone(),
                        end_session_endpoint: endpoint.clone(),
                        id_token_hint: u.id_token.clone(),
                    }
                });
                resolved = Evidence {
                    subject: Subject::Account(linked.account_id),
                    credential: Some(CredentialUse {
                        kind: crate::domain::CredentialKind::FederatedLink,
                        id: linked.credential_id,
                    }),
                    ..evidence.clone()
                };
                &resolved
            }
            _ => evidence,
        },
        Subject::Account(_) => evidence,
    };
    let found = match &evidence.subject {
        Subject::Account(id) => app.db.find_account(id).await,
        Subject::Identity(identity) => account_of(&app.db, identity).await,
    };
    let account = match found {
        Ok(Some(a)) if a.status == AccountStatus::Active => a,
        Ok(Some(a)) => {
            let refusal = Refusal::new(
                RefusalKind::Unauthorized,
                Message::new("error_invalid_credentials"),
                "account_inactive",
            )
            .account(Some(&a.id));
            record_failure(app, ip, method, &refusal).await;
            return Err(refusal);
        }
        Ok(None) => {
            let refusal = match &evidence.subject {
                // A proven person without an account: registration is the way in.
                Subject::Identity(_) => Refusal::new(
                    RefusalKind::Unauthorized,
                    Message::new("error_no_account_for_identity"),
                    "no_account_for_identity",
                ),
                Subject::Account(id) => Refusal::new(
                    RefusalKind::Unauthorized,
                    Message::new("error_invalid_credentials"),
                    "account_inactive",
                )
                .account(Some(id)),
            };
            record_failure(app, ip, method, &refusal).await;
            return Err(refusal);
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the account failed");
            return Err(Refusal::unavailable("store_unavailable"));
        }
    };
    let level = evidence.level.session_level(account.ial);
    let amr = evidence.amr_strings();
    let (session, cookie_secret) = interaction::start_session(
        app,
        &account.id,
        level,
        amr.clone(),
        evidence.phishing_resistant,
        upstream.clone(),
        upstream_logout,
    )
    .await
    .map_err(|_| Refusal::unavailable("store_unavailable"))?;
    if let Some(c) = &evidence.credential
        && let Err(e) = app.db.credential_used(&c.id, app.clock.now()).await
    {
        tracing::warn!(error = %e, "recording the credential's use failed");
    }
    app.metrics.login(method.name(), "succeeded");
    let mut detail = json!({ "method": method.name(), "amr": amr, "acr": app.acr.acr(level) });
    if let Some(c) = &evidence.credential {
        detail["credential"] = json!({ "kind": c.kind.as_str(), "id": c.id });
    }
    if let Some(u) = upstream {
        detail["upstream"] = u;
    }
    let event = Event::new("login.succeeded")
        .account(&account.id)
        .ip(Some(ip))
        .detail(detail);
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
        return Err(Refusal::unavailable("audit_unavailable"));
    }
    let pending = match ar {
        Some(ar) => interaction::pending(app, ar, browser).await.ok().flatten(),
        None => None,
    };
    let continuation = match pending {
        Some(request) => {
            let how = Interaction {
                fresh_login: true,
                consent_given: false,
            };
            let browser = browser.unwrap_or_default();
            let next = interaction::advance(app, &request, ar, Some(&session), how, browser).await;
            Continuation::Portal {
                request: Box::new(request),
                next,
            }
        }
        None if ar.is_some() => Continuation::RequestExpired,
        None => Continuation::Home,
    };
    Ok(Completion {
        cookie_secret,
        continuation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::testing::Harness;
    use crate::authenticators::{Amr, Attestation};

    fn chain(purpose: Purpose, then: Vec<Method>) -> Chain {
        Chain {
            ar: Some("ar".into()),
            method: Method::Passkey,
            then,
            so_far: None,
            purpose,
        }
    }

    #[tokio::test]
    async fn a_finished_chain_carries_its_purpose_to_the_dispatch() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let mut evidence = Evidence::account("acc", vec![Amr::Hwk]);
        evidence.level = Attestation::Proves(crate::domain::Ial::Ial3);
        for purpose in [
            Purpose::Login,
            Purpose::Register(SubjectType::Enterprise),
            Purpose::Upgrade("acc".into()),
        ] {
            let done = drive(
                &ctx,
                chain(purpose.clone(), vec![]),
                Method::Passkey,
                Outcome::Done(evidence.clone()),
            )
            .await;
            match done {
                Progress::Done {
                    purpose: p,
                    ar,
                    evidence: e,
                    ..
                } => {
                    assert_eq!(p, purpose);
                    assert_eq!(ar.as_deref(), Some("ar"));
                    assert_eq!(e, evidence);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_chain_between_steps_keeps_its_purpose() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        // A step still waiting for the browser: the saved flow keeps the purpose.
        let outcome = Outcome::Prompt(
            StepState::Password,
            Prompt::Form(crate::authenticators::Form::LoginPage),
        );
        let purpose = Purpose::Register(SubjectType::Agency);
        match drive(
            &ctx,
            chain(purpose.clone(), vec![]),
            Method::Password,
            outcome,
        )
        .await
        {
            Progress::Prompt(flow, _) => {
                assert_eq!(flow.purpose, purpose);
                let json = serde_json::to_value(&flow).unwrap();
                let back: LoginFlow = serde_json::from_value(json).unwrap();
                assert_eq!(back.purpose, purpose);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_flow_saved_before_purposes_existed_is_a_login() {
        let saved = serde_json::json!({
            "ar": null, "method": "password", "then": [], "current": "Password", "so_far": null,
        });
        let flow: LoginFlow = serde_json::from_value(saved).unwrap();
        assert_eq!(flow.purpose, Purpose::Login);
        let upgrade = serde_json::to_value(Purpose::Upgrade("a".into())).unwrap();
        assert_eq!(upgrade, serde_json::json!({ "upgrade": "a" }));
    }
}
