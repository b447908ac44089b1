//! ID number + password (amr `pwd`), the "CMT/CCCD" login: Argon2id hashes, and limits on
//! guessing that throttle but never brick (NIST SP 800-63B §5.2.2). Shape: a form (the login
//! page). The rules, all counted in the ephemeral store (so they hold across nodes) and each
//! attempt taken *before* Argon2 runs (so parallel requests cannot all pass a check that none
//! of them has counted yet):
//!
//! - **per client IP**: at most `max_failed_logins_per_ip` failed checks per
//!   `failed_login_window_seconds` (`login_fail_ip:<ip>`); a success gives its attempt back;
//! - **per login name**, existing or not (so the limits reveal nothing about which ID numbers
//!   have accounts), counted as consecutive failures (`login_fail:<sha256(name)>`):
//!   - at most `max_failed_logins` checks per window (`login_try:<sha256(name)>`); the window is
//!     `failed_login_window_seconds`, doubled for each earlier run of `max_failed_logins`
//!     failures, at most [`MAX_THROTTLE`];
//!   - past `max_failed_logins` failures in a row the name is *challenged*: every attempt must
//!     bring the captcha the login page then shows, checked before the throttle and the
//!     password, and a right password must then pass the SMS step too, even if `[login.then]`
//!     skips it;
//!   - an attempt refused before its password was checked (throttle, captcha) gives its count
//!     back, so a stranger without the captcha cannot push a name further.
//!
//! Passwords are hashed and checked in Unicode NFC (`hashing`); a hash made before that rule (of
//! the password as typed) still matches once and is replaced by the NFC hash ([`rehash`]).
//!
//! Nothing here needs an administrator: the failures of a name end with a right password, a
//! password reset ("Quên mật khẩu") or a password change ([`clear_failures`]), and are
//! otherwise forgotten [`FAILURE_MEMORY`] after the first of the run.

use std::time::Duration;

use super::{
    Amr, Attestation, Ctx, Evidence, Form, Method, Outcome, Prompt, Refusal, RefusalKind,
    StepState, Traits, captcha,
};
use crate::config::PasswordHashConfig;
use crate::domain::{Account, AccountStatus, IdNumber};
use crate::hashing::{self, HashError, Match};
use crate::message::Message;
use crate::oidc::params::Params;
use crate::store::StoreError;
use crate::store::ephemeral::{Attempt, EphemeralError, EphemeralStore};

pub const TRAITS: Traits = Traits {
    identifies: true,
    phishing_resistant: false,
    attests: Attestation::AccountLevel,
    enrols: None,
    from_typed_id: false,
};

/// The login form posted: `username` (the ID number), `password`, and when the page showed a
/// captcha, `captcha` with its hidden `captcha_id`.
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
    let captcha = match (input.get("captcha_id"), input.get("captcha")) {
        (Some(id), Some(answer)) => Some(CaptchaAnswer { id, answer }),
        _ => None,
    };
    let attempt = Credentials {
        username,
        password,
        captcha,
    };
    match authenticate(ctx, &attempt).await {
        Ok(Verified { account, step_up }) => {
            let evidence = Evidence::account(&account.id, vec![Amr::Pwd]);
            if step_up {
                Outcome::DoneRequiring(evidence, Method::SmsOtp)
            } else {
                Outcome::Done(evidence)
            }
        }
        Err(e) => refuse(e.refusal()),
    }
}

