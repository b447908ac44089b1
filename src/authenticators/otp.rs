//! SMS one-time passwords (amr `sms`): 6 digits from a CSPRNG, stored hashed, single use,
//! short lived, a bounded number of wrong tries per challenge, a resend cooldown and an hourly
//! cap per phone (SMS costs money). Every counter lives in the ephemeral store, so the limits
//! hold across nodes.
//!
//! [`OtpStep`] is the one OTP step (send, check, "Gửi lại OTP", another phone) that the login,
//! registration, recovery and the profile's phone verification all use.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::connectors::ConnectorError;
use crate::domain::PhoneNumber;
use crate::message::Message;
use crate::random;
use crate::store::ephemeral::EphemeralError;

/// A code sent to a phone, as remembered by the flow that asked for it (the code itself is
/// only in the SMS; here is its salted hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtpChallenge {
    pub id: String,
    /// Where the code went: a phone in E.164 (SMS), or an email address (the profile's email
    /// verification, which sends it by mail).
    pub phone: String,
    code_hash: String,
    pub expires_at: i64,
    /// When a resend is allowed (Unix seconds).
    pub resend_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("wait {wait_seconds} s before asking for another code")]
    Cooldown { wait_seconds: i64 },
    #[error("too many codes sent to this phone in the last hour")]
    HourlyCap,
    #[error("the code has expired")]
    Expired,
    #[error("wrong code")]
    Wrong { attempts_left: u64 },
    #[error("too many wrong codes: ask for a new one")]
    Exhausted,
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
            Self::Expired => Message::new("err_otp_expired"),
            Self::Wrong { attempts_left } => {
                Message::new("err_otp_wrong").with("left", attempts_left)
            }
            Self::Exhausted => Message::new("err_otp_exhausted"),
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
            Self::Expired => "otp_expired",
            Self::Wrong { .. } => "otp_wrong",
            Self::Exhausted => "otp_exhausted",
            Self::Format => "otp_format",
            Self::Sms(_) => "sms_unavailable",
            Self::Store(_) => "store_unavailable",
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

/// Sends a fresh code to `phone` (E.164), in the words of `ctx.sms_template`. The hourly cap
/// per phone bounds what any number of flows can send to one number.
pub async fn send(ctx: &Ctx<'_>, phone: &str) -> Result<OtpChallenge, OtpError> {
    count_send(ctx, phone).await?;
    let (challenge, code) = challenge(ctx, phone);
    let text = sms_text(&ctx.sms_template, &code, ttl_minutes(ctx));
    ctx.connectors.sms.send(phone, &text).await?;
    Ok(challenge)
}

/// A fresh code for `to` and its challenge, for the caller to deliver (an SMS in [`send`], an
/// email for the profile's address). [`verify`] checks it with the same rules.
pub fn challenge(ctx: &Ctx<'_>, to: &str) -> (OtpChallenge, String) {
    let cfg = &ctx.config.otp;
    let now = ctx.clock.unix();
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    let id = random::token();
    let challenge = OtpChallenge {
        code_hash: hash(&id, &code),
        id,
        phone: to.to_string(),
        expires_at: now + cfg.ttl_seconds,
        resend_at: now + cfg.resend_cooldown_seconds,
    };
    (challenge, code)
}

/// A code's lifetime in whole minutes, as messages tell it (at least 1).
pub fn ttl_minutes(ctx: &Ctx<'_>) -> i64 {
    (ctx.config.otp.ttl_seconds / 60).max(1)
}

/// A challenge that no code satisfies and for which no SMS is sent: password recovery shows
/// the same OTP screen whether or not the details matched an account. It counts against the
/// phone's hourly cap like a real send, so the cap reveals nothing either.
pub async fn decoy(ctx: &Ctx<'_>, phone: &str) -> Result<OtpChallenge, OtpError> {
    count_send(ctx, phone).await?;
    let now = ctx.clock.unix();
    Ok(OtpChallenge {
        id: random::token(),
        phone: phone.to_string(),
        code_hash: random::token(),
        expires_at: now + ctx.config.otp.ttl_seconds,
        resend_at: now + ctx.config.otp.resend_cooldown_seconds,
    })
}

/// Counts a send against the phone's hourly cap (the phone is hashed in the key).
async fn count_send(ctx: &Ctx<'_>, phone: &str) -> Result<(), OtpError> {
    let key = format!("otp_hour:{}", random::sha256_hex(phone));
    let sent = ctx.store.increment(&key, Duration::from_secs(3600)).await?;
    if sent > ctx.config.otp.max_per_phone_per_hour {
        return Err(OtpError::HourlyCap);
    }
    Ok(())
}

