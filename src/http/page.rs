//! Themed HTML responses: common template variables, CSP, cookies (CSRF, language).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::render::Theme;
use super::request::{BROWSER_COOKIE, LANG_COOKIE, SESSION_COOKIE, SameSite, form_params, locale};
use crate::app::App;
use crate::authenticators::RefusalKind;
use crate::flow::{FLOW_COOKIE, FlowState};
use crate::limits::{self, Admission, Ceiling};
use crate::message::{FieldErrors, Message};
use crate::oidc::params::Params;
use crate::random;

/// The browser's CSRF cookie: a random secret that CSRF tokens are bound to before login.
pub const CSRF_COOKIE: &str = "xacthuc_csrf";

/// What every page needs to know about the request it answers.
#[derive(Clone)]
pub struct PageRequest {
    pub locale: &'static str,
    switch_url: String,
    set_lang: bool,
    csrf: String,
    /// A CSRF cookie made for this browser now, to be set with the page.
    new_csrf_cookie: Option<String>,
    /// The SSO session cookie's secret, if the browser sent one.
    session: Option<String>,
    /// The browser cookie (`xacthuc_browser`), if the browser sent one.
    browser: Option<String>,
    /// The portal's own theme (`with_client_theme`), else the deployment's.
    client_theme: Option<Arc<Theme>>,
}

impl PageRequest {
    pub fn new(app: &App, headers: &HeaderMap, uri: &Uri, ui_locales: &[String]) -> Self {
        Self::at(app, headers, uri, local_path(uri.path()), ui_locales)
    }

    /// A page whose language link goes to `path` (with the request's query) rather than to the
    /// request path: the 404 page, whose path matched no route.
    pub fn at(
        app: &App,
        headers: &HeaderMap,
        uri: &Uri,
        path: &str,
        ui_locales: &[String],
    ) -> Self {
        let query = uri.query().unwrap_or_default();
        let lang_param = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned());
        let lang_param = lang_param.as_deref();
        let locale = locale(&app.theme, &app.cookies, headers, lang_param, ui_locales);
        let switch_url = switch_url(locale, path, query);
        let session = app.cookies.get(headers, SESSION_COOKIE);
        // A browser without a CSRF cookie gets one with this page.
        let sent = csrf_cookie(app, headers);
        let csrf_secret = sent.map_or_else(random::token, str::to_string);
        let new_csrf_cookie = sent.is_none().then(|| csrf_secret.clone());
        let binding = session.map_or(CsrfBinding::CsrfCookie(&csrf_secret), CsrfBinding::Session);
        Self {
            locale,
            switch_url,
            set_lang: lang_param
                .and_then(super::render::Theme::supported)
                .is_some(),
            csrf: csrf_token(app, binding),
            new_csrf_cookie,
            session: session.map(str::to_string),
            browser: app.cookies.get(headers, BROWSER_COOKIE).map(str::to_string),
            client_theme: None,
        }
    }

    /// This request rendered in the theme a portal's client names (`Client::theme`), if the
    /// deployment has it: the login and consent pages of that portal's requests.
    pub fn with_client_theme(mut self, app: &App, theme: Option<&str>) -> PageRequest {
        self.client_theme = theme.and_then(|name| app.client_themes.get(name)).cloned();
        self
    }

    /// The theme this page renders with.
    pub fn theme<'a>(&'a self, app: &'a App) -> &'a Theme {
        self.client_theme.as_deref().unwrap_or(&app.theme)
    }

    /// This request with its language link going to `target` (a path on this site with its
    /// query) rather than to the request's URL: for a page that answers a post whose URL would
    /// not show it again. A registration refused after the signing ceremony answers the post
    /// to `/login/{method}`; opening that URL in the other language would start a login.
    pub fn with_language_link(&self, target: &str) -> PageRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        PageRequest {
            switch_url: switch_url(self.locale, local_path(path), query),
            ..self.clone()
        }
    }

    /// The browser's SSO session cookie (its secret), if any.
    pub fn session_cookie(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The browser cookie (`xacthuc_browser`), if the browser has one.
    pub fn browser(&self) -> Option<&str> {
        self.browser.as_deref()
    }

    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    pub fn t(&self, app: &App, key: &str) -> String {
        self.theme(app).t(self.locale, key)
    }
}

/// The language link of a page in `locale`: `path` with `query`, asking for the other language.
fn switch_url(locale: &str, path: &str, query: &str) -> String {
    let other = if locale == "vi" { "en" } else { "vi" };
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "lang") {
        out.append_pair(&k, &v);
    }
    out.append_pair("lang", other);
    format!("{path}?{}", out.finish())
}

/// `path` when it is a path on this site; "/" for anything a browser would take for another
/// host (`//evil.example/x`, `/\evil.example`), so the language link never leaves the site.
fn local_path(path: &str) -> &str {
    let bytes = path.as_bytes();
    let on_this_site = bytes.first() == Some(&b'/') && !matches!(bytes.get(1), Some(b'/' | b'\\'));
    if on_this_site { path } else { "/" }
}

