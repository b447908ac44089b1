//! The remote personal signature provider ("Chữ ký số cá nhân", e.g. VNPT SmartCA, Viettel
//! MySign): keys held by the provider, each signature approved by the user in the provider's
//! app, in the shape of the Cloud Signature Consortium API v2.
//!
//! HTTP contract (our sandbox serves it; an adapter for a provider implements it or implements
//! `RemoteSignatureService` directly). `remote_signature_url` is the CSC base URI, which by
//! the specification ends in `/csc/v2`. Every call is `POST` with a JSON body and the service's
//! credentials as HTTP Basic (`remote_signature_client_id` / `_client_secret`: the CSC
//! "service authorization" the providers give a relying party):
//!
//! ```text
//! POST {remote_signature_url}/credentials/list   {"userID": "079195004821"}
//! 200 {"credentialIDs": ["…"]}                          (empty: no such user, or no key)
//!
//! POST {remote_signature_url}/credentials/info
//!      {"credentialID": "…", "certificates": "chain", "certInfo": false}
//! 200 {"key": {"status": "enabled", "algo": ["1.2.840.113549.1.1.11"]},
//!      "cert": {"status": "valid", "certificates": ["<base64 DER, signer first>", …]}}
//!
//! POST {remote_signature_url}/signatures/signHash
//!      {"credentialID": "…", "hashes": ["<base64 SHA-256>"], "hashAlgo": "2.16.840.1.101.3.4.2.1",
//!       "signAlgo": "1.2.840.113549.1.1.11", "operationMode": "A", "validity_period": 120,
//!       "clientData": "xacthuc: đăng nhập. Mã kiểm tra 4821"}
//! 202 {"responseID": "…"}
//!
//! POST {remote_signature_url}/signatures/signHash/status   {"responseID": "…"}
//! 200 {"status": "pending"}
//! 200 {"status": "signed", "signatures": ["<base64 raw signature over the hash>"]}
//! 200 {"status": "rejected" | "expired"}
//! ```
//!
//! How this maps the providers: CSC v2 defines `credentials/list`, `credentials/info` and
//! `signatures/signHash`, and asynchronous operation (`operationMode` "A", a `responseID`);
//! the user's approval in the app is the provider's own "explicit" authorization, and the
//! providers poll for its result (SmartCA: `signatures/sign/{tranId}/status`; MySign:
//! `requests/status`), which `signatures/signHash/status` stands for here. `clientData` is the
//! text the app shows with the request (with the verification code the page shows too).
//!
//! The raw signature is over the hash: RSA PKCS#1 v1.5 (`1.2.840.113549.1.1.11`) or ECDSA
//! (`1.2.840.10045.4.3.2`, DER). The caller verifies it against the signer certificate and its
//! chain (`pki`), never this client.
//!
//! Failures: transport errors, 5xx, 408, 429 → `Unavailable` (reads are retried, `signHash`
//! never: a retry could push a second request to the app); any other status or body →
//! `Malformed`. A CSC error answer (`400 {"error": "invalid_request", …}`) is `Malformed`.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{ConnectorError, Endpoint, parse_json};

/// SHA-256 (`hashAlgo`).
pub const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
/// sha256WithRSAEncryption (`signAlgo`): RSA PKCS#1 v1.5.
pub const OID_RSA_SHA256: &str = "1.2.840.113549.1.1.11";
/// ecdsa-with-SHA256 (`signAlgo`).
pub const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
/// Most certificates accepted in a chain.
const MAX_CHAIN: usize = 8;

#[async_trait]
pub trait RemoteSignatureService: Send + Sync {
    /// The user's credential (signing key) ids; empty when the provider knows no such user.
    async fn credentials(&self, user_id: &str) -> Result<Vec<String>, ConnectorError>;

    /// A credential's certificate chain and key algorithm.
    async fn credential_info(&self, credential_id: &str) -> Result<CredentialInfo, ConnectorError>;

    /// Asks the user, in the provider's app, to sign `request.hash`; answers the response id
    /// to poll.
    async fn sign_hash(&self, request: &SignHashRequest) -> Result<String, ConnectorError>;

    /// How a signing request stands.
    async fn sign_status(&self, response_id: &str) -> Result<SignStatus, ConnectorError>;
}

/// A credential as `credentials/info` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// DER certificates, the signer's first.
    pub chain: Vec<Vec<u8>>,
    pub algorithm: KeyAlgorithm,
    /// The key is enabled and the certificate valid, as the provider sees it.
    pub usable: bool,
}

/// The signature algorithms we ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    RsaSha256,
    EcdsaSha256,
}

impl KeyAlgorithm {
    pub fn oid(self) -> &'static str {
        match self {
            Self::RsaSha256 => OID_RSA_SHA256,
            Self::EcdsaSha256 => OID_ECDSA_SHA256,
        }
    }

    /// The algorithm of a `signAlgo` OID (also the RSA key OID, which some providers list).
    pub fn of_oid(oid: &str) -> Option<Self> {
        match oid {
            OID_RSA_SHA256 | "1.2.840.113549.1.1.1" => Some(Self::RsaSha256),
            OID_ECDSA_SHA256 | "1.2.840.10045.2.1" => Some(Self::EcdsaSha256),
            _ => None,
        }
    }
}

/// What we ask the user to sign.
#[derive(Debug, Clone)]
pub struct SignHashRequest {
    pub credential_id: String,
    /// SHA-256 of our challenge.
    pub hash: Vec<u8>,
    pub algorithm: KeyAlgorithm,
    /// Shown in the app (with the verification code).
    pub client_data: String,
    /// How long the user may take, in seconds.
    pub validity_seconds: u32,
}

