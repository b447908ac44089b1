//! The local HTTP API (documented in `docs/signer.md`):
//!
//! - `GET /v1/status` → `{agent, version, tokens: [{slot, label, manufacturer, model, serial}]}`
//! - `GET /v1/certificates` → `{certificates: [{id, token, subject, issuer, not_before,
//!   not_after, key}]}`, or `no_token` / `no_certificate`
//! - `POST /v1/sign` `{origin, challenge, certificate_id}` → `{cms, certificate}` (standard
//!   base64 DER): a detached CMS SignedData over SHA-256(origin) ‖ SHA-256(challenge), with the
//!   signer's certificate.
//!
//! Every request must come from an allowed `Origin` (`--allow-origin`); a signature's `origin`
//! must be that `Origin`, so a page can only have signed what is bound to itself. CORS answers
//! allowed origins only, including Chrome's Private Network Access preflight. Errors are JSON
//! `{error, message}` with a stable code ([`AgentError::code`]).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::Agent;
use crate::error::AgentError;

/// The largest request body: a sign request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

pub fn router(agent: Arc<Agent>) -> Router {
    let origins: Vec<HeaderValue> = agent
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .allow_private_network(true);
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/certificates", get(certificates))
        .route("/v1/sign", post(sign))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "not_found", "message": "no such endpoint"})),
            )
        })
        .layer(middleware::from_fn_with_state(agent.clone(), check_origin))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors)
        .with_state(agent)
}

/// The page's `Origin`, if it is allowed.
async fn check_origin(State(agent): State<Arc<Agent>>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    match origin {
        None => AgentError::OriginMissing.into_response(),
        Some(o) if !agent.allows(o) => {
            tracing::warn!(origin = o, "refused a request from an origin not allowed");
            AgentError::OriginNotAllowed.into_response()
        }
        Some(_) => next.run(request).await,
    }
}

/// Runs blocking token work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AgentError> + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AgentError::Token(e.to_string()))?
}

async fn status(State(agent): State<Arc<Agent>>) -> Result<Response, AgentError> {
    let tokens = blocking(move || agent.tokens.tokens()).await?;
    Ok(Json(json!({
        "agent": "xacthuc-signer",
        "version": env!("CARGO_PKG_VERSION"),
        "tokens": tokens,
    }))
    .into_response())
}

async fn certificates(State(agent): State<Arc<Agent>>) -> Result<Response, AgentError> {
    let found = blocking(move || {
        if agent.tokens.tokens()?.is_empty() {
            return Err(AgentError::NoToken);
        }
        let certificates = agent.tokens.certificates()?;
        if certificates.is_empty() {
            return Err(AgentError::NoCertificate);
        }
        Ok(certificates)
    })
    .await?;
    Ok(Json(json!({ "certificates": found })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignRequest {
    origin: String,
    challenge: String,
    certificate_id: String,
}

/// What is signed: SHA-256(origin) ‖ SHA-256(challenge), both as the UTF-8 text sent (as Web
/// eID does), so a signature made for one site is worthless to another.
pub fn signed_content(origin: &str, challenge: &str) -> Vec<u8> {
    [
        Sha256::digest(origin.as_bytes()),
        Sha256::digest(challenge.as_bytes()),
    ]
    .concat()
}

async fn sign(
    State(agent): State<Arc<Agent>>,
    headers: HeaderMap,
    body: Result<Json<SignRequest>, JsonRejection>,
) -> Result<Response, AgentError> {
    let Json(request) = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AgentError::TooLarge
        } else {
            AgentError::BadRequest(rejection.body_text())
        }
    })?;
    // `check_origin` let the header through; the body must name the same origin.
    let page_origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if page_origin != Some(request.origin.as_str()) {
        return Err(AgentError::OriginMismatch);
    }
    let challenge_bytes = URL_SAFE_NO_PAD
        .decode(&request.challenge)
        .map_err(|_| AgentError::BadChallenge)?;
    if !(16..=256).contains(&challenge_bytes.len()) {
        return Err(AgentError::BadChallenge);
    }
    // One signature at a time: one PIN prompt at a time, one login per token.
    let _turn = agent.signing.lock().await;
    let worker = agent.clone();
    let answer = blocking(move || {
        let agent = worker;
        let certificate = agent.tokens.find(&request.certificate_id)?;
        let pin = agent.pin.ask(&request.origin, &certificate.token)?;
        let content = signed_content(&request.origin, &request.challenge);
        let cms = agent.tokens.with_key(&certificate, &pin, |key| {
            crate::cms::sign_detached(&certificate.der, &certificate.chain, &content, key)
        })?;
        tracing::info!(origin = %request.origin, certificate = %certificate.id, "signed a login challenge");
        Ok(json!({
            "cms": STANDARD.encode(cms),
            "certificate": STANDARD.encode(&certificate.der),
            "certificate_id": certificate.id,
        }))
    })
    .await?;
    Ok(Json(answer).into_response())
}
