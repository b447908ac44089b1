//! Append-only audit events for every security-relevant action. Written synchronously: an
//! action whose audit record cannot be written is reported as failed, not silently kept.
//! A change to an account (its phones, email, password, credentials) writes its audit row in
//! its own database transaction ([`Audit::row`], then [`Audit::log`] once committed), so the
//! change and its record exist together or not at all.

use serde_json::Value;

use crate::clock::Clock;
use crate::store::{AuditRecord, Database, StoreError};

#[derive(Clone)]
pub struct Audit {
    db: Database,
    clock: Clock,
}

/// One event: `kind` is a stable dotted name such as `login.succeeded`.
pub struct Event<'a> {
    pub kind: &'a str,
    pub account_id: Option<&'a str>,
    /// The account that did it, when it is not `account_id` itself: the officer who
    /// registered a citizen, the admin who locked an account.
    pub actor_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: Value,
}

impl<'a> Event<'a> {
    pub fn new(kind: &'a str) -> Self {
        Self {
            kind,
            account_id: None,
            actor_id: None,
            client_id: None,
            ip: None,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn account(mut self, id: &'a str) -> Self {
        self.account_id = Some(id);
        self
    }

    pub fn actor(mut self, id: &'a str) -> Self {
        self.actor_id = Some(id);
        self
    }

    pub fn client(mut self, id: &'a str) -> Self {
        self.client_id = Some(id);
        self
    }

    pub fn ip(mut self, ip: Option<&'a str>) -> Self {
        self.ip = ip;
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

impl Audit {
    pub fn new(db: Database, clock: Clock) -> Self {
        Self { db, clock }
    }

    pub async fn record(&self, e: Event<'_>) -> Result<(), StoreError> {
        let row = self.row(e);
        self.db.insert_audit_event(&row).await?;
        Self::log(&row);
        Ok(())
    }

    /// The row of `e`, stamped now, for a change that writes it in its own transaction.
    pub fn row(&self, e: Event<'_>) -> AuditRecord {
        AuditRecord {
            at: self.clock.now(),
            kind: e.kind.to_string(),
            account_id: e.account_id.map(str::to_string),
            actor_id: e.actor_id.map(str::to_string),
            client_id: e.client_id.map(str::to_string),
            ip: e.ip.map(str::to_string),
            detail: e.detail,
        }
    }

    /// The `audit` log line of a row that was written.
    pub fn log(row: &AuditRecord) {
        tracing::info!(target: "audit", kind = row.kind, account = row.account_id, actor = row.actor_id, client = row.client_id, "audit event");
    }
}
