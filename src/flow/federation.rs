//! The account of a person an upstream identity provider (VNeID) vouched for, at the login's
//! completion (`flow::login::complete`):
//!
//! - found by its link (`federated_link` credential `{upstream}:{sub}`) — refused when the
//!   upstream now names another ID number than the linked account's; a changed name or birth
//!   date there updates the profile (audited `account.identity_updated`);
//! - else an account with the same ID number is linked, when the upstream's mapped level is at
//!   least the account's IAL; a lower level would let a weaker proof open a stronger account,
//!   so the login is held ([`LINK_NEEDS_PROOF`]) and the person proves the local account once
//!   (its password, then an SMS code to its default verified phone: [`LinkFlow`]) before the
//!   link is made ([`link_proven`]);
//! - else a new account is made: registration method = the upstream's id (`vneid`), the mapped
//!   IAL, the identity from the upstream's claims. One transaction with its audit row; a
//!   concurrent first login of the same person finds the other's account.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::otp::{OtpStep, Purpose};
use crate::authenticators::password::{self, CaptchaAnswer, Credentials};
use crate::authenticators::{
    Amr, Attestation, Ctx, Evidence, IdentitySource, Refusal, RefusalKind, Subject,
    UpstreamIdentity, VerifiedIdentity,
};
use crate::domain::{AccountStatus, CredentialKind, Ial, SubjectType};
use crate::message::Message;
use crate::store::{CredentialRow, NewAccount, StoreError, UpstreamLink};

/// The refusal reason of an upstream login whose level is below the account's IAL: the login
/// is held until the person proves the local account ([`LinkFlow`]).
pub const LINK_NEEDS_PROOF: &str = "link_level_too_low";

/// The page where a held login continues (`http::federation_link`).
pub const LINK_PAGE: &str = "/login/link";

/// How long the person may take to prove the local account (seconds).
const LINK_SECONDS: i64 = 600;

/// The account and the link credential that let this person in.
pub struct Linked {
    pub account_id: String,
    pub credential_id: String,
}

/// Finds, links or creates the account of `identity` (source `Upstream`), proven at `level`.
pub async fn account_for(
    app: &App,
    identity: &VerifiedIdentity,
    level: Attestation,
    ip: &str,
) -> Result<Linked, Refusal> {
    let IdentitySource::Upstream(upstream) = &identity.source else {
        return Err(Refusal::invalid("error_federation_failed", "not_upstream"));
    };
    let (Some(id_number), Attestation::Proves(ial)) = (&identity.id_number, level) else {
        return Err(Refusal::invalid("error_federation_failed", "no_identity"));
    };
    let lookup = format!("{}:{}", upstream.upstream, upstream.subject);
    if let Some(found) = by_link(app, &lookup, id_number).await? {
        refresh_identity(app, &found.account_id, identity, upstream, ip).await?;
        return Ok(found);
    }
    match app.db.find_account_by_id_number(id_number).await {
        Ok(Some(account)) if account.subject_type == SubjectType::Citizen => {
            // A locked or disabled account is never linked, by either branch.
            if account.status != AccountStatus::Active {
                return Err(
                    refusal("error_federation_account_inactive", "account_inactive")
                        .account(Some(&account.id)),
                );
            }
            if ial < account.ial {
                return Err(
                    refusal("error_federation_link_needs_proof", LINK_NEEDS_PROOF)
                        .account(Some(&account.id)),
                );
            }
            let linked = link(app, &account.id, upstream, &lookup, None, ip).await?;
            refresh_identity(app, &account.id, identity, upstream, ip).await?;
            Ok(linked)
        }
        Ok(Some(account)) => {
            Err(refusal("error_federation_failed", "not_a_citizen_account")
                .account(Some(&account.id)))
        }
        Ok(None) => create(app, identity, upstream, id_number, ial, &lookup, ip).await,
        Err(e) => Err(store_failed(&e)),
    }
}

/// The account already linked to this person at this upstream, if any.
async fn by_link(app: &App, lookup: &str, id_number: &str) -> Result<Option<Linked>, Refusal> {
    let link = app
        .db
        .find_credential(CredentialKind::FederatedLink, lookup)
        .await
        .map_err(|e| store_failed(&e))?;
    let Some(link) = link else {
        return Ok(None);
    };
    let account = app
        .db
        .find_account(&link.account_id)
        .await
        .map_err(|e| store_failed(&e))?;
    match account {
        // The same upstream person now carries another ID number: neither account opens.
        Some(a) if a.id_number.as_deref() != Some(id_number) => Err(refusal(
            "error_federation_id_number_changed",
            "id_number_changed",
        )
        .account(Some(&a.id))),
        Some(a) => Ok(Some(Linked {
            account_id: a.id,
            credential_id: link.id,
        })),
        None => Ok(None),
    }
}

