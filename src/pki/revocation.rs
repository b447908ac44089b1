//! Revocation: OCSP first (the responder named in the certificate's AIA), the CRL (its CRL
//! distribution point) when OCSP gives no usable answer; both cached until their nextUpdate.
//!
//! - The OCSP request carries a fresh nonce. A response that carries a nonce must echo ours,
//!   so a recorded "good" cannot be replayed after a revocation. A response without one
//!   (RFC 8954 lets responders ignore nonces; many CAs pre-produce their answers) is accepted
//!   only when its thisUpdate is at most `ocsp_max_age_seconds` (+ the clock skew) old: the
//!   window in which a replay of a pre-revocation "good" is possible is then bounded.
//! - The response's signature and the responder's authorization (the CA itself, or a delegated
//!   responder with id-kp-OCSPSigning issued by the CA) are OpenSSL's `OCSP_basic_verify`, with
//!   the store verifying at `now`. The nonce, the cert status and the times are read with the
//!   `x509-ocsp` types (the `openssl` crate exposes neither nonces nor the raw times).
//! - An answer that arrives but cannot be trusted (bad signature, wrong nonce, stale) is not
//!   an outage: the CRL may still decide, but `fail_open` never lets it through.

use std::time::Duration;

use chrono::{DateTime, Utc};
use der::asn1::OctetString;
use der::{Decode, Encode};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus};
use openssl::stack::Stack;
use openssl::x509::{CrlStatus, X509, X509Crl, X509Ref};
pub use x509_ocsp::CertId;
use x509_ocsp::{BasicOcspResponse, CertStatus, ext::Nonce};

use super::PkiError;
use super::path::{self, Anchors};
use crate::cache::TtlCache;

/// Clock skew tolerated on thisUpdate / nextUpdate.
const SKEW_SECONDS: i64 = 300;
/// How old an OCSP answer without nextUpdate may be (it is not cached).
const MAX_AGE_WITHOUT_NEXT_UPDATE: i64 = 3600;
/// Cached answers, at most (the cache is cleared when full).
const CACHE_CAPACITY: usize = 10_000;

/// What the CA says about one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked,
}

/// Why one source (OCSP or CRL) gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing usable arrived: no URL, timeout, connection refused, HTTP error, too large.
    Unreachable(String),
    /// An answer arrived that cannot be trusted, or the responder does not know the
    /// certificate.
    Invalid(String),
}

pub struct Revocation {
    http: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
    fail_open: bool,
    /// How old a nonce-less OCSP answer may be.
    max_age_without_nonce: chrono::Duration,
    /// By issuer key hash + serial: the status and until when it holds.
    answers: TtlCache<String, Status>,
    /// By URL: the CRL (DER).
    crls: TtlCache<String, std::sync::Arc<Vec<u8>>>,
}

impl Revocation {
    pub fn new(
        http: reqwest::Client,
        timeout: Duration,
        max_bytes: usize,
        fail_open: bool,
        max_age_without_nonce: chrono::Duration,
    ) -> Self {
        Self {
            http,
            timeout,
            max_bytes,
            fail_open,
            max_age_without_nonce,
            answers: TtlCache::new(CACHE_CAPACITY),
            crls: TtlCache::new(CACHE_CAPACITY),
        }
    }

    /// Checks `cert`, issued by `issuer`; `chain` and `anchors` let OpenSSL verify the
    /// responder.
    pub async fn check(
        &self,
        cert: &X509Ref,
        issuer: &X509Ref,
        chain: &[X509],
        anchors: &Anchors,
        now: DateTime<Utc>,
    ) -> Result<(), PkiError> {
        let key = cache_key(cert, issuer);
        if let Some(status) = self.answers.get(&key, now.timestamp_millis()) {
            return verdict(status);
        }
        let ocsp = self.ocsp(cert, issuer, chain, anchors, now).await;
        let ocsp_failure = match ocsp {
            Ok((status, until)) => {
                if let Some(until) = until {
                    self.answers.insert(key, status, until.timestamp_millis());
                }
                return verdict(status);
            }
            Err(failure) => failure,
        };
        tracing::info!(failure = ?ocsp_failure, "OCSP gave no usable answer; trying the CRL");
        let crl_failure = match self.crl(cert, issuer, now).await {
            Ok(status) => return verdict(status),
            Err(failure) => failure,
        };
        let outage_only = matches!(ocsp_failure, Failure::Unreachable(_))
            && matches!(crl_failure, Failure::Unreachable(_));
        if self.fail_open && outage_only {
            tracing::warn!(ocsp = ?ocsp_failure, crl = ?crl_failure,
                "revocation unknown (responders unreachable); accepted: pki.revocation = fail_open");
            return Ok(());
        }
        tracing::warn!(ocsp = ?ocsp_failure, crl = ?crl_failure, "revocation unknown; refused");
        Err(PkiError::RevocationUnavailable)
    }

