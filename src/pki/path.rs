//! Path validation at the time of use: OpenSSL's `X509StoreContext` with the verification time
//! set to `now` (the app's clock), against the anchors of both trust sets; then the rules
//! OpenSSL leaves to the application (which set vouched, the end entity's key usage).

use chrono::{DateTime, Utc};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509, X509KeyUsage, X509Ref, X509StoreContext, X509VerifyResult};

use super::PkiError;
use crate::domain::TrustSet;

/// Certificates in one chain we accept, at most (end entity, intermediates).
pub const MAX_CHAIN: usize = 8;

/// The configured anchors, each with its set.
#[derive(Default)]
pub struct Anchors(Vec<(TrustSet, X509)>);

impl Anchors {
    pub fn add(&mut self, set: TrustSet, cert: X509) {
        let der = cert.to_der().unwrap_or_default();
        let known = self
            .0
            .iter()
            .any(|(s, c)| *s == set && c.to_der().unwrap_or_default() == der);
        if !known {
            self.0.push((set, cert));
        }
    }

    /// Every certificate of a PEM bundle, into `set`.
    pub fn add_pem(&mut self, set: TrustSet, pem: &[u8]) -> Result<usize, PkiError> {
        let certs = X509::stack_from_pem(pem).map_err(|_| PkiError::Malformed)?;
        let n = certs.len();
        for c in certs {
            self.add(set, c);
        }
        Ok(n)
    }

    pub fn len(&self, set: TrustSet) -> usize {
        self.0.iter().filter(|(s, _)| *s == set).count()
    }

    /// The sets `cert` (an anchor, by its DER) belongs to.
    fn sets_of(&self, cert: &X509Ref) -> Vec<TrustSet> {
        let der = cert.to_der().unwrap_or_default();
        self.0
            .iter()
            .filter(|(_, c)| c.to_der().unwrap_or_default() == der)
            .map(|(s, _)| *s)
            .collect()
    }
}

/// A validated chain: end entity first, the anchor last.
pub struct ValidPath {
    pub chain: Vec<X509>,
    pub trust: TrustSet,
}

/// Parses DER certificates (end entity first).
pub fn parse_chain(chain: &[Vec<u8>], max_bytes: usize) -> Result<Vec<X509>, PkiError> {
    if chain.is_empty() {
        return Err(PkiError::Malformed);
    }
    if chain.len() > MAX_CHAIN || chain.iter().map(Vec::len).sum::<usize>() > max_bytes {
        return Err(PkiError::TooLarge);
    }
    chain
        .iter()
        .map(|der| X509::from_der(der).map_err(|_| PkiError::Malformed))
        .collect()
}

/// Validates `certs[0]` at `now` with `certs[1..]` as untrusted intermediates.
pub fn validate(
    anchors: &Anchors,
    certs: &[X509],
    accept: &[TrustSet],
    now: DateTime<Utc>,
) -> Result<ValidPath, PkiError> {
    let (end_entity, intermediates) = certs.split_first().ok_or(PkiError::Malformed)?;
    let store = store(anchors, now).map_err(|_| PkiError::Malformed)?;
    let mut untrusted = Stack::new().map_err(|_| PkiError::Malformed)?;
    for c in intermediates {
        untrusted.push(c.clone()).map_err(|_| PkiError::Malformed)?;
    }
    let mut context = X509StoreContext::new().map_err(|_| PkiError::Malformed)?;
    let outcome = context
        .init(&store, end_entity, &untrusted, |ctx| {
            let ok = ctx.verify_cert()?;
            let chain: Vec<X509> = ctx
                .chain()
                .map(|s| s.iter().map(|c| c.to_owned()).collect())
                .unwrap_or_default();
            Ok((ok, ctx.error(), chain))
        })
        .map_err(|_| PkiError::Malformed)?;
    let (ok, error, chain) = outcome;
    if !ok {
        return Err(error_of(error));
    }
    let anchor = chain.last().ok_or(PkiError::Untrusted)?;
    let sets = anchors.sets_of(anchor);
    let trust = sets
        .iter()
        .copied()
        .find(|s| accept.contains(s))
        .ok_or(if sets.is_empty() {
            PkiError::Untrusted
        } else {
            PkiError::WrongTrustSet
        })?;
    check_signing_key_usage(end_entity)?;
    Ok(ValidPath { chain, trust })
}

/// A signature certificate must allow digitalSignature or nonRepudiation, and must say so:
/// a certificate without the extension is refused (every licensed CA's profile has it).
pub fn check_signing_key_usage(cert: &X509Ref) -> Result<(), PkiError> {
    let usage = cert.key_usage().ok_or(PkiError::KeyUsage)?;
    if usage.intersects(X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::NON_REPUDIATION) {
        Ok(())
    } else {
        Err(PkiError::KeyUsage)
    }
}

/// A store of every anchor, verifying at `now`. `PARTIAL_CHAIN`: an anchor may be a licensed
/// CA's certificate rather than a self-signed root, when that is what a deployment trusts.
pub fn store(
    anchors: &Anchors,
    now: DateTime<Utc>,
) -> Result<openssl::x509::store::X509Store, openssl::error::ErrorStack> {
    let mut builder = X509StoreBuilder::new()?;
    for (_, cert) in &anchors.0 {
        // The same root may be in both sets; the store needs it once.
        let _ = builder.add_cert(cert.clone());
    }
    let mut param = X509VerifyParam::new()?;
    param.set_time(now.timestamp() as _);
    param.set_flags(X509VerifyFlags::PARTIAL_CHAIN | X509VerifyFlags::USE_CHECK_TIME)?;
    builder.set_param(&param)?;
    Ok(builder.build())
}

// OpenSSL's verification results (x509_vfy.h), stable across versions; the `openssl` crate
// names only `OK`.
const CERT_NOT_YET_VALID: i32 = 9;
const CERT_HAS_EXPIRED: i32 = 10;
const CERT_REVOKED: i32 = 23;
const INVALID_PURPOSE: i32 = 26;

fn error_of(error: X509VerifyResult) -> PkiError {
    match error.as_raw() {
        CERT_HAS_EXPIRED => PkiError::Expired,
        CERT_NOT_YET_VALID => PkiError::NotYetValid,
        CERT_REVOKED => PkiError::Revoked,
        INVALID_PURPOSE => PkiError::KeyUsage,
        // No path to an anchor, a broken signature in the chain, a CA that may not issue…
        _ => PkiError::Untrusted,
    }
}
