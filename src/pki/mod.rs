//! The PKI: signature certificates checked at the time of use against two separately
//! configured sets of trust anchors ([`TrustSet`]), with revocation by OCSP (CRL fallback), and
//! CMS SignedData / raw-signature verification for the signature methods (USB token, SIM
//! signature, remote signature).
//!
//! On OpenSSL (the `openssl` crate, already linked) for everything cryptographic: path
//! validation (`X509StoreContext` at `now`), CMS signature verification, OCSP response
//! signatures and responder authorization. The RustCrypto `cms` and `x509-ocsp` crates only
//! *parse* what OpenSSL's Rust binding does not expose (the signer infos of a SignedData; the
//! nonce of an OCSP request and response).

pub mod anchor;
pub mod cms;
pub mod digest;
pub mod path;
pub mod revocation;
pub mod subject;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::x509::{X509, X509NameRef, X509Ref};

use crate::authenticators::evidence::{CertificateRef, IdentitySource, VerifiedIdentity};
use crate::config::{PkiConfig, RevocationPolicy};
use crate::domain::{SubjectType, TrustSet};

pub use subject::{CertSubject, Holder, Uid, classify};

/// The verifier, built once in `App::build` from `[pki]` (plus the sandbox's roots when the
/// sandbox is on), then given the anchors admins uploaded ([`Pki::set_uploaded`], again
/// whenever they change). Every verification takes the anchors current when it starts (one
/// `Arc` under a lock held only to clone it), so a change swaps the whole set at once and a
/// verification in flight finishes on the set it began with. The revocation caches are kept
/// across changes: they are keyed by certificate and issuer, not by anchor.
pub struct Pki {
    /// The anchors of the configuration files and the sandbox: fixed for the process.
    fixed: Vec<FixedAnchor>,
    anchors: RwLock<Arc<path::Anchors>>,
    revocation: revocation::Revocation,
    max_signature_bytes: usize,
}

/// Where an anchor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorSource {
    /// `pki.public_anchors` / `pki.government_anchors`.
    Config,
    /// The sandbox PKI's roots.
    Sandbox,
    /// An admin's upload (the `trust_anchors` table).
    Uploaded,
}

/// An anchor of the configuration or the sandbox.
#[derive(Debug, Clone)]
pub struct FixedAnchor {
    pub set: TrustSet,
    pub source: AnchorSource,
    pub cert: X509,
}

/// A verified CMS SignedData: the signed content and who signed it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub content: Vec<u8>,
    pub certificate: CertificateInfo,
}

/// A certificate that chained to an accepted anchor and was not revoked at `now`.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub der: Vec<u8>,
    pub trust: TrustSet,
    pub subject: CertSubject,
    pub reference: CertificateRef,
}

/// Signature algorithms of a raw signature over a digest (CSC `signHash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlg {
    RsaPkcs1Sha256,
    RsaPssSha256,
    EcdsaSha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    EcdsaSha384,
}

/// Why a signature or certificate is refused. Every variant has a user message
/// ([`PkiError::message_key`]) and a stable audit word ([`PkiError::reason`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    #[error("malformed signature or certificate")]
    Malformed,
    #[error("signature or certificate too large")]
    TooLarge,
    #[error("unsupported signature algorithm")]
    UnsupportedAlgorithm,
    /// RSASSA-PSS with parameters we do not accept (SHA-1, a mismatched MGF1 hash, a short
    /// salt): what was refused.
    #[error("RSA-PSS parameters refused: {0}")]
    PssParameters(&'static str),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the certificate does not chain to a trusted anchor")]
    Untrusted,
    #[error("the certificate chains to a trust set not accepted here")]
    WrongTrustSet,
    #[error("the certificate has expired")]
    Expired,
    #[error("the certificate is not yet valid")]
    NotYetValid,
    #[error("the certificate's key usage does not allow signatures")]
    KeyUsage,
    #[error("the certificate is revoked")]
    Revoked,
    #[error("the certificate's revocation status could not be checked")]
    RevocationUnavailable,
    #[error("the certificate names no usable identity")]
    NoIdentity,
    #[error("not supported yet")]
    Unsupported,
    #[error("PKI configuration: {0}")]
    Config(String),
}

