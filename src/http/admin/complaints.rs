//! The complaints queue in the admin area (`/admin/complaints`, `/admin/api/v1/complaints`):
//! the open and `account_locked` complaints, read by admins, counter officers and auditors.
//! The actions stay at the counter (`/counter/complaints/{ticket}`, `http::complaints`): the
//! queue links there for those who may act (admins, counter officers); an auditor only reads.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{self, ApiError, ErrorBody};
use super::console;
use crate::admin::{Access, Actor, Resource};
use crate::app::App;
use crate::clock::Clock;
use crate::domain::{Complaint, PhoneNumber};
use crate::http::page;

/// One complaint in the queue.
#[derive(Serialize, ToSchema)]
pub struct QueuedComplaint {
    pub ticket: String,
    /// `open` or `account_locked`.
    pub status: String,
    pub filed_at: DateTime<Utc>,
    /// The disputed ID number.
    pub id_number: String,
    pub complainant_name: String,
    /// E.164.
    pub contact_phone: String,
    pub contact_email: Option<String>,
    /// Where an officer acts on it (only for callers who may act).
    pub counter_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ComplaintQueue {
    pub complaints: Vec<QueuedComplaint>,
}

fn queued(app: &App, actor: &Actor, c: &Complaint) -> QueuedComplaint {
    let may_act = actor.may(Resource::Complaints, Access::Write);
    QueuedComplaint {
        ticket: c.ticket.clone(),
        status: c.status.as_str().to_string(),
        filed_at: c.created_at,
        id_number: c.id_number.clone(),
        complainant_name: c.complainant_name.clone(),
        contact_phone: c.contact_phone.clone(),
        contact_email: c.contact_email.clone(),
        counter_url: may_act.then(|| app.url(&format!("/counter/complaints/{}", c.ticket))),
    }
}

/// The complaints waiting for an officer, oldest first.
#[utoipa::path(
    get,
    path = "/admin/api/v1/complaints",
    tag = "complaints",
    responses(
        (status = 200, description = "The queue", body = ComplaintQueue),
        (status = 401, description = "No live admin token", body = ErrorBody),
        (status = 403, description = "The token's roles may not read complaints", body = ErrorBody),
    )
)]
async fn list_complaints(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let call = match api::authorize(
        &app,
        &headers,
        &uri,
        &ip,
        Resource::Complaints,
        Access::Read,
    )
    .await
    {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match app.db.complaint_queue().await {
        Ok(list) => Json(ComplaintQueue {
            complaints: list.iter().map(|c| queued(&app, &call.actor, c)).collect(),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin API: the complaint queue");
            ApiError::Unavailable.respond(&app, call.locale)
        }
    }
}

pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(list_complaints))
}

pub fn console() -> Router<App> {
    Router::new().route("/admin/complaints", get(queue_page))
}

async fn queue_page(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let (admin, req) = match console::page_for(
        &app,
        &headers,
        &uri,
        Resource::Complaints,
        Access::Read,
        &ip,
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let list = match app.db.complaint_queue().await {
        Ok(list) => list,
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    let rows: Vec<_> = list
        .iter()
        .map(|c| {
            let q = queued(&app, &admin.actor, c);
            json!({
                "ticket": q.ticket,
                "status": q.status,
                "status_label": req.t(&app, &format!("complaint_status_{}", q.status)),
                "filed": Clock::vietnam_time(q.filed_at),
                "id_number": q.id_number,
                "complainant": q.complainant_name,
                "contact_phone": PhoneNumber::parse(&q.contact_phone)
                    .map(|p| p.national())
                    .unwrap_or(q.contact_phone),
                "contact_email": q.contact_email,
                "counter_url": q.counter_url,
            })
        })
        .collect();
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "admin_complaints",
        "admin_section_complaints",
        json!({ "complaints": rows }),
    )
}
