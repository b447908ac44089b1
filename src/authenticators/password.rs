//! ID number + password (amr `pwd`), the "CMT/CCCD" login: Argon2id hashes, failed-login
//! lockout per login name and a throttle per client IP, both counted in the ephemeral store so
//! they hold across nodes. Shape: a form (the login page).
//!
//! Passwords are hashed and checked in Unicode NFC: "ậ" typed on one keyboard as one code point
//! and on another as "a" + two combining marks is the same password. Hashes made before this
//! rule (of the password as typed) still verify, once, and are replaced by the NFC hash.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Version};
use argon2::{PasswordHasher, PasswordVerifier};
use unicode_normalization::{UnicodeNormalization, is_nfc};

use super::{
    Amr, Attestation, Ctx, Evidence, Form, Outcome, Prompt, Refusal, RefusalKind, StepState, Traits,
};
use crate::config::PasswordHashConfig;
use crate::domain::{Account, AccountStatus, IdNumber};
use crate::message::Message;
use crate::oidc::params::Params;
use crate::store::StoreError;

pub const TRAITS: Traits = Traits {
    identifies: true,
    phishing_resistant: false,
    attests: Attestation::AccountLevel,
    enrols: None,
    from_typed_id: false,
};

/// The login form posted: `username` (the ID number) and `password`.
pub async fn start(ctx: &Ctx<'_>, input: &Params) -> Outcome {
    let refuse = |refusal: Refusal| {
        Outcome::Refused(StepState::Password, Prompt::Form(Form::LoginPage), refusal)
    };
    let username = input.get("username").unwrap_or_default().trim();
    if username.is_empty() {
        return refuse(Refusal::invalid(
            "error_username_required",
            "username_missing",
        ));
    }
    let Some(password) = input.get("password") else {
        return refuse(Refusal::invalid(
            "error_password_required",
            "password_missing",
        ));
    };
    match authenticate(ctx, username, password, &ctx.ip).await {
        Ok(account) => Outcome::Done(Evidence::account(&account.id, vec![Amr::Pwd])),
        Err(e) => refuse(e.refusal()),
    }
}

