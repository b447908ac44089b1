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
use crate::audit::Event;
use crate::authenticators::{Evidence, Form, Method, Prompt, Refusal, RefusalKind, StepState};
use crate::domain::SubjectType;
use crate::flow::federation;
use crate::flow::login::{self, Completion, Continuation, LoginFlow, Progress, Purpose};
use crate::flow::signature_registration::{self, Refusal as RegistrationRefusal};
use crate::flow::upgrade;
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
    let req = login_page::page_request(&app, &headers, &uri, &context);
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
    let mut params = params.clone();
    if let Some((request, _)) = &context.pending {
        hints_of(request, &mut params);
    }
    begin(&app, &req, method, ar, &context.need, &params, &ip).await
}

/// What the portal asked of the login, for a method that passes it on (an upstream).
fn hints_of(request: &crate::oidc::authorize::AuthorizationRequest, params: &mut Params) {
    if !request.acr_values.is_empty() {
        params.add_missing("acr_values", request.acr_values.join(" "));
    }
    if let Some(max_age) = request.max_age {
        params.add_missing("max_age", max_age.to_string());
    }
    if let Some(hint) = &request.login_hint {
        params.add_missing("login_hint", hint.clone());
    }
    if !request.ui_locales.is_empty() {
        params.add_missing("ui_locales", request.ui_locales.join(" "));
    }
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
    begin_for(app, req, Purpose::Login, method, ar, need, params, ip).await
}

