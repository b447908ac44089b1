//! Adding a credential in "Thông tin cá nhân" (a passkey): the password is asked again, the
//! method's enrolment ceremony runs, the credential is stored under the name the user gave it.
//! Removing one is audited the same way.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::FlowState;
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::password::{self, LoginError};
use crate::authenticators::{self, Ceremony, Ctx, Enrolment, Method, Refusal, RefusalKind};
use crate::domain::{Account, CredentialSummary};
use crate::message::Message;
use crate::oidc::params::Params;
use crate::store::{CredentialRow, StoreError};

/// The longest name a credential may have.
pub const MAX_LABEL: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolFlow {
    pub account_id: String,
    pub method: Method,
    pub label: String,
    pub state: Enrolment,
}

impl FlowState for EnrolFlow {
    const KIND: &'static str = "enrolment";
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// The method is off, or has no credentials to enrol.
    #[error("this method cannot be added")]
    NotEnrollable,
    #[error("the name is empty, too long or has control characters")]
    Label,
    #[error("wrong password")]
    WrongPassword,
    #[error("too many wrong passwords")]
    Limited,
    /// Password hashing is at capacity: try again in a moment.
    #[error("password hashing is busy")]
    Busy,
    #[error("the ceremony was refused: {}", .0.reason)]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EnrolError {
    /// What the user is told.
    pub fn message(&self) -> Message {
        match self {
            Self::NotEnrollable => Message::new("error_not_found"),
            Self::Label => Message::new("err_credential_label").with("max", MAX_LABEL),
            Self::WrongPassword => Message::new("err_current_password_wrong"),
            Self::Limited => Message::new("error_too_many_attempts"),
            Self::Busy => Message::new("error_busy"),
            Self::Refused(r) => r.message.clone(),
            Self::Store(_) => Message::new("error_temporarily_unavailable"),
        }
    }
}

/// A name as the user typed it: trimmed, 1–64 characters, no control characters.
pub fn valid_label(raw: &str) -> Option<String> {
    let label = crate::domain::normalize_name(raw);
    let ok = !label.is_empty()
        && label.chars().count() <= MAX_LABEL
        && !label.chars().any(char::is_control);
    ok.then_some(label)
}

/// Asks for the password again (it counts against the same lockout as the login page), then
/// starts the method's ceremony.
pub async fn start(
    app: &App,
    ctx: &Ctx<'_>,
    account: &Account,
    method: Method,
    current_password: &str,
    label: &str,
) -> Result<(EnrolFlow, Ceremony), EnrolError> {
    if !app.config.login.enabled(method) || method.traits().enrols.is_none() {
        return Err(EnrolError::NotEnrollable);
    }
    let label = valid_label(label).ok_or(EnrolError::Label)?;
    reauthenticate(ctx, account, current_password).await?;
    let (state, ceremony) = method
        .enroll_start(ctx, account)
        .await
        .map_err(EnrolError::Refused)?;
    let flow = EnrolFlow {
        account_id: account.id.clone(),
        method,
        label,
        state,
    };
    Ok((flow, ceremony))
}

/// The password of the logged-in account, checked like a login (lockout and throttle).
async fn reauthenticate(
    ctx: &Ctx<'_>,
    account: &Account,
    password: &str,
) -> Result<(), EnrolError> {
    let Some(id_number) = account.id_number.as_deref() else {
        return Err(EnrolError::WrongPassword);
    };
    // The profile shows no captcha: a challenged login name is refused here like a throttled
    // one (the user can log in again, or reset the password).
    let attempt = password::Credentials {
        username: id_number,
        password,
        captcha: None,
    };
    match password::authenticate(ctx, &attempt).await {
        Ok(v) if v.account.id == account.id => Ok(()),
        Ok(_) | Err(LoginError::InvalidCredentials { .. }) => Err(EnrolError::WrongPassword),
        Err(
            LoginError::Locked
            | LoginError::Throttled
            | LoginError::CaptchaRequired
            | LoginError::CaptchaWrong,
        ) => Err(EnrolError::Limited),
        Err(LoginError::Busy) => Err(EnrolError::Busy),
        Err(LoginError::Store(e)) => Err(EnrolError::Store(e)),
    }
}

/// Finishes the ceremony with what the page posted and stores the credential.
pub async fn finish(
    app: &App,
    ctx: &Ctx<'_>,
    account: &Account,
    flow: EnrolFlow,
    input: &Params,
) -> Result<CredentialSummary, EnrolError> {
    let new = authenticators::enroll_finish(flow.state, ctx, account, input)
        .await
        .map_err(EnrolError::Refused)?;
    let row = CredentialRow {
        account_id: &account.id,
        kind: new.kind,
        lookup: new.lookup.as_deref(),
        data: &new.data,
        label: Some(&flow.label),
    };
    let stored = match app.db.add_credential(&row, app.clock.now()).await {
        Ok(stored) => stored,
        Err(StoreError::Conflict) => {
            let r = Refusal::new(
                RefusalKind::Invalid,
                Message::new("err_credential_exists"),
                "exists",
            );
            return Err(EnrolError::Refused(r));
        }
        Err(e) => return Err(e.into()),
    };
    let event = Event::new("credential.added")
        .account(&account.id)
        .ip(Some(&ctx.ip))
        .detail(json!({ "kind": new.kind.as_str(), "id": stored.id, "label": flow.label }));
    app.audit.record(event).await?;
    Ok(stored.summary())
}

/// Removes one of the account's own credentials; `false` when it has none by that id.
pub async fn remove(app: &App, account: &Account, id: &str, ip: &str) -> Result<bool, StoreError> {
    let Some(removed) = app.db.remove_credential(&account.id, id).await? else {
        return Ok(false);
    };
    let event = Event::new("credential.removed")
        .account(&account.id)
        .ip(Some(ip))
        .detail(json!({ "kind": removed.kind.as_str(), "id": removed.id, "label": removed.label }));
    app.audit.record(event).await?;
    Ok(true)
}
