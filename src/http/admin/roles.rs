//! Staff roles: the API (`/admin/api/v1/roles…`) and the console (`/admin/roles`) around
//! `admin::roles`. Admins and auditors read; only admins grant and revoke.

use std::net::SocketAddr;

use axum::Json;
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

use super::api::{self, ErrorBody, parse_json};
use super::console::{self, Admin};
use super::refused::{api_refusal, confirmed, console_refusal, error_page};
use crate::admin::refusal::Refusal;
use crate::admin::roles::{self, GrantRequest, Holder, OFFICE_MAX, RoleHolders};
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::clock::Clock;
use crate::domain::Role;
use crate::http::page::{self, PageRequest};
use crate::http::registration::merge;
use crate::http::request::query_params;

// --- API ------------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct RoleList {
    pub roles: Vec<RoleHolders>,
}

/// A grant.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct GrantBody {
    /// The account's ID number (a citizen's CCCD/CMND, or an official's).
    pub id_number: Option<String>,
    /// `admin`, `client_manager`, `counter_officer` or `auditor`.
    pub role: Option<String>,
    /// Required for a counter officer: the post office or service desk (≤ 200 characters).
    pub office: Option<String>,
}

/// Every role and its holders.
#[utoipa::path(
    get,
    path = "/admin/api/v1/roles",
    tag = "roles",
    responses(
        (status = 200, description = "The roles and their holders", body = RoleList),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read roles", body = ErrorBody),
    )
)]
async fn list_roles(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call = match api::authorize(&app, &headers, &uri, &ip, Resource::Roles, Access::Read).await
    {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match roles::holders(&app).await {
        Ok(roles) => Json(RoleList { roles }).into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

/// Gives an account a role. Audited `role.granted` with the roles before and after.
#[utoipa::path(
    post,
    path = "/admin/api/v1/roles/grants",
    tag = "roles",
    request_body = GrantBody,
    responses(
        (status = 201, description = "Granted", body = Holder),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "Only admins change roles", body = ErrorBody),
        (status = 409, description = "The account already holds the role", body = ErrorBody),
        (status = 422, description = "A field that is not valid, or no account with that ID number", body = ErrorBody),
    )
)]
async fn grant_role(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let ip = peer.ip().to_string();
    let call = match api::authorize(&app, &headers, &uri, &ip, Resource::Roles, Access::Write).await
    {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let body: GrantBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return e.respond(&app, call.locale),
    };
    let req = GrantRequest {
        id_number: body.id_number.unwrap_or_default(),
        role: body.role.unwrap_or_default(),
        office: body.office.unwrap_or_default(),
    };
    match roles::grant(&app, &call.actor, &req, &ip).await {
        Ok(holder) => (StatusCode::CREATED, Json(holder)).into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

/// Takes a role from an account. The last admin grant is kept (409). Audited `role.revoked`.
#[utoipa::path(
    delete,
    path = "/admin/api/v1/roles/{role}/holders/{account_id}",
    tag = "roles",
    params(
        ("role" = String, Path, description = "`admin`, `client_manager`, `counter_officer` or `auditor`"),
        ("account_id" = String, Path, description = "The holder's account id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "Only admins change roles", body = ErrorBody),
        (status = 404, description = "No such role, account or grant", body = ErrorBody),
        (status = 409, description = "The last admin", body = ErrorBody),
    )
)]
async fn revoke_role(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((role, account_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call = match api::authorize(&app, &headers, &uri, &ip, Resource::Roles, Access::Write).await
    {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let done = match roles::role_named(&role) {
        Some(role) => roles::revoke(&app, &call.actor, &account_id, role, &ip).await,
        None => Err(Refusal::NotFound),
    };
    match done {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_roles))
        .routes(routes!(grant_role))
        .routes(routes!(revoke_role))
}

// --- console --------------------------------------------------------------------------------

pub fn console() -> Router<App> {
    Router::new()
        .route("/admin/roles", get(roles_page))
        .route("/admin/roles/grant", post(grant_posted))
        .route("/admin/roles/revoke", post(revoke_posted))
}

async fn roles_page(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let (admin, req) =
        match console::page_for(&app, &headers, &uri, Resource::Roles, Access::Read, &ip).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let notice = query_params(&uri)
        .ok()
        .and_then(|p| p.get("done").map(str::to_string))
        .filter(|d| ["granted", "revoked"].contains(&d.as_str()))
        .map(|d| req.t(&app, &format!("admin_accounts_roles_done_{d}")));
    render(
        &app,
        &req,
        &admin,
        StatusCode::OK,
        json!({ "notice": notice }),
    )
    .await
}

async fn render(
    app: &App,
    req: &PageRequest,
    admin: &Admin,
    status: StatusCode,
    extra: Value,
) -> Response {
    let list = match roles::holders(app).await {
        Ok(list) => list,
        Err(r) => return error_page(app, req, &r),
    };
    let may_write = admin.actor.may(Resource::Roles, Access::Write);
    let groups: Vec<Value> = list
        .iter()
        .map(|g| {
            json!({
                "role": g.role,
                "title": req.t(app, &format!("role_{}", g.role)),
                "holders": g.holders.iter().map(|h| json!({
                    "account_id": h.account_id,
                    "full_name": h.full_name,
                    "id_number": h.id_number,
                    "office": h.office,
                    "granted_by": h.granted_by,
                    "granted_by_url": h.granted_by.as_ref()
                        .map(|by| app.url(&format!("/admin/accounts/{by}"))),
                    "granted": Clock::vietnam_time(h.granted_at),
                    "account_url": app.url(&format!("/admin/accounts/{}", h.account_id)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let role_options: Vec<Value> = Role::ALL
        .iter()
        .map(|r| json!({ "value": r.name(), "label": req.t(app, &format!("role_{}", r.name())) }))
        .collect();
    let mut vars = json!({
        "groups": groups,
        "may_write": may_write,
        "grant_action": app.url("/admin/roles/grant"),
        "revoke_action": app.url("/admin/roles/revoke"),
        "role_options": role_options,
        "office_max": OFFICE_MAX,
        "values": {},
        "errors": {},
    });
    merge(&mut vars, extra);
    page::render(app, req, status, "admin_roles", "admin_section_roles", vars)
}

async fn grant_posted(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let ip = peer.ip().to_string();
    let (admin, req, params) =
        match console::posted_by(&app, request, Resource::Roles, &ip, "/admin/roles").await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let field = |name: &str| params.get(name).unwrap_or_default().to_string();
    let grant = GrantRequest {
        id_number: field("id_number"),
        role: field("role"),
        office: field("office"),
    };
    match roles::grant(&app, &admin.actor, &grant, &ip).await {
        Ok(_) => Redirect::to(&app.url("/admin/roles?done=granted")).into_response(),
        Err(r) => {
            let (status, mut extra) = match console_refusal(&app, &req, &r) {
                Ok(x) => x,
                Err(resp) => return *resp,
            };
            extra["values"] = json!({
                "id_number": grant.id_number, "role": grant.role, "office": grant.office,
            });
            render(&app, &req, &admin, status, extra).await
        }
    }
}

async fn revoke_posted(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let ip = peer.ip().to_string();
    let (admin, req, params) =
        match console::posted_by(&app, request, Resource::Roles, &ip, "/admin/roles").await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let account_id = params.get("account_id").unwrap_or_default().to_string();
    let done = if !confirmed(&params) {
        Err(Refusal::Conflict(crate::message::Message::new(
            "admin_confirm_required",
        )))
    } else {
        match params.get("role").and_then(roles::role_named) {
            Some(role) => roles::revoke(&app, &admin.actor, &account_id, role, &ip).await,
            None => Err(Refusal::NotFound),
        }
    };
    match done {
        Ok(()) => Redirect::to(&app.url("/admin/roles?done=revoked")).into_response(),
        Err(r) => {
            let (mut status, extra) = match console_refusal(&app, &req, &r) {
                Ok(x) => x,
                Err(resp) => return *resp,
            };
            if !confirmed(&params) {
                status = StatusCode::BAD_REQUEST;
            }
            render(&app, &req, &admin, status, extra).await
        }
    }
}
