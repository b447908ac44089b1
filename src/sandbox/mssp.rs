//! The sandbox mobile-signature service (MSSP, "SIM ký số"): serves the ETSI TS 102 204 JSON
//! shape documented in `connectors::mobile_signature` for the seeded `[[sim_signature]]`
//! holders, nested at `/sandbox/mssp`.
//!
//! - `POST /rest/service` `{"MSS_SignatureReq": …}`: an unknown number → `Fault` 105
//!   UNKNOWN_CLIENT; a blocked SIM → 402 PIN_NR_BLOCKED; otherwise an outstanding request (100
//!   REQUEST_OK with its `MSSP_TransID`). A holder's `fault` applies here (500, a late answer,
//!   a cut-off body).
//! - `POST /rest/service` `{"MSS_StatusReq": …}`: 504 OUTSTANDING_TRANSACTION, 502
//!   VALID_SIGNATURE with the detached CMS, 401 USER_CANCEL, 208 EXPIRED_TRANSACTION (by the app
//!   clock), 402 PIN_NR_BLOCKED (three wrong PINs while it was outstanding), 101 WRONG_PARAM
//!   for an unknown transaction.
//! - The holder's side (pending list, approve with PIN, reject, "the phone" page at
//!   `/sandbox/mssp/phone`): `sandbox::signers`.

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

use super::seed::{Fault, normalize_phone};
use super::signers::{self, RequestState, SignerSandbox};
use crate::connectors::mobile_signature::{MSS_FORMAT_PKCS7, MssRefusal, code};

/// Longest data to be signed accepted (a hash is 32 bytes).
const MAX_DTBS_BYTES: usize = 1024;
/// Code for a request the service cannot use.
const WRONG_PARAM: u16 = 101;

pub fn router<S>(sandbox: Arc<SignerSandbox>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/rest/service", post(service))
        .with_state(sandbox.clone())
        .merge(signers::router(sandbox))
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "MSS_SignatureReq")]
    signature: Option<SignatureReq>,
    #[serde(rename = "MSS_StatusReq")]
    status: Option<StatusReq>,
}

#[derive(Deserialize)]
struct MobileUser {
    #[serde(rename = "MSISDN")]
    msisdn: String,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "Data")]
    data: String,
}

#[derive(Deserialize)]
struct SignatureReq {
    #[serde(rename = "MobileUser")]
    mobile_user: MobileUser,
    #[serde(rename = "DataToBeSigned")]
    dtbs: Data,
    #[serde(rename = "DataToBeDisplayed")]
    display: Data,
    #[serde(rename = "MSS_Format")]
    format: String,
    #[serde(rename = "TimeOut", default)]
    timeout: Option<u32>,
}

#[derive(Deserialize)]
struct StatusReq {
    #[serde(rename = "MSSP_TransID")]
    mssp_trans_id: String,
}

fn fault(code: u16) -> Response {
    axum::Json(json!({ "Fault": { "Code": code, "Reason": code::name(code) } })).into_response()
}

fn status_json(code: u16) -> serde_json::Value {
    json!({ "StatusCode": { "Value": code }, "StatusMessage": code::name(code) })
}

async fn service(State(sandbox): State<Arc<SignerSandbox>>, body: Bytes) -> Response {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(&body) else {
        return fault(WRONG_PARAM);
    };
    match (envelope.signature, envelope.status) {
        (Some(req), None) => signature(&sandbox, req).await,
        (None, Some(req)) => status(&sandbox, &req),
        _ => fault(WRONG_PARAM),
    }
}

async fn signature(sandbox: &SignerSandbox, req: SignatureReq) -> Response {
    let dtbs = STANDARD.decode(req.dtbs.data.trim()).ok();
    let (Some(msisdn), Some(dtbs)) = (normalize_phone(&req.mobile_user.msisdn), dtbs) else {
        return fault(WRONG_PARAM);
    };
    if req.format != MSS_FORMAT_PKCS7 || dtbs.is_empty() || dtbs.len() > MAX_DTBS_BYTES {
        return fault(WRONG_PARAM);
    }
    let Some(holder) = sandbox.holder(&msisdn) else {
        return fault(code::UNKNOWN_CLIENT);
    };
    match holder.fault {
        Fault::None => {}
        Fault::Error => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "simulated MSSP failure").into_response();
        }
        Fault::Timeout => {
            tokio::time::sleep(sandbox.fault_delay).await;
            return (StatusCode::GATEWAY_TIMEOUT, "simulated slow MSSP").into_response();
        }
        Fault::Malformed => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"MSS_SignatureResp\": {",
            )
                .into_response();
        }
    }
    if sandbox.blocked(&holder.id) {
        return fault(MssRefusal::PinBlocked.code());
    }
    let ttl = req.timeout.unwrap_or(120);
    let id = sandbox.open(&holder.id, &req.display.data, dtbs, ttl);
    axum::Json(json!({ "MSS_SignatureResp": {
        "MSSP_TransID": id,
        "Status": status_json(code::REQUEST_OK),
    }}))
    .into_response()
}

fn status(sandbox: &SignerSandbox, req: &StatusReq) -> Response {
    let Some(request) = sandbox.request(&req.mssp_trans_id) else {
        return fault(WRONG_PARAM);
    };
    let (code, signature) = match request.state {
        RequestState::Outstanding if sandbox.blocked(&request.holder) => {
            (MssRefusal::PinBlocked.code(), None)
        }
        RequestState::Outstanding => (code::OUTSTANDING_TRANSACTION, None),
        RequestState::Signed(cms) => (code::VALID_SIGNATURE, Some(STANDARD.encode(cms))),
        RequestState::Rejected => (MssRefusal::UserCancelled.code(), None),
        RequestState::Expired => (MssRefusal::Expired.code(), None),
    };
    let mut answer = json!({ "MSS_StatusResp": { "Status": status_json(code) } });
    if let Some(signature) = signature {
        answer["MSS_StatusResp"]["MSS_Signature"] = json!({ "Base64Signature": signature });
    }
    axum::Json(answer).into_response()
}
