//! Complaints ("khiếu nại"): the public form at `/complaint` (from the duplicate-account
//! message), and the officers' queue, detail page and actions at `/counter/complaints`
//! behind the staff door (`staff::require`, `Role::CounterOfficer`; admins pass too). The
//! rules are in `flow::complaints`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::page::{self, PageRequest};
use super::registration::{captcha_vars, merge};
use super::request::query_params;
use super::staff;
use crate::app::App;
use crate::authenticators::captcha;
use crate::clock::Clock;
use crate::domain::{IdNumber, PhoneNumber, Role};
use crate::flow::complaints::{
    self, Act, Complaint, ComplaintAction, ComplaintError, ComplaintStatus, Disputed, Officer,
    RawComplaint, RawTransfer,
};
use crate::limits::Ceiling;
use crate::message::{FieldErrors, Message};

pub fn router() -> Router<App> {
    Router::new()
        .route("/complaint", get(form).post(submit))
        .route("/counter/complaints", get(queue))
        .route("/counter/complaints/{ticket}", get(detail))
        .route("/counter/complaints/{ticket}/{action}", post(act))
}

// --- filing -------------------------------------------------------------------------------

async fn render_form(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    values: Value,
    errors: Value,
    error: Option<String>,
) -> Response {
    let captcha = match captcha_vars(app, "/complaint").await {
        Ok(c) => c,
        Err(e) => return page::unavailable(app, req, &e),
    };
    let mut vars = json!({
        "action": app.url("/complaint"),
        "values": values,
        "errors": errors,
        "description_max": complaints::DESCRIPTION_MAX,
    });
    if let Some(e) = error {
        vars["error"] = json!(e);
    }
    merge(&mut vars, captcha);
    page::render(app, req, status, "complaint_form", "title_complaint", vars)
}

/// `GET /complaint[?id_number=]`: the duplicate-account message passes the number typed.
async fn form(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    // Only a well-formed number is put back in the form.
    let id_number = query_params(&uri)
        .ok()
        .and_then(|p| p.get("id_number").map(str::to_string))
        .and_then(|n| IdNumber::parse(&n).ok())
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    let values = json!({ "id_number": id_number });
    render_form(&app, &req, StatusCode::OK, values, json!({}), None).await
}

async fn submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (_, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let field = |name: &str| params.get(name).unwrap_or_default().to_string();
    let raw = RawComplaint {
        id_number: field("id_number"),
        full_name: field("full_name"),
        phone: field("phone"),
        email: field("email"),
        description: field("description"),
    };
    let values = json!({
        "id_number": raw.id_number, "full_name": raw.full_name, "phone": raw.phone,
        "email": raw.email, "description": raw.description,
    });
    // Each complaint costs an SMS and a row: the registration's ceiling per address.
    match page::ceiling(&app, &req, Ceiling::Registration, &ip).await {
        Ok(None) => {}
        Ok(Some(retry_after)) => {
            let error = req.t(&app, "err_too_many_complaints");
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut resp = render_form(&app, &req, status, values, json!({}), Some(error)).await;
            page::retry_after(&mut resp, retry_after);
            return resp;
        }
        Err(resp) => return resp,
    }
    let validated = complaints::validate(&raw);
    let mut errors = validated.as_ref().err().cloned().unwrap_or_default();
    // The captcha is checked (and used up) on every submission.
    let captcha_ok = match (params.get("captcha_id"), params.get("captcha")) {
        (Some(id), Some(answer)) => captcha::verify(app.store.as_ref(), id, answer)
            .await
            .unwrap_or(false),
        _ => false,
    };
    if !captcha_ok {
        errors.insert("captcha", Message::new("err_captcha_wrong"));
    }
    let form = match validated {
        Ok(form) if errors.is_empty() => form,
        _ => {
            let errors = page::errors_json(&app, &req, &errors);
            return render_form(&app, &req, StatusCode::BAD_REQUEST, values, errors, None).await;
        }
    };
    match complaints::file(&app, &form, req.locale, Some(&ip)).await {
        Ok(complaint) => {
            let vars = json!({
                "ticket": complaint.ticket,
                "masked_phone": form.phone.masked(),
            });
            page::render(
                &app,
                &req,
                StatusCode::OK,
                "complaint_filed",
                "title_complaint",
                vars,
            )
        }
        Err(e) => page::unavailable(&app, &req, &format!("filing a complaint: {e}")),
    }
}

