//! "Thông tin cá nhân": the citizen's own page — identity, phones (add and verify by SMS code,
//! remove, choose the default), email (verified by a mailed code), password, credentials of the
//! methods that enrol them (passkeys: name, see when last used, remove), and active sessions
//! with sign-out. Times are shown in Vietnam's time (UTC+7).
//!
//! Every change of a credential or a contact needs a recent re-authentication of this session
//! (`flow::reauth`; the pages are in `http::reauth`): without one, the browser is sent there and
//! then back here. Signing sessions out needs none: it only protects.

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
use crate::authenticators::Method;
use crate::clock::Clock;
use crate::domain::{Account, PasswordPolicy, PhoneNumber};
use crate::flow::email::{self, EmailChangeError, EmailFlow};
use crate::flow::enrolment::{self, EnrolError, EnrolFlow};
use crate::flow::password_change::{self, ChangeError, Typed};
use crate::flow::phone::{self, PhoneError};
use crate::flow::reauth::{self, ReauthError, Recent, ReturnTo};
use crate::message::{FieldErrors, Message};
use crate::oidc::interaction;
use crate::oidc::params::Params;
use crate::oidc::session::SsoSession;
use crate::store::PhoneRemoval;

/// Notices the profile page may show (named by `?notice=`; anything else is ignored).
const NOTICES: &[&str] = &[
    "profile_saved",
    "phone_added",
    "phone_removed",
    "phone_default_set",
    "email_verified",
    "email_removed",
    "password_changed",
    "session_revoked",
    "credential_added",
    "credential_removed",
    "reauth_done",
];

