//! HTTP for the sandbox PKI (scripts and browser tests), mounted when the sandbox is on:
//!
//! - `POST /sandbox/pki/certificates` — JSON [`IssueRequest`] → `{serial, certificate_pem,
//!   chain_pem: [issuer first], private_key_pem (PKCS#8, null when the caller brought the
//!   key)}`; 400 with `{error}` for a bad request.
//! - `POST /sandbox/pki/certificates/{serial}/revoke` → 204, or 404.
//! - `POST /sandbox/pki/ocsp/{ca}` (body: DER OCSPRequest) and `GET /sandbox/pki/ocsp/{ca}/{b64}`
//!   → `application/ocsp-response`; 503 when the CA's responder is set down.
//! - `GET /sandbox/pki/crl/{ca}.crl` → the CA's current CRL (DER); 503 when set down.
//! - `GET /sandbox/pki/ca/{ca}.pem` → a CA certificate.
//! - `POST /sandbox/pki/ca/{ca}/faults` — JSON [`Faults`] (`{"ocsp": "down" | "hang" | "replay"
//!   | "wrong_nonce" | "rogue" | "no_nonce" | "no_nonce_old" | "none", "crl": "down" |
//!   "none"}`) → 204.
//!
//! CA ids: `public-root`, `public-ca`, `gov-root`, `gov-ca`, `untrusted-root`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use openssl::x509::X509;
use serde_json::json;

use super::pki::{Faults, IssueRequest, SandboxPki, SandboxPkiError};

/// Largest OCSP request accepted.
const MAX_OCSP_REQUEST: usize = 16 * 1024;

pub fn router<S>(pki: Arc<SandboxPki>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/sandbox/pki/certificates", post(issue))
        .route("/sandbox/pki/certificates/{serial}/revoke", post(revoke))
        .route("/sandbox/pki/ocsp/{ca}", post(ocsp_post))
        .route("/sandbox/pki/ocsp/{ca}/{request}", get(ocsp_get))
        .route("/sandbox/pki/crl/{file}", get(crl))
        .route("/sandbox/pki/ca/{file}", get(ca_certificate))
        .route("/sandbox/pki/ca/{ca}/faults", post(set_faults))
        .with_state(pki)
}

fn error(e: SandboxPkiError) -> Response {
    let status = match e {
        SandboxPkiError::Invalid(_) => StatusCode::BAD_REQUEST,
        SandboxPkiError::NotFound => StatusCode::NOT_FOUND,
        SandboxPkiError::Io(_) | SandboxPkiError::Crypto(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, axum::Json(json!({ "error": e.to_string() }))).into_response()
}

fn pem(der: &[u8]) -> String {
    X509::from_der(der)
        .and_then(|c| c.to_pem())
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .unwrap_or_default()
}

async fn issue(State(pki): State<Arc<SandboxPki>>, body: Bytes) -> Response {
    let req: IssueRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(SandboxPkiError::Invalid(e.to_string())),
    };
    // RSA key generation takes a while: off the async threads.
    let issued = match tokio::task::spawn_blocking(move || pki.issue(&req)).await {
        Ok(Ok(issued)) => issued,
        Ok(Err(e)) => return error(e),
        Err(e) => return error(SandboxPkiError::Crypto(e.to_string())),
    };
    let key_pem = (!issued.private_key_pkcs8_der.is_empty()).then(|| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&issued.private_key_pkcs8_der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    });
    axum::Json(json!({
        "serial": issued.serial,
        "certificate_pem": pem(&issued.certificate_der),
        "chain_pem": issued.chain_der.iter().map(|d| pem(d)).collect::<Vec<_>>(),
        "private_key_pem": key_pem,
    }))
    .into_response()
}

async fn revoke(State(pki): State<Arc<SandboxPki>>, Path(serial): Path<String>) -> Response {
    match pki.revoke(&serial) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

async fn ocsp_post(
    State(pki): State<Arc<SandboxPki>>,
    Path(ca): Path<String>,
    body: Bytes,
) -> Response {
    ocsp(&pki, &ca, &body).await
}

async fn ocsp_get(
    State(pki): State<Arc<SandboxPki>>,
    Path((ca, request)): Path<(String, String)>,
) -> Response {
    // RFC 6960 A.1: base64 (standard alphabet), then URL-encoded; the router decoded the
    // percent-escapes already.
    match base64::engine::general_purpose::STANDARD.decode(request.trim()) {
        Ok(der) => ocsp(&pki, &ca, &der).await,
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn ocsp(pki: &SandboxPki, ca: &str, der: &[u8]) -> Response {
    if der.len() > MAX_OCSP_REQUEST {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    match pki.ocsp(ca, der).await {
        Ok(Some(body)) => {
            ([(header::CONTENT_TYPE, "application/ocsp-response")], body).into_response()
        }
        Ok(None) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Err(e) => error(e),
    }
}

async fn crl(State(pki): State<Arc<SandboxPki>>, Path(file): Path<String>) -> Response {
    let Some(ca) = file.strip_suffix(".crl") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if pki.faults(ca).crl == super::pki::CrlFault::Down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match pki.crl(ca) {
        Ok(der) => ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response(),
        Err(e) => error(e),
    }
}

async fn ca_certificate(State(pki): State<Arc<SandboxPki>>, Path(file): Path<String>) -> Response {
    let Some(ca) = file.strip_suffix(".pem") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match pki.ca_certificate(ca) {
        Ok(der) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            pem(&der),
        )
            .into_response(),
        Err(e) => error(e),
    }
}

async fn set_faults(
    State(pki): State<Arc<SandboxPki>>,
    Path(ca): Path<String>,
    body: Bytes,
) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return error(SandboxPkiError::Invalid(e.to_string())),
    };
    match pki.set_faults(&ca, faults) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}
