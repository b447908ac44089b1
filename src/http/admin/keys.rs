//! Signing keys at the API (`/admin/api/v1/signing-keys`) and in the console (`/admin/keys`).
//! The rules are in `crate::admin::signing_keys`; here requests become calls and outcomes
//! become answers.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::answers::{Answer, Extra, door, json_answer};
use super::api::{ApiError, ErrorBody, parse_json};
use super::console::{Admin, page_for, posted_by};
use crate::admin::signing_keys::{self, KeyAdminError, KeyView};
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::clock::Clock;
use crate::http::page::{self, PageRequest};
use crate::message::Message;

const PAGE: &str = "/admin/keys";

// --- API ----------------------------------------------------------------------------------

/// A refused change as the API tells it (the console shows the same); a failure of the
/// store or the key material is logged here, once.
fn refusal(e: KeyAdminError) -> ApiError {
    match e {
        KeyAdminError::Invalid(fields) => ApiError::Invalid(fields),
        KeyAdminError::NotFound => ApiError::NotFound,
        KeyAdminError::AlreadyRetired | KeyAdminError::Active => ApiError::Conflict(
            e.conflict_message()
                .unwrap_or(Message::new("admin_api_invalid")),
        ),
        KeyAdminError::Keys(e) => {
            tracing::error!(error = %e, "signing keys: the change failed");
            ApiError::Unavailable
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    /// Every key, retired ones too, by algorithm and activation.
    pub keys: Vec<KeyView>,
}

/// A rotation.
#[derive(Deserialize, ToSchema, Default)]
pub struct Rotation {
    /// Seconds until the new keys sign (0 to 7776000); default `keys.rotation_delay_seconds`.
    /// They are published at once, so relying parties can cache them first.
    pub delay_seconds: Option<i64>,
}

/// Every signing key with its state.
#[utoipa::path(
    get,
    path = "/admin/api/v1/signing-keys",
    tag = "signing keys",
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read signing keys", body = ErrorBody),
    )
)]
async fn list_keys(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let (call, _) = door(
        &app,
        &headers,
        &uri,
        peer,
        Resource::SigningKeys,
        Access::Read,
    )
    .await?;
    Ok(match signing_keys::list(&app).await {
        Ok(keys) => json_answer(StatusCode::OK, json!(KeyList { keys })),
        Err(e) => refusal(e).respond(&app, call.locale),
    })
}

/// A new key per algorithm, signing after the delay; every node has it within a second.
#[utoipa::path(
    post,
    path = "/admin/api/v1/signing-keys/rotate",
    tag = "signing keys",
    request_body(content = Rotation, description = "May be empty"),
    responses(
        (status = 201, description = "The new keys", body = KeyList),
        (status = 400, description = "Not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "Only an admin rotates keys", body = ErrorBody),
        (status = 422, description = "`delay_seconds` out of range", body = ErrorBody),
    )
)]
async fn rotate_keys(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let (call, ip) = door(
        &app,
        &headers,
        &uri,
        peer,
        Resource::SigningKeys,
        Access::Write,
    )
    .await?;
    let rotation: Rotation = if body.iter().all(u8::is_ascii_whitespace) {
        Rotation::default()
    } else {
        match parse_json(&body) {
            Ok(r) => r,
            Err(e) => return Err(e.respond(&app, call.locale)),
        }
    };
    let delay = rotation
        .delay_seconds
        .unwrap_or(app.config.keys.rotation_delay_seconds);
    Ok(
        match signing_keys::rotate(&app, &call.actor, &ip, delay).await {
            Ok(keys) => json_answer(StatusCode::CREATED, json!(KeyList { keys })),
            Err(e) => refusal(e).respond(&app, call.locale),
        },
    )
}

/// Retires a key: it leaves the JWKS at once and the tokens it signed stop verifying. The
/// key that signs now is refused (409): rotate first.
#[utoipa::path(
    post,
    path = "/admin/api/v1/signing-keys/{kid}/retire",
    tag = "signing keys",
    params(("kid" = String, Path, description = "The key's `kid`")),
    responses(
        (status = 200, description = "Retired", body = KeyView),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "Only an admin retires keys", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 409, description = "The key signs now, or is already retired", body = ErrorBody),
    )
)]
async fn retire_key(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(kid): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let (call, ip) = door(
        &app,
        &headers,
        &uri,
        peer,
        Resource::SigningKeys,
        Access::Write,
    )
    .await?;
    Ok(
        match signing_keys::retire(&app, &call.actor, &ip, &kid).await {
            Ok(view) => json_answer(StatusCode::OK, view.json()),
            Err(e) => refusal(e).respond(&app, call.locale),
        },
    )
}

pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_keys))
        .routes(routes!(rotate_keys))
        .routes(routes!(retire_key))
}

// --- console ------------------------------------------------------------------------------

pub fn console() -> Router<App> {
    Router::new()
        .route(PAGE, get(page_get))
        .route("/admin/keys/rotate", post(page_rotate))
        .route("/admin/keys/{kid}/retire", post(page_retire))
}

async fn render(
    app: &App,
    req: &PageRequest,
    admin: &Admin,
    status: StatusCode,
    extra: Extra,
) -> Response {
    let keys = match signing_keys::list(app).await {
        Ok(k) => k,
        Err(e) => return page::unavailable(app, req, &e),
    };
    let can_write = admin.actor.may(Resource::SigningKeys, Access::Write);
    let rows: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "alg": k.alg,
                "state": k.state,
                "state_label": req.t(app, &format!("admin_trust_key_state_{}", k.state)),
                "bad": k.state == "retired",
                "created_at": Clock::vietnam_time(k.created_at),
                "activates_at": Clock::vietnam_time(k.activates_at),
                "retired_at": k.retired_at.map(Clock::vietnam_time),
                "retire_action": (can_write && k.state != "retired" && k.state != "active")
                    .then(|| app.url(&format!("/admin/keys/{}/retire", k.kid))),
            })
        })
        .collect();
    let vars = json!({
        "home_url": app.url("/admin"),
        "keys": rows,
        "can_write": can_write,
        "rotate_action": app.url("/admin/keys/rotate"),
        "default_delay": app.config.keys.rotation_delay_seconds,
        "values": extra.values,
        "errors": extra.errors,
        "notice": extra.notice,
        "error": extra.error,
    });
    page::render(app, req, status, "admin_keys", "admin_section_keys", vars)
}

async fn page_get(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let ip = peer.ip().to_string();
    let (admin, req) = page_for(
        &app,
        &headers,
        &uri,
        Resource::SigningKeys,
        Access::Read,
        &ip,
    )
    .await?;
    let extra = Extra::done(
        &app,
        &req,
        &uri,
        &[
            ("rotated", "admin_trust_key_done_rotated"),
            ("retired", "admin_trust_key_done_retired"),
        ],
    );
    Ok(render(&app, &req, &admin, StatusCode::OK, extra).await)
}

async fn page_rotate(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Answer {
    let ip = peer.ip().to_string();
    let (admin, req, params) = posted_by(&app, request, Resource::SigningKeys, &ip, PAGE).await?;
    let raw_delay = params.get("delay_seconds").map(str::to_string);
    let values = json!({ "delay_seconds": raw_delay });
    if params.get("confirm") != Some("yes") {
        let extra = Extra::confirm_required(&app, &req, values);
        return Ok(render(&app, &req, &admin, StatusCode::BAD_REQUEST, extra).await);
    }
    let delay = match signing_keys::validate_delay(
        raw_delay.as_deref(),
        app.config.keys.rotation_delay_seconds,
    ) {
        Ok(d) => d,
        Err(fields) => {
            return Ok(refused(&app, &req, &admin, KeyAdminError::Invalid(fields), values).await);
        }
    };
    Ok(
        match signing_keys::rotate(&app, &admin.actor, &ip, delay).await {
            Ok(_) => Redirect::to(&app.url(&format!("{PAGE}?done=rotated"))).into_response(),
            Err(e) => refused(&app, &req, &admin, e, values).await,
        },
    )
}

async fn page_retire(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(kid): Path<String>,
    request: Request<Body>,
) -> Answer {
    let ip = peer.ip().to_string();
    let (admin, req, params) = posted_by(&app, request, Resource::SigningKeys, &ip, PAGE).await?;
    if params.get("confirm") != Some("yes") {
        let extra = Extra::confirm_required(&app, &req, Value::Null);
        return Ok(render(&app, &req, &admin, StatusCode::BAD_REQUEST, extra).await);
    }
    Ok(
        match signing_keys::retire(&app, &admin.actor, &ip, &kid).await {
            Ok(_) => Redirect::to(&app.url(&format!("{PAGE}?done=retired"))).into_response(),
            Err(e) => refused(&app, &req, &admin, e, Value::Null).await,
        },
    )
}

/// The page again with why a change was refused.
async fn refused(
    app: &App,
    req: &PageRequest,
    admin: &Admin,
    e: KeyAdminError,
    values: Value,
) -> Response {
    match Extra::refusal(app, req, refusal(e), values) {
        Ok((status, extra)) => render(app, req, admin, status, extra).await,
        Err(resp) => *resp,
    }
}
