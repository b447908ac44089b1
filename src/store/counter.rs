//! The counter's one-time links (`counter_links`, migration 6). Making a link writes the
//! officer's audit row in the same transaction; a reset's link is used up in the same
//! transaction as the new password and its audit row, so a link resets a password once.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::audit::{self, AuditRecord};
use super::credentials::password_row;
use super::entities::{counter_link, credential};
use super::{CREDENTIAL_PASSWORD, Database, StoreError, map_conflict};

/// What a link lets the citizen finish: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Completing an account registered at the counter.
    Registration,
    /// Choosing a new password after an assisted reset.
    Reset,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "registration" => Some(Self::Registration),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// A link as the officer made it (the token's hash, never the token).
#[derive(Debug, Clone)]
pub struct NewCounterLink {
    pub kind: LinkKind,
    pub token_sha256: String,
    pub officer_id: String,
    pub office: String,
    pub account_id: Option<String>,
    pub phone: String,
    pub id_number: Option<String>,
    pub full_name: Option<String>,
    pub birthdate: Option<NaiveDate>,
    pub email: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A stored link.
#[derive(Debug, Clone)]
pub struct CounterLink {
    pub id: String,
    pub kind: LinkKind,
    pub officer_id: String,
    pub office: String,
    pub account_id: Option<String>,
    pub phone: String,
    pub id_number: Option<String>,
    pub full_name: Option<String>,
    pub birthdate: Option<NaiveDate>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

fn from_row(m: counter_link::Model) -> Result<CounterLink, StoreError> {
    let kind = LinkKind::parse(&m.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("counter link kind {}", m.kind)))?;
    Ok(CounterLink {
        id: m.id,
        kind,
        officer_id: m.officer_id,
        office: m.office,
        account_id: m.account_id,
        phone: m.phone,
        id_number: m.id_number,
        full_name: m.full_name,
        birthdate: m.birthdate,
        email: m.email,
        created_at: m.created_at,
        expires_at: m.expires_at,
        used_at: m.used_at,
    })
}

impl Database {
    /// Stores a link with the officer's audit row (its detail gets the link's `id`), in one
    /// transaction.
    pub async fn insert_counter_link(
        &self,
        link: &NewCounterLink,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<CounterLink, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let txn = self.begin_write().await?;
        let row = counter_link::ActiveModel {
            id: Set(id.clone()),
            kind: Set(link.kind.as_str().to_string()),
            token_sha256: Set(link.token_sha256.clone()),
            officer_id: Set(link.officer_id.clone()),
            office: Set(link.office.clone()),
            account_id: Set(link.account_id.clone()),
            phone: Set(link.phone.clone()),
            id_number: Set(link.id_number.clone()),
            full_name: Set(link.full_name.clone()),
            birthdate: Set(link.birthdate),
            email: Set(link.email.clone()),
            created_at: Set(now),
            expires_at: Set(link.expires_at),
            used_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(map_conflict)?;
        let mut audit = audit.clone();
        audit.detail["link"] = serde_json::json!(id);
        audit::insert(&txn, &audit).await?;
        txn.commit().await?;
        from_row(row)
    }

    /// The link whose token hashes to `token_sha256`.
    pub async fn find_counter_link(
        &self,
        token_sha256: &str,
    ) -> Result<Option<CounterLink>, StoreError> {
        counter_link::Entity::find()
            .filter(counter_link::Column::TokenSha256.eq(token_sha256))
            .one(&self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    pub async fn find_counter_link_by_id(
        &self,
        id: &str,
    ) -> Result<Option<CounterLink>, StoreError> {
        counter_link::Entity::find_by_id(id.to_string())
            .one(&self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    /// Marks a link used, if it is still unused and unexpired at `now`; false otherwise.
    pub async fn use_counter_link(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let used = take(&txn, id, now).await?;
        txn.commit().await?;
        Ok(used)
    }

    /// Sets the account's new password with the link of its reset, in one transaction with
    /// the audit row: false (nothing written) when the link is used or expired by now.
    pub async fn reset_password_by_link(
        &self,
        link_id: &str,
        account_id: &str,
        hash: &str,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        if !take(&txn, link_id, now).await? {
            txn.rollback().await?;
            return Ok(false);
        }
        credential::Entity::delete_many()
            .filter(credential::Column::AccountId.eq(account_id))
            .filter(credential::Column::Kind.eq(CREDENTIAL_PASSWORD))
            .exec(&txn)
            .await?;
        password_row(account_id, hash, now).insert(&txn).await?;
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(true)
    }
}

/// One statement: the link becomes used only if it is unused and unexpired, so of two
/// concurrent uses exactly one succeeds.
async fn take(
    txn: &sea_orm::DatabaseTransaction,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = counter_link::Entity::update_many()
        .col_expr(counter_link::Column::UsedAt, Expr::value(now))
        .filter(counter_link::Column::Id.eq(id))
        .filter(counter_link::Column::UsedAt.is_null())
        .filter(counter_link::Column::ExpiresAt.gt(now))
        .exec(txn)
        .await?;
    Ok(res.rows_affected == 1)
}
