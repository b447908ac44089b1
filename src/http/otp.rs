//! The one OTP step's pages ("Mã xác thực đã được gửi qua SĐT …"): the screen, the code,
//! "Gửi lại OTP", and "Chọn phương thức xác thực khác" — the same handlers for the login, the
//! registration, the password recovery and the profile's phone verification. Each of those
//! flows says where its screen lives and what happens once the code is right
//! ([`OtpJourney`]).

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::otp_screen::{self, LOGIN_PAGE, Screen};
use super::page::{self, PageRequest};
use super::request::SESSION_COOKIE;
use super::steps;
use crate::app::App;
use crate::authenticators::otp::OtpError;
use crate::authenticators::sms_otp::{self, SwitchError};
use crate::domain::PhoneNumber;
use crate::flow::WithOtp;
use crate::flow::federation::LinkFlow;
use crate::flow::login::{self, LoginFlow};
use crate::flow::phone::PhoneFlow;
use crate::flow::reauth::ReauthFlow;
use crate::flow::recovery::RecoveryFlow;
use crate::flow::registration::RegistrationFlow;
use crate::message::Message;
use crate::oidc::interaction;
use crate::oidc::params::Params;

pub fn router() -> Router<App> {
    Router::new()
        .merge(routes::<RegistrationFlow>())
        .merge(routes::<crate::flow::counter::CounterFlow>())
        .merge(routes::<RecoveryFlow>())
        .merge(routes::<PhoneFlow>())
        .merge(routes::<ReauthFlow>())
        .merge(routes::<LoginFlow>())
        .merge(routes::<LinkFlow>())
        .route(
            "/login/otp/phones",
            get(phones_page::<LoginFlow>).post(phones_submit::<LoginFlow>),
        )
        .route(
            "/profile/reauth/otp/phones",
            get(phones_page::<ReauthFlow>).post(phones_submit::<ReauthFlow>),
        )
}

fn routes<J: OtpJourney>() -> Router<App> {
    Router::new()
        .route(J::PAGE, get(show::<J>).post(answer::<J>))
        .route(&format!("{}/resend", J::PAGE), post(resend::<J>))
}

/// A flow with an OTP step, as the OTP pages see it.
pub trait OtpJourney: WithOtp + Send + Sync + 'static {
    /// Where the screen lives; "Gửi lại OTP" posts to `{PAGE}/resend`.
    const PAGE: &'static str;
    /// Where to go when the code was already entered (a reload, the back button).
    const AFTER: &'static str;
    /// The message when the flow is gone (expired, or lost with a Redis restart): start again.
    const EXPIRED: &'static str = "err_flow_expired";
    /// The account whose other verified phones may receive the code instead.
    fn phones_of(&self) -> Option<&str> {
        None
    }
    /// The portal's pending authorization request the flow serves, whose origin the screen's
    /// forms may then lead to ([`page::allow_forms_to_portal`]).
    fn portal_request(&self) -> Option<&str> {
        None
    }
    /// Takes the typed code and answers with the next page: by default the flow goes on to its
    /// own next page (`AFTER`).
    fn answer(
        app: &App,
        req: &PageRequest,
        secret: String,
        flow: Self,
        input: &Params,
        ip: &str,
    ) -> impl Future<Output = Response> + Send {
        check_then_next(app, req, secret, flow, input, ip)
    }
}

/// Why the pages cannot show a flow.
enum Missing {
    /// No flow, or it expired: start again.
    Flow,
    /// A profile flow whose owner is not the logged-in user of this browser.
    Login,
}

/// The flow of this browser, if it is at its OTP step and (for profile flows) belongs to the
/// logged-in user.
async fn load<J: OtpJourney>(app: &App, headers: &HeaderMap) -> Result<(String, J), Missing> {
    let (secret, flow) = page::flow_of::<J>(app, headers)
        .await
        .ok_or(Missing::Flow)?;
    if let Some(owner) = flow.owner() {
        let session = match app.cookies.get(headers, SESSION_COOKIE) {
            Some(s) => interaction::load_session(app, s).await.ok().flatten(),
            None => None,
        };
        match session {
            None => return Err(Missing::Login),
            Some(s) if s.account_id != owner => return Err(Missing::Flow),
            Some(_) => {}
        }
    }
    if flow.otp().is_none() {
        return Err(Missing::Flow);
    }
    Ok((secret, flow))
}

