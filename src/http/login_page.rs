//! The login page: the methods configured in `[login]` that can meet what the portal asked
//! for (level, phishing resistance), why a login is needed, and the ID number + password form.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::page::{self, PageRequest};
use super::registration::{captcha_vars, merge};
use super::request::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::app::App;
use crate::authenticators::{Method, password};
use crate::message::Message;
use crate::oidc::authorize::{AuthorizationRequest, LoginNeed, LoginReason};
use crate::oidc::interaction;

/// What the login page is for: the portal's pending request (if any), its client's name, and
/// what the login must achieve.
pub struct LoginContext {
    pub ar: Option<String>,
    pub pending: Option<(AuthorizationRequest, String)>,
    pub need: LoginNeed,
    /// The theme the portal's client names, if any.
    pub client_theme: Option<String>,
}

/// The pending request's `ui_locales`, for choosing the page language.
pub fn locales(context: &Result<LoginContext, ()>) -> &[String] {
    match context {
        Ok(LoginContext {
            pending: Some((r, _)),
            ..
        }) => &r.ui_locales,
        _ => &[],
    }
}

/// The page request of a login page: the pending request's languages and its portal's theme.
pub fn page_request(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    context: &Result<LoginContext, ()>,
) -> PageRequest {
    let theme = context
        .as_ref()
        .ok()
        .and_then(|c| c.client_theme.as_deref());
    PageRequest::new(app, headers, uri, locales(context)).with_client_theme(app, theme)
}

/// The theme a portal's client names (`Client::theme`), for the pages of its requests.
pub async fn theme_of(app: &App, client_id: &str) -> Option<String> {
    app.client(client_id)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.theme.clone())
}

/// The login page's URL for the pending request `ar`.
pub fn url(app: &App, ar: Option<&str>) -> String {
    match ar {
        Some(ar) => app.url(&format!("/login?ar={ar}")),
        None => app.url("/login"),
    }
}

/// Loads the pending request `ar` (an error when it is unknown, expired or another browser's)
/// and works out what the login needs, given this browser's SSO session (its cookie's secret)
/// and browser cookie.
pub async fn context(
    app: &App,
    session_cookie: Option<&str>,
    browser: Option<&str>,
    ar: Option<&str>,
) -> Result<LoginContext, ()> {
    let Some(ar) = ar else {
        return Ok(LoginContext {
            ar: None,
            pending: None,
            need: LoginNeed::default(),
            client_theme: None,
        });
    };
    let request = match interaction::pending(app, ar, browser).await {
        Ok(Some(r)) => r,
        _ => return Err(()),
    };
    let (name, client_theme) = match app.client(&request.client_id).await {
        Ok(Some(c)) => (c.name.clone(), c.theme.clone()),
        _ => return Err(()),
    };
    let session = match session_cookie {
        Some(secret) => interaction::load_session(app, secret).await.ok().flatten(),
        None => None,
    };
    let need = interaction::login_need(app, &request, session.as_ref()).await;
    Ok(LoginContext {
        ar: Some(ar.to_string()),
        pending: Some((request, name)),
        need,
        client_theme,
    })
}

/// [`context`] with the SSO session and browser cookies that came with `headers`.
pub async fn context_of(
    app: &App,
    headers: &HeaderMap,
    ar: Option<&str>,
) -> Result<LoginContext, ()> {
    let session = app.cookies.get(headers, SESSION_COOKIE);
    let browser = app.cookies.get(headers, BROWSER_COOKIE);
    context(app, session, browser, ar).await
}

/// What the page shows besides its context.
pub struct LoginPage<'a> {
    /// The ID number typed so far (or the portal's `login_hint`).
    pub username: &'a str,
    pub error: Option<&'a Message>,
    /// The captcha's variables ([`captcha`]), when the form must carry one.
    pub captcha: Option<Value>,
}

/// The captcha of the password form: shown when the typed login name is challenged (too many
/// failures in a row; `password` refuses it without one), or when the page is asked for one
/// (`?captcha=1`, the captcha's "Đổi mã khác" link). A fresh challenge each time.
pub async fn captcha(app: &App, ar: Option<&str>, username: &str, asked: bool) -> Option<Value> {
    let challenged = !username.is_empty()
        && password::needs_captcha(app.store.as_ref(), &app.config.passwords, username)
            .await
            .unwrap_or(false);
    if !asked && !challenged {
        return None;
    }
    let refresh = match ar {
        Some(ar) => format!("/login?captcha=1&ar={ar}"),
        None => "/login?captcha=1".to_string(),
    };
    // The page still renders without the puzzle; the password step refuses
    // without it, so an outage here costs the user a retry, not security.
    match captcha_vars(app, &refresh).await {
        Ok(vars) => Some(vars),
        Err(cause) => {
            tracing::error!(%cause, "captcha unavailable on the login page");
            None
        }
    }
}