impl LoginError {
    /// What a refused password attempt tells the user, with its audit reason.
    pub fn refusal(&self) -> Refusal {
        let (kind, key) = match self {
            Self::InvalidCredentials { .. } => {
                (RefusalKind::Unauthorized, "error_invalid_credentials")
            }
            Self::Locked => (RefusalKind::Limited, "error_login_throttled"),
            Self::Throttled => (RefusalKind::Limited, "error_too_many_attempts"),
            Self::CaptchaRequired => (RefusalKind::Limited, "error_login_captcha_required"),
            Self::CaptchaWrong => (RefusalKind::Invalid, "err_captcha_wrong"),
            Self::Busy => (RefusalKind::Busy, "error_busy"),
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
            Self::Locked => "too many failed attempts for this login name",
            Self::Throttled => "too many failed attempts from this address",
            Self::CaptchaRequired => "captcha_required",
            Self::CaptchaWrong => "captcha_wrong",
            Self::Busy => "password hashing busy",
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
    /// The login name's throttle: wait for its window to end.
    #[error("too many failed attempts for this login name")]
    Locked,
    #[error("too many failed attempts from this address")]
    Throttled,
    /// The login name is challenged and the attempt brought no captcha answer.
    #[error("this login name needs a captcha")]
    CaptchaRequired,
    #[error("wrong or expired captcha")]
    CaptchaWrong,
    /// The hashing pool is full: nothing was checked or counted.
    #[error("password hashing is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<EphemeralError> for LoginError {
    fn from(e: EphemeralError) -> Self {
        Self::Store(e.into())
    }
}

impl From<HashError> for LoginError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            HashError::Failed(e) => Self::Store(StoreError::Corrupt(e)),
        }
    }
}

/// An Argon2id PHC string for `password`, on the calling thread: for the CLI and test set-up.
/// Requests hash through `Ctx::hasher` (the bounded pool).
pub fn hash(cfg: &PasswordHashConfig, password: &str) -> Result<String, String> {
    hashing::hash_once(cfg, password).map_err(|e| e.to_string())
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

/// The longest window of the login name's throttle.
pub const MAX_THROTTLE: Duration = Duration::from_secs(3600);
/// How long a run of failures is remembered without a success, from its first failure.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(30 * 24 * 3600);

/// An attempt as typed: the login name, the password, and the captcha the page showed.
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub captcha: Option<CaptchaAnswer<'a>>,
}

/// A captcha's id (the form's hidden `captcha_id`) and the typed answer.
#[derive(Clone, Copy)]
pub struct CaptchaAnswer<'a> {
    pub id: &'a str,
    pub answer: &'a str,
}

/// A right password.
#[derive(Debug)]
pub struct Verified {
    pub account: Account,
    /// The name was challenged (too many failures in a row): the login must pass the SMS step
    /// too, whatever `[login.then]` says.
    pub step_up: bool,
}

/// The login name's counters, keyed by a hash of the name (an ID number in its canonical form).
struct NameKeys {
    /// Failures in a row.
    failures: String,
    /// Checks in the current throttle window.
    tries: String,
}

impl NameKeys {
    fn of(username: &str) -> Self {
        let name = IdNumber::parse(username)
            .map(|i| i.as_str().to_string())
            .unwrap_or_else(|_| username.to_string());
        let hash = crate::random::sha256_hex(&name);
        Self {
            failures: format!("login_fail:{hash}"),
            tries: format!("login_try:{hash}"),
        }
    }
}

/// The throttle's window after `runs` earlier runs of failures: doubling, at most
/// [`MAX_THROTTLE`].
fn throttle_window(base: Duration, runs: u64) -> Duration {
    base.saturating_mul(1 << runs.min(16)).min(MAX_THROTTLE)
}

