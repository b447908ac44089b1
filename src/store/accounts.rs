//! Accounts, their phones and the history of their level.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, UpdateMany,
};

use super::audit::{self, AuditRecord};
use super::credentials::password_row;
use super::entities::{account, account_level, complaint, credential, phone};
use super::{Database, StoreError, map_conflict};
use crate::domain::{Account, AccountStatus, ComplaintStatus, CredentialKind, Ial, SubjectType};

impl Database {
    /// Creates an account with its password and phones in one transaction. A duplicate ID
    /// number or tax code is refused by the unique constraint → [`StoreError::Conflict`].
    pub async fn create_account(
        &self,
        new: &NewAccount,
        now: DateTime<Utc>,
    ) -> Result<Account, StoreError> {
        let txn = self.begin_write().await?;
        let id = insert_account(&txn, new, &Extras::default(), now).await?;
        txn.commit().await?;
        self.find_account(&id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("account vanished after insert".into()))
    }

    /// Creates an account proven by a signature certificate (IAL3 registration), in one
    /// transaction: the account, the certificate as its credential (lookup = the certificate's
    /// SHA-256), the first row of its level's history and the audit row. A duplicate ID number,
    /// tax code, official or certificate is [`StoreError::Conflict`], and nothing is written.
    pub async fn create_certified_account(
        &self,
        new: &NewAccount,
        extras: &Extras,
        certificate: &CertificateCredential,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Account, StoreError> {
        let cred = Bound {
            kind: CredentialKind::Certificate,
            lookup: &certificate.sha256,
            data: &certificate.data,
            label: &certificate.label,
        };
        self.create_with_credential(new, extras, &cred, now, audit)
            .await
    }

    /// Creates an account proven by an upstream identity provider at its first login there,
    /// in one transaction: the account, its link to the upstream's subject (a `federated_link`
    /// credential, lookup `{upstream}:{sub}`), the first row of its level's history and the
    /// audit row. A duplicate ID number or link is [`StoreError::Conflict`], and nothing is
    /// written.
    pub async fn create_linked_account(
        &self,
        new: &NewAccount,
        link: &UpstreamLink,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Account, StoreError> {
        let cred = Bound {
            kind: CredentialKind::FederatedLink,
            lookup: &link.lookup,
            data: &link.data,
            label: &link.label,
        };
        self.create_with_credential(new, &Extras::default(), &cred, now, audit)
            .await
    }

    async fn create_with_credential(
        &self,
        new: &NewAccount,
        extras: &Extras,
        cred: &Bound<'_>,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Account, StoreError> {
        let txn = self.begin_write().await?;
        let id = insert_account(&txn, new, extras, now).await?;
        let row = credential_row(&id, cred, now)
            .insert(&txn)
            .await
            .map_err(map_conflict)?;
        // The history row names the proof; the audit row names the credential too.
        let mut audit = audit.clone();
        audit.account_id = Some(id.clone());
        audit.detail["credential"] =
            serde_json::json!({ "kind": cred.kind.as_str(), "id": row.id });
        audit::insert(&txn, &audit).await?;
        txn.commit().await?;
        self.find_account(&id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("account vanished after insert".into()))
    }

    /// Raises an account to `level` with the certificate that proved it, in one transaction:
    /// the account's level, the certificate bound as its credential, a history row and the
    /// audit row. [`LevelRaise::NotLower`] (nothing written) when the account is already at or
    /// above `level`; a certificate bound to another account is [`StoreError::Conflict`].
    pub async fn raise_level(
        &self,
        account_id: &str,
        level: Ial,
        method: &str,
        certificate: &CertificateCredential,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<LevelRaise, StoreError> {
        let txn = self.begin_write().await?;
        // Only from a lower level: two raises at once change the account once.
        let res = account::Entity::update_many()
            .col_expr(account::Column::Ial, Expr::value(level.level()))
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .filter(account::Column::Ial.lt(level.level()))
            .exec(&txn)
            .await?;
        if res.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(LevelRaise::NotLower);
        }
        let cred = Bound {
            kind: CredentialKind::Certificate,
            lookup: &certificate.sha256,
            data: &certificate.data,
            label: &certificate.label,
        };
        credential_row(account_id, &cred, now)
            .insert(&txn)
            .await
            .map_err(map_conflict)?;
        level_row(account_id, level, method, Some(&certificate.sha256), now)
            .insert(&txn)
            .await?;
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(LevelRaise::Raised)
    }

    /// The history of an account's level, oldest first.
    pub async fn account_levels(&self, account_id: &str) -> Result<Vec<LevelChange>, StoreError> {
        Ok(account_level::Entity::find()
            .filter(account_level::Column::AccountId.eq(account_id))
            .order_by_asc(account_level::Column::At)
            .order_by_asc(account_level::Column::Id)
            .all(&self.conn)
            .await?
            .into_iter()
            .filter_map(|m| {
                Some(LevelChange {
                    level: Ial::from_level(m.level)?,
                    method: m.method,
                    certificate_sha256: m.certificate_sha256,
                    at: m.at,
                })
            })
            .collect())
    }

    /// The agency account of a state official, by the ID number their Government-CA
    /// certificate states.
    pub async fn find_account_by_official_id(
        &self,
        official_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        account::Entity::find()
            .filter(account::Column::OfficialId.eq(official_id))
            .one(&self.conn)
            .await?
            .map(account_from_row)
            .transpose()
    }

    pub async fn find_account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        // Account ids are UUIDs. Anything else (an admin URL's path, say) finds nothing without
        // a query: PostgreSQL refuses a NUL byte in text, which would be an error, not "none".
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        account::Entity::find_by_id(id.to_string())
            .one(&self.conn)
            .await?
            .map(account_from_row)
            .transpose()
    }

    pub async fn find_account_by_id_number(
        &self,
        id_number: &str,
    ) -> Result<Option<Account>, StoreError> {
        account::Entity::find()
            .filter(account::Column::IdNumber.eq(id_number))
            .one(&self.conn)
            .await?
            .map(account_from_row)
            .transpose()
    }

    /// The enterprise account of a tax code (an enterprise's own certificate logs into it).
    pub async fn find_account_by_tax_code(
        &self,
        tax_code: &str,
    ) -> Result<Option<Account>, StoreError> {
        account::Entity::find()
            .filter(account::Column::TaxCode.eq(tax_code))
            .one(&self.conn)
            .await?
            .map(account_from_row)
            .transpose()
    }

    /// The account's default verified phone (E.164).
    pub async fn default_phone(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        Ok(phone::Entity::find()
            .filter(phone::Column::AccountId.eq(account_id))
            .filter(phone::Column::Verified.eq(true))
            .order_by_desc(phone::Column::IsDefault)
            .order_by_asc(phone::Column::CreatedAt)
            .one(&self.conn)
            .await?
            .map(|p| p.e164))
    }

    /// The account's verified phones, default first.
    pub async fn verified_phones(&self, account_id: &str) -> Result<Vec<Phone>, StoreError> {
        Ok(phone::Entity::find()
            .filter(phone::Column::AccountId.eq(account_id))
            .filter(phone::Column::Verified.eq(true))
            .order_by_desc(phone::Column::IsDefault)
            .order_by_asc(phone::Column::CreatedAt)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|p| Phone {
                id: p.id,
                e164: p.e164,
                is_default: p.is_default,
            })
            .collect())
    }

