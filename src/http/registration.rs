//! "Đăng ký": the choice of method, the form of each online method (with its captcha), and
//! the password that completes the account. The SMS code between them is the one OTP step
//! (`http::otp`).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::page::{self, PageRequest};
use super::request::query_params;
use crate::app::App;
use crate::authenticators::{self, RefusalKind, captcha};
use crate::domain::SubjectType;
use crate::flow::WithOtp;
use crate::flow::registration::{self, Method, RawForm, Refusal, RegistrationFlow};
use crate::limits::Ceiling;
use crate::message::Message;
use crate::store::ephemeral::EphemeralError;

pub fn router() -> Router<App> {
    Router::new()
        .route("/register", get(register_choice))
        .route(
            "/register/mobile",
            get(register_form_mobile).post(register_submit_mobile),
        )
        .route(
            "/register/bhxh",
            get(register_form_bhxh).post(register_submit_bhxh),
        )
        .route(
            "/register/password",
            get(register_password_page).post(register_password_submit),
        )
}

pub fn render_new_password(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    action: &str,
    reset: bool,
    errors: Value,
) -> Response {
    let rule_key = if app.password_policy() == crate::domain::PasswordPolicy::Nist {
        "password_rule_nist"
    } else {
        "password_rule_portal"
    };
    let (heading, submit) = if reset {
        ("heading_reset_password", "submit_reset")
    } else {
        ("heading_register_password", "submit_register")
    };
    let vars = json!({
        "action": app.url(action),
        "heading": req.t(app, heading),
        "submit_label": req.t(app, submit),
        "rule": req.t(app, rule_key),
        "errors": errors,
    });
    page::render(app, req, status, "new_password", "title_new_password", vars)
}

/// Captcha variables for a form; a fresh challenge each time the form is shown.
pub async fn captcha_vars(app: &App, refresh: &str) -> Result<Value, EphemeralError> {
    let id = captcha::create(app.store.as_ref()).await?;
    Ok(json!({
        "captcha_id": id,
        "captcha_image": app.url(&format!("/captcha/{id}/image.png")),
        "captcha_audio": app.url(&format!("/captcha/{id}/audio.wav")),
        "captcha_refresh": app.url(refresh),
    }))
}

pub fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// "Đăng ký": the subject ("Công dân", "Doanh nghiệp", "Cơ quan nhà nước"; `?subject=`), the
/// IAL2 methods (citizens only) and a card per enabled signature method that registers the
/// chosen subject (`http::signature_registration`).
async fn register_choice(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let params = query_params(&uri).unwrap_or_default();
    let subject = params
        .get("subject")
        .and_then(SubjectType::parse)
        .unwrap_or(SubjectType::Citizen);
    let ar = params.get("ar").filter(|a| is_token(a)).map(str::to_string);
    let query = |s: SubjectType| match &ar {
        Some(ar) => format!("?subject={}&ar={ar}", s.as_str()),
        None => format!("?subject={}", s.as_str()),
    };
    let subjects: Vec<Value> = [
        SubjectType::Citizen,
        SubjectType::Enterprise,
        SubjectType::Agency,
    ]
    .into_iter()
    .map(|s| {
        json!({
            "label": req.t(&app, &format!("register_subject_{}", s.as_str())),
            "url": app.url(&format!("/register{}", query(s))),
            "active": s == subject,
        })
    })
    .collect();
    let ar_query = ar.as_ref().map(|a| format!("?ar={a}")).unwrap_or_default();
    let ial3: Vec<Value> = authenticators::registering(&app.config.login, subject)
        .into_iter()
        .map(|m| {
            json!({
                "name": m.name(),
                "label": req.t(&app, &format!("register_method_{}", m.name())),
                "who": req.t(&app, &format!("register_who_{}", m.name())),
                "url": app.url(&format!("/register/{}/{}{ar_query}", subject.as_str(), m.name())),
            })
        })
        .collect();
    let citizen = subject == SubjectType::Citizen;
    let mut vars = json!({
        "subjects": subjects,
        "is_citizen": citizen,
        "is_agency": subject == SubjectType::Agency,
        "methods": {
            "mobile_subscriber": citizen && Method::MobileSubscriber.enabled(&app.config),
            "bhxh": citizen && Method::Bhxh.enabled(&app.config),
        },
        "ial3": ial3,
    });
    if let Some(ar) = ar {
        vars["ar"] = json!(ar);
    }
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "register",
        "title_register",
        vars,
    )
}

/// Pending-request ids are our own 43-character tokens; anything else is dropped.
fn is_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn method_path(method: Method) -> &'static str {
    match method {
        Method::MobileSubscriber => "/register/mobile",
        Method::Bhxh => "/register/bhxh",
    }
}

