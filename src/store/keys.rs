//! Signing keys (private keys encrypted under the KEK).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};

use super::entities::signing_key;
use super::{Database, StoreError, map_conflict};

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
        signing_key::ActiveModel {
            kid: Set(k.kid.clone()),
            alg: Set(k.alg.clone()),
            private_key: Set(k.encrypted_private_key.clone()),
            public_jwk: Set(k.public_jwk.clone()),
            created_at: Set(k.created_at),
            activates_at: Set(k.activates_at),
            retired_at: Set(k.retired_at),
        }
        .insert(&self.conn)
        .await
        .map_err(map_conflict)?;
        Ok(())
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
