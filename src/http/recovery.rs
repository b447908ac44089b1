//! "Quên mật khẩu": the ID number and registered phone (with a captcha), then the one OTP step
//! (`http::otp`), then the new password.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::page::{self, PageRequest};
use super::registration::{captcha_vars, merge, password_page, render_new_password};
use crate::app::App;
use crate::authenticators::captcha;
use crate::domain::{IdNumber, PhoneNumber};
use crate::flow::recovery::{self, RecoveryError, RecoveryFlow};
use crate::limits::Ceiling;
use crate::message::{FieldErrors, Message};

pub fn router() -> Router<App> {
    Router::new()
        .route("/forgot-password", get(recovery_form).post(recovery_submit))
        .route(
            "/forgot-password/password",
            get(recovery_password_page).post(recovery_password_submit),
        )
}

async fn render_recovery_form(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    values: Value,
    errors: Value,
) -> Response {
    render_recovery_form_with(
        app,
        req,
        status,
        json!({ "values": values, "errors": errors }),
    )
    .await
}

/// The form with `extra` variables (`values`, `errors`, `error`).
async fn render_recovery_form_with(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    extra: Value,
) -> Response {
    let captcha = match captcha_vars(app, "/forgot-password").await {
        Ok(captcha) => captcha,
        Err(e) => return page::unavailable(app, req, &e),
    };
    let mut vars = json!({ "action": app.url("/forgot-password"), "values": {}, "errors": {} });
    merge(&mut vars, extra);
    merge(&mut vars, captcha);
    page::render(
        app,
        req,
        status,
        "forgot_password",
        "title_forgot_password",
        vars,
    )
}

async fn recovery_form(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    render_recovery_form(&app, &req, StatusCode::OK, json!({}), json!({})).await
}

async fn recovery_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (_, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    // Each submission may send an SMS: a ceiling per address, besides the captcha.
    let ip = peer.ip().to_string();
    match page::ceiling(&app, &req, Ceiling::Recovery, &ip).await {
        Ok(None) => {}
        Ok(Some(retry_after)) => {
            let extra = json!({ "error": req.t(&app, "err_too_many_recoveries") });
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut resp = render_recovery_form_with(&app, &req, status, extra).await;
            page::retry_after(&mut resp, retry_after);
            return resp;
        }
        Err(resp) => return resp,
    }
    let id_raw = params.get("id_number").unwrap_or_default();
    let phone_raw = params.get("phone").unwrap_or_default();
    let values = json!({ "id_number": id_raw, "phone": phone_raw });
    let mut errors = FieldErrors::new();
    let id = match IdNumber::parse(id_raw) {
        Ok(id) => Some(id),
        Err(crate::domain::IdNumberError::Empty) => {
            errors.insert("id_number", Message::new("err_id_number_required"));
            None
        }
        Err(_) => {
            errors.insert("id_number", Message::new("err_id_number_malformed"));
            None
        }
    };
    let phone = match PhoneNumber::parse(phone_raw) {
        Ok(p) => Some(p),
        Err(crate::domain::PhoneNumberError::Empty) => {
            errors.insert("phone", Message::new("err_required"));
            None
        }
        Err(_) => {
            errors.insert("phone", Message::new("err_phone_malformed"));
            None
        }
    };
    let captcha_ok = match (params.get("captcha_id"), params.get("captcha")) {
        (Some(cid), Some(answer)) => captcha::verify(app.store.as_ref(), cid, answer)
            .await
            .unwrap_or(false),
        _ => false,
    };
    if !captcha_ok {
        errors.insert("captcha", Message::new("err_captcha_wrong"));
    }
    let (Some(id), Some(phone)) = (id, phone) else {
        let errors = page::errors_json(&app, &req, &errors);
        return render_recovery_form(&app, &req, StatusCode::BAD_REQUEST, values, errors).await;
    };
    if !errors.is_empty() {
        let errors = page::errors_json(&app, &req, &errors);
        return render_recovery_form(&app, &req, StatusCode::BAD_REQUEST, values, errors).await;
    }
    let ctx = app.ctx(req.locale, &ip);
    let flow = match recovery::start(&ctx, &id, &phone).await {
        Ok(f) => f,
        Err(RecoveryError::Otp(e)) => {
            let mut errors = Map::new();
            errors.insert("phone".into(), json!(page::text(&app, &req, &e.message())));
            return render_recovery_form(
                &app,
                &req,
                page::status_for(e.kind()),
                values,
                Value::Object(errors),
            )
            .await;
        }
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    page::start_flow_at(&app, &req, &flow, "/forgot-password/otp").await
}

async fn recovery_password_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    password_page::<RecoveryFlow>(
        &app,
        &headers,
        &uri,
        "/forgot-password/password",
        "/forgot-password/otp",
        true,
    )
    .await
}

async fn recovery_password_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, flow)) = page::flow_of::<RecoveryFlow>(&app, &headers).await else {
        return page::flow_expired(&app, &req);
    };
    let password = params.get("password").unwrap_or_default();
    let confirm = params.get("password_confirm").unwrap_or_default();
    let ip = peer.ip().to_string();
    match recovery::complete(&app, &flow, password, confirm, Some(&ip), req.locale).await {
        Ok(()) => {
            let _ = crate::flow::finish::<RecoveryFlow>(app.store.as_ref(), &secret).await;
            let mut resp = page::message(
                &app,
                &req,
                "reset_done_heading",
                "reset_done_message",
                Some((app.url("/login"), "register_continue")),
            );
            page::clear_flow_cookie::<RecoveryFlow>(&app, &mut resp);
            super::clear_session_cookie(&app, resp.headers_mut());
            resp
        }
        Err(RecoveryError::Fields(errors)) => {
            let errors = page::errors_json(&app, &req, &errors);
            render_new_password(
                &app,
                &req,
                StatusCode::BAD_REQUEST,
                "/forgot-password/password",
                true,
                errors,
            )
        }
        Err(RecoveryError::OutOfOrder) => {
            Redirect::to(&app.url("/forgot-password/otp")).into_response()
        }
        // The flow is kept: the same form can be sent again.
        Err(RecoveryError::Busy) => page::busy(&app, &req),
        Err(e) => page::unavailable(&app, &req, &e),
    }
}
