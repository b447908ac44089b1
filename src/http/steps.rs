//! The steps of a login, for every method: `/login/{method}` shows or answers the current
//! step, `/login/{method}/poll` reports on an outstanding push, `/login/{method}/callback` takes
//! an upstream's answer. A method brings its template (`login_{method}`), not a handler: each
//! of the five prompt shapes is shown here the same way for all. The OTP screen of the SMS step
//! is the shared one (`http::otp`).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;

use super::login_page::{self, LoginPage};
use super::oidc::respond;
use super::otp_screen::{self, LOGIN_PAGE, Screen};
use super::page::{self, PageRequest};
use super::request::query_params;
use crate::app::App;
use crate::authenticators::{Form, Method, Prompt, Refusal, RefusalKind, StepState};
use crate::flow::login::{self, Completion, Continuation, LoginFlow, Progress};
use crate::oidc::authorize::LoginNeed;
use crate::oidc::params::Params;

pub fn router() -> Router<App> {
    Router::new()
        .route("/login/{method}", get(show).post(answer))
        .route("/login/{method}/poll", get(poll))
        .route("/login/{method}/callback", get(callback))
}

/// An enabled method by its URL name; `None` for unknown and disabled ones (their routes refuse).
fn enabled(app: &App, name: &str) -> Option<Method> {
    Method::parse(name).filter(|m| app.config.login.enabled(*m))
}

fn not_found(app: &App, req: &PageRequest) -> Response {
    page::error(app, req, StatusCode::NOT_FOUND, "error_not_found", None)
}

/// `GET /login/{method}?ar=…`: begins a login with a method that needs nothing typed first
/// (a passkey ceremony, a trip to an upstream).
async fn show(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let params = query_params(&uri).unwrap_or_default();
    let ar = params.get("ar");
    let context = login_page::context_of(&app, &headers, ar).await;
    let req = PageRequest::new(&app, &headers, &uri, login_page::locales(&context));
    let Some(method) = enabled(&app, &name) else {
        return not_found(&app, &req);
    };
    let Ok(context) = context else {
        return page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        );
    };
    // The password is typed on the login page itself.
    if method == Method::Password {
        return Redirect::to(&login_page::url(&app, ar)).into_response();
    }
    let ip = peer.ip().to_string();
    begin(&app, &req, method, ar, &context.need, &params, &ip).await
}

/// Begins a login with `method` for the pending request `ar` with what the page sent.
pub async fn begin(
    app: &App,
    req: &PageRequest,
    method: Method,
    ar: Option<&str>,
    need: &LoginNeed,
    params: &Params,
    ip: &str,
) -> Response {
    let ctx = app.ctx(req.locale, ip);
    let ar = ar.map(str::to_string);
    let progress = login::begin(app, &ctx, method, ar, need, params).await;
    respond_progress(app, req, None, progress, params, ip).await
}

/// `POST /login/{method}`: what the page of the login's current step posted.
async fn answer(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    answer_current(&app, &req, &headers, &name, &params, &peer.ip().to_string()).await
}

/// Feeds `params` to the login's current step, which must be of the method named in the URL.
async fn answer_current(
    app: &App,
    req: &PageRequest,
    headers: &HeaderMap,
    name: &str,
    params: &Params,
    ip: &str,
) -> Response {
    let Some(method) = enabled(app, name) else {
        return not_found(app, req);
    };
    let Some((secret, flow)) = page::flow_of::<LoginFlow>(app, headers).await else {
        return page::flow_expired(app, req);
    };
    if flow.current.method() != method {
        return page::flow_expired(app, req);
    }
    let ctx = app.ctx(req.locale, ip);
    let progress = login::submit(app, &ctx, flow, params).await;
    respond_progress(app, req, Some(secret), progress, params, ip).await
}

