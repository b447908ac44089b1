//! Trust anchors in the admin area (no axum): the list of both sets (configured, sandbox and
//! uploaded anchors), an upload checked by `pki::anchor`, a retirement. Each change is written
//! with its audit row (`admin.trust_anchor.added`, `admin.trust_anchor.retired`, before and
//! after), then this node's verifier is reloaded and every other node told (`App::changed`).
//!
//! Only uploaded anchors can be retired: the configured ones change with the configuration
//! files, the sandbox's with the sandbox.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Actor, change_event};
use crate::app::App;
use crate::domain::TrustSet;
use crate::message::{FieldErrors, Message};
use crate::pki::anchor::{self, CaCertificate};
use crate::pki::{AnchorSource, FixedAnchor};
use crate::stamps::Shared;
use crate::store::{AnchorRetirement, NewTrustAnchor, StoreError, StoredTrustAnchor};

/// An anchor as the console and the API show it (and as audit rows record it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AnchorView {
    /// The uploaded anchor's id; none for a configured or sandbox anchor.
    pub id: Option<String>,
    /// `public` or `government`.
    pub trust_set: String,
    /// The certificate's subject (`CN=…,O=…,C=VN`).
    pub subject: String,
    /// Hex SHA-256 of the certificate (DER).
    pub sha256: String,
    pub not_after: DateTime<Utc>,
    /// `config`, `sandbox` or `uploaded`.
    pub source: String,
    /// Who uploaded it (an account id, or `client:<id>` for the API).
    pub added_by: Option<String>,
    pub added_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<String>,
}

impl AnchorView {
    fn fixed(a: &FixedAnchor) -> Option<Self> {
        let (subject, sha256, not_after) = anchor::describe(&a.cert)?;
        Some(Self {
            id: None,
            trust_set: a.set.as_str().to_string(),
            subject,
            sha256,
            not_after,
            source: source_name(a.source).to_string(),
            added_by: None,
            added_at: None,
            retired_at: None,
            retired_by: None,
        })
    }

