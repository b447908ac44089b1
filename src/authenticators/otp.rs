//! SMS one-time passwords (amr `sms`): 6 digits from a CSPRNG, stored hashed, single use,
//! short lived, a bounded number of wrong tries per challenge, a resend cooldown and an hourly
//! cap per phone (SMS costs money). Every counter lives in the ephemeral store, so the limits
//! hold across nodes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::connectors::ConnectorError;
use crate::random;
use crate::store::ephemeral::EphemeralError;

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
    #[error("the SMS gateway failed: {0}")]
    Sms(#[from] ConnectorError),
    #[error(transparent)]
    Store(#[from] EphemeralError),
}

fn hash(challenge_id: &str, code: &str) -> String {
    random::sha256_hex(&format!("{challenge_id}:{code}"))
}

/// Sends a fresh code to `phone` (E.164). `text` renders the SMS from the code and lifetime
/// in minutes (the words live in the theme). The hourly cap per phone bounds what any number of
/// flows can send to one number.
pub async fn send(
    app: &App,
    phone: &str,
    text: impl Fn(&str, i64) -> String,
) -> Result<OtpChallenge, OtpError> {
    let cfg = &app.config.otp;
    let now = app.clock.unix();
    count_send(app, phone).await?;
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    let id = random::token();
    let challenge = OtpChallenge {
        code_hash: hash(&id, &code),
        id,
        phone: phone.to_string(),
        expires_at: now + cfg.ttl_seconds,
        resend_at: now + cfg.resend_cooldown_seconds,
    };
    app.connectors
        .sms
        .send(phone, &text(&code, (cfg.ttl_seconds / 60).max(1)))
        .await?;
    Ok(challenge)
}

/// A challenge that no code satisfies and for which no SMS is sent: password recovery shows
/// the same OTP screen whether or not the details matched an account. It counts against the
/// phone's hourly cap like a real send, so the cap reveals nothing either.
pub async fn decoy(app: &App, phone: &str) -> Result<OtpChallenge, OtpError> {
    count_send(app, phone).await?;
    let now = app.clock.unix();
    Ok(OtpChallenge {
        id: random::token(),
        phone: phone.to_string(),
        code_hash: random::token(),
        expires_at: now + app.config.otp.ttl_seconds,
        resend_at: now + app.config.otp.resend_cooldown_seconds,
    })
}

/// Counts a send against the phone's hourly cap (the phone is hashed in the key).
async fn count_send(app: &App, phone: &str) -> Result<(), OtpError> {
    let key = format!("otp_hour:{}", random::sha256_hex(phone));
    let sent = app.store.increment(&key, Duration::from_secs(3600)).await?;
    if sent > app.config.otp.max_per_phone_per_hour {
        return Err(OtpError::HourlyCap);
    }
    Ok(())
}

/// "Gửi lại OTP": a new code to the same phone, once the previous one's cooldown has passed.
pub async fn resend(
    app: &App,
    previous: &OtpChallenge,
    text: impl Fn(&str, i64) -> String,
) -> Result<OtpChallenge, OtpError> {
    let wait_seconds = previous.resend_at - app.clock.unix();
    if wait_seconds > 0 {
        return Err(OtpError::Cooldown { wait_seconds });
    }
    send(app, &previous.phone, text).await
}

/// Checks `input` against the challenge. Succeeds once; wrong tries are counted across nodes.
pub async fn verify(app: &App, challenge: &OtpChallenge, input: &str) -> Result<(), OtpError> {
    let max = app.config.otp.max_attempts;
    let failures_key = format!("otp_fail:{}", challenge.id);
    if app.store.count(&failures_key).await? >= max {
        return Err(OtpError::Exhausted);
    }
    if app.clock.unix() >= challenge.expires_at {
        return Err(OtpError::Expired);
    }
    let input = input.trim();
    let matches = random::constant_time_eq(
        hash(&challenge.id, input).as_bytes(),
        challenge.code_hash.as_bytes(),
    );
    if !matches {
        let ttl = Duration::from_secs(app.config.otp.ttl_seconds.max(1) as u64 + 60);
        let failures = app.store.increment(&failures_key, ttl).await?;
        return if failures >= max {
            Err(OtpError::Exhausted)
        } else {
            Err(OtpError::Wrong {
                attempts_left: max - failures,
            })
        };
    }
    // Single use: the first successful verification wins, even across nodes.
    let ttl = Duration::from_secs(app.config.otp.ttl_seconds.max(1) as u64 + 60);
    if !app
        .store
        .put_if_absent(&format!("otp_used:{}", challenge.id), b"1", ttl)
        .await?
    {
        return Err(OtpError::Exhausted);
    }
    Ok(())
}
