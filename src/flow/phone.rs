//! Verifying a phone added in "Thông tin cá nhân": an SMS code to the new number; once it is
//! entered the phone joins the account's verified phones.

use serde::{Deserialize, Serialize};

use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::Ctx;
use crate::authenticators::otp::{OtpError, OtpStep, Purpose};
use crate::domain::PhoneNumber;
use crate::store::StoreError;

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

/// Sends the first code to `phone`, unless the account has it already.
pub async fn start(
    ctx: &Ctx<'_>,
    account_id: &str,
    phone: &PhoneNumber,
) -> Result<PhoneFlow, PhoneError> {
    let owned = ctx.db.verified_phones(account_id).await?;
    if owned.iter().any(|p| p.e164 == phone.e164()) {
        return Err(PhoneError::AlreadyAdded);
    }
    Ok(PhoneFlow {
        account_id: account_id.to_string(),
        otp: OtpStep::send(ctx, Purpose::Profile, Some(account_id), phone.e164()).await?,
    })
}

/// Adds the phone (its code was entered) and audits it.
pub async fn complete(app: &App, flow: &PhoneFlow, ip: &str) -> Result<(), StoreError> {
    if !flow.otp.verified {
        return Err(StoreError::Corrupt("phone not verified".into()));
    }
    match app
        .db
        .add_phone(
            &flow.account_id,
            &flow.otp.challenge.phone,
            true,
            app.clock.now(),
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e),
    }
    let event = Event::new("account.phone_added")
        .account(&flow.account_id)
        .ip(Some(ip));
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
    }
    Ok(())
}
