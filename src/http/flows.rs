//! Pages of the multi-step flows: registration ("Đăng ký"), the login's SMS step, and
//! password recovery ("Quên mật khẩu"). Handlers parse, call `flow::*`, render.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::page::{self, PageRequest};
use super::request::{cookie, form_params, query_params};
use crate::app::App;
use crate::authenticators::{captcha, otp::OtpChallenge, otp::OtpError};
use crate::domain::{IdNumber, PhoneNumber};
use crate::flow::login::{AMR_PASSWORD_SMS, LoginFlow, LoginFlowError};
use crate::flow::recovery::{self, RecoveryError, RecoveryFlow};
use crate::flow::registration::{
    self, FieldErrors, Message, Method, RawForm, Refusal, RegistrationFlow,
};
use crate::oidc::params::Params;

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
            "/register/otp",
            get(register_otp_page).post(register_otp_submit),
        )
        .route(
            "/register/otp/resend",
            axum::routing::post(register_otp_resend),
        )
        .route(
            "/register/password",
            get(register_password_page).post(register_password_submit),
        )
        .route("/login/otp", get(login_otp_page).post(login_otp_submit))
        .route("/login/otp/resend", axum::routing::post(login_otp_resend))
        .route(
            "/login/otp/phones",
            get(login_phones_page).post(login_phones_submit),
        )
        .route("/forgot-password", get(recovery_form).post(recovery_submit))
        .route(
            "/forgot-password/otp",
            get(recovery_otp_page).post(recovery_otp_submit),
        )
        .route(
            "/forgot-password/otp/resend",
            axum::routing::post(recovery_otp_resend),
        )
        .route(
            "/forgot-password/password",
            get(recovery_password_page).post(recovery_password_submit),
        )
}

// ----- shared helpers ---------------------------------------------------------------------------

pub(super) fn flow_cookie(kind: &str) -> String {
    format!("{}_{kind}", crate::flow::FLOW_COOKIE)
}

pub(super) fn set_flow_cookie(app: &App, resp: &mut Response, kind: &str, secret: &str) {
    let secure = app.issuer.starts_with("https://");
    page::append_cookie(
        resp.headers_mut(),
        &flow_cookie(kind),
        secret,
        "Strict",
        Some(1800),
        secure,
    );
}

pub(super) fn clear_flow_cookie(app: &App, resp: &mut Response, kind: &str) {
    let secure = app.issuer.starts_with("https://");
    page::append_cookie(
        resp.headers_mut(),
        &flow_cookie(kind),
        "",
        "Strict",
        Some(0),
        secure,
    );
}

/// The SMS text in the user's language (words from the theme).
pub fn sms_text(app: &App, locale: &str) -> impl Fn(&str, i64) -> String + use<> {
    let template = app.theme.t(locale, "sms_otp_text");
    move |code: &str, minutes: i64| {
        template
            .replace("{code}", code)
            .replace("{minutes}", &minutes.to_string())
    }
}

/// A theme message with its placeholders filled.
pub(super) fn text(app: &App, req: &PageRequest, m: &Message) -> String {
    let mut s = req.t(app, m.key);
    for (name, value) in &m.args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

pub(super) fn errors_json(app: &App, req: &PageRequest, errors: &FieldErrors) -> Value {
    Value::Object(
        errors
            .iter()
            .map(|(k, m)| (k.to_string(), json!(text(app, req, m))))
            .collect(),
    )
}

pub(super) fn otp_message(e: &OtpError) -> Message {
    match e {
        OtpError::Cooldown { wait_seconds } => {
            Message::new("err_otp_resend_wait").with("seconds", wait_seconds)
        }
        OtpError::HourlyCap => Message::new("err_otp_hourly_cap"),
        OtpError::Expired => Message::new("err_otp_expired"),
        OtpError::Wrong { attempts_left } => {
            Message::new("err_otp_wrong").with("left", attempts_left)
        }
        OtpError::Exhausted => Message::new("err_otp_exhausted"),
        OtpError::Sms(_) => Message::new("err_upstream_sms"),
        OtpError::Store(_) => Message::new("error_temporarily_unavailable"),
    }
}

/// The login page's message for a failed SMS step.
pub fn otp_failure_key(e: &LoginFlowError) -> &'static str {
    match e {
        LoginFlowError::Otp(OtpError::HourlyCap) => "err_otp_hourly_cap",
        LoginFlowError::Otp(OtpError::Sms(_)) => "err_upstream_sms",
        _ => "error_temporarily_unavailable",
    }
}

