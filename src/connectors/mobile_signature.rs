//! The mobile-signature service (MSSP, "SIM ký số"): a carrier's service that asks the SIM of a
//! phone number to sign, in the shape of ETSI TS 102 204 (Mobile Signature Service, web service
//! interface), JSON/REST binding, asynchronous client-server mode.
//!
//! HTTP contract (the element names are the standard's; our sandbox serves it, an adapter for a
//! carrier's MSSP implements it or implements `MobileSignatureService` directly):
//!
//! ```text
//! POST {mobile_signature_url}/rest/service
//! {"MSS_SignatureReq": {
//!    "AP_Info": {"AP_ID": "…", "AP_PWD": "…", "AP_TransID": "…", "Instant": "2026-12-05T12:00:00Z"},
//!    "MobileUser": {"MSISDN": "+84823456088"},
//!    "DataToBeSigned": {"Data": "<base64 of SHA-256(challenge)>", "Encoding": "base64",
//!                       "MimeType": "application/octet-stream"},
//!    "DataToBeDisplayed": {"Data": "xacthuc: đăng nhập. Mã kiểm tra 4821", "Encoding": "UTF-8",
//!                          "MimeType": "text/plain"},
//!    "MSS_Format": "http://uri.etsi.org/TS102204/v1.1.2#PKCS7",
//!    "MessagingMode": "asynchClientServer",
//!    "TimeOut": 120}}
//! 200 {"MSS_SignatureResp": {"MSSP_TransID": "…", "Status": {"StatusCode": {"Value": 100},
//!                                                           "StatusMessage": "REQUEST_OK"}}}
//! 200 {"Fault": {"Code": 105, "Reason": "UNKNOWN_CLIENT"}}          (any status code below)
//!
//! POST {mobile_signature_url}/rest/service
//! {"MSS_StatusReq": {"AP_Info": {…}, "MSSP_TransID": "…"}}
//! 200 {"MSS_StatusResp": {"Status": {"StatusCode": {"Value": 504},
//!                                    "StatusMessage": "OUTSTANDING_TRANSACTION"}}}
//! 200 {"MSS_StatusResp": {"Status": {"StatusCode": {"Value": 502}, …},
//!                         "MSS_Signature": {"Base64Signature": "<detached CMS SignedData>"}}}
//! ```
//!
//! The signature is a detached CMS SignedData (`MSS_Format` PKCS7) over `DataToBeSigned`, with
//! the signer's certificate; the caller verifies it (`pki`), never this client.
//!
//! Status codes (ETSI TS 102 204 §6.2.5, names as in the standard) and what they become:
//!
//! | code | name | [`MssStatus`] |
//! |---|---|---|
//! | 100 | REQUEST_OK | (request accepted: `Requested::Accepted`) |
//! | 504 | OUTSTANDING_TRANSACTION | `Outstanding` |
//! | 500, 502 | SIGNATURE, VALID_SIGNATURE | `Signed(cms)` (a signature is required) |
//! | 401 | USER_CANCEL | `Refused(UserCancelled)` |
//! | 208 | EXPIRED_TRANSACTION | `Refused(Expired)` |
//! | 402, 403 | PIN_NR_BLOCKED, CARD_BLOCKED | `Refused(PinBlocked)` |
//! | 105, 404, 422 | UNKNOWN_CLIENT, NO_KEY_FOUND, NO_CERT_FOUND | `Refused(UnknownUser)` |
//! | 501 | REVOKED_CERTIFICATE | `Refused(RevokedCertificate)` |
//! | 209, 406 | OTA_ERROR, PB_SIGNATURE_PROCESS | `Refused(PhoneFailed)` |
//! | anything else (101 WRONG_PARAM, 104 UNAUTHORIZED_ACCESS, 900 INTERNAL_ERROR, …) | | `Malformed` (an operator must look) |
//!
//! Transport failures, 5xx, 408 and 429 are `Unavailable`. The signature request is never
//! retried (a retry could push a second request to the phone); the status query is read-only
//! and is retried.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{ConnectorError, Endpoint, parse_json};

