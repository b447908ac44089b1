//! Credentials: what accounts prove themselves with, of every kind (`domain::CredentialKind`):
//! the password hash, passkeys, and next certificates and federated links.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::audit::{self, AuditRecord};
use super::entities::credential;
use super::{Database, StoreError, map_conflict};
use crate::domain::{CredentialKind, CredentialSummary};

pub const CREDENTIAL_PASSWORD: &str = "password";

/// A credential with its verifier material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    pub id: String,
    pub account_id: String,
    pub kind: CredentialKind,
    pub lookup: Option<String>,
    /// The verifier material (see the `credentials.secret` column).
    pub data: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl StoredCredential {
    pub fn summary(&self) -> CredentialSummary {
        CredentialSummary {
            id: self.id.clone(),
            kind: self.kind,
            label: self.label.clone(),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

/// A credential to add to an account.
#[derive(Debug, Clone)]
pub struct CredentialRow<'a> {
    pub account_id: &'a str,
    pub kind: CredentialKind,
    pub lookup: Option<&'a str>,
    pub data: &'a str,
    pub label: Option<&'a str>,
}

fn from_row(m: credential::Model) -> Result<StoredCredential, StoreError> {
    Ok(StoredCredential {
        kind: CredentialKind::parse(&m.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("credential kind {}", m.kind)))?,
        id: m.id,
        account_id: m.account_id,
        lookup: m.lookup,
        data: m.secret,
        label: m.label,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
    })
}

impl Database {
    pub async fn password_hash(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        Ok(credential::Entity::find()
            .filter(credential::Column::AccountId.eq(account_id))
            .filter(credential::Column::Kind.eq(CREDENTIAL_PASSWORD))
            .one(&self.conn)
            .await?
            .map(|c| c.secret))
    }

    /// Replaces the account's password hash, with its audit row when given (a change or a
    /// reset; a re-hash of the same password has none).
    pub async fn set_password(
        &self,
        account_id: &str,
        hash: &str,
        now: DateTime<Utc>,
        audit: Option<&AuditRecord>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        credential::Entity::delete_many()
            .filter(credential::Column::AccountId.eq(account_id))
            .filter(credential::Column::Kind.eq(CREDENTIAL_PASSWORD))
            .exec(&txn)
            .await?;
        password_row(account_id, hash, now).insert(&txn).await?;
        if let Some(record) = audit {
            audit::insert(&txn, record).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Adds a credential; another credential of the same kind with the same lookup is a
    /// [`StoreError::Conflict`]. With `audit`, its row is written in the same transaction,
    /// its detail completed with the new credential's `kind`, `id` and `label`.
    pub async fn add_credential(
        &self,
        c: &CredentialRow<'_>,
        now: DateTime<Utc>,
        audit: Option<&AuditRecord>,
    ) -> Result<StoredCredential, StoreError> {
        let txn = self.begin_write().await?;
        let row = credential::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            account_id: Set(c.account_id.to_string()),
            kind: Set(c.kind.as_str().to_string()),
            secret: Set(c.data.to_string()),
            label: Set(c.label.map(str::to_string)),
            lookup: Set(c.lookup.map(str::to_string)),
            last_used_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(map_conflict)?;
        let stored = from_row(row)?;
        if let Some(record) = audit {
            audit::insert(&txn, &naming(record, &stored)).await?;
        }
        txn.commit().await?;
        Ok(stored)
    }

    /// Every credential of an account, of every kind, without its verifier material (the
    /// admin area's view: never a hash, a secret or a public key), oldest first. Rows of a
    /// kind this release does not know are skipped.
    pub async fn credential_summaries(
        &self,
        account_id: &str,
    ) -> Result<Vec<CredentialSummary>, StoreError> {
        Ok(credential::Entity::find()
            .filter(credential::Column::AccountId.eq(account_id))
            .order_by_asc(credential::Column::CreatedAt)
            .all(&self.conn)
            .await?
            .into_iter()
            .filter_map(|m| from_row(m).ok())
            .map(|c| c.summary())
            .collect())
    }

    /// An account's credentials of one kind, oldest first.
    pub async fn credentials_of(
        &self,
        account_id: &str,
        kind: CredentialKind,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        credential::Entity::find()
            .filter(credential::Column::AccountId.eq(account_id))
            .filter(credential::Column::Kind.eq(kind.as_str()))
            .order_by_asc(credential::Column::CreatedAt)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// The credential of `kind` presented as `lookup` (e.g. a WebAuthn credential id).
    pub async fn find_credential(
        &self,
        kind: CredentialKind,
        lookup: &str,
    ) -> Result<Option<StoredCredential>, StoreError> {
        credential::Entity::find()
            .filter(credential::Column::Kind.eq(kind.as_str()))
            .filter(credential::Column::Lookup.eq(lookup))
            .one(&self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    /// Replaces a credential's verifier material (e.g. a passkey's sign counter).
    pub async fn update_credential_data(
        &self,
        id: &str,
        data: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        credential::Entity::update_many()
            .col_expr(credential::Column::Secret, Expr::value(data))
            .col_expr(credential::Column::UpdatedAt, Expr::value(now))
            .filter(credential::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Records that a credential was just used to log in.
    pub async fn credential_used(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        credential::Entity::update_many()
            .col_expr(credential::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(credential::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Removes one of the account's credentials of a kind the user manages; returns it if it
    /// existed. Never the password (it has its own page). With `audit`, as for
    /// [`Database::add_credential`].
    pub async fn remove_credential(
        &self,
        account_id: &str,
        id: &str,
        audit: Option<&AuditRecord>,
    ) -> Result<Option<StoredCredential>, StoreError> {
        let managed: Vec<&str> = CredentialKind::ALL
            .into_iter()
            .filter(|k| k.user_managed())
            .map(CredentialKind::as_str)
            .collect();
        let txn = self.begin_write().await?;
        let found = credential::Entity::find_by_id(id.to_string())
            .filter(credential::Column::AccountId.eq(account_id))
            .filter(credential::Column::Kind.is_in(managed))
            .one(&txn)
            .await?;
        let Some(row) = found else {
            txn.rollback().await?;
            return Ok(None);
        };
        credential::Entity::delete_by_id(row.id.clone())
            .exec(&txn)
            .await?;
        let removed = from_row(row)?;
        if let Some(record) = audit {
            audit::insert(&txn, &naming(record, &removed)).await?;
        }
        txn.commit().await?;
        Ok(Some(removed))
    }
}

/// `record` with the credential it is about in its detail (`kind`, `id`, `label`).
fn naming(record: &AuditRecord, c: &StoredCredential) -> AuditRecord {
    let mut record = record.clone();
    if !record.detail.is_object() {
        record.detail = serde_json::json!({});
    }
    record.detail["kind"] = c.kind.as_str().into();
    record.detail["id"] = c.id.clone().into();
    record.detail["label"] = c.label.clone().into();
    record
}

/// A new password credential row for `account_id` holding `hash`.
pub(super) fn password_row(
    account_id: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> credential::ActiveModel {
    credential::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(account_id.to_string()),
        kind: Set(CREDENTIAL_PASSWORD.to_string()),
        secret: Set(hash.to_string()),
        label: Set(None),
        lookup: Set(None),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}
