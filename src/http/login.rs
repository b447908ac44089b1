//! Browser pages: home, the login page and its form, consent.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::login_page::{self, LoginPage};
use super::oidc::{error_redirect, respond};
use super::page::{self, PageRequest};
use super::request::{BROWSER_COOKIE, SESSION_COOKIE, form_params, query_params};
use super::steps;
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::Method;
use crate::domain::Role;
use crate::message::Message;
use crate::oidc::authorize::{AuthorizationRequest, ErrorTarget};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::interaction::{self, Interaction};

pub fn router() -> Router<App> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/consent", get(consent_page).post(consent_submit))
}

async fn home(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let mut vars = json!({});
    if let Some(sid) = app.cookies.get(&headers, SESSION_COOKIE)
        && let Ok(Some(session)) = interaction::load_session(&app, sid).await
        && let Ok(Some(account)) = app.db.find_account(&session.account_id).await
    {
        vars["account_name"] = json!(account.full_name);
        // Staff find their area from home, where a login without a portal lands.
        let roles = app.db.roles_of(&account.id).await.unwrap_or_default();
        if roles.iter().any(|g| g.role.covers(Role::CounterOfficer)) {
            vars["counter_url"] = json!(app.url("/counter"));
        }
        if !roles.is_empty() {
            vars["admin_url"] = json!(app.url("/admin"));
        }
    }
    page::render(&app, &req, StatusCode::OK, "home", "title_home", vars)
}

async fn login_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let params = query_params(&uri).unwrap_or_default();
    let ar = params.get("ar");
    let context = login_page::context_of(&app, &headers, ar).await;
    let req = login_page::page_request(&app, &headers, &uri, &context);
    let Ok(context) = context else {
        return page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        );
    };
    // login_hint pre-fills the ID number when it is one.
    let hint = context
        .pending
        .as_ref()
        .and_then(|(r, _)| r.login_hint.as_deref())
        .filter(|h| crate::domain::IdNumber::parse(h).is_ok())
        .unwrap_or_default();
    let asked = params.get("captcha") == Some("1");
    let page = LoginPage {
        username: hint,
        error: None,
        captcha: login_page::captcha(&app, ar, hint, asked).await,
    };
    login_page::render(&app, &req, StatusCode::OK, &context, page)
}

/// The login page's form: the ID number and password (the `password` method), or with
/// `method=passkey` the ID number alone, for that account's passkeys.
async fn login_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let uri = request.uri().clone();
    let sent = request.headers().clone();
    let (headers, params) = match form_params(request, app.config.server.max_body_bytes).await {
        Ok(x) => x,
        Err(_) => {
            let req = PageRequest::new(&app, &sent, &uri, &[]);
            return page::error(
                &app,
                &req,
                StatusCode::BAD_REQUEST,
                "error_bad_request",
                None,
            );
        }
    };
    let ar = params.get("ar");
    let context = login_page::context_of(&app, &headers, ar).await;
    let req = login_page::page_request(&app, &headers, &uri, &context);
    let Ok(context) = context else {
        return page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        );
    };
    if !page::csrf_ok(&app, &headers, params.get("csrf")) {
        let username = params.get("username").unwrap_or_default().trim();
        let page = LoginPage {
            username,
            error: Some(&Message::new("error_csrf")),
            captcha: login_page::captcha(&app, ar, username, false).await,
        };
        return login_page::render(&app, &req, StatusCode::FORBIDDEN, &context, page);
    }
    let method = match params.get("method") {
        None => Some(Method::Password),
        Some(name) => Method::parse(name).filter(|m| app.config.login.enabled(*m)),
    };
    let Some(method) = method else {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    };
    let ip = peer.ip().to_string();
    steps::begin(&app, &req, method, ar, &context.need, &params, &ip).await
}

/// The pending request named by `ar` if this browser started it, with its client's name.
async fn pending(
    app: &App,
    headers: &HeaderMap,
    ar: Option<&str>,
) -> Option<(AuthorizationRequest, String)> {
    let browser = app.cookies.get(headers, BROWSER_COOKIE);
    let request = interaction::pending(app, ar?, browser).await.ok()??;
    let name = app.client(&request.client_id).await.ok()??.name.clone();
    Some((request, name))
}