/// `MSS_Format` of a detached CMS SignedData (PKCS#7).
pub const MSS_FORMAT_PKCS7: &str = "http://uri.etsi.org/TS102204/v1.1.2#PKCS7";
/// The ETSI status codes this client and the sandbox use.
pub mod code {
    pub const REQUEST_OK: u16 = 100;
    pub const UNKNOWN_CLIENT: u16 = 105;
    pub const EXPIRED_TRANSACTION: u16 = 208;
    pub const OTA_ERROR: u16 = 209;
    pub const USER_CANCEL: u16 = 401;
    pub const PIN_NR_BLOCKED: u16 = 402;
    pub const CARD_BLOCKED: u16 = 403;
    pub const NO_KEY_FOUND: u16 = 404;
    pub const PB_SIGNATURE_PROCESS: u16 = 406;
    pub const NO_CERT_FOUND: u16 = 422;
    pub const SIGNATURE: u16 = 500;
    pub const REVOKED_CERTIFICATE: u16 = 501;
    pub const VALID_SIGNATURE: u16 = 502;
    pub const OUTSTANDING_TRANSACTION: u16 = 504;
    pub const INTERNAL_ERROR: u16 = 900;

    /// The standard's name of a code, for answers and logs.
    pub fn name(code: u16) -> &'static str {
        match code {
            REQUEST_OK => "REQUEST_OK",
            UNKNOWN_CLIENT => "UNKNOWN_CLIENT",
            EXPIRED_TRANSACTION => "EXPIRED_TRANSACTION",
            OTA_ERROR => "OTA_ERROR",
            USER_CANCEL => "USER_CANCEL",
            PIN_NR_BLOCKED => "PIN_NR_BLOCKED",
            CARD_BLOCKED => "CARD_BLOCKED",
            NO_KEY_FOUND => "NO_KEY_FOUND",
            PB_SIGNATURE_PROCESS => "PB_SIGNATURE_PROCESS",
            NO_CERT_FOUND => "NO_CERT_FOUND",
            SIGNATURE => "SIGNATURE",
            REVOKED_CERTIFICATE => "REVOKED_CERTIFICATE",
            VALID_SIGNATURE => "VALID_SIGNATURE",
            OUTSTANDING_TRANSACTION => "OUTSTANDING_TRANSACTION",
            _ => "INTERNAL_ERROR",
        }
    }
}

/// Longest display text sent (a SIM shows about a screen of text).
pub const MAX_DISPLAY_CHARS: usize = 160;

#[async_trait]
pub trait MobileSignatureService: Send + Sync {
    /// Pushes a signature request to the SIM of `request.msisdn`.
    async fn request_signature(
        &self,
        request: &SignatureRequest,
    ) -> Result<Requested, ConnectorError>;

    /// How the transaction `mssp_trans_id` stands.
    async fn status(&self, mssp_trans_id: &str) -> Result<MssStatus, ConnectorError>;
}

/// What we ask a SIM to sign.
#[derive(Clone)]
pub struct SignatureRequest {
    /// Our id of the transaction (unique per request).
    pub ap_trans_id: String,
    /// E.164.
    pub msisdn: String,
    /// Shown on the phone: includes the verification code the page shows too.
    pub data_to_be_displayed: String,
    /// The bytes the SIM signs (SHA-256 of our challenge).
    pub data_to_be_signed: Vec<u8>,
    /// How long the phone may take, in seconds.
    pub timeout_seconds: u32,
}

// The phone number stays out of logs.
impl std::fmt::Debug for SignatureRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureRequest")
            .field("ap_trans_id", &self.ap_trans_id)
            .finish_non_exhaustive()
    }
}

/// The MSSP's answer to a signature request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Sent to the phone; poll with this id.
    Accepted { mssp_trans_id: String },
    /// Refused at once (an unknown number, a blocked SIM).
    Refused(MssRefusal),
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MssStatus {
    /// The phone has not answered yet.
    Outstanding,
    /// Signed: the detached CMS SignedData (DER).
    Signed(Vec<u8>),
    /// It ended without a signature.
    Refused(MssRefusal),
}

/// Why a transaction ended without a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MssRefusal {
    UserCancelled,
    Expired,
    PinBlocked,
    UnknownUser,
    RevokedCertificate,
    /// The phone could not be reached, or the SIM failed to sign.
    PhoneFailed,
}

