//! Accounts: the API (`/admin/api/v1/accounts…`) and the console (`/admin/accounts…`) around
//! `admin::accounts`. Reading needs `Resource::Accounts` read (admins, auditors); locking,
//! unlocking and revoking sessions need write (admins).

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
use super::console;
use super::refused::{api_query, api_refusal, confirmed, console_refusal, error_page, onto_page};
use crate::admin::accounts::{
    self, AccountSummary, AccountView, REASON_MAX, SearchInput, StatusRequest,
};
use crate::admin::refusal::Refusal;
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::clock::Clock;
use crate::http::page::{self, PageRequest};
use crate::http::registration::merge;
use crate::http::request::query_params;

// --- API ------------------------------------------------------------------------------------

/// A list of accounts.
#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountSummary>,
}

/// A lock or an unlock.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct StatusBody {
    /// Why (required to lock, at most 500 characters; kept in the audit trail).
    pub reason: Option<String>,
    /// The status the caller saw (`active` to lock, `locked` to unlock). If the account has
    /// changed since, the answer is 409 `conflict` and nothing is changed.
    pub expected_status: Option<String>,
}

/// After "revoke sessions and tokens".
#[derive(Serialize, ToSchema)]
pub struct SessionsRevoked {
    /// How many SSO sessions were ended.
    pub sessions_ended: usize,
}

/// Accounts by exactly one key: ID number (CCCD/CMND, or an official's), tax code, or phone
/// (any phone of an account, verified or not). No match: an empty list.
#[utoipa::path(
    get,
    path = "/admin/api/v1/accounts",
    tag = "accounts",
    params(
        ("id_number" = Option<String>, Query, description = "CCCD (12 digits) or CMND (9 digits)"),
        ("tax_code" = Option<String>, Query, description = "Mã số thuế (10 digits, or a branch's 13)"),
        ("phone" = Option<String>, Query, description = "0912345678 or +84912345678"),
    ),
    responses(
        (status = 200, description = "The accounts found", body = AccountList),
        (status = 400, description = "No key, or a malformed query", body = ErrorBody),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read accounts", body = ErrorBody),
        (status = 422, description = "Two keys, or a key that is not valid", body = ErrorBody),
    )
)]
async fn search_accounts(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call =
        match api::authorize(&app, &headers, &uri, &ip, Resource::Accounts, Access::Read).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
    let found = async {
        let q = api_query(&uri)?;
        let key = accounts::search_key(&search_input(&q))?;
        accounts::search(&app, &key).await
    }
    .await;
    match found {
        Ok(accounts) => Json(AccountList { accounts }).into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

fn search_input(q: &crate::oidc::params::Params) -> SearchInput {
    let field = |name: &str| q.get(name).unwrap_or_default().to_string();
    SearchInput {
        id_number: field("id_number"),
        tax_code: field("tax_code"),
        phone: field("phone"),
    }
}

/// One account: identity, status, level and its history, registration, phones (full
/// numbers), email, credentials (never their secrets), live sessions, roles. Audited
/// `admin.account.viewed`.
#[utoipa::path(
    get,
    path = "/admin/api/v1/accounts/{id}",
    tag = "accounts",
    params(("id" = String, Path, description = "The account id (its `sub` for public clients)")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read accounts", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
async fn get_account(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call =
        match api::authorize(&app, &headers, &uri, &ip, Resource::Accounts, Access::Read).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
    match accounts::view(&app, &call.actor, &id, &ip).await {
        Ok(view) => Json(view).into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

/// What a status change at the API does.
#[derive(Clone, Copy)]
enum Change {
    Lock,
    Unlock,
}

async fn change_status(
    app: App,
    peer: SocketAddr,
    id: String,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
    change: Change,
) -> Response {
    let ip = peer.ip().to_string();
    let call =
        match api::authorize(&app, &headers, &uri, &ip, Resource::Accounts, Access::Write).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
    let body: StatusBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return e.respond(&app, call.locale),
    };
    let req = StatusRequest {
        reason: body.reason.unwrap_or_default(),
        expected_status: body.expected_status.unwrap_or_default(),
    };
    let done = match change {
        Change::Lock => accounts::lock(&app, &call.actor, &id, &req, &ip).await,
        Change::Unlock => accounts::unlock(&app, &call.actor, &id, &req, &ip).await,
    };
    match done {
        Ok(summary) => Json(summary).into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

/// Locks an active account: no login, refresh or userinfo until unlocked; every SSO session
/// ends (back-channel logout) and every refresh token is revoked. Audited
/// `admin.account.locked` with the reason.
#[utoipa::path(
    post,
    path = "/admin/api/v1/accounts/{id}/lock",
    tag = "accounts",
    params(("id" = String, Path, description = "The account id")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "Locked", body = AccountSummary),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not change accounts", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "The account changed since the caller saw it", body = ErrorBody),
        (status = 422, description = "No reason, or not `expected_status: active`", body = ErrorBody),
    )
)]
async fn lock_account(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    change_status(app, peer, id, headers, uri, body, Change::Lock).await
}

/// Unlocks a locked account, unless a complaint holds it locked (409 naming the ticket: the
/// complaint's outcome at the counter unlocks it). Audited `admin.account.unlocked`.
#[utoipa::path(
    post,
    path = "/admin/api/v1/accounts/{id}/unlock",
    tag = "accounts",
    params(("id" = String, Path, description = "The account id")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "Unlocked", body = AccountSummary),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not change accounts", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Changed since seen, or held by a complaint", body = ErrorBody),
        (status = 422, description = "Not `expected_status: locked`", body = ErrorBody),
    )
)]
async fn unlock_account(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    change_status(app, peer, id, headers, uri, body, Change::Unlock).await
}