pub(super) fn unavailable(app: &App, req: &PageRequest) -> Response {
    page::error(
        app,
        req,
        StatusCode::SERVICE_UNAVAILABLE,
        "error_temporarily_unavailable",
        None,
    )
}

pub(super) fn flow_expired(app: &App, req: &PageRequest) -> Response {
    page::error(app, req, StatusCode::BAD_REQUEST, "err_flow_expired", None)
}

/// Reads a POSTed form and checks its CSRF token; on failure, the page to show instead.
pub(super) async fn posted(
    app: &App,
    request: Request<Body>,
) -> Result<(HeaderMap, PageRequest, Params), Response> {
    let uri = request.uri().clone();
    let (headers, params) = match form_params(request, app.config.server.max_body_bytes).await {
        Ok(x) => x,
        Err(_) => {
            let req = PageRequest::new(app, &HeaderMap::new(), &uri, &[]);
            return Err(page::error(
                app,
                &req,
                StatusCode::BAD_REQUEST,
                "error_bad_request",
                None,
            ));
        }
    };
    let req = PageRequest::new(app, &headers, &uri, &[]);
    if !page::csrf_ok(&headers, params.get("csrf")) {
        return Err(page::error(
            app,
            &req,
            StatusCode::FORBIDDEN,
            "error_csrf",
            None,
        ));
    }
    Ok((headers, req, params))
}

/// Checks a typed code: six digits, then the challenge (single use, tries counted).
pub(super) async fn check_code(
    app: &App,
    challenge: &OtpChallenge,
    input: Option<&str>,
) -> Result<(), Message> {
    let input = input.unwrap_or_default();
    if input.len() == 6 && input.bytes().all(|b| b.is_ascii_digit()) {
        crate::authenticators::otp::verify(app, challenge, input)
            .await
            .map_err(|e| otp_message(&e))
    } else {
        Err(Message::new("err_otp_format"))
    }
}

/// The OTP screen: masked number, resend countdown, per-field error, optional notice.
pub(super) struct OtpScreen<'a> {
    pub base: &'a str,
    pub challenge: &'a OtpChallenge,
    pub error: Option<Message>,
    pub notice: Option<&'static str>,
    pub other_methods: bool,
}

pub(super) fn render_otp(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    s: OtpScreen<'_>,
) -> Response {
    let masked = PhoneNumber::parse(&s.challenge.phone)
        .map(|p| p.masked())
        .unwrap_or_default();
    let resend_in = (s.challenge.resend_at - app.clock.unix()).max(0);
    let mut errors = Map::new();
    if let Some(m) = &s.error {
        errors.insert("otp".into(), json!(text(app, req, m)));
    }
    let mut vars = json!({
        "action": app.url(s.base),
        "resend_action": app.url(&format!("{}/resend", s.base)),
        "masked_phone": masked,
        "resend_in": resend_in,
        "resend_wait": resend_in > 0,
        "errors": errors,
    });
    if let Some(n) = s.notice {
        vars["notice"] = json!(req.t(app, n));
    }
    if s.other_methods {
        vars["other_methods"] = json!(app.url("/login/otp/phones"));
    }
    let mut resp = page::render(app, req, status, "otp", "title_otp", vars, None);
    allow_own_scripts(&mut resp);
    resp
}

/// The OTP page's countdown script (static, same origin).
fn allow_own_scripts(resp: &mut Response) {
    let csp = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.replacen(
                "default-src 'none';",
                "default-src 'none'; script-src 'self';",
                1,
            )
        });
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

pub(super) fn render_new_password(
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
    page::render(
        app,
        req,
        status,
        "new_password",
        "title_new_password",
        vars,
        None,
    )
}

