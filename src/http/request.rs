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

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// The page language: `?lang=`, then the language cookie, then the request's `ui_locales`,
/// then the configured default.
pub fn locale(
    theme: &Theme,
    headers: &HeaderMap,
    lang_param: Option<&str>,
    ui_locales: &[String],
) -> &'static str {
    lang_param
        .and_then(Theme::supported)
        .or_else(|| cookie(headers, LANG_COOKIE).and_then(Theme::supported))
        .or_else(|| ui_locales.iter().find_map(|l| Theme::supported(l)))
        .unwrap_or(theme.default_locale)
}
