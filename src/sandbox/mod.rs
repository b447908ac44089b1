//! The sandbox: simulators of the external systems (carrier, SMS gateway, BHXH, mail, the
//! signing providers), the sandbox PKI and a demo portal, mounted under /sandbox in the
//! embedded default; `xacthuc sandbox` runs them without the identity provider
//! ([`Standalone`]; no captcha answers, no demo portal).

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

use std::path::Path as FsPath;
use std::sync::Arc;

use crate::app::App;
use crate::clock::Clock;
use pki::{SandboxPki, SandboxPkiError};
use seed::SandboxSeed;
use simulators::Simulators;

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

/// What `xacthuc sandbox` serves: the simulators, their signing providers with keys from the
/// sandbox CA (as `App::build` wires them), and the CA's certificates, OCSP responders and
/// CRLs, so a production-shaped identity provider (sandbox off) can point its connectors at
/// it and trust its roots.
pub struct Standalone {
    pub simulators: Arc<Simulators>,
    pub pki: Arc<SandboxPki>,
}

impl Standalone {
    /// `public_url`: where the sandbox is reached. The certificates it issues name their OCSP
    /// responder and CRL there, and so do the intermediate CAs made at the first start in
    /// `pki_dir`: keep one `pki_dir` per URL.
    pub fn open(
        seed: SandboxSeed,
        pki_dir: &FsPath,
        public_url: &str,
        clock: Clock,
    ) -> Result<Standalone, SandboxPkiError> {
        let pki = Arc::new(SandboxPki::open(pki_dir, public_url, clock.clone())?);
        let issue = signers::sandbox_ca(pki.clone());
        let simulators = Arc::new(Simulators::with_key_issuer(seed, clock, issue));
        Ok(Standalone { simulators, pki })
    }

    /// The routes, at the same paths as in the embedded sandbox.
    pub fn router(&self) -> Router {
        simulators::standalone_router(self.simulators.clone())
            .merge(pki_http::router(self.pki.clone()))
    }
}
