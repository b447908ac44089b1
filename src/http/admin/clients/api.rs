//! `/admin/api/v1/clients`: list, create, read, replace, delete, disable, enable and rotate a
//! client's secret. Reads need the clients' read permission (admin, client manager, auditor),
//! changes their write permission (admin, client manager). An edit names the version it is
//! based on (`version` in the body, or `If-Match: "<version>"`); a stale one is 409.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{By, Saved};
use crate::admin::clients::{ClientDraft, ClientView};
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::http::admin::api::{ApiCall, ApiError, ErrorBody, authorize, parse_json};
use crate::message::{FieldErrors, Message};

/// A client with, right after it was given one, its secret: shown this once, never again.
#[derive(Serialize, ToSchema)]
pub struct SavedClient {
    #[serde(flatten)]
    pub client: ClientView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The version a deletion is based on (or `If-Match`).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    pub version: Option<i32>,
}

/// How long the replaced secret keeps working.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Seconds, 0 to 2592000 (30 days); default 86400.
    pub overlap_seconds: Option<i64>,
}

/// A new secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    /// Until when the replaced secret still works (none: it stopped at once).
    pub previous_expires_at: Option<String>,
}

/// The API's view of `Saved`, with its `ETag`.
fn saved(app: &App, status: StatusCode, s: Saved) -> Response {
    let etag = etag(s.client.version);
    let body = SavedClient {
        client: ClientView::of(&s.client, &app.acr),
        client_secret: s.secret,
    };
    let mut resp = (status, Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version of `If-Match` (`"3"`, `W/"3"` or `3`).
fn if_match(headers: &HeaderMap) -> Option<i32> {
    let v = headers.get(header::IF_MATCH)?.to_str().ok()?.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

/// The version an edit is based on: the body's, else `If-Match`'s; neither is a field error.
fn version_of(body: Option<i32>, headers: &HeaderMap) -> Result<i32, ApiError> {
    body.or_else(|| if_match(headers)).ok_or_else(|| {
        let mut fields = FieldErrors::new();
        fields.insert("version", Message::new("admin_clients_version_required"));
        ApiError::Invalid(fields)
    })
}

/// A JSON object body of type `T` (serde would also take an array for a struct: not here).
fn parse_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = parse_json(body)?;
    if !value.is_object() {
        return Err(ApiError::BadRequest(Message::new("admin_api_bad_json")));
    }
    serde_json::from_value(value)
        .map_err(|_| ApiError::BadRequest(Message::new("admin_api_bad_json")))
}

/// The caller, allowed `access` to clients, or the answer.
async fn caller(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    peer: SocketAddr,
    access: Access,
) -> Result<ApiCall, Response> {
    authorize(
        app,
        headers,
        uri,
        &peer.ip().to_string(),
        Resource::Clients,
        access,
    )
    .await
}

/// Every client, by id.
#[utoipa::path(
    get,
    path = "/admin/api/v1/clients",
    tag = "clients",
    responses(
        (status = 200, description = "Every client", body = Vec<ClientView>),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The role may not read clients", body = ErrorBody),
    )
)]
async fn list_clients(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match caller(&app, &headers, &uri, peer, Access::Read).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match super::list(&app).await {
        Ok(clients) => Json(
            clients
                .iter()
                .map(|c| ClientView::of(c, &app.acr))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => e.respond(&app, call.locale),
    }
}

/// Registers a client. A client_secret_basic/post client's secret is in the answer, once.
#[utoipa::path(
    post,
    path = "/admin/api/v1/clients",
    tag = "clients",
    request_body = ClientDraft,
    responses(
        (status = 201, description = "Registered", body = SavedClient),
        (status = 400, description = "Not JSON of this shape", body = ErrorBody),
        (status = 409, description = "The client_id is taken", body = ErrorBody),
        (status = 422, description = "Fields that do not pass", body = ErrorBody),
    )
)]
async fn create_client(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match caller(&app, &headers, &uri, peer, Access::Write).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let by = By {
        actor: &call.actor,
        ip: &ip,
    };
    let result = match parse_object::<ClientDraft>(&body) {
        Ok(draft) => super::create(&app, &by, &draft).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(s) => saved(&app, StatusCode::CREATED, s),
        Err(e) => e.respond(&app, call.locale),
    }
}

/// A client, with its version as `ETag`.
#[utoipa::path(
    get,
    path = "/admin/api/v1/clients/{client_id}",
    tag = "clients",
    params(("client_id" = String, Path, description = "The client")),
    responses(
        (status = 200, description = "The client", body = ClientView),
        (status = 404, description = "No such client", body = ErrorBody),
    )
)]
async fn get_client(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match caller(&app, &headers, &uri, peer, Access::Read).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match super::find(&app, &client_id).await {
        Ok(client) => saved(
            &app,
            StatusCode::OK,
            Saved {
                client,
                secret: None,
            },
        ),
        Err(e) => e.respond(&app, call.locale),
    }
}

