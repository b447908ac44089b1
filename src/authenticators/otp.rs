//! SMS one-time passwords (amr `sms`): 6 digits from a CSPRNG, stored hashed, single use,
//! short lived. [`OtpStep`] is the one OTP step (send, check, "Gửi lại OTP", another phone)
//! that the login, registration, recovery and the profile's phone verification all use; each
//! says why it sends ([`Purpose`]).
//!
//! Limits (SMS cost money, and a code is a secret worth guessing). Every counter lives in the
//! ephemeral store, so the limits hold across nodes, and each is *taken before* the work it
//! limits (`EphemeralStore::take_attempt`: count, then refuse past the limit, atomically), so
//! parallel requests cannot all slip under a limit that none of them has counted yet:
//!
//! - **sending**, in this order: per client IP (`otp_ip_hour:<ip>`), per account when the person
//!   is known to be it (`otp_account_hour:<account>`, login and profile), per phone *and
//!   purpose* (`otp_hour:<purpose>:<sha256(phone)>`: adding a phone in someone's profile cannot
//!   use up the login's budget for it), then a ceiling for the whole service per minute
//!   (`sms_minute`). When one refuses, those already taken are given back. Decoys draw like real
//!   sends, so budgets reveal nothing. A resend is taken once per code (`otp_resent:<id>`);
//! - **checking**: the tries of one code (`otp_try:<id>`, `otp.max_attempts`), and wrong codes in
//!   a row across codes (`otp_wrong:<purpose>:<subject>`, `otp.max_wrong_per_account`, remembered
//!   `otp.wrong_memory_seconds` from the first; a right code ends the run). The subject is the
//!   account where the person is known to be it (login, profile), else the phone (registration,
//!   and recovery, whose decoys have no account and must behave like real flows).
//!
//! Every wrong code is counted (`xacthuc_otp_wrong_total{purpose}`) and audited once: in a login
//! as `login.failed` (reason `otp_wrong`, by `flow::login`, which audits every refusal of a
//! step), elsewhere here as `otp.wrong`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, RefusalKind};
use crate::audit::Event;
use crate::config::OtpConfig;
use crate::connectors::ConnectorError;
use crate::domain::PhoneNumber;
use crate::message::Message;
use crate::random;
use crate::store::ephemeral::{Attempt, EphemeralError, EphemeralStore};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Why a code is sent. Each purpose has its own budget per phone, its own run of wrong codes,
/// and its own label in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The SMS step of a login.
    Login,
    /// The applicant's phone, during registration.
    Registration,
    /// "Quên mật khẩu".
    Recovery,
    /// A phone added in "Thông tin cá nhân".
    Profile,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [
        Purpose::Login,
        Purpose::Registration,
        Purpose::Recovery,
        Purpose::Profile,
    ];

    /// Its name in keys, metrics and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Registration => "registration",
            Self::Recovery => "recovery",
            Self::Profile => "profile",
        }
    }

    /// Codes one phone may receive per hour for this purpose.
    fn phone_budget(self, cfg: &OtpConfig) -> u64 {
        let p = &cfg.per_phone_per_hour;
        match self {
            Self::Login => p.login,
            Self::Registration => p.registration,
            Self::Recovery => p.recovery,
            Self::Profile => p.profile,
        }
    }

    /// Whether the person asking is known to be the account (after its password, or logged
    /// in): only then do the account's own budget and run of wrong codes apply. Never for a
    /// recovery, which must behave the same whether or not the details matched an account.
    fn knows_account(self) -> bool {
        match self {
            Self::Login | Self::Profile => true,
            Self::Registration | Self::Recovery => false,
        }
    }
}