/// The upstream is the record of a linked person's name and birth date: when they changed
/// there (a corrected name, a new CCCD's details), the profile follows, audited with both.
async fn refresh_identity(
    app: &App,
    account_id: &str,
    identity: &VerifiedIdentity,
    upstream: &UpstreamIdentity,
    ip: &str,
) -> Result<(), Refusal> {
    let account = app
        .db
        .find_account(account_id)
        .await
        .map_err(|e| store_failed(&e))?
        .ok_or_else(|| Refusal::unavailable("store_unavailable"))?;
    // A token without a birth date says nothing about it: keep ours.
    let birthdate = identity.birthdate.or(account.birthdate);
    if account.full_name == identity.full_name && account.birthdate == birthdate {
        return Ok(());
    }
    let record = app.audit.row(
        Event::new("account.identity_updated")
            .account(account_id)
            .ip(Some(ip))
            .detail(json!({
                "source": upstream.upstream,
                "before": { "full_name": account.full_name, "birthdate": account.birthdate },
                "after": { "full_name": identity.full_name, "birthdate": birthdate },
            })),
    );
    app.db
        .set_identity(
            account_id,
            &identity.full_name,
            birthdate,
            app.clock.now(),
            &record,
        )
        .await
        .map_err(|e| store_failed(&e))?;
    Audit::log(&record);
    Ok(())
}

fn link_of(upstream: &UpstreamIdentity, lookup: &str) -> UpstreamLink {
    UpstreamLink {
        lookup: lookup.to_string(),
        data: json!({
            "upstream": upstream.upstream,
            "subject": upstream.subject,
            "level": upstream.level,
        })
        .to_string(),
        label: upstream.name.clone(),
    }
}

/// Links an existing account to the upstream person (audited with the link, in one write).
async fn link(
    app: &App,
    account_id: &str,
    upstream: &UpstreamIdentity,
    lookup: &str,
    proof: Option<&str>,
    ip: &str,
) -> Result<Linked, Refusal> {
    let l = link_of(upstream, lookup);
    let mut detail = json!({ "upstream": upstream.upstream, "upstream_level": upstream.level });
    if let Some(proof) = proof {
        detail["proof"] = json!(proof);
    }
    let record = app.audit.row(
        Event::new("account.linked")
            .account(account_id)
            .ip(Some(ip))
            .detail(detail),
    );
    let row = CredentialRow {
        account_id,
        kind: CredentialKind::FederatedLink,
        lookup: Some(&l.lookup),
        data: &l.data,
        label: Some(&l.label),
    };
    match app
        .db
        .add_credential(&row, app.clock.now(), Some(&record))
        .await
    {
        Ok(stored) => {
            Audit::log(&record);
            Ok(Linked {
                account_id: account_id.to_string(),
                credential_id: stored.id,
            })
        }
        Err(e) => Err(store_failed(&e)),
    }
}

/// The first login of a person without an account: the account, from the upstream's claims.
async fn create(
    app: &App,
    identity: &VerifiedIdentity,
    upstream: &UpstreamIdentity,
    id_number: &str,
    ial: Ial,
    lookup: &str,
    ip: &str,
) -> Result<Linked, Refusal> {
    let new = NewAccount {
        subject_type: SubjectType::Citizen,
        id_number: Some(id_number.to_string()),
        tax_code: None,
        full_name: identity.full_name.clone(),
        birthdate: identity.birthdate,
        email: None,
        ial,
        registration_method: upstream.upstream.clone(),
        phones: Vec::new(),
        password_hash: None,
    };
    let record = app
        .audit
        .row(Event::new("account.registered").ip(Some(ip)).detail(json!({
            "method": upstream.upstream,
            "ial": ial.level(),
            "subject_type": SubjectType::Citizen.as_str(),
            "upstream": upstream.upstream,
            "upstream_level": upstream.level,
        })));
    let made = app
        .db
        .create_linked_account(&new, &link_of(upstream, lookup), app.clock.now(), &record)
        .await;
    // Every upstream counts as one method: upstream ids are the operator's words, not a
    // closed label set.
    app.metrics.registration(
        "federation",
        super::registration::registration_result(&made),
    );
    match made {
        Ok(account) => {
            Audit::log(&record);
            let link = app
                .db
                .find_credential(CredentialKind::FederatedLink, lookup)
                .await
                .map_err(|e| store_failed(&e))?
                .ok_or_else(|| Refusal::unavailable("store_unavailable"))?;
            Ok(Linked {
                account_id: account.id,
                credential_id: link.id,
            })
        }
        // Someone made it meanwhile (the same person's other tab): log into theirs.
        Err(StoreError::Conflict) => by_link(app, lookup, id_number)
            .await?
            .ok_or_else(|| refusal("error_federation_failed", "registration_conflict")),
        Err(e) => Err(store_failed(&e)),
    }
}