fn render_message(
    app: &App,
    req: &PageRequest,
    heading: &str,
    message: &str,
    link: Option<(String, &str)>,
) -> Response {
    let mut vars = json!({ "heading": req.t(app, heading), "message": req.t(app, message) });
    if let Some((url, label)) = link {
        vars["link_url"] = json!(url);
        vars["link_label"] = json!(req.t(app, label));
    }
    page::render(
        app,
        req,
        StatusCode::OK,
        "message",
        "title_message",
        vars,
        None,
    )
}

/// Captcha variables for a form; a fresh challenge each time the form is shown.
async fn captcha_vars(app: &App, refresh: &str) -> Option<Value> {
    let id = captcha::create(app).await.ok()?;
    Some(json!({
        "captcha_id": id,
        "captcha_image": app.url(&format!("/captcha/{id}/image.png")),
        "captcha_audio": app.url(&format!("/captcha/{id}/audio.wav")),
        "captcha_refresh": app.url(refresh),
    }))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

pub(super) fn client_ip(peer: &SocketAddr) -> String {
    peer.ip().to_string()
}

// ----- registration -------------------------------------------------------------------------------

async fn register_choice(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let mut vars = json!({
        "methods": {
            "mobile_subscriber": app.registration_enabled(Method::MobileSubscriber),
            "bhxh": app.registration_enabled(Method::Bhxh),
        }
    });
    if let Some(ar) = query_params(&uri)
        .ok()
        .and_then(|p| p.get("ar").map(str::to_string))
        .filter(|a| is_token(a))
    {
        vars["ar"] = json!(ar);
    }
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "register",
        "title_register",
        vars,
        None,
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
    let Some(captcha) = captcha_vars(app, &refresh).await else {
        return unavailable(app, req);
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
    }
    let title = if method == Method::Bhxh {
        "title_register_bhxh"
    } else {
        "title_register_mobile"
    };
    page::render(app, req, status, "register_form", title, vars, None)
}

async fn register_form(app: App, headers: HeaderMap, uri: Uri, method: Method) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    if !app.registration_enabled(method) {
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

async fn register_submit_mobile(State(app): State<App>, request: Request<Body>) -> Response {
    register_submit(app, request, Method::MobileSubscriber).await
}

async fn register_submit_bhxh(State(app): State<App>, request: Request<Body>) -> Response {
    register_submit(app, request, Method::Bhxh).await
}

async fn register_submit(app: App, request: Request<Body>, method: Method) -> Response {
    let (_, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if !app.registration_enabled(method) {
        return page::error(&app, &req, StatusCode::NOT_FOUND, "error_not_found", None);
    }
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
    let today = app.clock.now().date_naive();
    let validated = registration::validate(method, &raw, today);
    let mut errors = validated.as_ref().err().cloned().unwrap_or_default();
    // The captcha is checked (and consumed) on every submission.
    let captcha_ok = match (params.get("captcha_id"), params.get("captcha")) {
        (Some(id), Some(answer)) => captcha::verify(&app, id, answer).await.unwrap_or(false),
        _ => false,
    };
    if !captcha_ok {
        errors.insert("captcha", Message::new("err_captcha_wrong"));
    }
    if !errors.is_empty() {
        let errors = errors_json(&app, &req, &errors);
        return render_register_form(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            method,
            state(errors, None, false),
        )
        .await;
    }
    let Ok(form) = validated else {
        return unavailable(&app, &req);
    };
    let outcome =
        registration::submit(&app, method, form, ar.clone(), sms_text(&app, req.locale)).await;
    let flow = match outcome {
        Ok(flow) => flow,
        Err(refusal) => {
            let (status, message, duplicate) = match &refusal {
                Refusal::Duplicate => (
                    StatusCode::CONFLICT,
                    Message::new("err_duplicate_account"),
                    true,
                ),
                Refusal::CarrierMismatch => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Message::new("err_carrier_mismatch"),
                    false,
                ),
                Refusal::BhxhNotFound => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Message::new("err_bhxh_not_found"),
                    false,
                ),
                Refusal::BhxhMismatch => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Message::new("err_bhxh_mismatch"),
                    false,
                ),
                Refusal::Upstream(key) => {
                    (StatusCode::SERVICE_UNAVAILABLE, Message::new(key), false)
                }
                Refusal::Otp(e) => (StatusCode::TOO_MANY_REQUESTS, otp_message(e), false),
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
            let error = text(&app, &req, &message);
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
    let secret = match crate::flow::start(&app, registration::KIND, &flow).await {
        Ok(s) => s,
        Err(_) => return unavailable(&app, &req),
    };
    let mut resp = Redirect::to(&app.url("/register/otp")).into_response();
    set_flow_cookie(&app, &mut resp, registration::KIND, &secret);
    resp
}

/// The registration flow of this browser, with its cookie secret.
async fn registration_flow(app: &App, headers: &HeaderMap) -> Option<(String, RegistrationFlow)> {
    let secret = cookie(headers, &flow_cookie(registration::KIND))?.to_string();
    let flow = crate::flow::load(app, registration::KIND, &secret)
        .await
        .ok()??;
    Some((secret, flow))
}

async fn register_otp_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some((_, flow)) = registration_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    if flow.otp_verified {
        return Redirect::to(&app.url("/register/password")).into_response();
    }
    let screen = OtpScreen {
        base: "/register/otp",
        challenge: &flow.otp,
        error: None,
        notice: None,
        other_methods: false,
    };
    render_otp(&app, &req, StatusCode::OK, screen)
}

async fn register_otp_submit(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, mut flow)) = registration_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    let result = check_code(&app, &flow.otp, params.get("otp")).await;
    if let Err(m) = result {
        let screen = OtpScreen {
            base: "/register/otp",
            challenge: &flow.otp,
            error: Some(m),
            notice: None,
            other_methods: false,
        };
        return render_otp(&app, &req, StatusCode::BAD_REQUEST, screen);
    }
    flow.otp_verified = true;
    if crate::flow::save(&app, registration::KIND, &secret, &flow)
        .await
        .is_err()
    {
        return unavailable(&app, &req);
    }
    Redirect::to(&app.url("/register/password")).into_response()
}