/// Begins the chain of `method` for `purpose` (a login, a registration, an upgrade): the same
/// steps and pages whatever it is for.
#[allow(clippy::too_many_arguments)]
pub async fn begin_for(
    app: &App,
    req: &PageRequest,
    purpose: Purpose,
    method: Method,
    ar: Option<&str>,
    need: &LoginNeed,
    params: &Params,
    ip: &str,
) -> Response {
    let ctx = app.ctx(req.locale, ip);
    let ar = ar.map(str::to_string);
    let progress = login::begin_for(app, &ctx, purpose, method, ar, need, params).await;
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

/// `GET /login/{method}/poll`: how an outstanding push stands, for the page's script:
/// `{"status": "pending"}` (ask again later), `{"status": "ready"}` (post the step's form: the
/// login completes there, as without a script), or `{"status": "failed", "message": "…"}`. A
/// failure ends the login here (the flow is finished and its cookie cleared), so it is
/// audited once and the page can say why without posting again.
async fn poll(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let mut ended = false;
    let answer = match (
        enabled(&app, &name),
        page::flow_of::<LoginFlow>(&app, &headers).await,
    ) {
        (Some(method), Some((secret, flow))) if flow.current.method() == method => {
            let ctx = app.ctx(req.locale, &peer.ip().to_string());
            match login::poll(&app, &ctx, flow).await {
                Progress::Prompt(flow, _) => {
                    if page::save_flow(&app, Some(&secret), &flow).await.is_err() {
                        let message = crate::message::Message::new("error_temporarily_unavailable");
                        json!({ "status": "failed", "message": page::text(&app, &req, &message) })
                    } else {
                        json!({ "status": "pending" })
                    }
                }
                Progress::Done { .. } => json!({ "status": "ready" }),
                Progress::Refused(_, _, refusal) | Progress::Failed { refusal, .. } => {
                    let _ = crate::flow::finish::<LoginFlow>(app.store.as_ref(), &secret).await;
                    ended = true;
                    json!({ "status": "failed", "message": page::text(&app, &req, &refusal.message) })
                }
            }
        }
        _ => {
            let message = crate::message::Message::new("error_session_expired");
            json!({ "status": "failed", "message": page::text(&app, &req, &message) })
        }
    };
    let mut resp = (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(answer),
    )
        .into_response();
    if ended {
        page::clear_flow_cookie::<LoginFlow>(&app, &mut resp);
    }
    resp
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
        Progress::Failed {
            ar,
            refusal,
            purpose,
            ..
        } => {
            if let Some(s) = &secret {
                let _ = crate::flow::finish::<LoginFlow>(app.store.as_ref(), s).await;
            }
            let mut resp = match purpose {
                _ if refusal.reason == "method_not_offered" => not_found(app, req),
                Purpose::Login => login_again(app, req, ar.as_deref(), &refusal, input).await,
                // A registration or an upgrade starts over on its own page, told why.
                Purpose::Register(subject) => {
                    let back = register_url(subject, ar.as_deref());
                    step_failed(
                        app,
                        req,
                        &refusal,
                        "register_refused",
                        "title_register",
                        back,
                    )
                }
                Purpose::Upgrade(_) => {
                    let back = upgrade_url(ar.as_deref());
                    step_failed(app, req, &refusal, "upgrade_refused", "title_upgrade", back)
                }
            };
            page::clear_flow_cookie::<LoginFlow>(app, &mut resp);
            resp
        }
        Progress::Done {
            method,
            ar,
            evidence,
            purpose,
        } => {
            // One completion per login, even if the last step is answered twice at once.
            if let Some(s) = &secret
                && !crate::flow::finish::<LoginFlow>(app.store.as_ref(), s)
                    .await
                    .unwrap_or(false)
            {
                return page::flow_expired(app, req);
            }
            // The one place a finished chain goes where its purpose says.
            let mut resp = match purpose {
                Purpose::Login => {
                    let completion =
                        login::complete(app, method, &evidence, ar.as_deref(), req.browser(), ip)
                            .await;
                    match completion {
                        Ok(completion) => respond_completion(app, req, completion),
                        // An upstream's lower level for a higher account: the person proves
                        // the local account first (`/login/link`).
                        Err(refusal) if refusal.reason == federation::LINK_NEEDS_PROOF => {
                            let held = refusal
                                .account_id
                                .as_deref()
                                .and_then(|id| federation::LinkFlow::hold(app, evidence, id, ar));
                            match held {
                                Some(flow) => {
                                    page::start_flow_at(app, req, &flow, federation::LINK_PAGE)
                                        .await
                                }
                                None => page::flow_expired(app, req),
                            }
                        }
                        Err(refusal) => login_again(app, req, ar.as_deref(), &refusal, input).await,
                    }
                }
                Purpose::Register(subject) => {
                    registration_proven(app, req, subject, method, evidence, ar, ip).await
                }
                Purpose::Upgrade(account) => {
                    upgrade_proven(app, req, &account, method, &evidence, ar, ip).await
                }
            };
            page::clear_flow_cookie::<LoginFlow>(app, &mut resp);
            resp
        }
    }
}

/// A registration's signature is done: check the certificate's class and that no account
/// exists, keep the identity, and show it before "Đăng ký" (`/register/confirm`).
async fn registration_proven(
    app: &App,
    req: &PageRequest,
    subject: SubjectType,
    method: Method,
    evidence: Evidence,
    ar: Option<String>,
    ip: &str,
) -> Response {
    match signature_registration::prepare(&app.db, subject, method, evidence, ar.clone()).await {
        Ok(flow) => page::start_flow_at(app, req, &flow, "/register/confirm").await,
        Err(RegistrationRefusal::Store(e)) => page::unavailable(app, req, &e),
        Err(refusal) => {
            let detail = json!({
                "method": method.name(),
                "subject_type": subject.as_str(),
                "reason": refusal.reason(),
            });
            let event = Event::new("registration.refused")
                .ip(Some(ip))
                .detail(detail);
            if let Err(e) = app.audit.record(event).await {
                tracing::error!(error = %e, "audit write failed");
            }
            registration_refused(app, req, subject, &refusal, ar.as_deref())
        }
    }
}

/// The registration page of `subject` (for the portal's request `ar`).
fn register_url(subject: SubjectType, ar: Option<&str>) -> String {
    match ar {
        Some(ar) => format!("/register?subject={}&ar={ar}", subject.as_str()),
        None => format!("/register?subject={}", subject.as_str()),
    }
}

