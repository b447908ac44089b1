//! Accounts and their phones.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::credentials::password_row;
use super::entities::{account, phone};
use super::{Database, StoreError, map_conflict};
use crate::domain::{Account, AccountStatus, Ial, SubjectType};

impl Database {
    /// Creates an account with its password and phones in one transaction. A duplicate ID
    /// number or tax code is refused by the unique constraint → [`StoreError::Conflict`].
    pub async fn create_account(
        &self,
        new: &NewAccount,
        now: DateTime<Utc>,
    ) -> Result<Account, StoreError> {
        let txn = self.begin_write().await?;
        let id = uuid::Uuid::now_v7().to_string();
        account::ActiveModel {
            id: Set(id.clone()),
            subject_type: Set(new.subject_type.as_str().to_string()),
            id_number: Set(new.id_number.clone()),
            tax_code: Set(new.tax_code.clone()),
            full_name: Set(new.full_name.clone()),
            birthdate: Set(new.birthdate),
            email: Set(new.email.clone()),
            ial: Set(new.ial.level()),
            registration_method: Set(new.registration_method.clone()),
            status: Set(AccountStatus::Active.as_str().to_string()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
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
            .insert(&txn)
            .await
            .map_err(map_conflict)?;
        }
        if let Some(hash) = &new.password_hash {
            password_row(&id, hash, now).insert(&txn).await?;
        }
        txn.commit().await?;
        self.find_account(&id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("account vanished after insert".into()))
    }

    pub async fn find_account(&self, id: &str) -> Result<Option<Account>, StoreError> {
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

    /// Adds a phone to an account (not the default); a phone already there is a conflict.
    pub async fn add_phone(
        &self,
        account_id: &str,
        e164: &str,
        verified: bool,
        now: DateTime<Utc>,
    ) -> Result<Phone, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        phone::ActiveModel {
            id: Set(id.clone()),
            account_id: Set(account_id.to_string()),
            e164: Set(e164.to_string()),
            verified: Set(verified),
            is_default: Set(false),
            created_at: Set(now),
        }
        .insert(&self.conn)
        .await
        .map_err(map_conflict)?;
        Ok(Phone {
            id,
            e164: e164.to_string(),
            is_default: false,
        })
    }

    pub async fn update_email(
        &self,
        account_id: &str,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        account::Entity::update_many()
            .col_expr(
                account::Column::Email,
                Expr::value(email.map(str::to_string)),
            )
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Makes one verified phone of the account its default; false if it is not theirs.
    pub async fn set_default_phone(
        &self,
        account_id: &str,
        phone_id: &str,
    ) -> Result<bool, StoreError> {
        // One statement: every phone of the account becomes "default iff it is the chosen one",
        // and only if the chosen one is a verified phone of this account. Concurrent choices
        // cannot leave two defaults or none, and there is no read-then-write to race.
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
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected > 0)
    }
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub id: String,
    /// E.164.
    pub e164: String,
    pub is_default: bool,
}

fn account_from_row(m: account::Model) -> Result<Account, StoreError> {
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
        registration_method: m.registration_method,
        updated_at: m.updated_at,
    })
}
