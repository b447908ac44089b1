//! Protocol endpoints: discovery, JWKS, authorize, token, userinfo, introspection,
//! revocation, end-session. Parse → call `oidc` → answer on the right channel.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::page::{self, PageRequest};
use super::request::{SESSION_COOKIE, form_params, header_str, query_params};
use crate::app::App;
use crate::limits::Ceiling;
use crate::metrics::{Grant, Metrics};
use crate::oidc::authorize::{self, AuthorizationRequest, ErrorTarget, PageError, ResponseMode};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::interaction::{self, Next};
use crate::oidc::params::Params;
use crate::oidc::{client_auth, grants, logout, revocation, subject, userinfo};

pub fn router() -> Router<App> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery_doc))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery_doc),
        )
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize).post(authorize))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo_endpoint).post(userinfo_endpoint))
        .route("/introspect", post(introspect))
        .route("/revoke", post(revoke))
        .route("/logout", get(end_session).post(end_session))
        .route(logout::UPSTREAM_DONE_PATH, get(upstream_logout_done))
}

async fn discovery_doc(State(app): State<App>) -> Response {
    let body = app.discovery_json();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body.as_ref().clone(),
    )
        .into_response()
}

async fn jwks(State(app): State<App>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        app.keys.jwks().as_ref().clone(),
    )
        .into_response()
}

/// Reads GET query or POST form parameters.
async fn params_of(
    req: Request<Body>,
    limit: usize,
) -> (HeaderMap, Uri, Result<Params, OAuthError>) {
    let uri = req.uri().clone();
    if req.method() == Method::POST {
        let headers = req.headers().clone();
        match form_params(req, limit).await {
            Ok((h, p)) => (h, uri, Ok(p)),
            Err(e) => (headers, uri, Err(e)),
        }
    } else {
        let headers = req.headers().clone();
        (headers, uri.clone(), query_params(&uri))
    }
}

async fn authorize(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    Metrics::inc(&app.metrics.authorize_requests);
    let (headers, uri, params) = params_of(req, app.config.server.max_body_bytes).await;
    let page_req = PageRequest::new(&app, &headers, &uri, &[]);
    // Each request may store a pending request for 30 minutes: a ceiling per address, answered
    // on a page (the redirect URI is not verified yet, and the client is not at fault).
    let ip = peer.ip().to_string();
    match page::ceiling(&app, &page_req, Ceiling::Authorize, &ip).await {
        Ok(None) => {}
        Ok(Some(seconds)) => {
            return page::limited(&app, &page_req, "error_too_many_requests", seconds);
        }
        Err(resp) => return resp,
    }
    let params = match params {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "authorize: unreadable request");
            return page::error(
                &app,
                &page_req,
                StatusCode::BAD_REQUEST,
                "error_bad_request",
                Some(e.code.as_str()),
            );
        }
    };
    let client = match params.get("client_id") {
        None => Err(PageError::MissingClientId),
        Some(id) => match app.client(id).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(PageError::UnknownClient),
            Err(e) => {
                tracing::error!(error = %e, "client lookup failed");
                return page::error(
                    &app,
                    &page_req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error_temporarily_unavailable",
                    None,
                );
            }
        },
    };
    let target = client
        .as_ref()
        .map_err(|e| *e)
        .and_then(|c| authorize::check_redirect_uri(&params, c));
    let (client, target) = match (client, target) {
        (Ok(c), Ok(t)) => (c, t),
        (Err(e), _) | (_, Err(e)) => {
            tracing::info!(error = ?e, "authorize: no verified redirect URI; showing an error page");
            let key = match e {
                PageError::MissingClientId | PageError::UnknownClient => "error_unknown_client",
                PageError::MissingRedirectUri | PageError::UnregisteredRedirectUri => {
                    "error_invalid_redirect_uri"
                }
            };
            return page::error(
                &app,
                &page_req,
                StatusCode::BAD_REQUEST,
                key,
                Some("invalid_request"),
            );
        }
    };
    let req = match authorize::validate(&params, &client, &target, &app.acr) {
        Ok(r) => r,
        Err(e) => return error_redirect(&app, &target, &e),
    };
    let session = match app.cookies.get(&headers, SESSION_COOKIE) {
        Some(sid) => match interaction::load_session(&app, sid).await {
            Ok(s) => s,
            Err(e) => return error_redirect(&app, &target, &e),
        },
        None => None,
    };
    // The pending request (if one is stored) belongs to this browser: its browser cookie, made
    // now if it has none.
    let (browser, new_browser) = match page_req.browser() {
        Some(b) => (b.to_string(), false),
        None => (crate::random::token(), true),
    };
    let next = interaction::advance(
        &app,
        &req,
        None,
        session.as_ref(),
        Default::default(),
        &browser,
    )
    .await;
    let mut resp = respond(&app, &req, next, &page_req);
    if new_browser {
        page::set_browser_cookie(&app, &mut resp, &browser);
    }
    resp
}

