//! "Quên mật khẩu": ID number + registered phone → SMS code → new password; every session and
//! refresh token of the account is then revoked (the sessions' portals get back-channel logout)
//! and the account's phones are told by SMS. When the details match no account, the user sees
//! the same screens but no code is sent and none can succeed, so the flow reveals nothing about
//! which ID numbers have accounts.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::notify::{self, Notice};
use super::registration::check_new_password;
use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::Ctx;
use crate::authenticators::otp::{self, OtpError, OtpStep, Purpose};
use crate::authenticators::password;
use crate::domain::{Account, AccountStatus, IdNumber, PhoneNumber};
use crate::hashing::HashError;
use crate::message::FieldErrors;
use crate::oidc::error::OAuthError;
use crate::oidc::logout;
use crate::store::StoreError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryFlow {
    /// `None` for a decoy flow.
    pub account_id: Option<String>,
    pub otp: OtpStep,
}

impl FlowState for RecoveryFlow {
    const KIND: &'static str = "recovery";
}

impl WithOtp for RecoveryFlow {
    fn otp(&self) -> Option<&OtpStep> {
        Some(&self.otp)
    }
    fn otp_mut(&mut self) -> Option<&mut OtpStep> {
        Some(&mut self.otp)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Otp(#[from] OtpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid new password")]
    Fields(FieldErrors),
    #[error("the flow is not at this step")]
    OutOfOrder,
    /// Password hashing is at capacity: nothing was changed; the same form may be sent again.
    #[error("password hashing is busy")]
    Busy,
    #[error("ending the account's sessions failed: {0}")]
    Sessions(OAuthError),
}

pub async fn start(
    ctx: &Ctx<'_>,
    id_number: &IdNumber,
    phone: &PhoneNumber,
) -> Result<RecoveryFlow, RecoveryError> {
    // A locked (or disabled) account gets the decoy too: while a complaint holds it, whoever
    // holds its phone cannot take it back by a reset.
    let account = ctx
        .db
        .find_account_by_id_number(id_number.as_str())
        .await?
        .filter(|a| a.status == AccountStatus::Active);
    let owner = match &account {
        Some(a) => ctx
            .db
            .verified_phones(&a.id)
            .await?
            .iter()
            .any(|p| p.e164 == phone.e164())
            .then(|| a.id.clone()),
        None => None,
    };
    let otp = match &owner {
        Some(id) => OtpStep::send(ctx, Purpose::Recovery, Some(id), phone.e164()).await?,
        None => OtpStep::decoy(ctx, Purpose::Recovery, phone.e164()).await?,
    };
    Ok(RecoveryFlow {
        account_id: owner,
        otp,
    })
}

/// Sets the new password (with its audit row, `account.password_reset`, in the same
/// transaction), ends every session and refresh token of the account, and tells its phones (in
/// `locale`).
pub async fn complete(
    app: &App,
    flow: &RecoveryFlow,
    new_password: &str,
    confirm: &str,
    ip: Option<&str>,
    locale: &str,
) -> Result<(), RecoveryError> {
    let account_id = match (&flow.account_id, flow.otp.verified) {
        (Some(id), true) => id.clone(),
        _ => return Err(RecoveryError::OutOfOrder),
    };
    let account = app
        .db
        .find_account(&account_id)
        .await?
        .ok_or(RecoveryError::OutOfOrder)?;
    let words = password::personal_words(
        account.id_number.as_deref(),
        &account.full_name,
        Some(&flow.otp.challenge.phone),
    );
    check_new_password(app.password_policy(), new_password, confirm, &words)
        .map_err(RecoveryError::Fields)?;
    let hash = app.hasher.hash(new_password).await.map_err(|e| match e {
        HashError::Busy => RecoveryError::Busy,
        HashError::Failed(e) => RecoveryError::Store(StoreError::Corrupt(e)),
    })?;
    let event = Event::new("account.password_reset")
        .account(&account_id)
        .ip(ip)
        .detail(json!({ "via": "sms_otp" }));
    let row = app.audit.row(event);
    app.db
        .set_password(&account_id, &hash, app.clock.now(), Some(&row))
        .await?;
    Audit::log(&row);
    logout::end_account(app, &account_id, None, ip)
        .await
        .map_err(RecoveryError::Sessions)?;
    clear_failures(app, &account).await?;
    notify::account(app, locale, &account_id, Notice::PasswordReset).await;
    Ok(())
}

/// Lifts what failed logins left on the account: its login name's failures and throttle, and
/// its run of wrong login codes. After a password reset or change the person has just proven
/// they hold the account, so a stranger's guesses must no longer stand in their way.
pub async fn clear_failures(app: &App, account: &Account) -> Result<(), StoreError> {
    let store = app.store.as_ref();
    if let Some(id_number) = &account.id_number {
        password::clear_failures(store, id_number).await?;
    }
    otp::clear_wrong(store, Purpose::Login, &account.id).await?;
    Ok(())
}
