//! Security notices by SMS: when a phone is added or removed, the password changed or reset, or
//! a passkey added, the account's phones hear of it, so a takeover does not go unnoticed.
//!
//! The texts are the theme's `sms_notice_*` strings in the user's language (unaccented
//! Vietnamese, like `sms_otp_text`: GSM-7, one SMS). A notice that cannot be sent is logged and
//! never blocks or undoes the change. Notices are not OTP codes and draw from no OTP budget:
//! each follows a change that needed a re-authentication (or, for a reset, an SMS code).

use crate::app::App;
use crate::domain::PhoneNumber;
use crate::store::StoreError;

/// What happened to the account (a closed set: each has its text in the theme).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A phone was added; the text names it, masked.
    PhoneAdded,
    /// A phone was removed; the text names it, masked. The removed phone hears of it too.
    PhoneRemoved,
    PasswordChanged,
    PasswordReset,
    /// The password was reset at a service counter, by an officer for the person.
    PasswordResetAtCounter,
    PasskeyAdded,
}

impl Notice {
    pub const ALL: [Self; 6] = [
        Self::PhoneAdded,
        Self::PhoneRemoved,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::PasswordResetAtCounter,
        Self::PasskeyAdded,
    ];

    /// The theme string with the text (`{phone}`: the masked phone it is about).
    pub fn key(self) -> &'static str {
        match self {
            Self::PhoneAdded => "sms_notice_phone_added",
            Self::PhoneRemoved => "sms_notice_phone_removed",
            Self::PasswordChanged => "sms_notice_password_changed",
            Self::PasswordReset => "sms_notice_password_reset",
            Self::PasswordResetAtCounter => "sms_notice_password_reset_counter",
            Self::PasskeyAdded => "sms_notice_passkey_added",
        }
    }
}

/// The account's verified phones (E.164): read before the change, they are who hears of it.
pub async fn recipients(app: &App, account_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(app
        .db
        .verified_phones(account_id)
        .await?
        .into_iter()
        .map(|p| p.e164)
        .collect())
}

/// Sends `notice` to each phone of `to`, in `locale`; `about` is the phone the notice is about
/// (E.164), if any. Failures are logged, one by one.
pub async fn send(app: &App, locale: &str, to: &[String], notice: Notice, about: Option<&str>) {
    let masked = about
        .and_then(|p| PhoneNumber::parse(p).ok())
        .map(|p| p.masked())
        .unwrap_or_default();
    let text = app
        .theme
        .t(locale, notice.key())
        .replace("{phone}", &masked);
    for phone in to {
        if let Err(e) = app.connectors.sms.send(phone, &text).await {
            tracing::warn!(error = %e, notice = notice.key(), "security notice not sent");
        }
    }
}

/// Sends `notice` to the account's verified phones as they are now (after a change that does
/// not alter them); a failure to read them is logged like a failed send.
pub async fn account(app: &App, locale: &str, account_id: &str, notice: Notice) {
    match recipients(app, account_id).await {
        Ok(to) => send(app, locale, &to, notice, None).await,
        Err(e) => tracing::warn!(error = %e, notice = notice.key(), "security notice not sent"),
    }
}
