//! Clients (relying parties) in the admin area: the operations the API ([`api`]) and the
//! console ([`console`]) share, so both validate, audit and announce a change identically.
//! Every change is written with its audit row (`admin.client.*`, the redacted views before and
//! after) in one transaction, and announced to every node once committed
//! (`App::client_changed`): the next request on any node sees it.

pub mod api;
pub mod console;

use serde_json::Value;

use super::api::ApiError;
use crate::admin::clients::{ClientDraft, ClientView, Context, check, check_remote};
use crate::admin::{Actor, change_event};
use crate::app::App;
use crate::message::{FieldErrors, Message};
use crate::oidc::client::{Client, MAX_SECRET_OVERLAP_SECONDS};
use crate::store::{AuditRecord, ClientWrite, SecretRotation, StoreError};

pub use api::api;
pub use console::console;

/// The overlap of a rotation when none is given (one day).
pub const DEFAULT_OVERLAP_SECONDS: u64 = 86_400;

/// Who acts, from where.
pub struct By<'a> {
    pub actor: &'a Actor,
    pub ip: &'a str,
}

impl By<'_> {
    /// The audit row of a change to `client_id`, stamped now.
    fn row(
        &self,
        app: &App,
        kind: &str,
        client_id: &str,
        before: Value,
        after: Value,
    ) -> AuditRecord {
        let actor = self.actor.audit_id();
        app.audit.row(
            change_event(kind, &actor, self.actor.via(), before, after)
                .client(client_id)
                .ip(Some(self.ip)),
        )
    }
}

/// A client and, when it was just given one, its secret (shown once).
pub struct Saved {
    pub client: Client,
    pub secret: Option<String>,
}

/// A store error: logged once, the database did not answer.
fn unavailable(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "client administration: the database did not answer");
    ApiError::Unavailable
}

fn stale() -> ApiError {
    ApiError::Conflict(Message::new("admin_stale_edit"))
}

fn invalid(fields: FieldErrors) -> ApiError {
    ApiError::Invalid(fields)
}

pub async fn list(app: &App) -> Result<Vec<Client>, ApiError> {
    app.db.list_clients().await.map_err(unavailable)
}

/// The client, disabled or not (the admin area sees every client).
pub async fn find(app: &App, client_id: &str) -> Result<Client, ApiError> {
    if !crate::oidc::client::valid_client_id(client_id) {
        return Err(ApiError::NotFound);
    }
    app.db
        .find_client(client_id)
        .await
        .map_err(unavailable)?
        .ok_or(ApiError::NotFound)
}

fn context<'a>(app: &'a App, by: &By<'_>, existing: Option<&'a Client>) -> Context<'a> {
    Context {
        acr: &app.acr,
        default_id_token_alg: &app.config.keys.id_token_alg,
        may_give_admin_scopes: Context::admin_scopes_allowed(by.actor.roles()),
        existing,
        theme_names: app.client_themes.keys().map(String::as_str).collect(),
    }
}

/// Registers a new client (`admin.client.created`).
pub async fn create(app: &App, by: &By<'_>, draft: &ClientDraft) -> Result<Saved, ApiError> {
    let (client, secret) = check(draft, &context(app, by, None)).map_err(|e| invalid(e.fields))?;
    check_remote(&app.http, &client)
        .await
        .map_err(|e| invalid(e.fields))?;
    let after = ClientView::of(&client, &app.acr).audit_json();
    let row = by.row(
        app,
        "admin.client.created",
        &client.client_id,
        Value::Null,
        after,
    );
    match app
        .db
        .create_client_audited(&client, app.clock.now(), &row)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(ApiError::Conflict(Message::new("admin_clients_id_taken")));
        }
        Err(e) => return Err(unavailable(e)),
    }
    crate::audit::Audit::log(&row);
    app.client_changed(&client.client_id).await;
    let client = find(app, &client.client_id).await?;
    Ok(Saved { client, secret })
}

/// Replaces a client's editable fields, if it is still at `version`
/// (`admin.client.updated`); a stale version is a conflict and nothing is written.
pub async fn update(
    app: &App,
    by: &By<'_>,
    client_id: &str,
    draft: &ClientDraft,
    version: i32,
) -> Result<Saved, ApiError> {
    let existing = find(app, client_id).await?;
    if existing.version != version {
        return Err(stale());
    }
    let (client, secret) =
        check(draft, &context(app, by, Some(&existing))).map_err(|e| invalid(e.fields))?;
    check_remote(&app.http, &client)
        .await
        .map_err(|e| invalid(e.fields))?;
    write(app, by, "admin.client.updated", &existing, client, secret).await
}