/// Replaces every editable field (the body is the whole registration, `version` included).
/// A client that comes to use a secret gets one, in the answer, once.
#[utoipa::path(
    put,
    path = "/admin/api/v1/clients/{client_id}",
    tag = "clients",
    params(("client_id" = String, Path, description = "The client")),
    request_body = ClientDraft,
    responses(
        (status = 200, description = "Saved", body = SavedClient),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "Changed since `version` (stale edit): nothing written", body = ErrorBody),
        (status = 422, description = "Fields that do not pass", body = ErrorBody),
    )
)]
async fn put_client(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match caller(&app, &headers, &uri, peer, Access::Write).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let by = By {
        actor: &call.actor,
        ip: &ip,
    };
    let result = async {
        let draft = parse_object::<ClientDraft>(&body)?;
        let version = version_of(draft.version, &headers)?;
        super::update(&app, &by, &client_id, &draft, version).await
    }
    .await;
    match result {
        Ok(s) => saved(&app, StatusCode::OK, s),
        Err(e) => e.respond(&app, call.locale),
    }
}

/// Removes a client with its consents and refresh tokens (`version` in the body, or
/// `If-Match`). Access tokens already issued live out their lifetime.
#[utoipa::path(
    delete,
    path = "/admin/api/v1/clients/{client_id}",
    tag = "clients",
    params(("client_id" = String, Path, description = "The client")),
    request_body(content = VersionBody, description = "Or If-Match"),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "Changed since `version`", body = ErrorBody),
    )
)]
async fn delete_client(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match caller(&app, &headers, &uri, peer, Access::Write).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let by = By {
        actor: &call.actor,
        ip: &ip,
    };
    let result = async {
        let body: VersionBody = if body.is_empty() {
            VersionBody::default()
        } else {
            parse_object(&body)?
        };
        let version = version_of(body.version, &headers)?;
        super::delete(&app, &by, &client_id, version).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.respond(&app, call.locale),
    }
}

async fn switch(
    app: App,
    peer: SocketAddr,
    client_id: String,
    headers: HeaderMap,
    uri: Uri,
    disabled: bool,
) -> Response {
    let call = match caller(&app, &headers, &uri, peer, Access::Write).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let by = By {
        actor: &call.actor,
        ip: &ip,
    };
    match super::set_disabled(&app, &by, &client_id, disabled).await {
        Ok(s) => saved(&app, StatusCode::OK, s),
        Err(e) => e.respond(&app, call.locale),
    }
}

/// Disables a client: refused like an unknown client at authorize, token, introspection and
/// revocation from the next request, on every node; its tokens live out their lifetime.
#[utoipa::path(
    post,
    path = "/admin/api/v1/clients/{client_id}/disable",
    tag = "clients",
    params(("client_id" = String, Path, description = "The client")),
    responses(
        (status = 200, description = "Disabled", body = ClientView),
        (status = 404, description = "No such client", body = ErrorBody),
    )
)]
async fn disable_client(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    switch(app, peer, client_id, headers, uri, true).await
}

/// Enables a disabled client again.
#[utoipa::path(
    post,
    path = "/admin/api/v1/clients/{client_id}/enable",
    tag = "clients",
    params(("client_id" = String, Path, description = "The client")),
    responses(
        (status = 200, description = "Enabled", body = ClientView),
        (status = 404, description = "No such client", body = ErrorBody),
    )
)]
async fn enable_client(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    switch(app, peer, client_id, headers, uri, false).await
}

/// Gives a secret client a new secret (in the answer, once); the replaced one keeps working
/// for `overlap_seconds`, so the portal's servers switch one by one. Only one previous secret
/// is kept: a second rotation within the overlap ends the older one at once.
#[utoipa::path(
    post,
    path = "/admin/api/v1/clients/{client_id}/rotate-secret",
    tag = "clients",
    params(("client_id" = String, Path, description = "The client")),
    request_body = RotateBody,
    responses(
        (status = 200, description = "Rotated", body = RotatedSecret),
        (status = 400, description = "The client has no secret (public or private_key_jwt)", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 422, description = "overlap_seconds out of range", body = ErrorBody),
    )
)]
async fn rotate_secret(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match caller(&app, &headers, &uri, peer, Access::Write).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let by = By {
        actor: &call.actor,
        ip: &ip,
    };
    let result = async {
        let body: RotateBody = if body.is_empty() {
            RotateBody::default()
        } else {
            parse_object(&body)?
        };
        let overlap = super::overlap(body.overlap_seconds).map_err(ApiError::Invalid)?;
        super::rotate(&app, &by, &client_id, overlap).await
    }
    .await;
    match result {
        Ok(r) => {
            let mut resp = Json(RotatedSecret {
                client_id,
                client_secret: r.secret,
                previous_expires_at: r.previous_expires_at.map(|t| t.to_rfc3339()),
            })
            .into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.respond(&app, call.locale),
    }
}

pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, put_client, delete_client))
        .routes(routes!(disable_client))
        .routes(routes!(enable_client))
        .routes(routes!(rotate_secret))
}