/// A code sent to a phone, as remembered by the flow that asked for it (the code itself is
/// only in the SMS; here is its salted hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtpChallenge {
    pub id: String,
    /// E.164.
    pub phone: String,
    code_hash: String,
    pub expires_at: i64,
    /// When a resend is allowed (Unix seconds).
    pub resend_at: i64,
    pub purpose: Purpose,
    /// The account the code is for, when the flow knows it (audit, and the limits of
    /// [`Purpose::knows_account`]).
    pub account_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("wait {wait_seconds} s before asking for another code")]
    Cooldown { wait_seconds: i64 },
    #[error("too many codes sent to this phone for this purpose in the last hour")]
    HourlyCap,
    #[error("too many codes sent for this account in the last hour")]
    AccountCap,
    #[error("too many codes asked for from this address in the last hour")]
    IpCap,
    #[error("the service-wide SMS ceiling is reached")]
    Busy,
    #[error("the code has expired")]
    Expired,
    #[error("wrong code")]
    Wrong { attempts_left: u64 },
    #[error("too many wrong codes: ask for a new one")]
    Exhausted,
    #[error("too many wrong codes in a row for this account or phone")]
    TooManyWrong { hours: i64 },
    #[error("the code is not six digits")]
    Format,
    #[error("the SMS gateway failed: {0}")]
    Sms(#[from] ConnectorError),
    #[error(transparent)]
    Store(#[from] EphemeralError),
}

impl OtpError {
    /// What the user is told.
    pub fn message(&self) -> Message {
        match self {
            Self::Cooldown { wait_seconds } => {
                Message::new("err_otp_resend_wait").with("seconds", wait_seconds)
            }
            Self::HourlyCap => Message::new("err_otp_hourly_cap"),
            Self::AccountCap => Message::new("err_otp_account_cap"),
            Self::IpCap => Message::new("err_otp_ip_cap"),
            Self::Busy => Message::new("err_sms_busy"),
            Self::Expired => Message::new("err_otp_expired"),
            Self::Wrong { attempts_left } => {
                Message::new("err_otp_wrong").with("left", attempts_left)
            }
            Self::Exhausted => Message::new("err_otp_exhausted"),
            Self::TooManyWrong { hours } => {
                Message::new("err_otp_too_many_wrong").with("hours", hours)
            }
            Self::Format => Message::new("err_otp_format"),
            Self::Sms(_) => Message::new("err_upstream_sms"),
            Self::Store(_) => Message::new("error_temporarily_unavailable"),
        }
    }

    /// A stable word for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Cooldown { .. } => "otp_cooldown",
            Self::HourlyCap => "otp_hourly_cap",
            Self::AccountCap => "otp_account_cap",
            Self::IpCap => "otp_ip_cap",
            Self::Busy => "sms_ceiling",
            Self::Expired => "otp_expired",
            Self::Wrong { .. } => "otp_wrong",
            Self::Exhausted => "otp_exhausted",
            Self::TooManyWrong { .. } => "otp_too_many_wrong",
            Self::Format => "otp_format",
            Self::Sms(_) => "sms_unavailable",
            Self::Store(_) => "store_unavailable",
        }
    }

    /// How bad it is, for the status the page is sent with: a limit is a 429, never a 5xx.
    pub fn kind(&self) -> RefusalKind {
        match self {
            Self::Sms(_) | Self::Store(_) => RefusalKind::Unavailable,
            Self::Cooldown { .. }
            | Self::HourlyCap
            | Self::AccountCap
            | Self::IpCap
            | Self::Busy
            | Self::TooManyWrong { .. } => RefusalKind::Limited,
            Self::Expired | Self::Wrong { .. } | Self::Exhausted | Self::Format => {
                RefusalKind::Invalid
            }
        }
    }
}

fn hash(challenge_id: &str, code: &str) -> String {
    random::sha256_hex(&format!("{challenge_id}:{code}"))
}

fn sms_text(template: &str, code: &str, minutes: i64) -> String {
    template
        .replace("{code}", code)
        .replace("{minutes}", &minutes.to_string())
}

/// How long the per-code markers outlive the code.
fn challenge_ttl(cfg: &OtpConfig) -> Duration {
    Duration::from_secs(cfg.ttl_seconds.max(1) as u64 + 60)
}

/// A new challenge; without a `code`, one that no code satisfies (a decoy).
fn challenge(
    ctx: &Ctx<'_>,
    purpose: Purpose,
    account_id: Option<&str>,
    phone: &str,
    code: Option<&str>,
) -> OtpChallenge {
    let cfg = &ctx.config.otp;
    let now = ctx.clock.unix();
    let id = random::token();
    OtpChallenge {
        code_hash: code.map_or_else(random::token, |c| hash(&id, c)),
        id,
        phone: phone.to_string(),
        expires_at: now + cfg.ttl_seconds,
        resend_at: now + cfg.resend_cooldown_seconds,
        purpose,
        account_id: account_id.map(str::to_string),
    }
}

