//! Upstream OpenID providers (VNeID first): their configuration (`[[federation.upstreams]]`),
//! and the three calls the broker makes to them — discovery, the JWKS and the code exchange —
//! over our own reqwest client, each with the configured time budget. What comes back is
//! checked by the method (`authenticators::federation`), with `openidconnect`'s types.
//!
//! An upstream whose `discovery_url` is empty is the built-in sandbox VNeID
//! (`{public_url}/sandbox/vneid`), like the other connectors' empty URLs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::cache::TtlCache;

/// The sandbox VNeID's internal issuer (`iss` of its tokens), deliberately not its public URL,
/// as Keycloak behind a proxy does. `[sandbox] vneid_issuer` and the default upstream's
/// `issuer` both default to it.
pub const SANDBOX_VNEID_ISSUER: &str = "https://sso.vneid.sandbox.internal/realms/citizen";
/// The client the sandbox VNeID knows us as.
pub const SANDBOX_VNEID_CLIENT_ID: &str = "xacthuc";
/// Its secret (sandbox only: production refuses an upstream without a discovery URL).
pub const SANDBOX_VNEID_CLIENT_SECRET: &str = "sandbox-vneid-secret";

/// Where an upstream sends the browser back after ending its session (our
/// `post_logout_redirect_uri` there, under `server.public_url`).
pub const UPSTREAM_DONE_PATH: &str = "/logout/upstream-done";

/// `[federation]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// Milliseconds one call to an upstream may take (discovery, JWKS, token).
    pub timeout_ms: u64,
    /// Seconds an upstream's discovery document and JWKS are kept by each node.
    pub discovery_cache_seconds: u64,
    /// The upstreams, one login button each, in this order.
    pub upstreams: Vec<UpstreamConfig>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5000,
            discovery_cache_seconds: 300,
            upstreams: vec![UpstreamConfig::sandbox_vneid()],
        }
    }
}

/// One upstream provider. `Debug` redacts the secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// In URLs (`/login/federation?upstream={id}`), the audit log and the account's link:
    /// lower-case letters, digits, `-` and `_`.
    pub id: String,
    /// The button's label.
    pub name: String,
    /// The button's image (a URL, or a path under our `/static`); empty: none.
    #[serde(default)]
    pub logo: String,
    /// The value ID tokens' `iss` must equal. Keycloak-based providers (VNeID) may sign with an
    /// internal issuer that differs from their public URL: this is compared, never skipped.
    pub issuer: String,
    /// The discovery document's URL; empty: the built-in sandbox VNeID.
    #[serde(default)]
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding the citizen's ID number (Keycloak: `preferred_username`).
    #[serde(default = "default_id_number_claim")]
    pub id_number_claim: String,
    /// The claim holding the upstream's assurance level (VNeID: `IAL`, an integer 1 or 2).
    #[serde(default = "default_level_claim")]
    pub level_claim: String,
    /// Upstream level (as text) → our IAL (2 or 3). A level not listed is refused.
    #[serde(default = "default_levels")]
    pub levels: BTreeMap<String, i16>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}

fn default_id_number_claim() -> String {
    "preferred_username".into()
}

fn default_level_claim() -> String {
    "IAL".into()
}

fn default_levels() -> BTreeMap<String, i16> {
    BTreeMap::from([("1".to_string(), 2), ("2".to_string(), 3)])
}

// SecretString has no PartialEq on purpose; the config test compares the exposed value.
impl PartialEq for UpstreamConfig {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
            && self.name == o.name
            && self.logo == o.logo
            && self.issuer == o.issuer
            && self.discovery_url == o.discovery_url
            && self.client_id == o.client_id
            && self.client_secret.expose_secret() == o.client_secret.expose_secret()
            && self.scopes == o.scopes
            && self.id_number_claim == o.id_number_claim
            && self.level_claim == o.level_claim
            && self.levels == o.levels
    }
}

impl UpstreamConfig {
    /// The default upstream: the sandbox VNeID of the embedded server.
    pub fn sandbox_vneid() -> Self {
        Self {
            id: "vneid".into(),
            name: "Tài khoản Định danh điện tử cấp bởi Bộ Công an".into(),
            logo: "/static/vneid.svg".into(),
            issuer: SANDBOX_VNEID_ISSUER.into(),
            discovery_url: String::new(),
            client_id: SANDBOX_VNEID_CLIENT_ID.into(),
            client_secret: SecretString::from(SANDBOX_VNEID_CLIENT_SECRET),
            scopes: default_scopes(),
            id_number_claim: default_id_number_claim(),
            level_claim: default_level_claim(),
            levels: default_levels(),
        }
    }

