//! The answers of the accounts, audit and roles sections to a refused action
//! (`admin::refusal::Refusal`): JSON at the API, a themed page in the console.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::api::ApiError;
use crate::admin::refusal::Refusal;
use crate::app::App;
use crate::http::page::{self, PageRequest};
use crate::http::registration::merge;
use crate::http::request::query_params;
use crate::message::Message;
use crate::oidc::params::Params;

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound => Self::NotFound,
            Refusal::BadRequest(m) => Self::BadRequest(m),
            Refusal::Invalid(fields) => Self::Invalid(fields),
            Refusal::Conflict(m) => Self::Conflict(m),
            Refusal::Unavailable(cause) => {
                tracing::error!(cause = %cause, "admin API: temporarily unavailable");
                Self::Unavailable
            }
        }
    }
}

/// The API's answer to a refusal, in `locale`.
pub fn api_refusal(app: &App, locale: &str, r: Refusal) -> Response {
    ApiError::from(r).respond(app, locale)
}

/// The query string's parameters at the API; a malformed or repeated one is a 400.
pub fn api_query(uri: &axum::http::Uri) -> Result<Params, Refusal> {
    query_params(uri).map_err(|_| Refusal::BadRequest(Message::new("admin_accounts_bad_query")))
}

/// A refusal the console shows on the form's page: its status, and the variables the page
/// adds (`error`, `errors`). `None` for refusals that are a page of their own (404, 503).
pub fn console_refusal(
    app: &App,
    req: &PageRequest,
    r: &Refusal,
) -> Result<(StatusCode, Value), Box<Response>> {
    match r {
        Refusal::NotFound => Err(Box::new(page::error(
            app,
            req,
            StatusCode::NOT_FOUND,
            "admin_api_not_found",
            None,
        ))),
        Refusal::Unavailable(cause) => Err(Box::new(page::unavailable(app, req, cause))),
        Refusal::BadRequest(m) => Ok((
            StatusCode::BAD_REQUEST,
            json!({ "error": page::text(app, req, m) }),
        )),
        Refusal::Invalid(fields) => Ok((
            StatusCode::BAD_REQUEST,
            json!({
                "error": page::text(app, req, &Message::new("admin_api_invalid")),
                "errors": page::errors_json(app, req, fields),
            }),
        )),
        Refusal::Conflict(m) => Ok((
            StatusCode::CONFLICT,
            json!({ "error": page::text(app, req, m) }),
        )),
    }
}

/// Shows a refusal on the form's page: `vars` gets the page's `error` (and `errors`), and the
/// answer's status is returned; a refusal that is a page of its own (404, 503) is that page.
pub fn onto_page(
    app: &App,
    req: &PageRequest,
    r: &Refusal,
    vars: &mut Value,
) -> Result<StatusCode, Box<Response>> {
    let (status, extra) = console_refusal(app, req, r)?;
    merge(vars, extra);
    Ok(status)
}

/// A refusal as an error page of its own (a page that has no form to show it on).
pub fn error_page(app: &App, req: &PageRequest, r: &Refusal) -> Response {
    let (status, key) = match r {
        Refusal::BadRequest(m) => (StatusCode::BAD_REQUEST, m.key),
        Refusal::Invalid(_) => (StatusCode::BAD_REQUEST, "admin_api_invalid"),
        Refusal::Conflict(m) => (StatusCode::CONFLICT, m.key),
        Refusal::NotFound | Refusal::Unavailable(_) => match console_refusal(app, req, r) {
            Err(page) => return *page,
            Ok(_) => (StatusCode::SERVICE_UNAVAILABLE, "admin_api_unavailable"),
        },
    };
    page::error(app, req, status, key, None)
}

/// The console's "confirm" box, ticked.
pub fn confirmed(params: &Params) -> bool {
    params.get("confirm") == Some("yes")
}
