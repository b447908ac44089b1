//! Re-authentication in "Thông tin cá nhân": a stolen session cookie must not be enough to take
//! an account over for good. Every change of a credential or a contact (a phone added, removed
//! or made the default, the email, the password, a passkey added or removed) needs a proof that
//! the person at this browser re-authenticated within `profile.reauth_seconds`:
//!
//! - the password (checked like a login: `password::authenticate`, its lockout and throttle),
//!   then an SMS code to one of the account's verified phones (the one OTP step, page
//!   `/profile/reauth/otp`); an account without a verified phone logs in with the password
//!   alone, and re-authenticates the same way;
//! - or a passkey of the account (the passkey method's login ceremony, narrowed to the account).
//!
//! Success leaves a marker for the SSO session, `reauth:<session handle>`, that lives
//! `profile.reauth_seconds`; [`recent`] turns it into a [`Recent`], the proof the changes take.
//! The marker belongs to the one session (not the account), so re-authenticating in one browser
//! unlocks nothing in another. Attempts are audited (`reauth.succeeded`, `reauth.failed`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::otp::{OtpError, OtpStep, Purpose};
use crate::authenticators::password::{self, LoginError};
use crate::authenticators::{Ctx, Evidence, Method, Outcome, Refusal, StepState, passkey};
use crate::domain::{Account, CredentialKind};
use crate::message::Message;
use crate::oidc::params::Params;
use crate::oidc::session::SsoSession;
use crate::store::StoreError;
use crate::store::ephemeral::{EphemeralError, EphemeralStore};

/// Proof that this session re-authenticated recently, for its account. Only [`recent`] makes
/// one, so a change that takes it cannot be reached without the check.
#[derive(Debug, Clone)]
pub struct Recent {
    account_id: String,
}

impl Recent {
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
}

fn marker_key(session_handle: &str) -> String {
    format!("reauth:{session_handle}")
}

/// The proof that `session` re-authenticated within `profile.reauth_seconds`, if it did.
pub async fn recent(
    store: &dyn EphemeralStore,
    session: &SsoSession,
) -> Result<Option<Recent>, EphemeralError> {
    let fresh = store.exists_any(&[marker_key(&session.handle)]).await?;
    Ok(fresh.then(|| Recent {
        account_id: session.account_id.clone(),
    }))
}

/// Where the user goes once re-authenticated (a closed set: never a URL from the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnTo {
    Profile,
    /// The password change form.
    Password,
}

impl ReturnTo {
    /// By name (`?next=`); anything else is the profile.
    pub fn parse(name: Option<&str>) -> Self {
        match name {
            Some("password") => Self::Password,
            _ => Self::Profile,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Password => "password",
        }
    }
}

/// How the person re-authenticated (the audit log's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proof {
    /// The password, then an SMS code.
    PasswordAndSms,
    /// The password alone: the account has no verified phone.
    Password,
    Passkey,
}

