//! "Xác nhận lại danh tính": the re-authentication pages of "Thông tin cá nhân"
//! (`flow::reauth`). `GET /profile/reauth?next=profile|password` shows the password form and,
//! when the account has passkeys, a passkey ceremony; `POST /profile/reauth` takes the password
//! (then the SMS code at `/profile/reauth/otp`, one of the generic OTP pages of `http::otp`),
//! `POST /profile/reauth/passkey` the ceremony's answer. Done, the browser goes back where it was
//! sent from.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::otp::OtpJourney;
use super::page::{self, PageRequest};
use super::profile::{Me, me, to_login};
use super::request::query_params;
use crate::app::App;
use crate::flow::reauth::{self, ReauthError, ReauthFlow, ReturnTo};
use crate::message::Message;
use crate::oidc::interaction;
use crate::oidc::params::Params;
use crate::oidc::session::SsoSession;

pub fn router() -> Router<App> {
    Router::new()
        .route("/profile/reauth", get(show).post(password))
        .route("/profile/reauth/passkey", post(passkey))
}

/// Where a re-authenticated browser goes back to.
fn return_url(app: &App, next: ReturnTo) -> String {
    app.url(match next {
        ReturnTo::Profile => "/profile?notice=reauth_done",
        ReturnTo::Password => "/profile/password",
    })
}

/// The page: the password form, the passkey ceremony (if any), and an error.
async fn render(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    flow: &ReauthFlow,
    error: Option<&Message>,
) -> Response {
    let has_phone = app
        .db
        .verified_phones(&flow.account_id)
        .await
        .is_ok_and(|p| !p.is_empty());
    let mut vars = json!({
        "action": app.url("/profile/reauth"),
        "sms": has_phone,
        "back": app.url("/profile"),
    });
    if let Some(m) = error {
        vars["error"] = json!(page::text(app, req, m));
    }
    if let Some(ceremony) = flow.passkey.as_ref().map(|p| p.ceremony()) {
        vars["passkey"] = json!({
            "action": app.url("/profile/reauth/passkey"),
            "options": ceremony.options.to_string(),
        });
    }
    let mut resp = page::render(app, req, status, "reauth", "title_reauth", vars, None);
    page::allow_own_scripts(&mut resp);
    resp
}

