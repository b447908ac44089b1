//! SSO sessions: made at login, kept in the ephemeral store (so any node can read them). The
//! browser holds a 256-bit secret in a cookie; the store key is its SHA-256, and the `sid` that
//! tokens carry is a separate public value, so no token can be replayed as a session cookie.

use serde::{Deserialize, Serialize};

use crate::domain::Ial;
use crate::store::ephemeral::{EphemeralError, EphemeralStore};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoSession {
    /// SHA-256 of the cookie secret: the store key.
    pub handle: String,
    /// Public session id (the `sid` claim; back-channel logout).
    pub sid: String,
    pub account_id: String,
    /// The level this session was made with (the account's level at login).
    pub ial: Ial,
    /// RFC 8176 methods of this login.
    pub amr: Vec<String>,
    /// Whether the login was phishing resistant (a passkey), for clients that require it.
    #[serde(default)]
    pub phishing_resistant: bool,
    /// Unix seconds.
    pub auth_time: i64,
    pub expires_at: i64,
    /// Clients that received tokens in this session (back-channel logout targets).
    pub clients: Vec<String>,
}

pub fn session_key(handle: &str) -> String {
    format!("sso:{handle}")
}

/// Store key of an account's last "end all sessions" (password reset or change).
pub fn not_before_key(account_id: &str) -> String {
    format!("sessions_not_before:{account_id}")
}

/// When the account last ended all its sessions (Unix seconds), if it did.
pub async fn not_before(
    store: &dyn EphemeralStore,
    account_id: &str,
) -> Result<Option<i64>, EphemeralError> {
    Ok(store
        .get(&not_before_key(account_id))
        .await?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(i64::from_be_bytes))
}

/// The session stored under `handle`, if it is live at `now`: stored, not expired, and begun
/// no earlier than its account's last "end all sessions".
pub async fn live(
    store: &dyn EphemeralStore,
    handle: &str,
    now: i64,
) -> Result<Option<SsoSession>, EphemeralError> {
    let Some(session) = store
        .get(&session_key(handle))
        .await?
        .and_then(|b| serde_json::from_slice::<SsoSession>(&b).ok())
        .filter(|s| s.expires_at > now)
    else {
        return Ok(None);
    };
    Ok(match not_before(store, &session.account_id).await? {
        Some(t) if session.auth_time < t => None,
        _ => Some(session),
    })
}
