//! The only place axum appears: one router per feature, merged here, with the cross-cutting
//! layers (request id, access log and latency metrics, security headers, body limit,
//! timeouts, panic safety).

pub mod admin;
pub mod captcha;
pub mod complaints;
pub mod counter;
pub mod federation_link;
pub mod login;
pub mod login_page;
pub mod observe;
pub mod oidc;
pub mod otp;
pub mod otp_screen;
pub mod page;
pub mod profile;
pub mod reauth;
pub mod recovery;
pub mod registration;
pub mod render;
pub mod request;
pub mod signature_registration;
pub mod staff;
pub mod steps;
pub mod upgrade;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;

use crate::app::App;
use page::PageRequest;
use request::{SESSION_COOKIE, SameSite};

pub fn router(app: App) -> Router {
    // An operator's theme serves its own assets first, then the default theme's.
    let default_static = app.config.theme.dir.join("static");
    let first = match &app.config.theme.override_dir {
        Some(dir) => dir.join("static"),
        None => default_static.clone(),
    };
    let static_files = ServeDir::new(first).fallback(ServeDir::new(default_static));
    layers(
        app.clone(),
        routes(&app).nest_service("/static", static_files),
    )
}

fn routes(app: &App) -> Router<App> {
    let mut r = Router::new()
        .merge(oidc::router())
        .merge(login::router())
        .merge(otp::router())
        .merge(steps::router())
        .merge(federation_link::router())
        .merge(captcha::router())
        .merge(registration::router())
        .merge(recovery::router())
        .merge(profile::router())
        .merge(reauth::router())
        .merge(signature_registration::router())
        .merge(upgrade::router())
        .merge(counter::router())
        .merge(complaints::router())
        .merge(admin::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics));
    if app.config.sandbox.enabled {
        r = r.merge(crate::sandbox::router(app));
    }
    r
}

fn layers(app: App, routes: Router<App>) -> Router {
    routes
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            security_headers,
        ))
        .layer(DefaultBodyLimit::max(app.config.server.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::new())
        // Outermost: times and logs everything above, panics and timeouts included.
        .layer(middleware::from_fn_with_state(
            app.clone(),
            observe::observe,
        ))
        .with_state(app)
}

async fn ready(State(app): State<App>) -> Response {
    if app.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping").into_response();
    }
    let db = app.db.ping().await;
    let store = app.store.ping().await;
    match (db, store) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready").into_response(),
        (db, store) => {
            tracing::warn!(db = ?db.err(), store = ?store.err(), "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

/// The Prometheus exposition; behind a bearer token when `[metrics] token` is set.
async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    let token = &app.config.metrics.token;
    if !token.is_empty() {
        let presented = request::header_str(&headers, header::AUTHORIZATION)
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !crate::random::constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the configured bearer token",
            )
                .into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn not_found(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    // The path matched no route: it may be anything (`//evil.example/x`), so the language link
    // goes to the home page rather than back to it.
    let req = PageRequest::at(&app, &headers, &uri, "/", &[]);
    page::render(
        &app,
        &req,
        StatusCode::NOT_FOUND,
        "not_found",
        "title_not_found",
        serde_json::json!({}),
    )
}

/// Headers every response carries; a handler's own CSP wins.
async fn security_headers(
    State(app): State<App>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if app.issuer.starts_with("https://") {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    resp
}

pub fn set_session_cookie(app: &App, h: &mut HeaderMap, sid: &str) {
    app.cookies.set(h, SESSION_COOKIE, sid, SameSite::Lax, None);
}

pub fn clear_session_cookie(app: &App, h: &mut HeaderMap) {
    app.cookies
        .set(h, SESSION_COOKIE, "", SameSite::Lax, Some(0));
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(router(app), listener, shutdown).await
}

/// Serves a router built by [`router`] on `listener` until `shutdown` resolves.
pub async fn serve_router(
    router: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
