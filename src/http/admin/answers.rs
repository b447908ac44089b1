//! What the trust-anchor and signing-key handlers share: the API's JSON answers, and the
//! console's answers to a change (a notice after it, the page again when it was refused).
//! A refusal is told once, as an [`ApiError`]: the API answers it as JSON, the console as the
//! page with the message at the top or under its field.

use std::net::SocketAddr;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{ApiCall, ApiError, authorize};
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::http::page::{self, PageRequest};
use crate::http::request::query_params;
use crate::message::Message;

/// A JSON answer of the admin API (never cached).
pub fn json_answer(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// What a console page shows besides its table: a notice, an error, the form's values and
/// its per-field errors.
#[derive(Default)]
pub struct Extra {
    pub notice: Option<String>,
    pub error: Option<String>,
    pub values: Value,
    pub errors: Value,
}

impl Extra {
    /// `?done=<what>` after a change: the notice of `what`, if it is one of `known`.
    pub fn done(app: &App, req: &PageRequest, uri: &Uri, known: &[(&str, &str)]) -> Self {
        let done = query_params(uri)
            .ok()
            .and_then(|p| p.get("done").map(str::to_string));
        let notice = known
            .iter()
            .find(|(what, _)| done.as_deref() == Some(*what))
            .map(|(_, key)| req.t(app, key));
        Self {
            notice,
            ..Self::default()
        }
    }

    /// A destructive action posted without its `confirm` box.
    pub fn confirm_required(app: &App, req: &PageRequest, values: Value) -> Self {
        let text = req.t(app, "admin_confirm_required");
        Self {
            errors: json!({ "confirm": text }),
            error: Some(text),
            values,
            ..Self::default()
        }
    }

    /// The page again after a refused change (its status and what to show), or a page of its
    /// own (not found; unavailable, the cause already logged by whoever made the error).
    pub fn refusal(
        app: &App,
        req: &PageRequest,
        e: ApiError,
        values: Value,
    ) -> Result<(StatusCode, Self), Box<Response>> {
        let own = |status, key| Box::new(page::error(app, req, status, key, None));
        let (status, extra) = match e {
            ApiError::Invalid(fields) => (
                StatusCode::BAD_REQUEST,
                Self {
                    errors: page::errors_json(app, req, &fields),
                    values,
                    ..Self::default()
                },
            ),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, Self::error(app, req, &m, values)),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, Self::error(app, req, &m, values)),
            ApiError::NotFound => return Err(own(StatusCode::NOT_FOUND, "admin_api_not_found")),
            ApiError::Forbidden => return Err(own(StatusCode::FORBIDDEN, "admin_api_forbidden")),
            ApiError::Unauthorized | ApiError::Unavailable => {
                let status = StatusCode::SERVICE_UNAVAILABLE;
                return Err(own(status, "error_temporarily_unavailable"));
            }
        };
        Ok((status, extra))
    }

    fn error(app: &App, req: &PageRequest, m: &Message, values: Value) -> Self {
        Self {
            error: Some(page::text(app, req, m)),
            values,
            ..Self::default()
        }
    }
}

/// What a handler answers: the answer, or the refusal that came first (`?`).
pub type Answer = Result<Response, Response>;

/// The API's door (`api::authorize`) for a caller at `peer`: the call and its IP.
pub async fn door(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    peer: SocketAddr,
    resource: Resource,
    access: Access,
) -> Result<(ApiCall, String), Response> {
    let ip = peer.ip().to_string();
    let call = authorize(app, headers, uri, &ip, resource, access).await?;
    Ok((call, ip))
}