pub fn router() -> Router<App> {
    Router::new()
        .route("/profile", get(show))
        .route("/profile/email", post(change_email))
        .route("/profile/email/verify", get(email_page).post(verify_email))
        .route("/profile/phones", post(add_phone))
        .route("/profile/phones/remove", post(remove_phone))
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
pub(super) struct Me {
    pub session: SsoSession,
    pub account: Account,
}

pub(super) async fn me(app: &App, headers: &HeaderMap) -> Option<Me> {
    let secret = app.cookies.get(headers, SESSION_COOKIE)?;
    let session = interaction::load_session(app, secret).await.ok()??;
    let account = app.db.find_account(&session.account_id).await.ok()??;
    Some(Me { session, account })
}

/// A form posted by the logged-in user of this browser (CSRF checked); otherwise the page to
/// show instead (the login page for a browser without a session).
pub(super) async fn posted_by_me(
    app: &App,
    request: Request<Body>,
) -> Result<(Me, PageRequest, Params), Response> {
    let (headers, req, params) = posted(app, request).await?;
    match me(app, &headers).await {
        Some(me) => Ok((me, req, params)),
        None => Err(to_login(app)),
    }
}

/// A change posted by the logged-in user of this browser, with the proof that this session
/// re-authenticated recently; without one, the browser goes to re-authenticate and comes back
/// to `next`.
async fn change_by_me(
    app: &App,
    request: Request<Body>,
    next: ReturnTo,
) -> Result<(Me, PageRequest, Params, Recent), Response> {
    let (me, req, params) = posted_by_me(app, request).await?;
    let recent = recent_or_reauth(app, &req, &me, next).await?;
    Ok((me, req, params, recent))
}

async fn recent_or_reauth(
    app: &App,
    req: &PageRequest,
    me: &Me,
    next: ReturnTo,
) -> Result<Recent, Response> {
    match reauth::recent(app.store.as_ref(), &me.session).await {
        Ok(Some(recent)) => Ok(recent),
        Ok(None) => Err(Redirect::to(&reauth_url(app, next)).into_response()),
        Err(e) => Err(unavailable(app, req, &e)),
    }
}

/// Where a change sends a browser that has not re-authenticated recently (`http::reauth`).
fn reauth_url(app: &App, next: ReturnTo) -> String {
    app.url(&format!("/profile/reauth?next={}", next.name()))
}

pub(super) fn to_login(app: &App) -> Response {
    Redirect::to(&app.url("/login")).into_response()
}

fn back(app: &App, notice: &str) -> Response {
    Redirect::to(&app.url(&format!("/profile?notice={notice}"))).into_response()
}

fn bad_request(app: &App, req: &PageRequest) -> Response {
    page::error(app, req, StatusCode::BAD_REQUEST, "error_bad_request", None)
}

/// One section per enabled method whose credentials the user manages (passkeys): the list,
/// and the form that adds one (a name).
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
    let phones = match app.db.verified_phones(&me.account.id).await {
        Ok(phones) => phones,
        Err(e) => return unavailable(app, req, &e),
    };
    let sessions = match interaction::sessions_of(app, &me.account.id).await {
        Ok(sessions) => sessions,
        Err(e) => return unavailable(app, req, &e),
    };
    let recent = match reauth::recent(app.store.as_ref(), &me.session).await {
        Ok(recent) => recent,
        Err(e) => return unavailable(app, req, &e),
    };
    let a = &me.account;
    let method_key = match a.registration_method.as_str() {
        "mobile_subscriber" => "method_mobile",
        "bhxh" => "method_bhxh",
        "counter" => "method_counter",
        _ => "method_cli",
    };
    // Registered with a signature method: its own name.
    let method_label =
        match Method::parse(&a.registration_method).filter(|m| !m.registers().is_empty()) {
            Some(m) => req.t(app, &format!("register_method_{}", m.name())),
            None => req.t(app, method_key),
        };
    // The last verified phone cannot be removed: it receives the codes.
    let removable = phones.len() > 1;
    let mut vars = json!({
        "account": {
            "full_name": a.full_name,
            "id_number": a.id_number.clone().or_else(|| a.official_id.clone()).unwrap_or_default(),
            "birthdate": a.birthdate.map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_default(),
            "email": a.email.clone().unwrap_or_default(),
            "email_verified": a.email_verified,
            "ial": app.acr.acr(a.ial),
            "registration_method": method_label,
        },
        "phones": phones.iter().map(|p| json!({
            "id": p.id,
            "number": PhoneNumber::parse(&p.e164).map(|n| n.national()).unwrap_or_else(|_| p.e164.clone()),
            "verified": true,
            "is_default": p.is_default,
            "removable": removable,
        })).collect::<Vec<_>>(),
        "sessions": sessions.iter().map(|s| json!({
            "id": s.sid,
            "started": Clock::vietnam_time(Clock::from_unix(s.started)),
            "current": s.sid == me.session.sid,
        })).collect::<Vec<_>>(),
        "credentials": credential_sections(app, req, &me.account).await,
        "reauthenticated": recent.is_some(),
        "reauth_url": reauth_url(app, ReturnTo::Profile),
        "errors": {},
        "values": {},
    });
    // A citizen below IAL3 may bind their own signature certificate ("Nâng cấp").
    let upgradable = a.subject_type == crate::domain::SubjectType::Citizen
        && a.ial < crate::domain::Ial::Ial3
        && !crate::authenticators::registering(&app.config.login, a.subject_type).is_empty();
    if upgradable {
        vars["upgrade_url"] = json!(app.url("/upgrade"));
    }
    if let (Some(v), Value::Object(extra)) = (vars.as_object_mut(), extra) {
        v.extend(extra);
    }
    page::render(app, req, status, "profile", "title_profile", vars)
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

/// A new email address: a code is mailed to it, then `/profile/email/verify`. An empty field
/// removes the address.
async fn change_email(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params, recent) = match change_by_me(&app, request, ReturnTo::Profile).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let raw = params.get("email").unwrap_or_default().trim().to_string();
    let ip = peer.ip().to_string();
    if raw.is_empty() {
        return match email::remove(&app, &recent, &ip).await {
            Ok(()) => back(&app, "email_removed"),
            Err(e) => unavailable(&app, &req, &e),
        };
    }
    let ctx = app.ctx(req.locale, &ip);
    match email::start(&app, &ctx, &recent, &raw, req.locale).await {
        Ok(flow) => page::start_flow_at(&app, &req, &flow, "/profile/email/verify").await,
        Err(e) => {
            if let EmailChangeError::Mail(cause) = &e {
                tracing::error!(%cause, "email verification could not be sent");
            }
            if let EmailChangeError::Store(cause) = &e {
                tracing::error!(%cause, "email change failed on a backend");
            }
            let status = match e {
                EmailChangeError::Invalid | EmailChangeError::Otp(_) => StatusCode::BAD_REQUEST,
                EmailChangeError::Limited => StatusCode::TOO_MANY_REQUESTS,
                EmailChangeError::Mail(_) | EmailChangeError::Store(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
            let extra = json!({
                "errors": { "email": text(&app, &req, &e.message()) },
                "values": { "email": raw },
            });
            render(&app, &req, status, &me, extra).await
        }
    }
}

/// The code page of a new email address.
fn render_email_code(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    flow: &EmailFlow,
    error: Option<&Message>,
) -> Response {
    let mut errors = json!({});
    if let Some(m) = error {
        errors["otp"] = json!(text(app, req, m));
    }
    let vars = json!({
        "action": app.url("/profile/email/verify"),
        "email": flow.email,
        "errors": errors,
        "back": app.url("/profile"),
    });
    page::render(app, req, status, "verify_email", "title_verify_email", vars)
}

/// This browser's email flow, if it belongs to the logged-in user.
async fn my_email_flow(app: &App, headers: &HeaderMap, me: &Me) -> Option<(String, EmailFlow)> {
    page::flow_of::<EmailFlow>(app, headers)
        .await
        .filter(|(_, flow)| flow.account_id == me.account.id)
}

async fn email_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    match my_email_flow(&app, &headers, &me).await {
        Some((_, flow)) => render_email_code(&app, &req, StatusCode::OK, &flow, None),
        None => page::flow_expired(&app, &req),
    }
}

/// The code mailed to the new address: right, and the address is the account's, verified.
async fn verify_email(
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
    let Some((secret, flow)) = my_email_flow(&app, &headers, &me).await else {
        return page::flow_expired(&app, &req);
    };
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    match email::complete(&app, &ctx, &flow, params.get("otp")).await {
        Ok(()) => {
            let _ = crate::flow::finish::<EmailFlow>(app.store.as_ref(), &secret).await;
            let mut resp = back(&app, "email_verified");
            page::clear_flow_cookie::<EmailFlow>(&app, &mut resp);
            resp
        }
        Err(EmailChangeError::Otp(e)) => {
            let status = super::otp::status_of(&e);
            render_email_code(&app, &req, status, &flow, Some(&e.message()))
        }
        Err(e) => unavailable(&app, &req, &e),
    }
}

/// Adds a phone: an SMS code goes to it, then the one OTP step (`/profile/phones/verify`).
async fn add_phone(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params, recent) = match change_by_me(&app, request, ReturnTo::Profile).await {
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
    let flow = match phone::start(&ctx, &recent, &phone).await {
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
        Err(PhoneError::Store(e)) => return unavailable(&app, &req, &e),
    };
    page::start_flow_at(&app, &req, &flow, "/profile/phones/verify").await
}

/// Removes one of the account's phones (`phone_id`), never the last verified one.
async fn remove_phone(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params, recent) = match change_by_me(&app, request, ReturnTo::Profile).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let phone_id = params.get("phone_id").unwrap_or_default();
    let ip = peer.ip().to_string();
    match phone::remove(&app, &recent, phone_id, &ip, req.locale).await {
        Ok(PhoneRemoval::Removed { .. }) => back(&app, "phone_removed"),
        Ok(PhoneRemoval::LastPhone) => {
            let extra = json!({ "error": req.t(&app, "err_phone_last") });
            render(&app, &req, StatusCode::BAD_REQUEST, &me, extra).await
        }
        Ok(PhoneRemoval::NotFound) => bad_request(&app, &req),
        Err(e) => unavailable(&app, &req, &e),
    }
}

