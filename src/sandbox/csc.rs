//! The sandbox remote signature provider ("Chữ ký số cá nhân"): serves the Cloud Signature
//! Consortium API v2 shape documented in `connectors::remote_signature` for the seeded
//! `[[remote_signature]]` users, nested at `/sandbox/csc` (the CSC base URI is
//! `/sandbox/csc/v2`).
//!
//! - `credentials/list` `{"userID"}`: the user's one credential (`cred-<user id>`), found by user
//!   id or by an ID number in the certificate's UIDs; `[]` for anyone else. A user's `fault`
//!   applies here (500, a late answer, a cut-off body).
//! - `credentials/info`: the certificate chain (signer first) and the key's algorithm.
//! - `signatures/signHash` (`operationMode` "A"): 202 with a `responseID`; the request waits in
//!   "the app" (`/sandbox/csc/app`) for the PIN.
//! - `signatures/signHash/status`: `pending`, `signed` (the raw signature over the hash),
//!   `rejected`, `expired` (by the app clock).
//!
//! The service credentials (HTTP Basic) are not checked: the sandbox serves anyone. Bad input
//! gets a CSC error answer (`400 {"error": "invalid_request"}`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::seed::Fault;
use super::signers::{self, Holder, RequestState, SignerSandbox};
use crate::connectors::remote_signature::{OID_ECDSA_SHA256, OID_RSA_SHA256, OID_SHA256};

/// Credential ids are the user id behind this prefix.
const CREDENTIAL_PREFIX: &str = "cred-";

pub fn router<S>(sandbox: Arc<SignerSandbox>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/v2/credentials/list", post(list))
        .route("/v2/credentials/info", post(info))
        .route("/v2/signatures/signHash", post(sign_hash))
        .route("/v2/signatures/signHash/status", post(sign_status))
        .with_state(sandbox.clone())
        .merge(signers::router(sandbox))
}

fn invalid(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": "invalid_request", "error_description": description })),
    )
        .into_response()
}

/// The user behind a credential id.
fn holder_of<'a>(sandbox: &'a SignerSandbox, credential_id: &str) -> Option<&'a Holder> {
    sandbox.holder(credential_id.strip_prefix(CREDENTIAL_PREFIX)?)
}

/// A faulty user's answer instead of the real one, if any.
async fn fault_of(sandbox: &SignerSandbox, holder: &Holder) -> Option<Response> {
    match holder.fault {
        Fault::None => None,
        Fault::Error => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "simulated provider failure",
            )
                .into_response(),
        ),
        Fault::Timeout => {
            tokio::time::sleep(sandbox.fault_delay).await;
            Some((StatusCode::GATEWAY_TIMEOUT, "simulated slow provider").into_response())
        }
        Fault::Malformed => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"credentialIDs\": [",
            )
                .into_response(),
        ),
    }
}

#[derive(Deserialize)]
struct ListReq {
    #[serde(rename = "userID")]
    user_id: String,
}

async fn list(State(sandbox): State<Arc<SignerSandbox>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<ListReq>(&body) else {
        return invalid("body must be JSON {\"userID\"}");
    };
    let user_id = req.user_id.trim();
    let mut holders: Vec<&Holder> = sandbox.holder(user_id).into_iter().collect();
    if holders.is_empty() {
        holders = sandbox.holders_with_id_number(user_id);
    }
    for h in &holders {
        if let Some(response) = fault_of(&sandbox, h).await {
            return response;
        }
    }
    let ids: Vec<String> = holders
        .iter()
        .map(|h| format!("{CREDENTIAL_PREFIX}{}", h.id))
        .collect();
    axum::Json(json!({ "credentialIDs": ids })).into_response()
}

#[derive(Deserialize)]
struct InfoReq {
    #[serde(rename = "credentialID")]
    credential_id: String,
}

async fn info(State(sandbox): State<Arc<SignerSandbox>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<InfoReq>(&body) else {
        return invalid("body must be JSON {\"credentialID\"}");
    };
    let Some(holder) = holder_of(&sandbox, &req.credential_id) else {
        return invalid("unknown credentialID");
    };
    let Ok(key) = sandbox.key_of(holder) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "could not issue the key").into_response();
    };
    let mut certificates = Vec::new();
    for c in std::iter::once(&key.certificate).chain(key.chain.iter()) {
        match c.to_der() {
            Ok(der) => certificates.push(STANDARD.encode(der)),
            Err(_) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "bad certificate").into_response();
            }
        }
    }
    let algo = if key.key.rsa().is_ok() {
        OID_RSA_SHA256
    } else {
        OID_ECDSA_SHA256
    };
    axum::Json(json!({
        "key": { "status": "enabled", "algo": [algo] },
        "cert": { "status": "valid", "certificates": certificates },
        "authMode": "explicit",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SignReq {
    #[serde(rename = "credentialID")]
    credential_id: String,
    hashes: Vec<String>,
    #[serde(rename = "hashAlgo")]
    hash_algo: String,
    #[serde(rename = "clientData", default)]
    client_data: String,
    #[serde(default)]
    validity_period: Option<u32>,
}

async fn sign_hash(State(sandbox): State<Arc<SignerSandbox>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<SignReq>(&body) else {
        return invalid("body must be JSON {\"credentialID\", \"hashes\", \"hashAlgo\"}");
    };
    let Some(holder) = holder_of(&sandbox, &req.credential_id) else {
        return invalid("unknown credentialID");
    };
    let hash = match req.hashes.as_slice() {
        [one] => STANDARD.decode(one.trim()).ok().filter(|h| h.len() == 32),
        _ => None,
    };
    let Some(hash) = hash.filter(|_| req.hash_algo == OID_SHA256) else {
        return invalid("exactly one SHA-256 hash");
    };
    let ttl = req.validity_period.unwrap_or(120);
    let id = sandbox.open(&holder.id, &req.client_data, hash, ttl);
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "responseID": id })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct StatusReq {
    #[serde(rename = "responseID")]
    response_id: String,
}

async fn sign_status(State(sandbox): State<Arc<SignerSandbox>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<StatusReq>(&body) else {
        return invalid("body must be JSON {\"responseID\"}");
    };
    let Some(request) = sandbox.request(&req.response_id) else {
        return invalid("unknown responseID");
    };
    let answer = match request.state {
        RequestState::Outstanding => json!({ "status": "pending" }),
        RequestState::Signed(signature) => {
            json!({ "status": "signed", "signatures": [STANDARD.encode(signature)] })
        }
        RequestState::Rejected => json!({ "status": "rejected" }),
        RequestState::Expired => json!({ "status": "expired" }),
    };
    axum::Json(answer).into_response()
}
