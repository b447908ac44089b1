//! Ways of proving who someone is ("methods"), one module each, behind one contract:
//!
//! - a method drives its own step: [`Method::start`] → [`Outcome`], then [`submit`] (and
//!   [`poll`] for pushes) until it is `Done` with an [`Evidence`];
//! - what the browser sees next is one of five shapes ([`Prompt`]);
//! - `flow::login` runs the chain of steps configured for a login method (password, then the SMS
//!   code) and hands the combined evidence to the one completion of every login;
//!   registration methods end in the one account-creation path (`flow::registration`);
//! - methods whose credentials the user manages (passkeys) also have an enrolment ceremony
//!   ([`Method::enroll_start`], [`enroll_finish`]).
//!
//! Methods take [`Ctx`], the narrow view of the app they may use, never the whole app.
//! Adding a method: ARCHITECTURE.md, "Adding a login method".

pub mod bhxh_match;
pub mod captcha;
pub mod carrier_match;
pub mod evidence;
pub mod federation;
pub mod method;
pub mod otp;
pub mod passkey;
pub mod password;
pub mod prompt;
pub mod remote_signature;
pub mod signature_push;
pub mod sim_signature;
pub mod sms_otp;
#[cfg(test)]
pub mod testing;
pub mod usb_token;

use serde::{Deserialize, Serialize};

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::{Config, LoginConfig};
use crate::connectors::Connectors;
use crate::domain::{Account, CredentialKind, SubjectType};
use crate::hashing::Hasher;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::oidc::authorize::LoginNeed;
use crate::oidc::params::Params;
use crate::store::Database;
use crate::store::ephemeral::EphemeralStore;

pub use evidence::{
    Amr, Attestation, CertificateRef, CredentialUse, Evidence, IdentitySource, MAX_ID_TOKEN_HINT,
    Subject, UpstreamIdentity, VerifiedIdentity,
};
pub use method::Method;
pub use prompt::{Assisted, Ceremony, Form, Pending, Prompt, Redirect};

/// What a method may use.
pub struct Ctx<'a> {
    pub db: &'a Database,
    pub store: &'a dyn EphemeralStore,
    pub clock: &'a Clock,
    pub config: &'a Config,
    /// Carrier, SMS gateway, BHXH registry (and the upstreams of later methods).
    pub connectors: &'a Connectors,
    /// Argon2id on the app's bounded pool.
    pub hasher: &'a Hasher,
    /// The SMS text in the user's language, with `{code}` and `{minutes}` placeholders.
    pub sms_template: String,
    /// The client's address (throttles, audit).
    pub ip: String,
    /// For what a step must record itself, whichever flow runs it (a wrong SMS code).
    pub audit: &'a Audit,
    /// For what a step must count itself (SMS sent, wrong codes, limits hit).
    pub metrics: &'a Metrics,
    /// Signature certificates: path, revocation, CMS (the signature methods).
    pub pki: &'a crate::pki::Pki,
    /// Upstream OpenID providers (the federation method).
    pub upstreams: &'a crate::connectors::federation::Upstreams,
}

/// What the login page and the completion need to know about a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// The method finds the account by itself, so it can be the first step of a login.
    pub identifies: bool,
    /// Bound to our origin (see [`Evidence::phishing_resistant`]).
    pub phishing_resistant: bool,
    pub attests: Attestation,
    /// The user adds and removes credentials of this kind in "Thông tin cá nhân".
    pub enrols: Option<CredentialKind>,
    /// The method can also start from the ID number typed on the login page (a button in the
    /// password form), narrowing itself to that account.
    pub from_typed_id: bool,
}

impl Method {
    pub fn traits(self) -> Traits {
        match self {
            Self::Password => password::TRAITS,
            Self::SmsOtp => sms_otp::TRAITS,
            Self::Passkey => passkey::TRAITS,
            Self::UsbToken => usb_token::TRAITS,
            Self::SimSignature => sim_signature::TRAITS,
            Self::RemoteSignature => remote_signature::TRAITS,
            Self::Federation => federation::TRAITS,
        }
    }

