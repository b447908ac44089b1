//! Refresh tokens: grants, their rotation and revocation.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::entities::refresh_token;
use super::{Database, StoreError, from_json, map_conflict, to_json};

impl Database {
    pub async fn insert_refresh_token(&self, g: &RefreshGrant) -> Result<(), StoreError> {
        refresh_row(g)
            .insert(&self.conn)
            .await
            .map_err(map_conflict)?;
        Ok(())
    }

    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshGrant>, StoreError> {
        refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .one(&self.conn)
            .await?
            .map(refresh_from_row)
            .transpose()
    }

    /// Rotates a refresh token in one transaction: claims the live token (a conditional
    /// `UPDATE … RETURNING`, so of two racing uses exactly one wins), lets `next` check it and
    /// build its successor, and inserts that. When `next` refuses, nothing changes (rollback):
    /// a request that fails consumes nothing.
    pub async fn rotate_refresh_token<E>(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        next: impl AsyncFnOnce(&RefreshGrant) -> Result<RefreshGrant, E>,
    ) -> Result<Rotation<E>, StoreError> {
        let txn = self.begin_write().await?;
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec_with_returning(&txn)
            .await?;
        let Some(row) = claimed.into_iter().next() else {
            txn.rollback().await?;
            return Ok(Rotation::NotLive);
        };
        let old = refresh_from_row(row)?;
        let new = match next(&old).await {
            Ok(new) => new,
            Err(e) => {
                txn.rollback().await?;
                return Ok(Rotation::Refused(e));
            }
        };
        refresh_row(&new).insert(&txn).await.map_err(map_conflict)?;
        txn.commit().await?;
        Ok(Rotation::Rotated {
            old: Box::new(old),
            new: Box::new(new),
        })
    }

    /// Revokes every token of a grant family; returns how many were live.
    pub async fn revoke_refresh_family(
        &self,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.revoke_refresh_rows(refresh_token::Column::FamilyId, family_id, now)
            .await
    }

    /// Sets `revoked_at` on the live rows whose `column` equals `value`, twice. On PostgreSQL
    /// an UPDATE sees the rows committed when it began: a rotation that holds one of these rows
    /// makes the first UPDATE wait for its commit, but the successor it inserted is not among
    /// the rows that UPDATE sees. The second UPDATE begins after that commit and revokes the
    /// successor too. (SQLite runs one writer at a time, so there the second finds nothing.)
    async fn revoke_refresh_rows(
        &self,
        column: refresh_token::Column,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut revoked = 0;
        for _ in 0..2 {
            revoked += refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
                .filter(column.eq(value))
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&self.conn)
                .await?
                .rows_affected;
        }
        Ok(revoked)
    }

    /// Revokes the refresh tokens issued within one SSO session (logout).
    pub async fn revoke_refresh_by_sid(
        &self,
        sid: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        self.revoke_refresh_where(refresh_token::Column::Sid, sid, now)
            .await
    }

    /// Revokes every refresh token of an account (password reset); returns their families.
    pub async fn revoke_refresh_by_account(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        self.revoke_refresh_where(refresh_token::Column::AccountId, account_id, now)
            .await
    }

    /// Revokes the live refresh tokens whose `column` equals `value`; returns their families.
    async fn revoke_refresh_where(
        &self,
        column: refresh_token::Column,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let families: Vec<String> = refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::FamilyId)
            .filter(column.eq(value))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .distinct()
            .into_tuple()
            .all(&self.conn)
            .await?;
        self.revoke_refresh_rows(column, value, now).await?;
        Ok(families)
    }
}

/// The outcome of [`Database::rotate_refresh_token`].
#[derive(Debug)]
pub enum Rotation<E> {
    /// Unknown, already used, or revoked.
    NotLive,
    /// The token is live but `next` refused it; it was left untouched.
    Refused(E),
    Rotated {
        old: Box<RefreshGrant>,
        new: Box<RefreshGrant>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefreshGrant {
    pub id: String,
    pub family_id: String,
    pub token_hash: String,
    pub client_id: String,
    pub account_id: String,
    pub sid: Option<String>,
    pub scope: String,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: DateTime<Utc>,
    pub claims: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn refresh_row(g: &RefreshGrant) -> refresh_token::ActiveModel {
    refresh_token::ActiveModel {
        id: Set(g.id.clone()),
        family_id: Set(g.family_id.clone()),
        token_hash: Set(g.token_hash.clone()),
        client_id: Set(g.client_id.clone()),
        account_id: Set(g.account_id.clone()),
        sid: Set(g.sid.clone()),
        scope: Set(g.scope.clone()),
        acr: Set(g.acr.clone()),
        amr: Set(to_json(&g.amr)),
        auth_time: Set(g.auth_time),
        claims: Set(g.claims.clone()),
        expires_at: Set(g.expires_at),
        created_at: Set(g.created_at),
        used_at: Set(g.used_at),
        revoked_at: Set(g.revoked_at),
    }
}

fn refresh_from_row(m: refresh_token::Model) -> Result<RefreshGrant, StoreError> {
    Ok(RefreshGrant {
        amr: from_json(&m.amr, "amr")?,
        id: m.id,
        family_id: m.family_id,
        token_hash: m.token_hash,
        client_id: m.client_id,
        account_id: m.account_id,
        sid: m.sid,
        scope: m.scope,
        acr: m.acr,
        auth_time: m.auth_time,
        claims: m.claims,
        expires_at: m.expires_at,
        created_at: m.created_at,
        used_at: m.used_at,
        revoked_at: m.revoked_at,
    })
}
