//! The phones of "Thông tin cá nhân": a new phone is verified by an SMS code before it joins
//! the account's verified phones; a phone can be removed (never the last verified one) or made
//! the default. Each needs a recent re-authentication ([`Recent`]), is audited in the same
//! transaction as the change, and a phone added or removed is told by SMS to the phones the
//! account had (`flow::notify`), the removed one included.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::notify::{self, Notice};
use super::reauth::Recent;
use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::Ctx;
use crate::authenticators::otp::{OtpError, OtpStep, Purpose};
use crate::domain::PhoneNumber;
use crate::store::{PhoneRemoval, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhoneFlow {
    pub account_id: String,
    pub otp: OtpStep,
}

impl FlowState for PhoneFlow {
    const KIND: &'static str = "phone";
}

impl WithOtp for PhoneFlow {
    fn otp(&self) -> Option<&OtpStep> {
        Some(&self.otp)
    }
    fn otp_mut(&mut self) -> Option<&mut OtpStep> {
        Some(&mut self.otp)
    }
    fn owner(&self) -> Option<&str> {
        Some(&self.account_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// The phone is already one of the account's.
    #[error("already a phone of this account")]
    AlreadyAdded,
    #[error(transparent)]
    Otp(#[from] OtpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends the first code to `phone`, unless the account has it already. The re-authentication
/// is checked here, when the change starts; the flow then belongs to the account.
pub async fn start(
    ctx: &Ctx<'_>,
    recent: &Recent,
    phone: &PhoneNumber,
) -> Result<PhoneFlow, PhoneError> {
    let account_id = recent.account_id();
    let owned = ctx.db.verified_phones(account_id).await?;
    if owned.iter().any(|p| p.e164 == phone.e164()) {
        return Err(PhoneError::AlreadyAdded);
    }
    Ok(PhoneFlow {
        account_id: account_id.to_string(),
        otp: OtpStep::send(ctx, Purpose::Profile, Some(account_id), phone.e164()).await?,
    })
}

/// Adds the phone (its code was entered) with its audit row, then tells the account's other
/// phones (in `locale`).
pub async fn complete(
    app: &App,
    flow: &PhoneFlow,
    ip: &str,
    locale: &str,
) -> Result<(), StoreError> {
    if !flow.otp.verified {
        return Err(StoreError::Corrupt("phone not verified".into()));
    }
    let added = &flow.otp.challenge.phone;
    let before = notify::recipients(app, &flow.account_id).await?;
    let event = Event::new("account.phone_added")
        .account(&flow.account_id)
        .ip(Some(ip));
    let row = app.audit.row(event);
    match app
        .db
        .add_phone(&flow.account_id, added, true, app.clock.now(), Some(&row))
        .await
    {
        Ok(_) => Audit::log(&row),
        // Added meanwhile (the same code answered twice): nothing new to record or tell.
        Err(StoreError::Conflict) => return Ok(()),
        Err(e) => return Err(e),
    }
    notify::send(app, locale, &before, Notice::PhoneAdded, Some(added)).await;
    Ok(())
}

/// Removes one of the account's phones (never its last verified one), with its audit row, then
/// tells the phones it had, the removed one included.
pub async fn remove(
    app: &App,
    recent: &Recent,
    phone_id: &str,
    ip: &str,
    locale: &str,
) -> Result<PhoneRemoval, StoreError> {
    let account_id = recent.account_id();
    let before = notify::recipients(app, account_id).await?;
    let event = Event::new("account.phone_removed")
        .account(account_id)
        .ip(Some(ip))
        .detail(json!({ "phone_id": phone_id }));
    let row = app.audit.row(event);
    let removal = app.db.remove_phone(account_id, phone_id, &row).await?;
    if let PhoneRemoval::Removed { e164, .. } = &removal {
        Audit::log(&row);
        notify::send(app, locale, &before, Notice::PhoneRemoved, Some(e164)).await;
    }
    Ok(removal)
}

/// Makes one of the account's verified phones the default; `false` if it has none by that id.
pub async fn set_default(
    app: &App,
    recent: &Recent,
    phone_id: &str,
    ip: &str,
) -> Result<bool, StoreError> {
    let event = Event::new("account.default_phone_changed")
        .account(recent.account_id())
        .ip(Some(ip))
        .detail(json!({ "phone_id": phone_id }));
    let row = app.audit.row(event);
    let changed = app
        .db
        .set_default_phone(recent.account_id(), phone_id, &row)
        .await?;
    if changed {
        Audit::log(&row);
    }
    Ok(changed)
}
