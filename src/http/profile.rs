//! "Thông tin cá nhân": the citizen's own page — identity, phones (add and verify by SMS code,
//! choose the default), email, password, and active sessions with sign-out.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::flows::{
    OtpScreen, check_code, clear_flow_cookie, client_ip, errors_json, flow_cookie, flow_expired,
    otp_message, posted, render_otp, set_flow_cookie, sms_text, text, unavailable,
};
use super::page::{self, PageRequest};
use super::request::{SESSION_COOKIE, cookie, query_params};
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::otp::{self, OtpChallenge};
use crate::authenticators::password;
use crate::domain::{Account, PasswordPolicy, PhoneNumber};
use crate::flow::registration::{FieldErrors, Message, check_new_password, valid_email};
use crate::oidc::interaction;
use crate::oidc::session::SsoSession;

const PHONE_FLOW: &str = "phone";
/// Notices the profile page may show (named by `?notice=`; anything else is ignored).
const NOTICES: &[&str] = &[
    "profile_saved",
    "phone_added",
    "phone_default_set",
    "session_revoked",
];

pub fn router() -> Router<App> {
    Router::new()
        .route("/profile", get(show))
        .route("/profile/email", post(update_email))
        .route("/profile/phones", post(add_phone))
        .route(
            "/profile/phones/verify",
            get(verify_phone_page).post(verify_phone),
        )
        .route("/profile/phones/verify/resend", post(resend_phone_code))
        .route("/profile/phones/default", post(set_default_phone))
        .route(
            "/profile/password",
            get(password_page).post(change_password),
        )
        .route("/profile/sessions/revoke", post(revoke_session))
        .route(
            "/profile/sessions/revoke-others",
            post(revoke_other_sessions),
        )
}

/// The logged-in user of this browser.
struct Me {
    session: SsoSession,
    account: Account,
}

async fn me(app: &App, headers: &HeaderMap) -> Option<Me> {
    let secret = cookie(headers, SESSION_COOKIE)?;
    let session = interaction::load_session(app, secret).await.ok()??;
    let account = app.db.find_account(&session.account_id).await.ok()??;
    Some(Me { session, account })
}

fn to_login(app: &App) -> Response {
    Redirect::to(&app.url("/login")).into_response()
}

fn back(app: &App, notice: &str) -> Response {
    Redirect::to(&app.url(&format!("/profile?notice={notice}"))).into_response()
}

async fn render(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    me: &Me,
    extra: Value,
) -> Response {
    let (Ok(phones), Ok(sessions)) = (
        app.db.verified_phones(&me.account.id).await,
        interaction::sessions_of(app, &me.account.id).await,
    ) else {
        return unavailable(app, req);
    };
    let a = &me.account;
    let method_key = match a.registration_method.as_str() {
        "mobile_subscriber" => "method_mobile",
        "bhxh" => "method_bhxh",
        "counter" => "method_counter",
        _ => "method_cli",
    };
    let mut vars = json!({
        "account": {
            "full_name": a.full_name,
            "id_number": a.id_number.clone().unwrap_or_default(),
            "birthdate": a.birthdate.map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_default(),
            "email": a.email.clone().unwrap_or_default(),
            "ial": app.acr.acr(a.ial),
            "registration_method": req.t(app, method_key),
        },
        "phones": phones.iter().map(|p| json!({
            "id": p.id,
            "number": PhoneNumber::parse(&p.e164).map(|n| n.national()).unwrap_or_else(|_| p.e164.clone()),
            "verified": true,
            "is_default": p.is_default,
        })).collect::<Vec<_>>(),
        "sessions": sessions.iter().map(|s| json!({
            "id": s.sid,
            "started": crate::clock::Clock::from_unix(s.started).format("%d/%m/%Y %H:%M UTC").to_string(),
            "current": s.sid == me.session.sid,
        })).collect::<Vec<_>>(),
        "errors": {},
        "values": {},
    });
    if let (Some(v), Value::Object(extra)) = (vars.as_object_mut(), extra) {
        v.extend(extra);
    }
    page::render(app, req, status, "profile", "title_profile", vars, None)
}

async fn show(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let mut extra = json!({});
    if let Some(n) = query_params(&uri)
        .ok()
        .and_then(|p| p.get("notice").map(str::to_string))
        && let Some(key) = NOTICES.iter().find(|k| **k == n)
    {
        extra["notice"] = json!(req.t(&app, key));
    }
    render(&app, &req, StatusCode::OK, &me, extra).await
}