struct FormState {
    values: Value,
    errors: Value,
    error: Option<String>,
    duplicate: bool,
    ar: String,
}

async fn render_register_form(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    method: Method,
    state: FormState,
) -> Response {
    let path = method_path(method);
    let refresh = if state.ar.is_empty() {
        path.to_string()
    } else {
        format!("{path}?ar={}", state.ar)
    };
    let captcha = match captcha_vars(app, &refresh).await {
        Ok(captcha) => captcha,
        Err(e) => return page::unavailable(app, req, &e),
    };
    let mut vars = json!({
        "is_bhxh": method == Method::Bhxh,
        "action": app.url(path),
        "ar": state.ar,
        "values": state.values,
        "errors": state.errors,
    });
    merge(&mut vars, captcha);
    if let Some(e) = state.error {
        vars["error"] = json!(e);
    }
    if state.duplicate {
        vars["duplicate"] = json!(true);
        // "gửi khiếu nại" opens the complaint form with the number typed here.
        let typed = state.values["id_number"].as_str().unwrap_or_default();
        if let Ok(id) = crate::domain::IdNumber::parse(typed) {
            vars["complaint_id_number"] = json!(id.as_str());
        }
    }
    let title = if method == Method::Bhxh {
        "title_register_bhxh"
    } else {
        "title_register_mobile"
    };
    page::render(app, req, status, "register_form", title, vars)
}

async fn register_form(app: App, headers: HeaderMap, uri: Uri, method: Method) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    if !method.enabled(&app.config) {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    }
    let ar = query_params(&uri)
        .ok()
        .and_then(|p| p.get("ar").map(str::to_string))
        .filter(|a| is_token(a))
        .unwrap_or_default();
    let state = FormState {
        values: json!({}),
        errors: json!({}),
        error: None,
        duplicate: false,
        ar,
    };
    render_register_form(&app, &req, StatusCode::OK, method, state).await
}

async fn register_form_mobile(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    register_form(app, headers, uri, Method::MobileSubscriber).await
}

async fn register_form_bhxh(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    register_form(app, headers, uri, Method::Bhxh).await
}

async fn register_submit_mobile(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    register_submit(app, peer, request, Method::MobileSubscriber).await
}

async fn register_submit_bhxh(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    register_submit(app, peer, request, Method::Bhxh).await
}

async fn register_submit(
    app: App,
    peer: SocketAddr,
    request: Request<Body>,
    method: Method,
) -> Response {
    let (_, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if !method.enabled(&app.config) {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    }
    let ip = peer.ip().to_string();
    let field = |name: &str| params.get(name).unwrap_or_default().to_string();
    let raw = RawForm {
        id_number: field("id_number"),
        full_name: field("full_name"),
        birthdate: field("birthdate"),
        phone: field("phone"),
        email: field("email"),
        bhxh_code: field("bhxh_code"),
    };
    let ar = params.get("ar").filter(|a| is_token(a)).map(str::to_string);
    let values = json!({
        "id_number": raw.id_number, "full_name": raw.full_name, "birthdate": raw.birthdate,
        "phone": raw.phone, "email": raw.email, "bhxh_code": raw.bhxh_code,
    });
    let state = |errors: Value, error: Option<String>, duplicate: bool| FormState {
        values: values.clone(),
        errors,
        error,
        duplicate,
        ar: ar.clone().unwrap_or_default(),
    };
    // Each submission may cost a carrier or BHXH lookup and an SMS: a ceiling per address, so
    // the captcha is not the only barrier.
    let limited = match page::ceiling(&app, &req, Ceiling::Registration, &ip).await {
        Ok(limited) => limited,
        Err(resp) => return resp,
    };
    if let Some(retry_after) = limited {
        let error = req.t(&app, "err_too_many_registrations");
        let status = StatusCode::TOO_MANY_REQUESTS;
        let mut resp = render_register_form(
            &app,
            &req,
            status,
            method,
            state(json!({}), Some(error), false),
        )
        .await;
        page::retry_after(&mut resp, retry_after);
        return resp;
    }
    let today = app.clock.now().date_naive();
    let validated = registration::validate(method, &raw, today);
    let mut errors = validated.as_ref().err().cloned().unwrap_or_default();
    // The captcha is checked (and consumed) on every submission.
    let captcha_ok = match (params.get("captcha_id"), params.get("captcha")) {
        (Some(id), Some(answer)) => captcha::verify(app.store.as_ref(), id, answer)
            .await
            .unwrap_or(false),
        _ => false,
    };
    if !captcha_ok {
        errors.insert("captcha", Message::new("err_captcha_wrong"));
    }
    if !errors.is_empty() {
        let errors = page::errors_json(&app, &req, &errors);
        return render_register_form(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            method,
            state(errors, None, false),
        )
        .await;
    }
    let form = match validated {
        Ok(v) => v,
        // Every field error was shown above.
        Err(_) => return page::unavailable(&app, &req, &"field errors after validation"),
    };
    let ctx = app.ctx(req.locale, &ip);
    let outcome = registration::submit(&ctx, method, form, ar.clone()).await;
    let flow = match outcome {
        Ok(flow) => flow,
        Err(refusal) => {
            let (status, message, duplicate) = match &refusal {
                Refusal::Duplicate => (
                    StatusCode::CONFLICT,
                    Message::new("err_duplicate_account"),
                    true,
                ),
                Refusal::Proofing(r) => {
                    let status = match r.kind {
                        // The registry did not vouch: the details do not match (422).
                        RefusalKind::Invalid | RefusalKind::Unauthorized => {
                            StatusCode::UNPROCESSABLE_ENTITY
                        }
                        other => page::status_for(other),
                    };
                    (status, r.message.clone(), false)
                }
                Refusal::Upstream(key) => {
                    (StatusCode::SERVICE_UNAVAILABLE, Message::new(key), false)
                }
                Refusal::Otp(e) => (page::status_for(e.kind()), e.message(), false),
                Refusal::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Message::new("error_busy"),
                    false,
                ),
                Refusal::Fields(_) | Refusal::Store(_) => {
                    if let Refusal::Store(e) = &refusal {
                        tracing::error!(error = %e, "registration failed on a backend");
                    }
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Message::new("error_temporarily_unavailable"),
                        false,
                    )
                }
            };
            let error = page::text(&app, &req, &message);
            return render_register_form(
                &app,
                &req,
                status,
                method,
                state(json!({}), Some(error), duplicate),
            )
            .await;
        }
    };
    page::start_flow_at(&app, &req, &flow, "/register/otp").await
}

