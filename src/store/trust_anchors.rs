//! Uploaded trust anchors (`trust_anchors`, migration 11). Adding and retiring each write
//! their audit row in the same transaction. A retirement is a compare-and-set (`retired_at IS
//! NULL` in the UPDATE's WHERE), so of two admins retiring the same anchor one does it and
//! the other is told it already happened.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::audit::{self, AuditRecord};
use super::entities::trust_anchor;
use super::{Database, StoreError, map_conflict};
use crate::domain::TrustSet;

/// An anchor to add (the certificate already checked by `pki::anchor`).
#[derive(Debug, Clone)]
pub struct NewTrustAnchor {
    pub id: String,
    pub trust_set: TrustSet,
    pub subject: String,
    pub sha256: String,
    pub pem: String,
    pub not_after: DateTime<Utc>,
    pub added_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTrustAnchor {
    pub id: String,
    pub trust_set: TrustSet,
    pub subject: String,
    pub sha256: String,
    pub pem: String,
    pub not_after: DateTime<Utc>,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<String>,
}

/// What a retirement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorRetirement {
    Retired(StoredTrustAnchor),
    NotFound,
    /// Someone retired it first: nothing written.
    AlreadyRetired,
}

fn parse_set(s: &str) -> Result<TrustSet, StoreError> {
    TrustSet::ALL
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("trust set {s}")))
}

fn from_row(m: trust_anchor::Model) -> Result<StoredTrustAnchor, StoreError> {
    Ok(StoredTrustAnchor {
        trust_set: parse_set(&m.trust_set)?,
        id: m.id,
        subject: m.subject,
        sha256: m.sha256,
        pem: m.pem,
        not_after: m.not_after,
        added_by: m.added_by,
        added_at: m.added_at,
        retired_at: m.retired_at,
        retired_by: m.retired_by,
    })
}

impl Database {
    /// Every uploaded anchor, retired ones too, oldest first.
    pub async fn trust_anchors(&self) -> Result<Vec<StoredTrustAnchor>, StoreError> {
        trust_anchor::Entity::find()
            .order_by_asc(trust_anchor::Column::AddedAt)
            .order_by_asc(trust_anchor::Column::Id)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// The anchors in force: not retired.
    pub async fn active_trust_anchors(&self) -> Result<Vec<StoredTrustAnchor>, StoreError> {
        trust_anchor::Entity::find()
            .filter(trust_anchor::Column::RetiredAt.is_null())
            .all(&self.conn)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    pub async fn find_trust_anchor(
        &self,
        id: &str,
    ) -> Result<Option<StoredTrustAnchor>, StoreError> {
        trust_anchor::Entity::find_by_id(id.to_string())
            .one(&self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    /// Adds an anchor with its audit row. The same certificate active in the same set is
    /// `StoreError::Conflict` (the partial unique index), nothing written.
    pub async fn insert_trust_anchor(
        &self,
        new: &NewTrustAnchor,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<StoredTrustAnchor, StoreError> {
        let txn = self.begin_write().await?;
        let row = trust_anchor::ActiveModel {
            id: Set(new.id.clone()),
            trust_set: Set(new.trust_set.as_str().to_string()),
            subject: Set(new.subject.clone()),
            sha256: Set(new.sha256.clone()),
            pem: Set(new.pem.clone()),
            not_after: Set(new.not_after),
            added_by: Set(new.added_by.clone()),
            added_at: Set(now),
            retired_at: Set(None),
            retired_by: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(map_conflict)?;
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        from_row(row)
    }

    /// Retires an anchor that is still active, with its audit row.
    pub async fn retire_trust_anchor(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<AnchorRetirement, StoreError> {
        let txn = self.begin_write().await?;
        let done = trust_anchor::Entity::update_many()
            .col_expr(trust_anchor::Column::RetiredAt, Expr::value(now))
            .col_expr(trust_anchor::Column::RetiredBy, Expr::value(by))
            .filter(trust_anchor::Column::Id.eq(id))
            .filter(trust_anchor::Column::RetiredAt.is_null())
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            let exists = trust_anchor::Entity::find_by_id(id.to_string())
                .one(&txn)
                .await?
                .is_some();
            txn.rollback().await?;
            return Ok(if exists {
                AnchorRetirement::AlreadyRetired
            } else {
                AnchorRetirement::NotFound
            });
        }
        audit::insert(&txn, audit).await?;
        let row = trust_anchor::Entity::find_by_id(id.to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::Corrupt("retired anchor vanished".into()))?;
        txn.commit().await?;
        Ok(AnchorRetirement::Retired(from_row(row)?))
    }
}