/// The browser's CSRF cookie, when it has a well-formed one.
fn csrf_cookie<'a>(app: &App, headers: &'a HeaderMap) -> Option<&'a str> {
    app.cookies
        .get(headers, CSRF_COOKIE)
        .filter(|c| c.len() == 43)
}

/// What the CSRF tokens of a browser's forms are bound to: its SSO session cookie's secret when
/// it has a session, so a token is worthless in any other session, and someone who can plant
/// cookies cannot make a matching pair without replacing the session itself. Before login, its
/// CSRF cookie (which `__Host-` keeps others from planting on https).
enum CsrfBinding<'a> {
    Session(&'a str),
    CsrfCookie(&'a str),
}

/// The CSRF token for `binding`: an HMAC under the server's key, so it cannot be made without
/// the server, and is never the cookie itself.
fn csrf_token(app: &App, binding: CsrfBinding<'_>) -> String {
    match binding {
        CsrfBinding::Session(secret) => app.csrf_key.tag("csrf session", secret.as_bytes()),
        CsrfBinding::CsrfCookie(secret) => app.csrf_key.tag("csrf browser", secret.as_bytes()),
    }
}

/// Whether a submitted form carries the CSRF token its browser's cookies bind it to now
/// (compared in constant time).
pub fn csrf_ok(app: &App, headers: &HeaderMap, submitted: Option<&str>) -> bool {
    let binding = match (
        app.cookies.get(headers, SESSION_COOKIE),
        csrf_cookie(app, headers),
    ) {
        (Some(secret), _) => CsrfBinding::Session(secret),
        (None, Some(cookie)) => CsrfBinding::CsrfCookie(cookie),
        (None, None) => return false,
    };
    let expected = csrf_token(app, binding);
    submitted.is_some_and(|s| random::constant_time_eq(expected.as_bytes(), s.as_bytes()))
}

/// Renders `template` with the common variables and `vars`.
pub fn render(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    template: &str,
    title_key: &str,
    vars: Value,
) -> Response {
    let mut ctx = json!({
        "t": req.theme(app).strings(req.locale),
        "lang": req.locale,
        "lang_switch_url": req.switch_url,
        "page_title": req.t(app, title_key),
        "sandbox": app.config.sandbox.enabled,
        "csrf": req.csrf,
    });
    if let (Some(obj), Value::Object(extra)) = (ctx.as_object_mut(), vars) {
        obj.extend(extra);
    }
    let html = match req.theme(app).render(template, &ctx) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template, error = %e, "template rendering failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    // Forms lead only to us, unless the page widens it for a portal (`allow_forms_to`).
    let csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
               frame-ancestors 'none'; base-uri 'none'";
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    let h = resp.headers_mut();
    insert(h, header::CONTENT_SECURITY_POLICY, csp);
    insert(h, header::CACHE_CONTROL, "no-store");
    if let Some(secret) = &req.new_csrf_cookie {
        app.cookies
            .set(h, CSRF_COOKIE, secret, SameSite::Strict, None);
    }
    if req.set_lang {
        app.cookies.set(
            h,
            LANG_COOKIE,
            req.locale,
            SameSite::Lax,
            Some(365 * 86_400),
        );
    }
    resp
}

/// Gives the browser its browser cookie (`xacthuc_browser`, for the browser session).
pub fn set_browser_cookie(app: &App, resp: &mut Response, value: &str) {
    app.cookies.set(
        resp.headers_mut(),
        BROWSER_COOKIE,
        value,
        SameSite::Lax,
        None,
    );
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
        "title": req.t(app, "title_error"),
        "message": req.t(app, message_key),
    });
    if let Some(code) = code {
        vars["code"] = json!(code);
    }
    render(app, req, status, "error", "title_error", vars)
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
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

/// "Service temporarily unavailable" (503), after logging why: every such page has a cause an
/// operator must be able to find.
pub fn unavailable(app: &App, req: &PageRequest, cause: &dyn std::fmt::Display) -> Response {
    tracing::error!(cause = %cause, "temporarily unavailable");
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
        Err(e) => Err(unavailable(
            app,
            req,
            &format!("the {ceiling:?} ceiling: {e}"),
        )),
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
    render(app, req, StatusCode::OK, "message", "title_message", vars)
}

/// Lets a page run the theme's own scripts (`script-src 'self'`): the OTP countdown, the
/// passkey ceremony. No inline script is ever allowed.
pub fn allow_own_scripts(resp: &mut Response) {
    widen_csp(resp, "script-src 'self';");
}

/// Lets the page's own scripts ask this site (`connect-src 'self'`): a pending push's page
/// polls its status.
pub fn allow_own_requests(resp: &mut Response) {
    widen_csp(resp, "connect-src 'self';");
}