async fn register_otp_resend(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, _) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, mut flow)) = registration_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    match crate::authenticators::otp::resend(&app, &flow.otp, sms_text(&app, req.locale)).await {
        Ok(challenge) => {
            flow.otp = challenge;
            if crate::flow::save(&app, registration::KIND, &secret, &flow)
                .await
                .is_err()
            {
                return unavailable(&app, &req);
            }
            let screen = OtpScreen {
                base: "/register/otp",
                challenge: &flow.otp,
                error: None,
                notice: Some("otp_resent"),
                other_methods: false,
            };
            render_otp(&app, &req, StatusCode::OK, screen)
        }
        Err(e) => {
            let screen = OtpScreen {
                base: "/register/otp",
                challenge: &flow.otp,
                error: Some(otp_message(&e)),
                notice: None,
                other_methods: false,
            };
            render_otp(&app, &req, StatusCode::TOO_MANY_REQUESTS, screen)
        }
    }
}

async fn register_password_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match registration_flow(&app, &headers).await {
        Some((_, flow)) if flow.otp_verified => render_new_password(
            &app,
            &req,
            StatusCode::OK,
            "/register/password",
            false,
            json!({}),
        ),
        Some(_) => Redirect::to(&app.url("/register/otp")).into_response(),
        None => flow_expired(&app, &req),
    }
}

