//! "Thông tin cá nhân": the citizen's own page — identity, phones (add and verify by SMS code,
//! choose the default), email, password, credentials of the methods that enrol them (passkeys:
//! add after the password, name, see when last used, remove), and active sessions with
//! sign-out. Times are shown in Vietnam's time (UTC+7).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::page::{self, PageRequest, errors_json, posted, text, unavailable};
use super::request::{SESSION_COOKIE, query_params};
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::{Method, password};
use crate::clock::Clock;
use crate::domain::{Account, PasswordPolicy, PhoneNumber};
use crate::flow::enrolment::{self, EnrolError, EnrolFlow};
use crate::flow::phone::{self, PhoneError};
use crate::flow::registration::{check_new_password, valid_email};
use crate::hashing::HashError;
use crate::message::{FieldErrors, Message};
use crate::oidc::interaction;
use crate::oidc::session::SsoSession;

/// Notices the profile page may show (named by `?notice=`; anything else is ignored).
const NOTICES: &[&str] = &[
    "profile_saved",
    "phone_added",
    "phone_default_set",
    "session_revoked",
    "credential_added",
    "credential_removed",
];

pub fn router() -> Router<App> {
    Router::new()
        .route("/profile", get(show))
        .route("/profile/email", post(update_email))
        .route("/profile/phones", post(add_phone))
        .route("/profile/phones/default", post(set_default_phone))
        .route("/profile/credentials/remove", post(remove_credential))
        .route("/profile/credentials/{method}", post(enrol_start))
        .route("/profile/credentials/{method}/finish", post(enrol_finish))
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
    let secret = app.cookies.get(headers, SESSION_COOKIE)?;
    let session = interaction::load_session(app, secret).await.ok()??;
    let account = app.db.find_account(&session.account_id).await.ok()??;
    Some(Me { session, account })
}

/// A form posted by the logged-in user of this browser (CSRF checked); otherwise the page to
/// show instead (the login page for a browser without a session).
async fn posted_by_me(
    app: &App,
    request: Request<Body>,
) -> Result<(Me, PageRequest, crate::oidc::params::Params), Response> {
    let (headers, req, params) = posted(app, request).await?;
    match me(app, &headers).await {
        Some(me) => Ok((me, req, params)),
        None => Err(to_login(app)),
    }
}

fn to_login(app: &App) -> Response {
    Redirect::to(&app.url("/login")).into_response()
}

fn back(app: &App, notice: &str) -> Response {
    Redirect::to(&app.url(&format!("/profile?notice={notice}"))).into_response()
}

/// One section per enabled method whose credentials the user manages (passkeys): the list,
/// and the form that adds one (name + the password again).
async fn credential_sections(app: &App, req: &PageRequest, account: &Account) -> Vec<Value> {
    let mut sections = Vec::new();
    for method in Method::ALL {
        let Some(kind) = method.traits().enrols else {
            continue;
        };
        if !app.config.login.enabled(method) {
            continue;
        }
        let listed = app
            .db
            .credentials_of(&account.id, kind)
            .await
            .unwrap_or_default();
        let items: Vec<Value> = listed
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "label": c.label.clone().unwrap_or_default(),
                    "created": Clock::vietnam_time(c.created_at),
                    "last_used": c.last_used_at.map(Clock::vietnam_time).unwrap_or_default(),
                })
            })
            .collect();
        let name = method.name();
        sections.push(json!({
            "method": name,
            "heading": req.t(app, &format!("credential_{name}_heading")),
            "explain": req.t(app, &format!("credential_{name}_explain")),
            "add_label": req.t(app, &format!("credential_{name}_add")),
            "empty": req.t(app, &format!("credential_{name}_empty")),
            "action": app.url(&format!("/profile/credentials/{name}")),
            "items": items,
        }));
    }
    sections
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
            "started": Clock::vietnam_time(Clock::from_unix(s.started)),
            "current": s.sid == me.session.sid,
        })).collect::<Vec<_>>(),
        "credentials": credential_sections(app, req, &me.account).await,
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
    let (me, req, params) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
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

/// Adds a phone: an SMS code goes to it, then the one OTP step (`/profile/phones/verify`).
async fn add_phone(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let raw = params.get("phone").unwrap_or_default().to_string();
    let refuse = |status, message: &Message| {
        let extra =
            json!({ "errors": { "phone": text(&app, &req, message) }, "values": { "phone": raw } });
        render(&app, &req, status, &me, extra)
    };
    let phone = match PhoneNumber::parse(&raw) {
        Ok(p) => p,
        Err(crate::domain::PhoneNumberError::NotMobile) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &Message::new("err_phone_not_mobile"),
            )
            .await;
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &Message::new("err_phone_malformed"),
            )
            .await;
        }
    };
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let flow = match phone::start(&ctx, &me.account.id, &phone).await {
        Ok(f) => f,
        Err(PhoneError::AlreadyAdded) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &Message::new("err_phone_already_added"),
            )
            .await;
        }
        Err(PhoneError::Otp(e)) => {
            return refuse(page::status_for(e.kind()), &e.message()).await;
        }
        Err(PhoneError::Store(_)) => return unavailable(&app, &req),
    };
    page::start_flow_at(&app, &req, &flow, "/profile/phones/verify").await
}