    async fn ocsp(
        &self,
        cert: &X509Ref,
        issuer: &X509Ref,
        chain: &[X509],
        anchors: &Anchors,
        now: DateTime<Utc>,
    ) -> Result<(Status, Option<DateTime<Utc>>), Failure> {
        let url = cert
            .ocsp_responders()
            .ok()
            .and_then(|urls| urls.iter().map(|u| u.to_string()).find(|u| is_http(u)))
            .ok_or_else(|| Failure::Unreachable("no OCSP responder in the certificate".into()))?;
        let nonce = crate::random::bytes::<16>().to_vec();
        let request = ocsp_request(cert, issuer, &nonce)
            .map_err(|e| Failure::Invalid(format!("building the request: {e}")))?;
        let response = self
            .http
            .post(&url)
            .timeout(self.timeout)
            .header("content-type", "application/ocsp-request")
            .body(request.der)
            .send()
            .await
            .map_err(|e| Failure::Unreachable(format!("{url}: {e}")))?;
        let body = read_bounded(response, self.max_bytes).await?;
        let expected = Expected {
            cert_id: &request.cert_id,
            nonce: &nonce,
            max_age_without_nonce: self.max_age_without_nonce,
        };
        verify_ocsp_response(&body, &expected, issuer, chain, anchors, now)
    }

    async fn crl(
        &self,
        cert: &X509Ref,
        issuer: &X509Ref,
        now: DateTime<Utc>,
    ) -> Result<Status, Failure> {
        let url = crl_url(cert)
            .ok_or_else(|| Failure::Unreachable("no CRL distribution point".into()))?;
        let now_ms = now.timestamp_millis();
        let der = match self.crls.get(&url, now_ms) {
            Some(der) => der,
            None => {
                let response = self
                    .http
                    .get(&url)
                    .timeout(self.timeout)
                    .send()
                    .await
                    .map_err(|e| Failure::Unreachable(format!("{url}: {e}")))?;
                std::sync::Arc::new(read_bounded(response, self.max_bytes).await?)
            }
        };
        let (status, next_update) = check_crl(&der, cert, issuer, now)?;
        self.crls.insert(url, der, next_update.timestamp_millis());
        Ok(status)
    }
}