/// Sends a fresh code to `phone` (E.164), in the words of `ctx.sms_template`, once every
/// sending budget allows it.
pub async fn send(
    ctx: &Ctx<'_>,
    purpose: Purpose,
    account_id: Option<&str>,
    phone: &str,
) -> Result<OtpChallenge, OtpError> {
    draw_budgets(ctx, purpose, account_id, phone).await?;
    let (challenge, code) = code_for(ctx, purpose, account_id, phone);
    let text = sms_text(&ctx.sms_template, &code, ttl_minutes(ctx));
    ctx.connectors.sms.send(phone, &text).await?;
    ctx.metrics.sms_sent(purpose.name());
    Ok(challenge)
}

/// A fresh code for `to` and its challenge, for the caller to deliver (an SMS in [`send`], an
/// email for the profile's address). [`check`] checks it with the same rules.
pub fn code_for(
    ctx: &Ctx<'_>,
    purpose: Purpose,
    account_id: Option<&str>,
    to: &str,
) -> (OtpChallenge, String) {
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    (challenge(ctx, purpose, account_id, to, Some(&code)), code)
}

/// A code's lifetime in whole minutes, as messages tell it (at least 1).
pub fn ttl_minutes(ctx: &Ctx<'_>) -> i64 {
    (ctx.config.otp.ttl_seconds / 60).max(1)
}

/// A challenge that no code satisfies and for which no SMS is sent: password recovery shows
/// the same OTP screen whether or not the details matched an account. It draws from the same
/// budgets as a real send, so they reveal nothing either.
pub async fn decoy(ctx: &Ctx<'_>, purpose: Purpose, phone: &str) -> Result<OtpChallenge, OtpError> {
    draw_budgets(ctx, purpose, None, phone).await?;
    Ok(challenge(ctx, purpose, None, phone, None))
}

/// One limit on sending: its counter, how many sends it allows per window, and what the user
/// is told once it is spent.
struct Budget {
    key: String,
    limit: u64,
    window: Duration,
    spent: OtpError,
}