impl PkiError {
    /// The theme string that tells the user (vi + en).
    pub fn message_key(&self) -> &'static str {
        match self {
            Self::Malformed => "pki_malformed",
            Self::TooLarge => "pki_too_large",
            Self::UnsupportedAlgorithm | Self::PssParameters(_) => "pki_unsupported_algorithm",
            Self::BadSignature => "pki_bad_signature",
            Self::Untrusted => "pki_untrusted",
            Self::WrongTrustSet => "pki_wrong_trust_set",
            Self::Expired => "pki_expired",
            Self::NotYetValid => "pki_not_yet_valid",
            Self::KeyUsage => "pki_key_usage",
            Self::Revoked => "pki_revoked",
            Self::RevocationUnavailable => "pki_revocation_unavailable",
            Self::NoIdentity => "pki_no_identity",
            Self::Unsupported | Self::Config(_) => "pki_unavailable",
        }
    }

    /// A stable word for audit events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::PssParameters(_) => "pss_parameters",
            Self::BadSignature => "bad_signature",
            Self::Untrusted => "untrusted",
            Self::WrongTrustSet => "wrong_trust_set",
            Self::Expired => "certificate_expired",
            Self::NotYetValid => "certificate_not_yet_valid",
            Self::KeyUsage => "key_usage",
            Self::Revoked => "revoked",
            Self::RevocationUnavailable => "revocation_unavailable",
            Self::NoIdentity => "no_identity",
            Self::Unsupported => "unsupported",
            Self::Config(_) => "config",
        }
    }
}

impl Pki {
    /// Reads the anchors named in `[pki]`; `extra_anchors` are DER certificates added to a set
    /// (the sandbox's roots).
    pub fn new(
        cfg: &PkiConfig,
        http: reqwest::Client,
        extra_anchors: &[(TrustSet, Vec<u8>)],
    ) -> Result<Pki, PkiError> {
        let mut fixed = Vec::new();
        for (set, files) in [
            (TrustSet::Public, &cfg.public_anchors),
            (TrustSet::Government, &cfg.government_anchors),
        ] {
            for file in files {
                let pem = std::fs::read(file).map_err(|e| {
                    PkiError::Config(format!("pki: reading {}: {e}", file.display()))
                })?;
                let certs = X509::stack_from_pem(&pem).map_err(|_| {
                    PkiError::Config(format!("pki: {} is not PEM certificates", file.display()))
                })?;
                if certs.is_empty() {
                    return Err(PkiError::Config(format!(
                        "pki: {} holds no certificate",
                        file.display()
                    )));
                }
                fixed.extend(certs.into_iter().map(|cert| FixedAnchor {
                    set,
                    source: AnchorSource::Config,
                    cert,
                }));
            }
        }
        for (set, der) in extra_anchors {
            let cert = X509::from_der(der)
                .map_err(|_| PkiError::Config("pki: an extra anchor is not DER".into()))?;
            fixed.push(FixedAnchor {
                set: *set,
                source: AnchorSource::Sandbox,
                cert,
            });
        }
        let fail_open = cfg.revocation == RevocationPolicy::FailOpen;
        let anchors = RwLock::new(Arc::new(anchors_of(&fixed, Vec::new())));
        Ok(Pki {
            fixed,
            anchors,
            revocation: revocation::Revocation::new(
                http,
                Duration::from_millis(cfg.ocsp_timeout_ms),
                cfg.max_signature_bytes,
                fail_open,
                chrono::Duration::seconds(cfg.ocsp_max_age_seconds as i64),
            ),
            max_signature_bytes: cfg.max_signature_bytes,
        })
    }

