//! "CMT/CCCD" login: ID number + password, then an SMS code to the default phone (or another
//! verified phone of the user's: "Chọn phương thức xác thực khác"). amr: pwd, sms, mfa.

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::authenticators::otp::{self, OtpChallenge, OtpError};
use crate::domain::Account;
use crate::store::StoreError;

pub const KIND: &str = "login";

/// RFC 8176 methods of a password + SMS login.
pub const AMR_PASSWORD_SMS: [&str; 3] = ["pwd", "sms", "mfa"];
pub const AMR_PASSWORD: [&str; 1] = ["pwd"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginFlow {
    pub account_id: String,
    /// The pending authorization request, if a portal sent the user.
    pub ar: Option<String>,
    pub otp: OtpChallenge,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginFlowError {
    #[error(transparent)]
    Otp(#[from] OtpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("not a verified phone of this account")]
    UnknownPhone,
}

/// After a correct password: the second step, or `None` when the account logs in with the
/// password alone (SMS step switched off, or no verified phone).
pub async fn second_step(
    app: &App,
    account: &Account,
    ar: Option<String>,
    text: impl Fn(&str, i64) -> String,
) -> Result<Option<LoginFlow>, LoginFlowError> {
    if !app.config.passwords.login_otp {
        return Ok(None);
    }
    let Some(phone) = app
        .db
        .verified_phones(&account.id)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let otp = otp::send(app, &phone.e164, text).await?;
    Ok(Some(LoginFlow {
        account_id: account.id.clone(),
        ar,
        otp,
    }))
}

/// Sends the code to another verified phone of the account.
pub async fn switch_phone(
    app: &App,
    flow: &mut LoginFlow,
    phone_id: &str,
    text: impl Fn(&str, i64) -> String,
) -> Result<(), LoginFlowError> {
    // Choosing another phone is a resend: the same cooldown applies.
    let wait_seconds = flow.otp.resend_at - app.clock.unix();
    if wait_seconds > 0 {
        return Err(OtpError::Cooldown { wait_seconds }.into());
    }
    let phone = app
        .db
        .verified_phones(&flow.account_id)
        .await?
        .into_iter()
        .find(|p| p.id == phone_id)
        .ok_or(LoginFlowError::UnknownPhone)?;
    flow.otp = otp::send(app, &phone.e164, text).await?;
    Ok(())
}
