//! The email address in "Thông tin cá nhân": a new address counts only once the code mailed to
//! it is entered (then relying parties get it with `email_verified: true`). Until then it waits
//! in this flow, not on the account. Removing the address needs no code. Both need a recent
//! re-authentication ([`Recent`]).
//!
//! The code is an [`OtpChallenge`] (6 digits, salted hash, single use, `otp.ttl_seconds`,
//! `otp.max_attempts`), sent by the mail gateway; an account may have
//! `profile.email_codes_per_hour` codes mailed per hour.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::FlowState;
use super::reauth::Recent;
use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::Ctx;
use crate::authenticators::otp::{self, OtpChallenge, OtpError, Purpose};
use crate::connectors::ConnectorError;
use crate::domain::Email;
use crate::message::Message;
use crate::store::StoreError;
use crate::store::ephemeral::EphemeralError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailFlow {
    pub account_id: String,
    /// The new address, validated (`domain::Email`).
    pub email: String,
    pub challenge: OtpChallenge,
}

impl FlowState for EmailFlow {
    const KIND: &'static str = "email";
}

#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    #[error("invalid email address")]
    Invalid,
    #[error("too many email codes for this account in the last hour")]
    Limited,
    #[error("the mail gateway failed: {0}")]
    Mail(#[from] ConnectorError),
    #[error(transparent)]
    Otp(#[from] OtpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<EphemeralError> for EmailChangeError {
    fn from(e: EphemeralError) -> Self {
        Self::Store(e.into())
    }
}

impl EmailChangeError {
    /// What the user is told.
    pub fn message(&self) -> Message {
        match self {
            Self::Invalid => Message::new("err_email_invalid"),
            Self::Limited => Message::new("err_email_codes_cap"),
            Self::Mail(_) => Message::new("err_upstream_mail"),
            Self::Otp(e) => e.message(),
            Self::Store(_) => Message::new("error_temporarily_unavailable"),
        }
    }
}

/// Mails a code to the new address `raw` (in `locale`); the address is kept in the flow until
/// the code comes back.
pub async fn start(
    app: &App,
    ctx: &Ctx<'_>,
    recent: &Recent,
    raw: &str,
    locale: &str,
) -> Result<EmailFlow, EmailChangeError> {
    let email = Email::parse(raw).map_err(|_| EmailChangeError::Invalid)?;
    let key = format!("email_codes:{}", recent.account_id());
    let sent = ctx.store.increment(&key, Duration::from_secs(3600)).await?;
    if sent > ctx.config.profile.email_codes_per_hour {
        return Err(EmailChangeError::Limited);
    }
    let account = Some(recent.account_id());
    let (challenge, code) = otp::code_for(ctx, Purpose::Profile, account, email.as_str());
    let subject = app.theme.t(locale, "mail_email_code_subject");
    let text = app
        .theme
        .t(locale, "mail_email_code_text")
        .replace("{code}", &code)
        .replace("{minutes}", &otp::ttl_minutes(ctx).to_string());
    ctx.connectors
        .mail
        .send(email.as_str(), &subject, &text)
        .await?;
    Ok(EmailFlow {
        account_id: recent.account_id().to_string(),
        email: email.as_str().to_string(),
        challenge,
    })
}

/// Checks the typed code; if right, the address becomes the account's, verified, with its
/// audit row (`account.email_changed`) in the same transaction.
pub async fn complete(
    app: &App,
    ctx: &Ctx<'_>,
    flow: &EmailFlow,
    code: Option<&str>,
) -> Result<(), EmailChangeError> {
    otp::check(ctx, &flow.challenge, code).await?;
    let event = Event::new("account.email_changed")
        .account(&flow.account_id)
        .ip(Some(&ctx.ip))
        .detail(json!({ "verified": true }));
    let row = app.audit.row(event);
    app.db
        .set_email(
            &flow.account_id,
            Some(&flow.email),
            true,
            app.clock.now(),
            &row,
        )
        .await?;
    Audit::log(&row);
    Ok(())
}

/// Removes the account's address (`account.email_changed` with `removed`).
pub async fn remove(app: &App, recent: &Recent, ip: &str) -> Result<(), StoreError> {
    let event = Event::new("account.email_changed")
        .account(recent.account_id())
        .ip(Some(ip))
        .detail(json!({ "removed": true }));
    let row = app.audit.row(event);
    app.db
        .set_email(recent.account_id(), None, false, app.clock.now(), &row)
        .await?;
    Audit::log(&row);
    Ok(())
}