async fn set_default_phone(State(app): State<App>, request: Request<Body>) -> Response {
    let (me, req, params) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
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
    let (me, req, params) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let current = params.get("current_password").unwrap_or_default();
    let ok = match app.db.password_hash(&me.account.id).await.ok().flatten() {
        Some(hash) => match app.hasher.verify(&hash, current).await {
            Ok(ok) => ok,
            Err(HashError::Busy) => return page::busy(&app, &req),
            Err(HashError::Failed(_)) => false,
        },
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
    let hash = match app.hasher.hash(new).await {
        Ok(hash) => hash,
        Err(HashError::Busy) => return page::busy(&app, &req),
        Err(HashError::Failed(_)) => return unavailable(&app, &req),
    };
    if app
        .db
        .set_password(&me.account.id, &hash, app.clock.now())
        .await
        .is_err()
        || crate::flow::recovery::end_everything(&app, &me.account.id)
            .await
            .is_err()
        || crate::flow::recovery::clear_failures(&app, &me.account)
            .await
            .is_err()
    {
        return unavailable(&app, &req);
    }
    let ip = peer.ip().to_string();
    let _ = app
        .audit
        .record(
            Event::new("account.password_changed")
                .account(&me.account.id)
                .ip(Some(&ip)),
        )
        .await;
    let Ok((_, cookie_secret)) = interaction::start_session(
        &app,
        &me.account.id,
        me.account.ial,
        me.session.amr.clone(),
        me.session.phishing_resistant,
    )
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
    let (me, req, params) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
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
    if crate::oidc::logout::end_session_by_handle(&app, &s.handle, Some(&peer.ip().to_string()))
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
    let (me, req, _) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Ok(sessions) = interaction::sessions_of(&app, &me.account.id).await else {
        return unavailable(&app, &req);
    };
    let ip = peer.ip().to_string();
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

/// An enabled method that enrols credentials, by its URL name.
fn enrollable(app: &App, name: &str) -> Option<Method> {
    Method::parse(name).filter(|m| m.traits().enrols.is_some() && app.config.login.enabled(*m))
}

/// The profile again with an enrolment's error under its section.
async fn enrol_refused(
    app: &App,
    req: &PageRequest,
    me: &Me,
    label: &str,
    e: &EnrolError,
) -> Response {
    let status = match e {
        EnrolError::Store(_) | EnrolError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        EnrolError::Limited => StatusCode::TOO_MANY_REQUESTS,
        EnrolError::NotEnrollable => StatusCode::NOT_FOUND,
        EnrolError::Label | EnrolError::WrongPassword | EnrolError::Refused(_) => {
            StatusCode::BAD_REQUEST
        }
    };
    let extra = json!({
        "credential_error": text(app, req, &e.message()),
        "values": { "label": label },
    });
    let mut resp = render(app, req, status, me, extra).await;
    if matches!(e, EnrolError::Busy) {
        page::retry_after(&mut resp, crate::hashing::RETRY_AFTER_SECONDS);
    }
    resp
}

/// Adding a credential, first step: the name and the password again, then the method's
/// ceremony page (`enroll_{method}` in the theme).
async fn enrol_start(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Response {
    let (me, req, params) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(method) = enrollable(&app, &name) else {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    };
    let label = params.get("label").unwrap_or_default();
    let password = params.get("current_password").unwrap_or_default();
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let (flow, ceremony) =
        match enrolment::start(&app, &ctx, &me.account, method, password, label).await {
            Ok(x) => x,
            Err(e) => return enrol_refused(&app, &req, &me, label, &e).await,
        };
    let Ok(secret) = crate::flow::start(app.store.as_ref(), &flow).await else {
        return unavailable(&app, &req);
    };
    let vars = json!({
        "action": app.url(&format!("/profile/credentials/{name}/finish")),
        "options": ceremony.options.to_string(),
        "label": flow.label,
        "back": app.url("/profile"),
    });
    let template = format!("enroll_{name}");
    let title = format!("title_enroll_{name}");
    let mut resp = page::render(&app, &req, StatusCode::OK, &template, &title, vars, None);
    page::allow_own_scripts(&mut resp);
    page::set_flow_cookie::<EnrolFlow>(&app, &mut resp, &secret);
    resp
}

/// Adding a credential, second step: what the ceremony produced.
async fn enrol_finish(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let Some(method) = enrollable(&app, &name) else {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    };
    // One answer per ceremony: the flow is taken before it is used.
    let Some((secret, flow)) = page::flow_of::<EnrolFlow>(&app, &headers).await else {
        return page::flow_expired(&app, &req);
    };
    if flow.account_id != me.account.id
        || flow.method != method
        || !crate::flow::finish::<EnrolFlow>(app.store.as_ref(), &secret)
            .await
            .unwrap_or(false)
    {
        return page::flow_expired(&app, &req);
    }
    let label = flow.label.clone();
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let mut resp = match enrolment::finish(&app, &ctx, &me.account, flow, &params).await {
        Ok(_) => back(&app, "credential_added"),
        Err(e) => enrol_refused(&app, &req, &me, &label, &e).await,
    };
    page::clear_flow_cookie::<EnrolFlow>(&app, &mut resp);
    resp
}

/// Removes one of the user's own credentials (`credential_id`).
async fn remove_credential(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params) = match posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let id = params.get("credential_id").unwrap_or_default();
    match enrolment::remove(&app, &me.account, id, &peer.ip().to_string()).await {
        Ok(true) => back(&app, "credential_removed"),
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
