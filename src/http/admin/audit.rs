//! The audit trail: the API (`/admin/api/v1/audit-events`, and `.csv`) and the console
//! (`/admin/audit`, and `/admin/audit.csv`) around `admin::audit_trail`. Admins and auditors
//! read it; nobody writes it through the admin area.
//!
//! The CSV export is streamed: read from the database [`EXPORT_BATCH`] rows at a time and
//! sent as it is read, at most [`EXPORT_MAX`] rows (newest first). It starts only after its
//! audit row (`admin.audit.exported`) is written.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{self, ErrorBody};
use super::console;
use super::refused::{api_query, api_refusal, error_page, onto_page};
use crate::admin::audit_trail::{
    self, CSV_HEADER, EXPORT_BATCH, EXPORT_MAX, EventPage, EventView, Filter, RawFilter,
};
use crate::admin::refusal::Refusal;
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::clock::Clock;
use crate::http::page;
use crate::http::request::query_params;
use crate::oidc::params::Params;

fn raw_filter(q: &Params) -> RawFilter {
    let field = |name: &str| q.get(name).unwrap_or_default().to_string();
    RawFilter {
        actor: field("actor"),
        actor_id_number: field("actor_id_number"),
        account: field("account"),
        kind: field("kind"),
        from: field("from"),
        to: field("to"),
        limit: field("limit"),
        cursor: field("cursor"),
    }
}