async fn update_email(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let email = params.get("email").unwrap_or_default().trim().to_string();
    if !email.is_empty() && !valid_email(&email) {
        let extra = json!({ "errors": { "email": req.t(&app, "err_email_invalid") }, "values": { "email": email } });
        return render(&app, &req, StatusCode::BAD_REQUEST, &me, extra).await;
    }
    let email = (!email.is_empty()).then_some(email);
    if app
        .db
        .update_email(&me.account.id, email.as_deref(), app.clock.now())
        .await
        .is_err()
    {
        return unavailable(&app, &req);
    }
    let _ = app
        .audit
        .record(Event::new("account.email_changed").account(&me.account.id))
        .await;
    back(&app, "profile_saved")
}

#[derive(Serialize, Deserialize)]
struct PhoneFlow {
    account_id: String,
    otp: OtpChallenge,
}

async fn add_phone(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let raw = params.get("phone").unwrap_or_default().to_string();
    let refuse = |key: &'static str| json!({ "errors": { "phone": req.t(&app, key) }, "values": { "phone": raw } });
    let phone = match PhoneNumber::parse(&raw) {
        Ok(p) => p,
        Err(crate::domain::PhoneNumberError::NotMobile) => {
            return render(
                &app,
                &req,
                StatusCode::BAD_REQUEST,
                &me,
                refuse("err_phone_not_mobile"),
            )
            .await;
        }
        Err(_) => {
            return render(
                &app,
                &req,
                StatusCode::BAD_REQUEST,
                &me,
                refuse("err_phone_malformed"),
            )
            .await;
        }
    };
    let owned = app
        .db
        .verified_phones(&me.account.id)
        .await
        .unwrap_or_default();
    if owned.iter().any(|p| p.e164 == phone.e164()) {
        return render(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            &me,
            refuse("err_phone_malformed"),
        )
        .await;
    }
    let otp = match otp::send(&app, phone.e164(), sms_text(&app, req.locale)).await {
        Ok(c) => c,
        Err(e) => {
            let extra = json!({ "errors": { "phone": text(&app, &req, &otp_message(&e)) }, "values": { "phone": raw } });
            return render(&app, &req, StatusCode::SERVICE_UNAVAILABLE, &me, extra).await;
        }
    };
    let flow = PhoneFlow {
        account_id: me.account.id.clone(),
        otp,
    };
    let Ok(secret) = crate::flow::start(&app, PHONE_FLOW, &flow).await else {
        return unavailable(&app, &req);
    };
    let mut resp = Redirect::to(&app.url("/profile/phones/verify")).into_response();
    set_flow_cookie(&app, &mut resp, PHONE_FLOW, &secret);
    resp
}

/// The phone-verification flow of the logged-in user of this browser.
async fn phone_flow(app: &App, headers: &HeaderMap, me: &Me) -> Option<(String, PhoneFlow)> {
    let secret = cookie(headers, &flow_cookie(PHONE_FLOW))?.to_string();
    let flow: PhoneFlow = crate::flow::load(app, PHONE_FLOW, &secret).await.ok()??;
    (flow.account_id == me.account.id).then_some((secret, flow))
}

fn phone_screen<'a>(
    flow: &'a PhoneFlow,
    error: Option<Message>,
    notice: Option<&'static str>,
) -> OtpScreen<'a> {
    OtpScreen {
        base: "/profile/phones/verify",
        challenge: &flow.otp,
        error,
        notice,
        other_methods: false,
    }
}

async fn verify_phone_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    match phone_flow(&app, &headers, &me).await {
        Some((_, flow)) => render_otp(&app, &req, StatusCode::OK, phone_screen(&flow, None, None)),
        None => flow_expired(&app, &req),
    }
}

async fn verify_phone(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let Some((secret, flow)) = phone_flow(&app, &headers, &me).await else {
        return flow_expired(&app, &req);
    };
    let result = check_code(&app, &flow.otp, params.get("otp")).await;
    if let Err(m) = result {
        return render_otp(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            phone_screen(&flow, Some(m), None),
        );
    }
    let _ = crate::flow::finish(&app, PHONE_FLOW, &secret).await;
    match app
        .db
        .add_phone(&me.account.id, &flow.otp.phone, true, app.clock.now())
        .await
    {
        Ok(_) | Err(crate::store::StoreError::Conflict) => {}
        Err(_) => return unavailable(&app, &req),
    }
    let _ = app
        .audit
        .record(Event::new("account.phone_added").account(&me.account.id))
        .await;
    let mut resp = back(&app, "phone_added");
    clear_flow_cookie(&app, &mut resp, PHONE_FLOW);
    resp
}

