//! Consents: the scopes an account granted a client.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::entities::consent;
use super::{Database, StoreError};

impl Database {
    pub async fn consented_scopes(
        &self,
        account_id: &str,
        client_id: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        Ok(consent::Entity::find()
            .filter(consent::Column::AccountId.eq(account_id))
            .filter(consent::Column::ClientId.eq(client_id))
            .one(&self.conn)
            .await?
            .map(|c| c.scopes.split(' ').map(str::to_string).collect()))
    }

    pub async fn save_consent(
        &self,
        account_id: &str,
        client_id: &str,
        scopes: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        consent::Entity::delete_many()
            .filter(consent::Column::AccountId.eq(account_id))
            .filter(consent::Column::ClientId.eq(client_id))
            .exec(&txn)
            .await?;
        consent::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            account_id: Set(account_id.to_string()),
            client_id: Set(client_id.to_string()),
            scopes: Set(scopes.join(" ")),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