async fn consent_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let params = query_params(&uri).unwrap_or_default();
    let ar = params.get("ar");
    // The session only has to exist: consent is given by a logged-in user.
    let (pending, _session) = match consent_context(&app, &headers, ar).await {
        Ok(x) => x,
        Err(key) => {
            let req = PageRequest::new(&app, &headers, &uri, &[]);
            return page::error(&app, &req, StatusCode::BAD_REQUEST, key, None);
        }
    };
    let theme = login_page::theme_of(&app, &pending.0.client_id).await;
    let req = PageRequest::new(&app, &headers, &uri, &pending.0.ui_locales)
        .with_client_theme(&app, theme.as_deref());
    consent_form(&app, &req, &pending, ar.unwrap_or_default())
}

fn consent_form(
    app: &App,
    req: &PageRequest,
    pending: &(AuthorizationRequest, String),
    ar: &str,
) -> Response {
    let scopes: Vec<_> = pending
        .0
        .scopes
        .iter()
        .map(|s| json!({ "name": s, "description": req.t(app, &format!("consent_scope_{s}")) }))
        .collect();
    let vars = json!({ "client_name": pending.1, "scopes": scopes, "ar": ar });
    let mut resp = page::render(app, req, StatusCode::OK, "consent", "title_consent", vars);
    page::allow_forms_to(&mut resp, &pending.0.redirect_uri);
    resp
}

/// The pending request and the SSO session a consent page acts on.
async fn consent_context(
    app: &App,
    headers: &HeaderMap,
    ar: Option<&str>,
) -> Result<
    (
        (AuthorizationRequest, String),
        crate::oidc::session::SsoSession,
    ),
    &'static str,
> {
    let pending = pending(app, headers, ar)
        .await
        .ok_or("error_session_expired")?;
    let sid = app
        .cookies
        .get(headers, SESSION_COOKIE)
        .ok_or("error_session_expired")?;
    let session = interaction::load_session(app, sid)
        .await
        .ok()
        .flatten()
        .ok_or("error_session_expired")?;
    Ok((pending, session))
}

async fn consent_submit(State(app): State<App>, request: Request<Body>) -> Response {
    let uri = request.uri().clone();
    let sent = request.headers().clone();
    let (headers, params) = match form_params(request, app.config.server.max_body_bytes).await {
        Ok(x) => x,
        Err(_) => {
            let req = PageRequest::new(&app, &sent, &uri, &[]);
            return page::error(
                &app,
                &req,
                StatusCode::BAD_REQUEST,
                "error_bad_request",
                None,
            );
        }
    };
    let ar = params.get("ar");
    let ((auth_req, client_name), session) = match consent_context(&app, &headers, ar).await {
        Ok(x) => x,
        Err(key) => {
            let req = PageRequest::new(&app, &headers, &uri, &[]);
            return page::error(&app, &req, StatusCode::BAD_REQUEST, key, None);
        }
    };
    let req = PageRequest::new(&app, &headers, &uri, &auth_req.ui_locales);
    if !page::csrf_ok(&app, &headers, params.get("csrf")) {
        return page::error(&app, &req, StatusCode::FORBIDDEN, "error_csrf", None);
    }
    let target = ErrorTarget::of(&auth_req);
    match params.get("decision") {
        Some("allow") => {}
        Some("deny") => {
            if let Some(ar) = ar {
                interaction::forget_pending(&app, ar).await;
            }
            return error_redirect(
                &app,
                &target,
                &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
            );
        }
        _ => return consent_form(&app, &req, &(auth_req, client_name), ar.unwrap_or_default()),
    }
    if params.get("remember") == Some("1") {
        let saved = app
            .db
            .save_consent(
                &session.account_id,
                &auth_req.client_id,
                &auth_req.scopes,
                app.clock.now(),
            )
            .await;
        if let Err(e) = saved {
            tracing::error!(error = %e, "saving consent failed");
            return page::error(
                &app,
                &req,
                StatusCode::SERVICE_UNAVAILABLE,
                "error_temporarily_unavailable",
                None,
            );
        }
    }
    let event = Event::new("consent.granted")
        .account(&session.account_id)
        .client(&auth_req.client_id)
        .detail(
            json!({ "scopes": auth_req.scopes, "remembered": params.get("remember") == Some("1") }),
        );
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
        return page::error(
            &app,
            &req,
            StatusCode::SERVICE_UNAVAILABLE,
            "error_temporarily_unavailable",
            None,
        );
    }
    let how = Interaction {
        fresh_login: false,
        consent_given: true,
    };
    let browser = app
        .cookies
        .get(&headers, BROWSER_COOKIE)
        .unwrap_or_default();
    let next = interaction::advance(&app, &auth_req, ar, Some(&session), how, browser).await;
    respond(&app, &auth_req, next, &req)
}