async fn resend_phone_code(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, _) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let Some((secret, mut flow)) = phone_flow(&app, &headers, &me).await else {
        return flow_expired(&app, &req);
    };
    match otp::resend(&app, &flow.otp, sms_text(&app, req.locale)).await {
        Ok(c) => {
            flow.otp = c;
            if crate::flow::save(&app, PHONE_FLOW, &secret, &flow)
                .await
                .is_err()
            {
                return unavailable(&app, &req);
            }
            render_otp(
                &app,
                &req,
                StatusCode::OK,
                phone_screen(&flow, None, Some("otp_resent")),
            )
        }
        Err(e) => render_otp(
            &app,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            phone_screen(&flow, Some(otp_message(&e)), None),
        ),
    }
}

async fn set_default_phone(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    match app
        .db
        .set_default_phone(&me.account.id, params.get("phone_id").unwrap_or_default())
        .await
    {
        Ok(true) => {
            let _ = app
                .audit
                .record(Event::new("account.default_phone_changed").account(&me.account.id))
                .await;
            back(&app, "phone_default_set")
        }
        Ok(false) => page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_bad_request",
            None,
        ),
        Err(_) => unavailable(&app, &req),
    }
}

fn render_password(app: &App, req: &PageRequest, status: StatusCode, errors: Value) -> Response {
    let rule = if app.password_policy() == PasswordPolicy::Nist {
        "password_rule_nist"
    } else {
        "password_rule_portal"
    };
    let vars = json!({ "rule": req.t(app, rule), "errors": errors });
    page::render(
        app,
        req,
        status,
        "change_password",
        "title_change_password",
        vars,
        None,
    )
}

async fn password_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    if me(&app, &headers).await.is_none() {
        return to_login(&app);
    }
    render_password(&app, &req, StatusCode::OK, json!({}))
}

/// Changes the password (the current one is required), then ends every other session and
/// revokes the account's refresh tokens; this browser stays logged in with a fresh session.
async fn change_password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let current = params.get("current_password").unwrap_or_default();
    let ok = match app.db.password_hash(&me.account.id).await.ok().flatten() {
        Some(hash) => password::verify_blocking(&hash, current).await,
        None => false,
    };
    if !ok {
        let mut errors = FieldErrors::new();
        errors.insert(
            "current_password",
            Message::new("err_current_password_wrong"),
        );
        return render_password(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            errors_json(&app, &req, &errors),
        );
    }
    let new = params.get("password").unwrap_or_default();
    let confirm = params.get("password_confirm").unwrap_or_default();
    let words =
        password::personal_words(me.account.id_number.as_deref(), &me.account.full_name, None);
    if let Err(errors) = check_new_password(app.password_policy(), new, confirm, &words) {
        return render_password(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            errors_json(&app, &req, &errors),
        );
    }
    let Ok(hash) = password::hash_blocking(&app.config.passwords, new).await else {
        return unavailable(&app, &req);
    };
    if app
        .db
        .set_password(&me.account.id, &hash, app.clock.now())
        .await
        .is_err()
        || crate::flow::recovery::end_everything(&app, &me.account.id)
            .await
            .is_err()
    {
        return unavailable(&app, &req);
    }
    let ip = client_ip(&peer);
    let _ = app
        .audit
        .record(
            Event::new("account.password_changed")
                .account(&me.account.id)
                .ip(Some(&ip)),
        )
        .await;
    let Ok((_, cookie_secret)) =
        interaction::start_session(&app, &me.account.id, me.account.ial, me.session.amr.clone())
            .await
    else {
        return unavailable(&app, &req);
    };
    let mut resp = back(&app, "profile_saved");
    super::set_session_cookie(&app, resp.headers_mut(), &cookie_secret);
    resp
}

async fn revoke_session(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let target = params.get("session_id").unwrap_or_default();
    let Ok(sessions) = interaction::sessions_of(&app, &me.account.id).await else {
        return unavailable(&app, &req);
    };
    // Only the account's own sessions can be named.
    let Some(s) = sessions.iter().find(|s| s.sid == target) else {
        return page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_bad_request",
            None,
        );
    };
    if crate::oidc::logout::end_session_by_handle(&app, &s.handle, Some(&client_ip(&peer)))
        .await
        .is_err()
    {
        return unavailable(&app, &req);
    }
    back(&app, "session_revoked")
}

async fn revoke_other_sessions(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, _) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let Ok(sessions) = interaction::sessions_of(&app, &me.account.id).await else {
        return unavailable(&app, &req);
    };
    let ip = client_ip(&peer);
    for s in sessions.iter().filter(|s| s.sid != me.session.sid) {
        if crate::oidc::logout::end_session_by_handle(&app, &s.handle, Some(&ip))
            .await
            .is_err()
        {
            return unavailable(&app, &req);
        }
    }
    back(&app, "session_revoked")
}