/// Adds `directive` after the page's `default-src 'none';`.
fn widen_csp(resp: &mut Response, directive: &str) {
    let csp = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.replacen(
                "default-src 'none';",
                &format!("default-src 'none'; {directive}"),
                1,
            )
        });
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// Lets the page's forms lead to the portal whose authorization request `ar` the page serves
/// (`form-action 'self' <portal origin>`). The form that finishes a login (an SMS code, a
/// signature, "Đăng ký", declining an upgrade) is answered with a redirect to the portal, and
/// browsers hold every redirect of a form's navigation to `form-action`: with `'self'` alone
/// Chromium stays on our page. Only the origin of the redirect URI this browser's own pending
/// request carries (already matched exactly against the client's) is added.
pub async fn allow_forms_to_portal(
    app: &App,
    req: &PageRequest,
    resp: &mut Response,
    ar: Option<&str>,
) {
    let Some(ar) = ar.filter(|a| !a.is_empty()) else {
        return;
    };
    if !resp.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
        return;
    }
    let Ok(Some(request)) = crate::oidc::interaction::pending(app, ar, req.browser()).await else {
        return;
    };
    allow_forms_to(resp, &request.redirect_uri);
}

/// Lets the page's forms lead to the origin of `url` (a validated redirect URI) as well as to us.
pub fn allow_forms_to(resp: &mut Response, url: &str) {
    let Some(origin) = origin_of(url) else {
        return;
    };
    // Added to what the directive already allows: a logout through an upstream leads to the
    // upstream's origin, then back here, then to the portal's.
    let csp = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .map(|d| {
                    let d = d.trim();
                    let mut words = d.split(' ');
                    if words.next() == Some("form-action") && !words.any(|w| w == origin) {
                        format!("{d} {origin}")
                    } else {
                        d.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// `scheme://host[:port]` of a URL, for CSP `form-action`.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let origin = u.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Lets the page's scripts fetch from `origins` as well as from us (`connect-src`): a login
/// ceremony's local signing agent. Origins that are not plain `scheme://host[:port]` are left
/// out, so nothing else can be spliced into the policy.
pub fn allow_connect(resp: &mut Response, origins: &[String]) {
    let allowed: Vec<&str> = origins
        .iter()
        .map(|o| o.trim_end_matches('/'))
        .filter(|o| {
            url::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == *o
            })
        })
        .collect();
    if allowed.is_empty() {
        return;
    }
    let csp = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("{v}; connect-src 'self' {}", allowed.join(" ")));
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
    if !csrf_ok(app, &headers, params.get("csrf")) {
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
    let secret = app.cookies.get(headers, &flow_cookie::<S>())?.to_string();
    let flow = crate::flow::load::<S>(app.store.as_ref(), &secret)
        .await
        .ok()??;
    Some((secret, flow))
}

/// Sets a flow's cookie. SameSite=Lax rather than Strict: a login method may leave for an
/// upstream identity provider and come back on a top-level GET, which Strict cookies would not
/// ride; POSTs are CSRF-checked anyway.
pub fn set_flow_cookie<S: FlowState>(app: &App, resp: &mut Response, secret: &str) {
    let age = crate::flow::TTL.as_secs() as i64;
    app.cookies.set(
        resp.headers_mut(),
        &flow_cookie::<S>(),
        secret,
        SameSite::Lax,
        Some(age),
    );
}

pub fn clear_flow_cookie<S: FlowState>(app: &App, resp: &mut Response) {
    app.cookies.set(
        resp.headers_mut(),
        &flow_cookie::<S>(),
        "",
        SameSite::Lax,
        Some(0),
    );
}

/// Starts a flow and sends the browser to its next page (`path`) with the flow's cookie.
pub async fn start_flow_at<S: FlowState>(
    app: &App,
    req: &PageRequest,
    flow: &S,
    path: &str,
) -> Response {
    let secret = match crate::flow::start(app.store.as_ref(), flow).await {
        Ok(v) => v,
        Err(e) => return unavailable(app, req, &e),
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

/// The status of a kind of refusal: a limit is a 429, never a 5xx.
pub fn status_for(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::Invalid => StatusCode::BAD_REQUEST,
        RefusalKind::Unauthorized => StatusCode::UNAUTHORIZED,
        RefusalKind::Limited => StatusCode::TOO_MANY_REQUESTS,
        RefusalKind::Unavailable | RefusalKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::{local_path, switch_url};

    #[test]
    fn the_language_link_keeps_the_query_and_asks_for_the_other_language() {
        assert_eq!(
            switch_url("vi", "/register", "subject=citizen&ar=abc&lang=vi"),
            "/register?subject=citizen&ar=abc&lang=en"
        );
        assert_eq!(switch_url("en", "/login", ""), "/login?lang=vi");
    }

    #[test]
    fn the_language_link_stays_on_this_site() {
        assert_eq!(local_path("/login"), "/login");
        assert_eq!(local_path("/register/mobile"), "/register/mobile");
        for other_host in ["//evil.example/x", "/\\evil.example", "evil", ""] {
            assert_eq!(local_path(other_host), "/", "{other_host}");
        }
    }
}
