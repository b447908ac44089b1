//! Browser pages: home, login (ID number + password), consent, registration placeholder.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;

use super::oidc::{error_redirect, origin_of, respond};
use super::page::{self, PageRequest};
use super::request::{SESSION_COOKIE, cookie, form_params, query_params};
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::password::{self, LoginError};
use crate::metrics::Metrics;
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
    if let Some(sid) = cookie(&headers, SESSION_COOKIE)
        && let Ok(Some(session)) = interaction::load_session(&app, sid).await
        && let Ok(Some(account)) = app.db.find_account(&session.account_id).await
    {
        vars["account_name"] = json!(account.full_name);
    }
    page::render(&app, &req, StatusCode::OK, "home", "title_home", vars, None)
}

/// The pending request named by `ar`, with its client's name.
async fn pending(
    app: &App,
    ar: Option<&str>,
) -> Result<Option<(AuthorizationRequest, String)>, ()> {
    let Some(ar) = ar else {
        return Ok(None);
    };
    match interaction::pending(app, ar).await {
        Ok(Some(req)) => {
            let name = match app.client(&req.client_id).await {
                Ok(Some(c)) => c.name.clone(),
                _ => return Err(()),
            };
            Ok(Some((req, name)))
        }
        _ => Err(()),
    }
}

struct LoginForm<'a> {
    ar: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

fn login_form(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    pending: Option<&(AuthorizationRequest, String)>,
    form: LoginForm<'_>,
) -> Response {
    let mut vars = json!({ "ar": form.ar, "username": form.username });
    if let Some(key) = form.error {
        vars["error"] = json!(req.t(app, key));
    }
    let mut origin = None;
    if let Some((ar, name)) = pending {
        vars["client_name"] = json!(name);
        origin = origin_of(&ar.redirect_uri);
    }
    page::render(
        app,
        req,
        status,
        "login",
        "title_login",
        vars,
        origin.as_deref(),
    )
}

async fn login_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let params = query_params(&uri).unwrap_or_default();
    let ar = params.get("ar");
    let pending = pending(&app, ar).await;
    let ui_locales = match &pending {
        Ok(Some((r, _))) => r.ui_locales.clone(),
        _ => Vec::new(),
    };
    let req = PageRequest::new(&app, &headers, &uri, &ui_locales);
    let Ok(pending) = pending else {
        return page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        );
    };
    // login_hint pre-fills the ID number when it is one.
    let hint = pending
        .as_ref()
        .and_then(|(r, _)| r.login_hint.as_deref())
        .filter(|h| crate::domain::IdNumber::parse(h).is_ok())
        .unwrap_or_default();
    let form = LoginForm {
        ar: ar.unwrap_or_default(),
        username: hint,
        error: None,
    };
    login_form(&app, &req, StatusCode::OK, pending.as_ref(), form)
}

async fn login_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let uri = request.uri().clone();
    let (headers, params) = match form_params(request, app.config.server.max_body_bytes).await {
        Ok(x) => x,
        Err(_) => {
            let req = PageRequest::new(&app, &HeaderMap::new(), &uri, &[]);
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
    let pending = pending(&app, ar).await;
    let ui_locales = match &pending {
        Ok(Some((r, _))) => r.ui_locales.clone(),
        _ => Vec::new(),
    };
    let req = PageRequest::new(&app, &headers, &uri, &ui_locales);
    let Ok(pending) = pending else {
        return page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        );
    };
    let username = params.get("username").unwrap_or_default().trim();
    let form = |error| LoginForm {
        ar: ar.unwrap_or_default(),
        username,
        error: Some(error),
    };
    if !page::csrf_ok(&headers, params.get("csrf")) {
        return login_form(
            &app,
            &req,
            StatusCode::FORBIDDEN,
            pending.as_ref(),
            form("error_csrf"),
        );
    }
    if username.is_empty() {
        return login_form(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            pending.as_ref(),
            form("error_username_required"),
        );
    }
    let Some(password) = params.get("password") else {
        return login_form(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            pending.as_ref(),
            form("error_password_required"),
        );
    };
    let ip = peer.ip().to_string();
    let account = match password::authenticate(&app, username, password, &ip).await {
        Ok(a) => a,
        Err(e) => {
            Metrics::inc(&app.metrics.logins_failed);
            let key = match &e {
                LoginError::InvalidCredentials { .. } => "error_invalid_credentials",
                LoginError::Locked => "error_account_locked",
                LoginError::Throttled => "error_too_many_attempts",
                LoginError::Store(err) => {
                    tracing::error!(error = %err, "login failed on a backend");
                    return login_form(
                        &app,
                        &req,
                        StatusCode::SERVICE_UNAVAILABLE,
                        pending.as_ref(),
                        form("error_temporarily_unavailable"),
                    );
                }
            };
            let mut event = Event::new("login.failed")
                .ip(Some(&ip))
                .detail(json!({ "reason": e.to_string() }));
            if let LoginError::InvalidCredentials {
                account_id: Some(id),
            } = &e
            {
                event = event.account(id);
            }
            if let Err(err) = app.audit.record(event).await {
                tracing::error!(error = %err, "audit write failed");
            }
            let status = if matches!(e, LoginError::InvalidCredentials { .. }) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            return login_form(&app, &req, status, pending.as_ref(), form(key));
        }
    };
    let ar_owned = ar.map(str::to_string);
    let text = super::flows::sms_text(&app, req.locale);
    match crate::flow::login::second_step(&app, &account, ar_owned, text).await {
        Ok(Some(flow)) => super::flows::start_login_otp(&app, &req, &flow).await,
        Ok(None) => {
            let amr = crate::flow::login::AMR_PASSWORD.map(String::from).to_vec();
            finish_login(&app, &req, &account, amr, ar, &ip).await
        }
        Err(e) => {
            let key = super::flows::otp_failure_key(&e);
            login_form(
                &app,
                &req,
                StatusCode::SERVICE_UNAVAILABLE,
                pending.as_ref(),
                form(key),
            )
        }
    }
}