fn refusal(key: &'static str, reason: &'static str) -> Refusal {
    Refusal::new(RefusalKind::Unauthorized, Message::new(key), reason)
}

fn store_failed(e: &StoreError) -> Refusal {
    tracing::error!(error = %e, "federated account lookup failed");
    Refusal::unavailable("store_unavailable")
}

/// An upstream login held until the person proves the local account with the same ID number
/// (its level was below the account's IAL). Kept in the ephemeral store under this browser's
/// `federation_link` flow cookie, never in a URL; taken once when the link is made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkFlow {
    /// The portal's pending authorization request, if a portal sent the user.
    pub ar: Option<String>,
    /// The account the upstream's ID number names: the only one this flow can link.
    pub account_id: String,
    /// What the upstream proved (its person, level and `amr`).
    pub evidence: Evidence,
    /// Unix seconds; the flow is refused after.
    pub expires_at: i64,
    /// The SMS step, once the password was right.
    pub otp: Option<OtpStep>,
}

impl FlowState for LinkFlow {
    const KIND: &'static str = "federation_link";
}

impl WithOtp for LinkFlow {
    fn otp(&self) -> Option<&OtpStep> {
        self.otp.as_ref()
    }
    fn otp_mut(&mut self) -> Option<&mut OtpStep> {
        self.otp.as_mut()
    }
}

impl LinkFlow {
    /// The held login of `evidence` (an upstream's person) for the account `account_id`, as
    /// refused by [`account_for`] with [`LINK_NEEDS_PROOF`]; `None` for any other evidence.
    pub fn hold(
        app: &App,
        evidence: Evidence,
        account_id: &str,
        ar: Option<String>,
    ) -> Option<Self> {
        upstream_of(&evidence)?;
        Some(Self {
            ar,
            account_id: account_id.to_string(),
            evidence,
            expires_at: app.clock.unix() + LINK_SECONDS,
            otp: None,
        })
    }

    /// The upstream's name and the ID number it named (shown on the page).
    pub fn upstream(&self) -> Option<(&UpstreamIdentity, &str)> {
        upstream_of(&self.evidence)
    }

    pub fn expired(&self, now: i64) -> bool {
        now > self.expires_at
    }
}

fn upstream_of(evidence: &Evidence) -> Option<(&UpstreamIdentity, &str)> {
    match &evidence.subject {
        Subject::Identity(identity) => match (&identity.source, &identity.id_number) {
            (IdentitySource::Upstream(u), Some(id_number)) => Some((u, id_number.as_str())),
            _ => None,
        },
        Subject::Account(_) => None,
    }
}

/// The account to be linked, if it still can be: the one the upstream's ID number names,
/// active, a citizen's.
async fn linkable(app: &App, flow: &LinkFlow) -> Result<crate::domain::Account, Refusal> {
    let Some((_, id_number)) = flow.upstream() else {
        return Err(Refusal::invalid("err_flow_expired", "not_upstream"));
    };
    let account = app
        .db
        .find_account(&flow.account_id)
        .await
        .map_err(|e| store_failed(&e))?;
    match account {
        Some(a) if a.id_number.as_deref() != Some(id_number) => {
            Err(Refusal::invalid("err_flow_expired", "id_number_changed").account(Some(&a.id)))
        }
        Some(a) if a.status != AccountStatus::Active => Err(refusal(
            "error_federation_account_inactive",
            "account_inactive",
        )
        .account(Some(&a.id))),
        Some(a) => Ok(a),
        None => Err(Refusal::invalid("err_flow_expired", "account_gone")),
    }
}

