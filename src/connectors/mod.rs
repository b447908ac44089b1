//! Clients of external systems: a trait each, and its HTTP implementation.
//!
//! - `carrier`: the mobile carrier's subscriber check ("chính chủ": is this SIM registered to
//!   this person?).
//! - `sms`: the SMS gateway (OTP delivery).
//! - `bhxh`: the social-insurance (BHXH) registry, lookup by BHXH code.
//! - `mail`: the mail gateway (email verification codes).
//! - `mobile_signature`: the mobile-signature service (MSSP, "SIM ký số"), ETSI TS 102 204 shape.
//! - `remote_signature`: the remote personal signature provider ("Chữ ký số cá nhân"), Cloud
//!   Signature Consortium API v2 shape.
//!
//! The HTTP shapes are defined by our sandbox (`sandbox::simulators`) and documented in each
//! module; an adapter for a real carrier or registry implements the same shape (or the trait).
//! Connectors always speak real HTTP, also to the in-process sandbox, so the code path tested
//! is the production one.
//!
//! Failure model, shared by every connector:
//! - `Unavailable`: the upstream could not answer (connection refused, timeout, HTTP 5xx, 408,
//!   429). The flow shows "service temporarily unavailable" and creates nothing.
//! - `Malformed`: the upstream answered something we cannot trust (unparseable or invalid body,
//!   an unexpected status such as a 4xx). Treated like `Unavailable` by users of the connectors,
//!   but logged differently because it needs an operator, not patience.
//!
//! Error messages name the system and the failure, never the person: no phone numbers, ID
//! numbers, names, BHXH codes or URLs (a BHXH code is part of a lookup URL) reach them.

pub mod bhxh;
pub mod carrier;
pub mod federation;
pub mod mail;
pub mod mobile_signature;
pub mod remote_signature;
pub mod sms;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::metrics::{CallOutcome, Upstream, UpstreamCalls};

pub use bhxh::{BhxhRecord, BhxhRegistry, HttpBhxhRegistry};
pub use carrier::{CarrierClient, HttpCarrierClient, SubscriberCheck, SubscriberQuery};
pub use mail::{HttpMailGateway, MailGateway};
pub use mobile_signature::{HttpMobileSignatureService, MobileSignatureService};
pub use remote_signature::{HttpRemoteSignatureService, RemoteSignatureService};
pub use sms::{HttpSmsGateway, SmsGateway};

/// `[connectors]`: where the external systems are, and how patiently to call them. `Debug`
/// redacts the credentials.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorsConfig {
    /// Base URL of the carrier subscriber check; empty = the built-in sandbox
    /// (`{public_url}/sandbox/carrier`).
    pub carrier_url: String,
    /// Base URL of the SMS gateway; empty = `{public_url}/sandbox/sms`.
    pub sms_url: String,
    /// Base URL of the BHXH registry; empty = `{public_url}/sandbox/bhxh`.
    pub bhxh_url: String,
    /// Base URL of the mail gateway; empty = `{public_url}/sandbox/mail`.
    pub mail_url: String,
    /// Milliseconds one attempt may take, connection to last byte of the answer.
    pub timeout_ms: u64,
    /// Extra attempts for read-only calls (carrier check, BHXH lookup) after the upstream was
    /// unavailable. SMS sending is never retried.
    pub retries: u32,
    /// Base URL of the mobile-signature service (MSSP, "SIM ký số"); empty =
    /// `{public_url}/sandbox/mssp`.
    pub mobile_signature_url: String,
    /// Our application provider id at the MSSP (`AP_ID`).
    pub mobile_signature_ap_id: String,
    /// Our password at the MSSP (`AP_PWD`).
    pub mobile_signature_ap_password: String,
    /// Base URI of the remote signature provider ("Chữ ký số cá nhân", CSC API: it ends in
    /// `/csc/v2`); empty = `{public_url}/sandbox/csc/v2`.
    pub remote_signature_url: String,
    /// Our client id at the remote signature provider (HTTP Basic).
    pub remote_signature_client_id: String,
    /// Our client secret at the remote signature provider (HTTP Basic).
    pub remote_signature_client_secret: String,
}