/// Ends every SSO session of the account (back-channel logout) and revokes every refresh
/// token. Audited `admin.account.sessions_revoked`.
#[utoipa::path(
    post,
    path = "/admin/api/v1/accounts/{id}/revoke-sessions",
    tag = "accounts",
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "Done", body = SessionsRevoked),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not change accounts", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
async fn revoke_account_sessions(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call =
        match api::authorize(&app, &headers, &uri, &ip, Resource::Accounts, Access::Write).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
    match accounts::revoke_sessions(&app, &call.actor, &id, &ip).await {
        Ok(n) => Json(SessionsRevoked { sessions_ended: n }).into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(search_accounts))
        .routes(routes!(get_account))
        .routes(routes!(lock_account))
        .routes(routes!(unlock_account))
        .routes(routes!(revoke_account_sessions))
}

// --- console --------------------------------------------------------------------------------

pub fn console() -> Router<App> {
    Router::new()
        .route("/admin/accounts", get(search_page))
        .route("/admin/accounts/{id}", get(account_page))
        .route("/admin/accounts/{id}/{action}", post(act))
}

/// "Tài khoản": the search form and, once a key is typed, the results.
async fn search_page(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let (_, req) = match console::page_for(
        &app,
        &headers,
        &uri,
        Resource::Accounts,
        Access::Read,
        &ip,
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let q = query_params(&uri).unwrap_or_default();
    let input = search_input(&q);
    let mut vars = json!({
        "action": app.url("/admin/accounts"),
        "values": { "id_number": input.id_number, "tax_code": input.tax_code, "phone": input.phone },
        "errors": {},
        "searched": false,
        "results": [],
    });
    let mut status = StatusCode::OK;
    if !input.is_empty() {
        let found = match accounts::search_key(&input) {
            Ok(key) => accounts::search(&app, &key).await,
            Err(r) => Err(r),
        };
        match found {
            Ok(list) => {
                vars["searched"] = json!(true);
                vars["results"] = json!(
                    list.iter()
                        .map(|a| summary_vars(&app, &req, a))
                        .collect::<Vec<_>>()
                );
            }
            Err(r) => match onto_page(&app, &req, &r, &mut vars) {
                Ok(s) => status = s,
                Err(resp) => return *resp,
            },
        }
    }
    page::render(
        &app,
        &req,
        status,
        "admin_accounts",
        "admin_section_accounts",
        vars,
    )
}

fn summary_vars(app: &App, req: &PageRequest, a: &AccountSummary) -> Value {
    json!({
        "url": app.url(&format!("/admin/accounts/{}", a.id)),
        "id": a.id,
        "full_name": a.full_name,
        "subject_type": req.t(app, &format!("admin_accounts_subject_{}", a.subject_type)),
        "ial": a.ial,
        "status": a.status,
        "status_label": req.t(app, &format!("admin_accounts_status_{}", a.status)),
        "locked": a.status != "active",
    })
}

/// One account (audited `admin.account.viewed`), with its forms.
async fn account_page(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let (admin, req) = match console::page_for(
        &app,
        &headers,
        &uri,
        Resource::Accounts,
        Access::Read,
        &ip,
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    // `?done=locked` after an action: what was just done.
    let notice = query_params(&uri)
        .ok()
        .and_then(|p| p.get("done").map(str::to_string))
        .filter(|d| ["locked", "unlocked", "sessions_revoked"].contains(&d.as_str()))
        .map(|d| req.t(&app, &format!("admin_accounts_done_{d}")));
    let may_write = admin.actor.may(Resource::Accounts, Access::Write);
    let extra = json!({ "notice": notice });
    render_account(
        &app,
        &req,
        &admin.actor,
        &id,
        may_write,
        &ip,
        StatusCode::OK,
        extra,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn render_account(
    app: &App,
    req: &PageRequest,
    actor: &crate::admin::Actor,
    id: &str,
    may_write: bool,
    ip: &str,
    status: StatusCode,
    extra: Value,
) -> Response {
    let view = match accounts::view(app, actor, id, ip).await {
        Ok(v) => v,
        Err(r) => return error_page(app, req, &r),
    };
    let mut vars = account_vars(app, req, &view, may_write);
    merge(&mut vars, extra);
    page::render(
        app,
        req,
        status,
        "admin_account",
        "admin_section_accounts",
        vars,
    )
}

fn account_vars(app: &App, req: &PageRequest, v: &AccountView, may_write: bool) -> Value {
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(Clock::vietnam_time);
    let action = |a: &str| app.url(&format!("/admin/accounts/{}/{a}", v.id));
    let label = |prefix: &str, value: &str| req.t(app, &format!("{prefix}{value}"));
    json!({
        "back_url": app.url("/admin/accounts"),
        "account": {
            "id": v.id,
            "full_name": v.full_name,
            "subject_type": label("admin_accounts_subject_", &v.subject_type),
            "birthdate": v.birthdate.map(|d| d.format("%d/%m/%Y").to_string()),
            "id_number": v.id_number,
            "tax_code": v.tax_code,
            "official_id": v.official_id,
            "organization": v.organization,
            "status": v.status,
            "status_label": label("admin_accounts_status_", &v.status),
            "locked": v.status != "active",
            "ial": v.ial,
            "registration_method": v.registration_method,
            "created": when(v.created_at),
            "email": v.email,
            "email_verified": v.email_verified,
            "held_by_complaint": v.held_by_complaint,
        },
        "levels": v.levels.iter().map(|l| json!({
            "level": l.level, "method": l.method, "at": Clock::vietnam_time(l.at),
        })).collect::<Vec<_>>(),
        "phones": v.phones.iter().map(|p| json!({
            "number": p.national, "e164": p.number, "verified": p.verified,
            "is_default": p.is_default, "added": Clock::vietnam_time(p.added_at),
        })).collect::<Vec<_>>(),
        "credentials": v.credentials.iter().map(|c| json!({
            "kind": c.kind, "label": c.label, "created": Clock::vietnam_time(c.created_at),
            "last_used": when(c.last_used_at),
        })).collect::<Vec<_>>(),
        "sessions": v.sessions.iter().map(|s| json!({
            "sid": s.sid, "started": when(s.auth_time), "expires": when(s.expires_at),
            "amr": s.amr.join(" "), "ial": s.ial, "clients": s.clients.join(", "),
        })).collect::<Vec<_>>(),
        "roles": v.roles.iter().map(|r| json!({
            "role": label("role_", &r.role), "office": r.office,
            "granted": Clock::vietnam_time(r.granted_at),
        })).collect::<Vec<_>>(),
        "may_write": may_write,
        "lock_action": (may_write && v.status == "active").then(|| action("lock")),
        "unlock_action": (may_write && v.status == "locked").then(|| action("unlock")),
        "revoke_action": may_write.then(|| action("revoke-sessions")),
        "reason_max": REASON_MAX,
        "complaint_url": v.held_by_complaint.as_ref()
            .map(|t| app.url(&format!("/counter/complaints/{t}"))),
        "errors": {},
        "values": {},
    })
}

/// `POST /admin/accounts/{id}/lock|unlock|revoke-sessions`: CSRF, the write permission, the
/// confirmation box; then the action, and back to the account with what was done.
async fn act(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, action)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    let ip = peer.ip().to_string();
    let back = format!("/admin/accounts/{id}");
    let (admin, req, params) =
        match console::posted_by(&app, request, Resource::Accounts, &ip, &back).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let field = |name: &str| params.get(name).unwrap_or_default().to_string();
    let status_req = StatusRequest {
        reason: field("reason"),
        expected_status: field("expected_status"),
    };
    let values = json!({ "reason": status_req.reason });
    let known = ["lock", "unlock", "revoke-sessions"].contains(&action.as_str());
    let done: Result<&str, Refusal> = if known && !confirmed(&params) {
        Err(Refusal::field("confirm", "admin_confirm_required"))
    } else {
        match action.as_str() {
            "lock" => accounts::lock(&app, &admin.actor, &id, &status_req, &ip)
                .await
                .map(|_| "locked"),
            "unlock" => accounts::unlock(&app, &admin.actor, &id, &status_req, &ip)
                .await
                .map(|_| "unlocked"),
            "revoke-sessions" => accounts::revoke_sessions(&app, &admin.actor, &id, &ip)
                .await
                .map(|_| "sessions_revoked"),
            _ => Err(Refusal::NotFound),
        }
    };
    let refusal = match done {
        Ok(what) => {
            let url = format!("/admin/accounts/{id}?done={what}");
            return Redirect::to(&app.url(&url)).into_response();
        }
        Err(r) => r,
    };
    let (status, mut extra) = match console_refusal(&app, &req, &refusal) {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    if matches!(&refusal, Refusal::Invalid(f) if f.contains_key("confirm")) {
        extra["error"] = json!(page::text(
            &app,
            &req,
            &crate::message::Message::new("admin_confirm_required")
        ));
    }
    extra["values"] = values;
    render_account(&app, &req, &admin.actor, &id, true, &ip, status, extra).await
}
