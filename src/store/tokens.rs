//! Refresh tokens: grants, their rotation and revocation.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, JoinType, QueryFilter,
    QuerySelect, Set, Statement, UpdateMany, Value,
};

use super::accounts::account_from_row;
use super::entities::{account, refresh_token};
use super::{Database, StoreError, from_json, map_conflict, to_json};
use crate::domain::{Account, AccountStatus};

/// The columns of `refresh_tokens` as the raw statements below insert them.
macro_rules! refresh_columns {
    () => {
        "id, family_id, token_hash, client_id, account_id, sid, scope, acr, amr, auth_time, \
         claims, expires_at, created_at, used_at, revoked_at"
    };
}

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

    /// The refresh token with this hash, and its account as it is now, in one query.
    pub async fn find_refresh_token_and_account(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshGrant, Option<Account>)>, StoreError> {
        let owner = refresh_token::Entity::belongs_to(account::Entity)
            .from(refresh_token::Column::AccountId)
            .to(account::Column::Id)
            .into();
        let Some((token, account)) = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .join(JoinType::LeftJoin, owner)
            .select_also(account::Entity)
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((
            refresh_from_row(token)?,
            account.map(account_from_row).transpose()?,
        )))
    }

    /// Replaces the live refresh token `old_hash` by `new` in one atomic step: marks it used
    /// (a conditional `UPDATE`, so of two racing uses exactly one wins) and inserts `new`.
    /// Returns false, changing nothing, when the token is no longer live (used or revoked
    /// meanwhile). On PostgreSQL that is one statement (a data-modifying `WITH`), one round
    /// trip instead of four; SQLite, in process, runs it as a transaction.
    pub async fn replace_refresh_token(
        &self,
        old_hash: &str,
        now: DateTime<Utc>,
        new: &RefreshGrant,
    ) -> Result<bool, StoreError> {
        if self.conn.get_database_backend() == DbBackend::Postgres {
            return self
                .replace_refresh_token_in_one_statement(old_hash, now, new)
                .await;
        }
        let txn = self.begin_write().await?;
        let claimed = claim_refresh_token(old_hash, now).exec(&txn).await?;
        if claimed.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        refresh_row(new).insert(&txn).await.map_err(map_conflict)?;
        txn.commit().await?;
        Ok(true)
    }

    async fn replace_refresh_token_in_one_statement(
        &self,
        old_hash: &str,
        now: DateTime<Utc>,
        new: &RefreshGrant,
    ) -> Result<bool, StoreError> {
        const SQL: &str = concat!(
            "WITH claimed AS (
                UPDATE refresh_tokens SET used_at = $1
                WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL
                RETURNING id
            )
            INSERT INTO refresh_tokens (",
            refresh_columns!(),
            ") SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, NULL
            FROM claimed"
        );
        let mut values = vec![now.into(), old_hash.into()];
        values.extend(new_refresh_values(new));
        let inserted = self
            .conn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                SQL,
                values,
            ))
            .await
            .map_err(map_conflict)?;
        Ok(inserted.rows_affected() == 1)
    }

    /// The account `account_id` as it is, and, if it is active, `refresh` stored for it in the
    /// same step: a code exchange needs both. On PostgreSQL that is one statement (one round
    /// trip instead of two); on SQLite, in process, a read then an insert. `refresh` is stored
    /// exactly when the account returned is active.
    pub async fn find_account_storing_refresh(
        &self,
        account_id: &str,
        refresh: Option<&RefreshGrant>,
    ) -> Result<Option<Account>, StoreError> {
        let Some(refresh) = refresh else {
            return self.find_account(account_id).await;
        };
        if self.conn.get_database_backend() != DbBackend::Postgres
            || uuid::Uuid::parse_str(account_id).is_err()
        {
            let account = self.find_account(account_id).await?;
            if account
                .as_ref()
                .is_some_and(|a| a.status == AccountStatus::Active)
            {
                self.insert_refresh_token(refresh).await?;
            }
            return Ok(account);
        }
        const SQL: &str = concat!(
            "WITH found AS (SELECT * FROM accounts WHERE id = $1),
            stored AS (
                INSERT INTO refresh_tokens (",
            refresh_columns!(),
            ") SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, NULL
                FROM found WHERE found.status = $2
                RETURNING 1
            )
            SELECT * FROM found"
        );
        let mut values = vec![account_id.into(), AccountStatus::Active.as_str().into()];
        values.extend(new_refresh_values(refresh));
        account::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                SQL,
                values,
            ))
            .one(&self.conn)
            .await
            .map_err(map_conflict)?
            .map(account_from_row)
            .transpose()
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

/// The values of a new refresh token's row in the order of `refresh_columns!`, `id` to
/// `created_at` (the raw statements above).
fn new_refresh_values(new: &RefreshGrant) -> [Value; 13] {
    [
        new.id.as_str().into(),
        new.family_id.as_str().into(),
        new.token_hash.as_str().into(),
        new.client_id.as_str().into(),
        new.account_id.as_str().into(),
        new.sid.clone().into(),
        new.scope.as_str().into(),
        new.acr.as_str().into(),
        to_json(&new.amr).into(),
        new.auth_time.into(),
        new.claims.clone().into(),
        new.expires_at.into(),
        new.created_at.into(),
    ]
}

/// Marks the live refresh token `token_hash` used (SQLite's half of
/// [`Database::replace_refresh_token`]).
fn claim_refresh_token(token_hash: &str, now: DateTime<Utc>) -> UpdateMany<refresh_token::Entity> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
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