impl std::fmt::Debug for ConnectorsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &str| if s.is_empty() { "" } else { "[redacted]" };
        f.debug_struct("ConnectorsConfig")
            .field("carrier_url", &self.carrier_url)
            .field("sms_url", &self.sms_url)
            .field("bhxh_url", &self.bhxh_url)
            .field("mail_url", &self.mail_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("retries", &self.retries)
            .field("mobile_signature_url", &self.mobile_signature_url)
            .field("mobile_signature_ap_id", &self.mobile_signature_ap_id)
            .field(
                "mobile_signature_ap_password",
                &secret(&self.mobile_signature_ap_password),
            )
            .field("remote_signature_url", &self.remote_signature_url)
            .field(
                "remote_signature_client_id",
                &self.remote_signature_client_id,
            )
            .field(
                "remote_signature_client_secret",
                &secret(&self.remote_signature_client_secret),
            )
            .finish()
    }
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        Self {
            carrier_url: String::new(),
            sms_url: String::new(),
            bhxh_url: String::new(),
            mail_url: String::new(),
            timeout_ms: 3_000,
            retries: 2,
            mobile_signature_url: String::new(),
            mobile_signature_ap_id: "xacthuc".into(),
            mobile_signature_ap_password: String::new(),
            remote_signature_url: String::new(),
            remote_signature_client_id: "xacthuc".into(),
            remote_signature_client_secret: String::new(),
        }
    }
}

/// Base URLs after the sandbox defaults are applied; never end with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUrls {
    pub carrier: String,
    pub sms: String,
    pub bhxh: String,
    pub mail: String,
    pub mobile_signature: String,
    pub remote_signature: String,
}

/// Longest per-attempt timeout accepted: a user is waiting on a form submission.
const MAX_TIMEOUT_MS: u64 = 60_000;
/// Most retries accepted: each one adds a timeout to the user's wait.
const MAX_RETRIES: u32 = 5;

impl ConnectorsConfig {
    /// The base URL of each system: the configured one, or the built-in sandbox under
    /// `public_url` when empty.
    pub fn resolve(&self, public_url: &str) -> ResolvedUrls {
        let base = public_url.trim_end_matches('/');
        let pick = |configured: &str, sandbox_path: &str| {
            let configured = configured.trim();
            if configured.is_empty() {
                format!("{base}/sandbox/{sandbox_path}")
            } else {
                configured.trim_end_matches('/').to_string()
            }
        };
        ResolvedUrls {
            carrier: pick(&self.carrier_url, "carrier"),
            sms: pick(&self.sms_url, "sms"),
            bhxh: pick(&self.bhxh_url, "bhxh"),
            mail: pick(&self.mail_url, "mail"),
            mobile_signature: pick(&self.mobile_signature_url, "mssp"),
            remote_signature: pick(&self.remote_signature_url, "csc/v2"),
        }
    }

    /// Whether any system falls back to the built-in sandbox (which must then be enabled).
    pub fn uses_sandbox(&self) -> bool {
        self.systems_in_use(true, true)
            .iter()
            .any(|(_, u)| u.trim().is_empty())
    }

    /// The configuration key and URL of each system in use: the four every deployment uses,
    /// and the signature services when their login methods are enabled.
    pub fn systems_in_use(
        &self,
        mobile_signature: bool,
        remote_signature: bool,
    ) -> Vec<(&'static str, &str)> {
        let mut systems = vec![
            ("connectors.carrier_url", self.carrier_url.as_str()),
            ("connectors.sms_url", self.sms_url.as_str()),
            ("connectors.bhxh_url", self.bhxh_url.as_str()),
            ("connectors.mail_url", self.mail_url.as_str()),
        ];
        if mobile_signature {
            systems.push((
                "connectors.mobile_signature_url",
                self.mobile_signature_url.as_str(),
            ));
        }
        if remote_signature {
            systems.push((
                "connectors.remote_signature_url",
                self.remote_signature_url.as_str(),
            ));
        }
        systems
    }