/// `GET /login/{method}/poll`: `{"status": "pending" | "ready" | "failed"}` for the page of an
/// outstanding push; on `ready` the page posts its form to finish.
async fn poll(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let status = match (
        enabled(&app, &name),
        page::flow_of::<LoginFlow>(&app, &headers).await,
    ) {
        (Some(method), Some((secret, flow))) if flow.current.method() == method => {
            let ctx = app.ctx(req.locale, &peer.ip().to_string());
            match login::poll(&app, &ctx, flow).await {
                Progress::Prompt(flow, _) => {
                    if page::save_flow(&app, Some(&secret), &flow).await.is_err() {
                        "failed"
                    } else {
                        "pending"
                    }
                }
                Progress::Done { .. } => "ready",
                Progress::Refused(..) | Progress::Failed { .. } => "failed",
            }
        }
        _ => "failed",
    };
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "status": status })),
    )
        .into_response()
}

/// `GET /login/{method}/callback`: an upstream sends the user back here.
async fn callback(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let params = query_params(&uri).unwrap_or_default();
    answer_current(&app, &req, &headers, &name, &params, &peer.ip().to_string()).await
}

/// The status a refusal is shown with.
pub fn status_of(refusal: &Refusal) -> StatusCode {
    page::status_for(refusal.kind)
}

/// A page refusing for a busy server says when to try again.
fn retry_if_busy(mut resp: Response, refusal: Option<&Refusal>) -> Response {
    if refusal.is_some_and(|r| r.kind == RefusalKind::Busy) {
        page::retry_after(&mut resp, crate::hashing::RETRY_AFTER_SECONDS);
    }
    resp
}

/// Turns where a login stands into the browser's next page. `secret` is the flow's cookie
/// secret when the login already had one; `input` is what was posted (to keep the typed ID
/// number on the login page).
pub async fn respond_progress(
    app: &App,
    req: &PageRequest,
    secret: Option<String>,
    progress: Progress,
    input: &Params,
    ip: &str,
) -> Response {
    match progress {
        Progress::Prompt(flow, prompt) => {
            show_and_keep(app, req, secret, flow, prompt, None, input).await
        }
        Progress::Refused(flow, prompt, refusal) => {
            show_and_keep(app, req, secret, flow, prompt, Some(refusal), input).await
        }
        Progress::Failed { ar, refusal, .. } => {
            if let Some(s) = &secret {
                let _ = crate::flow::finish::<LoginFlow>(app.store.as_ref(), s).await;
            }
            let mut resp = if refusal.reason == "method_not_offered" {
                not_found(app, req)
            } else {
                login_again(app, req, ar.as_deref(), &refusal, input).await
            };
            page::clear_flow_cookie::<LoginFlow>(app, &mut resp);
            resp
        }
        Progress::Done {
            method,
            ar,
            evidence,
        } => {
            // One completion per login, even if the last step is answered twice at once.
            if let Some(s) = &secret
                && !crate::flow::finish::<LoginFlow>(app.store.as_ref(), s)
                    .await
                    .unwrap_or(false)
            {
                return page::flow_expired(app, req);
            }
            let completion =
                login::complete(app, method, &evidence, ar.as_deref(), req.browser(), ip).await;
            let mut resp = match completion {
                Ok(completion) => respond_completion(app, req, completion),
                Err(refusal) => login_again(app, req, ar.as_deref(), &refusal, input).await,
            };
            page::clear_flow_cookie::<LoginFlow>(app, &mut resp);
            resp
        }
    }
}

/// Shows a step's prompt and keeps the login's state for its answer. The password form keeps
/// none (each post is a fresh attempt), so a wrong password stores nothing.
async fn show_and_keep(
    app: &App,
    req: &PageRequest,
    secret: Option<String>,
    flow: LoginFlow,
    prompt: Prompt,
    refusal: Option<Refusal>,
    input: &Params,
) -> Response {
    let status = refusal.as_ref().map_or(StatusCode::OK, status_of);
    if prompt == Prompt::Form(Form::LoginPage) {
        let resp = show_prompt(app, req, status, &flow, &prompt, refusal.as_ref(), input).await;
        return retry_if_busy(resp, refusal.as_ref());
    }
    let secret = match page::save_flow(app, secret.as_deref(), &flow).await {
        Ok(v) => v,
        Err(e) => return page::unavailable(app, req, &e),
    };
    let mut resp = show_prompt(app, req, status, &flow, &prompt, refusal.as_ref(), input).await;
    page::set_flow_cookie::<LoginFlow>(app, &mut resp, &secret);
    resp
}