impl LoginError {
    fn refusal(&self) -> Refusal {
        let (kind, key) = match self {
            Self::InvalidCredentials { .. } => {
                (RefusalKind::Unauthorized, "error_invalid_credentials")
            }
            Self::Locked => (RefusalKind::Limited, "error_account_locked"),
            Self::Throttled => (RefusalKind::Limited, "error_too_many_attempts"),
            Self::Store(e) => {
                tracing::error!(error = %e, "login failed on a backend");
                (RefusalKind::Unavailable, "error_temporarily_unavailable")
            }
        };
        let account = match self {
            Self::InvalidCredentials { account_id } => account_id.as_deref(),
            _ => None,
        };
        Refusal::new(kind, Message::new(key), self.reason()).account(account)
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::InvalidCredentials { .. } => "wrong ID number or password",
            Self::Locked => "too many failed attempts for this account",
            Self::Throttled => "too many failed attempts from this address",
            Self::Store(_) => "backend unavailable",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong ID number or password")]
    InvalidCredentials {
        /// For the audit log only; never shown.
        account_id: Option<String>,
    },
    #[error("too many failed attempts for this account")]
    Locked,
    #[error("too many failed attempts from this address")]
    Throttled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn argon2(cfg: &PasswordHashConfig) -> Argon2<'static> {
    let params = argon2::Params::new(
        cfg.argon2_memory_kib,
        cfg.argon2_iterations,
        cfg.argon2_parallelism,
        None,
    )
    .unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password as it is hashed: its NFC form.
fn normalized(password: &str) -> String {
    password.nfc().collect()
}

/// An Argon2id PHC string for `password` (in NFC).
pub fn hash(cfg: &PasswordHashConfig, password: &str) -> Result<String, String> {
    let salt = crate::random::bytes::<16>();
    argon2(cfg)
        .hash_password_with_salt(normalized(password).as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// [`hash`] on a blocking thread (Argon2id is deliberately slow).
pub async fn hash_blocking(cfg: &PasswordHashConfig, password: &str) -> Result<String, String> {
    let (cfg, password) = (cfg.clone(), password.to_string());
    tokio::task::spawn_blocking(move || hash(&cfg, &password))
        .await
        .map_err(|e| e.to_string())?
}

/// [`verify`] on a blocking thread.
pub async fn verify_blocking(stored: &str, password: &str) -> bool {
    let (stored, password) = (stored.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || verify(&stored, &password))
        .await
        .unwrap_or(false)
}

/// Words a new password must not contain: the ID number, the phone (national form) and the
/// parts of the name (the password policy ignores the short ones).
pub fn personal_words(
    id_number: Option<&str>,
    full_name: &str,
    phone_e164: Option<&str>,
) -> Vec<String> {
    let mut words: Vec<String> = id_number.into_iter().map(str::to_string).collect();
    if let Some(p) = phone_e164.and_then(|p| crate::domain::PhoneNumber::parse(p).ok()) {
        words.push(p.national());
    }
    words.extend(full_name.split_whitespace().map(str::to_string));
    words
}

/// Constant-time verification (inside argon2) of the NFC form; parameters come from the stored
/// hash.
pub fn verify(stored: &str, password: &str) -> bool {
    verify_exactly(stored, &normalized(password))
}

fn verify_exactly(stored: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// How a typed password matched a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    No,
    Yes,
    /// Only as typed, not in NFC: a hash from before passwords were normalised, to replace.
    AsTyped,
}

/// Checks `password` in NFC, then — only when the typed form is not NFC — as typed, so hashes
/// made before passwords were normalised still work. An unknown user's dummy hash goes through
/// the same steps, so the time taken says nothing about the account.
async fn check(stored: &str, password: &str) -> Match {
    if verify_blocking(stored, password).await {
        return Match::Yes;
    }
    if is_nfc(password) {
        return Match::No;
    }
    let (stored, typed) = (stored.to_string(), password.to_string());
    let as_typed = tokio::task::spawn_blocking(move || verify_exactly(&stored, &typed))
        .await
        .unwrap_or(false);
    if as_typed { Match::AsTyped } else { Match::No }
}

/// A hash verified when the account does not exist, so both cases cost the same time.
fn dummy_hash(cfg: &PasswordHashConfig) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(cfg, "not a real password").unwrap_or_default())
}

/// Consecutive failures after which a login name stays locked until its password is reset.
pub const MAX_CONSECUTIVE_FAILURES: u64 = 100;
/// Longest single lock.
const MAX_LOCK: Duration = Duration::from_secs(24 * 3600);
/// How long a run of failures is remembered without a success.
const CONSECUTIVE_MEMORY: Duration = Duration::from_secs(30 * 24 * 3600);

fn name_hash(username: &str) -> String {
    let name = IdNumber::parse(username)
        .map(|i| i.as_str().to_string())
        .unwrap_or_else(|_| username.to_string());
    crate::random::sha256_hex(&name)
}

fn consecutive_key(hash: &str) -> String {
    format!("login_fail:{hash}")
}

fn lock_key(hash: &str) -> String {
    format!("login_lock:{hash}")
}

/// Checks an ID number and password. Throttles by IP, then applies the lock of the submitted
/// login name: every `max_failed_logins` consecutive failures lock the name for a period that
/// doubles each time (from `failed_login_window_seconds`, at most a day); after
/// [`MAX_CONSECUTIVE_FAILURES`] it stays locked until the password is reset. The lock is keyed by
/// the name, not the account, so it reveals nothing about which ID numbers have accounts.
pub async fn authenticate(
    ctx: &Ctx<'_>,
    username: &str,
    password: &str,
    ip: &str,
) -> Result<Account, LoginError> {
    let cfg = &ctx.config.passwords;
    let window = Duration::from_secs(cfg.failed_login_window_seconds.max(1) as u64);
    let ip_key = format!("login_fail_ip:{ip}");
    if ctx.store.count(&ip_key).await.map_err(StoreError::from)? >= cfg.max_failed_logins_per_ip {
        return Err(LoginError::Throttled);
    }
    let hash = name_hash(username);
    let consecutive = ctx
        .store
        .count(&consecutive_key(&hash))
        .await
        .map_err(StoreError::from)?;
    let locked = ctx
        .store
        .exists_any(&[lock_key(&hash)])
        .await
        .map_err(StoreError::from)?;
    if locked || consecutive >= MAX_CONSECUTIVE_FAILURES {
        return Err(LoginError::Locked);
    }
    let id_number = IdNumber::parse(username).ok();
    let account = match &id_number {
        Some(id) => ctx.db.find_account_by_id_number(id.as_str()).await?,
        None => None,
    };
    let stored = match &account {
        Some(a) => ctx.db.password_hash(&a.id).await?,
        None => None,
    };
    let candidate = stored.as_deref().unwrap_or_else(|| dummy_hash(cfg));
    let matched = check(candidate, password).await;
    match account {
        Some(a)
            if matched != Match::No && stored.is_some() && a.status == AccountStatus::Active =>
        {
            ctx.store
                .delete(&consecutive_key(&hash))
                .await
                .map_err(StoreError::from)?;
            if matched == Match::AsTyped {
                rehash(ctx, &a.id, password).await;
            }
            Ok(a)
        }
        other => {
            ctx.store
                .increment(&ip_key, window)
                .await
                .map_err(StoreError::from)?;
            let n = ctx
                .store
                .increment(&consecutive_key(&hash), CONSECUTIVE_MEMORY)
                .await
                .map_err(StoreError::from)?;
            let step = cfg.max_failed_logins.max(1);
            if n % step == 0 {
                let doublings = (n / step).saturating_sub(1).min(16) as u32;
                let lock = window.saturating_mul(1 << doublings).min(MAX_LOCK);
                ctx.store
                    .put(&lock_key(&hash), b"1", lock)
                    .await
                    .map_err(StoreError::from)?;
            }
            Err(LoginError::InvalidCredentials {
                account_id: other.map(|a| a.id),
            })
        }
    }
}

/// Replaces an old hash of the password as typed by the hash of its NFC form. A failure is only
/// logged: the old hash keeps working.
async fn rehash(ctx: &Ctx<'_>, account_id: &str, password: &str) {
    let result = match hash_blocking(&ctx.config.passwords, password).await {
        Ok(new) => ctx
            .db
            .set_password(account_id, &new, ctx.clock.now(), None)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "replacing a pre-NFC password hash failed");
    }
}

/// Forgets a login name's failures and lock (after a password reset).
pub async fn clear_failures(ctx: &Ctx<'_>, username: &str) -> Result<(), StoreError> {
    let hash = name_hash(username);
    ctx.store.delete(&consecutive_key(&hash)).await?;
    ctx.store.delete(&lock_key(&hash)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::testing::{Harness, PASSWORD, input};

    fn refusal(outcome: Outcome) -> Refusal {
        match outcome {
            Outcome::Refused(StepState::Password, Prompt::Form(Form::LoginPage), r) => r,
            other => panic!("expected a refusal on the login page, got {other:?}"),
        }
    }

    /// "Mật@Khẩu2025" typed decomposed (NFD, as some keyboards and copy-pastes send it) is the
    /// same password as typed composed (NFC); a hash of the decomposed form as typed, made
    /// before passwords were normalised, is accepted and replaced by the NFC hash.
    #[tokio::test]
    async fn passwords_are_compared_in_nfc_and_old_hashes_are_replaced() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let nfc = "Mật@Khẩu2025";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd.as_str());
        let account = h.account("001090012345", &[]).await;
        let login = |typed: String| {
            let ctx = &ctx;
            async move { authenticate(ctx, "001090012345", &typed, &ctx.ip).await }
        };

        let new = hash(&h.config.passwords, &nfd).unwrap();
        h.db.set_password(&account.id, &new, h.clock.now(), None)
            .await
            .unwrap();
        assert!(
            login(nfc.to_string()).await.is_ok(),
            "set decomposed, typed composed"
        );
        assert!(login(nfd.clone()).await.is_ok());

        let salt = crate::random::bytes::<16>();
        let old = argon2(&h.config.passwords)
            .hash_password_with_salt(nfd.as_bytes(), &salt)
            .unwrap()
            .to_string();
        h.db.set_password(&account.id, &old, h.clock.now(), None)
            .await
            .unwrap();
        assert!(
            !verify(&old, nfc),
            "the old hash knows only the form as typed"
        );
        assert!(login(nfd.clone()).await.is_ok(), "the old hash still works");
        let replaced = h.db.password_hash(&account.id).await.unwrap().unwrap();
        assert_ne!(replaced, old, "and is replaced");
        assert!(verify(&replaced, nfc) && verify(&replaced, &nfd));
        assert!(login(nfc.to_string()).await.is_ok());
        assert!(login("Mat@Khau2025".to_string()).await.is_err());
    }

