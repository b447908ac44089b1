//! Complaints about an ID number registered by someone else (`complaints`, migration 7). Each
//! move of a complaint is one transaction: a compare-and-set on its status (two officers
//! acting at once: one moves it, the other finds it moved), the change to the disputed account
//! that goes with the move, and the audit row.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use super::audit::{self, AuditRecord};
use super::entities::{account, account_level, complaint, consent, credential, phone};
use super::{Database, StoreError, map_conflict};
use crate::domain::{AccountStatus, Complaint, ComplaintStatus, Ial};

/// A complaint to file.
#[derive(Debug, Clone)]
pub struct NewComplaint {
    pub ticket: String,
    pub id_number: String,
    pub account_id: Option<String>,
    pub complainant_name: String,
    /// E.164.
    pub contact_phone: String,
    pub contact_email: Option<String>,
    pub description: String,
    pub locale: String,
}

/// What a move of a complaint does to the disputed account, in the same transaction.
#[derive(Debug, Clone)]
pub enum AccountChange {
    None,
    /// Active → locked (an account not active is left as it is).
    Lock {
        account_id: String,
    },
    /// Locked → active, unless another complaint still holds the account locked.
    Unlock {
        account_id: String,
    },
    /// The account becomes the complainant's: see [`Database::move_complaint`].
    Transfer(Transfer),
}

/// The rightful owner, as the officer checked them in person.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub account_id: String,
    /// From the original CCCD.
    pub full_name: String,
    pub birthdate: NaiveDate,
    /// E.164: the account's only phone from now on, verified (checked at the counter).
    pub phone: String,
}

/// Who moves a complaint.
#[derive(Debug, Clone, Copy)]
pub struct Handler<'a> {
    pub account_id: &'a str,
    pub office: &'a str,
}

