//! Signing keys (private keys encrypted under the KEK). A rotation inserts its keys and its
//! audit row in one transaction; a retirement is refused for the key of its algorithm that
//! signs now, judged inside the transaction with the algorithm's rows locked (PostgreSQL), so
//! two retirements at once cannot leave an algorithm without a signing key.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::audit::{self, AuditRecord};
use super::entities::signing_key;
use super::{Database, StoreError, map_conflict};

/// What a retirement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRetirement {
    Retired,
    NotFound,
    AlreadyRetired,
    /// The key signs now (the latest of its algorithm whose activation has come): refused.
    Active,
}

impl Database {
    pub async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(signing_key::Entity::find()
            .order_by_asc(signing_key::Column::ActivatesAt)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|k| StoredSigningKey {
                kid: k.kid,
                alg: k.alg,
                encrypted_private_key: k.private_key,
                public_jwk: k.public_jwk,
                created_at: k.created_at,
                activates_at: k.activates_at,
                retired_at: k.retired_at,
            })
            .collect())
    }

    pub async fn insert_signing_key(&self, k: &StoredSigningKey) -> Result<(), StoreError> {
        key_row(k).insert(&self.conn).await.map_err(map_conflict)?;
        Ok(())
    }

    /// The keys of a rotation and its audit row, in one transaction.
    pub async fn insert_signing_keys(
        &self,
        keys: &[StoredSigningKey],
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        for k in keys {
            key_row(k).insert(&txn).await.map_err(map_conflict)?;
        }
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Retires `kid` at `now` with its audit row, unless it is the key of its algorithm that
    /// signs at `now` (see [`KeyRetirement`]).
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<KeyRetirement, StoreError> {
        let txn = self.begin_write().await?;
        let Some(key) = signing_key::Entity::find_by_id(kid.to_string())
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(KeyRetirement::NotFound);
        };
        if key.retired_at.is_some() {
            txn.rollback().await?;
            return Ok(KeyRetirement::AlreadyRetired);
        }
        let live = signing_key::Entity::find()
            .filter(signing_key::Column::Alg.eq(key.alg.clone()))
            .filter(signing_key::Column::RetiredAt.is_null())
            .lock_exclusive()
            .all(&txn)
            .await?;
        let signing = live
            .iter()
            .filter(|k| k.activates_at <= now)
            .max_by_key(|k| (k.activates_at, k.kid.clone()));
        if signing.is_some_and(|k| k.kid == kid) {
            txn.rollback().await?;
            return Ok(KeyRetirement::Active);
        }
        let done = signing_key::Entity::update_many()
            .col_expr(signing_key::Column::RetiredAt, Expr::value(now))
            .filter(signing_key::Column::Kid.eq(kid))
            .filter(signing_key::Column::RetiredAt.is_null())
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(KeyRetirement::AlreadyRetired);
        }
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(KeyRetirement::Retired)
    }
}

fn key_row(k: &StoredSigningKey) -> signing_key::ActiveModel {
    signing_key::ActiveModel {
        kid: Set(k.kid.clone()),
        alg: Set(k.alg.clone()),
        private_key: Set(k.encrypted_private_key.clone()),
        public_jwk: Set(k.public_jwk.clone()),
        created_at: Set(k.created_at),
        activates_at: Set(k.activates_at),
        retired_at: Set(k.retired_at),
    }
}

#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub alg: String,
    pub encrypted_private_key: String,
    pub public_jwk: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}