fn reason_key(reason: LoginReason) -> Option<&'static str> {
    match reason {
        LoginReason::NoSession => None,
        LoginReason::PromptLogin => Some("login_reason_prompt_login"),
        LoginReason::MaxAge => Some("login_reason_max_age"),
        LoginReason::LevelTooLow => Some("login_reason_level"),
        LoginReason::NotPhishingResistant => Some("login_reason_phishing_resistant"),
        LoginReason::AccountInactive => Some("login_reason_account_inactive"),
    }
}

/// The methods the seeds show as tabs beside "CMT/CCCD" (the signature tokens a person holds);
/// the others are buttons under the form.
fn is_tab(method: Method) -> bool {
    match method {
        Method::UsbToken | Method::SimSignature => true,
        Method::Password
        | Method::SmsOtp
        | Method::Passkey
        | Method::RemoteSignature
        | Method::Federation => false,
    }
}

pub fn render(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    context: &LoginContext,
    page: LoginPage<'_>,
) -> Response {
    let ar = context.ar.as_deref();
    let offered = crate::authenticators::offered(&app.config.login, &context.need);
    // Methods offered as a button of the password form, for the ID number typed there.
    let from_typed_id: Vec<_> = offered
        .iter()
        .filter(|m| m.traits().from_typed_id && offered.contains(&Method::Password))
        .map(|m| {
            json!({
                "name": m.name(),
                "label": req.t(app, &format!("login_{}_for_id", m.name())),
            })
        })
        .collect();
    let link_to = |m: &Method| {
        let mut link = format!("/login/{}", m.name());
        if let Some(ar) = ar {
            link.push_str(&format!("?ar={ar}"));
        }
        json!({
            "name": m.name(),
            "label": req.t(app, &format!("login_with_{}", m.name())),
            "url": app.url(&link),
        })
    };
    let tabs: Vec<_> = offered
        .iter()
        .filter(|m| is_tab(**m))
        .map(link_to)
        .collect();
    let others: Vec<_> = offered
        .iter()
        .filter(|m| **m != Method::Password && **m != Method::Federation && !is_tab(**m))
        .map(link_to)
        .collect();
    // One button per upstream identity provider, with its own name and logo.
    let upstreams: Vec<_> = if offered.contains(&Method::Federation) {
        app.config
            .federation
            .upstreams
            .iter()
            .map(|u| {
                let mut link = format!("/login/federation?upstream={}", u.id);
                if let Some(ar) = ar {
                    link.push_str(&format!("&ar={ar}"));
                }
                let logo = if u.logo.starts_with('/') {
                    app.url(&u.logo)
                } else {
                    u.logo.clone()
                };
                json!({ "id": u.id, "name": u.name, "logo": logo, "url": app.url(&link) })
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut vars = json!({
        "ar": ar.unwrap_or_default(),
        "username": page.username,
        "password": offered.contains(&Method::Password),
        "from_typed_id": from_typed_id,
        "tabs": tabs,
        "methods": others,
        "upstreams": upstreams,
    });
    if let Some(m) = page.error {
        vars["error"] = json!(page::text(app, req, m));
    }
    if let Some(captcha) = page.captcha {
        merge(&mut vars, captcha);
    }
    // Without a session to blame, a portal's demand for a phishing-resistant login is still why
    // the page offers only some methods.
    let reason = match context.need.reason {
        LoginReason::NoSession if context.need.phishing_resistant => {
            Some("login_reason_phishing_resistant")
        }
        other => reason_key(other),
    };
    if let Some(key) = reason {
        vars["reason"] = json!(req.t(app, key));
    }
    if let Some((_, name)) = &context.pending {
        vars["client_name"] = json!(name);
    }
    if offered.is_empty() {
        vars["no_method"] = json!(true);
    }
    let mut resp = page::render(app, req, status, "login", "title_login", vars);
    // The password may finish the login: the answer is a redirect to the portal.
    if let Some((request, _)) = &context.pending {
        page::allow_forms_to(&mut resp, &request.redirect_uri);
    }
    resp
}