/// Turns the interaction's answer into a browser response.
pub fn respond(
    app: &App,
    req: &AuthorizationRequest,
    next: Result<Next, OAuthError>,
    page_req: &PageRequest,
) -> Response {
    let target = ErrorTarget::of(req);
    match next {
        Ok(Next::Login { ar }) => {
            Redirect::to(&app.url(&format!("/login?ar={ar}"))).into_response()
        }
        Ok(Next::Consent { ar }) => {
            Redirect::to(&app.url(&format!("/consent?ar={ar}"))).into_response()
        }
        Ok(Next::Upgrade { ar }) => {
            Redirect::to(&app.url(&format!("/upgrade?ar={ar}"))).into_response()
        }
        Ok(Next::Code(code)) => {
            let mut params = vec![("code", code)];
            if let Some(s) = &req.state {
                params.push(("state", s.clone()));
            }
            params.push(("iss", app.issuer.clone()));
            authorization_response(app, &target, params, page_req)
        }
        Err(e) => error_redirect(app, &target, &e),
    }
}

/// An error sent back to the client's verified redirect URI.
pub fn error_redirect(app: &App, target: &ErrorTarget, e: &OAuthError) -> Response {
    tracing::info!(error = %e, "authorize: error returned to client");
    let mut params = vec![
        ("error", e.code.as_str().to_string()),
        ("error_description", e.description.to_string()),
    ];
    if let Some(s) = &target.state {
        params.push(("state", s.clone()));
    }
    if !target.omit_iss {
        params.push(("iss", app.issuer.clone()));
    }
    let page_req = PageRequest::new(app, &HeaderMap::new(), &Uri::from_static("/"), &[]);
    authorization_response(app, target, params, &page_req)
}

/// Delivers response parameters by query (302) or form post (an auto-submitting page).
fn authorization_response(
    app: &App,
    target: &ErrorTarget,
    params: Vec<(&str, String)>,
    page_req: &PageRequest,
) -> Response {
    match target.response_mode {
        ResponseMode::Query => {
            let mut url = target.redirect_uri.clone();
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                ser.append_pair(k, v);
            }
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&ser.finish());
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        ResponseMode::FormPost => {
            let nonce = crate::random::token();
            let vars = json!({
                "action": target.redirect_uri,
                "params": params.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                "nonce": nonce,
            });
            let mut resp = page::render(
                app,
                page_req,
                StatusCode::OK,
                "form_post",
                "title_login",
                vars,
            );
            let origin = page::origin_of(&target.redirect_uri).unwrap_or_default();
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            if let Ok(v) = HeaderValue::from_str(&csp) {
                resp.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, v);
            }
            resp
        }
    }
}

