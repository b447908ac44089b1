//! Audit events (append-only).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Set};

use super::entities::audit_event;
use super::{Database, StoreError};

/// Writes an audit row on `conn`: the database, or the transaction of the change it records,
/// so that the change and its audit row commit together or not at all.
pub(super) async fn insert(conn: &impl ConnectionTrait, e: &AuditRecord) -> Result<(), StoreError> {
    audit_event::ActiveModel {
        at: Set(e.at),
        kind: Set(e.kind.clone()),
        account_id: Set(e.account_id.clone()),
        actor_id: Set(e.actor_id.clone()),
        client_id: Set(e.client_id.clone()),
        ip: Set(e.ip.clone()),
        detail: Set(e.detail.to_string()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

impl Database {
    pub async fn insert_audit_event(&self, e: &AuditRecord) -> Result<(), StoreError> {
        insert(&self.conn, e).await
    }

    /// Newest first.
    pub async fn audit_events(&self, limit: u64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(audit_event::Entity::find()
            .order_by_desc(audit_event::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|e| AuditRecord {
                at: e.at,
                kind: e.kind,
                account_id: e.account_id,
                actor_id: e.actor_id,
                client_id: e.client_id,
                ip: e.ip,
                detail: serde_json::from_str(&e.detail).unwrap_or_default(),
            })
            .collect())
    }
}

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub account_id: Option<String>,
    /// The account that did it, when not `account_id` itself (an officer, an admin).
    pub actor_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}
