//! The API's door and its answers. A caller presents a client-credentials access token
//! (`Authorization: Bearer`) issued by us to a client that still exists and is still allowed
//! the admin scopes the token carries; the scopes name its roles (`Role::api_scope`). A user's
//! access token (it has `auth_time`) never opens the API, whatever its scopes.
//!
//! Errors are JSON: `{"error": code, "message": text, "fields": {field: text}}`, the text in
//! Vietnamese, or English when `Accept-Language` (or `?lang=`) asks for it. A forbidden call
//! is 403 and audited `admin.forbidden`.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::{Access, Actor, Resource};
use crate::app::App;
use crate::audit::Event;
use crate::domain::Role;
use crate::http::render::Theme;
use crate::message::{FieldErrors, Message};
use crate::oidc::userinfo::verify_access_token;

/// A call the API accepted: who makes it and the language of its messages.
pub struct ApiCall {
    pub actor: Actor,
    pub locale: &'static str,
}

/// Why an API call fails. One status each.
#[derive(Debug)]
pub enum ApiError {
    /// No token, or not a live admin token of ours: 401.
    Unauthorized,
    /// The token's roles do not allow this: 403.
    Forbidden,
    /// 404.
    NotFound,
    /// The request cannot be understood (bad JSON, a bad query): 400.
    BadRequest(Message),
    /// Fields that do not pass validation: 422, with a message per field.
    Invalid(FieldErrors),
    /// A stale edit (someone changed it since it was read) or a duplicate: 409.
    Conflict(Message),
    /// The database or the store did not answer: 503, the cause logged once.
    Unavailable,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Invalid(_) => "invalid",
            Self::Conflict(_) => "conflict",
            Self::Unavailable => "unavailable",
        }
    }

    fn message(&self) -> Message {
        match self {
            Self::Unauthorized => Message::new("admin_api_unauthorized"),
            Self::Forbidden => Message::new("admin_api_forbidden"),
            Self::NotFound => Message::new("admin_api_not_found"),
            Self::Invalid(_) => Message::new("admin_api_invalid"),
            Self::BadRequest(m) | Self::Conflict(m) => m.clone(),
            Self::Unavailable => Message::new("admin_api_unavailable"),
        }
    }

    /// The JSON answer, its text in `locale`.
    pub fn respond(&self, app: &App, locale: &str) -> Response {
        let text = |m: &Message| {
            let mut s = app.theme.t(locale, m.key);
            for (name, value) in &m.args {
                s = s.replace(&format!("{{{name}}}"), value);
            }
            s
        };
        let mut body = json!({ "error": self.code(), "message": text(&self.message()) });
        if let Self::Invalid(fields) = self {
            let fields: Map<String, Value> = fields
                .iter()
                .map(|(k, m)| (k.to_string(), json!(text(m))))
                .collect();
            body["fields"] = Value::Object(fields);
        }
        let mut resp = (self.status(), Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self, Self::Unauthorized) {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        resp
    }
}

/// A JSON request body of type `T`; anything else is a 400 with our message (never axum's
/// text, never a 500). Handlers take the body as `Bytes` and call this.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::BadRequest(Message::new("admin_api_bad_json")))
}

/// The body of every error answer (documentation only).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `invalid`, `conflict`,
    /// `unavailable`.
    pub error: String,
    pub message: String,
    /// Per field, for `invalid`.
    pub fields: Option<std::collections::BTreeMap<String, String>>,
}

/// The language of the API's messages: `?lang=`, else `Accept-Language`'s first supported
/// tag, else the theme's default.
pub fn locale(app: &App, headers: &HeaderMap, uri: &Uri) -> &'static str {
    let from_query = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| Theme::supported(&v))
    });
    let from_header = || {
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .map(|tag| tag.split(';').next().unwrap_or_default().trim())
                    .find_map(Theme::supported)
            })
    };
    from_query
        .or_else(from_header)
        .unwrap_or(app.theme.default_locale)
}

/// The caller, if it may `access` `resource`; else the error answer (a forbidden call
/// audited).
pub async fn authorize(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    ip: &str,
    resource: Resource,
    access: Access,
) -> Result<ApiCall, Response> {
    let locale = locale(app, headers, uri);
    let actor = match caller(app, headers).await {
        Ok(actor) => actor,
        Err(e) => return Err(e.respond(app, locale)),
    };
    if !actor.may(resource, access) {
        let actor_id = actor.audit_id();
        let event = Event::new("admin.forbidden")
            .actor(&actor_id)
            .ip(Some(ip))
            .detail(json!({
                "via": actor.via(),
                "resource": resource.name(),
                "access": access.name(),
            }));
        if let Err(e) = app.audit.record(event).await {
            tracing::error!(error = %e, "audit of a refused admin call failed");
            return Err(ApiError::Unavailable.respond(app, locale));
        }
        return Err(ApiError::Forbidden.respond(app, locale));
    }
    Ok(ApiCall { actor, locale })
}

/// The API client behind a bearer token, with the roles its scopes name.
async fn caller(app: &App, headers: &HeaderMap) -> Result<Actor, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let claims = verify_access_token(app, token)
        .await
        .map_err(|_| ApiError::Unavailable)?
        .ok_or(ApiError::Unauthorized)?;
    let client_id = claims
        .get("client_id")
        .and_then(Value::as_str)
        .ok_or(ApiError::Unauthorized)?;
    // A client's own token (client_credentials): the client is its subject and no person
    // logged in. A user's token never opens the admin API.
    if claims.get("sub").and_then(Value::as_str) != Some(client_id)
        || claims.get("auth_time").is_some()
    {
        return Err(ApiError::Unauthorized);
    }
    // The client as it is now: removed, or no longer allowed a scope, and the token stops.
    let client = app
        .client(client_id)
        .await
        .map_err(|_| ApiError::Unavailable)?
        .ok_or(ApiError::Unauthorized)?;
    let roles: Vec<Role> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(' ')
        .filter(|s| client.allowed_scopes.iter().any(|a| a == s))
        .filter_map(Role::from_api_scope)
        .collect();
    if roles.is_empty() {
        return Err(ApiError::Forbidden);
    }
    Ok(Actor::ApiClient {
        client_id: client.client_id.clone(),
        roles,
    })
}

/// Who is calling: the API client and its roles.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// `api` (a client-credentials token) or `console`.
    pub via: String,
    /// As recorded in audit events (`client:<client_id>` for the API).
    pub actor: String,
    /// `admin`, `client_manager`, `counter_officer`, `auditor`.
    pub roles: Vec<String>,
}

/// The caller and its roles: a way for an operator to check a token before using it.
#[utoipa::path(
    get,
    path = "/admin/api/v1/whoami",
    tag = "session",
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "No live admin token", body = ErrorBody),
    )
)]
async fn whoami(
    axum::extract::State(app): axum::extract::State<App>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let locale = locale(&app, &headers, &uri);
    match caller(&app, &headers).await {
        Ok(actor) => Json(WhoAmI {
            via: actor.via().to_string(),
            actor: actor.audit_id(),
            roles: actor.roles().iter().map(|r| r.name().to_string()).collect(),
        })
        .into_response(),
        Err(e) => e.respond(&app, locale),
    }
}

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(whoami))
}