/// JSON error of the token-family endpoints, with the status RFC 6749 §5.2 gives.
fn json_error(e: &OAuthError, basic_attempted: bool) -> Response {
    let status = match e.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut resp = (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(json!({ "error": e.code.as_str(), "error_description": e.description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED && basic_attempted {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"xacthuc\""),
        );
    }
    resp
}

fn json_ok(body: impl serde::Serialize) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// Reads the form and authenticates the client: the common start of token, introspection
/// and revocation.
async fn authenticated(
    app: &App,
    req: Request<Body>,
) -> Result<(std::sync::Arc<crate::oidc::client::Client>, Params), Response> {
    authenticate_form(app, req)
        .await
        .map_err(|(e, basic)| json_error(&e, basic))
}

/// [`authenticated`], keeping the error (and whether HTTP Basic was tried) for the caller.
async fn authenticate_form(
    app: &App,
    req: Request<Body>,
) -> Result<(std::sync::Arc<crate::oidc::client::Client>, Params), (OAuthError, bool)> {
    let basic = req.headers().contains_key(header::AUTHORIZATION);
    let (headers, params) = form_params(req, app.config.server.max_body_bytes)
        .await
        .map_err(|e| (e, false))?;
    let client =
        client_auth::authenticate(app, header_str(&headers, header::AUTHORIZATION), &params)
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "client authentication failed");
                (e, basic)
            })?;
    Ok((client, params))
}

async fn token(State(app): State<App>, req: Request<Body>) -> Response {
    let (client, params) = match authenticate_form(&app, req).await {
        Ok(x) => x,
        Err((e, basic)) => {
            app.metrics.token_refused(e.code.as_str());
            return json_error(&e, basic);
        }
    };
    match grants::exchange(&app, &client, &params).await {
        Ok(body) => {
            app.metrics
                .token_issued(Grant::of(params.get("grant_type")));
            json_ok(body)
        }
        Err(e) => {
            app.metrics.token_refused(e.code.as_str());
            tracing::info!(client = %client.client_id, error = %e, "token request refused");
            json_error(&e, false)
        }
    }
}

async fn userinfo_endpoint(State(app): State<App>, req: Request<Body>) -> Response {
    let bearer = header_str(req.headers(), header::AUTHORIZATION)
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let token = match bearer {
        Some(t) => Some(t),
        None if req.method() == Method::POST => {
            match form_params(req, app.config.server.max_body_bytes).await {
                Ok((_, p)) => p.get("access_token").map(str::to_string),
                Err(e) => return bearer_error(StatusCode::BAD_REQUEST, Some(&e)),
            }
        }
        None => None,
    };
    let Some(token) = token else {
        return bearer_error(StatusCode::UNAUTHORIZED, None);
    };
    match userinfo::userinfo(&app, &token).await {
        Ok(body) => json_ok(body),
        Err(e) if e.code == ErrorCode::InvalidToken => {
            bearer_error(StatusCode::UNAUTHORIZED, Some(&e))
        }
        Err(e) => json_error(&e, false),
    }
}