// --- the staff side ------------------------------------------------------------------------

async fn queue(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let req = match staff::page_for(&app, &headers, &uri, Role::CounterOfficer, &ip).await {
        Ok((_, req)) => req,
        Err(resp) => return resp,
    };
    let list = match complaints::queue(&app).await {
        Ok(list) => list,
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            json!({
                "ticket": c.ticket,
                "url": app.url(&format!("/counter/complaints/{}", c.ticket)),
                "filed": Clock::vietnam_time(c.created_at),
                "id_number": c.id_number,
                "complainant": c.complainant_name,
                "status": status_label(&app, &req, c.status),
            })
        })
        .collect();
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "complaint_queue",
        "title_complaint_queue",
        json!({ "complaints": rows }),
    )
}

fn status_label(app: &App, req: &PageRequest, status: ComplaintStatus) -> String {
    req.t(app, &format!("complaint_status_{}", status.as_str()))
}

async fn detail(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = peer.ip().to_string();
    let req = match staff::page_for(&app, &headers, &uri, Role::CounterOfficer, &ip).await {
        Ok((_, req)) => req,
        Err(resp) => return resp,
    };
    // `?done=lock` after an action: what was just done.
    let notice = query_params(&uri)
        .ok()
        .and_then(|p| p.get("done").and_then(ComplaintAction::parse))
        .map(|a| req.t(&app, &format!("complaint_done_{}", a.name())));
    let extra = json!({ "notice": notice });
    render_detail(&app, &req, &ticket, StatusCode::OK, extra).await
}

/// The detail page of `ticket` with `extra` (`notice`, `error`, `errors`, `values`).
async fn render_detail(
    app: &App,
    req: &PageRequest,
    ticket: &str,
    status: StatusCode,
    extra: Value,
) -> Response {
    let (complaint, disputed) = match complaints::detail(app, ticket).await {
        Ok(x) => x,
        Err(ComplaintError::NotFound) => {
            return page::error(
                app,
                req,
                StatusCode::NOT_FOUND,
                "err_complaint_not_found",
                None,
            );
        }
        Err(e) => return page::unavailable(app, req, &e),
    };
    let mut vars = detail_vars(app, req, &complaint, disputed.as_ref());
    if let Value::Object(extra) = extra {
        for (k, v) in extra.into_iter().filter(|(_, v)| !v.is_null()) {
            vars[k] = v;
        }
    }
    page::render(
        app,
        req,
        status,
        "complaint_detail",
        "title_complaint_detail",
        vars,
    )
}

fn detail_vars(app: &App, req: &PageRequest, c: &Complaint, disputed: Option<&Disputed>) -> Value {
    let action_url =
        |a: ComplaintAction| app.url(&format!("/counter/complaints/{}/{}", c.ticket, a.name()));
    let can = |a: ComplaintAction| c.status.after(a).is_some();
    let has_account = disputed.is_some();
    let contact = PhoneNumber::parse(&c.contact_phone)
        .map(|p| p.national())
        .unwrap_or_else(|_| c.contact_phone.clone());
    let mut vars = json!({
        "complaint": {
            "ticket": c.ticket,
            "filed": Clock::vietnam_time(c.created_at),
            "updated": Clock::vietnam_time(c.updated_at),
            "id_number": c.id_number,
            "complainant": c.complainant_name,
            "contact_phone": contact,
            "contact_email": c.contact_email.clone().unwrap_or_default(),
            "description": c.description,
            "status": c.status.as_str(),
            "status_label": status_label(app, req, c.status),
            "office": c.office.clone().unwrap_or_default(),
        },
        "queue_url": app.url("/counter/complaints"),
        "finished": !c.status.pending(),
        "lock_action": can(ComplaintAction::Lock).then(|| action_url(ComplaintAction::Lock)),
        "reject_action": can(ComplaintAction::Reject).then(|| action_url(ComplaintAction::Reject)),
        "transfer_action": (can(ComplaintAction::Transfer) && has_account)
            .then(|| action_url(ComplaintAction::Transfer)),
        // The transfer form starts from what the complainant gave.
        "values": { "full_name": c.complainant_name, "phone": contact, "birthdate": "" },
        "errors": {},
    });
    if let Some(d) = disputed {
        let a = &d.account;
        vars["account"] = json!({
            "full_name": a.full_name,
            "birthdate": a.birthdate.map(|b| b.format("%d/%m/%Y").to_string()).unwrap_or_default(),
            "registration_method": a.registration_method,
            "created": d.created_at.map(Clock::vietnam_time).unwrap_or_default(),
            "status": a.status.as_str(),
            "phones": d.phones,
        });
    }
    vars
}