    /// Refuses a configuration the method cannot work with (enabled methods only).
    pub fn check_config(self, config: &Config) -> Result<(), String> {
        match self {
            Self::Passkey => passkey::check_config(config),
            Self::UsbToken => usb_token::check_config(config),
            Self::Password
            | Self::SmsOtp
            | Self::SimSignature
            | Self::RemoteSignature
            | Self::Federation => Ok(()),
        }
    }

    /// Starts the method's step. `so_far` is the evidence of the steps before it in the same
    /// login (none for the first); `input` is what the page posted to begin (may be empty).
    pub async fn start(self, ctx: &Ctx<'_>, so_far: Option<&Evidence>, input: &Params) -> Outcome {
        match self {
            Self::Password => password::start(ctx, input).await,
            Self::SmsOtp => sms_otp::start(ctx, so_far).await,
            Self::Passkey => passkey::start(ctx, so_far, input).await,
            Self::SimSignature => sim_signature::start(ctx, input).await,
            Self::RemoteSignature => remote_signature::start(ctx, input).await,
            Self::UsbToken => usb_token::start(ctx).await,
            Self::Federation => federation::start(ctx, input).await,
        }
    }

    /// Starts adding a credential of this method to `account`.
    pub async fn enroll_start(
        self,
        ctx: &Ctx<'_>,
        account: &Account,
    ) -> Result<(Enrolment, Ceremony), Refusal> {
        match self {
            Self::Passkey => passkey::enroll_start(ctx, account)
                .await
                .map(|(state, c)| (Enrolment::Passkey(state), c)),
            Self::Password
            | Self::SmsOtp
            | Self::UsbToken
            | Self::SimSignature
            | Self::RemoteSignature
            | Self::Federation => Err(Refusal::invalid("error_not_found", "not_enrollable")),
        }
    }
}

/// Refuses a `[login]` configuration that cannot work, with the reason.
pub fn check_config(config: &Config) -> Result<(), String> {
    let login = &config.login;
    if let Some(m) = login.methods.iter().find(|m| !m.traits().identifies) {
        return Err(format!(
            "login.methods: {} cannot come first (it needs an account identified before it)",
            m.name()
        ));
    }
    for method in &login.methods {
        method.check_config(config)?;
    }
    for (first, then) in &login.then {
        let mut seen = vec![*first];
        for step in then {
            if *step == Method::Password || seen.contains(step) {
                return Err(format!(
                    "login.then.{}: {} cannot follow (the password is typed on the login page, \
                     and a step runs once per login)",
                    first.name(),
                    step.name()
                ));
            }
            step.check_config(config)?;
            seen.push(*step);
        }
    }
    Ok(())
}

/// The methods the login page offers for `need`: enabled, able to come first, and able to meet
/// the level and the phishing resistance asked for (counting the steps that follow them).
pub fn offered(cfg: &LoginConfig, need: &LoginNeed) -> Vec<Method> {
    cfg.methods
        .iter()
        .copied()
        .filter(|m| m.traits().identifies)
        .filter(|m| {
            let steps = std::iter::once(*m).chain(cfg.then(*m).iter().copied());
            let traits: Vec<Traits> = steps.map(Method::traits).collect();
            let phishing_resistant = traits.iter().any(|t| t.phishing_resistant);
            let attests = traits
                .iter()
                .fold(Attestation::AccountLevel, |a, t| a.and(t.attests));
            let reaches = need
                .level
                .is_none_or(|level| attests.can_reach(level, need.account_level));
            reaches && (phishing_resistant || !need.phishing_resistant)
        })
        .collect()
}

/// The enabled methods that can register `subject` (the registration page's IAL3 cards).
pub fn registering(cfg: &LoginConfig, subject: SubjectType) -> Vec<Method> {
    cfg.methods
        .iter()
        .copied()
        .filter(|m| m.traits().identifies && m.registers().contains(&subject))
        .collect()
}