    /// Checks the values a typo could make useless; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, url) in [
            ("connectors.carrier_url", &self.carrier_url),
            ("connectors.sms_url", &self.sms_url),
            ("connectors.bhxh_url", &self.bhxh_url),
            ("connectors.mail_url", &self.mail_url),
            (
                "connectors.mobile_signature_url",
                &self.mobile_signature_url,
            ),
            (
                "connectors.remote_signature_url",
                &self.remote_signature_url,
            ),
        ] {
            let url = url.trim();
            if url.is_empty() {
                continue;
            }
            match reqwest::Url::parse(url) {
                Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.has_host() => {
                    if u.query().is_some() || u.fragment().is_some() {
                        return Err(format!("{key} must not have a query or fragment"));
                    }
                }
                Ok(_) => return Err(format!("{key} must be an http:// or https:// URL")),
                Err(e) => return Err(format!("{key}: {e}")),
            }
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(format!(
                "connectors.timeout_ms must be 1..={MAX_TIMEOUT_MS}"
            ));
        }
        if self.retries > MAX_RETRIES {
            return Err(format!("connectors.retries must be 0..={MAX_RETRIES}"));
        }
        Ok(())
    }
}

/// Why an external system gave no usable answer. Messages never carry personal data.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Connection refused, timeout, HTTP 5xx: try again later.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// An answer we cannot use: unparseable, invalid, or an unexpected status.
    #[error("upstream answer malformed: {0}")]
    Malformed(String),
}

/// The external systems the authenticators use, behind traits so a deployment can swap in an
/// adapter for a carrier whose API differs from ours.
#[derive(Clone)]
pub struct Connectors {
    pub carrier: Arc<dyn CarrierClient>,
    pub sms: Arc<dyn SmsGateway>,
    pub bhxh: Arc<dyn BhxhRegistry>,
    pub mail: Arc<dyn MailGateway>,
    pub mobile_signature: Arc<dyn MobileSignatureService>,
    pub remote_signature: Arc<dyn RemoteSignatureService>,
}

impl Connectors {
    /// HTTP clients for every system. `http` is the process's shared client (one connection
    /// pool); each call sets its own timeout from `config` and is timed into `calls`.
    pub fn http(
        config: &ConnectorsConfig,
        public_url: &str,
        http: reqwest::Client,
        calls: Arc<UpstreamCalls>,
    ) -> Self {
        let urls = config.resolve(public_url);
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let endpoint = |upstream: Upstream, base_url: String| {
            Endpoint::new(upstream, &base_url, http.clone(), timeout, calls.clone())
        };
        Self {
            carrier: Arc::new(HttpCarrierClient::new(
                endpoint(Upstream::Carrier, urls.carrier),
                config.retries,
            )),
            sms: Arc::new(HttpSmsGateway::new(endpoint(Upstream::Sms, urls.sms))),
            bhxh: Arc::new(HttpBhxhRegistry::new(
                endpoint(Upstream::Bhxh, urls.bhxh),
                config.retries,
            )),
            mail: Arc::new(HttpMailGateway::new(endpoint(Upstream::Mail, urls.mail))),
            mobile_signature: Arc::new(HttpMobileSignatureService::new(
                endpoint(Upstream::MobileSignature, urls.mobile_signature),
                config.retries,
                &config.mobile_signature_ap_id,
                &config.mobile_signature_ap_password,
            )),
            remote_signature: Arc::new(HttpRemoteSignatureService::new(
                endpoint(Upstream::RemoteSignature, urls.remote_signature),
                config.retries,
                &config.remote_signature_client_id,
                &config.remote_signature_client_secret,
            )),
        }
    }
}

/// Pause before retry number `n` (1-based): short, because a user is waiting, and growing, so
/// a struggling upstream is not hammered.
const BACKOFF_STEP: Duration = Duration::from_millis(100);
/// Largest answer body read; anything bigger is not an answer of ours.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// One external system reached over HTTP: the shared client, a base URL and a timeout.
#[derive(Clone)]
pub struct Endpoint {
    /// The system: named in errors, logs and metrics ("carrier", "sms", "bhxh").
    upstream: Upstream,
    calls: Arc<UpstreamCalls>,
    /// Base URL without a trailing `/`.
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) timeout: Duration,
}

