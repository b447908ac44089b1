//! Themed HTML responses: common template variables, CSP, cookies (CSRF, language).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request::{LANG_COOKIE, cookie, form_params, locale};
use crate::app::App;
use crate::flow::{FLOW_COOKIE, FlowState};
use crate::limits::{self, Admission, Ceiling};
use crate::message::{FieldErrors, Message};
use crate::oidc::params::Params;
use crate::random;

pub const CSRF_COOKIE: &str = "xacthuc_csrf";

/// What every page needs to know about the request it answers.
pub struct PageRequest {
    pub locale: &'static str,
    switch_url: String,
    set_lang: bool,
    csrf: String,
    new_csrf: bool,
    /// The SSO session cookie's secret, if the browser sent one.
    session: Option<String>,
}

impl PageRequest {
    pub fn new(app: &App, headers: &HeaderMap, uri: &Uri, ui_locales: &[String]) -> Self {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let lang_param = pairs
            .iter()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.as_str());
        let locale = locale(&app.theme, headers, lang_param, ui_locales);
        let other = if locale == "vi" { "en" } else { "vi" };
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "lang") {
            query.append_pair(k, v);
        }
        query.append_pair("lang", other);
        let switch_url = format!("{}?{}", uri.path(), query.finish());
        let (csrf, new_csrf) = match cookie(headers, CSRF_COOKIE) {
            Some(c) if c.len() == 43 => (c.to_string(), false),
            _ => (random::token(), true),
        };
        Self {
            locale,
            switch_url,
            set_lang: lang_param
                .and_then(super::render::Theme::supported)
                .is_some(),
            csrf,
            new_csrf,
            session: cookie(headers, super::request::SESSION_COOKIE).map(str::to_string),
        }
    }

    /// The browser's SSO session cookie (its secret), if any.
    pub fn session_cookie(&self) -> Option<&str> {
        self.session.as_deref()
    }

    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    pub fn t(&self, app: &App, key: &str) -> String {
        app.theme.t(self.locale, key)
    }
}

/// Whether a submitted form carries the CSRF token of this browser (double submit, compared in
/// constant time; the cookie is SameSite=Strict and HttpOnly).
pub fn csrf_ok(headers: &HeaderMap, submitted: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), submitted) {
        (Some(c), Some(s)) => random::constant_time_eq(c.as_bytes(), s.as_bytes()),
        _ => false,
    }
}

/// Renders `template` with the common variables and `vars`.
pub fn render(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    template: &str,
    title_key: &str,
    vars: Value,
    form_action_extra: Option<&str>,
) -> Response {
    let mut ctx = json!({
        "t": app.theme.strings(req.locale),
        "lang": req.locale,
        "lang_switch_url": req.switch_url,
        "page_title": app.theme.t(req.locale, title_key),
        "sandbox": app.config.sandbox.enabled,
        "csrf": req.csrf,
    });
    if let (Some(obj), Value::Object(extra)) = (ctx.as_object_mut(), vars) {
        obj.extend(extra);
    }
    let html = match app.theme.render(template, &ctx) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template, error = %e, "template rendering failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let form_action = match form_action_extra {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_string(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    let h = resp.headers_mut();
    insert(h, header::CONTENT_SECURITY_POLICY, &csp);
    insert(h, header::CACHE_CONTROL, "no-store");
    let secure = app.issuer.starts_with("https://");
    if req.new_csrf {
        append_cookie(h, CSRF_COOKIE, &req.csrf, "Strict", None, secure);
    }
    if req.set_lang {
        append_cookie(
            h,
            LANG_COOKIE,
            req.locale,
            "Lax",
            Some(365 * 86_400),
            secure,
        );
    }
    resp
}

/// A themed error page; `message_key` names a string of the theme.
pub fn error(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    message_key: &str,
    code: Option<&str>,
) -> Response {
    let mut vars = json!({
        "title": app.theme.t(req.locale, "title_error"),
        "message": app.theme.t(req.locale, message_key),
    });
    if let Some(code) = code {
        vars["code"] = json!(code);
    }
    render(app, req, status, "error", "title_error", vars, None)
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// Appends a `Set-Cookie`: HttpOnly always, Secure when the public URL is https.
pub fn append_cookie(
    h: &mut HeaderMap,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<i64>,
    secure: bool,
) {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        h.append(header::SET_COOKIE, v);
    }
}