    /// Adds a phone to an account (not the default), with its audit row when given; a phone
    /// already there is a conflict.
    pub async fn add_phone(
        &self,
        account_id: &str,
        e164: &str,
        verified: bool,
        now: DateTime<Utc>,
        audit: Option<&AuditRecord>,
    ) -> Result<Phone, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let txn = self.begin_write().await?;
        phone::ActiveModel {
            id: Set(id.clone()),
            account_id: Set(account_id.to_string()),
            e164: Set(e164.to_string()),
            verified: Set(verified),
            is_default: Set(false),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(map_conflict)?;
        if let Some(record) = audit {
            audit::insert(&txn, record).await?;
        }
        txn.commit().await?;
        Ok(Phone {
            id,
            e164: e164.to_string(),
            is_default: false,
        })
    }

    /// Sets (or, with `None`, removes) the account's email address and whether it was verified,
    /// with its audit row.
    pub async fn set_email(
        &self,
        account_id: &str,
        email: Option<&str>,
        verified: bool,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.update_account(account_id, now, audit, |u| {
            u.col_expr(
                account::Column::Email,
                Expr::value(email.map(str::to_string)),
            )
            .col_expr(account::Column::EmailVerified, Expr::value(verified))
        })
        .await
    }

    /// Replaces the account's name and birth date (an upstream identity provider's newer
    /// record), with its audit row, in one transaction.
    pub async fn set_identity(
        &self,
        account_id: &str,
        full_name: &str,
        birthdate: Option<NaiveDate>,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.update_account(account_id, now, audit, |u| {
            u.col_expr(
                account::Column::FullName,
                Expr::value(full_name.to_string()),
            )
            .col_expr(account::Column::Birthdate, Expr::value(birthdate))
        })
        .await
    }