async fn register_password_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, flow)) = registration_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    if !flow.otp_verified {
        return Redirect::to(&app.url("/register/otp")).into_response();
    }
    let password = params.get("password").unwrap_or_default();
    let confirm = params.get("password_confirm").unwrap_or_default();
    let ip = client_ip(&peer);
    match registration::complete(&app, &flow, password, confirm, Some(&ip)).await {
        Ok(_) => {
            let _ = crate::flow::finish(&app, registration::KIND, &secret).await;
            let login = match &flow.ar {
                Some(ar) => app.url(&format!("/login?ar={ar}")),
                None => app.url("/login"),
            };
            let mut resp = render_message(
                &app,
                &req,
                "register_done_heading",
                "register_done_message",
                Some((login, "register_continue")),
            );
            clear_flow_cookie(&app, &mut resp, registration::KIND);
            resp
        }
        Err(Refusal::Fields(errors)) => {
            let errors = errors_json(&app, &req, &errors);
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
            let _ = crate::flow::finish(&app, registration::KIND, &secret).await;
            let mut resp = render_message(
                &app,
                &req,
                "title_register",
                "err_duplicate_account",
                Some((app.url("/forgot-password"), "login_forgot_password")),
            );
            clear_flow_cookie(&app, &mut resp, registration::KIND);
            resp
        }
        Err(e) => {
            tracing::error!(error = ?e, "completing registration failed");
            unavailable(&app, &req)
        }
    }
}

// ----- login: the SMS step ----------------------------------------------------------------------

/// Saves the login flow and sends the browser to the OTP screen.
pub async fn start_login_otp(app: &App, req: &PageRequest, flow: &LoginFlow) -> Response {
    let secret = match crate::flow::start(app, crate::flow::login::KIND, flow).await {
        Ok(s) => s,
        Err(_) => return unavailable(app, req),
    };
    let mut resp = Redirect::to(&app.url("/login/otp")).into_response();
    set_flow_cookie(app, &mut resp, crate::flow::login::KIND, &secret);
    resp
}

async fn login_flow(app: &App, headers: &HeaderMap) -> Option<(String, LoginFlow)> {
    let secret = cookie(headers, &flow_cookie(crate::flow::login::KIND))?.to_string();
    let flow = crate::flow::load(app, crate::flow::login::KIND, &secret)
        .await
        .ok()??;
    Some((secret, flow))
}

fn login_screen<'a>(
    flow: &'a LoginFlow,
    error: Option<Message>,
    notice: Option<&'static str>,
) -> OtpScreen<'a> {
    OtpScreen {
        base: "/login/otp",
        challenge: &flow.otp,
        error,
        notice,
        other_methods: true,
    }
}

async fn login_otp_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match login_flow(&app, &headers).await {
        Some((_, flow)) => render_otp(&app, &req, StatusCode::OK, login_screen(&flow, None, None)),
        None => flow_expired(&app, &req),
    }
}

async fn login_otp_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, flow)) = login_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    let result = check_code(&app, &flow.otp, params.get("otp")).await;
    if let Err(m) = result {
        return render_otp(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            login_screen(&flow, Some(m), None),
        );
    }
    // One completion per flow, even if the form is submitted twice.
    if !crate::flow::finish(&app, crate::flow::login::KIND, &secret)
        .await
        .unwrap_or(false)
    {
        return flow_expired(&app, &req);
    }
    let Ok(Some(account)) = app.db.find_account(&flow.account_id).await else {
        return unavailable(&app, &req);
    };
    let amr = AMR_PASSWORD_SMS.map(String::from).to_vec();
    let mut resp = super::login::finish_login(
        &app,
        &req,
        &account,
        amr,
        flow.ar.as_deref(),
        &client_ip(&peer),
    )
    .await;
    clear_flow_cookie(&app, &mut resp, crate::flow::login::KIND);
    resp
}

async fn login_otp_resend(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, _) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, mut flow)) = login_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    match crate::authenticators::otp::resend(&app, &flow.otp, sms_text(&app, req.locale)).await {
        Ok(challenge) => {
            flow.otp = challenge;
            if crate::flow::save(&app, crate::flow::login::KIND, &secret, &flow)
                .await
                .is_err()
            {
                return unavailable(&app, &req);
            }
            render_otp(
                &app,
                &req,
                StatusCode::OK,
                login_screen(&flow, None, Some("otp_resent")),
            )
        }
        Err(e) => render_otp(
            &app,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            login_screen(&flow, Some(otp_message(&e)), None),
        ),
    }
}

async fn login_phones_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some((_, flow)) = login_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    let Ok(phones) = app.db.verified_phones(&flow.account_id).await else {
        return unavailable(&app, &req);
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
    let vars = json!({ "action": app.url("/login/otp/phones"), "phones": phones, "back": app.url("/login/otp") });
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "otp_phones",
        "title_otp_phones",
        vars,
        None,
    )
}

