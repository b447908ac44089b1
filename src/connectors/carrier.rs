//! The carrier's subscriber check: is this SIM registered to this person ("chính chủ")?
//!
//! HTTP contract (defined by our sandbox; an adapter for a real carrier implements it, or
//! implements `CarrierClient` directly):
//!
//! ```text
//! POST {carrier_url}/v1/subscriber-check
//! Content-Type: application/json
//! {"msisdn": "+84823456088", "id_number": "001090012345",
//!  "full_name": "Nguyễn Văn An", "birthdate": "1990-06-12"}
//!
//! 200 {"result": "match" | "mismatch" | "unknown_number"}
//! ```
//!
//! The carrier compares and answers with a verdict only; it never returns what it has on file
//! about the subscriber, so a phone number cannot be used to look a person up.
//!
//! Mapping: 200 with one of the three results → that result; 200 with anything else →
//! `Malformed`; 5xx, 408, 429, timeout, connection failure → `Unavailable` (retried: the check
//! is read-only); any other status (4xx: the carrier refused our request) → `Malformed`.

use std::fmt;

use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{ConnectorError, Endpoint, parse_json};

#[async_trait]
pub trait CarrierClient: Send + Sync {
    async fn check_subscriber(
        &self,
        q: &SubscriberQuery,
    ) -> Result<SubscriberCheck, ConnectorError>;
}

/// What the citizen entered, to compare with the carrier's subscriber record.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriberQuery {
    /// E.164 (`+84…`).
    pub msisdn: String,
    pub id_number: String,
    pub full_name: String,
    pub birthdate: NaiveDate,
}

// Personal data stays out of logs, also through a stray `{:?}`.
impl fmt::Debug for SubscriberQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberQuery").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberCheck {
    /// The number is registered to this person.
    Match,
    /// The number is registered, to someone else (or with other details).
    Mismatch,
    /// The carrier has no subscriber with this number.
    UnknownNumber,
}

pub struct HttpCarrierClient {
    endpoint: Endpoint,
    retries: u32,
}

impl HttpCarrierClient {
    pub fn new(endpoint: Endpoint, retries: u32) -> Self {
        Self { endpoint, retries }
    }
}

#[derive(Deserialize)]
struct CheckAnswer {
    result: String,
}

#[async_trait]
impl CarrierClient for HttpCarrierClient {
    async fn check_subscriber(
        &self,
        q: &SubscriberQuery,
    ) -> Result<SubscriberCheck, ConnectorError> {
        let url = format!("{}/v1/subscriber-check", self.endpoint.base_url);
        // Formatted by hand so the wire format does not depend on chrono's serde feature.
        let body = serde_json::json!({
            "msisdn": q.msisdn,
            "id_number": q.id_number,
            "full_name": q.full_name,
            "birthdate": q.birthdate.format("%Y-%m-%d").to_string(),
        });
        let answer = self
            .endpoint
            .call(self.retries, |http| http.post(&url).json(&body))
            .await?;
        if answer.status != StatusCode::OK {
            return Err(self.endpoint.unexpected_status(answer.status));
        }
        let parsed: CheckAnswer = parse_json(self.endpoint.system(), &answer.body)?;
        match parsed.result.as_str() {
            "match" => Ok(SubscriberCheck::Match),
            "mismatch" => Ok(SubscriberCheck::Mismatch),
            "unknown_number" => Ok(SubscriberCheck::UnknownNumber),
            _ => Err(ConnectorError::Malformed(format!(
                "{}: unknown result",
                self.endpoint.system()
            ))),
        }
    }
}