    /// Sets the account's status (locks or unlocks it) with its audit row, in one
    /// transaction. Ending its sessions and tokens is the caller's next step.
    pub async fn set_account_status(
        &self,
        account_id: &str,
        status: AccountStatus,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.update_account(account_id, now, audit, |u| {
            u.col_expr(account::Column::Status, Expr::value(status.as_str()))
        })
        .await
    }

    /// Sets columns of one account (and `updated_at`) with its audit row, in one transaction.
    async fn update_account(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
        audit: &AuditRecord,
        set: impl FnOnce(UpdateMany<account::Entity>) -> UpdateMany<account::Entity>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        set(account::Entity::update_many())
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .exec(&txn)
            .await?;
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Makes one verified phone of the account its default, with its audit row; false (and
    /// nothing written) if it is not theirs.
    pub async fn set_default_phone(
        &self,
        account_id: &str,
        phone_id: &str,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        if !make_default(&txn, account_id, phone_id).await? {
            txn.rollback().await?;
            return Ok(false);
        }
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Removes one of the account's phones, with its audit row. Never the last verified one;
    /// when the default goes, the oldest remaining verified phone becomes the default. The
    /// account row is locked first (PostgreSQL), so two removals at once cannot both see a
    /// second phone; and the count is checked after the delete, inside the transaction.
    pub async fn remove_phone(
        &self,
        account_id: &str,
        phone_id: &str,
        audit: &AuditRecord,
    ) -> Result<PhoneRemoval, StoreError> {
        let txn = self.begin_write().await?;
        account::Entity::find_by_id(account_id.to_string())
            .lock_exclusive()
            .one(&txn)
            .await?;
        let Some(found) = phone::Entity::find_by_id(phone_id.to_string())
            .filter(phone::Column::AccountId.eq(account_id))
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(PhoneRemoval::NotFound);
        };
        phone::Entity::delete_by_id(found.id.clone())
            .exec(&txn)
            .await?;
        let verified = phone::Entity::find()
            .filter(phone::Column::AccountId.eq(account_id))
            .filter(phone::Column::Verified.eq(true));
        if verified.clone().count(&txn).await? == 0 {
            txn.rollback().await?;
            return Ok(PhoneRemoval::LastPhone);
        }
        let mut new_default = None;
        if found.is_default
            && let Some(next) = verified
                .order_by_asc(phone::Column::CreatedAt)
                .one(&txn)
                .await?
        {
            make_default(&txn, account_id, &next.id).await?;
            new_default = Some(next.e164);
        }
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(PhoneRemoval::Removed {
            e164: found.e164,
            new_default,
        })
    }
}

/// Inserts an account, its phones, its password (if any) and the first row of its level's
/// history inside `txn`; returns its id.
async fn insert_account(
    txn: &sea_orm::DatabaseTransaction,
    new: &NewAccount,
    extras: &Extras,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    account::ActiveModel {
        id: Set(id.clone()),
        subject_type: Set(new.subject_type.as_str().to_string()),
        id_number: Set(new.id_number.clone()),
        tax_code: Set(new.tax_code.clone()),
        full_name: Set(new.full_name.clone()),
        birthdate: Set(new.birthdate),
        email: Set(new.email.clone()),
        email_verified: Set(false),
        ial: Set(new.ial.level()),
        registration_method: Set(new.registration_method.clone()),
        status: Set(AccountStatus::Active.as_str().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        organization: Set(extras.organization.clone()),
        official_id: Set(extras.official_id.clone()),
    }
    .insert(txn)
    .await
    .map_err(map_conflict)?;
    for (i, e164) in new.phones.iter().enumerate() {
        phone::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            account_id: Set(id.clone()),
            e164: Set(e164.clone()),
            verified: Set(true),
            is_default: Set(i == 0),
            created_at: Set(now),
        }
        .insert(txn)
        .await
        .map_err(map_conflict)?;
    }
    if let Some(hash) = &new.password_hash {
        password_row(&id, hash, now).insert(txn).await?;
    }
    level_row(
        &id,
        new.ial,
        &new.registration_method,
        extras.certificate_sha256.as_deref(),
        now,
    )
    .insert(txn)
    .await?;
    Ok(id)
}

fn level_row(
    account_id: &str,
    level: Ial,
    method: &str,
    certificate_sha256: Option<&str>,
    now: DateTime<Utc>,
) -> account_level::ActiveModel {
    account_level::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(account_id.to_string()),
        level: Set(level.level()),
        method: Set(method.to_string()),
        certificate_sha256: Set(certificate_sha256.map(str::to_string)),
        at: Set(now),
    }
}

/// A credential bound to an account as it is made.
struct Bound<'a> {
    kind: CredentialKind,
    lookup: &'a str,
    data: &'a str,
    label: &'a str,
}