impl MssRefusal {
    /// The refusal an ETSI status code means, if it is one.
    pub fn of_code(code: u16) -> Option<Self> {
        use code::*;
        Some(match code {
            USER_CANCEL => Self::UserCancelled,
            EXPIRED_TRANSACTION => Self::Expired,
            PIN_NR_BLOCKED | CARD_BLOCKED => Self::PinBlocked,
            UNKNOWN_CLIENT | NO_KEY_FOUND | NO_CERT_FOUND => Self::UnknownUser,
            REVOKED_CERTIFICATE => Self::RevokedCertificate,
            OTA_ERROR | PB_SIGNATURE_PROCESS => Self::PhoneFailed,
            _ => return None,
        })
    }

    /// The code the sandbox answers for it.
    pub fn code(self) -> u16 {
        match self {
            Self::UserCancelled => code::USER_CANCEL,
            Self::Expired => code::EXPIRED_TRANSACTION,
            Self::PinBlocked => code::PIN_NR_BLOCKED,
            Self::UnknownUser => code::UNKNOWN_CLIENT,
            Self::RevokedCertificate => code::REVOKED_CERTIFICATE,
            Self::PhoneFailed => code::PB_SIGNATURE_PROCESS,
        }
    }
}

pub struct HttpMobileSignatureService {
    endpoint: Endpoint,
    retries: u32,
    ap_id: String,
    ap_password: String,
}

impl HttpMobileSignatureService {
    pub fn new(endpoint: Endpoint, retries: u32, ap_id: &str, ap_password: &str) -> Self {
        Self {
            endpoint,
            retries,
            ap_id: ap_id.to_string(),
            ap_password: ap_password.to_string(),
        }
    }

    fn url(&self) -> String {
        format!("{}/rest/service", self.endpoint.base_url)
    }

    fn ap_info(&self, ap_trans_id: &str) -> serde_json::Value {
        json!({
            "AP_ID": self.ap_id,
            "AP_PWD": self.ap_password,
            "AP_TransID": ap_trans_id,
        })
    }

    fn malformed(&self, what: &str) -> ConnectorError {
        ConnectorError::Malformed(format!("{}: {what}", self.endpoint.system()))
    }
}

#[derive(Deserialize)]
struct StatusCodeJson {
    #[serde(rename = "Value")]
    value: u16,
}

#[derive(Deserialize)]
struct StatusJson {
    #[serde(rename = "StatusCode")]
    status_code: StatusCodeJson,
}

#[derive(Deserialize)]
struct FaultJson {
    #[serde(rename = "Code")]
    code: u16,
}

#[derive(Deserialize)]
struct SignatureRespJson {
    #[serde(rename = "MSSP_TransID")]
    mssp_trans_id: Option<String>,
    #[serde(rename = "Status")]
    status: StatusJson,
}

#[derive(Deserialize)]
struct SignatureJson {
    #[serde(rename = "Base64Signature")]
    base64_signature: String,
}

#[derive(Deserialize)]
struct StatusRespJson {
    #[serde(rename = "Status")]
    status: StatusJson,
    #[serde(rename = "MSS_Signature")]
    signature: Option<SignatureJson>,
}

#[derive(Deserialize)]
struct SignatureAnswer {
    #[serde(rename = "MSS_SignatureResp")]
    response: Option<SignatureRespJson>,
    #[serde(rename = "Fault")]
    fault: Option<FaultJson>,
}

#[derive(Deserialize)]
struct StatusAnswer {
    #[serde(rename = "MSS_StatusResp")]
    response: Option<StatusRespJson>,
    #[serde(rename = "Fault")]
    fault: Option<FaultJson>,
}

