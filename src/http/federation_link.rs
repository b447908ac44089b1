//! "Liên kết tài khoản": an upstream (VNeID) vouched for a person at a level below the IAL of
//! the local account with the same ID number, so the login is held (`flow::federation::LinkFlow`,
//! under this browser's `federation_link` flow cookie) until the person proves the local
//! account once. `GET /login/link` explains it and asks for the account's password (the login
//! name is the upstream's ID number: no other account can be chosen); `POST /login/link`
//! checks it, then the SMS code at `/login/link/otp` (one of the generic OTP pages of
//! `http::otp`); then the link is made and the login completes (`flow::login::complete`).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;

use super::login_page;
use super::otp::OtpJourney;
use super::page::{self, PageRequest};
use super::registration::{captcha_vars, merge};
use super::steps;
use crate::app::App;
use crate::authenticators::password::{self, CaptchaAnswer};
use crate::authenticators::{Method, Refusal, RefusalKind};
use crate::flow::federation::{self, LinkFlow};
use crate::flow::login;
use crate::oidc::params::Params;

/// The page that explains the hold and asks for the local account's password.
const PAGE: &str = federation::LINK_PAGE;
/// The SMS code after the password.
const OTP_PAGE: &str = "/login/link/otp";

pub fn router() -> Router<App> {
    Router::new().route(PAGE, get(show).post(password))
}

/// The page: what happened, the account's ID number (masked), the password field, and the
/// captcha when the ID number is challenged (too many wrong passwords in a row).
async fn render(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    flow: &LinkFlow,
    error: Option<&Refusal>,
) -> Response {
    let Some((upstream, id_number)) = flow.upstream() else {
        return page::flow_expired(app, req);
    };
    let masked = mask(id_number);
    let mut vars = json!({
        "action": app.url(PAGE),
        "upstream": upstream.name,
        "id_number": masked,
        "login_url": login_page::url(app, flow.ar.as_deref()),
    });
    if let Some(r) = error {
        vars["error"] = json!(page::text(app, req, &r.message));
    }
    // As on the login page: a challenged ID number needs the captcha with its password. "Đổi
    // mã khác" reloads this page (a fresh challenge each time it is shown).
    let challenged = password::needs_captcha(app.store.as_ref(), &app.config.passwords, id_number)
        .await
        .unwrap_or(false);
    if challenged {
        match captcha_vars(app, PAGE).await {
            Ok(captcha) => merge(&mut vars, captcha),
            Err(cause) => tracing::error!(%cause, "captcha unavailable on the link page"),
        }
    }
    let mut resp = page::render(
        app,
        req,
        status,
        "federation_link",
        "title_federation_link",
        vars,
    );
    if error.is_some_and(|r| r.kind == RefusalKind::Busy) {
        page::retry_after(&mut resp, crate::hashing::RETRY_AFTER_SECONDS);
    }
    resp
}

/// An ID number as the page shows it: the first three and the last three digits.
fn mask(id_number: &str) -> String {
    let n = id_number.len();
    if n < 7 || !id_number.is_ascii() {
        return "*".repeat(n);
    }
    format!(
        "{}{}{}",
        &id_number[..3],
        "*".repeat(n - 6),
        &id_number[n - 3..]
    )
}

/// This browser's held login, if it has one that has not expired.
async fn held(app: &App, headers: &HeaderMap) -> Option<(String, LinkFlow)> {
    page::flow_of::<LinkFlow>(app, headers)
        .await
        .filter(|(_, flow)| !flow.expired(app.clock.unix()))
}

async fn show(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match held(&app, &headers).await {
        Some((_, flow)) if flow.otp.is_some() => Redirect::to(&app.url(OTP_PAGE)).into_response(),
        Some((_, flow)) => render(&app, &req, StatusCode::OK, &flow, None).await,
        None => page::flow_expired(&app, &req),
    }
}

/// The local account's password; then the SMS code.
async fn password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, mut flow)) = held(&app, &headers).await else {
        return page::flow_expired(&app, &req);
    };
    let ip = peer.ip().to_string();
    let ctx = app.ctx(req.locale, &ip);
    let captcha = match (params.get("captcha_id"), params.get("captcha")) {
        (Some(id), Some(answer)) => Some(CaptchaAnswer { id, answer }),
        _ => None,
    };
    let typed = params.get("password").unwrap_or_default();
    let proven = federation::prove_password(&ctx, &mut flow, typed, captcha).await;
    if let Err(r) = &proven {
        login::record_failure(&app, &ip, Method::Password, r).await;
    }
    match proven {
        Ok(()) => {
            if let Err(e) = page::save_flow(&app, Some(&secret), &flow).await {
                return page::unavailable(&app, &req, &e);
            }
            Redirect::to(&app.url(OTP_PAGE)).into_response()
        }
        // The account cannot be linked at all (locked, no phone): the flow ends here.
        Err(r) if r.reason == "account_inactive" || r.reason == "no_verified_phone" => {
            let _ = crate::flow::finish::<LinkFlow>(app.store.as_ref(), &secret).await;
            let mut resp = render(&app, &req, steps::status_of(&r), &flow, Some(&r)).await;
            page::clear_flow_cookie::<LinkFlow>(&app, &mut resp);
            resp
        }
        Err(r) => render(&app, &req, steps::status_of(&r), &flow, Some(&r)).await,
    }
}

/// The SMS code after the password: one of the generic OTP pages (`http::otp`).
impl OtpJourney for LinkFlow {
    const PAGE: &'static str = OTP_PAGE;
    const AFTER: &'static str = PAGE;

    fn portal_request(&self) -> Option<&str> {
        self.ar.as_deref()
    }

    /// The code is right: the flow is taken (once), the link made, and the login completed.
    async fn answer(
        app: &App,
        req: &PageRequest,
        secret: String,
        mut flow: Self,
        input: &Params,
        ip: &str,
    ) -> Response {
        let ctx = app.ctx(req.locale, ip);
        if let Err(r) = federation::prove_code(&ctx, &mut flow, input.get("otp")).await {
            login::record_failure(app, ip, Method::SmsOtp, &r).await;
            if r.message.key == "err_flow_expired" {
                return page::flow_expired(app, req);
            }
            let status = steps::status_of(&r);
            return super::otp::render(app, req, status, &flow, Some(&r.message), None).await;
        }
        // Single use: of two answers at once, one links and logs in.
        if !crate::flow::finish::<LinkFlow>(app.store.as_ref(), &secret)
            .await
            .unwrap_or(false)
        {
            return page::flow_expired(app, req);
        }
        let evidence = match federation::link_proven(app, &flow, ip).await {
            Ok(e) => e,
            Err(r) => {
                login::record_failure(app, ip, Method::Federation, &r).await;
                let mut resp = page::error(app, req, steps::status_of(&r), r.message.key, None);
                page::clear_flow_cookie::<LinkFlow>(app, &mut resp);
                return resp;
            }
        };
        let ar = flow.ar.as_deref();
        let completion =
            login::complete(app, Method::Federation, &evidence, ar, req.browser(), ip).await;
        let mut resp = match completion {
            Ok(c) => steps::respond_completion(app, req, c),
            Err(r) => page::error(app, req, steps::status_of(&r), r.message.key, None),
        };
        page::clear_flow_cookie::<LinkFlow>(app, &mut resp);
        resp
    }
}