async fn set_default_phone(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (_, req, params, recent) = match change_by_me(&app, request, ReturnTo::Profile).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let phone_id = params.get("phone_id").unwrap_or_default();
    match phone::set_default(&app, &recent, phone_id, &peer.ip().to_string()).await {
        Ok(true) => back(&app, "phone_default_set"),
        Ok(false) => bad_request(&app, &req),
        Err(e) => unavailable(&app, &req, &e),
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
    )
}

async fn password_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    if let Err(resp) = recent_or_reauth(&app, &req, &me, ReturnTo::Password).await {
        return resp;
    }
    render_password(&app, &req, StatusCode::OK, json!({}))
}

/// Changes the password (see `flow::password_change`): this browser keeps its session.
async fn change_password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params, recent) = match change_by_me(&app, request, ReturnTo::Password).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let typed = Typed {
        current: params.get("current_password").unwrap_or_default(),
        new: params.get("password").unwrap_or_default(),
        confirm: params.get("password_confirm").unwrap_or_default(),
    };
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let result = password_change::change(
        &app,
        &ctx,
        &recent,
        &me.session,
        &me.account,
        typed,
        req.locale,
    )
    .await;
    let (status, errors) = match result {
        Ok(()) => return back(&app, "password_changed"),
        Err(ChangeError::Current(e)) => {
            let status = match &e {
                ReauthError::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
                ReauthError::Busy => return page::busy(&app, &req),
                ReauthError::Store(cause) => return unavailable(&app, &req, cause),
                _ => StatusCode::BAD_REQUEST,
            };
            let mut errors = FieldErrors::new();
            errors.insert("current_password", e.message());
            (status, errors)
        }
        Err(ChangeError::Fields(errors)) => (StatusCode::BAD_REQUEST, errors),
        Err(ChangeError::Busy) => return page::busy(&app, &req),
        Err(e @ (ChangeError::Store(_) | ChangeError::Sessions(_))) => {
            return unavailable(&app, &req, &e);
        }
    };
    render_password(&app, &req, status, errors_json(&app, &req, &errors))
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
    let sessions = match interaction::sessions_of(&app, &me.account.id).await {
        Ok(v) => v,
        Err(e) => return unavailable(&app, &req, &e),
    };
    // Only the account's own sessions can be named.
    let Some(s) = sessions.iter().find(|s| s.sid == target) else {
        return bad_request(&app, &req);
    };
    let ip = peer.ip().to_string();
    if let Err(e) = crate::oidc::logout::end_session_by_handle(&app, &s.handle, Some(&ip)).await {
        return unavailable(&app, &req, &e);
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
    let sessions = match interaction::sessions_of(&app, &me.account.id).await {
        Ok(v) => v,
        Err(e) => return unavailable(&app, &req, &e),
    };
    let ip = peer.ip().to_string();
    for s in sessions.iter().filter(|s| s.sid != me.session.sid) {
        if let Err(e) = crate::oidc::logout::end_session_by_handle(&app, &s.handle, Some(&ip)).await
        {
            return unavailable(&app, &req, &e);
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
    if let EnrolError::Store(cause) = e {
        tracing::error!(%cause, "enrolment failed on a backend");
    }
    let status = match e {
        EnrolError::Store(_) | EnrolError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        EnrolError::NotEnrollable => StatusCode::NOT_FOUND,
        EnrolError::Label | EnrolError::Refused(_) => StatusCode::BAD_REQUEST,
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

/// Adding a credential, first step: its name, then the method's ceremony page
/// (`enroll_{method}` in the theme).
async fn enrol_start(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Response {
    let (me, req, params, recent) = match change_by_me(&app, request, ReturnTo::Profile).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(method) = enrollable(&app, &name) else {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    };
    let label = params.get("label").unwrap_or_default();
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let (flow, ceremony) =
        match enrolment::start(&app, &ctx, &recent, &me.account, method, label).await {
            Ok(x) => x,
            Err(e) => return enrol_refused(&app, &req, &me, label, &e).await,
        };
    let secret = match crate::flow::start(app.store.as_ref(), &flow).await {
        Ok(v) => v,
        Err(e) => return unavailable(&app, &req, &e),
    };
    let vars = json!({
        "action": app.url(&format!("/profile/credentials/{name}/finish")),
        "options": ceremony.options.to_string(),
        "label": flow.label,
        "back": app.url("/profile"),
    });
    let template = format!("enroll_{name}");
    let title = format!("title_enroll_{name}");
    let mut resp = page::render(&app, &req, StatusCode::OK, &template, &title, vars);
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
    let mut resp = match enrolment::finish(&app, &ctx, &me.account, flow, &params, req.locale).await
    {
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
    let (_, req, params, recent) = match change_by_me(&app, request, ReturnTo::Profile).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let id = params.get("credential_id").unwrap_or_default();
    match enrolment::remove(&app, &recent, id, &peer.ip().to_string()).await {
        Ok(true) => back(&app, "credential_removed"),
        Ok(false) => bad_request(&app, &req),
        Err(e) => unavailable(&app, &req, &e),
    }
}