/// A step's own state between requests (kept in the flow, in the ephemeral store).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StepState {
    Password,
    SmsOtp(otp::OtpStep),
    Passkey(passkey::LoginState),
    SimSignature(sim_signature::LoginState),
    RemoteSignature(remote_signature::LoginState),
    UsbToken(usb_token::LoginState),
    Federation(federation::LoginState),
}

impl StepState {
    pub fn method(&self) -> Method {
        match self {
            Self::Password => Method::Password,
            Self::SmsOtp(_) => Method::SmsOtp,
            Self::Passkey(_) => Method::Passkey,
            Self::SimSignature(_) => Method::SimSignature,
            Self::RemoteSignature(_) => Method::RemoteSignature,
            Self::UsbToken(_) => Method::UsbToken,
            Self::Federation(_) => Method::Federation,
        }
    }
}

/// An enrolment ceremony's state between its two requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Enrolment {
    Passkey(passkey::EnrolState),
}

/// A credential an enrolment made, ready to store.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    /// How the credential is found when presented (e.g. a WebAuthn credential id).
    pub lookup: Option<String>,
    /// The verifier material (e.g. the public key and sign counter).
    pub data: String,
}

/// Finishes an enrolment with what the page posted.
pub async fn enroll_finish(
    state: Enrolment,
    ctx: &Ctx<'_>,
    account: &Account,
    input: &Params,
) -> Result<NewCredential, Refusal> {
    match state {
        Enrolment::Passkey(s) => passkey::enroll_finish(s, ctx, account, input).await,
    }
}

/// Feeds what the page posted to the current step.
pub async fn submit(
    state: StepState,
    ctx: &Ctx<'_>,
    so_far: Option<&Evidence>,
    input: &Params,
) -> Outcome {
    match state {
        // The password form is its own start: each post is a fresh attempt.
        StepState::Password => password::start(ctx, input).await,
        StepState::SmsOtp(step) => sms_otp::submit(step, ctx, so_far, input).await,
        StepState::Passkey(s) => passkey::submit(s, ctx, so_far, input).await,
        StepState::SimSignature(s) => sim_signature::submit(s, ctx, input).await,
        StepState::RemoteSignature(s) => remote_signature::submit(s, ctx, input).await,
        StepState::UsbToken(s) => usb_token::submit(s, ctx, input).await,
        StepState::Federation(s) => federation::submit(s, ctx, input).await,
    }
}

/// Asks an outstanding push how it went. Only `Pending` steps change here; the others are
/// returned as they are, to be shown again.
pub async fn poll(state: StepState, ctx: &Ctx<'_>) -> Outcome {
    match state {
        StepState::Password => Outcome::Prompt(state, Prompt::Form(Form::LoginPage)),
        StepState::SmsOtp(_) => Outcome::Prompt(state, Prompt::Form(Form::OtpPage)),
        StepState::Passkey(ref s) => {
            let ceremony = s.ceremony();
            Outcome::Prompt(state, Prompt::Ceremony(ceremony))
        }
        StepState::SimSignature(s) => sim_signature::poll(s, ctx).await,
        StepState::RemoteSignature(s) => remote_signature::poll(s, ctx).await,
        StepState::UsbToken(ref s) => {
            let ceremony = s.ceremony();
            Outcome::Prompt(state, Prompt::Ceremony(ceremony))
        }
        // Nothing to ask: the upstream answers on the callback.
        StepState::Federation(_) => Outcome::Failed(Refusal::invalid(
            "err_flow_expired",
            "federation_not_pending",
        )),
    }
}

/// What a step answered.
#[derive(Debug)]
pub enum Outcome {
    /// The step needs (more) from the browser.
    Prompt(StepState, Prompt),
    /// The input was refused; show the prompt again with the reason.
    Refused(StepState, Prompt, Refusal),
    /// The step is done.
    Done(Evidence),
    /// The step is done, and the login must pass `Method` next even if `[login.then]` skips
    /// it, with no skipping (the SMS code after a password whose login name is challenged).
    DoneRequiring(Evidence, Method),
    /// The step does not apply (e.g. an SMS step for an account without a verified phone).
    Skip,
    /// The step cannot go on at all (nothing to show again): the login starts over.
    Failed(Refusal),
}