/// Takes one send from every budget that applies, or none: when one refuses, those already
/// taken are given back (a refused request must not spend a citizen's budget). The ones an
/// attacker controls (their IP, their account) come before the phone's.
async fn draw_budgets(
    ctx: &Ctx<'_>,
    purpose: Purpose,
    account_id: Option<&str>,
    phone: &str,
) -> Result<(), OtpError> {
    let cfg = &ctx.config.otp;
    let mut budgets = vec![Budget {
        key: format!("otp_ip_hour:{}", ctx.ip),
        limit: cfg.max_per_ip_per_hour,
        window: HOUR,
        spent: OtpError::IpCap,
    }];
    if let Some(account) = account_id.filter(|_| purpose.knows_account()) {
        budgets.push(Budget {
            key: format!("otp_account_hour:{account}"),
            limit: cfg.max_per_account_per_hour,
            window: HOUR,
            spent: OtpError::AccountCap,
        });
    }
    budgets.push(Budget {
        key: format!("otp_hour:{}:{}", purpose.name(), random::sha256_hex(phone)),
        limit: purpose.phone_budget(cfg),
        window: HOUR,
        spent: OtpError::HourlyCap,
    });
    budgets.push(Budget {
        key: "sms_minute".into(),
        limit: cfg.max_sms_per_minute,
        window: MINUTE,
        spent: OtpError::Busy,
    });
    let mut taken: Vec<String> = Vec::new();
    for budget in budgets {
        let attempt = ctx
            .store
            .take_attempt(&budget.key, budget.limit, budget.window)
            .await;
        match attempt {
            Ok(Attempt::Allowed { .. }) => taken.push(budget.key),
            Ok(Attempt::Refused) => {
                give_back(ctx.store, &taken).await;
                if matches!(budget.spent, OtpError::Busy) {
                    ctx.metrics.sms_ceiling_hit();
                    tracing::warn!(
                        purpose = purpose.name(),
                        "the SMS ceiling (otp.max_sms_per_minute) refused a send"
                    );
                }
                return Err(budget.spent);
            }
            Err(e) => {
                give_back(ctx.store, &taken).await;
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Best effort: a budget that cannot be given back stays spent until its window ends.
async fn give_back(store: &dyn EphemeralStore, keys: &[String]) {
    for key in keys {
        if let Err(e) = store.give_back(key).await {
            tracing::warn!(error = %e, "giving back an SMS budget failed");
        }
    }
}

/// The counter of wrong codes in a row for the challenge's purpose and subject.
fn wrong_key(purpose: Purpose, subject: &str) -> String {
    format!("otp_wrong:{}:{subject}", purpose.name())
}

/// Who a run of wrong codes is counted against: the account where the person is known to be
/// it, else the phone (hashed).
fn wrong_subject(challenge: &OtpChallenge) -> String {
    match (&challenge.account_id, challenge.purpose.knows_account()) {
        (Some(account), true) => account.clone(),
        _ => random::sha256_hex(&challenge.phone),
    }
}

/// Ends the run of wrong codes of an account for `purpose` (a password reset or change
/// clears the login's).
pub async fn clear_wrong(
    store: &dyn EphemeralStore,
    purpose: Purpose,
    account_id: &str,
) -> Result<(), EphemeralError> {
    store.delete(&wrong_key(purpose, account_id)).await
}

/// Checks `input` against the challenge. Succeeds once. The try is counted before the code is
/// compared, both for this code and for the run of wrong codes across codes.
pub async fn verify(ctx: &Ctx<'_>, challenge: &OtpChallenge, input: &str) -> Result<(), OtpError> {
    let cfg = &ctx.config.otp;
    if ctx.clock.unix() >= challenge.expires_at {
        return Err(OtpError::Expired);
    }
    let ttl = challenge_ttl(cfg);
    let tries_key = format!("otp_try:{}", challenge.id);
    let Attempt::Allowed { used: tries } = ctx
        .store
        .take_attempt(&tries_key, cfg.max_attempts, ttl)
        .await?
    else {
        return Err(OtpError::Exhausted);
    };
    let run_key = wrong_key(challenge.purpose, &wrong_subject(challenge));
    let memory = Duration::from_secs(cfg.wrong_memory_seconds.max(1) as u64);
    let hours = (cfg.wrong_memory_seconds + 3599) / 3600;
    let Attempt::Allowed { used: in_a_row } = ctx
        .store
        .take_attempt(&run_key, cfg.max_wrong_per_account, memory)
        .await?
    else {
        return Err(OtpError::TooManyWrong { hours });
    };
    let matches = random::constant_time_eq(
        hash(&challenge.id, input.trim()).as_bytes(),
        challenge.code_hash.as_bytes(),
    );
    if !matches {
        let e = if in_a_row >= cfg.max_wrong_per_account {
            OtpError::TooManyWrong { hours }
        } else if tries >= cfg.max_attempts {
            OtpError::Exhausted
        } else {
            OtpError::Wrong {
                attempts_left: cfg.max_attempts - tries,
            }
        };
        record_wrong(ctx, challenge, &e).await;
        return Err(e);
    }
    // A right code ends the run of wrong ones.
    ctx.store.delete(&run_key).await?;
    // Single use: the first successful verification wins, even across nodes.
    if !ctx
        .store
        .put_if_absent(&format!("otp_used:{}", challenge.id), b"1", ttl)
        .await?
    {
        return Err(OtpError::Exhausted);
    }
    Ok(())
}

/// Checks a typed code: six digits, then the challenge (single use, tries counted).
pub async fn check(
    ctx: &Ctx<'_>,
    challenge: &OtpChallenge,
    input: Option<&str>,
) -> Result<(), OtpError> {
    let input = input.unwrap_or_default().trim();
    if input.len() != 6 || !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OtpError::Format);
    }
    verify(ctx, challenge, input).await
}

/// Counts a wrong code and audits it (once: a login's are audited as `login.failed`).
async fn record_wrong(ctx: &Ctx<'_>, challenge: &OtpChallenge, e: &OtpError) {
    let purpose = challenge.purpose;
    ctx.metrics.otp_wrong(purpose.name());
    match purpose {
        // `flow::login` audits every refusal of a login's steps, this one included.
        Purpose::Login => return,
        Purpose::Registration | Purpose::Recovery | Purpose::Profile => {}
    }
    let detail = json!({ "purpose": purpose.name(), "reason": e.reason() });
    let mut event = Event::new("otp.wrong").ip(Some(&ctx.ip)).detail(detail);
    if let Some(account) = &challenge.account_id {
        event = event.account(account);
    }
    if let Err(e) = ctx.audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
    }
}

/// The one OTP step: a code on its way to a phone, and whether it has been entered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtpStep {
    pub challenge: OtpChallenge,
    /// No code satisfies it and no SMS goes out (recovery for details that match no account).
    decoy: bool,
    /// The right code was entered.
    pub verified: bool,
}

