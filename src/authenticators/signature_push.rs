//! What the two push signature methods share ("SIM ký số", `sim_signature`; "Chữ ký số cá
//! nhân", `remote_signature`): a fresh challenge, the verification code the page and the phone
//! both show, the pending prompt, polling at a bounded rate, cancelling, and the refusals.
//!
//! - **Challenge.** 32 random bytes; what is signed is their SHA-256 (the ETSI
//!   `DataToBeSigned`, the CSC hash). It lives in the step's state only and is used once: the
//!   login's flow is finished when the login completes.
//! - **Verification code.** Four digits computed from the hash as Estonia's Mobile-ID does
//!   (6 bits of the first byte, 7 bits of the last), so the code belongs to this challenge:
//!   the user checks that the phone shows the code the page shows before typing the PIN.
//! - **Polling.** The page asks every [`POLL_EVERY_MS`]; the upstream is asked at most once per
//!   [`MIN_QUERY_INTERVAL`] per transaction (a marker in the ephemeral store, so this holds
//!   across nodes and however many tabs poll). A final answer is not rate-limited away: only an
//!   "outstanding" answer sets the marker.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Ctx, Pending, Prompt, Refusal, RefusalKind};
use crate::message::Message;
use crate::oidc::params::Params;

/// How often the page polls.
pub const POLL_EVERY_MS: u32 = 2_000;
/// The upstream is asked at most this often per transaction.
pub const MIN_QUERY_INTERVAL: Duration = Duration::from_secs(1);
/// How long the user has to answer on the phone or in the app.
pub const PUSH_TTL_SECONDS: u32 = 120;

/// An outstanding push, kept in the step's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The upstream's id of the request (`MSSP_TransID`, CSC `responseID`).
    pub transaction: String,
    /// What was sent to be signed: SHA-256 of our challenge (base64).
    pub signed_data: String,
    /// Shown on the page and on the phone.
    pub display_code: String,
    /// Unix seconds: after this the push is over (the upstream also expires it).
    pub expires_at: i64,
}

impl Push {
    pub fn signed_data(&self) -> Vec<u8> {
        STANDARD.decode(&self.signed_data).unwrap_or_default()
    }

    /// The page's prompt: the code, the countdown, how often to poll.
    pub fn prompt(&self) -> Prompt {
        Prompt::Pending(Pending {
            display_code: self.display_code.clone(),
            expires_at: self.expires_at,
            poll_every_ms: POLL_EVERY_MS,
        })
    }
}

/// A fresh challenge: the data to be signed (SHA-256 of 32 random bytes) and its code.
pub fn new_challenge() -> (Vec<u8>, String) {
    let challenge = crate::random::bytes::<32>();
    let signed = Sha256::digest(challenge).to_vec();
    let code = verification_code(&signed);
    (signed, code)
}

/// Mobile-ID's verification code: the 6 high bits of the hash's first byte and the 7 low bits
/// of its last byte, as a 4-digit number (0000–8191).
pub fn verification_code(hash: &[u8]) -> String {
    let first = u16::from(hash.first().copied().unwrap_or(0) & 0xFC);
    let last = u16::from(hash.last().copied().unwrap_or(0) & 0x7F);
    format!("{:04}", (first << 5) | last)
}

/// The text the phone or the app shows with the request. Without diacritics: SIM toolkits
/// show GSM-7 text reliably, UCS-2 not always.
pub fn display_text(code: &str) -> String {
    format!("xacthuc: Dang nhap cong dich vu cong. Ma kiem tra: {code}")
}

/// A push that has just begun.
pub fn begin(transaction: String, signed_data: &[u8], code: String, now: i64) -> Push {
    Push {
        transaction,
        signed_data: STANDARD.encode(signed_data),
        display_code: code,
        expires_at: now + i64::from(PUSH_TTL_SECONDS),
    }
}

/// Whether the upstream may be asked about `push` now (see the module comment).
pub async fn may_query(ctx: &Ctx<'_>, push: &Push) -> bool {
    let key = query_key(push);
    // A store failure must not stop the user's login: ask the upstream anyway.
    !matches!(ctx.store.get(&key).await, Ok(Some(_)))
}

/// Remembers that the upstream said "outstanding" just now.
pub async fn queried(ctx: &Ctx<'_>, push: &Push) {
    let _ = ctx
        .store
        .put(&query_key(push), b"1", MIN_QUERY_INTERVAL)
        .await;
}

fn query_key(push: &Push) -> String {
    format!(
        "push_query:{}",
        crate::random::sha256_hex(&push.transaction)
    )
}

/// The page's "Hủy" button.
pub fn cancelled(input: &Params) -> bool {
    input.get("cancel").is_some()
}

/// The user cancelled on our page: the transaction is abandoned (neither ETSI TS 102 204 nor
/// the CSC API can withdraw a request; it expires unanswered).
pub fn cancel_refusal() -> Refusal {
    Refusal::new(
        RefusalKind::Invalid,
        Message::new("err_push_cancelled"),
        "cancelled",
    )
}

/// A refusal shown to the user (`key` in the theme) with a stable audit `reason`.
pub fn refusal(key: &'static str, reason: &'static str) -> Refusal {
    Refusal::new(RefusalKind::Unauthorized, Message::new(key), reason)
}

/// The push ran out of time on our side.
pub fn expired(ctx: &Ctx<'_>, push: &Push) -> bool {
    ctx.clock.unix() >= push.expires_at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_mobile_ids() {
        // First byte 0xFF → 0xFC << 5 = 8064; last byte 0xFF → 0x7F = 127.
        assert_eq!(verification_code(&[0xFF, 0x00, 0xFF]), "8191");
        assert_eq!(verification_code(&[0x00, 0x01]), "0001");
        assert_eq!(verification_code(&[0x04, 0x00]), "0128");
        let (data, code) = new_challenge();
        assert_eq!(data.len(), 32);
        assert_eq!(code.len(), 4);
        assert_eq!(verification_code(&data), code);
    }
}
