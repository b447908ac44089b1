//! The sandbox: simulators of external systems and a demo portal, mounted under /sandbox in
//! the embedded default. Issue 3 adds the carrier, SMS and BHXH simulators.

pub mod demo_portal;

use axum::Router;

use crate::app::App;

pub fn router() -> Router<App> {
    Router::new().merge(demo_portal::router())
}