async fn act(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((ticket, action)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    let ip = peer.ip().to_string();
    let back = format!("/counter/complaints/{ticket}");
    let (officer, req, params) =
        match staff::posted_by(&app, request, Role::CounterOfficer, &ip, &back).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let Some(action) = ComplaintAction::parse(&action) else {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    };
    let field = |name: &str| params.get(name).unwrap_or_default().to_string();
    let act = match action {
        ComplaintAction::Lock => Act::Lock,
        ComplaintAction::Reject => Act::Reject,
        ComplaintAction::Transfer => Act::Transfer(RawTransfer {
            checked: params.get("checked") == Some("yes"),
            full_name: field("full_name"),
            birthdate: field("birthdate"),
            phone: field("phone"),
        }),
    };
    // The status the officer saw when they decided: the move is made from it only.
    let seen = params.get("status").and_then(ComplaintStatus::parse);
    let by = Officer {
        account_id: &officer.account.id,
        office: officer.office(),
    };
    let result = complaints::act(&app, &ticket, seen, &act, by, Some(&ip)).await;
    let refused = |status: StatusCode, key: &'static str| {
        let error = page::text(&app, &req, &Message::new(key));
        (status, json!({ "error": error }))
    };
    let (status, extra) = match result {
        Ok(c) => {
            let url = format!("/counter/complaints/{}?done={}", c.ticket, action.name());
            return Redirect::to(&app.url(&url)).into_response();
        }
        Err(ComplaintError::NotFound) => {
            return page::error(
                &app,
                &req,
                StatusCode::NOT_FOUND,
                "err_complaint_not_found",
                None,
            );
        }
        Err(ComplaintError::Fields(errors)) => (
            StatusCode::BAD_REQUEST,
            transfer_errors(&app, &req, &errors, &params),
        ),
        Err(ComplaintError::NotAllowed { status, .. }) if !status.pending() => {
            refused(StatusCode::CONFLICT, "err_complaint_finished")
        }
        Err(ComplaintError::NotAllowed { .. }) => {
            refused(StatusCode::CONFLICT, "err_complaint_not_allowed")
        }
        Err(ComplaintError::Conflict) => refused(StatusCode::CONFLICT, "err_complaint_moved"),
        Err(ComplaintError::NoAccount) => refused(StatusCode::CONFLICT, "err_complaint_no_account"),
        Err(e) => return page::unavailable(&app, &req, &format!("a complaint action: {e}")),
    };
    render_detail(&app, &req, &ticket, status, extra).await
}

/// The transfer form's errors and what was typed, for the detail page.
fn transfer_errors(
    app: &App,
    req: &PageRequest,
    errors: &FieldErrors,
    params: &crate::oidc::params::Params,
) -> Value {
    let field = |name: &str| params.get(name).unwrap_or_default().to_string();
    json!({
        "errors": page::errors_json(app, req, errors),
        "values": {
            "full_name": field("full_name"),
            "birthdate": field("birthdate"),
            "phone": field("phone"),
            "checked": params.get("checked") == Some("yes"),
        },
        "error": page::text(app, req, &Message::new("err_complaint_transfer_fields")),
    })
}