/// A usable HTTP answer: any status that is not "try later", with its (bounded) body.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Endpoint {
    /// Builds an endpoint by hand (adapters, tests); `Connectors::http` is the usual way.
    pub fn new(
        upstream: Upstream,
        base_url: &str,
        http: reqwest::Client,
        timeout: Duration,
        calls: Arc<UpstreamCalls>,
    ) -> Self {
        Self {
            upstream,
            calls,
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
            timeout,
        }
    }

    /// The system's name in errors and logs.
    pub(crate) fn system(&self) -> &'static str {
        self.upstream.name()
    }

    /// Sends the request `build` makes, up to `retries + 1` times while the upstream is
    /// unavailable. Only read-only calls may pass `retries > 0`: a retried write could happen
    /// twice (the first attempt may have arrived even though its answer did not).
    pub(crate) async fn call(
        &self,
        retries: u32,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer, ConnectorError> {
        let mut attempt: u32 = 1;
        loop {
            let started = std::time::Instant::now();
            let result = self.attempt(&build).await;
            let outcome = match &result {
                Ok(_) => CallOutcome::Answered,
                Err(ConnectorError::Unavailable(_)) => CallOutcome::Unavailable,
                Err(ConnectorError::Malformed(_)) => CallOutcome::Malformed,
            };
            self.calls
                .observe(self.upstream, started.elapsed(), outcome);
            match result {
                Err(ConnectorError::Unavailable(why)) if attempt <= retries => {
                    tracing::warn!(system = self.system(), attempt, reason = %why, "upstream unavailable, retrying");
                    tokio::time::sleep(BACKOFF_STEP * attempt).await;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::warn!(system = self.system(), attempt, error = %e, "upstream call failed");
                    return Err(e);
                }
                Ok(answer) => return Ok(answer),
            }
        }
    }

    async fn attempt(
        &self,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer, ConnectorError> {
        let mut response = build(&self.http)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            return Err(ConnectorError::Unavailable(format!(
                "{}: HTTP {}",
                self.system(),
                status.as_u16()
            )));
        }
        // Read chunk by chunk so a misbehaving upstream cannot make us buffer without bound.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ConnectorError::Malformed(format!(
                    "{}: answer larger than {MAX_BODY_BYTES} bytes",
                    self.system()
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body })
    }

    /// A transport failure, described without the URL (which may hold a BHXH code).
    fn transport_error(&self, e: &reqwest::Error) -> ConnectorError {
        let what = if e.is_timeout() {
            format!("timed out after {} ms", self.timeout.as_millis())
        } else if e.is_connect() {
            "connection failed".to_string()
        } else if e.is_body() || e.is_decode() {
            "answer interrupted".to_string()
        } else {
            "request failed".to_string()
        };
        ConnectorError::Unavailable(format!("{}: {what}", self.system()))
    }

    /// Hands a message (JSON) to a gateway: `POST {base_url}/v1/messages`, never retried (a
    /// timed-out attempt may still have been accepted, and a retry would send it twice); any
    /// 2xx is accepted.
    pub(crate) async fn deliver(&self, message: &serde_json::Value) -> Result<(), ConnectorError> {
        let url = format!("{}/v1/messages", self.base_url);
        let answer = self.call(0, |http| http.post(&url).json(message)).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.unexpected_status(answer.status))
        }
    }

    pub(crate) fn unexpected_status(&self, status: StatusCode) -> ConnectorError {
        ConnectorError::Malformed(format!(
            "{}: unexpected HTTP {}",
            self.system(),
            status.as_u16()
        ))
    }
}

/// Parses a JSON answer, which must be an object (serde would also take a struct from an
/// array). Errors keep only the kind and position: serde's own message can quote values from
/// the body, which may be personal data.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    system: &str,
    body: &[u8],
) -> Result<T, ConnectorError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Data => "not JSON",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        ConnectorError::Malformed(format!(
            "{system}: {kind} at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(ConnectorError::Malformed(format!(
            "{system}: answer is not a JSON object"
        )));
    }
    T::deserialize(value)
        .map_err(|_| ConnectorError::Malformed(format!("{system}: unexpected fields or types")))
}
