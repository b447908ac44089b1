//! SSO sessions: made at login, kept in the ephemeral store (so any node can read them). The
//! browser holds a 256-bit secret in a cookie; the store key is its SHA-256, and the `sid` that
//! tokens carry is a separate public value, so no token can be replayed as a session cookie.

use serde::{Deserialize, Serialize};

use crate::domain::Ial;

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