async fn login_phones_submit(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, mut flow)) = login_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    let phone_id = params.get("phone_id").unwrap_or_default();
    match crate::flow::login::switch_phone(&app, &mut flow, phone_id, sms_text(&app, req.locale))
        .await
    {
        Ok(()) => {
            if crate::flow::save(&app, crate::flow::login::KIND, &secret, &flow)
                .await
                .is_err()
            {
                return unavailable(&app, &req);
            }
            Redirect::to(&app.url("/login/otp")).into_response()
        }
        Err(LoginFlowError::UnknownPhone) => page::error(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            "error_bad_request",
            None,
        ),
        Err(LoginFlowError::Otp(e)) => render_otp(
            &app,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            login_screen(&flow, Some(otp_message(&e)), None),
        ),
        Err(LoginFlowError::Store(_)) => unavailable(&app, &req),
    }
}

// ----- password recovery ------------------------------------------------------------------------

async fn render_recovery_form(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    values: Value,
    errors: Value,
) -> Response {
    let Some(captcha) = captcha_vars(app, "/forgot-password").await else {
        return unavailable(app, req);
    };
    let mut vars =
        json!({ "action": app.url("/forgot-password"), "values": values, "errors": errors });
    merge(&mut vars, captcha);
    page::render(
        app,
        req,
        status,
        "forgot_password",
        "title_forgot_password",
        vars,
        None,
    )
}

async fn recovery_form(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    render_recovery_form(&app, &req, StatusCode::OK, json!({}), json!({})).await
}

async fn recovery_submit(State(app): State<App>, request: Request<Body>) -> Response {
    let (_, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let id_raw = params.get("id_number").unwrap_or_default();
    let phone_raw = params.get("phone").unwrap_or_default();
    let values = json!({ "id_number": id_raw, "phone": phone_raw });
    let mut errors = FieldErrors::new();
    let id = match IdNumber::parse(id_raw) {
        Ok(id) => Some(id),
        Err(crate::domain::IdNumberError::Empty) => {
            errors.insert("id_number", Message::new("err_id_number_required"));
            None
        }
        Err(_) => {
            errors.insert("id_number", Message::new("err_id_number_malformed"));
            None
        }
    };
    let phone = match PhoneNumber::parse(phone_raw) {
        Ok(p) => Some(p),
        Err(crate::domain::PhoneNumberError::Empty) => {
            errors.insert("phone", Message::new("err_required"));
            None
        }
        Err(_) => {
            errors.insert("phone", Message::new("err_phone_malformed"));
            None
        }
    };
    let captcha_ok = match (params.get("captcha_id"), params.get("captcha")) {
        (Some(cid), Some(answer)) => captcha::verify(&app, cid, answer).await.unwrap_or(false),
        _ => false,
    };
    if !captcha_ok {
        errors.insert("captcha", Message::new("err_captcha_wrong"));
    }
    let (Some(id), Some(phone)) = (id, phone) else {
        let errors = errors_json(&app, &req, &errors);
        return render_recovery_form(&app, &req, StatusCode::BAD_REQUEST, values, errors).await;
    };
    if !errors.is_empty() {
        let errors = errors_json(&app, &req, &errors);
        return render_recovery_form(&app, &req, StatusCode::BAD_REQUEST, values, errors).await;
    }
    let flow = match recovery::start(&app, &id, &phone, sms_text(&app, req.locale)).await {
        Ok(f) => f,
        Err(RecoveryError::Otp(e)) => {
            let mut errors = Map::new();
            errors.insert("phone".into(), json!(text(&app, &req, &otp_message(&e))));
            return render_recovery_form(
                &app,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                values,
                Value::Object(errors),
            )
            .await;
        }
        Err(e) => {
            tracing::error!(error = %e, "recovery failed on a backend");
            return unavailable(&app, &req);
        }
    };
    let secret = match crate::flow::start(&app, recovery::KIND, &flow).await {
        Ok(s) => s,
        Err(_) => return unavailable(&app, &req),
    };
    let mut resp = Redirect::to(&app.url("/forgot-password/otp")).into_response();
    set_flow_cookie(&app, &mut resp, recovery::KIND, &secret);
    resp
}

async fn recovery_flow(app: &App, headers: &HeaderMap) -> Option<(String, RecoveryFlow)> {
    let secret = cookie(headers, &flow_cookie(recovery::KIND))?.to_string();
    let flow = crate::flow::load(app, recovery::KIND, &secret)
        .await
        .ok()??;
    Some((secret, flow))
}

fn recovery_screen<'a>(
    flow: &'a RecoveryFlow,
    error: Option<Message>,
    notice: Option<&'static str>,
) -> OtpScreen<'a> {
    OtpScreen {
        base: "/forgot-password/otp",
        challenge: &flow.otp,
        error,
        notice,
        other_methods: false,
    }
}