/// How bad a refusal is, for the status the page is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Malformed or incomplete input (400).
    Invalid,
    /// Wrong credentials (401).
    Unauthorized,
    /// A limit was reached: lockout, throttle, cooldown (429).
    Limited,
    /// The server is at capacity (password hashing): try again in a moment (503 + Retry-After).
    Busy,
    /// A backend or upstream failed (503).
    Unavailable,
}

/// Why a step refused, for the user (a message) and for the audit log (a reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: Message,
    /// A stable word for the audit log (`otp_wrong`, `sign_count_regression`).
    pub reason: &'static str,
    /// The account concerned, when known (audit only; never shown).
    pub account_id: Option<String>,
    /// The credential concerned, when known (audit only).
    pub credential_id: Option<String>,
}

impl Refusal {
    pub fn new(kind: RefusalKind, message: Message, reason: &'static str) -> Self {
        Self {
            kind,
            message,
            reason,
            account_id: None,
            credential_id: None,
        }
    }

    pub fn invalid(key: &'static str, reason: &'static str) -> Self {
        Self::new(RefusalKind::Invalid, Message::new(key), reason)
    }

    pub fn unavailable(reason: &'static str) -> Self {
        Self::new(
            RefusalKind::Unavailable,
            Message::new("error_temporarily_unavailable"),
            reason,
        )
    }

    pub fn account(mut self, id: Option<&str>) -> Self {
        self.account_id = id.map(str::to_string);
        self
    }

    pub fn credential(mut self, id: &str) -> Self {
        self.credential_id = Some(id.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Ial;
    use crate::oidc::authorize::LoginReason;

    fn need(level: Option<Ial>, account_level: Option<Ial>, phishing_resistant: bool) -> LoginNeed {
        LoginNeed {
            reason: LoginReason::NoSession,
            level,
            account_level,
            phishing_resistant,
        }
    }

    #[test]
    fn the_page_offers_the_methods_that_can_meet_the_request() {
        let cfg = LoginConfig::default();
        let all = [
            Method::Password,
            Method::Passkey,
            Method::UsbToken,
            Method::SimSignature,
            Method::RemoteSignature,
            Method::Federation,
        ];
        assert_eq!(offered(&cfg, &need(None, None, false)), all);
        assert_eq!(
            offered(&cfg, &need(Some(Ial::Ial3), None, false)),
            all,
            "the account may be IAL3"
        );
        assert_eq!(
            offered(&cfg, &need(Some(Ial::Ial3), Some(Ial::Ial2), false)),
            [
                Method::UsbToken,
                Method::SimSignature,
                Method::RemoteSignature,
                Method::Federation
            ],
            "only a signature or an upstream proves the person at IAL3"
        );
        assert_eq!(
            offered(&cfg, &need(None, None, true)),
            [Method::Passkey, Method::UsbToken]
        );
        let only_password = LoginConfig {
            methods: vec![Method::Password],
            ..LoginConfig::default()
        };
        assert_eq!(
            offered(&only_password, &need(None, None, true)),
            [] as [Method; 0]
        );
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused() {
        let mut config = Config::default();
        assert_eq!(check_config(&config), Ok(()));
        config.server.public_url = "http://127.0.0.1:8080".into();
        assert!(check_config(&config).unwrap_err().contains("domain name"));
        config.login.methods = vec![Method::Password];
        assert_eq!(
            check_config(&config),
            Ok(()),
            "no passkey, no domain needed"
        );
        config.login.methods = vec![Method::SmsOtp];
        assert!(
            check_config(&config)
                .unwrap_err()
                .contains("cannot come first")
        );
        config.login.methods = vec![Method::Password];
        for then in [vec![Method::Password], vec![Method::SmsOtp, Method::SmsOtp]] {
            config.login.then.insert(Method::Password, then);
            assert!(check_config(&config).unwrap_err().contains("cannot follow"));
        }
    }
}