fn missing<J: OtpJourney>(app: &App, req: &PageRequest, m: Missing) -> Response {
    match m {
        Missing::Flow => page::error(app, req, StatusCode::BAD_REQUEST, J::EXPIRED, None),
        Missing::Login => Redirect::to(&app.url("/login")).into_response(),
    }
}

/// The OTP screen of a flow.
pub(super) async fn render<J: OtpJourney>(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    flow: &J,
    error: Option<&Message>,
    notice: Option<&'static str>,
) -> Response {
    let Some(otp) = flow.otp() else {
        return page::flow_expired(app, req);
    };
    let screen = Screen {
        page: J::PAGE,
        otp,
        other_phones: flow.phones_of().is_some(),
        error,
        notice,
    };
    let mut resp = otp_screen::render(app, req, status, screen);
    page::allow_forms_to_portal(app, req, &mut resp, flow.portal_request()).await;
    resp
}

async fn show<J: OtpJourney>(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match load::<J>(&app, &headers).await {
        Ok((_, flow)) if flow.otp().is_some_and(|o| o.verified) => {
            Redirect::to(&app.url(J::AFTER)).into_response()
        }
        Ok((_, flow)) => render(&app, &req, StatusCode::OK, &flow, None, None).await,
        Err(m) => missing::<J>(&app, &req, m),
    }
}

async fn answer<J: OtpJourney>(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    match load::<J>(&app, &headers).await {
        Ok((secret, flow)) => {
            J::answer(&app, &req, secret, flow, &params, &peer.ip().to_string()).await
        }
        Err(m) => missing::<J>(&app, &req, m),
    }
}

/// The status a failed send or check is shown with.
pub(super) fn status_of(e: &OtpError) -> StatusCode {
    page::status_for(e.kind())
}

/// "Gửi lại OTP".
async fn resend<J: OtpJourney>(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, _) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let (secret, mut flow) = match load::<J>(&app, &headers).await {
        Ok(x) => x,
        Err(m) => return missing::<J>(&app, &req, m),
    };
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let Some(otp) = flow.otp_mut() else {
        return page::flow_expired(&app, &req);
    };
    match otp.resend(&ctx).await {
        Ok(()) => {
            if let Err(e) = page::save_flow(&app, Some(&secret), &flow).await {
                return page::unavailable(&app, &req, &e);
            }
            render(&app, &req, StatusCode::OK, &flow, None, Some("otp_resent")).await
        }
        Err(e) => render(&app, &req, status_of(&e), &flow, Some(&e.message()), None).await,
    }
}

/// "Chọn phương thức xác thực khác": the account's verified phones.
async fn phones_page<J: OtpJourney>(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let (_, flow) = match load::<J>(&app, &headers).await {
        Ok(x) => x,
        Err(m) => return missing::<J>(&app, &req, m),
    };
    let Some(account_id) = flow.phones_of() else {
        return page::flow_expired(&app, &req);
    };
    let phones = match app.db.verified_phones(account_id).await {
        Ok(v) => v,
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    let phones: Vec<Value> = phones
        .iter()
        .map(|p| {
            let masked = PhoneNumber::parse(&p.e164)
                .map(|n| n.masked())
                .unwrap_or_default();
            json!({ "id": p.id, "masked": masked, "is_default": p.is_default })
        })
        .collect();
    let vars = json!({
        "action": app.url(&format!("{}/phones", J::PAGE)),
        "phones": phones,
        "back": app.url(J::PAGE),
    });
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "otp_phones",
        "title_otp_phones",
        vars,
    )
}

