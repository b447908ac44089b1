//! The sandbox: simulators of the external systems (carrier, SMS gateway, BHXH) and a demo
//! portal, mounted under /sandbox in the embedded default; `xacthuc sandbox` runs the
//! simulators alone.

pub mod csc;
pub mod demo_portal;
pub mod mssp;
pub mod pki;
pub mod pki_http;
pub mod seed;
pub mod signers;
pub mod simulators;
pub mod vneid;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;

pub fn router(app: &App) -> Router<App> {
    let mut r = Router::new()
        .merge(demo_portal::router())
        .route("/sandbox/captcha/{id}", get(captcha_answer));
    if let Some(sim) = &app.simulators {
        r = r.nest("/sandbox", simulators::router(sim.clone()));
    }
    if let Some(pki) = &app.sandbox_pki {
        r = r.merge(pki_http::router(pki.clone()));
    }
    if let Some(vneid) = &app.sandbox_vneid {
        r = r.merge(vneid::router(vneid.clone()));
    }
    r
}

/// ⚓ Test contract: the answer of a live captcha, readable only because the sandbox is on.
async fn captcha_answer(State(app): State<App>, Path(id): Path<String>) -> Response {
    match crate::authenticators::captcha::peek_answer(app.store.as_ref(), &id).await {
        Ok(Some(answer)) => {
            axum::Json(serde_json::json!({ "id": id, "answer": answer })).into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