    /// The discovery URL, the sandbox's when none is configured.
    pub fn discovery_url(&self, public_url: &str) -> String {
        if self.discovery_url.trim().is_empty() {
            format!(
                "{}/sandbox/vneid/.well-known/openid-configuration",
                public_url.trim_end_matches('/')
            )
        } else {
            self.discovery_url.clone()
        }
    }
}

impl FederationConfig {
    pub fn upstream(&self, id: &str) -> Option<&UpstreamConfig> {
        self.upstreams.iter().find(|u| u.id == id)
    }

    /// Refuses what cannot work, when the method is `enabled`: `sandbox` says whether an empty
    /// discovery URL has something to point to; `production` refuses it and plain http.
    pub fn validate(&self, enabled: bool, sandbox: bool, production: bool) -> Result<(), String> {
        if !enabled {
            return Ok(());
        }
        if !(100..=20_000).contains(&self.timeout_ms) {
            return Err("federation.timeout_ms must be 100..=20000".into());
        }
        for (i, u) in self.upstreams.iter().enumerate() {
            let entry = format!("federation.upstreams[{i}]");
            let valid_id = !u.id.is_empty()
                && u.id.len() <= 32
                && u.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !valid_id {
                return Err(format!(
                    "{entry}.id must be 1 to 32 lower-case letters, digits, - or _"
                ));
            }
            if self.upstreams[..i].iter().any(|o| o.id == u.id) {
                return Err(format!("{entry}.id {} is used twice", u.id));
            }
            if u.issuer.trim().is_empty() || u.client_id.trim().is_empty() {
                return Err(format!("{entry}: issuer and client_id are required"));
            }
            if u.levels.is_empty() || u.levels.values().any(|l| !(2..=3).contains(l)) {
                return Err(format!(
                    "{entry}.levels must map upstream levels to 2 (IAL2) or 3 (IAL3)"
                ));
            }
            let to_sandbox = u.discovery_url.trim().is_empty();
            if to_sandbox && (production || !sandbox) {
                return Err(format!(
                    "{entry}.discovery_url is empty (the sandbox VNeID): set the real provider's"
                ));
            }
            if production && !u.discovery_url.starts_with("https://") {
                return Err(format!("{entry}.discovery_url must be https in production"));
            }
        }
        Ok(())
    }
}

/// Why an upstream call failed (the message names the call, never the person).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer in time, the connection failed, or a 5xx.
    #[error("{0}: upstream unavailable")]
    Unavailable(&'static str),
    /// An answer we cannot use: not JSON (an HTML error page), or not the expected shape.
    #[error("{0}: malformed answer: {1}")]
    Malformed(&'static str, String),
    /// The upstream refused the request (a 4xx, e.g. an expired code).
    #[error("{0}: refused with status {1}")]
    Refused(&'static str, u16),
}

/// What an upstream publishes: its endpoints and its keys.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub metadata: CoreProviderMetadata,
    pub jwks: CoreJsonWebKeySet,
    /// `end_session_endpoint` (OIDC RP-Initiated Logout), which `CoreProviderMetadata` does
    /// not carry: where our logout sends the browser to end the upstream's session too.
    pub end_session_endpoint: Option<String>,
}

/// The token endpoint's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenAnswer {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
}

/// The HTTP side of the broker: one per app, with a per-node cache of discovery documents.
pub struct Upstreams {
    http: reqwest::Client,
    /// Where each call is timed (`xacthuc_upstream_*{system="federation"}`).
    calls: Arc<crate::metrics::UpstreamCalls>,
    timeout: Duration,
    cache_ms: i64,
    public_url: String,
    cache: TtlCache<String, Arc<Discovered>>,
}

impl Upstreams {
    pub fn new(
        config: &FederationConfig,
        public_url: &str,
        http: reqwest::Client,
        calls: Arc<crate::metrics::UpstreamCalls>,
    ) -> Self {
        Self {
            http,
            calls,
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            cache_ms: (config.discovery_cache_seconds as i64).saturating_mul(1000),
            public_url: public_url.to_string(),
            cache: TtlCache::new(64),
        }
    }