/// The last step of every login: the SSO session, the audit record, and on to the portal that
/// asked (or home).
pub async fn finish_login(
    app: &App,
    req: &PageRequest,
    account: &crate::domain::Account,
    amr: Vec<String>,
    ar: Option<&str>,
    ip: &str,
) -> Response {
    let unavailable = || {
        page::error(
            app,
            req,
            StatusCode::SERVICE_UNAVAILABLE,
            "error_temporarily_unavailable",
            None,
        )
    };
    let (session, cookie_secret) =
        match interaction::start_session(app, &account.id, account.ial, amr.clone()).await {
            Ok(s) => s,
            Err(_) => return unavailable(),
        };
    Metrics::inc(&app.metrics.logins_succeeded);
    let event = Event::new("login.succeeded")
        .account(&account.id)
        .ip(Some(ip))
        .detail(json!({ "amr": amr }));
    if let Err(e) = app.audit.record(event).await {
        tracing::error!(error = %e, "audit write failed");
        return unavailable();
    }
    let pending = match ar {
        Some(ar) => interaction::pending(app, ar).await.ok().flatten(),
        None => None,
    };
    let mut resp = match pending {
        Some(auth_req) => {
            let how = Interaction {
                fresh_login: true,
                consent_given: false,
            };
            let next = interaction::advance(app, &auth_req, ar, Some(&session), how).await;
            respond(app, &auth_req, next, req)
        }
        None if ar.is_some() => page::error(
            app,
            req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        ),
        None => Redirect::to(&app.url("/")).into_response(),
    };
    super::set_session_cookie(app, resp.headers_mut(), &cookie_secret);
    resp
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
    let req = PageRequest::new(&app, &headers, &uri, &pending.0.ui_locales);
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
    let origin = origin_of(&pending.0.redirect_uri);
    page::render(
        app,
        req,
        StatusCode::OK,
        "consent",
        "title_consent",
        vars,
        origin.as_deref(),
    )
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
    let pending = pending(app, ar)
        .await
        .ok()
        .flatten()
        .ok_or("error_session_expired")?;
    let sid = cookie(headers, SESSION_COOKIE).ok_or("error_session_expired")?;
    let session = interaction::load_session(app, sid)
        .await
        .ok()
        .flatten()
        .ok_or("error_session_expired")?;
    Ok((pending, session))
}

async fn consent_submit(State(app): State<App>, request: Request<Body>) -> Response {
    let uri = request.uri().clone();
    let (headers, params) = match form_params(request, app.config.server.max_body_bytes).await {
        Ok(x) => x,
        Err(_) => {
            let req = PageRequest::new(&app, &HeaderMap::new(), &uri, &[]);
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
    if !page::csrf_ok(&headers, params.get("csrf")) {
        return page::error(&app, &req, StatusCode::FORBIDDEN, "error_csrf", None);
    }
    let target = ErrorTarget {
        redirect_uri: auth_req.redirect_uri.clone(),
        response_mode: auth_req.response_mode,
        state: auth_req.state.clone(),
    };
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
    let next = interaction::advance(&app, &auth_req, ar, Some(&session), how).await;
    respond(&app, &auth_req, next, &req)
}