/// An MSSP transaction id we accept: short, and nothing that could surprise a log or a URL.
fn valid_trans_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[async_trait]
impl MobileSignatureService for HttpMobileSignatureService {
    async fn request_signature(
        &self,
        request: &SignatureRequest,
    ) -> Result<Requested, ConnectorError> {
        let display: String = request
            .data_to_be_displayed
            .chars()
            .take(MAX_DISPLAY_CHARS)
            .collect();
        let body = json!({ "MSS_SignatureReq": {
            "AP_Info": self.ap_info(&request.ap_trans_id),
            "MobileUser": { "MSISDN": request.msisdn },
            "DataToBeSigned": {
                "Data": STANDARD.encode(&request.data_to_be_signed),
                "Encoding": "base64",
                "MimeType": "application/octet-stream",
            },
            "DataToBeDisplayed": { "Data": display, "Encoding": "UTF-8", "MimeType": "text/plain" },
            "MSS_Format": MSS_FORMAT_PKCS7,
            "MessagingMode": "asynchClientServer",
            "TimeOut": request.timeout_seconds,
        }});
        let url = self.url();
        // Never retried: a second attempt could push a second request to the phone.
        let answer = self
            .endpoint
            .call(0, |http| http.post(&url).json(&body))
            .await?;
        if answer.status != StatusCode::OK {
            return Err(self.endpoint.unexpected_status(answer.status));
        }
        let parsed: SignatureAnswer = parse_json(self.endpoint.system(), &answer.body)?;
        let status = match (parsed.response, parsed.fault) {
            (Some(r), None) => {
                if r.status.status_code.value == code::REQUEST_OK {
                    return match r.mssp_trans_id {
                        Some(id) if valid_trans_id(&id) => {
                            Ok(Requested::Accepted { mssp_trans_id: id })
                        }
                        _ => Err(self.malformed("invalid MSSP_TransID")),
                    };
                }
                r.status.status_code.value
            }
            (None, Some(f)) => f.code,
            _ => return Err(self.malformed("neither a response nor a fault")),
        };
        match MssRefusal::of_code(status) {
            Some(refusal) => Ok(Requested::Refused(refusal)),
            None => Err(self.malformed(&format!("status {}", code::name(status)))),
        }
    }

    async fn status(&self, mssp_trans_id: &str) -> Result<MssStatus, ConnectorError> {
        let body = json!({ "MSS_StatusReq": {
            "AP_Info": self.ap_info(mssp_trans_id),
            "MSSP_TransID": mssp_trans_id,
        }});
        let url = self.url();
        let answer = self
            .endpoint
            .call(self.retries, |http| http.post(&url).json(&body))
            .await?;
        if answer.status != StatusCode::OK {
            return Err(self.endpoint.unexpected_status(answer.status));
        }
        let parsed: StatusAnswer = parse_json(self.endpoint.system(), &answer.body)?;
        let (status, signature) = match (parsed.response, parsed.fault) {
            (Some(r), None) => (r.status.status_code.value, r.signature),
            (None, Some(f)) => (f.code, None),
            _ => return Err(self.malformed("neither a response nor a fault")),
        };
        match status {
            code::OUTSTANDING_TRANSACTION => Ok(MssStatus::Outstanding),
            code::SIGNATURE | code::VALID_SIGNATURE => {
                let cms = signature
                    .and_then(|s| STANDARD.decode(s.base64_signature.trim()).ok())
                    .filter(|cms| !cms.is_empty())
                    .ok_or_else(|| self.malformed("signed without a readable signature"))?;
                Ok(MssStatus::Signed(cms))
            }
            other => match MssRefusal::of_code(other) {
                Some(refusal) => Ok(MssStatus::Refused(refusal)),
                None => Err(self.malformed(&format!("status {}", code::name(other)))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_maps_back_to_its_code() {
        for r in [
            MssRefusal::UserCancelled,
            MssRefusal::Expired,
            MssRefusal::PinBlocked,
            MssRefusal::UnknownUser,
            MssRefusal::RevokedCertificate,
            MssRefusal::PhoneFailed,
        ] {
            assert_eq!(MssRefusal::of_code(r.code()), Some(r));
        }
        assert_eq!(MssRefusal::of_code(code::INTERNAL_ERROR), None);
        assert_eq!(MssRefusal::of_code(code::OUTSTANDING_TRANSACTION), None);
    }

    #[test]
    fn transaction_ids_are_plain() {
        assert!(valid_trans_id("abc-123_X"));
        assert!(!valid_trans_id(""));
        assert!(!valid_trans_id("a/b"));
        assert!(!valid_trans_id(&"a".repeat(65)));
    }
}
