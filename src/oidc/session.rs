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
    /// What an upstream identity provider said of this login in its own terms (`id`, `name`,
    /// `level`), for the ID tokens' namespaced claim [`UPSTREAM_CLAIM`]; `None` otherwise.
    #[serde(default)]
    pub upstream: Option<serde_json::Value>,
    /// How to end the upstream's own session when this one ends (its `end_session_endpoint`
    /// was discovered); `None` for other logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_logout: Option<UpstreamLogout>,
}

/// An upstream's RP-initiated logout for a session made through it (never in tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamLogout {
    /// The upstream's configured id (its `client_id` for us is in the configuration).
    pub upstream: String,
    pub end_session_endpoint: String,
    /// The upstream's ID token of the login, for `id_token_hint` (absent if it was too large).
    pub id_token_hint: Option<String>,
}

/// The namespaced claim of ID tokens of a login at an upstream (VNeID): `{"id", "name",
/// "level"}` — the upstream's own level beside our `acr`.
pub const UPSTREAM_CLAIM: &str = "urn:xacthuc:upstream";

pub fn session_key(handle: &str) -> String {
    format!("sso:{handle}")
}

/// Store key of an account's last "end all sessions" (password reset or change).
pub fn not_before_key(account_id: &str) -> String {
    format!("sessions_not_before:{account_id}")
}

/// An account's last "end all sessions" (a password reset or change): sessions begun before
/// `at` have ended, and what they issued with them, except the session `kept_sid` (the browser
/// that changed the password keeps its session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotBefore {
    /// Unix seconds.
    pub at: i64,
    pub kept_sid: Option<String>,
}

impl NotBefore {
    /// Stored as 8 bytes (`at`, big-endian), then the kept session's `sid`, if any; a marker
    /// of 8 bytes alone (older nodes write those) keeps no session.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.at.to_be_bytes().to_vec();
        bytes.extend_from_slice(self.kept_sid.as_deref().unwrap_or_default().as_bytes());
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let at = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let kept = std::str::from_utf8(&bytes[8..]).ok()?;
        Some(Self {
            at,
            kept_sid: (!kept.is_empty()).then(|| kept.to_string()),
        })
    }

    /// Whether it ended the session `sid` that began at `auth_time`.
    pub fn ends(&self, sid: &str, auth_time: i64) -> bool {
        auth_time < self.at && self.kept_sid.as_deref() != Some(sid)
    }
}

/// The session stored under `handle`, if it is live at `now`: stored, not expired, and not
/// ended by its account's last "end all sessions".
pub async fn live(
    store: &dyn EphemeralStore,
    handle: &str,
    now: i64,
) -> Result<Option<SsoSession>, EphemeralError> {
    let Some(session) = unexpired(store.get(&session_key(handle)).await?.as_deref(), now) else {
        return Ok(None);
    };
    let not_before = store.get(&not_before_key(&session.account_id)).await?;
    Ok(unless_ended(session, not_before.as_deref()))
}

/// [`live`] in one read of the store, for a caller that knows whose session it must be (an
/// authorization code names its account): a session of another account is not live.
pub async fn live_of(
    store: &dyn EphemeralStore,
    handle: &str,
    account_id: &str,
    now: i64,
) -> Result<Option<SsoSession>, EphemeralError> {
    let keys = [session_key(handle), not_before_key(account_id)];
    let values = store.get_many(&keys).await?;
    let [stored, not_before] = values.as_slice() else {
        return Err(EphemeralError::Unavailable(
            "the store answered for another number of keys".into(),
        ));
    };
    Ok(unexpired(stored.as_deref(), now)
        .filter(|s| s.account_id == account_id)
        .and_then(|s| unless_ended(s, not_before.as_deref())))
}

/// The stored session, unless it is unreadable or expired at `now`.
fn unexpired(stored: Option<&[u8]>, now: i64) -> Option<SsoSession> {
    stored
        .and_then(|b| serde_json::from_slice::<SsoSession>(b).ok())
        .filter(|s| s.expires_at > now)
}

/// `session`, unless its account's "end all sessions" marker ended it.
fn unless_ended(session: SsoSession, not_before: Option<&[u8]>) -> Option<SsoSession> {
    let ended = not_before
        .and_then(NotBefore::from_bytes)
        .is_some_and(|n| n.ends(&session.sid, session.auth_time));
    (!ended).then_some(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_ends_earlier_sessions_but_the_kept_one() {
        let reset = NotBefore {
            at: 100,
            kept_sid: None,
        };
        assert_eq!(
            NotBefore::from_bytes(&reset.to_bytes()),
            Some(reset.clone())
        );
        assert_eq!(
            NotBefore::from_bytes(&100i64.to_be_bytes()),
            Some(reset.clone())
        );
        assert!(reset.ends("a", 99));
        assert!(!reset.ends("a", 100), "a login in the very second survives");
        let change = NotBefore {
            at: 100,
            kept_sid: Some("kept".into()),
        };
        assert_eq!(
            NotBefore::from_bytes(&change.to_bytes()),
            Some(change.clone())
        );
        assert!(change.ends("other", 50));
        assert!(!change.ends("kept", 50));
        assert_eq!(NotBefore::from_bytes(b"short"), None);
    }
}