/// Disables or enables a client (`admin.client.disabled` / `enabled`); already so: unchanged,
/// nothing audited.
pub async fn set_disabled(
    app: &App,
    by: &By<'_>,
    client_id: &str,
    disabled: bool,
) -> Result<Saved, ApiError> {
    let existing = find(app, client_id).await?;
    if existing.disabled == disabled {
        return Ok(Saved {
            client: existing,
            secret: None,
        });
    }
    let client = Client {
        disabled,
        ..existing.clone()
    };
    let kind = if disabled {
        "admin.client.disabled"
    } else {
        "admin.client.enabled"
    };
    write(app, by, kind, &existing, client, None).await
}

/// Writes `client` over `existing` (compare-and-set on its version) with the audit row.
async fn write(
    app: &App,
    by: &By<'_>,
    kind: &str,
    existing: &Client,
    client: Client,
    secret: Option<String>,
) -> Result<Saved, ApiError> {
    let now = app.clock.now();
    let before = ClientView::of(existing, &app.acr).audit_json();
    let after = ClientView::of(
        &Client {
            version: existing.version + 1,
            updated_at: Some(now),
            ..client.clone()
        },
        &app.acr,
    )
    .audit_json();
    let row = by.row(app, kind, &client.client_id, before, after);
    match app
        .db
        .update_client(&client, existing.version, now, &row)
        .await
        .map_err(unavailable)?
    {
        ClientWrite::Done => {}
        ClientWrite::Stale => return Err(stale()),
        ClientWrite::NoSuchClient => return Err(ApiError::NotFound),
    }
    crate::audit::Audit::log(&row);
    app.client_changed(&client.client_id).await;
    let client = find(app, &client.client_id).await?;
    Ok(Saved { client, secret })
}

/// Removes a client still at `version`, with its consents and grants
/// (`admin.client.deleted`).
pub async fn delete(app: &App, by: &By<'_>, client_id: &str, version: i32) -> Result<(), ApiError> {
    let existing = find(app, client_id).await?;
    let before = ClientView::of(&existing, &app.acr).audit_json();
    let row = by.row(app, "admin.client.deleted", client_id, before, Value::Null);
    match app
        .db
        .delete_client_audited(client_id, version, &row)
        .await
        .map_err(unavailable)?
    {
        ClientWrite::Done => {}
        ClientWrite::Stale => return Err(stale()),
        ClientWrite::NoSuchClient => return Err(ApiError::NotFound),
    }
    crate::audit::Audit::log(&row);
    app.client_changed(client_id).await;
    Ok(())
}

/// A rotation's outcome: the new secret (shown once) and until when the old one works.
pub struct Rotated {
    pub secret: String,
    pub previous_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The overlap of a rotation from a form or a body: a whole number of seconds, at most 30
/// days.
pub fn overlap(seconds: Option<i64>) -> Result<u64, FieldErrors> {
    match seconds {
        None => Ok(DEFAULT_OVERLAP_SECONDS),
        Some(s) if (0..=MAX_SECRET_OVERLAP_SECONDS as i64).contains(&s) => Ok(s as u64),
        Some(_) => {
            let mut fields = FieldErrors::new();
            fields.insert(
                "overlap_seconds",
                Message::new("admin_clients_overlap_invalid")
                    .with("max", MAX_SECRET_OVERLAP_SECONDS),
            );
            Err(fields)
        }
    }
}

/// Gives a secret client a new secret; the old one keeps working for `overlap_seconds`
/// (`admin.client.secret_rotated`; neither secret is recorded).
pub async fn rotate(
    app: &App,
    by: &By<'_>,
    client_id: &str,
    overlap_seconds: u64,
) -> Result<Rotated, ApiError> {
    let existing = find(app, client_id).await?;
    let secret = crate::random::token();
    let now = app.clock.now();
    let before = ClientView::of(&existing, &app.acr);
    let rotated = app
        .db
        .rotate_client_secret(
            client_id,
            &crate::random::sha256_hex(&secret),
            chrono::Duration::seconds(overlap_seconds as i64),
            now,
            |outcome| {
                let mut after = before.clone();
                after.version += 1;
                after.updated_at = Some(now.to_rfc3339());
                if let SecretRotation::Rotated {
                    previous_expires_at,
                    ..
                } = outcome
                {
                    after.previous_secret_expires_at = previous_expires_at.map(|t| t.to_rfc3339());
                }
                by.row(
                    app,
                    "admin.client.secret_rotated",
                    client_id,
                    before.audit_json(),
                    after.audit_json(),
                )
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict => stale(),
            other => unavailable(other),
        })?;
    match rotated {
        SecretRotation::Rotated {
            previous_expires_at,
            ..
        } => {
            app.client_changed(client_id).await;
            Ok(Rotated {
                secret,
                previous_expires_at,
            })
        }
        SecretRotation::NoSuchClient => Err(ApiError::NotFound),
        SecretRotation::NoSecret => Err(ApiError::BadRequest(Message::new(
            "admin_clients_no_secret",
        ))),
    }
}
