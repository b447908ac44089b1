//! Trust anchors at the API (`/admin/api/v1/trust-anchors`) and in the console
//! (`/admin/trust-anchors`). The rules are in `crate::admin::trust_anchors`; here requests
//! become calls and outcomes become answers.

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
use crate::admin::trust_anchors::{self, AnchorView, TrustError};
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::clock::Clock;
use crate::domain::TrustSet;
use crate::http::page::{self, PageRequest};
use crate::message::Message;

const PAGE: &str = "/admin/trust-anchors";

// --- API ----------------------------------------------------------------------------------

/// A refused change as the API tells it (the console shows the same); a store failure is
/// logged here, once.
fn refusal(e: TrustError) -> ApiError {
    match e {
        TrustError::Invalid(fields) => ApiError::Invalid(fields),
        TrustError::NotFound => ApiError::NotFound,
        TrustError::Duplicate | TrustError::AlreadyRetired => ApiError::Conflict(
            e.conflict_message()
                .unwrap_or(Message::new("admin_api_invalid")),
        ),
        TrustError::Store(e) => {
            tracing::error!(error = %e, "trust anchors: the database did not answer");
            ApiError::Unavailable
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AnchorList {
    /// Both sets: configured and sandbox anchors (no id, read-only), then the uploaded ones,
    /// retired ones included.
    pub anchors: Vec<AnchorView>,
}

/// An upload: one CA certificate in PEM, into one set.
#[derive(Deserialize, ToSchema)]
pub struct AnchorUpload {
    /// `public` or `government`.
    pub trust_set: Option<String>,
    /// Exactly one PEM certificate: a CA (basicConstraints cA) allowed keyCertSign, valid now.
    pub pem: Option<String>,
}

/// Every trust anchor of both sets.
#[utoipa::path(
    get,
    path = "/admin/api/v1/trust-anchors",
    tag = "trust anchors",
    responses(
        (status = 200, description = "The anchors", body = AnchorList),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read trust anchors", body = ErrorBody),
    )
)]
async fn list_anchors(
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
        Resource::TrustAnchors,
        Access::Read,
    )
    .await?;
    Ok(match trust_anchors::list(&app).await {
        Ok(anchors) => json_answer(StatusCode::OK, json!(AnchorList { anchors })),
        Err(e) => refusal(e).respond(&app, call.locale),
    })
}

/// Adds a CA certificate to a trust set; every node uses it within a second.
#[utoipa::path(
    post,
    path = "/admin/api/v1/trust-anchors",
    tag = "trust anchors",
    request_body = AnchorUpload,
    responses(
        (status = 201, description = "Added", body = AnchorView),
        (status = 400, description = "Not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "Only an admin adds anchors", body = ErrorBody),
        (status = 409, description = "Already an active anchor of that set", body = ErrorBody),
        (status = 422, description = "Per field: `trust_set`, `pem`", body = ErrorBody),
    )
)]
async fn add_anchor(
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
        Resource::TrustAnchors,
        Access::Write,
    )
    .await?;
    let upload: AnchorUpload = match parse_json(&body) {
        Ok(u) => u,
        Err(e) => return Err(e.respond(&app, call.locale)),
    };
    let set = upload.trust_set.unwrap_or_default();
    let pem = upload.pem.unwrap_or_default();
    Ok(
        match trust_anchors::upload(&app, &call.actor, &ip, &set, &pem).await {
            Ok(view) => json_answer(StatusCode::CREATED, view.json()),
            Err(e) => refusal(e).respond(&app, call.locale),
        },
    )
}

/// Retires an uploaded anchor; every node stops using it within a second.
#[utoipa::path(
    post,
    path = "/admin/api/v1/trust-anchors/{id}/retire",
    tag = "trust anchors",
    params(("id" = String, Path, description = "The uploaded anchor's id")),
    responses(
        (status = 200, description = "Retired", body = AnchorView),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "Only an admin retires anchors", body = ErrorBody),
        (status = 404, description = "No uploaded anchor with this id (configured anchors cannot be retired here)", body = ErrorBody),
        (status = 409, description = "Already retired", body = ErrorBody),
    )
)]
async fn retire_anchor(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let (call, ip) = door(
        &app,
        &headers,
        &uri,
        peer,
        Resource::TrustAnchors,
        Access::Write,
    )
    .await?;
    Ok(
        match trust_anchors::retire(&app, &call.actor, &ip, &id).await {
            Ok(view) => json_answer(StatusCode::OK, view.json()),
            Err(e) => refusal(e).respond(&app, call.locale),
        },
    )
}

pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_anchors, add_anchor))
        .routes(routes!(retire_anchor))
}