/// The status a refused attempt is shown with.
fn status_of(e: &ReauthError) -> StatusCode {
    match e {
        ReauthError::WrongPassword => StatusCode::UNAUTHORIZED,
        ReauthError::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
        ReauthError::Otp(e) => super::otp::status_of(e),
        ReauthError::Passkey(r) => super::steps::status_of(r),
        ReauthError::OutOfOrder => StatusCode::BAD_REQUEST,
        ReauthError::Busy | ReauthError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn show(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some(me) = me(&app, &headers).await else {
        return to_login(&app);
    };
    let params = query_params(&uri).unwrap_or_default();
    let next = ReturnTo::parse(params.get("next"));
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let flow = match reauth::begin(&ctx, &me.session, next).await {
        Ok(flow) => flow,
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    let secret = match crate::flow::start(app.store.as_ref(), &flow).await {
        Ok(v) => v,
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    let mut resp = render(&app, &req, StatusCode::OK, &flow, None).await;
    page::set_flow_cookie::<ReauthFlow>(&app, &mut resp, &secret);
    resp
}

/// Done: audited, the marker left, the flow ended, and back where the browser came from.
async fn finish(
    app: &App,
    req: &PageRequest,
    secret: &str,
    flow: &ReauthFlow,
    session: &SsoSession,
    ip: &str,
) -> Response {
    if let Err(e) = reauth::complete(app, flow, session, ip).await {
        return page::unavailable(app, req, &e);
    }
    let _ = crate::flow::finish::<ReauthFlow>(app.store.as_ref(), secret).await;
    let mut resp = Redirect::to(&return_url(app, flow.next)).into_response();
    page::clear_flow_cookie::<ReauthFlow>(app, &mut resp);
    resp
}

/// A form of this browser's re-authentication, posted by its logged-in session (CSRF
/// checked); otherwise the page to show instead.
async fn posted_to_flow(
    app: &App,
    request: Request<Body>,
) -> Result<(Me, PageRequest, Params, String, ReauthFlow), Response> {
    let (headers, req, params) = page::posted(app, request).await?;
    let Some(me) = me(app, &headers).await else {
        return Err(to_login(app));
    };
    let Some((secret, flow)) = page::flow_of::<ReauthFlow>(app, &headers)
        .await
        .filter(|(_, flow)| flow.session == me.session.handle)
    else {
        return Err(page::flow_expired(app, &req));
    };
    Ok((me, req, params, secret, flow))
}

/// Keeps what the attempt changed in the flow, then answers: done, the SMS code next (`true`
/// from the password step), or the page again with why.
async fn respond(
    app: &App,
    req: &PageRequest,
    session: &SsoSession,
    (secret, flow): (&str, &ReauthFlow),
    result: Result<bool, ReauthError>,
    ip: &str,
) -> Response {
    if let Err(e) = page::save_flow(app, Some(secret), flow).await {
        return page::unavailable(app, req, &e);
    }
    match result {
        Ok(true) => Redirect::to(&app.url("/profile/reauth/otp")).into_response(),
        Ok(false) => finish(app, req, secret, flow, session, ip).await,
        Err(e) => {
            if let ReauthError::Store(cause) = &e {
                tracing::error!(%cause, "re-authentication failed on a backend");
            }
            let mut resp = render(app, req, status_of(&e), flow, Some(&e.message())).await;
            if matches!(e, ReauthError::Busy) {
                page::retry_after(&mut resp, crate::hashing::RETRY_AFTER_SECONDS);
            }
            resp
        }
    }
}

/// The current password; then the SMS code (or, without a verified phone, done).
async fn password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params, secret, mut flow) = match posted_to_flow(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let ctx = app.ctx(req.locale, &ip);
    let typed = params.get("current_password").unwrap_or_default();
    let result = reauth::password(&app, &ctx, &mut flow, &me.account, typed).await;
    respond(&app, &req, &me.session, (&secret, &flow), result, &ip).await
}

/// The passkey ceremony's answer.
async fn passkey(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (me, req, params, secret, mut flow) = match posted_to_flow(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let ip = peer.ip().to_string();
    let ctx = app.ctx(req.locale, &ip);
    let result = reauth::passkey(&app, &ctx, &mut flow, &params)
        .await
        .map(|()| false);
    respond(&app, &req, &me.session, (&secret, &flow), result, &ip).await
}

/// The SMS code after the password: one of the generic OTP pages (`http::otp`).
impl OtpJourney for ReauthFlow {
    const PAGE: &'static str = "/profile/reauth/otp";
    const AFTER: &'static str = "/profile";

    /// The code may go to any of the account's verified phones.
    fn phones_of(&self) -> Option<&str> {
        Some(&self.account_id)
    }

    /// The code after the password: the re-authentication is done.
    async fn answer(
        app: &App,
        req: &PageRequest,
        secret: String,
        mut flow: Self,
        input: &Params,
        ip: &str,
    ) -> Response {
        let session = match req.session_cookie() {
            Some(s) => interaction::load_session(app, s).await.ok().flatten(),
            None => None,
        };
        let Some(session) = session.filter(|s| s.handle == flow.session) else {
            return page::flow_expired(app, req);
        };
        let ctx = app.ctx(req.locale, ip);
        match reauth::code(&ctx, &mut flow, input).await {
            Ok(()) => finish(app, req, &secret, &flow, &session, ip).await,
            Err(ReauthError::Otp(e)) => {
                let status = super::otp::status_of(&e);
                super::otp::render(app, req, status, &flow, Some(&e.message()), None).await
            }
            Err(_) => page::flow_expired(app, req),
        }
    }
}