/// Checks `input` against the challenge. Succeeds once; wrong tries are counted across nodes.
pub async fn verify(ctx: &Ctx<'_>, challenge: &OtpChallenge, input: &str) -> Result<(), OtpError> {
    let max = ctx.config.otp.max_attempts;
    let failures_key = format!("otp_fail:{}", challenge.id);
    if ctx.store.count(&failures_key).await? >= max {
        return Err(OtpError::Exhausted);
    }
    if ctx.clock.unix() >= challenge.expires_at {
        return Err(OtpError::Expired);
    }
    let input = input.trim();
    let matches = random::constant_time_eq(
        hash(&challenge.id, input).as_bytes(),
        challenge.code_hash.as_bytes(),
    );
    let ttl = Duration::from_secs(ctx.config.otp.ttl_seconds.max(1) as u64 + 60);
    if !matches {
        let failures = ctx.store.increment(&failures_key, ttl).await?;
        return if failures >= max {
            Err(OtpError::Exhausted)
        } else {
            Err(OtpError::Wrong {
                attempts_left: max - failures,
            })
        };
    }
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
    /// Sends a first code to `phone` (E.164).
    pub async fn send(ctx: &Ctx<'_>, phone: &str) -> Result<Self, OtpError> {
        Ok(Self {
            challenge: send(ctx, phone).await?,
            decoy: false,
            verified: false,
        })
    }

    /// A step that looks like [`OtpStep::send`] and can never succeed (see [`decoy`]).
    pub async fn decoy(ctx: &Ctx<'_>, phone: &str) -> Result<Self, OtpError> {
        Ok(Self {
            challenge: decoy(ctx, phone).await?,
            decoy: true,
            verified: false,
        })
    }

    /// Checks a typed code (see [`check`]).
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
    /// phone belongs to the account). The resend cooldown applies.
    pub async fn send_to(&mut self, ctx: &Ctx<'_>, phone: &str) -> Result<(), OtpError> {
        let wait_seconds = self.challenge.resend_at - ctx.clock.unix();
        if wait_seconds > 0 {
            return Err(OtpError::Cooldown { wait_seconds });
        }
        self.challenge = if self.decoy {
            decoy(ctx, phone).await?
        } else {
            send(ctx, phone).await?
        };
        self.verified = false;
        Ok(())
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
    use crate::authenticators::testing::Harness;

    const PHONE: &str = "+84823628899";
    const OTHER: &str = "+84912345678";

    /// The one OTP step, as every flow uses it: send, wrong codes, resend after the cooldown,
    /// another phone, expiry, single use.
    #[tokio::test]
    async fn the_otp_step() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let mut step = OtpStep::send(&ctx, PHONE).await.unwrap();
        assert_eq!(step.masked_phone(), "082****899");
        assert_eq!(step.resend_in(h.clock.unix()), 60);
        let first = h.last_code(PHONE);
        let wrong = if first == "000000" {
            "000001"
        } else {
            "000000"
        };

        assert!(matches!(
            step.check(&ctx, Some("12a")).await,
            Err(OtpError::Format)
        ));
        assert!(matches!(
            step.check(&ctx, Some(wrong)).await,
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

        let mut late = OtpStep::send(&ctx, OTHER).await.unwrap();
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
        let mut step = OtpStep::send(&ctx, PHONE).await.unwrap();
        let code = h.last_code(PHONE);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..4 {
            assert!(matches!(
                step.check(&ctx, Some(wrong)).await,
                Err(OtpError::Wrong { .. })
            ));
        }
        assert!(matches!(
            step.check(&ctx, Some(wrong)).await,
            Err(OtpError::Exhausted)
        ));
        assert!(matches!(
            step.check(&ctx, Some(&code)).await,
            Err(OtpError::Exhausted)
        ));
    }

    #[tokio::test]
    async fn a_decoy_sends_nothing_accepts_nothing_and_counts_against_the_cap() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let mut step = OtpStep::decoy(&ctx, PHONE).await.unwrap();
        assert_eq!(h.sms_count(), 0);
        for code in ["000000", "123456", "999999"] {
            assert!(step.check(&ctx, Some(code)).await.is_err());
        }
        h.advance(61);
        step.resend(&ctx).await.unwrap();
        assert_eq!(h.sms_count(), 0, "a decoy's resend is a decoy too");
        for _ in 0..3 {
            OtpStep::send(&ctx, PHONE).await.unwrap();
        }
        assert!(
            matches!(OtpStep::send(&ctx, PHONE).await, Err(OtpError::HourlyCap)),
            "2 decoys + 3 codes fill the hourly cap of 5"
        );
    }
}