/// Where a signing request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignStatus {
    Pending,
    /// The raw signature over the hash.
    Signed(Vec<u8>),
    /// The user refused in the app.
    Rejected,
    /// The user did not answer in time.
    Expired,
}

pub struct HttpRemoteSignatureService {
    endpoint: Endpoint,
    retries: u32,
    client_id: String,
    client_secret: String,
}

impl HttpRemoteSignatureService {
    pub fn new(endpoint: Endpoint, retries: u32, client_id: &str, client_secret: &str) -> Self {
        Self {
            endpoint,
            retries,
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
        }
    }

    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        retries: u32,
        expect: StatusCode,
    ) -> Result<Vec<u8>, ConnectorError> {
        let url = format!("{}/{path}", self.endpoint.base_url);
        let answer = self
            .endpoint
            .call(retries, |http| {
                http.post(&url)
                    .basic_auth(&self.client_id, Some(&self.client_secret))
                    .json(&body)
            })
            .await?;
        if answer.status != expect {
            return Err(self.endpoint.unexpected_status(answer.status));
        }
        Ok(answer.body)
    }

    fn malformed(&self, what: &str) -> ConnectorError {
        ConnectorError::Malformed(format!("{}: {what}", self.endpoint.system()))
    }
}

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(rename = "credentialIDs")]
    credential_ids: Vec<String>,
}

#[derive(Deserialize)]
struct KeyJson {
    status: String,
    algo: Vec<String>,
}

#[derive(Deserialize)]
struct CertJson {
    #[serde(default)]
    status: Option<String>,
    certificates: Vec<String>,
}

#[derive(Deserialize)]
struct InfoAnswer {
    key: KeyJson,
    cert: CertJson,
}

#[derive(Deserialize)]
struct SignAnswer {
    #[serde(rename = "responseID")]
    response_id: String,
}

#[derive(Deserialize)]
struct StatusAnswer {
    status: String,
    #[serde(default)]
    signatures: Vec<String>,
}

/// An id from the provider we pass back: short and plain.
fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[async_trait]
impl RemoteSignatureService for HttpRemoteSignatureService {
    async fn credentials(&self, user_id: &str) -> Result<Vec<String>, ConnectorError> {
        let body = json!({ "userID": user_id });
        let answer = self
            .post("credentials/list", body, self.retries, StatusCode::OK)
            .await?;
        let list: ListAnswer = parse_json(self.endpoint.system(), &answer)?;
        if list.credential_ids.iter().any(|id| !valid_id(id)) {
            return Err(self.malformed("invalid credential id"));
        }
        Ok(list.credential_ids)
    }

    async fn credential_info(&self, credential_id: &str) -> Result<CredentialInfo, ConnectorError> {
        let body =
            json!({ "credentialID": credential_id, "certificates": "chain", "certInfo": false });
        let answer = self
            .post("credentials/info", body, self.retries, StatusCode::OK)
            .await?;
        let info: InfoAnswer = parse_json(self.endpoint.system(), &answer)?;
        let algorithm = info
            .key
            .algo
            .iter()
            .find_map(|oid| KeyAlgorithm::of_oid(oid))
            .ok_or_else(|| self.malformed("no supported key algorithm"))?;
        if info.cert.certificates.is_empty() || info.cert.certificates.len() > MAX_CHAIN {
            return Err(self.malformed("certificate chain missing or too long"));
        }
        let chain = info
            .cert
            .certificates
            .iter()
            .map(|c| STANDARD.decode(c.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| self.malformed("certificate not base64"))?;
        let usable = info.key.status == "enabled"
            && info.cert.status.as_deref().is_none_or(|s| s == "valid");
        Ok(CredentialInfo {
            chain,
            algorithm,
            usable,
        })
    }

    async fn sign_hash(&self, request: &SignHashRequest) -> Result<String, ConnectorError> {
        let body = json!({
            "credentialID": request.credential_id,
            "hashes": [STANDARD.encode(&request.hash)],
            "hashAlgo": OID_SHA256,
            "signAlgo": request.algorithm.oid(),
            "operationMode": "A",
            "validity_period": request.validity_seconds,
            "clientData": request.client_data,
        });
        // Never retried: a second attempt could push a second request to the app.
        let answer = self
            .post("signatures/signHash", body, 0, StatusCode::ACCEPTED)
            .await?;
        let sign: SignAnswer = parse_json(self.endpoint.system(), &answer)?;
        if !valid_id(&sign.response_id) {
            return Err(self.malformed("invalid responseID"));
        }
        Ok(sign.response_id)
    }

    async fn sign_status(&self, response_id: &str) -> Result<SignStatus, ConnectorError> {
        let body = json!({ "responseID": response_id });
        let answer = self
            .post(
                "signatures/signHash/status",
                body,
                self.retries,
                StatusCode::OK,
            )
            .await?;
        let status: StatusAnswer = parse_json(self.endpoint.system(), &answer)?;
        match status.status.as_str() {
            "pending" => Ok(SignStatus::Pending),
            "rejected" => Ok(SignStatus::Rejected),
            "expired" => Ok(SignStatus::Expired),
            "signed" => match status.signatures.as_slice() {
                [one] => STANDARD
                    .decode(one.trim())
                    .ok()
                    .filter(|s| !s.is_empty())
                    .map(SignStatus::Signed)
                    .ok_or_else(|| self.malformed("signature not base64")),
                _ => Err(self.malformed("signed without exactly one signature")),
            },
            _ => Err(self.malformed("unknown status")),
        }
    }
}