impl Proof {
    pub fn name(self) -> &'static str {
        match self {
            Self::PasswordAndSms => "password+sms_otp",
            Self::Password => "password",
            Self::Passkey => "passkey",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReauthFlow {
    pub account_id: String,
    /// The SSO session (its handle) the re-authentication is for.
    pub session: String,
    pub next: ReturnTo,
    /// The passkey ceremony offered next to the password (when the account has passkeys).
    pub passkey: Option<passkey::LoginState>,
    /// The SMS step, once the password was right.
    pub otp: Option<OtpStep>,
    /// Set when a way of re-authenticating succeeded.
    pub proven: Option<Proof>,
}

impl FlowState for ReauthFlow {
    const KIND: &'static str = "reauth";
}

impl WithOtp for ReauthFlow {
    fn otp(&self) -> Option<&OtpStep> {
        self.otp.as_ref()
    }
    fn otp_mut(&mut self) -> Option<&mut OtpStep> {
        self.otp.as_mut()
    }
    fn owner(&self) -> Option<&str> {
        Some(&self.account_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    #[error("wrong password")]
    WrongPassword,
    /// The login name is locked or the address throttled (the message says which).
    #[error("too many wrong passwords")]
    Limited(Message),
    #[error(transparent)]
    Otp(#[from] OtpError),
    /// Password hashing is at capacity: nothing was checked; the same form may be sent again.
    #[error("password hashing is busy")]
    Busy,
    #[error("the passkey was refused: {}", .0.reason)]
    Passkey(Refusal),
    /// Not at this step, or another session's re-authentication.
    #[error("the re-authentication is not at this step")]
    OutOfOrder,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<EphemeralError> for ReauthError {
    fn from(e: EphemeralError) -> Self {
        Self::Store(e.into())
    }
}

impl ReauthError {
    /// What the user is told.
    pub fn message(&self) -> Message {
        match self {
            Self::WrongPassword => Message::new("err_current_password_wrong"),
            Self::Limited(m) => m.clone(),
            Self::Otp(e) => e.message(),
            Self::Busy => Message::new("error_busy"),
            Self::Passkey(r) => r.message.clone(),
            Self::OutOfOrder => Message::new("err_flow_expired"),
            Self::Store(_) => Message::new("error_temporarily_unavailable"),
        }
    }
}

/// Starts a re-authentication of `session`; the passkey ceremony is ready when the account has
/// passkeys and the method is on.
pub async fn begin(
    ctx: &Ctx<'_>,
    session: &SsoSession,
    next: ReturnTo,
) -> Result<ReauthFlow, ReauthError> {
    Ok(ReauthFlow {
        account_id: session.account_id.clone(),
        session: session.handle.clone(),
        next,
        passkey: passkey_ceremony(ctx, &session.account_id).await?,
        otp: None,
        proven: None,
    })
}

/// A passkey ceremony that only this account's passkeys can answer, if it has any.
async fn passkey_ceremony(
    ctx: &Ctx<'_>,
    account_id: &str,
) -> Result<Option<passkey::LoginState>, ReauthError> {
    if !ctx.config.login.enabled(Method::Passkey)
        || ctx
            .db
            .credentials_of(account_id, CredentialKind::Passkey)
            .await?
            .is_empty()
    {
        return Ok(None);
    }
    let so_far = Evidence::account(account_id, vec![]);
    Ok(
        match passkey::start(ctx, Some(&so_far), &Params::default()).await {
            Outcome::Prompt(StepState::Passkey(state), _) => Some(state),
            // Passkeys unavailable right now: the password remains.
            _ => None,
        },
    )
}

/// The password of `account`, checked like a login (the lockout and throttle of
/// `password::authenticate`, which count this attempt).
pub async fn check_password(
    ctx: &Ctx<'_>,
    account: &Account,
    password: &str,
) -> Result<(), ReauthError> {
    let Some(id_number) = account.id_number.as_deref() else {
        return Err(ReauthError::WrongPassword);
    };
    // The profile shows no captcha: a challenged login name is refused here like a throttled
    // one (logging in again with the captcha, or a reset, lifts it).
    let attempt = password::Credentials {
        username: id_number,
        password,
        captcha: None,
    };
    match password::authenticate(ctx, &attempt).await {
        Ok(v) if v.account.id == account.id => Ok(()),
        Ok(_) | Err(LoginError::InvalidCredentials { .. }) => Err(ReauthError::WrongPassword),
        Err(LoginError::Locked) => Err(ReauthError::Limited(Message::new("error_login_throttled"))),
        Err(LoginError::Throttled) => Err(ReauthError::Limited(Message::new(
            "error_too_many_attempts",
        ))),
        Err(LoginError::CaptchaRequired | LoginError::CaptchaWrong) => Err(ReauthError::Limited(
            Message::new("error_reauth_challenged"),
        )),
        Err(LoginError::Busy) => Err(ReauthError::Busy),
        Err(LoginError::Store(e)) => Err(ReauthError::Store(e)),
    }
}

/// The password step; then an SMS code goes to the default verified phone (`true`: the OTP
/// step follows), or, without one, the password alone suffices (`false`: done).
pub async fn password(
    app: &App,
    ctx: &Ctx<'_>,
    flow: &mut ReauthFlow,
    account: &Account,
    password: &str,
) -> Result<bool, ReauthError> {
    if account.id != flow.account_id {
        return Err(ReauthError::OutOfOrder);
    }
    if let Err(e) = check_password(ctx, account, password).await {
        failed(app, ctx, &flow.account_id, "password", &e).await;
        return Err(e);
    }
    match ctx.db.verified_phones(&account.id).await?.first() {
        Some(phone) => {
            let account = Some(account.id.as_str());
            flow.otp = Some(OtpStep::send(ctx, Purpose::Profile, account, &phone.e164).await?);
            Ok(true)
        }
        None => {
            flow.proven = Some(Proof::Password);
            Ok(false)
        }
    }
}

/// The SMS code after the password.
pub async fn code(ctx: &Ctx<'_>, flow: &mut ReauthFlow, input: &Params) -> Result<(), ReauthError> {
    let Some(otp) = flow.otp.as_mut() else {
        return Err(ReauthError::OutOfOrder);
    };
    otp.check(ctx, input.get("otp")).await?;
    flow.proven = Some(Proof::PasswordAndSms);
    Ok(())
}

/// The passkey ceremony's answer. A refused answer leaves a fresh ceremony in the flow.
pub async fn passkey(
    app: &App,
    ctx: &Ctx<'_>,
    flow: &mut ReauthFlow,
    input: &Params,
) -> Result<(), ReauthError> {
    let Some(state) = flow.passkey.take() else {
        return Err(ReauthError::OutOfOrder);
    };
    let so_far = Evidence::account(&flow.account_id, vec![]);
    let refusal = match passkey::submit(state, ctx, Some(&so_far), input).await {
        Outcome::Done(e) if e.account_id() == Some(flow.account_id.as_str()) => {
            flow.proven = Some(Proof::Passkey);
            return Ok(());
        }
        Outcome::Refused(StepState::Passkey(fresh), _, refusal) => {
            flow.passkey = Some(fresh);
            refusal
        }
        Outcome::Failed(refusal) => refusal,
        _ => return Err(ReauthError::OutOfOrder),
    };
    let e = ReauthError::Passkey(refusal);
    failed(app, ctx, &flow.account_id, "passkey", &e).await;
    Err(e)
}

/// Audits a refused attempt (`reauth.failed`); a write error is only logged, as for
/// `login.failed`.
async fn failed(app: &App, ctx: &Ctx<'_>, account_id: &str, method: &str, e: &ReauthError) {
    let reason = match e {
        ReauthError::Passkey(r) => r.reason,
        ReauthError::Limited(_) => "limited",
        ReauthError::WrongPassword => "wrong_password",
        _ => "other",
    };
    let event = Event::new("reauth.failed")
        .account(account_id)
        .ip(Some(&ctx.ip))
        .detail(json!({ "method": method, "reason": reason }));
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
    }
}

/// Ends a successful re-authentication of `session`: audits it (`reauth.succeeded`; no marker
/// without its audit row), then leaves the marker.
pub async fn complete(
    app: &App,
    flow: &ReauthFlow,
    session: &SsoSession,
    ip: &str,
) -> Result<(), ReauthError> {
    let Some(proof) = flow.proven else {
        return Err(ReauthError::OutOfOrder);
    };
    if session.handle != flow.session || session.account_id != flow.account_id {
        return Err(ReauthError::OutOfOrder);
    }
    let event = Event::new("reauth.succeeded")
        .account(&flow.account_id)
        .ip(Some(ip))
        .detail(json!({ "method": proof.name() }));
    app.audit.record(event).await?;
    let ttl = Duration::from_secs(app.config.profile.reauth_seconds.max(1) as u64);
    app.store.put(&marker_key(&flow.session), b"1", ttl).await?;
    Ok(())
}
