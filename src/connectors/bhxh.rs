//! The social-insurance (BHXH) registry: the insured person's record by BHXH code.
//!
//! HTTP contract (defined by our sandbox; an adapter for the real registry implements it, or
//! implements `BhxhRegistry` directly):
//!
//! ```text
//! GET {bhxh_url}/v1/insured/{bhxh_code}
//!
//! 200 {"bhxh_code": "0123456789", "id_number": "001090012345",
//!      "full_name": "Nguyễn Văn An", "birthdate": "1990-06-12", "phone": "+84823456088"}
//! 404 no such record
//! ```
//!
//! `phone` is optional: the insured person's phone on file, when the registry has one (any
//! accepted Vietnamese mobile form; an unusable value makes the record `Malformed`).
//!
//! The comparison with what the citizen entered (name folding, exact ID number and birth
//! date) is the authenticator's job, not this client's: the registry returns the record as
//! stored.
//!
//! Mapping: 200 with a valid record for the code asked → `Some`; 404 → `None`; 200 with an
//! invalid or foreign record → `Malformed`; 5xx, 408, 429, timeout, connection failure →
//! `Unavailable` (retried: the lookup is read-only); any other status → `Malformed`.

use std::fmt;

use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{ConnectorError, Endpoint, parse_json};

#[async_trait]
pub trait BhxhRegistry: Send + Sync {
    /// The record for `bhxh_code`, or `None` when the registry has none.
    async fn lookup(&self, bhxh_code: &str) -> Result<Option<BhxhRecord>, ConnectorError>;
}

/// A BHXH record as the registry stores it (names are not normalised here).
#[derive(Clone, PartialEq, Eq)]
pub struct BhxhRecord {
    pub bhxh_code: String,
    pub id_number: String,
    pub full_name: String,
    pub birthdate: NaiveDate,
    /// The phone on file (E.164), when the registry has one.
    pub phone: Option<String>,
}

// Personal data stays out of logs, also through a stray `{:?}`.
impl fmt::Debug for BhxhRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BhxhRecord").finish_non_exhaustive()
    }
}

pub struct HttpBhxhRegistry {
    endpoint: Endpoint,
    retries: u32,
}

impl HttpBhxhRegistry {
    pub fn new(endpoint: Endpoint, retries: u32) -> Self {
        Self { endpoint, retries }
    }

    /// `{base}/v1/insured/{code}` with the code percent-encoded as one path segment, so no
    /// input can change which resource is asked for.
    fn url(&self, bhxh_code: &str) -> Result<reqwest::Url, ConnectorError> {
        let mut url = reqwest::Url::parse(&self.endpoint.base_url).map_err(|_| {
            ConnectorError::Unavailable(format!("{}: invalid endpoint URL", self.endpoint.system()))
        })?;
        {
            let mut segments = url.path_segments_mut().map_err(|_| {
                ConnectorError::Unavailable(format!(
                    "{}: invalid endpoint URL",
                    self.endpoint.system()
                ))
            })?;
            segments
                .pop_if_empty()
                .push("v1")
                .push("insured")
                .push(bhxh_code);
        }
        Ok(url)
    }
}

#[derive(Deserialize)]
struct RecordAnswer {
    bhxh_code: String,
    id_number: String,
    full_name: String,
    birthdate: String,
    #[serde(default)]
    phone: Option<String>,
}

#[async_trait]
impl BhxhRegistry for HttpBhxhRegistry {
    async fn lookup(&self, bhxh_code: &str) -> Result<Option<BhxhRecord>, ConnectorError> {
        let url = self.url(bhxh_code)?;
        let answer = self
            .endpoint
            .call(self.retries, |http| http.get(url.clone()))
            .await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            other => return Err(self.endpoint.unexpected_status(other)),
        }
        let raw: RecordAnswer = parse_json(self.endpoint.system(), &answer.body)?;
        validate(self.endpoint.system(), bhxh_code, raw).map(Some)
    }
}

/// Accepts a record only when every field is usable; the error names the field, not its value.
fn validate(system: &str, asked: &str, raw: RecordAnswer) -> Result<BhxhRecord, ConnectorError> {
    let bad = |field: &str| ConnectorError::Malformed(format!("{system}: invalid {field}"));
    if raw.bhxh_code.trim() != asked.trim() {
        // An answer about another record must never be compared with the citizen's input.
        return Err(ConnectorError::Malformed(format!(
            "{system}: record for a different code"
        )));
    }
    let id_number = raw.id_number.trim();
    if !(id_number.len() == 9 || id_number.len() == 12)
        || !id_number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("id_number"));
    }
    let full_name = raw.full_name.trim();
    if full_name.is_empty() {
        return Err(bad("full_name"));
    }
    let birthdate = NaiveDate::parse_from_str(raw.birthdate.trim(), "%Y-%m-%d")
        .map_err(|_| bad("birthdate"))?;
    let phone = match raw
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => Some(
            crate::domain::PhoneNumber::parse(p)
                .map_err(|_| bad("phone"))?
                .e164()
                .to_string(),
        ),
    };
    Ok(BhxhRecord {
        bhxh_code: raw.bhxh_code.trim().to_string(),
        id_number: id_number.to_string(),
        full_name: full_name.to_string(),
        birthdate,
        phone,
    })
}