/// RFC 6750 §3 error.
fn bearer_error(status: StatusCode, e: Option<&OAuthError>) -> Response {
    let challenge = match e {
        Some(e) => format!(
            "Bearer realm=\"xacthuc\", error=\"{}\", error_description=\"{}\"",
            e.code.as_str(),
            e.description
        ),
        None => "Bearer realm=\"xacthuc\"".to_string(),
    };
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

async fn introspect(State(app): State<App>, req: Request<Body>) -> Response {
    Metrics::inc(&app.metrics.introspections);
    let (client, params) = match authenticated(&app, req).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if client.is_public() {
        return json_error(
            &OAuthError::invalid_client("public clients may not introspect"),
            false,
        );
    }
    let token = match params.require("token") {
        Ok(t) => t,
        Err(e) => return json_error(&e, false),
    };
    match userinfo::introspect(&app, &client.client_id, token).await {
        Ok(body) => json_ok(body),
        Err(e) => json_error(&e, false),
    }
}

async fn revoke(State(app): State<App>, req: Request<Body>) -> Response {
    let (client, params) = match authenticated(&app, req).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let token = match params.require("token") {
        Ok(t) => t,
        Err(e) => return json_error(&e, false),
    };
    let result = revoke_token(&app, &client.client_id, token).await;
    match result {
        // RFC 7009 §2.2: 200 also for unknown or foreign tokens.
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => json_error(&e, false),
    }
}

async fn revoke_token(app: &App, client_id: &str, token: &str) -> Result<(), OAuthError> {
    if let Some(claims) = userinfo::verify_access_token(app, token).await? {
        if claims.get("client_id").and_then(Value::as_str) == Some(client_id)
            && let Some(jti) = claims.get("jti").and_then(Value::as_str)
        {
            revocation::revoke_access_token(app, jti)
                .await
                .map_err(grants::internal)?;
        }
        return Ok(());
    }
    let grant = app
        .db
        .find_refresh_token(&crate::random::sha256_hex(token))
        .await
        .map_err(grants::internal)?;
    if let Some(g) = grant.filter(|g| g.client_id == client_id) {
        revocation::revoke_family(app, &g.family_id)
            .await
            .map_err(grants::internal)?;
        app.audit
            .record(
                crate::audit::Event::new("token.revoked")
                    .client(client_id)
                    .account(&g.account_id),
            )
            .await
            .map_err(grants::internal)?;
    }
    Ok(())
}

/// RP-initiated logout. With a valid `id_token_hint` for the current session the user is
/// logged out at once; otherwise they confirm on a page (a GET alone must not log anyone out).
async fn end_session(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let is_post = req.method() == Method::POST;
    let (headers, uri, params) = params_of(req, app.config.server.max_body_bytes).await;
    let page_req = PageRequest::new(&app, &headers, &uri, &[]);
    let params = match params {
        Ok(p) => p,
        Err(_) => {
            return page::error(
                &app,
                &page_req,
                StatusCode::BAD_REQUEST,
                "error_bad_request",
                Some("invalid_request"),
            );
        }
    };
    // Only our own ID tokens (expired ones too) are acceptable hints.
    let hint = params
        .get("id_token_hint")
        .and_then(|t| app.keys.verify(t))
        .filter(|(c, typ)| {
            typ.as_deref() == Some("JWT")
                && c.get("iss").and_then(Value::as_str) == Some(app.issuer.as_str())
        })
        .map(|(c, _)| c);
    if params.get("id_token_hint").is_some() && hint.is_none() {
        return page::error(
            &app,
            &page_req,
            StatusCode::BAD_REQUEST,
            "error_bad_request",
            Some("invalid_request"),
        );
    }
    let hint_client = hint.as_ref().and_then(|c| match c.get("aud") {
        Some(Value::String(a)) => Some(a.clone()),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
        _ => None,
    });
    let client_id = match (hint_client, params.get("client_id")) {
        (Some(h), Some(c)) if h != c => {
            return page::error(
                &app,
                &page_req,
                StatusCode::BAD_REQUEST,
                "error_bad_request",
                Some("invalid_request"),
            );
        }
        (Some(h), _) => Some(h),
        (None, c) => c.map(str::to_string),
    };
    let client = match &client_id {
        Some(id) => app.client(id).await.ok().flatten(),
        None => None,
    };
    // The redirect target must be registered for the identified client, exactly.
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match &client {
            Some(c) if c.has_post_logout_redirect_uri(uri) => Some(uri.to_string()),
            _ => {
                return page::error(
                    &app,
                    &page_req,
                    StatusCode::BAD_REQUEST,
                    "error_logout_redirect_invalid",
                    Some("invalid_request"),
                );
            }
        },
    };
    let session_cookie = app
        .cookies
        .get(&headers, SESSION_COOKIE)
        .map(str::to_string);
    let current = match &session_cookie {
        Some(c) => interaction::load_session(&app, c).await.ok().flatten(),
        None => None,
    };
    let hint_sid = hint
        .as_ref()
        .and_then(|c| c.get("sid"))
        .and_then(Value::as_str);
    let confirmed = is_post && page::csrf_ok(&app, &headers, params.get("csrf"));
    let hint_sub = hint
        .as_ref()
        .and_then(|c| c.get("sub"))
        .and_then(Value::as_str);
    // The hint names this session, and this session's person as its client knows them (a
    // pairwise `sub` for a pairwise client).
    let hint_matches = current.as_ref().is_some_and(|s| {
        Some(s.sid.as_str()) == hint_sid
            && client.as_ref().is_some_and(|c| {
                hint_sub == Some(subject::for_client(c, &s.account_id, &app.subjects).as_str())
            })
    });
    if current.is_some() && !hint_matches && !confirmed {
        let mut hidden = Vec::new();
        for name in [
            "id_token_hint",
            "post_logout_redirect_uri",
            "state",
            "client_id",
        ] {
            if let Some(v) = params.get(name) {
                hidden.push(json!({"name": name, "value": v}));
            }
        }
        let mut vars = json!({ "hidden": hidden });
        if let Some(c) = &client {
            vars["client_name"] = json!(c.name);
        }
        let mut resp = page::render(
            &app,
            &page_req,
            StatusCode::OK,
            "logout_confirm",
            "title_logout",
            vars,
        );
        // "Đăng xuất" is answered with a redirect to the portal's registered URI, or first to
        // the upstream's end-session endpoint of a session made through it (then back here,
        // then to the portal: browsers hold every redirect of the form's navigation to
        // `form-action`).
        if let Some(uri) = &redirect {
            page::allow_forms_to(&mut resp, uri);
        }
        if let Some(up) = current.as_ref().and_then(|s| s.upstream_logout.as_ref()) {
            page::allow_forms_to(&mut resp, &up.end_session_endpoint);
        }
        return resp;
    }
    if let Some(sid) = &session_cookie {
        let ip = peer.ip().to_string();
        if let Err(e) = logout::end_session(&app, sid, Some(&ip)).await {
            tracing::error!(error = %e, "logout failed");
            return page::error(
                &app,
                &page_req,
                StatusCode::SERVICE_UNAVAILABLE,
                "error_temporarily_unavailable",
                None,
            );
        }
    }
    let back = redirect.map(|mut url| {
        if let Some(state) = params.get("state") {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            ser.append_pair("state", state);
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&ser.finish());
        }
        url
    });
    // A session made through an upstream (VNeID) ends there too: the browser goes to its
    // end-session endpoint, which sends it back to `/logout/upstream-done`, then on to `back`.
    // Ours has already ended, whatever the upstream does.
    let upstream = match current.as_ref().and_then(|s| s.upstream_logout.as_ref()) {
        Some(up) => logout::upstream_redirect(&app, up, back.as_deref()).await,
        None => None,
    };
    let mut resp = match (upstream, back) {
        (Some(url), _) | (None, Some(url)) => Redirect::to(&url).into_response(),
        (None, None) => logged_out(&app, &page_req),
    };
    super::clear_session_cookie(&app, resp.headers_mut());
    resp
}

fn logged_out(app: &App, req: &PageRequest) -> Response {
    page::render(
        app,
        req,
        StatusCode::OK,
        "logged_out",
        "title_logged_out",
        json!({}),
    )
}

/// `GET /logout/upstream-done?state=`: the upstream ended its session and sent the browser
/// back; on to where our logout would have gone (the portal's post-logout URI with its
/// state), or the logged-out page. An unknown or used `state` is the logged-out page too: the
/// user is logged out here either way.
async fn upstream_logout_done(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let params = query_params(&uri).unwrap_or_default();
    let back = match params.get("state") {
        Some(state) => logout::upstream_returned(&app, state).await,
        None => None,
    };
    let mut resp = match back {
        Some(url) => Redirect::to(&url).into_response(),
        None => logged_out(&app, &req),
    };
    super::clear_session_cookie(&app, resp.headers_mut());
    resp
}