fn credential_row(account_id: &str, c: &Bound<'_>, now: DateTime<Utc>) -> credential::ActiveModel {
    credential::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(account_id.to_string()),
        kind: Set(c.kind.as_str().to_string()),
        secret: Set(c.data.to_string()),
        label: Set(Some(c.label.to_string())),
        lookup: Set(Some(c.lookup.to_string())),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Makes `phone_id` the account's default, inside the caller's transaction; false if it is not
/// a verified phone of the account. One statement: every phone of the account becomes "default
/// iff it is the chosen one", and only if the chosen one is a verified phone of this account.
/// Concurrent choices cannot leave two defaults or none, and there is no read-then-write to race.
async fn make_default(
    txn: &sea_orm::DatabaseTransaction,
    account_id: &str,
    phone_id: &str,
) -> Result<bool, StoreError> {
    let chosen = Query::select()
        .expr(Expr::val(1))
        .from(phone::Entity)
        .and_where(phone::Column::Id.eq(phone_id))
        .and_where(phone::Column::AccountId.eq(account_id))
        .and_where(phone::Column::Verified.eq(true))
        .to_owned();
    let res = phone::Entity::update_many()
        .col_expr(
            phone::Column::IsDefault,
            Expr::col(phone::Column::Id).eq(phone_id),
        )
        .filter(phone::Column::AccountId.eq(account_id))
        .filter(Expr::exists(chosen))
        .exec(txn)
        .await?;
    Ok(res.rows_affected > 0)
}

/// What [`Database::remove_phone`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneRemoval {
    /// Gone; `new_default` is the phone (E.164) that became the default in its place, if the
    /// removed one was the default.
    Removed {
        e164: String,
        new_default: Option<String>,
    },
    /// The account has no phone by that id.
    NotFound,
    /// It is the account's last verified phone: kept.
    LastPhone,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub subject_type: SubjectType,
    pub id_number: Option<String>,
    pub tax_code: Option<String>,
    pub full_name: String,
    pub birthdate: Option<NaiveDate>,
    pub email: Option<String>,
    pub ial: Ial,
    pub registration_method: String,
    /// Verified phones in E.164; the first is the default.
    pub phones: Vec<String>,
    pub password_hash: Option<String>,
}

/// What an IAL3 registration adds to a [`NewAccount`].
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// The enterprise's name, or the official's agency.
    pub organization: Option<String>,
    /// An agency account's key (the official's ID number).
    pub official_id: Option<String>,
    /// The certificate that proved the level, for the history row.
    pub certificate_sha256: Option<String>,
}

/// A signature certificate bound to an account as its credential (`CredentialKind::Certificate`).
#[derive(Debug, Clone)]
pub struct CertificateCredential {
    /// SHA-256 of the DER, lower-case hex: the credential's lookup.
    pub sha256: String,
    /// What is kept of it (JSON: serial, issuer, expiry, trust set).
    pub data: String,
    /// Shown to the owner: the issuer and expiry.
    pub label: String,
}

/// An account's link to a person at an upstream identity provider
/// (`CredentialKind::FederatedLink`).
#[derive(Debug, Clone)]
pub struct UpstreamLink {
    /// `{upstream id}:{the upstream's sub}`: how the link is found at the next login.
    pub lookup: String,
    /// What is kept of it (JSON: upstream, subject, level at linking).
    pub data: String,
    /// Shown to the owner: the upstream's name.
    pub label: String,
}

/// What [`Database::raise_level`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelRaise {
    Raised,
    /// The account is already at that level or above: nothing written.
    NotLower,
}