/// The login page again, saying why.
async fn login_again(
    app: &App,
    req: &PageRequest,
    ar: Option<&str>,
    refusal: &Refusal,
    input: &Params,
) -> Response {
    let status = status_of(refusal);
    let resp = login_page_with(app, req, status, ar, Some(&refusal.message), input).await;
    retry_if_busy(resp, Some(refusal))
}

/// The login page of the pending request `ar`, keeping the typed ID number.
async fn login_page_with(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    ar: Option<&str>,
    error: Option<&crate::message::Message>,
    input: &Params,
) -> Response {
    let Ok(context) = login_page::context(app, req.session_cookie(), req.browser(), ar).await
    else {
        return page::error(
            app,
            req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        );
    };
    let username = input.get("username").unwrap_or_default().trim();
    let page = LoginPage {
        username,
        error,
        captcha: login_page::captcha(app, ar, username, false).await,
    };
    login_page::render(app, req, status, &context, page)
}

/// Shows a prompt by its shape.
async fn show_prompt(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    flow: &LoginFlow,
    prompt: &Prompt,
    refusal: Option<&Refusal>,
    input: &Params,
) -> Response {
    let method = flow.current.method();
    let action = app.url(&format!("/login/{}", method.name()));
    let mut vars = json!({ "action": action, "ar": flow.ar.clone().unwrap_or_default() });
    if let Some(r) = refusal {
        vars["error"] = json!(page::text(app, req, &r.message));
    }
    match prompt {
        Prompt::Form(Form::LoginPage) => {
            let error = refusal.map(|r| &r.message);
            return login_page_with(app, req, status, flow.ar.as_deref(), error, input).await;
        }
        Prompt::Form(Form::OtpPage) => {
            return match (refusal, &flow.current) {
                (Some(r), StepState::SmsOtp(otp)) => {
                    let screen = Screen {
                        page: LOGIN_PAGE,
                        otp,
                        other_phones: true,
                        error: Some(&r.message),
                        notice: None,
                    };
                    otp_screen::render(app, req, status, screen)
                }
                _ => Redirect::to(&app.url(LOGIN_PAGE)).into_response(),
            };
        }
        Prompt::Form(Form::MethodPage(values)) => {
            vars["values"] = values.clone();
        }
        Prompt::Ceremony(c) => {
            vars["options"] = json!(c.options.to_string());
            vars["expires_in"] = json!((c.expires_at - app.clock.unix()).max(0));
        }
        Prompt::Pending(p) => {
            vars["display_code"] = json!(p.display_code);
            vars["expires_in"] = json!((p.expires_at - app.clock.unix()).max(0));
            vars["poll_url"] = json!(app.url(&format!("/login/{}/poll", method.name())));
            vars["poll_every_ms"] = json!(p.poll_every_ms);
        }
        Prompt::Redirect(r) => return Redirect::to(&r.url).into_response(),
        Prompt::Assisted(a) => {
            vars["sent_to"] = json!(a.sent_to);
            vars["expires_in"] = json!((a.expires_at - app.clock.unix()).max(0));
        }
    }
    vars["login_url"] = json!(login_page::url(app, flow.ar.as_deref()));
    let template = format!("login_{}", method.name());
    let title = format!("title_login_{}", method.name());
    let mut resp = page::render(app, req, status, &template, &title, vars, None);
    page::allow_own_scripts(&mut resp);
    if let Prompt::Ceremony(c) = prompt {
        page::allow_connect(&mut resp, &c.connect_to);
    }
    resp
}

/// After a login: the session cookie, and on to the portal (or home).
pub fn respond_completion(app: &App, req: &PageRequest, completion: Completion) -> Response {
    let mut resp = match completion.continuation {
        Continuation::Portal { request, next } => respond(app, &request, next, req),
        Continuation::Home => Redirect::to(&app.url("/")).into_response(),
        Continuation::RequestExpired => page::error(
            app,
            req,
            StatusCode::BAD_REQUEST,
            "error_session_expired",
            None,
        ),
    };
    super::set_session_cookie(app, resp.headers_mut(), &completion.cookie_secret);
    resp
}