/// Audit events, newest first, filtered; a page at a time (`limit` ≤ 500, `cursor` from the
/// previous page's `next_cursor`).
#[utoipa::path(
    get,
    path = "/admin/api/v1/audit-events",
    tag = "audit",
    params(
        ("actor" = Option<String>, Query, description = "Who did it: an account id, or `client:<client_id>`"),
        ("account" = Option<String>, Query, description = "The account the events are about"),
        ("kind" = Option<String>, Query, description = "A kind (`admin.account.locked`), or a prefix ending in `.` or `*` (`admin.`)"),
        ("from" = Option<String>, Query, description = "From (inclusive): RFC 3339, `yyyy-mm-dd` or `dd/mm/yyyy` (a day in Vietnam time)"),
        ("to" = Option<String>, Query, description = "Up to (exclusive; a day includes itself)"),
        ("limit" = Option<u64>, Query, description = "1–500, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read the audit trail", body = ErrorBody),
        (status = 422, description = "A filter that is not valid", body = ErrorBody),
    )
)]
async fn list_audit_events(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call = match api::authorize(&app, &headers, &uri, &ip, Resource::Audit, Access::Read).await
    {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let page = async {
        let raw = raw_filter(&api_query(&uri)?);
        let f = audit_trail::filter(&app, &raw).await?;
        audit_trail::page(&app, &f).await
    }
    .await;
    match page {
        Ok(page) => Json(page).into_response(),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

/// The filtered events as CSV (RFC 4180, a header row, formulas neutralised with a leading
/// `'`), newest first, at most 100 000 rows, streamed. Audited `admin.audit.exported`.
#[utoipa::path(
    get,
    path = "/admin/api/v1/audit-events.csv",
    tag = "audit",
    params(
        ("actor" = Option<String>, Query, description = "As for /admin/api/v1/audit-events"),
        ("account" = Option<String>, Query),
        ("kind" = Option<String>, Query),
        ("from" = Option<String>, Query),
        ("to" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "text/csv: id,at,kind,account_id,actor_id,client_id,ip,detail", content_type = "text/csv", body = String),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read the audit trail", body = ErrorBody),
        (status = 422, description = "A filter that is not valid", body = ErrorBody),
    )
)]
async fn export_audit_events(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call = match api::authorize(&app, &headers, &uri, &ip, Resource::Audit, Access::Read).await
    {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let started = async {
        let raw = export_filter(raw_filter(&api_query(&uri)?));
        let f = audit_trail::filter(&app, &raw).await?;
        audit_trail::record_export(&app, &call.actor, &raw, &ip).await?;
        Ok::<_, Refusal>(f)
    }
    .await;
    match started {
        Ok(f) => csv_response(app, f),
        Err(r) => api_refusal(&app, call.locale, r),
    }
}

/// An export's filter: the whole selection, so no page size and no cursor.
fn export_filter(raw: RawFilter) -> RawFilter {
    RawFilter {
        limit: String::new(),
        cursor: String::new(),
        ..raw
    }
}

/// The streamed CSV of `f`'s events.
fn csv_response(app: App, f: Filter) -> Response {
    struct Cursor {
        app: App,
        query: Option<crate::store::AuditQuery>,
        sent: u64,
        header: bool,
    }
    let start = Cursor {
        app,
        query: f.query,
        sent: 0,
        header: false,
    };
    let stream = futures::stream::unfold(start, |mut c| async move {
        if !c.header {
            c.header = true;
            return Some((Ok::<_, std::io::Error>(CSV_HEADER.to_string()), c));
        }
        let q = c.query.take()?;
        let batch = EXPORT_BATCH.min(EXPORT_MAX - c.sent);
        if batch == 0 {
            return None;
        }
        let rows = match c.app.db.search_audit_events(&q, batch).await {
            Ok(rows) => rows,
            Err(e) => {
                // The status is sent already: the file ends short, and the log says why.
                tracing::error!(error = %e, "audit export: reading failed");
                return Some((Err(std::io::Error::other("audit export failed")), c));
            }
        };
        let n = rows.len() as u64;
        c.sent += n;
        let next = rows.last().map(|r| r.id);
        let chunk: String = rows
            .into_iter()
            .map(|r| audit_trail::csv_line(&EventView::from(r)))
            .collect();
        if n == batch
            && let Some(id) = next
        {
            c.query = Some(crate::store::AuditQuery {
                before_id: Some(id),
                ..q
            });
        }
        if n == 0 {
            return None;
        }
        Some((Ok(chunk), c))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit-events.csv\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_events))
        .routes(routes!(export_audit_events))
}

// --- console --------------------------------------------------------------------------------

pub fn console() -> Router<App> {
    Router::new()
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit.csv", get(audit_csv))
}

/// "Nhật ký kiểm toán": the filters, a page of events, the next page, the CSV link.
async fn audit_page(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let (_, req) =
        match console::page_for(&app, &headers, &uri, Resource::Audit, Access::Read, &ip).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let raw = raw_filter(&query_params(&uri).unwrap_or_default());
    let mut vars = json!({
        "action": app.url("/admin/audit"),
        "values": raw_values(&raw),
        "errors": {},
        "events": [],
    });
    let mut status = StatusCode::OK;
    let page = async {
        let f = audit_trail::filter(&app, &raw).await?;
        audit_trail::page(&app, &f).await
    }
    .await;
    match page {
        Ok(page) => {
            vars["events"] = json!(page.events.iter().map(event_vars).collect::<Vec<_>>());
            vars["csv_url"] = json!(link(&app, "/admin/audit.csv", &export_filter(raw.clone())));
            if let Some(cursor) = page.next_cursor {
                let next = RawFilter {
                    cursor,
                    ..raw.clone()
                };
                vars["next_url"] = json!(link(&app, "/admin/audit", &next));
            }
        }
        Err(r) => match onto_page(&app, &req, &r, &mut vars) {
            Ok(s) => status = s,
            Err(resp) => return *resp,
        },
    }
    page::render(
        &app,
        &req,
        status,
        "admin_audit",
        "admin_section_audit",
        vars,
    )
}

fn raw_values(raw: &RawFilter) -> Value {
    serde_json::to_value(raw).unwrap_or_default()
}

/// `path` with the filter's non-empty fields as its query.
fn link(app: &App, path: &str, raw: &RawFilter) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Value::Object(fields) = raw_values(raw) {
        for (k, v) in fields {
            if let Some(v) = v.as_str().filter(|v| !v.trim().is_empty()) {
                query.append_pair(&k, v);
            }
        }
    }
    let query = query.finish();
    if query.is_empty() {
        app.url(path)
    } else {
        app.url(&format!("{path}?{query}"))
    }
}

fn event_vars(e: &EventView) -> Value {
    json!({
        "id": e.id,
        "at": Clock::vietnam_time(e.at),
        "kind": e.kind,
        "account_id": e.account_id,
        "actor_id": e.actor_id,
        "client_id": e.client_id,
        "ip": e.ip,
        "detail": e.detail.to_string(),
    })
}

/// The console's CSV link: as the API's export, with the console's filters.
async fn audit_csv(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let (admin, req) =
        match console::page_for(&app, &headers, &uri, Resource::Audit, Access::Read, &ip).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let raw = export_filter(raw_filter(&query_params(&uri).unwrap_or_default()));
    let started = async {
        let f = audit_trail::filter(&app, &raw).await?;
        audit_trail::record_export(&app, &admin.actor, &raw, &ip).await?;
        Ok::<_, Refusal>(f)
    }
    .await;
    match started {
        Ok(f) => csv_response(app, f),
        Err(r) => error_page(&app, &req, &r),
    }
}