impl OtpStep {
    /// Sends a first code to `phone` (E.164) for `purpose`, for `account_id` when the flow
    /// knows it.
    pub async fn send(
        ctx: &Ctx<'_>,
        purpose: Purpose,
        account_id: Option<&str>,
        phone: &str,
    ) -> Result<Self, OtpError> {
        Ok(Self {
            challenge: send(ctx, purpose, account_id, phone).await?,
            decoy: false,
            verified: false,
        })
    }

    /// A step that looks like [`OtpStep::send`] and can never succeed (see [`decoy`]).
    pub async fn decoy(ctx: &Ctx<'_>, purpose: Purpose, phone: &str) -> Result<Self, OtpError> {
        Ok(Self {
            challenge: decoy(ctx, purpose, phone).await?,
            decoy: true,
            verified: false,
        })
    }

    /// Checks a typed code: six digits, then the challenge (single use, tries counted).
    pub async fn check(&mut self, ctx: &Ctx<'_>, input: Option<&str>) -> Result<(), OtpError> {
        check(ctx, &self.challenge, input).await?;
        self.verified = true;
        Ok(())
    }

    /// "Gửi lại OTP": a new code to the same phone once the cooldown has passed.
    pub async fn resend(&mut self, ctx: &Ctx<'_>) -> Result<(), OtpError> {
        let phone = self.challenge.phone.clone();
        self.send_to(ctx, &phone).await
    }

    /// "Chọn phương thức xác thực khác": a new code to another phone (the caller checks the
    /// phone belongs to the account). The resend cooldown applies, and a code is replaced once:
    /// requests sent together from one page all hold the same code, and only one of them sends.
    pub async fn send_to(&mut self, ctx: &Ctx<'_>, phone: &str) -> Result<(), OtpError> {
        let cooldown = ctx.config.otp.resend_cooldown_seconds;
        let wait_seconds = self.challenge.resend_at - ctx.clock.unix();
        if wait_seconds > 0 {
            return Err(OtpError::Cooldown { wait_seconds });
        }
        let replaced = format!("otp_resent:{}", self.challenge.id);
        let ttl = challenge_ttl(&ctx.config.otp);
        if !ctx.store.put_if_absent(&replaced, b"1", ttl).await? {
            return Err(OtpError::Cooldown {
                wait_seconds: cooldown.max(1),
            });
        }
        let (purpose, account) = (self.challenge.purpose, self.challenge.account_id.clone());
        let next = if self.decoy {
            decoy(ctx, purpose, phone).await
        } else {
            send(ctx, purpose, account.as_deref(), phone).await
        };
        match next {
            Ok(challenge) => {
                self.challenge = challenge;
                self.verified = false;
                Ok(())
            }
            Err(e) => {
                // Nothing was replaced: the same code may ask again (after the hour, say).
                ctx.store.delete(&replaced).await?;
                Err(e)
            }
        }
    }

    /// The phone, masked for display (`082****088`).
    pub fn masked_phone(&self) -> String {
        PhoneNumber::parse(&self.challenge.phone)
            .map(|p| p.masked())
            .unwrap_or_default()
    }

    /// Seconds until a resend is allowed (0: now).
    pub fn resend_in(&self, now: i64) -> i64 {
        (self.challenge.resend_at - now).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::testing::{Harness, Yielding};

    const PHONE: &str = "+84823628899";
    const OTHER: &str = "+84912345678";

    /// A code other than `code`.
    fn wrong(code: &str) -> &'static str {
        if code == "000000" { "000001" } else { "000000" }
    }

    /// The one OTP step, as every flow uses it: send, wrong codes, resend after the cooldown,
    /// another phone, expiry, single use.
    #[tokio::test]
    async fn the_otp_step() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let mut step = OtpStep::send(&ctx, Purpose::Registration, None, PHONE)
            .await
            .unwrap();
        assert_eq!(step.masked_phone(), "082****899");
        assert_eq!(step.resend_in(h.clock.unix()), 60);
        let first = h.last_code(PHONE);

        assert!(matches!(
            step.check(&ctx, Some("12a")).await,
            Err(OtpError::Format)
        ));
        assert!(matches!(
            step.check(&ctx, Some(wrong(&first))).await,
            Err(OtpError::Wrong { attempts_left: 4 })
        ));
        assert!(matches!(
            step.resend(&ctx).await,
            Err(OtpError::Cooldown { .. })
        ));
        h.advance(61);
        step.resend(&ctx).await.unwrap();
        let second = h.last_code(PHONE);
        if second != first {
            assert!(
                step.check(&ctx, Some(&first)).await.is_err(),
                "the old code is dead"
            );
        }
        assert!(matches!(
            step.send_to(&ctx, OTHER).await,
            Err(OtpError::Cooldown { .. })
        ));
        h.advance(61);
        step.send_to(&ctx, OTHER).await.unwrap();
        assert_eq!(step.masked_phone(), "091****678");
        let code = h.last_code(OTHER);
        step.check(&ctx, Some(&format!(" {code} "))).await.unwrap();
        assert!(step.verified);
        assert!(step.check(&ctx, Some(&code)).await.is_err(), "single use");