fn verdict(status: Status) -> Result<(), PkiError> {
    match status {
        Status::Good => Ok(()),
        Status::Revoked => Err(PkiError::Revoked),
    }
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fn cache_key(cert: &X509Ref, issuer: &X509Ref) -> String {
    let issuer_key = issuer
        .digest(MessageDigest::sha256())
        .map(hex::encode)
        .unwrap_or_default();
    let serial = cert
        .serial_number()
        .to_bn()
        .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
        .unwrap_or_default();
    format!("{issuer_key}:{serial}")
}

/// The certificate's first http(s) CRL distribution point.
fn crl_url(cert: &X509Ref) -> Option<String> {
    let points = cert.crl_distribution_points()?;
    points.iter().find_map(|p| {
        p.distpoint()?
            .fullname()?
            .iter()
            .filter_map(|n| n.uri())
            .find(|u| is_http(u))
            .map(str::to_string)
    })
}

/// Reads a response body, refusing a non-success status or more than `max` bytes.
async fn read_bounded(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, Failure> {
    if !response.status().is_success() {
        return Err(Failure::Unreachable(format!("HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(Failure::Unreachable(format!("larger than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An OCSP request for one certificate, with a nonce.
pub struct Request {
    pub der: Vec<u8>,
    pub cert_id: x509_ocsp::CertId,
}

/// OpenSSL computes the CertId (SHA-1 of the issuer's name and key, as responders expect);
/// the nonce extension is added on the decoded request.
pub fn ocsp_request(
    cert: &X509Ref,
    issuer: &X509Ref,
    nonce: &[u8],
) -> Result<Request, Box<dyn std::error::Error + Send + Sync>> {
    let id = OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer)?;
    let mut request = OcspRequest::new()?;
    request.add_id(id)?;
    let mut decoded = x509_ocsp::OcspRequest::from_der(&request.to_der()?)?;
    let cert_id = decoded
        .tbs_request
        .request_list
        .first()
        .map(|r| r.req_cert.clone())
        .ok_or("no request in the OCSP request")?;
    let nonce = Nonce(OctetString::new(nonce.to_vec())?);
    decoded.tbs_request.request_extensions = Some(vec![x509_cert::ext::Extension {
        extn_id: const_oid_nonce(),
        critical: false,
        extn_value: OctetString::new(nonce.to_der()?)?,
    }]);
    Ok(Request {
        der: decoded.to_der()?,
        cert_id,
    })
}

fn const_oid_nonce() -> der::asn1::ObjectIdentifier {
    // id-pkix-ocsp-nonce, RFC 8954
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2")
}

/// What an OCSP response must answer: the certificate asked about, the nonce sent, and how
/// old the answer may be when the responder leaves the nonce out.
pub struct Expected<'a> {
    pub cert_id: &'a x509_ocsp::CertId,
    pub nonce: &'a [u8],
    pub max_age_without_nonce: chrono::Duration,
}

/// Checks an OCSP response for `expected.cert_id`: OpenSSL verifies the signature and the
/// responder's authorization (with the store at `now`); then the nonce, the status and the
/// times.
pub fn verify_ocsp_response(
    der: &[u8],
    expected: &Expected<'_>,
    issuer: &X509Ref,
    chain: &[X509],
    anchors: &Anchors,
    now: DateTime<Utc>,
) -> Result<(Status, Option<DateTime<Utc>>), Failure> {
    let invalid = |what: &str| Failure::Invalid(what.to_string());
    let response = OcspResponse::from_der(der).map_err(|_| invalid("not an OCSP response"))?;
    if response.status() != OcspResponseStatus::SUCCESSFUL {
        // tryLater / internalError: the responder is up but not answering.
        return Err(Failure::Unreachable(format!(
            "OCSP status {}",
            response.status().as_raw()
        )));
    }
    let basic = response
        .basic()
        .map_err(|_| invalid("not a basic response"))?;
    let mut certs = Stack::new().map_err(|_| invalid("stack"))?;
    certs
        .push(issuer.to_owned())
        .map_err(|_| invalid("stack"))?;
    for c in chain {
        certs.push(c.clone()).map_err(|_| invalid("stack"))?;
    }
    let store = path::store(anchors, now).map_err(|_| invalid("store"))?;
    basic
        .verify(&certs, &store, OcspFlag::empty())
        .map_err(|_| invalid("signature or responder authorization"))?;
    let parsed = parse_ocsp_response(der).map_err(|e| Failure::Invalid(e.to_string()))?;
    let echoed = response_nonce(&parsed);
    if echoed.as_deref().is_some_and(|n| n != expected.nonce) {
        return Err(invalid("nonce not ours (a replayed response?)"));
    }
    let single = parsed
        .tbs_response_data
        .responses
        .iter()
        .find(|r| &r.cert_id == expected.cert_id)
        .ok_or_else(|| invalid("no answer for this certificate"))?;
    let this_update = time_of(&single.this_update);
    let next_update = single.next_update.as_ref().map(time_of);
    let skew = chrono::Duration::seconds(SKEW_SECONDS);
    if this_update > now + skew {
        return Err(invalid("thisUpdate in the future"));
    }
    // Without our nonce nothing proves the answer was made for this request: only a recent
    // one bounds how long a "good" recorded before a revocation can be replayed.
    if echoed.is_none() && this_update + expected.max_age_without_nonce + skew < now {
        return Err(invalid(
            "no nonce and thisUpdate older than ocsp_max_age_seconds (a replayed response?)",
        ));
    }
    match next_update {
        Some(next) if next + skew < now => return Err(invalid("stale (nextUpdate passed)")),
        Some(next) if next < this_update => return Err(invalid("nextUpdate before thisUpdate")),
        None if this_update + chrono::Duration::seconds(MAX_AGE_WITHOUT_NEXT_UPDATE) < now => {
            return Err(invalid("stale (no nextUpdate, old thisUpdate)"));
        }
        _ => {}
    }
    let status = match single.cert_status {
        CertStatus::Good(_) => Status::Good,
        CertStatus::Revoked(_) => Status::Revoked,
        CertStatus::Unknown(_) => {
            return Err(invalid("the responder does not know the certificate"));
        }
    };
    Ok((status, next_update))
}

/// The response's nonce: `None` without the extension. An extension that does not parse
/// counts as present and empty (never ours), not as absent: it must not fall under the laxer
/// nonce-less rule.
fn response_nonce(parsed: &BasicOcspResponse) -> Option<Vec<u8>> {
    let present = parsed
        .tbs_response_data
        .response_extensions
        .iter()
        .flatten()
        .any(|e| e.extn_id == const_oid_nonce());
    present.then(|| {
        parsed
            .nonce()
            .map(|n| n.0.as_bytes().to_vec())
            .unwrap_or_default()
    })
}

/// The parse-only half of an OCSP response (also the fuzzing entry point): the basic response
/// inside a successful OCSPResponse.
pub fn parse_ocsp_response(der: &[u8]) -> Result<BasicOcspResponse, der::Error> {
    let response = x509_ocsp::OcspResponse::from_der(der)?;
    let bytes = response
        .response_bytes
        .ok_or_else(|| der::Error::from(der::ErrorKind::Failed))?;
    BasicOcspResponse::from_der(bytes.response.as_bytes())
}

fn time_of(t: &x509_ocsp::OcspGeneralizedTime) -> DateTime<Utc> {
    let secs = t.0.to_unix_duration().as_secs() as i64;
    crate::clock::Clock::from_unix(secs)
}

/// Checks a CRL (DER or PEM) for `cert`: signed by `issuer`, issued by it, current at `now`.
pub fn check_crl(
    der: &[u8],
    cert: &X509Ref,
    issuer: &X509Ref,
    now: DateTime<Utc>,
) -> Result<(Status, DateTime<Utc>), Failure> {
    let invalid = |what: &str| Failure::Invalid(what.to_string());
    let crl = X509Crl::from_der(der)
        .or_else(|_| X509Crl::from_pem(der))
        .map_err(|_| invalid("not a CRL"))?;
    let key = issuer.public_key().map_err(|_| invalid("issuer key"))?;
    if !crl.verify(&key).unwrap_or(false) {
        return Err(invalid("CRL signature"));
    }
    let same_issuer = crl
        .issuer_name()
        .try_cmp(issuer.subject_name())
        .map(|o| o.is_eq())
        .unwrap_or(false);
    if !same_issuer {
        return Err(invalid("CRL of another issuer"));
    }
    let skew = chrono::Duration::seconds(SKEW_SECONDS);
    let later = Asn1Time::from_unix((now + skew).timestamp()).map_err(|_| invalid("time"))?;
    let earlier = Asn1Time::from_unix((now - skew).timestamp()).map_err(|_| invalid("time"))?;
    if crl.last_update() > later {
        return Err(invalid("CRL thisUpdate in the future"));
    }
    let next = crl
        .next_update()
        .ok_or_else(|| invalid("CRL without nextUpdate"))?;
    if next < earlier {
        return Err(invalid("CRL stale (nextUpdate passed)"));
    }
    let next_update = asn1_to_utc(next).ok_or_else(|| invalid("CRL nextUpdate"))?;
    let status = match crl.get_by_cert(&cert.to_owned()) {
        CrlStatus::NotRevoked => Status::Good,
        CrlStatus::Revoked(_) => Status::Revoked,
        // removeFromCRL: an entry taken off hold (delta CRLs).
        CrlStatus::RemoveFromCrl(_) => Status::Good,
    };
    Ok((status, next_update))
}

pub fn asn1_to_utc(t: &openssl::asn1::Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(t).ok()?;
    Some(crate::clock::Clock::from_unix(
        diff.days as i64 * 86_400 + diff.secs as i64,
    ))
}