async fn recovery_otp_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match recovery_flow(&app, &headers).await {
        Some((_, flow)) => render_otp(
            &app,
            &req,
            StatusCode::OK,
            recovery_screen(&flow, None, None),
        ),
        None => flow_expired(&app, &req),
    }
}

async fn recovery_otp_submit(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, mut flow)) = recovery_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    let result = check_code(&app, &flow.otp, params.get("otp")).await;
    if let Err(m) = result {
        return render_otp(
            &app,
            &req,
            StatusCode::BAD_REQUEST,
            recovery_screen(&flow, Some(m), None),
        );
    }
    flow.otp_verified = true;
    if crate::flow::save(&app, recovery::KIND, &secret, &flow)
        .await
        .is_err()
    {
        return unavailable(&app, &req);
    }
    Redirect::to(&app.url("/forgot-password/password")).into_response()
}

async fn recovery_otp_resend(State(app): State<App>, request: Request<Body>) -> Response {
    let (headers, req, _) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, mut flow)) = recovery_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    match recovery::resend(&app, &mut flow, sms_text(&app, req.locale)).await {
        Ok(()) => {
            if crate::flow::save(&app, recovery::KIND, &secret, &flow)
                .await
                .is_err()
            {
                return unavailable(&app, &req);
            }
            render_otp(
                &app,
                &req,
                StatusCode::OK,
                recovery_screen(&flow, None, Some("otp_resent")),
            )
        }
        Err(RecoveryError::Otp(e)) => render_otp(
            &app,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            recovery_screen(&flow, Some(otp_message(&e)), None),
        ),
        Err(_) => unavailable(&app, &req),
    }
}

async fn recovery_password_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match recovery_flow(&app, &headers).await {
        Some((_, flow)) if flow.otp_verified => render_new_password(
            &app,
            &req,
            StatusCode::OK,
            "/forgot-password/password",
            true,
            json!({}),
        ),
        Some(_) => Redirect::to(&app.url("/forgot-password/otp")).into_response(),
        None => flow_expired(&app, &req),
    }
}

async fn recovery_password_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, flow)) = recovery_flow(&app, &headers).await else {
        return flow_expired(&app, &req);
    };
    let password = params.get("password").unwrap_or_default();
    let confirm = params.get("password_confirm").unwrap_or_default();
    match recovery::complete(&app, &flow, password, confirm, Some(&client_ip(&peer))).await {
        Ok(()) => {
            let _ = crate::flow::finish(&app, recovery::KIND, &secret).await;
            let mut resp = render_message(
                &app,
                &req,
                "reset_done_heading",
                "reset_done_message",
                Some((app.url("/login"), "register_continue")),
            );
            clear_flow_cookie(&app, &mut resp, recovery::KIND);
            super::clear_session_cookie(&app, resp.headers_mut());
            resp
        }
        Err(RecoveryError::Fields(errors)) => {
            let errors = errors_json(&app, &req, &errors);
            render_new_password(
                &app,
                &req,
                StatusCode::BAD_REQUEST,
                "/forgot-password/password",
                true,
                errors,
            )
        }
        Err(RecoveryError::OutOfOrder) => {
            Redirect::to(&app.url("/forgot-password/otp")).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "password reset failed on a backend");
            unavailable(&app, &req)
        }
    }
}