    /// How many anchors a set has (start-up logs, tests).
    pub fn anchor_count(&self, set: TrustSet) -> usize {
        self.current().len(set)
    }

    /// The anchors of the configuration and the sandbox (listed read-only).
    pub fn fixed_anchors(&self) -> &[FixedAnchor] {
        &self.fixed
    }

    /// Replaces the uploaded anchors (the active rows of `trust_anchors`): the verifications
    /// that start from now on use the fixed anchors plus these.
    pub fn set_uploaded(&self, uploaded: Vec<(TrustSet, X509)>) {
        let next = Arc::new(anchors_of(&self.fixed, uploaded));
        *self.anchors.write().unwrap_or_else(|p| p.into_inner()) = next;
    }

    /// [`set_uploaded`](Self::set_uploaded) from stored PEM texts. A text that no longer
    /// parses (it was checked at upload) is left out and logged, never fatal.
    pub fn set_uploaded_pems<'a>(&self, pems: impl IntoIterator<Item = (TrustSet, &'a str)>) {
        let certs = pems
            .into_iter()
            .filter_map(|(set, pem)| match X509::from_pem(pem.as_bytes()) {
                Ok(cert) => Some((set, cert)),
                Err(_) => {
                    tracing::warn!(
                        set = set.as_str(),
                        "an uploaded trust anchor does not parse; left out"
                    );
                    None
                }
            })
            .collect();
        self.set_uploaded(certs);
    }

    fn current(&self) -> Arc<path::Anchors> {
        self.anchors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// CMS SignedData (DER), attached or detached (`detached` = the signed content).
    pub async fn verify_cms(
        &self,
        cms_der: &[u8],
        detached: Option<&[u8]>,
        accept: &[TrustSet],
        now: DateTime<Utc>,
    ) -> Result<Signed, PkiError> {
        if cms_der.len() > self.max_signature_bytes {
            return Err(PkiError::TooLarge);
        }
        let parsed = cms::parse(cms_der)?;
        let content = cms::verify_signature(cms_der, &parsed, detached)?;
        let mut certs = vec![parsed.signer.clone()];
        certs.extend(parsed.others.iter().cloned());
        let certificate = self.check_certs(&certs, accept, now).await?;
        Ok(Signed {
            content,
            certificate,
        })
    }

    /// A raw signature over a digest (CSC signHash): chain = end entity first, DER.
    pub async fn verify_signed_digest(
        &self,
        chain: &[Vec<u8>],
        digest: &[u8],
        alg: SignatureAlg,
        signature: &[u8],
        accept: &[TrustSet],
        now: DateTime<Utc>,
    ) -> Result<CertificateInfo, PkiError> {
        if signature.len() > self.max_signature_bytes {
            return Err(PkiError::TooLarge);
        }
        let certs = path::parse_chain(chain, self.max_signature_bytes)?;
        let key = certs[0].public_key().map_err(|_| PkiError::Malformed)?;
        digest::verify(&key, digest, alg, signature)?;
        self.check_certs(&certs, accept, now).await
    }

    /// Path + revocation only (a certificate read before anything is signed).
    pub async fn check_chain(
        &self,
        chain: &[Vec<u8>],
        accept: &[TrustSet],
        now: DateTime<Utc>,
    ) -> Result<CertificateInfo, PkiError> {
        let certs = path::parse_chain(chain, self.max_signature_bytes)?;
        self.check_certs(&certs, accept, now).await
    }

    /// The path at `now`, then revocation of every certificate on it but the anchor, then
    /// who it names.
    async fn check_certs(
        &self,
        certs: &[X509],
        accept: &[TrustSet],
        now: DateTime<Utc>,
    ) -> Result<CertificateInfo, PkiError> {
        let anchors = self.current();
        let valid = path::validate(&anchors, certs, accept, now)?;
        for pair in valid.chain.windows(2) {
            self.revocation
                .check(&pair[0], &pair[1], &valid.chain, &anchors, now)
                .await?;
        }
        let end_entity = &valid.chain[0];
        let subject = CertSubject::of(end_entity);
        classify(&subject, valid.trust)?;
        certificate_info(end_entity, valid.trust, subject)
    }
}