/// Checks an ID number and password under the rules of this module (see its comment); the
/// client's IP is `ctx.ip`.
pub async fn authenticate(
    ctx: &Ctx<'_>,
    attempt: &Credentials<'_>,
) -> Result<Verified, LoginError> {
    let cfg = &ctx.config.passwords;
    let store = ctx.store;
    let window = Duration::from_secs(cfg.failed_login_window_seconds.max(1) as u64);
    let step = cfg.max_failed_logins.max(1);
    let ip_key = format!("login_fail_ip:{}", ctx.ip);
    if store
        .take_attempt(&ip_key, cfg.max_failed_logins_per_ip, window)
        .await?
        == Attempt::Refused
    {
        return Err(LoginError::Throttled);
    }
    let keys = NameKeys::of(attempt.username);
    // Counted as a failure before anything is checked; a success deletes the count.
    let failures = store.increment(&keys.failures, FAILURE_MEMORY).await?;
    // The captcha comes before the throttle, so attempts without it never hold the window's
    // places, even for a moment.
    let step_up = failures > step;
    if step_up {
        let solved = match attempt.captcha {
            Some(c) => captcha::verify(store, c.id, c.answer).await?,
            None => false,
        };
        if !solved {
            store.give_back(&keys.failures).await?;
            return Err(match attempt.captcha {
                Some(_) => LoginError::CaptchaWrong,
                None => LoginError::CaptchaRequired,
            });
        }
    }
    let runs = (failures - 1) / step;
    let tries = store
        .take_attempt(&keys.tries, step, throttle_window(window, runs))
        .await?;
    if tries == Attempt::Refused {
        store.give_back(&keys.failures).await?;
        return Err(LoginError::Locked);
    }
    // A place in the hashing pool, before the lookups: a burst beyond it is refused cheaply,
    // and gives back what it took, since nothing was checked.
    let slot = match ctx.hasher.reserve() {
        Ok(slot) => slot,
        Err(e) => {
            for key in [&ip_key, &keys.failures, &keys.tries] {
                store.give_back(key).await?;
            }
            return Err(e.into());
        }
    };
    let id_number = IdNumber::parse(attempt.username).ok();
    let account = match &id_number {
        Some(id) => ctx.db.find_account_by_id_number(id.as_str()).await?,
        None => None,
    };
    let stored = match &account {
        Some(a) => ctx.db.password_hash(&a.id).await?,
        None => None,
    };
    // An unknown name or an account without a password costs the same time as a known one.
    let matched = match &stored {
        Some(stored) => slot.check(stored, attempt.password).await?,
        None => {
            slot.decoy(attempt.password).await?;
            Match::No
        }
    };
    let matches = matched != Match::No;
    match account {
        Some(account) if matches && stored.is_some() && account.status == AccountStatus::Active => {
            store.delete(&keys.failures).await?;
            store.delete(&keys.tries).await?;
            // The IP's limit counts failures only.
            store.give_back(&ip_key).await?;
            if matched == Match::AsTyped {
                rehash(ctx, &account.id, attempt.password).await;
            }
            Ok(Verified { account, step_up })
        }
        other => Err(LoginError::InvalidCredentials {
            account_id: other.map(|a| a.id),
        }),
    }
}

/// Replaces an old hash of the password as typed by the hash of its NFC form. A failure is only
/// logged: the old hash keeps working.
async fn rehash(ctx: &Ctx<'_>, account_id: &str, password: &str) {
    let result = match ctx.hasher.hash(password).await {
        Ok(new) => ctx
            .db
            .set_password(account_id, &new, ctx.clock.now(), None)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "replacing a pre-NFC password hash failed");
    }
}

/// Whether the next attempt for `username` must bring a captcha (the login page shows one).
pub async fn needs_captcha(
    store: &dyn EphemeralStore,
    cfg: &PasswordHashConfig,
    username: &str,
) -> Result<bool, EphemeralError> {
    let failures = store.count(&NameKeys::of(username).failures).await?;
    Ok(failures >= cfg.max_failed_logins.max(1))
}

