//! Themed HTML responses: common template variables, CSP, cookies (CSRF, language).

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request::{LANG_COOKIE, cookie, locale};
use crate::app::App;
use crate::random;

pub const CSRF_COOKIE: &str = "xacthuc_csrf";

/// What every page needs to know about the request it answers.
pub struct PageRequest {
    pub locale: &'static str,
    switch_url: String,
    set_lang: bool,
    csrf: String,
    new_csrf: bool,
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
        }
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
