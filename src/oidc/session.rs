//! SSO sessions: made at login, kept in the ephemeral store (so any node can read them), named
//! by an opaque 256-bit id in a cookie.

use serde::{Deserialize, Serialize};

use crate::domain::Ial;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoSession {
    pub sid: String,
    pub account_id: String,
    /// The level this session was made with (the account's level at login).
    pub ial: Ial,
    /// RFC 8176 methods of this login.
    pub amr: Vec<String>,
    /// Unix seconds.
    pub auth_time: i64,
    pub expires_at: i64,
    /// Clients that received tokens in this session (back-channel logout targets).
    pub clients: Vec<String>,
}

pub fn session_key(sid: &str) -> String {
    format!("sso:{sid}")
}