/// The local account's password (typed on the link page; the login name is the upstream's ID
/// number, never chosen by the user), checked by `password::authenticate` with its limits;
/// then an SMS code goes to the account's default verified phone. The caller audits a refusal
/// (`login.failed`, method `password`). An account without a verified phone cannot be proven
/// this way (`error_federation_link_no_phone`).
pub async fn prove_password(
    ctx: &Ctx<'_>,
    flow: &mut LinkFlow,
    typed: &str,
    captcha: Option<CaptchaAnswer<'_>>,
) -> Result<(), Refusal> {
    if flow.expired(ctx.clock.unix()) {
        return Err(Refusal::invalid("err_flow_expired", "link_expired"));
    }
    if typed.is_empty() {
        return Err(Refusal::invalid(
            "error_password_required",
            "password_missing",
        ));
    }
    let Some((_, id_number)) = flow.upstream() else {
        return Err(Refusal::invalid("err_flow_expired", "not_upstream"));
    };
    let attempt = Credentials {
        username: id_number,
        password: typed,
        captcha,
    };
    let verified = password::authenticate(ctx, &attempt)
        .await
        .map_err(|e| e.refusal())?;
    if verified.account.id != flow.account_id {
        return Err(Refusal::invalid("err_flow_expired", "another_account"));
    }
    if verified.account.status != AccountStatus::Active {
        return Err(
            refusal("error_federation_account_inactive", "account_inactive")
                .account(Some(&flow.account_id)),
        );
    }
    let phones = ctx
        .db
        .verified_phones(&flow.account_id)
        .await
        .map_err(|e| store_failed(&e))?;
    let Some(phone) = phones.first() else {
        return Err(
            refusal("error_federation_link_no_phone", "no_verified_phone")
                .account(Some(&flow.account_id)),
        );
    };
    let account = Some(flow.account_id.as_str());
    let step = OtpStep::send(ctx, Purpose::Login, account, &phone.e164)
        .await
        .map_err(|e| Refusal::new(e.kind(), e.message(), e.reason()).account(account))?;
    flow.otp = Some(step);
    Ok(())
}

/// The SMS code after the password; a wrong one counts toward the code's and the account's
/// limits (the caller audits it: `login.failed`, method `sms_otp`).
pub async fn prove_code(
    ctx: &Ctx<'_>,
    flow: &mut LinkFlow,
    input: Option<&str>,
) -> Result<(), Refusal> {
    if flow.expired(ctx.clock.unix()) {
        return Err(Refusal::invalid("err_flow_expired", "link_expired"));
    }
    let account = Some(flow.account_id.as_str());
    match flow.otp.as_mut() {
        None => Err(Refusal::invalid("err_flow_expired", "password_first")),
        Some(otp) => otp
            .check(ctx, input)
            .await
            .map_err(|e| Refusal::new(e.kind(), e.message(), e.reason()).account(account)),
    }
}

/// Both proofs passed (the caller took the flow, once): links the account to the upstream's
/// person (one write with its audit row `account.linked`, `proof` = `password+sms_otp`) and
/// returns the login's evidence, for `login::complete`: the upstream's, then the password,
/// then the code (`Evidence::then`). Its level stays the upstream's `Proves(level)` (a
/// password and a code prove the holder, not the person), so the session is at the upstream's
/// level, below the account's IAL, exactly as the next login by the link will be.
pub async fn link_proven(app: &App, flow: &LinkFlow, ip: &str) -> Result<Evidence, Refusal> {
    let verified = flow.otp.as_ref().is_some_and(|o| o.verified);
    let Some((upstream, id_number)) = flow.upstream().filter(|_| verified) else {
        return Err(Refusal::invalid("err_flow_expired", "not_proven"));
    };
    let account = linkable(app, flow).await?;
    let lookup = format!("{}:{}", upstream.upstream, upstream.subject);
    match by_link(app, &lookup, id_number).await? {
        Some(found) if found.account_id == account.id => {}
        Some(_) => return Err(refusal("error_federation_failed", "linked_elsewhere")),
        None => {
            link(
                app,
                &account.id,
                upstream,
                &lookup,
                Some("password+sms_otp"),
                ip,
            )
            .await?;
        }
    }
    let evidence = flow
        .evidence
        .clone()
        .then(Evidence::account(&account.id, vec![Amr::Pwd]))
        .then(Evidence::account(&account.id, vec![Amr::Sms]));
    Ok(evidence)
}