    fn uploaded(a: &StoredTrustAnchor) -> Self {
        Self {
            id: Some(a.id.clone()),
            trust_set: a.trust_set.as_str().to_string(),
            subject: a.subject.clone(),
            sha256: a.sha256.clone(),
            not_after: a.not_after,
            source: source_name(AnchorSource::Uploaded).to_string(),
            added_by: Some(a.added_by.clone()),
            added_at: Some(a.added_at),
            retired_at: a.retired_at,
            retired_by: a.retired_by.clone(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn retired(&self) -> bool {
        self.retired_at.is_some()
    }
}

fn source_name(s: AnchorSource) -> &'static str {
    match s {
        AnchorSource::Config => "config",
        AnchorSource::Sandbox => "sandbox",
        AnchorSource::Uploaded => "uploaded",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("invalid fields")]
    Invalid(FieldErrors),
    /// The certificate is already an active anchor of that set.
    #[error("already trusted")]
    Duplicate,
    #[error("not found")]
    NotFound,
    /// Someone retired it first.
    #[error("already retired")]
    AlreadyRetired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TrustError {
    /// The message of a conflict (409).
    pub fn conflict_message(&self) -> Option<Message> {
        match self {
            Self::Duplicate => Some(Message::new("admin_trust_duplicate")),
            Self::AlreadyRetired => Some(Message::new("admin_trust_already_retired")),
            _ => None,
        }
    }
}

/// Both sets: the fixed anchors first, then the uploaded ones (retired ones too), oldest
/// first.
pub async fn list(app: &App) -> Result<Vec<AnchorView>, TrustError> {
    let mut out: Vec<AnchorView> = app
        .pki
        .fixed_anchors()
        .iter()
        .filter_map(AnchorView::fixed)
        .collect();
    out.extend(
        app.db
            .trust_anchors()
            .await?
            .iter()
            .map(AnchorView::uploaded),
    );
    Ok(out)
}

/// The set's name as submitted.
pub fn parse_trust_set(s: &str) -> Option<TrustSet> {
    TrustSet::ALL.into_iter().find(|t| t.as_str() == s.trim())
}

/// An upload's fields, each with its own message.
pub fn validate(
    trust_set: &str,
    pem: &str,
    now: DateTime<Utc>,
) -> Result<(TrustSet, CaCertificate), FieldErrors> {
    let mut errors = FieldErrors::new();
    let set = parse_trust_set(trust_set);
    if set.is_none() {
        errors.insert("trust_set", Message::new("admin_trust_set_invalid"));
    }
    let cert = anchor::parse_ca_certificate(pem, now)
        .map_err(|p| errors.insert("pem", Message::new(p.message_key())))
        .ok();
    match (set, cert) {
        (Some(set), Some(cert)) if errors.is_empty() => Ok((set, cert)),
        _ => Err(errors),
    }
}

/// Adds `pem` to `trust_set`, audited; every node uses it within a second.
pub async fn upload(
    app: &App,
    actor: &Actor,
    ip: &str,
    trust_set: &str,
    pem: &str,
) -> Result<AnchorView, TrustError> {
    let now = app.clock.now();
    let (set, cert) = validate(trust_set, pem, now).map_err(TrustError::Invalid)?;
    // The configuration's and the sandbox's anchors are not in the table's unique index.
    let fixed = app.pki.fixed_anchors().iter().filter(|a| a.set == set);
    if fixed
        .filter_map(AnchorView::fixed)
        .any(|a| a.sha256 == cert.sha256)
    {
        return Err(TrustError::Duplicate);
    }
    let actor_id = actor.audit_id();
    let new = NewTrustAnchor {
        id: uuid::Uuid::now_v7().to_string(),
        trust_set: set,
        subject: cert.subject,
        sha256: cert.sha256,
        pem: cert.pem,
        not_after: cert.not_after,
        added_by: actor_id.clone(),
    };
    let view = AnchorView::uploaded(&StoredTrustAnchor {
        id: new.id.clone(),
        trust_set: set,
        subject: new.subject.clone(),
        sha256: new.sha256.clone(),
        pem: String::new(),
        not_after: new.not_after,
        added_by: actor_id.clone(),
        added_at: now,
        retired_at: None,
        retired_by: None,
    });
    let row = app.audit.row(
        change_event(
            "admin.trust_anchor.added",
            &actor_id,
            actor.via(),
            Value::Null,
            view.json(),
        )
        .ip(Some(ip)),
    );
    let stored = match app.db.insert_trust_anchor(&new, now, &row).await {
        Ok(stored) => stored,
        Err(StoreError::Conflict) => return Err(TrustError::Duplicate),
        Err(e) => return Err(e.into()),
    };
    crate::audit::Audit::log(&row);
    app.changed(Shared::TrustAnchors).await;
    Ok(AnchorView::uploaded(&stored))
}

/// Retires the uploaded anchor `id`, audited; every node stops using it within a second.
pub async fn retire(
    app: &App,
    actor: &Actor,
    ip: &str,
    id: &str,
) -> Result<AnchorView, TrustError> {
    // Ids are UUIDs; anything else cannot exist (and must not reach PostgreSQL as text with
    // a NUL byte).
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(TrustError::NotFound);
    }
    let before = app
        .db
        .find_trust_anchor(id)
        .await?
        .ok_or(TrustError::NotFound)?;
    if before.retired_at.is_some() {
        return Err(TrustError::AlreadyRetired);
    }
    let now = app.clock.now();
    let actor_id = actor.audit_id();
    let after = StoredTrustAnchor {
        retired_at: Some(now),
        retired_by: Some(actor_id.clone()),
        ..before.clone()
    };
    let row = app.audit.row(
        change_event(
            "admin.trust_anchor.retired",
            &actor_id,
            actor.via(),
            AnchorView::uploaded(&before).json(),
            AnchorView::uploaded(&after).json(),
        )
        .ip(Some(ip)),
    );
    match app.db.retire_trust_anchor(id, &actor_id, now, &row).await? {
        AnchorRetirement::Retired(stored) => {
            crate::audit::Audit::log(&row);
            app.changed(Shared::TrustAnchors).await;
            Ok(AnchorView::uploaded(&stored))
        }
        AnchorRetirement::NotFound => Err(TrustError::NotFound),
        AnchorRetirement::AlreadyRetired => Err(TrustError::AlreadyRetired),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_fields_are_checked_at_once() {
        let errors = validate("private", "junk", Utc::now()).unwrap_err();
        assert_eq!(errors["trust_set"].key, "admin_trust_set_invalid");
        assert_eq!(errors["pem"].key, "admin_trust_pem_not_certificate");
        assert_eq!(parse_trust_set(" government "), Some(TrustSet::Government));
    }
}