/// One row of an account's level history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelChange {
    pub level: Ial,
    pub method: String,
    pub certificate_sha256: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub id: String,
    /// E.164.
    pub e164: String,
    pub is_default: bool,
}

pub(super) fn account_from_row(m: account::Model) -> Result<Account, StoreError> {
    Ok(Account {
        subject_type: SubjectType::parse(&m.subject_type)
            .ok_or_else(|| StoreError::Corrupt(format!("subject type {}", m.subject_type)))?,
        ial: Ial::from_level(m.ial).ok_or_else(|| StoreError::Corrupt(format!("ial {}", m.ial)))?,
        status: AccountStatus::parse(&m.status),
        id: m.id,
        id_number: m.id_number,
        tax_code: m.tax_code,
        full_name: m.full_name,
        birthdate: m.birthdate,
        email: m.email,
        email_verified: m.email_verified,
        registration_method: m.registration_method,
        updated_at: m.updated_at,
        organization: m.organization,
        official_id: m.official_id,
    })
}

// --- the admin area (issue 10): search, the full view, status changes --------------------

impl Database {
    /// The accounts that have `e164` among their phones, verified or not (a number may be on
    /// several accounts: a family phone), oldest account first.
    pub async fn find_accounts_by_phone(&self, e164: &str) -> Result<Vec<Account>, StoreError> {
        let holders = Query::select()
            .column(phone::Column::AccountId)
            .from(phone::Entity)
            .and_where(phone::Column::E164.eq(e164))
            .to_owned();
        account::Entity::find()
            .filter(account::Column::Id.in_subquery(holders))
            .order_by_asc(account::Column::CreatedAt)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(account_from_row)
            .collect()
    }

    /// Every phone of the account, verified or not, the default first.
    pub async fn phones_of(&self, account_id: &str) -> Result<Vec<PhoneRecord>, StoreError> {
        Ok(phone::Entity::find()
            .filter(phone::Column::AccountId.eq(account_id))
            .order_by_desc(phone::Column::IsDefault)
            .order_by_desc(phone::Column::Verified)
            .order_by_asc(phone::Column::CreatedAt)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|p| PhoneRecord {
                e164: p.e164,
                verified: p.verified,
                is_default: p.is_default,
                created_at: p.created_at,
            })
            .collect())
    }

    /// Moves the account from status `from` (what the admin saw) to `to`, with its audit row,
    /// in one transaction: a compare-and-set, so a second admin acting on what they saw before
    /// the first one's change finds [`StatusChange::Stale`] and nothing is written. An unlock
    /// (`to` active) is refused while a complaint holds the account locked
    /// ([`StatusChange::HeldByComplaint`]): the complaint's own outcome (rejected, handed over)
    /// unlocks it.
    pub async fn change_account_status(
        &self,
        account_id: &str,
        from: AccountStatus,
        to: AccountStatus,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<StatusChange, StoreError> {
        let txn = self.begin_write().await?;
        if to == AccountStatus::Active
            && let Some(ticket) = holding_complaint(&txn, account_id).await?
        {
            txn.rollback().await?;
            return Ok(StatusChange::HeldByComplaint { ticket });
        }
        if !super::complaints::set_status(&txn, account_id, from, to, now).await? {
            txn.rollback().await?;
            return Ok(StatusChange::Stale);
        }
        audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(StatusChange::Changed)
    }
}

impl Database {
    /// The ticket of the complaint holding the account locked, if one does.
    pub async fn complaint_holding(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        holding_complaint(&self.conn, account_id).await
    }
}

/// The oldest complaint at `account_locked` about the account: its ticket.
async fn holding_complaint(
    conn: &impl sea_orm::ConnectionTrait,
    account_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(complaint::Entity::find()
        .filter(complaint::Column::AccountId.eq(account_id))
        .filter(complaint::Column::Status.eq(ComplaintStatus::AccountLocked.as_str()))
        .order_by_asc(complaint::Column::CreatedAt)
        .one(conn)
        .await?
        .map(|c| c.ticket))
}

/// A phone of an account as the admin area shows it (full number: admins see it whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRecord {
    /// E.164.
    pub e164: String,
    pub verified: bool,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

/// What [`Database::change_account_status`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Changed,
    /// The account is no longer at the status the change started from (or is gone).
    Stale,
    /// A complaint (`ticket`) holds the account locked.
    HeldByComplaint {
        ticket: String,
    },
}