/// A message of the theme in the page's language, its placeholders filled.
pub fn text(app: &App, req: &PageRequest, m: &Message) -> String {
    let mut s = req.t(app, m.key);
    for (name, value) in &m.args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// Per-field messages as the templates' `errors` object.
pub fn errors_json(app: &App, req: &PageRequest, errors: &FieldErrors) -> Value {
    Value::Object(
        errors
            .iter()
            .map(|(k, m)| (k.to_string(), json!(text(app, req, m))))
            .collect(),
    )
}

/// "Service temporarily unavailable" (503).
pub fn unavailable(app: &App, req: &PageRequest) -> Response {
    error(
        app,
        req,
        StatusCode::SERVICE_UNAVAILABLE,
        "error_temporarily_unavailable",
        None,
    )
}

/// "Busy, try again in a moment": password hashing is at capacity (503 + `Retry-After`).
pub fn busy(app: &App, req: &PageRequest) -> Response {
    let mut resp = error(
        app,
        req,
        StatusCode::SERVICE_UNAVAILABLE,
        "error_busy",
        None,
    );
    retry_after(&mut resp, crate::hashing::RETRY_AFTER_SECONDS);
    resp
}

/// Counts a request from `ip` against `ceiling`: `Ok(None)` to go on, `Ok(Some(seconds))` over
/// it (try again after that long); a store failure is the "unavailable" page.
pub async fn ceiling(
    app: &App,
    req: &PageRequest,
    ceiling: Ceiling,
    ip: &str,
) -> Result<Option<u64>, Response> {
    match limits::admit(app.store.as_ref(), &app.config.limits, ceiling, ip).await {
        Ok(Admission::Allowed) => Ok(None),
        Ok(Admission::Limited { retry_after }) => Ok(Some(retry_after)),
        Err(e) => {
            tracing::error!(error = %e, ?ceiling, "a per-address ceiling: the store failed");
            Err(unavailable(app, req))
        }
    }
}

/// A per-address limit was reached: the message, 429 and when to try again.
pub fn limited(app: &App, req: &PageRequest, key: &'static str, seconds: u64) -> Response {
    let mut resp = error(app, req, StatusCode::TOO_MANY_REQUESTS, key, None);
    retry_after(&mut resp, seconds);
    resp
}

/// Tells the browser when to try again (a busy server, a rate limit).
pub fn retry_after(resp: &mut Response, seconds: u64) {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

/// The flow this page belongs to is gone (expired, finished, or never started).
pub fn flow_expired(app: &App, req: &PageRequest) -> Response {
    error(app, req, StatusCode::BAD_REQUEST, "err_flow_expired", None)
}

/// A page with a heading, a message and an optional link onwards.
pub fn message(
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
    render(
        app,
        req,
        StatusCode::OK,
        "message",
        "title_message",
        vars,
        None,
    )
}

/// Lets a page run the theme's own scripts (`script-src 'self'`): the OTP countdown, the
/// passkey ceremony. No inline script is ever allowed.
pub fn allow_own_scripts(resp: &mut Response) {
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

/// Reads a POSTed form and checks its CSRF token; on failure, the page to show instead.
pub async fn posted(
    app: &App,
    request: Request<Body>,
) -> Result<(HeaderMap, PageRequest, Params), Response> {
    let uri = request.uri().clone();
    // Kept for the error page: without the browser's cookies it would hand out a new CSRF
    // cookie, breaking the browser's other open forms.
    let sent = request.headers().clone();
    let (headers, params) = match form_params(request, app.config.server.max_body_bytes).await {
        Ok(x) => x,
        Err(_) => {
            let req = PageRequest::new(app, &sent, &uri, &[]);
            return Err(error(
                app,
                &req,
                StatusCode::BAD_REQUEST,
                "error_bad_request",
                None,
            ));
        }
    };
    let req = PageRequest::new(app, &headers, &uri, &[]);
    if !csrf_ok(&headers, params.get("csrf")) {
        return Err(error(app, &req, StatusCode::FORBIDDEN, "error_csrf", None));
    }
    Ok((headers, req, params))
}

/// The cookie that carries a flow's secret (one per kind, so a login and a registration in one
/// browser do not collide).
pub fn flow_cookie<S: FlowState>() -> String {
    format!("{FLOW_COOKIE}_{}", S::KIND)
}

/// The flow of kind `S` of this browser, with its cookie secret.
pub async fn flow_of<S: FlowState>(app: &App, headers: &HeaderMap) -> Option<(String, S)> {
    let secret = cookie(headers, &flow_cookie::<S>())?.to_string();
    let flow = crate::flow::load::<S>(app.store.as_ref(), &secret)
        .await
        .ok()??;
    Some((secret, flow))
}

/// Sets a flow's cookie. SameSite=Lax rather than Strict: a login method may leave for an
/// upstream identity provider and come back on a top-level GET, which Strict cookies would not
/// ride; POSTs are CSRF-checked anyway.
pub fn set_flow_cookie<S: FlowState>(app: &App, resp: &mut Response, secret: &str) {
    let secure = app.issuer.starts_with("https://");
    let age = crate::flow::TTL.as_secs() as i64;
    append_cookie(
        resp.headers_mut(),
        &flow_cookie::<S>(),
        secret,
        "Lax",
        Some(age),
        secure,
    );
}

pub fn clear_flow_cookie<S: FlowState>(app: &App, resp: &mut Response) {
    let secure = app.issuer.starts_with("https://");
    append_cookie(
        resp.headers_mut(),
        &flow_cookie::<S>(),
        "",
        "Lax",
        Some(0),
        secure,
    );
}

/// Starts a flow and sends the browser to its next page (`path`) with the flow's cookie.
pub async fn start_flow_at<S: FlowState>(
    app: &App,
    req: &PageRequest,
    flow: &S,
    path: &str,
) -> Response {
    let Ok(secret) = crate::flow::start(app.store.as_ref(), flow).await else {
        return unavailable(app, req);
    };
    let mut resp = axum::response::Redirect::to(&app.url(path)).into_response();
    set_flow_cookie::<S>(app, &mut resp, &secret);
    resp
}

/// Saves a flow (a new one when `secret` is `None`); returns its secret.
pub async fn save_flow<S: FlowState>(
    app: &App,
    secret: Option<&str>,
    flow: &S,
) -> Result<String, crate::store::ephemeral::EphemeralError> {
    match secret {
        Some(s) => {
            crate::flow::save(app.store.as_ref(), s, flow).await?;
            Ok(s.to_string())
        }
        None => crate::flow::start(app.store.as_ref(), flow).await,
    }
}
