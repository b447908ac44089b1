//! Our token-signing keys in the admin area (no axum): the list with each key's state, a
//! rotation (a new key per algorithm, signing after a delay) and a retirement. Each change is
//! written with its audit row (`admin.signing_key.rotated`, `admin.signing_key.retired`,
//! before and after), then this node's key ring is reloaded and every other node told
//! (`App::changed`).
//!
//! A retired key leaves the JWKS at once and the tokens it signed stop verifying (here and at
//! every relying party that refreshes its JWKS): the console says so before it is done. The
//! key that signs now cannot be retired; rotate first, and retire it once the new key signs.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Actor, change_event};
use crate::app::App;
use crate::keys::{KeyError, KeySummary};
use crate::message::{FieldErrors, Message};
use crate::stamps::Shared;
use crate::store::KeyRetirement;

/// Longest rotation delay accepted: 90 days.
pub const MAX_DELAY_SECONDS: i64 = 90 * 86_400;

/// A key as the console and the API show it (no key material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    /// `pending`, `active`, `superseded_published`, `superseded` or `retired`.
    pub state: String,
    /// Whether the key is in the JWKS now.
    pub published: bool,
}

impl KeyView {
    fn of(k: &KeySummary) -> Self {
        Self {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            created_at: k.created_at,
            activates_at: k.activates_at,
            retired_at: k.retired_at,
            state: k.state.as_str().to_string(),
            published: k.state.published(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyAdminError {
    #[error("invalid fields")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("already retired")]
    AlreadyRetired,
    /// The key signs now.
    #[error("the active key")]
    Active,
    #[error(transparent)]
    Keys(#[from] KeyError),
}

impl From<crate::store::StoreError> for KeyAdminError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Keys(KeyError::Store(e))
    }
}

impl KeyAdminError {
    /// The message of a conflict (409).
    pub fn conflict_message(&self) -> Option<Message> {
        match self {
            Self::AlreadyRetired => Some(Message::new("admin_trust_key_already_retired")),
            Self::Active => Some(Message::new("admin_trust_key_active")),
            _ => None,
        }
    }
}

pub async fn list(app: &App) -> Result<Vec<KeyView>, KeyAdminError> {
    Ok(app
        .keys
        .summaries()
        .await?
        .iter()
        .map(KeyView::of)
        .collect())
}

/// The rotation delay as submitted: empty means the configuration's
/// (`keys.rotation_delay_seconds`).
pub fn validate_delay(raw: Option<&str>, default: i64) -> Result<i64, FieldErrors> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Ok(default);
    }
    let delay = raw
        .parse::<i64>()
        .ok()
        .filter(|d| (0..=MAX_DELAY_SECONDS).contains(d));
    delay.ok_or_else(|| {
        FieldErrors::from([(
            "delay_seconds",
            Message::new("admin_trust_key_delay_invalid").with("max", MAX_DELAY_SECONDS),
        )])
    })
}

/// A new key per algorithm, signing after `delay_seconds`; returns the new keys.
pub async fn rotate(
    app: &App,
    actor: &Actor,
    ip: &str,
    delay_seconds: i64,
) -> Result<Vec<KeyView>, KeyAdminError> {
    if !(0..=MAX_DELAY_SECONDS).contains(&delay_seconds) {
        return Err(KeyAdminError::Invalid(FieldErrors::from([(
            "delay_seconds",
            Message::new("admin_trust_key_delay_invalid").with("max", MAX_DELAY_SECONDS),
        )])));
    }
    let before = list(app).await?;
    let actor_id = actor.audit_id();
    let kids = app
        .keys
        .rotate_recorded(chrono::Duration::seconds(delay_seconds), |kids, at| {
            app.audit.row(
                change_event(
                    "admin.signing_key.rotated",
                    &actor_id,
                    actor.via(),
                    json!({ "keys": before.iter().map(KeyView::json).collect::<Vec<_>>() }),
                    json!({ "new_keys": kids, "activates_at": at, "delay_seconds": delay_seconds }),
                )
                .ip(Some(ip)),
            )
        })
        .await?;
    app.changed(Shared::SigningKeys).await;
    let after = list(app).await?;
    Ok(after
        .into_iter()
        .filter(|k| kids.contains(&k.kid))
        .collect())
}

/// Retires `kid` (never the key that signs now); returns it as it is after.
pub async fn retire(
    app: &App,
    actor: &Actor,
    ip: &str,
    kid: &str,
) -> Result<KeyView, KeyAdminError> {
    let keys = list(app).await?;
    let before = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(KeyAdminError::NotFound)?;
    let now = app.clock.now();
    let after = KeyView {
        retired_at: Some(now),
        state: "retired".into(),
        published: false,
        ..before.clone()
    };
    let actor_id = actor.audit_id();
    let row = app.audit.row(
        change_event(
            "admin.signing_key.retired",
            &actor_id,
            actor.via(),
            before.json(),
            after.json(),
        )
        .ip(Some(ip)),
    );
    match app.db.retire_signing_key(kid, now, &row).await? {
        KeyRetirement::Retired => {
            crate::audit::Audit::log(&row);
            app.changed(Shared::SigningKeys).await;
            Ok(after)
        }
        KeyRetirement::NotFound => Err(KeyAdminError::NotFound),
        KeyRetirement::AlreadyRetired => Err(KeyAdminError::AlreadyRetired),
        KeyRetirement::Active => Err(KeyAdminError::Active),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_is_the_configured_one_or_a_whole_number_of_seconds_in_range() {
        assert_eq!(validate_delay(None, 86_400), Ok(86_400));
        assert_eq!(validate_delay(Some("  "), 60), Ok(60));
        assert_eq!(validate_delay(Some("0"), 60), Ok(0));
        for bad in ["-1", "abc", "1.5", "7776001"] {
            let errors = validate_delay(Some(bad), 60).unwrap_err();
            assert_eq!(
                errors["delay_seconds"].key, "admin_trust_key_delay_invalid",
                "{bad}"
            );
        }
    }
}
