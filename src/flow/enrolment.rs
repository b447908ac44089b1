//! Adding a credential in "Thông tin cá nhân" (a passkey): after a recent re-authentication
//! ([`Recent`]: the password and an SMS code, or a passkey), the method's enrolment ceremony
//! runs and the credential is stored under the name the user gave it, with its audit row in the
//! same transaction; the account's phones are told by SMS. Removing one needs the same proof
//! and is audited the same way.

use serde::{Deserialize, Serialize};

use super::FlowState;
use super::notify::{self, Notice};
use super::reauth::Recent;
use crate::app::App;
use crate::audit::{Audit, Event};
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

/// Starts the method's ceremony for the re-authenticated account (`recent` is checked here,
/// when the change starts; the ceremony then belongs to the account).
pub async fn start(
    app: &App,
    ctx: &Ctx<'_>,
    recent: &Recent,
    account: &Account,
    method: Method,
    label: &str,
) -> Result<(EnrolFlow, Ceremony), EnrolError> {
    if !app.config.login.enabled(method) || method.traits().enrols.is_none() {
        return Err(EnrolError::NotEnrollable);
    }
    if account.id != recent.account_id() {
        return Err(EnrolError::NotEnrollable);
    }
    let label = valid_label(label).ok_or(EnrolError::Label)?;
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

/// Finishes the ceremony with what the page posted and stores the credential; the account's
/// phones are told (in `locale`).
pub async fn finish(
    app: &App,
    ctx: &Ctx<'_>,
    account: &Account,
    flow: EnrolFlow,
    input: &Params,
    locale: &str,
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
    // The store adds the new credential's kind, id and label to the detail.
    let event = Event::new("credential.added")
        .account(&account.id)
        .ip(Some(&ctx.ip));
    let audit = app.audit.row(event);
    let stored = match app
        .db
        .add_credential(&row, app.clock.now(), Some(&audit))
        .await
    {
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
    Audit::log(&audit);
    notify::account(app, locale, &account.id, Notice::PasskeyAdded).await;
    Ok(stored.summary())
}

/// Removes one of the account's own credentials, with its audit row (`credential.removed`);
/// `false` when it has none by that id.
pub async fn remove(app: &App, recent: &Recent, id: &str, ip: &str) -> Result<bool, StoreError> {
    // The store adds the removed credential's kind, id and label to the detail.
    let event = Event::new("credential.removed")
        .account(recent.account_id())
        .ip(Some(ip));
    let audit = app.audit.row(event);
    let removed = app
        .db
        .remove_credential(recent.account_id(), id, Some(&audit))
        .await?;
    if removed.is_some() {
        Audit::log(&audit);
    }
    Ok(removed.is_some())
}
