//! Changing the password in "Thông tin cá nhân" ("Đổi mật khẩu"). It needs a recent
//! re-authentication ([`Recent`]) and the current password, which is checked like a login (the
//! lockout and throttle of `password::authenticate`), so a stolen session cannot guess it.
//!
//! The browser that changed it keeps its session as it was: the same `sid`, `auth_time` and
//! `amr`, since changing a password is not a new login. Every other session of the account
//! ends (their portals get back-channel logout), every refresh token is revoked, and the
//! account's phones are told by SMS.

use super::notify::{self, Notice};
use super::reauth::{self, ReauthError, Recent};
use super::registration::check_new_password;
use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::{Ctx, password};
use crate::domain::Account;
use crate::hashing::HashError;
use crate::message::FieldErrors;
use crate::oidc::error::OAuthError;
use crate::oidc::logout;
use crate::oidc::session::SsoSession;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The current password was wrong, or its lockout or throttle applies.
    #[error("current password: {0}")]
    Current(ReauthError),
    #[error("invalid new password")]
    Fields(FieldErrors),
    /// Password hashing is at capacity: nothing was changed; the same form may be sent again.
    #[error("password hashing is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ending the other sessions failed: {0}")]
    Sessions(OAuthError),
}

/// The password typed in the form.
pub struct Typed<'a> {
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
}

/// Changes the password of the account of `session` (with its audit row,
/// `account.password_changed`, in the same transaction); see the module comment for what
/// follows. `locale` is the language of the SMS notice.
pub async fn change(
    app: &App,
    ctx: &Ctx<'_>,
    recent: &Recent,
    session: &SsoSession,
    account: &Account,
    typed: Typed<'_>,
    locale: &str,
) -> Result<(), ChangeError> {
    if recent.account_id() != account.id || session.account_id != account.id {
        return Err(ChangeError::Current(ReauthError::OutOfOrder));
    }
    reauth::check_password(ctx, account, typed.current)
        .await
        .map_err(ChangeError::Current)?;
    let words = password::personal_words(account.id_number.as_deref(), &account.full_name, None);
    check_new_password(app.password_policy(), typed.new, typed.confirm, &words)
        .map_err(ChangeError::Fields)?;
    let hash = app.hasher.hash(typed.new).await.map_err(|e| match e {
        HashError::Busy => ChangeError::Busy,
        HashError::Failed(e) => ChangeError::Store(StoreError::Corrupt(e)),
    })?;
    let event = Event::new("account.password_changed")
        .account(&account.id)
        .ip(Some(&ctx.ip));
    let row = app.audit.row(event);
    app.db
        .set_password(&account.id, &hash, app.clock.now(), Some(&row))
        .await?;
    Audit::log(&row);
    logout::end_account(app, &account.id, Some(&session.sid), Some(&ctx.ip))
        .await
        .map_err(ChangeError::Sessions)?;
    // The person just proved they hold the account: a stranger's guesses no longer stand.
    super::recovery::clear_failures(app, account).await?;
    notify::account(app, locale, &account.id, Notice::PasswordChanged).await;
    Ok(())
}
