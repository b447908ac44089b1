//! Audit events (append-only).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LikeExpr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

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
            .map(|e| to_record(e).1)
            .collect())
    }

    /// The admin area's audit trail: the events `q` selects, newest written first (by id, the
    /// order rows were inserted), at most `limit`, after the cursor `q.before_id`.
    pub async fn search_audit_events(
        &self,
        q: &AuditQuery,
        limit: u64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut find = audit_event::Entity::find();
        if let Some(actor) = &q.actor_id {
            find = find.filter(audit_event::Column::ActorId.eq(actor.as_str()));
        }
        if let Some(account) = &q.account_id {
            find = find.filter(audit_event::Column::AccountId.eq(account.as_str()));
        }
        match &q.kind {
            None => {}
            Some(KindFilter::Exact(kind)) => {
                find = find.filter(audit_event::Column::Kind.eq(kind.as_str()));
            }
            Some(KindFilter::Prefix(prefix)) => {
                // `_` and `%` are LIKE's wildcards: escaped, so `admin_x.` matches itself only.
                let escaped = prefix
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let pattern = LikeExpr::new(format!("{escaped}%")).escape('\\');
                find = find.filter(audit_event::Column::Kind.like(pattern));
            }
        }
        if let Some(from) = q.from {
            find = find.filter(audit_event::Column::At.gte(from));
        }
        if let Some(to) = q.to {
            find = find.filter(audit_event::Column::At.lt(to));
        }
        if let Some(before) = q.before_id {
            find = find.filter(audit_event::Column::Id.lt(before));
        }
        Ok(find
            .order_by_desc(audit_event::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|e| {
                let (id, record) = to_record(e);
                AuditRow { id, record }
            })
            .collect())
    }
}

fn to_record(e: audit_event::Model) -> (i64, AuditRecord) {
    let record = AuditRecord {
        at: e.at,
        kind: e.kind,
        account_id: e.account_id,
        actor_id: e.actor_id,
        client_id: e.client_id,
        ip: e.ip,
        detail: serde_json::from_str(&e.detail).unwrap_or_default(),
    };
    (e.id, record)
}

/// Which audit events the admin area asks for; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// `audit_events.actor_id`: an account id, or `client:<id>` for the admin API.
    pub actor_id: Option<String>,
    /// The account the event is about.
    pub account_id: Option<String>,
    pub kind: Option<KindFilter>,
    /// From this instant (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Up to this instant (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// The cursor: only events older (smaller id) than this one.
    pub before_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindFilter {
    Exact(String),
    /// Every kind starting with this (e.g. `admin.`).
    Prefix(String),
}

/// An audit event with its id (the trail's cursor).
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub record: AuditRecord,
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
