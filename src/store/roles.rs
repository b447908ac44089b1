//! Staff roles of accounts (`account_roles`, migration 5). Every grant and revocation writes
//! its audit row in its own transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::accounts::account_from_row;
use super::audit::{self, AuditRecord};
use super::entities::{account, account_role};
use super::{Database, StoreError};
use crate::domain::{Account, Role, RoleGrant};

impl Database {
    /// Gives `account_id` the role, with its audit row; false (nothing written) when the
    /// account already holds it. An unknown account is [`StoreError::Conflict`] (the foreign
    /// key).
    pub async fn grant_role(
        &self,
        account_id: &str,
        role: Role,
        office: Option<&str>,
        granted_by: Option<&str>,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let held =
            account_role::Entity::find_by_id((account_id.to_string(), role.name().to_string()))
                .one(&txn)
                .await?;
        if held.is_some() {
            txn.rollback().await?;
            return Ok(false);
        }
        account_role::ActiveModel {
            account_id: Set(account_id.to_string()),
            role: Set(role.name().to_string()),
            office: Set(office.map(str::to_string)),
            granted_by: Set(granted_by.map(str::to_string)),
            granted_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::Conflict,
            _ => super::map_conflict(e),
        })?;
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Takes the role from `account_id`, with its audit row; false (nothing written) when the
    /// account did not hold it.
    pub async fn revoke_role(
        &self,
        account_id: &str,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        delete_grant(txn, account_id, role, audit).await
    }

    /// Takes the role from `account_id` as [`Database::revoke_role`] does, except that the
    /// last `admin` grant stays: the deployment would have nobody left to grant roles in the
    /// console. The admin rows are locked first (PostgreSQL; SQLite's write transaction holds
    /// the whole database), so two admins revoking each other at once cannot both succeed.
    pub async fn revoke_role_keeping_an_admin(
        &self,
        account_id: &str,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<Revocation, StoreError> {
        let txn = self.begin_write().await?;
        if role == Role::Admin {
            let admins = account_role::Entity::find()
                .filter(account_role::Column::Role.eq(Role::Admin.name()))
                .lock_exclusive()
                .all(&txn)
                .await?;
            let holds = admins.iter().any(|g| g.account_id == account_id);
            if holds && admins.len() == 1 {
                txn.rollback().await?;
                return Ok(Revocation::LastAdmin);
            }
        }
        Ok(match delete_grant(txn, account_id, role, audit).await? {
            true => Revocation::Revoked,
            false => Revocation::NotHeld,
        })
    }

    /// The roles `account_id` holds (rows naming a role this release does not know are
    /// skipped: a newer node may have written them).
    pub async fn roles_of(&self, account_id: &str) -> Result<Vec<RoleGrant>, StoreError> {
        Ok(account_role::Entity::find()
            .filter(account_role::Column::AccountId.eq(account_id))
            .order_by_asc(account_role::Column::Role)
            .all(&self.conn)
            .await?
            .into_iter()
            .filter_map(to_grant)
            .collect())
    }

    /// The accounts holding `role`, oldest grant first.
    pub async fn holders_of(&self, role: Role) -> Result<Vec<(Account, RoleGrant)>, StoreError> {
        let grants = account_role::Entity::find()
            .filter(account_role::Column::Role.eq(role.name()))
            .order_by_asc(account_role::Column::GrantedAt)
            .all(&self.conn)
            .await?;
        let ids: Vec<String> = grants.iter().map(|g| g.account_id.clone()).collect();
        let mut accounts: std::collections::HashMap<String, Account> = account::Entity::find()
            .filter(account::Column::Id.is_in(ids))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|m| account_from_row(m).map(|a| (a.id.clone(), a)))
            .collect::<Result<_, _>>()?;
        Ok(grants
            .into_iter()
            .filter_map(|g| Some((accounts.remove(&g.account_id)?, to_grant(g)?)))
            .collect())
    }
}

/// Deletes the grant with its audit row and commits `txn`; false (rolled back, nothing
/// written) when the account did not hold the role.
async fn delete_grant(
    txn: DatabaseTransaction,
    account_id: &str,
    role: Role,
    audit: &AuditRecord,
) -> Result<bool, StoreError> {
    let gone = account_role::Entity::delete_many()
        .filter(account_role::Column::AccountId.eq(account_id))
        .filter(account_role::Column::Role.eq(role.name()))
        .exec(&txn)
        .await?
        .rows_affected;
    if gone == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    audit::insert(&txn, audit).await?;
    txn.commit().await?;
    Ok(true)
}

fn to_grant(m: account_role::Model) -> Option<RoleGrant> {
    Some(RoleGrant {
        role: Role::parse(&m.role)?,
        office: m.office,
        granted_by: m.granted_by,
        granted_at: m.granted_at,
    })
}

/// What [`Database::revoke_role_keeping_an_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    /// The account did not hold the role: nothing written.
    NotHeld,
    /// It is the only admin grant left: kept.
    LastAdmin,
}
