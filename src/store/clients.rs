//! Registered clients (relying parties).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::audit::{self, AuditRecord};
use super::entities::{client, consent, refresh_token};
use super::{Database, StoreError, from_json, map_conflict, to_json};
use crate::domain::Ial;
use crate::oidc::client::{Client, ClientAuthMethod, PreviousSecret, SubjectIdentifierType};

/// What [`Database::rotate_client_secret`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretRotation {
    /// The new secret is current; the one it replaced is accepted until `previous_expires_at`
    /// (none: it stopped at once). `replaced_previous`: an earlier previous secret, still
    /// live, was dropped (only one previous secret is kept).
    Rotated {
        previous_expires_at: Option<DateTime<Utc>>,
        replaced_previous: bool,
    },
    NoSuchClient,
    /// A public or private_key_jwt client has no secret to rotate.
    NoSecret,
}

/// What a compare-and-set write to a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientWrite {
    Done,
    NoSuchClient,
    /// The client changed since the version the edit was based on: nothing written.
    Stale,
}

impl Database {
    /// Registers a new client with its audit row, in one transaction; a taken id is
    /// [`StoreError::Conflict`].
    pub async fn create_client_audited(
        &self,
        c: &Client,
        now: DateTime<Utc>,
        audit_row: &AuditRecord,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        client_row(c, Set(now))
            .insert(&txn)
            .await
            .map_err(map_conflict)?;
        audit::insert(&txn, audit_row).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Replaces a client's registration with `c` if it is still at `expected_version`
    /// (`UPDATE … WHERE client_id AND version`, so of two edits from one version only the
    /// first is written), making it version `expected_version + 1`, with its audit row, in
    /// one transaction. Also how a client is disabled and enabled (`c.disabled`).
    pub async fn update_client(
        &self,
        c: &Client,
        expected_version: i32,
        now: DateTime<Utc>,
        audit_row: &AuditRecord,
    ) -> Result<ClientWrite, StoreError> {
        let txn = self.begin_write().await?;
        let mut row = client_row(c, sea_orm::ActiveValue::NotSet);
        row.client_id = sea_orm::ActiveValue::NotSet;
        row.version = Set(expected_version + 1);
        row.updated_at = Set(Some(now));
        let updated = client::Entity::update_many()
            .set(row)
            .filter(client::Column::ClientId.eq(c.client_id.as_str()))
            .filter(client::Column::Version.eq(expected_version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            let exists = client::Entity::find_by_id(c.client_id.clone())
                .one(&txn)
                .await?
                .is_some();
            txn.rollback().await?;
            return Ok(if exists {
                ClientWrite::Stale
            } else {
                ClientWrite::NoSuchClient
            });
        }
        audit::insert(&txn, audit_row).await?;
        txn.commit().await?;
        Ok(ClientWrite::Done)
    }

    /// Removes a client still at `expected_version`, with its consents and grants and the
    /// audit row, in one transaction.
    pub async fn delete_client_audited(
        &self,
        client_id: &str,
        expected_version: i32,
        audit_row: &AuditRecord,
    ) -> Result<ClientWrite, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = client::Entity::find_by_id(client_id.to_string())
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(ClientWrite::NoSuchClient);
        };
        if row.version != expected_version {
            txn.rollback().await?;
            return Ok(ClientWrite::Stale);
        }
        // Grants first (they refer to the client); rolled back if the client changed.
        consent::Entity::delete_many()
            .filter(consent::Column::ClientId.eq(client_id))
            .exec(&txn)
            .await?;
        refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::ClientId.eq(client_id))
            .exec(&txn)
            .await?;
        let removed = client::Entity::delete_many()
            .filter(client::Column::ClientId.eq(client_id))
            .filter(client::Column::Version.eq(expected_version))
            .exec(&txn)
            .await?;
        if removed.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(ClientWrite::Stale);
        }
        audit::insert(&txn, audit_row).await?;
        txn.commit().await?;
        Ok(ClientWrite::Done)
    }

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

    /// Makes `new_hash` the client's secret, keeps the current one as the previous secret
    /// until `now + overlap` (none when `overlap` is zero), and writes the audit row that
    /// `audit_row` makes from the outcome, all in one transaction. The update is conditional
    /// on the secret read, so of two concurrent rotations one is refused
    /// ([`StoreError::Conflict`]) rather than both keeping the same previous secret.
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        new_hash: &str,
        overlap: chrono::Duration,
        now: DateTime<Utc>,
        audit_row: impl FnOnce(&SecretRotation) -> AuditRecord,
    ) -> Result<SecretRotation, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = client::Entity::find_by_id(client_id.to_string())
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(SecretRotation::NoSuchClient);
        };
        let uses_secret =
            ClientAuthMethod::parse(&row.auth_method).is_some_and(|m| m.uses_secret());
        let Some(current) = row.secret_hash.clone().filter(|_| uses_secret) else {
            txn.rollback().await?;
            return Ok(SecretRotation::NoSecret);
        };
        let replaced_previous = row.previous_secret_hash.is_some()
            && row.previous_secret_expires_at.is_some_and(|at| now < at);
        let previous_expires_at = (overlap > chrono::Duration::zero()).then(|| now + overlap);
        let updated = client::Entity::update_many()
            .col_expr(client::Column::SecretHash, new_hash.into())
            .col_expr(
                client::Column::PreviousSecretHash,
                previous_expires_at.map(|_| current.clone()).into(),
            )
            .col_expr(
                client::Column::PreviousSecretExpiresAt,
                previous_expires_at.into(),
            )
            // A rotation is an edit: an edit based on the version before it is stale, so it
            // cannot write the replaced secret back.
            .col_expr(
                client::Column::Version,
                sea_orm::sea_query::ExprTrait::add(
                    sea_orm::sea_query::Expr::col(client::Column::Version),
                    1,
                ),
            )
            .col_expr(client::Column::UpdatedAt, Some(now).into())
            .filter(client::Column::ClientId.eq(client_id))
            .filter(client::Column::SecretHash.eq(current))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            txn.rollback().await?;
            return Err(StoreError::Conflict);
        }
        let outcome = SecretRotation::Rotated {
            previous_expires_at,
            replaced_previous,
        };
        audit::insert(&txn, &audit_row(&outcome)).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// Removes a client with its consents and grants; returns whether it existed.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
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
        require_phishing_resistant: Set(c.require_phishing_resistant),
        previous_secret_hash: Set(c.previous_secret.as_ref().map(|p| p.hash.clone())),
        previous_secret_expires_at: Set(c.previous_secret.as_ref().map(|p| p.expires_at)),
        omit_iss_in_errors: Set(c.omit_iss_in_errors),
        subject_type: Set(c.subject_type.as_str().to_string()),
        sector_identifier_uri: Set(c.sector_identifier_uri.clone()),
        created_at,
        version: Set(c.version),
        disabled: Set(c.disabled),
        theme: Set(c.theme.clone()),
        jwks_uri: Set(c.jwks_uri.clone()),
        updated_at: Set(c.updated_at),
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
        require_phishing_resistant: m.require_phishing_resistant,
        previous_secret: match (m.previous_secret_hash, m.previous_secret_expires_at) {
            (Some(hash), Some(expires_at)) => Some(PreviousSecret { hash, expires_at }),
            _ => None,
        },
        omit_iss_in_errors: m.omit_iss_in_errors,
        subject_type: SubjectIdentifierType::parse(&m.subject_type)
            .ok_or_else(|| StoreError::Corrupt(format!("subject type {}", m.subject_type)))?,
        sector_identifier_uri: m.sector_identifier_uri,
        jwks_uri: m.jwks_uri,
        disabled: m.disabled,
        theme: m.theme,
        version: m.version,
        updated_at: m.updated_at,
    })
}