    /// The upstream's discovery document and JWKS, from this node's cache when fresh.
    pub async fn discover(
        &self,
        upstream: &UpstreamConfig,
        now_ms: i64,
    ) -> Result<Arc<Discovered>, UpstreamError> {
        if let Some(d) = self.cache.get(&upstream.id, now_ms) {
            return Ok(d);
        }
        let url = upstream.discovery_url(&self.public_url);
        let body = self.get("discovery", &url).await?;
        let metadata: CoreProviderMetadata = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Malformed("discovery", e.to_string()))?;
        let end_session_endpoint = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("end_session_endpoint")?.as_str().map(str::to_string))
            .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")));
        let jwks_url = metadata.jwks_uri().url().to_string();
        let body = self.get("jwks", &jwks_url).await?;
        let jwks: CoreJsonWebKeySet = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Malformed("jwks", e.to_string()))?;
        let found = Arc::new(Discovered {
            metadata,
            jwks,
            end_session_endpoint,
        });
        if self.cache_ms > 0 {
            self.cache
                .insert(upstream.id.clone(), found.clone(), now_ms + self.cache_ms);
        }
        Ok(found)
    }

    /// Forgets an upstream's cached discovery (after its keys failed: they may have rotated).
    pub fn forget(&self, upstream: &UpstreamConfig) {
        self.cache.remove(&upstream.id);
    }

    /// The code exchange: `client_secret_basic`, PKCE verifier, our callback.
    pub async fn exchange_code(
        &self,
        upstream: &UpstreamConfig,
        token_endpoint: &str,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenAnswer, UpstreamError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let request = self
            .http
            .post(token_endpoint)
            .timeout(self.timeout)
            .basic_auth(
                &upstream.client_id,
                Some(upstream.client_secret.expose_secret()),
            )
            .form(&form);
        let body = self.send("token", request).await?;
        serde_json::from_slice(&body).map_err(|e| UpstreamError::Malformed("token", e.to_string()))
    }

    async fn get(&self, call: &'static str, url: &str) -> Result<Vec<u8>, UpstreamError> {
        let request = self
            .http
            .get(url)
            .timeout(self.timeout)
            .header("accept", "application/json");
        self.send(call, request).await
    }

    /// Sends one call and reads its answer, timed into the upstream metrics.
    async fn send(
        &self,
        call: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, UpstreamError> {
        use crate::metrics::{CallOutcome, Upstream};
        let started = std::time::Instant::now();
        let result = match request.send().await {
            Ok(resp) => answer(call, resp).await,
            Err(_) => Err(UpstreamError::Unavailable(call)),
        };
        let outcome = match &result {
            Ok(_) | Err(UpstreamError::Refused(..)) => CallOutcome::Answered,
            Err(UpstreamError::Unavailable(_)) => CallOutcome::Unavailable,
            Err(UpstreamError::Malformed(..)) => CallOutcome::Malformed,
        };
        self.calls
            .observe(Upstream::Federation, started.elapsed(), outcome);
        result
    }
}

/// The body of a 2xx answer; an error for anything else.
async fn answer(call: &'static str, resp: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    let status = resp.status();
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        return Err(UpstreamError::Unavailable(call));
    }
    if !status.is_success() {
        return Err(UpstreamError::Refused(call, status.as_u16()));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|_| UpstreamError::Unavailable(call))?;
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_that_cannot_work_is_refused() {
        let ok = FederationConfig::default();
        assert_eq!(ok.validate(true, true, false), Ok(()));
        assert_eq!(
            ok.validate(false, false, true),
            Ok(()),
            "not enabled: not checked"
        );
        let refused = |cfg: &FederationConfig, sandbox: bool, production: bool| {
            cfg.validate(true, sandbox, production).unwrap_err()
        };
        assert!(refused(&ok, false, false).contains("discovery_url is empty"));
        assert!(refused(&ok, false, true).contains("discovery_url is empty"));
        let mut plain = ok.clone();
        plain.upstreams[0].discovery_url = "http://vneid.example.vn/.well-known/x".into();
        assert!(refused(&plain, false, true).contains("https"));
        let mut twice = ok.clone();
        twice.upstreams.push(twice.upstreams[0].clone());
        assert!(refused(&twice, true, false).contains("used twice"));
        let mut levels = ok.clone();
        levels.upstreams[0].levels.insert("3".into(), 4);
        assert!(refused(&levels, true, false).contains("levels"));
        let mut id = ok;
        id.upstreams[0].id = "VNeID".into();
        assert!(refused(&id, true, false).contains(".id"));
    }

    #[test]
    fn an_empty_discovery_url_is_the_sandbox_vneid() {
        let u = UpstreamConfig::sandbox_vneid();
        assert_eq!(
            u.discovery_url("http://localhost:8080/"),
            "http://localhost:8080/sandbox/vneid/.well-known/openid-configuration"
        );
        assert_eq!(u.issuer, SANDBOX_VNEID_ISSUER);
    }
}
