//! The admin area: the console (`/admin`, server-rendered pages in the theme) and the API
//! (`/admin/api/v1`, JSON, its OpenAPI document at [`OPENAPI_PATH`] generated from the
//! handlers' annotations). Both doors lead to the same rules (`crate::admin`): a person in the
//! console is a [`console`] caller, a program at the API an [`api`] caller, and each is an
//! [`Actor`](crate::admin::Actor) with roles.
//!
//! One file per resource; each gives its API routes (`api()`, an `OpenApiRouter`) and its
//! console pages (`console()`), merged here.

pub mod accounts;
pub mod answers;
pub mod api;
pub mod audit;
pub mod clients;
pub mod complaints;
pub mod console;
pub mod keys;
mod refused;
pub mod roles;
pub mod trust_anchors;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;

/// Where the OpenAPI document of the admin API is served (⚓ stable).
pub const OPENAPI_PATH: &str = "/admin/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "xacthuc admin API",
        description = "Clients, accounts, trust anchors, signing keys, audit events, complaints \
                       and staff roles. Authenticate with a client-credentials access token \
                       whose scopes name roles: xacthuc:admin, xacthuc:client_manager, \
                       xacthuc:counter_officer, xacthuc:auditor. Messages are in Vietnamese, \
                       or English with Accept-Language: en."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every API route with its documentation, one `merge` per resource.
fn api_routes() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::routes())
        .merge(accounts::api())
        .merge(audit::api())
        .merge(roles::api())
        .merge(complaints::api())
        .merge(trust_anchors::api())
        .merge(keys::api())
        .merge(clients::api())
}

/// The OpenAPI document, as served.
pub fn openapi_json() -> String {
    let (_, doc) = api_routes().split_for_parts();
    doc.to_pretty_json().unwrap_or_default()
}

pub fn router() -> Router<App> {
    let (api, doc) = api_routes().split_for_parts();
    let doc: Arc<str> = doc.to_pretty_json().unwrap_or_default().into();
    Router::new()
        .merge(api)
        .merge(console::router())
        .merge(accounts::console())
        .merge(audit::console())
        .merge(roles::console())
        .merge(complaints::console())
        .merge(trust_anchors::console())
        .merge(keys::console())
        .merge(clients::console())
        .route(
            OPENAPI_PATH,
            get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.to_string(),
                    )
                        .into_response()
                }
            }),
        )
}
