//! The only place sea-orm appears: the database (entities and repositories) and the
//! ephemeral store. Repositories take and return domain types.

pub mod entities;
pub mod ephemeral;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};

use crate::domain::{Account, AccountStatus, Ial, SubjectType};
use crate::oidc::client::{Client, ClientAuthMethod};
use entities::{
    account, audit_event, client, consent, credential, phone, refresh_token, signing_key,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A unique constraint refused the write (e.g. an ID number already has an account).
    #[error("already exists")]
    Conflict,
    #[error(transparent)]
    Ephemeral(#[from] ephemeral::EphemeralError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

fn map_conflict(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict,
        _ => StoreError::Db(e),
    }
}

#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
}

impl Database {
    /// Connects (creating the SQLite file and its folder if needed) and runs pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if let Some(path) = sqlite_file_path(url)
            && let Some(dir) = std::path::Path::new(&path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
        }
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            // WAL lets readers proceed while one writer commits; with WAL, synchronous=NORMAL
            // cannot corrupt the database (a power cut may lose the last commits) and saves an
            // fsync per transaction. Both are per-connection settings, hence set on each.
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
            });
        let conn = sea_orm::Database::connect(opts).await?;
        Migrator::up(&conn, None).await?;
        Ok(Self { conn })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await?;
        Ok(())
    }

    // ----- accounts -------------------------------------------------------------------------

    /// Creates an account with its password and phones in one transaction. A duplicate ID
    /// number or tax code is refused by the unique constraint → [`StoreError::Conflict`].
    pub async fn create_account(
        &self,
        new: &NewAccount,
        now: DateTime<Utc>,
    ) -> Result<Account, StoreError> {
        let txn = self.conn.begin().await?;
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
            credential::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                account_id: Set(id.clone()),
                kind: Set(CREDENTIAL_PASSWORD.to_string()),
                secret: Set(hash.clone()),
                label: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
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

    pub async fn password_hash(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        Ok(credential::Entity::find()
            .filter(credential::Column::AccountId.eq(account_id))
            .filter(credential::Column::Kind.eq(CREDENTIAL_PASSWORD))
            .one(&self.conn)
            .await?
            .map(|c| c.secret))
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
        let txn = self.conn.begin().await?;
        let owned = phone::Entity::find_by_id(phone_id.to_string())
            .filter(phone::Column::AccountId.eq(account_id))
            .filter(phone::Column::Verified.eq(true))
            .one(&txn)
            .await?
            .is_some();
        if owned {
            phone::Entity::update_many()
                .col_expr(phone::Column::IsDefault, Expr::value(false))
                .filter(phone::Column::AccountId.eq(account_id))
                .exec(&txn)
                .await?;
            phone::Entity::update_many()
                .col_expr(phone::Column::IsDefault, Expr::value(true))
                .filter(phone::Column::Id.eq(phone_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(owned)
    }

    /// Replaces the account's password hash.
    pub async fn set_password(
        &self,
        account_id: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.conn.begin().await?;
        credential::Entity::delete_many()
            .filter(credential::Column::AccountId.eq(account_id))
            .filter(credential::Column::Kind.eq(CREDENTIAL_PASSWORD))
            .exec(&txn)
            .await?;
        credential::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            account_id: Set(account_id.to_string()),
            kind: Set(CREDENTIAL_PASSWORD.to_string()),
            secret: Set(hash.to_string()),
            label: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
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
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(column.eq(value))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(families)
    }

    // ----- clients --------------------------------------------------------------------------

    pub async fn insert_client(&self, c: &Client, now: DateTime<Utc>) -> Result<(), StoreError> {
        client_row(c, Set(now))
            .insert(&self.conn)
            .await
            .map_err(map_conflict)?;
        Ok(())
    }

    /// Creates or updates a client's registration in place (the demo portal is re-registered
    /// at each start; its consents and grants survive).
    pub async fn upsert_client(&self, c: &Client, now: DateTime<Utc>) -> Result<(), StoreError> {
        let exists = client::Entity::find_by_id(c.client_id.clone())
            .one(&self.conn)
            .await?
            .is_some();
        if !exists {
            return self.insert_client(c, now).await;
        }
        client_row(c, sea_orm::ActiveValue::NotSet)
            .update(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        client::Entity::find_by_id(client_id.to_string())
            .one(&self.conn)
            .await?
            .map(client_from_row)
            .transpose()
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        client::Entity::find()
            .order_by_asc(client::Column::ClientId)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(client_from_row)
            .collect()
    }

    /// Removes a client with its consents and grants; returns whether it existed.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let txn = self.conn.begin().await?;
        consent::Entity::delete_many()
            .filter(consent::Column::ClientId.eq(client_id))
            .exec(&txn)
            .await?;
        refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::ClientId.eq(client_id))
            .exec(&txn)
            .await?;
        let res = client::Entity::delete_by_id(client_id.to_string())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(res.rows_affected > 0)
    }

    // ----- consents -------------------------------------------------------------------------

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
        let txn = self.conn.begin().await?;
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

    // ----- refresh tokens -------------------------------------------------------------------

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
        next: impl FnOnce(&RefreshGrant) -> Result<RefreshGrant, E>,
    ) -> Result<Rotation<E>, StoreError> {
        let txn = self.conn.begin().await?;
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
        let new = match next(&old) {
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
        let res = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected)
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

    // ----- signing keys ---------------------------------------------------------------------

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

    // ----- audit ----------------------------------------------------------------------------

    pub async fn insert_audit_event(&self, e: &AuditRecord) -> Result<(), StoreError> {
        audit_event::ActiveModel {
            at: Set(e.at),
            kind: Set(e.kind.clone()),
            account_id: Set(e.account_id.clone()),
            client_id: Set(e.client_id.clone()),
            ip: Set(e.ip.clone()),
            detail: Set(e.detail.to_string()),
            ..Default::default()
        }
        .insert(&self.conn)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn audit_events(&self, limit: u64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(audit_event::Entity::find()
            .order_by_desc(audit_event::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|e| AuditRecord {
                at: e.at,
                kind: e.kind,
                account_id: e.account_id,
                client_id: e.client_id,
                ip: e.ip,
                detail: serde_json::from_str(&e.detail).unwrap_or_default(),
            })
            .collect())
    }
}

pub const CREDENTIAL_PASSWORD: &str = "password";

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

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub account_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json(s: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
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

fn client_row(c: &Client, created_at: sea_orm::ActiveValue<DateTime<Utc>>) -> client::ActiveModel {
    client::ActiveModel {
        client_id: Set(c.client_id.clone()),
        name: Set(c.name.clone()),
        secret_hash: Set(c.secret_hash.clone()),
        auth_method: Set(c.auth_method.as_str().to_string()),
        redirect_uris: Set(to_json(&c.redirect_uris)),
        post_logout_redirect_uris: Set(to_json(&c.post_logout_redirect_uris)),
        backchannel_logout_uri: Set(c.backchannel_logout_uri.clone()),
        grant_types: Set(to_json(&c.grant_types)),
        allowed_scopes: Set(to_json(&c.allowed_scopes)),
        jwks: Set(c.jwks.as_ref().map(|j| j.to_string())),
        skip_consent: Set(c.skip_consent),
        min_acr: Set(c.min_ial.map(|i| i.level().to_string())),
        id_token_alg: Set(c.id_token_alg.clone()),
        created_at,
    }
}

fn client_from_row(m: client::Model) -> Result<Client, StoreError> {
    Ok(Client {
        auth_method: ClientAuthMethod::parse(&m.auth_method)
            .ok_or_else(|| StoreError::Corrupt(format!("auth method {}", m.auth_method)))?,
        redirect_uris: from_json(&m.redirect_uris, "redirect_uris")?,
        post_logout_redirect_uris: from_json(
            &m.post_logout_redirect_uris,
            "post_logout_redirect_uris",
        )?,
        grant_types: from_json(&m.grant_types, "grant_types")?,
        allowed_scopes: from_json(&m.allowed_scopes, "allowed_scopes")?,
        jwks: m
            .jwks
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("jwks: {e}")))?,
        min_ial: m
            .min_acr
            .as_deref()
            .and_then(|s| s.parse().ok())
            .and_then(Ial::from_level),
        client_id: m.client_id,
        name: m.name,
        secret_hash: m.secret_hash,
        backchannel_logout_uri: m.backchannel_logout_uri,
        skip_consent: m.skip_consent,
        id_token_alg: m.id_token_alg,
    })
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

/// The file behind a `sqlite://PATH?…` URL, unless it is in-memory.
fn sqlite_file_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}