        let mut late = OtpStep::send(&ctx, Purpose::Registration, None, OTHER)
            .await
            .unwrap();
        let code = h.last_code(OTHER);
        h.advance(ctx.config.otp.ttl_seconds as u64);
        assert!(matches!(
            late.check(&ctx, Some(&code)).await,
            Err(OtpError::Expired)
        ));
        assert!(!late.verified);
    }

    #[tokio::test]
    async fn five_wrong_codes_kill_a_challenge() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let mut step = OtpStep::send(&ctx, Purpose::Registration, None, PHONE)
            .await
            .unwrap();
        let code = h.last_code(PHONE);
        for _ in 0..4 {
            assert!(matches!(
                step.check(&ctx, Some(wrong(&code))).await,
                Err(OtpError::Wrong { .. })
            ));
        }
        assert!(matches!(
            step.check(&ctx, Some(wrong(&code))).await,
            Err(OtpError::Exhausted)
        ));
        assert!(matches!(
            step.check(&ctx, Some(&code)).await,
            Err(OtpError::Exhausted)
        ));
    }

    /// Item 1 of issue 7: the tries were read, compared, then counted, so guesses sent together
    /// were all compared (on a store that answers over the network, like the `Yielding` one
    /// here): fifty guesses with the right code last let the right code in. Each try is now
    /// taken before the comparison, so only the first `max_attempts` are compared.
    #[tokio::test]
    async fn fifty_parallel_guesses_are_compared_five_times_at_most() {
        let h = Harness::new().await;
        let slow = Yielding(&h.store);
        let ctx = Ctx {
            store: &slow,
            ..h.ctx()
        };
        let challenge = send(&ctx, Purpose::Login, Some("acct"), PHONE)
            .await
            .unwrap();
        let code = h.last_code(PHONE);
        let mut guesses = vec![wrong(&code); 49];
        guesses.push(&code);
        // join_all polls up to 30 futures in order each time; two groups of 25 keep the order
        // of arrival fixed (the right code last) without a multi-threaded race.
        let groups = guesses.chunks(25).map(|group| {
            futures::future::join_all(group.iter().map(|g| verify(&ctx, &challenge, g)))
        });
        let answers: Vec<_> = futures::future::join_all(groups)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert!(
            answers.iter().all(Result::is_err),
            "the right code came too late"
        );
        let compared = answers
            .iter()
            .filter(|a| matches!(a, Err(OtpError::Wrong { .. })))
            .count();
        assert_eq!(
            compared, 4,
            "four wrong answers, then the code is exhausted"
        );
        assert!(
            h.metrics
                .render()
                .contains("xacthuc_otp_wrong_total{purpose=\"login\"} 5")
        );
        assert!(matches!(
            verify(&ctx, &challenge, &code).await,
            Err(OtpError::Exhausted)
        ));
    }

    #[tokio::test]
    async fn a_decoy_sends_nothing_accepts_nothing_and_draws_like_a_real_code() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let mut step = OtpStep::decoy(&ctx, Purpose::Recovery, PHONE)
            .await
            .unwrap();
        assert_eq!(h.sms_count(), 0);
        for code in ["000000", "123456", "999999"] {
            assert!(step.check(&ctx, Some(code)).await.is_err());
        }
        h.advance(61);
        step.resend(&ctx).await.unwrap();
        assert_eq!(h.sms_count(), 0, "a decoy's resend is a decoy too");
        OtpStep::send(&ctx, Purpose::Recovery, Some("acct"), PHONE)
            .await
            .unwrap();
        assert!(
            matches!(
                OtpStep::send(&ctx, Purpose::Recovery, Some("acct"), PHONE).await,
                Err(OtpError::HourlyCap)
            ),
            "2 decoys + 1 code fill the recovery budget of 3 (issue 7, item 3: a budget per \
             purpose, so this one no longer counts the login's codes)"
        );
    }

    /// Item 3 of issue 7: one budget per phone for every purpose let anyone stop a citizen's
    /// login by adding the citizen's phone in their own profile.
    #[tokio::test]
    async fn each_purpose_has_its_own_budget_per_phone() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        for n in 0..3 {
            let account = format!("stranger{n}");
            OtpStep::send(&ctx, Purpose::Profile, Some(&account), PHONE)
                .await
                .unwrap();
        }
        assert!(matches!(
            OtpStep::send(&ctx, Purpose::Profile, Some("stranger3"), PHONE).await,
            Err(OtpError::HourlyCap)
        ));
        for _ in 0..5 {
            OtpStep::send(&ctx, Purpose::Login, Some("citizen"), PHONE)
                .await
                .expect("the citizen's login still gets its codes");
        }
        assert!(matches!(
            OtpStep::send(&ctx, Purpose::Login, Some("citizen"), PHONE).await,
            Err(OtpError::HourlyCap)
        ));
        h.advance(3601);
        OtpStep::send(&ctx, Purpose::Profile, Some("stranger3"), PHONE)
            .await
            .expect("a new hour");
    }

    #[tokio::test]
    async fn sends_are_capped_per_account_and_per_ip_and_a_refused_send_spends_nothing() {
        let mut h = Harness::new().await;
        h.config.otp.max_per_account_per_hour = 2;
        h.config.otp.max_per_ip_per_hour = 4;
        let phones = ["+84823628801", "+84823628802", "+84823628803"];
        let ctx = h.ctx();
        for phone in &phones[..2] {
            OtpStep::send(&ctx, Purpose::Login, Some("a"), phone)
                .await
                .unwrap();
        }
        assert!(
            matches!(
                OtpStep::send(&ctx, Purpose::Login, Some("a"), phones[2]).await,
                Err(OtpError::AccountCap)
            ),
            "whatever the phone"
        );
        // A registration knows no account: only the IP (and the phone) limit it.
        for phone in &phones[..2] {
            OtpStep::send(&ctx, Purpose::Registration, None, phone)
                .await
                .unwrap();
        }
        let refused = OtpStep::send(&ctx, Purpose::Registration, None, phones[2]).await;
        assert!(matches!(refused, Err(OtpError::IpCap)));
        assert_eq!(refused.unwrap_err().kind(), RefusalKind::Limited);
        // The refused sends spent neither the account's budget nor the phone's.
        let elsewhere = Ctx {
            ip: "198.51.100.7".into(),
            ..h.ctx()
        };
        for _ in 0..3 {
            OtpStep::send(&elsewhere, Purpose::Registration, None, phones[2])
                .await
                .expect("the phone's registration budget is whole");
        }
        assert_eq!(h.sms_count(), 7);
    }

    #[tokio::test]
    async fn the_sms_ceiling_answers_busy_and_counts_each_refusal() {
        let mut h = Harness::new().await;
        h.config.otp.max_sms_per_minute = 2;
        let ctx = h.ctx();
        OtpStep::send(&ctx, Purpose::Registration, None, PHONE)
            .await
            .unwrap();
        OtpStep::decoy(&ctx, Purpose::Recovery, OTHER)
            .await
            .expect("a decoy draws from the ceiling too");
        for _ in 0..2 {
            let e = OtpStep::send(&ctx, Purpose::Login, Some("a"), OTHER)
                .await
                .unwrap_err();
            assert!(matches!(e, OtpError::Busy));
            assert_eq!(
                (e.kind(), e.message().key),
                (RefusalKind::Limited, "err_sms_busy")
            );
        }
        let metrics = h.metrics.render();
        assert!(
            metrics.contains("xacthuc_sms_ceiling_hits_total 2"),
            "{metrics}"
        );
        assert!(metrics.contains("xacthuc_sms_sent_total{purpose=\"registration\"} 1"));
        h.advance(61);
        OtpStep::send(&ctx, Purpose::Login, Some("a"), OTHER)
            .await
            .expect("a new minute");
    }

    /// Item 4 of issue 7: five wrong tries per code and five codes an hour gave ~25 guesses an
    /// hour, forever. Wrong codes in a row are now capped per account across codes.
    #[tokio::test]
    async fn wrong_codes_in_a_row_are_capped_per_account_across_codes() {
        let mut h = Harness::new().await;
        h.config.otp.max_wrong_per_account = 7;
        h.config.otp.per_phone_per_hour.login = 100;
        let ctx = h.ctx();
        let login = |account: &'static str| send(&ctx, Purpose::Login, Some(account), PHONE);

        // A right code ends a run.
        let c = login("a").await.unwrap();
        let code = h.last_code(PHONE);
        for _ in 0..4 {
            verify(&ctx, &c, wrong(&code)).await.unwrap_err();
        }
        let c = login("a").await.unwrap();
        verify(&ctx, &c, &h.last_code(PHONE)).await.unwrap();

        let c = login("a").await.unwrap();
        let code = h.last_code(PHONE);
        for _ in 0..5 {
            assert!(matches!(
                verify(&ctx, &c, wrong(&code)).await,
                Err(OtpError::Wrong { .. } | OtpError::Exhausted)
            ));
        }
        let c = login("a").await.unwrap();
        let code = h.last_code(PHONE);
        assert!(matches!(
            verify(&ctx, &c, wrong(&code)).await,
            Err(OtpError::Wrong { .. })
        ));
        assert!(
            matches!(
                verify(&ctx, &c, wrong(&code)).await,
                Err(OtpError::TooManyWrong { hours: 24 })
            ),
            "the 7th wrong code in a row"
        );
        let c = login("a").await.unwrap();
        assert!(
            matches!(
                verify(&ctx, &c, &h.last_code(PHONE)).await,
                Err(OtpError::TooManyWrong { .. })
            ),
            "even a right code, on a fresh challenge"
        );
        let other = login("b").await.unwrap();
        verify(&ctx, &other, &h.last_code(PHONE))
            .await
            .expect("another account is not affected");

        h.advance(ctx.config.otp.wrong_memory_seconds as u64);
        let c = login("a").await.unwrap();
        verify(&ctx, &c, &h.last_code(PHONE))
            .await
            .expect("the run is forgotten after wrong_memory_seconds");
    }

    #[tokio::test]
    async fn a_password_reset_ends_the_run_of_wrong_login_codes() {
        let mut h = Harness::new().await;
        h.config.otp.max_wrong_per_account = 2;
        let ctx = h.ctx();
        let c = send(&ctx, Purpose::Login, Some("a"), PHONE).await.unwrap();
        let code = h.last_code(PHONE);
        verify(&ctx, &c, wrong(&code)).await.unwrap_err();
        verify(&ctx, &c, wrong(&code)).await.unwrap_err();
        assert!(matches!(
            verify(&ctx, &c, &code).await,
            Err(OtpError::TooManyWrong { .. })
        ));
        clear_wrong(&h.store, Purpose::Login, "a").await.unwrap();
        verify(&ctx, &c, &code).await.unwrap();
    }

    #[tokio::test]
    async fn every_wrong_code_is_counted_and_audited_once() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let c = send(&ctx, Purpose::Profile, Some("acct"), PHONE)
            .await
            .unwrap();
        verify(&ctx, &c, wrong(&h.last_code(PHONE)))
            .await
            .unwrap_err();
        let c = send(&ctx, Purpose::Login, Some("acct"), OTHER)
            .await
            .unwrap();
        verify(&ctx, &c, wrong(&h.last_code(OTHER)))
            .await
            .unwrap_err();

        let metrics = h.metrics.render();
        assert!(metrics.contains("xacthuc_otp_wrong_total{purpose=\"profile\"} 1"));
        assert!(metrics.contains("xacthuc_otp_wrong_total{purpose=\"login\"} 1"));
        let events = h.db.audit_events(10).await.unwrap();
        let wrong: Vec<_> = events.iter().filter(|e| e.kind == "otp.wrong").collect();
        assert_eq!(
            wrong.len(),
            1,
            "a login's wrong code is audited as login.failed"
        );
        assert_eq!(wrong[0].detail["purpose"], "profile");
        assert_eq!(wrong[0].detail["reason"], "otp_wrong");
        assert_eq!(wrong[0].account_id.as_deref(), Some("acct"));
        assert_eq!(wrong[0].ip.as_deref(), Some("192.0.2.1"));
    }

    /// Two tabs pressing "Gửi lại OTP" together hold the same code: one resend, one SMS.
    #[tokio::test]
    async fn a_code_is_resent_once_however_many_ask_together() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let step = OtpStep::send(&ctx, Purpose::Registration, None, PHONE)
            .await
            .unwrap();
        h.advance(61);
        let mut copies = [step.clone(), step.clone(), step.clone(), step];
        let resends = copies.iter_mut().map(|s| s.resend(&ctx));
        let answers = futures::future::join_all(resends).await;
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1);
        assert_eq!(h.sms_count(), 2);
    }
}