async fn phones_submit<J: OtpJourney>(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let (secret, mut flow) = match load::<J>(&app, &headers).await {
        Ok(x) => x,
        Err(m) => return missing::<J>(&app, &req, m),
    };
    let Some(account_id) = flow.phones_of().map(str::to_string) else {
        return page::flow_expired(&app, &req);
    };
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    let phone_id = params.get("phone_id").unwrap_or_default();
    let Some(otp) = flow.otp_mut() else {
        return page::flow_expired(&app, &req);
    };
    match sms_otp::switch_phone(otp, &ctx, &account_id, phone_id).await {
        Ok(()) => {
            if let Err(e) = page::save_flow(&app, Some(&secret), &flow).await {
                return page::unavailable(&app, &req, &e);
            }
            Redirect::to(&app.url(J::PAGE)).into_response()
        }
        Err(SwitchError::UnknownPhone) => page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_bad_request",
            None,
        ),
        Err(SwitchError::Otp(e)) => {
            render(&app, &req, status_of(&e), &flow, Some(&e.message()), None).await
        }
        Err(SwitchError::Store(e)) => page::unavailable(&app, &req, &e),
    }
}

/// Checks the code of a flow whose next step is its own page (`AFTER`).
async fn check_then_next<J: OtpJourney>(
    app: &App,
    req: &PageRequest,
    secret: String,
    mut flow: J,
    input: &Params,
    ip: &str,
) -> Response {
    let ctx = app.ctx(req.locale, ip);
    let Some(otp) = flow.otp_mut() else {
        return page::flow_expired(app, req);
    };
    if let Err(e) = otp.check(&ctx, input.get("otp")).await {
        return render(app, req, status_of(&e), &flow, Some(&e.message()), None).await;
    }
    if let Err(e) = page::save_flow(app, Some(&secret), &flow).await {
        return page::unavailable(app, req, &e);
    }
    Redirect::to(&app.url(J::AFTER)).into_response()
}

impl OtpJourney for RegistrationFlow {
    const PAGE: &'static str = "/register/otp";
    const AFTER: &'static str = "/register/password";
}

impl OtpJourney for RecoveryFlow {
    const PAGE: &'static str = "/forgot-password/otp";
    const AFTER: &'static str = "/forgot-password/password";
}

impl OtpJourney for PhoneFlow {
    const PAGE: &'static str = "/profile/phones/verify";
    const AFTER: &'static str = "/profile";

    /// The phone joins the account once its code is right.
    async fn answer(
        app: &App,
        req: &PageRequest,
        secret: String,
        mut flow: Self,
        input: &Params,
        ip: &str,
    ) -> Response {
        let ctx = app.ctx(req.locale, ip);
        if let Err(e) = flow.otp.check(&ctx, input.get("otp")).await {
            return render(app, req, status_of(&e), &flow, Some(&e.message()), None).await;
        }
        let _ = crate::flow::finish::<PhoneFlow>(app.store.as_ref(), &secret).await;
        if let Err(e) = crate::flow::phone::complete(app, &flow, ip, req.locale).await {
            return page::unavailable(app, req, &e);
        }
        let mut resp = Redirect::to(&app.url("/profile?notice=phone_added")).into_response();
        page::clear_flow_cookie::<PhoneFlow>(app, &mut resp);
        resp
    }
}

impl OtpJourney for LoginFlow {
    const PAGE: &'static str = LOGIN_PAGE;
    const AFTER: &'static str = "/login";
    /// A login is started again from the portal, not "registration or password recovery".
    const EXPIRED: &'static str = "error_session_expired";

    fn phones_of(&self) -> Option<&str> {
        self.so_far.as_ref().and_then(|e| e.account_id())
    }

    fn portal_request(&self) -> Option<&str> {
        self.ar.as_deref()
    }

    /// The code is the SMS step's answer: the login goes on (usually to its completion).
    async fn answer(
        app: &App,
        req: &PageRequest,
        secret: String,
        flow: Self,
        input: &Params,
        ip: &str,
    ) -> Response {
        let ctx = app.ctx(req.locale, ip);
        let progress = login::submit(app, &ctx, flow, input).await;
        steps::respond_progress(app, req, Some(secret), progress, input, ip).await
    }
}