impl Database {
    /// Files a complaint with its audit row; a ticket already taken is
    /// [`StoreError::Conflict`] (the caller draws another).
    pub async fn file_complaint(
        &self,
        new: &NewComplaint,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Complaint, StoreError> {
        let txn = self.begin_write().await?;
        let row = complaint::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            ticket: Set(new.ticket.clone()),
            id_number: Set(new.id_number.clone()),
            account_id: Set(new.account_id.clone()),
            complainant_name: Set(new.complainant_name.clone()),
            contact_phone: Set(new.contact_phone.clone()),
            contact_email: Set(new.contact_email.clone()),
            description: Set(new.description.clone()),
            locale: Set(new.locale.clone()),
            status: Set(ComplaintStatus::Open.as_str().to_string()),
            handled_by: Set(None),
            office: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(map_conflict)?;
        let mut audit = audit.clone();
        audit.detail["ticket"] = serde_json::json!(row.ticket);
        audit::insert(&txn, &audit).await?;
        txn.commit().await?;
        from_row(row)
    }

    pub async fn complaint_by_ticket(&self, ticket: &str) -> Result<Option<Complaint>, StoreError> {
        complaint::Entity::find()
            .filter(complaint::Column::Ticket.eq(ticket))
            .one(&self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    /// The officers' queue: open and in-progress complaints, oldest first.
    pub async fn complaint_queue(&self) -> Result<Vec<Complaint>, StoreError> {
        let pending: Vec<&str> = ComplaintStatus::ALL
            .into_iter()
            .filter(|s| s.pending())
            .map(ComplaintStatus::as_str)
            .collect();
        complaint::Entity::find()
            .filter(complaint::Column::Status.is_in(pending))
            .order_by_asc(complaint::Column::CreatedAt)
            .order_by_asc(complaint::Column::Id)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// When the account was created (the officer's detail page).
    pub async fn account_created_at(
        &self,
        account_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(account::Entity::find_by_id(account_id.to_string())
            .one(&self.conn)
            .await?
            .map(|a| a.created_at))
    }

    /// Moves complaint `id` from `from` to `to` with `change` to the disputed account and the
    /// audit row, in one transaction. `false` (nothing written) when the complaint is no longer
    /// at `from`: someone else moved it meanwhile.
    ///
    /// A transfer replaces the account's name and birth date by the CCCD's, all its phones by
    /// the owner's (verified, default), removes every credential (password, passkeys,
    /// certificates, federated links: the impostor's), its consents and its email, sets it
    /// active at IAL2 (what an in-person check proves; a level-history row says so), so that the
    /// owner sets a password through "Quên mật khẩu" with a code sent to that phone.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_complaint(
        &self,
        id: &str,
        from: ComplaintStatus,
        to: ComplaintStatus,
        by: Handler<'_>,
        change: &AccountChange,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let moved = complaint::Entity::update_many()
            .col_expr(complaint::Column::Status, Expr::value(to.as_str()))
            .col_expr(complaint::Column::HandledBy, Expr::value(by.account_id))
            .col_expr(complaint::Column::Office, Expr::value(by.office))
            .col_expr(complaint::Column::UpdatedAt, Expr::value(now))
            .filter(complaint::Column::Id.eq(id))
            .filter(complaint::Column::Status.eq(from.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        if moved == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        let mut audit = audit.clone();
        match change {
            AccountChange::None => {}
            AccountChange::Lock { account_id } => {
                // The account it locked, even when none held the number at filing: a rejection
                // finds what to unlock by it.
                complaint::Entity::update_many()
                    .col_expr(
                        complaint::Column::AccountId,
                        Expr::value(account_id.as_str()),
                    )
                    .filter(complaint::Column::Id.eq(id))
                    .exec(&txn)
                    .await?;
                let locked = set_status(
                    &txn,
                    account_id,
                    AccountStatus::Active,
                    AccountStatus::Locked,
                    now,
                )
                .await?;
                audit.detail["account_locked"] = locked.into();
            }
            AccountChange::Unlock { account_id } => {
                let others = complaint::Entity::find()
                    .filter(complaint::Column::AccountId.eq(account_id.as_str()))
                    .filter(complaint::Column::Id.ne(id))
                    .filter(complaint::Column::Status.eq(ComplaintStatus::AccountLocked.as_str()))
                    .count(&txn)
                    .await?;
                let unlocked = others == 0
                    && set_status(
                        &txn,
                        account_id,
                        AccountStatus::Locked,
                        AccountStatus::Active,
                        now,
                    )
                    .await?;
                audit.detail["account_unlocked"] = unlocked.into();
            }
            AccountChange::Transfer(t) => transfer(&txn, t, now).await?,
        }
        audit::insert(&txn, &audit).await?;
        txn.commit().await?;
        Ok(true)
    }
}

/// Sets the account's status to `to` if it is `from`; whether it did (also the admin area's
/// compare-and-set, `Database::change_account_status`).
pub(super) async fn set_status(
    txn: &DatabaseTransaction,
    account_id: &str,
    from: AccountStatus,
    to: AccountStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = account::Entity::update_many()
        .col_expr(account::Column::Status, Expr::value(to.as_str()))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(account_id))
        .filter(account::Column::Status.eq(from.as_str()))
        .exec(txn)
        .await?;
    Ok(res.rows_affected > 0)
}

async fn transfer(
    txn: &DatabaseTransaction,
    t: &Transfer,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let res = account::Entity::update_many()
        .col_expr(account::Column::FullName, Expr::value(t.full_name.clone()))
        .col_expr(account::Column::Birthdate, Expr::value(Some(t.birthdate)))
        .col_expr(account::Column::Email, Expr::value(None::<String>))
        .col_expr(account::Column::EmailVerified, Expr::value(false))
        .col_expr(
            account::Column::Status,
            Expr::value(AccountStatus::Active.as_str()),
        )
        .col_expr(account::Column::Ial, Expr::value(Ial::Ial2.level()))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(t.account_id.as_str()))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(StoreError::Corrupt("the disputed account is gone".into()));
    }
    phone::Entity::delete_many()
        .filter(phone::Column::AccountId.eq(t.account_id.as_str()))
        .exec(txn)
        .await?;
    phone::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(t.account_id.clone()),
        e164: Set(t.phone.clone()),
        verified: Set(true),
        is_default: Set(true),
        created_at: Set(now),
    }
    .insert(txn)
    .await
    .map_err(map_conflict)?;
    credential::Entity::delete_many()
        .filter(credential::Column::AccountId.eq(t.account_id.as_str()))
        .exec(txn)
        .await?;
    consent::Entity::delete_many()
        .filter(consent::Column::AccountId.eq(t.account_id.as_str()))
        .exec(txn)
        .await?;
    account_level::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(t.account_id.clone()),
        level: Set(Ial::Ial2.level()),
        method: Set("complaint".to_string()),
        certificate_sha256: Set(None),
        at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(())
}

fn from_row(m: complaint::Model) -> Result<Complaint, StoreError> {
    Ok(Complaint {
        status: ComplaintStatus::parse(&m.status)
            .ok_or_else(|| StoreError::Corrupt(format!("complaint status {}", m.status)))?,
        id: m.id,
        ticket: m.ticket,
        id_number: m.id_number,
        account_id: m.account_id,
        complainant_name: m.complainant_name,
        contact_phone: m.contact_phone,
        contact_email: m.contact_email,
        description: m.description,
        locale: m.locale,
        handled_by: m.handled_by,
        office: m.office,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}