/// The upgrade's offer page (for the portal's request `ar`).
fn upgrade_url(ar: Option<&str>) -> String {
    match ar {
        Some(ar) => format!("/upgrade?ar={ar}"),
        None => "/upgrade".to_string(),
    }
}

/// A registration's or an upgrade's signature could not go on (rejected on the phone,
/// expired, cancelled, the certificate refused): its page says why, with a way to try again.
fn step_failed(
    app: &App,
    req: &PageRequest,
    refusal: &Refusal,
    template: &str,
    title: &str,
    back: String,
) -> Response {
    // Answers the ceremony's post to `/login/{method}`: the other language is the same page
    // to start over from, not that URL (which would begin a login).
    let req = &req.with_language_link(&back);
    let vars = json!({
        "error": page::text(app, req, &refusal.message),
        "duplicate": false,
        "back_url": app.url(&back),
    });
    let resp = page::render(app, req, status_of(refusal), template, title, vars);
    retry_if_busy(resp, Some(refusal))
}

/// A registration by signature refused: why, and (for a duplicate) the seeds' three ways out.
pub fn registration_refused(
    app: &App,
    req: &PageRequest,
    subject: SubjectType,
    refusal: &RegistrationRefusal,
    ar: Option<&str>,
) -> Response {
    let duplicate = matches!(refusal, RegistrationRefusal::Duplicate);
    let status = if duplicate {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    // Shown in answer to a post (the ceremony's, or "Đăng ký"): the other language is the
    // registration page, where the person starts over.
    let back = register_url(subject, ar);
    let req = &req.with_language_link(&back);
    let vars = json!({
        "error": page::text(app, req, &refusal.message(subject)),
        "duplicate": duplicate,
        "back_url": app.url(&back),
    });
    page::render(app, req, status, "register_refused", "title_register", vars)
}

/// An upgrade's signature is done: raise the account if the certificate is its holder's, then
/// log in with the same evidence (the session at the new level), on to the portal if one asked.
async fn upgrade_proven(
    app: &App,
    req: &PageRequest,
    account: &str,
    method: Method,
    evidence: &Evidence,
    ar: Option<String>,
    ip: &str,
) -> Response {
    if let Err(refusal) = upgrade::raise(app, account, method, evidence, ip).await {
        if let upgrade::Refusal::Store(e) = &refusal {
            return page::unavailable(app, req, e);
        }
        let back = upgrade_url(ar.as_deref());
        let req = &req.with_language_link(&back);
        let vars = json!({
            "error": page::text(app, req, &refusal.message()),
            "back_url": app.url(&back),
        });
        return page::render(
            app,
            req,
            StatusCode::FORBIDDEN,
            "upgrade_refused",
            "title_upgrade",
            vars,
        );
    }
    match login::complete(app, method, evidence, ar.as_deref(), req.browser(), ip).await {
        Ok(completion) => respond_completion(app, req, completion),
        Err(refusal) => page::error(
            app,
            req,
            status_of(&refusal),
            "error_temporarily_unavailable",
            None,
        ),
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
        // The login page lets its forms lead to the portal itself.
        let resp = show_prompt(app, req, status, &flow, &prompt, refusal.as_ref(), input).await;
        return retry_if_busy(resp, refusal.as_ref());
    }
    let secret = match page::save_flow(app, secret.as_deref(), &flow).await {
        Ok(v) => v,
        Err(e) => return page::unavailable(app, req, &e),
    };
    let mut resp = show_prompt(app, req, status, &flow, &prompt, refusal.as_ref(), input).await;
    page::allow_forms_to_portal(app, req, &mut resp, flow.ar.as_deref()).await;
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
    let mut resp = page::render(app, req, status, &template, &title, vars);
    page::allow_own_scripts(&mut resp);
    if matches!(prompt, Prompt::Pending(_)) {
        page::allow_own_requests(&mut resp);
    }
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