/// Forgets a login name's failures and its throttle (after a password reset or change).
pub async fn clear_failures(
    store: &dyn EphemeralStore,
    username: &str,
) -> Result<(), EphemeralError> {
    let keys = NameKeys::of(username);
    store.delete(&keys.failures).await?;
    store.delete(&keys.tries).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::testing::{Harness, PASSWORD, input};

    const ID: &str = "001090012345";

    fn refusal(outcome: Outcome) -> Refusal {
        match outcome {
            Outcome::Refused(StepState::Password, Prompt::Form(Form::LoginPage), r) => r,
            other => panic!("expected a refusal on the login page, got {other:?}"),
        }
    }

    /// A solved captcha, as a person would type it.
    async fn solved(h: &Harness) -> (String, String) {
        let id = captcha::create(&h.store).await.unwrap();
        let answer = captcha::peek_answer(&h.store, &id).await.unwrap().unwrap();
        (id, answer)
    }

    fn attempt<'a>(password: &'a str, captcha: Option<&'a (String, String)>) -> Credentials<'a> {
        Credentials {
            username: ID,
            password,
            captcha: captcha.map(|(id, answer)| CaptchaAnswer { id, answer }),
        }
    }

    #[tokio::test]
    async fn the_password_step() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let account = h.account(ID, &[]).await;

        let r = refusal(start(&ctx, &input(&[("password", "x")])).await);
        assert_eq!(
            (r.kind, r.message.key),
            (RefusalKind::Invalid, "error_username_required")
        );
        let r = refusal(start(&ctx, &input(&[("username", ID)])).await);
        assert_eq!(r.message.key, "error_password_required");

        let wrong = input(&[("username", ID), ("password", "Wrong@12345")]);
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

        // Five failures in a row: the name is challenged (issue 7, item 2: it was locked), and
        // they fill its throttle window, which ends on the clock.
        for _ in 0..4 {
            refusal(start(&ctx, &wrong).await);
        }
        assert!(
            needs_captcha(&h.store, &ctx.config.passwords, ID)
                .await
                .unwrap()
        );
        let right = input(&[("username", ID), ("password", PASSWORD)]);
        let r = refusal(start(&ctx, &right).await);
        assert_eq!(
            (r.kind, r.message.key),
            (RefusalKind::Limited, "error_login_captcha_required")
        );
        let (id, answer) = solved(&h).await;
        let with_captcha = |id: &str, answer: &str| {
            input(&[
                ("username", ID),
                ("password", PASSWORD),
                ("captcha_id", id),
                ("captcha", answer),
            ])
        };
        let r = refusal(start(&ctx, &with_captcha(&id, &answer)).await);
        assert_eq!(
            (r.kind, r.message.key),
            (RefusalKind::Limited, "error_login_throttled")
        );
        h.advance(ctx.config.passwords.failed_login_window_seconds as u64 + 1);
        let r = refusal(start(&ctx, &with_captcha(&id, &answer)).await);
        assert_eq!(
            (r.kind, r.message.key),
            (RefusalKind::Invalid, "err_captcha_wrong"),
            "a captcha answers once"
        );
        // The captcha first, then the SMS step.
        let (id, answer) = solved(&h).await;
        match start(&ctx, &with_captcha(&id, &answer)).await {
            Outcome::DoneRequiring(e, Method::SmsOtp) => {
                assert_eq!(e.account_id(), Some(account.id.as_str()));
                assert_eq!(e.amr_strings(), ["pwd"]);
            }
            other => panic!("{other:?}"),
        }
        // The right password ended the run: the next login is a plain one.
        assert!(
            !needs_captcha(&h.store, &ctx.config.passwords, ID)
                .await
                .unwrap()
        );
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

    /// Issue 7, item 1: the counters were read before Argon2 and written after it, so every
    /// request of a burst passed the check. Fifty wrong passwords at once now get exactly
    /// `max_failed_logins` password checks, and the right password is refused after them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_parallel_wrong_passwords_get_five_checks() {
        let h = Harness::new().await;
        h.account(ID, &[]).await;
        let ctx = h.ctx();
        let wrong = attempt("Wrong@12345", None);
        let answers = futures::future::join_all((0..50).map(|_| authenticate(&ctx, &wrong))).await;
        let checked = answers
            .iter()
            .filter(|a| matches!(a, Err(LoginError::InvalidCredentials { .. })))
            .count();
        assert_eq!(checked, 5);
        assert!(answers.iter().all(|a| matches!(
            a,
            Err(LoginError::InvalidCredentials { .. }
                | LoginError::Locked
                | LoginError::CaptchaRequired)
        )));
        assert!(authenticate(&ctx, &attempt(PASSWORD, None)).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_ip_limit_counts_failures_only_and_holds_under_a_burst() {
        let mut h = Harness::new().await;
        h.config.passwords.max_failed_logins_per_ip = 10;
        h.account(ID, &[]).await;
        let ctx = h.ctx();
        for _ in 0..20 {
            authenticate(&ctx, &attempt(PASSWORD, None))
                .await
                .expect("a right password gives its attempt back");
        }
        // Many names from one address, all at once.
        let names: Vec<String> = (0..30).map(|n| format!("0010900999{n:02}")).collect();
        let ctx = &ctx;
        let tries = names.iter().map(|name| {
            let wrong = Credentials {
                username: name,
                password: "Wrong@12345",
                captcha: None,
            };
            async move { authenticate(ctx, &wrong).await }
        });
        let answers = futures::future::join_all(tries).await;
        let checked = answers
            .iter()
            .filter(|a| matches!(a, Err(LoginError::InvalidCredentials { .. })))
            .count();
        assert_eq!(checked, 10);
        assert!(matches!(
            authenticate(ctx, &attempt(PASSWORD, None)).await,
            Err(LoginError::Throttled)
        ));
    }

    /// Issue 7, item 2: a stranger could lock any citizen out for good. Past the limit a name
    /// now needs a captcha, and attempts without one do not push it any further.
    #[tokio::test]
    async fn a_stranger_without_the_captcha_cannot_push_a_name_further() {
        let h = Harness::new().await;
        h.account(ID, &["+84823628899"]).await;
        let ctx = h.ctx();
        for _ in 0..5 {
            authenticate(&ctx, &attempt("Wrong@12345", None))
                .await
                .unwrap_err();
        }
        h.advance(ctx.config.passwords.failed_login_window_seconds as u64 + 1);
        for _ in 0..30 {
            assert!(matches!(
                authenticate(&ctx, &attempt("Wrong@12345", None)).await,
                Err(LoginError::CaptchaRequired)
            ));
        }
        let bad = (captcha::create(&h.store).await.unwrap(), "nope".to_string());
        assert!(matches!(
            authenticate(&ctx, &attempt("Wrong@12345", Some(&bad))).await,
            Err(LoginError::CaptchaWrong)
        ));
        let good = solved(&h).await;
        let v = authenticate(&ctx, &attempt(PASSWORD, Some(&good)))
            .await
            .expect("neither the window nor the count moved");
        assert!(v.step_up);
    }

    #[tokio::test]
    async fn a_password_reset_clears_the_failures() {
        let h = Harness::new().await;
        h.account(ID, &[]).await;
        let ctx = h.ctx();
        for _ in 0..5 {
            authenticate(&ctx, &attempt("Wrong@12345", None))
                .await
                .unwrap_err();
        }
        clear_failures(&h.store, ID).await.unwrap();
        let v = authenticate(&ctx, &attempt(PASSWORD, None)).await.unwrap();
        assert!(!v.step_up);
    }

    /// "Mật@Khẩu2025" typed decomposed (NFD, as some keyboards and copy-pastes send it) is the
    /// same password as typed composed (NFC); a hash of the decomposed form as typed, made
    /// before passwords were normalised, is accepted and replaced by the NFC hash.
    #[tokio::test]
    async fn passwords_are_compared_in_nfc_and_old_hashes_are_replaced() {
        use unicode_normalization::UnicodeNormalization;
        let h = Harness::new().await;
        let ctx = h.ctx();
        let nfc = "Mật@Khẩu2025";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd.as_str());
        let account = h.account(ID, &[]).await;
        let login = |typed: String| {
            let ctx = &ctx;
            async move {
                let attempt = Credentials {
                    username: ID,
                    password: &typed,
                    captcha: None,
                };
                authenticate(ctx, &attempt).await.map(|v| v.account.id)
            }
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

        // A hash of the decomposed form as typed, as made before the rule.
        let old = {
            use argon2::PasswordHasher;
            let params = argon2::Params::new(1024, 1, 1, None).unwrap();
            let argon =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let salt = crate::random::bytes::<16>();
            argon
                .hash_password_with_salt(nfd.as_bytes(), &salt)
                .unwrap()
                .to_string()
        };
        h.db.set_password(&account.id, &old, h.clock.now(), None)
            .await
            .unwrap();
        assert_eq!(
            h.hasher.check(&old, nfc).await.unwrap(),
            Match::No,
            "only the form as typed"
        );
        assert!(login(nfd.clone()).await.is_ok(), "the old hash still works");
        let replaced = h.db.password_hash(&account.id).await.unwrap().unwrap();
        assert_ne!(replaced, old, "and is replaced");
        assert_eq!(h.hasher.check(&replaced, nfc).await.unwrap(), Match::Yes);
        assert_eq!(h.hasher.check(&replaced, &nfd).await.unwrap(), Match::Yes);
        assert!(login(nfc.to_string()).await.is_ok());
        assert!(login("Mat@Khau2025".to_string()).await.is_err());
    }
}