// --- console ------------------------------------------------------------------------------

pub fn console() -> Router<App> {
    Router::new()
        .route(PAGE, get(page_get).post(page_upload))
        .route("/admin/trust-anchors/{id}/retire", post(page_retire))
}

async fn render(
    app: &App,
    req: &PageRequest,
    admin: &Admin,
    status: StatusCode,
    extra: Extra,
) -> Response {
    let anchors = match trust_anchors::list(app).await {
        Ok(a) => a,
        Err(e) => return page::unavailable(app, req, &e),
    };
    let can_write = admin.actor.may(Resource::TrustAnchors, Access::Write);
    let row = |a: &AnchorView| {
        json!({
            "id": a.id,
            "subject": a.subject,
            "sha256": fingerprint(&a.sha256),
            "not_after": Clock::vietnam_time(a.not_after),
            "source": req.t(app, &format!("admin_trust_source_{}", a.source)),
            "added_by": a.added_by,
            "added_at": a.added_at.map(Clock::vietnam_time),
            "retired_at": a.retired_at.map(Clock::vietnam_time),
            "retire_action": (can_write && a.id.is_some() && !a.retired())
                .then(|| app.url(&format!("/admin/trust-anchors/{}/retire", a.id.as_deref().unwrap_or_default()))),
        })
    };
    let sets: Vec<Value> = TrustSet::ALL
        .into_iter()
        .map(|set| {
            let rows: Vec<Value> = anchors
                .iter()
                .filter(|a| a.trust_set == set.as_str())
                .map(row)
                .collect();
            json!({
                "id": set.as_str(),
                "title": req.t(app, &format!("admin_trust_set_{}", set.as_str())),
                "anchors": rows,
            })
        })
        .collect();
    let mut values = extra.values;
    if values.get("trust_set").is_none() {
        values = json!({ "trust_set": "public", "pem": values.get("pem") });
    }
    let vars = json!({
        "home_url": app.url("/admin"),
        "sets": sets,
        "can_write": can_write,
        "upload_action": app.url(PAGE),
        "set_options": TrustSet::ALL.iter().map(|s| json!({
            "value": s.as_str(),
            "label": req.t(app, &format!("admin_trust_set_{}", s.as_str())),
            "selected": values["trust_set"] == s.as_str(),
        })).collect::<Vec<_>>(),
        "values": values,
        "errors": extra.errors,
        "notice": extra.notice,
        "error": extra.error,
    });
    page::render(
        app,
        req,
        status,
        "admin_trust_anchors",
        "admin_section_trust_anchors",
        vars,
    )
}

/// `AB:CD:…`, as certificate viewers show a fingerprint.
fn fingerprint(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
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
        Resource::TrustAnchors,
        Access::Read,
        &ip,
    )
    .await?;
    let extra = Extra::done(
        &app,
        &req,
        &uri,
        &[
            ("added", "admin_trust_done_added"),
            ("retired", "admin_trust_done_retired"),
        ],
    );
    Ok(render(&app, &req, &admin, StatusCode::OK, extra).await)
}

async fn page_upload(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Answer {
    let ip = peer.ip().to_string();
    let (admin, req, params) = posted_by(&app, request, Resource::TrustAnchors, &ip, PAGE).await?;
    let set = params.get("trust_set").unwrap_or_default().to_string();
    let pem = params.get("pem").unwrap_or_default().to_string();
    Ok(
        match trust_anchors::upload(&app, &admin.actor, &ip, &set, &pem).await {
            Ok(_) => Redirect::to(&app.url(&format!("{PAGE}?done=added"))).into_response(),
            Err(e) => {
                // A private key pasted by mistake is not sent back into the page.
                let kept = if pem.contains("PRIVATE KEY") {
                    ""
                } else {
                    pem.as_str()
                };
                let values = json!({ "trust_set": set, "pem": kept });
                refused(&app, &req, &admin, e, values).await
            }
        },
    )
}

async fn page_retire(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Answer {
    let ip = peer.ip().to_string();
    let (admin, req, params) = posted_by(&app, request, Resource::TrustAnchors, &ip, PAGE).await?;
    if params.get("confirm") != Some("yes") {
        let extra = Extra::confirm_required(&app, &req, Value::Null);
        return Ok(render(&app, &req, &admin, StatusCode::BAD_REQUEST, extra).await);
    }
    Ok(
        match trust_anchors::retire(&app, &admin.actor, &ip, &id).await {
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
    e: TrustError,
    values: Value,
) -> Response {
    match Extra::refusal(app, req, refusal(e), values) {
        Ok((status, extra)) => render(app, req, admin, status, extra).await,
        Err(resp) => *resp,
    }
}