    #[tokio::test]
    async fn the_password_step() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let account = h.account("001090012345", &[]).await;

        let r = refusal(start(&ctx, &input(&[("password", "x")])).await);
        assert_eq!(
            (r.kind, r.message.key),
            (RefusalKind::Invalid, "error_username_required")
        );
        let r = refusal(start(&ctx, &input(&[("username", "001090012345")])).await);
        assert_eq!(r.message.key, "error_password_required");

        let wrong = input(&[("username", "001090012345"), ("password", "Wrong@12345")]);
        let r = refusal(start(&ctx, &wrong).await);
        assert_eq!(r.kind, RefusalKind::Unauthorized);
        assert_eq!(
            r.account_id.as_deref(),
            Some(account.id.as_str()),
            "audited against the account"
        );
        let unknown = input(&[("username", "001090099999"), ("password", PASSWORD)]);
        let r = refusal(start(&ctx, &unknown).await);
        assert_eq!((r.kind, r.account_id), (RefusalKind::Unauthorized, None));

        // Five failures lock the name for the window; the lock lifts on the clock.
        for _ in 0..4 {
            refusal(start(&ctx, &wrong).await);
        }
        let right = input(&[("username", "001090012345"), ("password", PASSWORD)]);
        let r = refusal(start(&ctx, &right).await);
        assert_eq!(
            (r.kind, r.message.key),
            (RefusalKind::Limited, "error_account_locked")
        );
        h.advance(ctx.config.passwords.failed_login_window_seconds as u64 + 1);
        match start(&ctx, &right).await {
            Outcome::Done(e) => {
                assert_eq!(e.account_id(), Some(account.id.as_str()));
                assert_eq!(e.amr_strings(), ["pwd"]);
                assert_eq!(e.level, Attestation::AccountLevel);
                assert!(!e.phishing_resistant);
            }
            other => panic!("{other:?}"),
        }
    }
}