fn anchors_of(fixed: &[FixedAnchor], uploaded: Vec<(TrustSet, X509)>) -> path::Anchors {
    let mut anchors = path::Anchors::default();
    for a in fixed {
        anchors.add(a.set, a.cert.clone());
    }
    for (set, cert) in uploaded {
        anchors.add(set, cert);
    }
    anchors
}

fn certificate_info(
    cert: &X509Ref,
    trust: TrustSet,
    subject: CertSubject,
) -> Result<CertificateInfo, PkiError> {
    let der = cert.to_der().map_err(|_| PkiError::Malformed)?;
    let sha256 = cert
        .digest(MessageDigest::sha256())
        .map(hex::encode)
        .map_err(|_| PkiError::Malformed)?;
    let serial = cert
        .serial_number()
        .to_bn()
        .and_then(|b| b.to_hex_str().map(|s| s.to_ascii_lowercase()))
        .map_err(|_| PkiError::Malformed)?;
    let not_after = revocation::asn1_to_utc(cert.not_after()).ok_or(PkiError::Malformed)?;
    Ok(CertificateInfo {
        der,
        trust,
        subject,
        reference: CertificateRef {
            sha256,
            serial,
            issuer: printable_name(cert.issuer_name()),
            not_after,
            trust,
        },
    })
}

/// A distinguished name for people, most significant last as in RFC 4514 (`CN=…,O=…,C=VN`).
/// Display only: identities are read from the RDNs ([`CertSubject`]).
pub fn printable_name(name: &X509NameRef) -> String {
    let mut parts: Vec<String> = name
        .entries()
        .map(|e| {
            let key = e
                .object()
                .nid()
                .short_name()
                .map(str::to_string)
                .unwrap_or_else(|_| e.object().to_string());
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={}", value.replace(',', "\\,"))
        })
        .collect();
    parts.reverse();
    parts.join(",")
}

/// Parses a DER certificate and reads its subject (the fuzzing entry point for certificates).
pub fn parse_certificate(der: &[u8]) -> Result<(X509, CertSubject), PkiError> {
    let cert = X509::from_der(der).map_err(|_| PkiError::Malformed)?;
    let subject = CertSubject::of(&cert);
    Ok((cert, subject))
}

impl CertificateInfo {
    /// The identity this certificate proves (see [`Holder`]): a representative logs in as the
    /// person (a citizen with the organisation named), not as the enterprise.
    pub fn verified_identity(&self, source: IdentitySource) -> VerifiedIdentity {
        let s = &self.subject;
        let name = s.common_name.clone().unwrap_or_default();
        let (subject_type, id_number, tax_code, full_name, organization) =
            match classify(s, self.trust) {
                Ok(Holder::Citizen { id_number }) => {
                    (SubjectType::Citizen, Some(id_number), None, name, None)
                }
                Ok(Holder::Enterprise { tax_code }) => {
                    let full = s.organization.clone().unwrap_or(name);
                    (SubjectType::Enterprise, None, Some(tax_code), full, None)
                }
                Ok(Holder::Representative { id_number, .. }) => (
                    SubjectType::Citizen,
                    Some(id_number),
                    None,
                    name,
                    s.organization.clone(),
                ),
                Ok(Holder::Official { id_number, agency }) => {
                    (SubjectType::Agency, id_number, None, name, agency)
                }
                // Callers classify first and refuse `NoIdentity`; an unclassifiable subject
                // proves nobody.
                Err(_) => (SubjectType::Citizen, None, None, name, None),
            };
        VerifiedIdentity {
            subject_type,
            id_number,
            tax_code,
            full_name,
            birthdate: None,
            phone: None,
            email: s.email.clone(),
            organization,
            certificate: Some(self.reference.clone()),
            source,
        }
    }
}
