//! Reading requests defensively: bounded bodies, exact content types, cookies, locale.

use axum::body::Body;
use axum::http::{HeaderMap, Request, header};

use super::render::Theme;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;

/// Reads a form body (`application/x-www-form-urlencoded`) of at most `limit` bytes.
pub async fn form_params(
    req: Request<Body>,
    limit: usize,
) -> Result<(HeaderMap, Params), OAuthError> {
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| OAuthError::invalid_request("the request body is too large"))?;
    Ok((parts.headers, Params::parse(&bytes)?))
}

/// Query parameters of a GET.
pub fn query_params(uri: &axum::http::Uri) -> Result<Params, OAuthError> {
    Params::parse(uri.query().unwrap_or_default().as_bytes())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub const LANG_COOKIE: &str = "xacthuc_lang";
/// The SSO session cookie: an opaque id, HttpOnly, SameSite=Lax (it must ride the top-level
/// navigation from a portal to /authorize).
pub const SESSION_COOKIE: &str = "xacthuc_session";
/// A random id of the browser, set by `/authorize` when absent: a pending authorization request
/// belongs to the browser that started it. SameSite=Lax, like the session cookie, because it
/// must ride the portal's cross-site navigation to /authorize and on to /login.
pub const BROWSER_COOKIE: &str = "xacthuc_browser";

/// `SameSite` of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites (the portal's redirect), not on their POSTs.
    Lax,
    /// Sent only on requests from our own pages.
    Strict,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        }
    }
}

/// The one place that decides how the server's cookies are named and flagged. On an https
/// issuer every cookie is `Secure` and takes the `__Host-` prefix: a browser then accepts it
/// only from a secure origin with `Path=/` and no `Domain`, so neither a sibling subdomain nor a
/// plain-http page on the network can plant or overwrite it (cookie tossing). On http
/// (development and tests) the plain names stay.
#[derive(Debug, Clone)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn for_issuer(issuer: &str) -> Self {
        Self {
            secure: issuer.starts_with("https://"),
        }
    }

    /// The name the cookie `base` goes by (`__Host-xacthuc_session` on https).
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    /// The value of the cookie `base` that the browser sent, if any.
    pub fn get<'a>(&self, headers: &'a HeaderMap, base: &str) -> Option<&'a str> {
        cookie(headers, &self.name(base))
    }

    /// Appends a `Set-Cookie` for `base`: HttpOnly and `Path=/` always, `Secure` on https.
    /// `max_age` of `Some(0)` deletes it; `None` keeps it for the browser session.
    pub fn set(
        &self,
        h: &mut HeaderMap,
        base: &str,
        value: &str,
        same_site: SameSite,
        max_age: Option<i64>,
    ) {
        let mut c = format!(
            "{}={value}; Path=/; HttpOnly; SameSite={}",
            self.name(base),
            same_site.as_str()
        );
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        if let Ok(v) = axum::http::HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
}

/// The page language: `?lang=`, then the language cookie, then the request's `ui_locales`,
/// then the configured default.
pub fn locale(
    theme: &Theme,
    cookies: &Cookies,
    headers: &HeaderMap,
    lang_param: Option<&str>,
    ui_locales: &[String],
) -> &'static str {
    lang_param
        .and_then(Theme::supported)
        .or_else(|| cookies.get(headers, LANG_COOKIE).and_then(Theme::supported))
        .or_else(|| ui_locales.iter().find_map(|l| Theme::supported(l)))
        .unwrap_or(theme.default_locale)
}