/// The new-password page of a flow whose SMS code was entered (else back to its OTP page).
pub async fn password_page<S: WithOtp>(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    action: &str,
    otp_page: &str,
    reset: bool,
) -> Response {
    let req = PageRequest::new(app, headers, uri, &[]);
    match page::flow_of::<S>(app, headers).await {
        Some((_, flow)) if flow.otp().is_some_and(|o| o.verified) => {
            render_new_password(app, &req, StatusCode::OK, action, reset, json!({}))
        }
        Some(_) => Redirect::to(&app.url(otp_page)).into_response(),
        None => page::flow_expired(app, &req),
    }
}

async fn register_password_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    password_page::<RegistrationFlow>(
        &app,
        &headers,
        &uri,
        "/register/password",
        "/register/otp",
        false,
    )
    .await
}

async fn register_password_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, flow)) = page::flow_of::<RegistrationFlow>(&app, &headers).await else {
        return page::flow_expired(&app, &req);
    };
    if !flow.otp.verified {
        return Redirect::to(&app.url("/register/otp")).into_response();
    }
    let password = params.get("password").unwrap_or_default();
    let confirm = params.get("password_confirm").unwrap_or_default();
    let ip = peer.ip().to_string();
    match registration::complete(&app, &flow, password, confirm, Some(&ip)).await {
        Ok(_) => {
            let _ = crate::flow::finish::<RegistrationFlow>(app.store.as_ref(), &secret).await;
            let login = match &flow.ar {
                Some(ar) => app.url(&format!("/login?ar={ar}")),
                None => app.url("/login"),
            };
            let mut resp = page::message(
                &app,
                &req,
                "register_done_heading",
                "register_done_message",
                Some((login, "register_continue")),
            );
            page::clear_flow_cookie::<RegistrationFlow>(&app, &mut resp);
            resp
        }
        Err(Refusal::Fields(errors)) => {
            let errors = page::errors_json(&app, &req, &errors);
            render_new_password(
                &app,
                &req,
                StatusCode::BAD_REQUEST,
                "/register/password",
                false,
                errors,
            )
        }
        Err(Refusal::Duplicate) => {
            let _ = crate::flow::finish::<RegistrationFlow>(app.store.as_ref(), &secret).await;
            let mut resp = page::message(
                &app,
                &req,
                "title_register",
                "err_duplicate_account",
                Some((app.url("/forgot-password"), "login_forgot_password")),
            );
            page::clear_flow_cookie::<RegistrationFlow>(&app, &mut resp);
            resp
        }
        // The flow is kept: the same form can be sent again.
        Err(Refusal::Busy) => page::busy(&app, &req),
        Err(e) => page::unavailable(&app, &req, &format!("completing a registration: {e:?}")),
    }
}
