//! The sandbox PKI: test CAs made at the first start and kept under `sandbox.pki_dir`, so the
//! certificates they issued survive a restart.
//!
//! Trees (the ids appear in the URLs):
//! - public: `public-root` ("national root") → `public-ca` ("licensed CA") → end entities;
//! - government: `gov-root` → `gov-ca` → end entities;
//! - untrusted: `untrusted-root` → end entities (no configuration trusts it).
//!
//! When the sandbox is on, `public-root` and `gov-root` join the matching trust sets.
//!
//! Crates: the CA certificates and the CRLs are made with `rcgen`. End-entity certificates are
//! made with OpenSSL's `X509Builder`, because rcgen's distinguished name is a map and cannot
//! hold two `UID` attributes (a representative's certificate has `MST:` and `CCCD:`). OCSP
//! responses are `x509-ocsp` types (RustCrypto) signed with OpenSSL: its builder wants
//! RustCrypto signers, and every private key here is an OpenSSL key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use der::asn1::{BitString, GeneralizedTime, Ia5String, Null, OctetString};
use der::{Decode, Encode};
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time, Asn1Type};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder, X509Req};
use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CrlDistributionPoints};
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, ResponderId,
    ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::clock::Clock;
use crate::domain::TrustSet;

/// Which tree issues a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tree {
    #[default]
    Public,
    Government,
    Untrusted,
}

impl Tree {
    /// The id of the CA that issues end entities in this tree.
    pub fn issuing_ca(self) -> &'static str {
        match self {
            Self::Public => "public-ca",
            Self::Government => "gov-ca",
            Self::Untrusted => "untrusted-root",
        }
    }
}

/// The end entity's key, made by the sandbox (unless the caller brings a public key or CSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    #[default]
    EcP256,
    /// RSA 2048, rsaEncryption (PKCS#1 v1.5 signatures).
    Rsa,
    /// RSA 2048 for RSASSA-PSS signatures. The key is an ordinary rsaEncryption key, as on the
    /// Government CA's tokens: the signer chooses PSS (`openssl cms -sign -keyopt
    /// rsa_padding_mode:pss`). An id-RSASSA-PSS-typed key would not do: OpenSSL 3.0's CMS
    /// writes its signatures as rsaEncryption, which no verifier accepts.
    RsaPss,
}

/// `normal`: digitalSignature + nonRepudiation. `wrong`: keyEncipherment only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyUsageChoice {
    #[default]
    Normal,
    Wrong,
}

/// What to certify (also the JSON of `POST /sandbox/pki/certificates`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssueRequest {
    pub tree: Tree,
    /// `UID` attributes, e.g. `["CCCD:001099000123"]`, in order.
    pub uids: Vec<String>,
    pub cn: Option<String>,
    pub o: Option<String>,
    pub st: Option<String>,
    pub c: Option<String>,
    pub email: Option<String>,
    /// organizationIdentifier (2.5.4.97).
    pub organization_identifier: Option<String>,
    pub key: KeyKind,
    /// Certify this public key (SPKI PEM) instead of making one (a token's own key).
    pub public_key_pem: Option<String>,
    /// Or the public key of this PKCS#10 request (its signature is checked).
    pub csr_pem: Option<String>,
    /// Defaults: an hour ago, and a year after that.
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub key_usage: KeyUsageChoice,
}

/// A certificate the sandbox issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub certificate_der: Vec<u8>,
    /// The issuing CA, then its issuers up to the root (the root last).
    pub chain_der: Vec<Vec<u8>>,
    /// PKCS#8; empty when the caller brought the public key.
    pub private_key_pkcs8_der: Vec<u8>,
    /// Lower-case hex.
    pub serial: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxPkiError {
    #[error("sandbox PKI storage: {0}")]
    Io(String),
    #[error("sandbox PKI: {0}")]
    Crypto(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("unknown certificate or CA")]
    NotFound,
}

fn crypto<E: std::fmt::Display>(e: E) -> SandboxPkiError {
    SandboxPkiError::Crypto(e.to_string())
}

/// How a CA's OCSP responder misbehaves, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OcspFault {
    #[default]
    None,
    /// HTTP 503.
    Down,
    /// Answers after 30 seconds.
    Hang,
    /// Sends again the first answer it gave for the certificate (an old nonce).
    Replay,
    /// Echoes a nonce other than the request's.
    WrongNonce,
    /// Signs with a key the CA never authorised.
    Rogue,
    /// Leaves the nonce out (RFC 8954 allows it), with a fresh thisUpdate.
    NoNonce,
    /// Leaves the nonce out and answers with a pre-produced thisUpdate an hour old (its
    /// nextUpdate still ahead).
    NoNonceOld,
}

/// How a CA's CRL endpoint misbehaves, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrlFault {
    #[default]
    None,
    /// HTTP 503.
    Down,
}

/// `POST /sandbox/pki/ca/{ca}/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub ocsp: OcspFault,
    pub crl: CrlFault,
}

/// One CA: its certificate and key, its parent, and (for `public-ca`) a delegated OCSP
/// responder.
struct Ca {
    id: &'static str,
    parent: Option<&'static str>,
    cert: X509,
    key: PKey<Private>,
    /// The key in rcgen's form, for CRLs.
    rcgen_key: rcgen::KeyPair,
    responder: Option<(X509, PKey<Private>)>,
}

/// What the sandbox remembers of a certificate it issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    ca: String,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct State {
    issued: HashMap<String, Record>,
    faults: HashMap<String, Faults>,
    /// The first OCSP answer per serial, for `OcspFault::Replay`.
    first_answers: HashMap<String, Vec<u8>>,
}

/// The sandbox CAs.
pub struct SandboxPki {
    dir: PathBuf,
    public_url: String,
    clock: Clock,
    cas: Vec<Ca>,
    /// Signs `OcspFault::Rogue` answers.
    rogue: (X509, PKey<Private>),
    state: Mutex<State>,
}

/// (id, parent, common name, organisation)
const CAS: [(&str, Option<&str>, &str, &str); 5] = [
    (
        "public-root",
        None,
        "Sandbox National Root CA",
        "Sandbox Root Certification Authority",
    ),
    (
        "public-ca",
        Some("public-root"),
        "Sandbox Licensed CA",
        "Sandbox Licensed Signing Services",
    ),
    (
        "gov-root",
        None,
        "Sandbox Government Root CA",
        "Sandbox Ban Co yeu Chinh phu",
    ),
    (
        "gov-ca",
        Some("gov-root"),
        "Sandbox Government CA",
        "Sandbox Ban Co yeu Chinh phu",
    ),
    (
        "untrusted-root",
        None,
        "Sandbox Untrusted Root",
        "Sandbox Nobody Trusts Me",
    ),
];

/// How long an OCSP answer or a CRL holds (nextUpdate − thisUpdate).
const VALIDITY_MINUTES: i64 = 5;
/// How long `OcspFault::Hang` waits.
const HANG: std::time::Duration = std::time::Duration::from_secs(30);
/// OCSP requests answered per call, at most.
const MAX_OCSP_REQUESTS: usize = 10;

const OID_AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const OID_CRL_DP: &[u64] = &[2, 5, 29, 31];
const ID_AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
const ID_PKIX_OCSP_NONCE: &str = "1.3.6.1.5.5.7.48.1.2";
const ID_PKIX_OCSP_NOCHECK: &str = "1.3.6.1.5.5.7.48.1.5";
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
const SHA1: &str = "1.3.14.3.2.26";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";

impl SandboxPki {
    /// Loads the CAs from `dir`, making them at the first start.
    pub fn open(dir: &Path, public_url: &str, clock: Clock) -> Result<SandboxPki, SandboxPkiError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SandboxPkiError::Io(format!("creating {}: {e}", dir.display())))?;
        let public_url = public_url.trim_end_matches('/').to_string();
        let mut cas: Vec<Ca> = Vec::new();
        for (id, parent, cn, o) in CAS {
            let parent_ca = parent.and_then(|p| cas.iter().find(|c| c.id == p));
            let ca = load_or_make_ca(dir, id, parent_ca, cn, o, &public_url)?;
            cas.push(ca);
        }
        let responder = {
            let issuer = cas
                .iter()
                .find(|c| c.id == "public-ca")
                .ok_or(SandboxPkiError::NotFound)?;
            delegated_responder(issuer, clock.now())?
        };
        if let Some(ca) = cas.iter_mut().find(|c| c.id == "public-ca") {
            ca.responder = Some(responder);
        }
        let rogue = {
            let untrusted = cas
                .iter()
                .find(|c| c.id == "untrusted-root")
                .ok_or(SandboxPkiError::NotFound)?;
            (untrusted.cert.clone(), untrusted.key.clone())
        };
        let issued = read_issued(dir)?;
        Ok(SandboxPki {
            dir: dir.to_path_buf(),
            public_url,
            clock,
            cas,
            rogue,
            state: Mutex::new(State {
                issued,
                ..State::default()
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ca(&self, id: &str) -> Result<&Ca, SandboxPkiError> {
        self.cas
            .iter()
            .find(|c| c.id == id)
            .ok_or(SandboxPkiError::NotFound)
    }

    /// The roots to trust, with their set.
    pub fn anchors(&self) -> Vec<(TrustSet, Vec<u8>)> {
        [
            ("public-root", TrustSet::Public),
            ("gov-root", TrustSet::Government),
        ]
        .into_iter()
        .filter_map(|(id, set)| Some((set, self.ca(id).ok()?.cert.to_der().ok()?)))
        .collect()
    }

    /// A CA's certificate (DER).
    pub fn ca_certificate(&self, id: &str) -> Result<Vec<u8>, SandboxPkiError> {
        self.ca(id)?.cert.to_der().map_err(crypto)
    }

    /// Issues an end-entity signature certificate.
    pub fn issue(&self, req: &IssueRequest) -> Result<Issued, SandboxPkiError> {
        let ca = self.ca(req.tree.issuing_ca())?;
        let (public_key, private_key) = subject_key(req)?;
        let now = self.clock.now();
        let not_before = req.not_before.unwrap_or(now - Duration::hours(1));
        let not_after = req.not_after.unwrap_or(not_before + Duration::days(365));
        if not_after <= not_before {
            return Err(SandboxPkiError::Invalid(
                "not_after must be after not_before".into(),
            ));
        }
        let serial_bytes = {
            let mut b = crate::random::bytes::<16>();
            b[0] &= 0x7f; // positive
            b[0] |= 0x10; // no leading zero byte: one spelling of the hex
            b
        };
        let serial_bn = BigNum::from_slice(&serial_bytes).map_err(crypto)?;
        let serial = hex::encode(serial_bytes);

        let mut name = X509NameBuilder::new().map_err(crypto)?;
        if let Some(c) = &req.c {
            name.append_entry_by_nid(Nid::COUNTRYNAME, c)
                .map_err(|_| SandboxPkiError::Invalid("c must be two letters".into()))?;
        }
        let texts = [
            (Nid::STATEORPROVINCENAME, &req.st),
            (Nid::ORGANIZATIONNAME, &req.o),
            (Nid::COMMONNAME, &req.cn),
            (Nid::PKCS9_EMAILADDRESS, &req.email),
        ];
        for (nid, value) in texts {
            if let Some(v) = value {
                name.append_entry_by_nid(nid, v).map_err(|_| {
                    SandboxPkiError::Invalid(format!("{v:?} is not a valid name part"))
                })?;
            }
        }
        if let Some(v) = &req.organization_identifier {
            name.append_entry_by_text_with_type("2.5.4.97", v, Asn1Type::UTF8STRING)
                .map_err(|_| {
                    SandboxPkiError::Invalid(format!(
                        "{v:?} is not a valid organization_identifier"
                    ))
                })?;
        }
        for uid in &req.uids {
            name.append_entry_by_text_with_type("UID", uid, Asn1Type::UTF8STRING)
                .map_err(|_| SandboxPkiError::Invalid(format!("{uid:?} is not a valid UID")))?;
        }
        let name = name.build();

        let mut b = X509Builder::new().map_err(crypto)?;
        b.set_version(2).map_err(crypto)?;
        b.set_serial_number(&*Asn1Integer::from_bn(&serial_bn).map_err(crypto)?)
            .map_err(crypto)?;
        b.set_subject_name(&name).map_err(crypto)?;
        b.set_issuer_name(ca.cert.subject_name()).map_err(crypto)?;
        b.set_pubkey(&public_key).map_err(crypto)?;
        b.set_not_before(&*asn1_time(not_before)?).map_err(crypto)?;
        b.set_not_after(&*asn1_time(not_after)?).map_err(crypto)?;
        b.append_extension(BasicConstraints::new().critical().build().map_err(crypto)?)
            .map_err(crypto)?;
        let usage = match req.key_usage {
            KeyUsageChoice::Normal => KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build(),
            KeyUsageChoice::Wrong => KeyUsage::new().critical().key_encipherment().build(),
        };
        b.append_extension(usage.map_err(crypto)?).map_err(crypto)?;
        let ski = SubjectKeyIdentifier::new()
            .build(&b.x509v3_context(Some(&ca.cert), None))
            .map_err(crypto)?;
        b.append_extension(ski).map_err(crypto)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(&ca.cert), None))
            .map_err(crypto)?;
        b.append_extension(aki).map_err(crypto)?;
        for (oid, der) in revocation_pointers(&self.public_url, ca.id)? {
            b.append_extension(openssl_extension(oid, &der)?)
                .map_err(crypto)?;
        }
        b.sign(&ca.key, MessageDigest::sha256()).map_err(crypto)?;
        let cert = b.build();

        {
            let mut state = self.state();
            state.issued.insert(
                serial.clone(),
                Record {
                    ca: ca.id.to_string(),
                    revoked_at: None,
                },
            );
            write_issued(&self.dir, &state.issued)?;
        }
        Ok(Issued {
            certificate_der: cert.to_der().map_err(crypto)?,
            chain_der: self.chain_of(ca.id)?,
            private_key_pkcs8_der: private_key
                .map(|k| k.private_key_to_pkcs8())
                .transpose()
                .map_err(crypto)?
                .unwrap_or_default(),
            serial,
        })
    }

    /// The CA `id` and its issuers up to the root, DER.
    fn chain_of(&self, id: &str) -> Result<Vec<Vec<u8>>, SandboxPkiError> {
        let mut chain = Vec::new();
        let mut next = Some(id);
        while let Some(id) = next {
            let ca = self.ca(id)?;
            chain.push(ca.cert.to_der().map_err(crypto)?);
            next = ca.parent;
        }
        Ok(chain)
    }

    /// Marks a certificate revoked (OCSP answers revoked, the next CRL lists it).
    pub fn revoke(&self, serial: &str) -> Result<(), SandboxPkiError> {
        let serial = serial.trim().to_ascii_lowercase();
        let now = self.clock.now();
        let mut state = self.state();
        let record = state
            .issued
            .get_mut(&serial)
            .ok_or(SandboxPkiError::NotFound)?;
        record.revoked_at.get_or_insert(now);
        write_issued(&self.dir, &state.issued)
    }

    /// Sets how a CA's OCSP responder and CRL endpoint behave.
    pub fn set_faults(&self, ca: &str, faults: Faults) -> Result<(), SandboxPkiError> {
        self.ca(ca)?;
        self.state().faults.insert(ca.to_string(), faults);
        Ok(())
    }

    pub fn faults(&self, ca: &str) -> Faults {
        self.state().faults.get(ca).copied().unwrap_or_default()
    }

    /// The current CRL of CA `id` (DER), listing what it revoked.
    pub fn crl(&self, id: &str) -> Result<Vec<u8>, SandboxPkiError> {
        let ca = self.ca(id)?;
        let now = self.clock.now();
        let revoked: Vec<rcgen::RevokedCertParams> = self
            .state()
            .issued
            .iter()
            .filter(|(_, r)| r.ca == id)
            .filter_map(|(serial, r)| {
                let at = r.revoked_at?;
                Some(rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(&hex::decode(serial).ok()?),
                    revocation_time: offset_time(at).ok()?,
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
            })
            .collect();
        let params = rcgen::CertificateRevocationListParams {
            this_update: offset_time(now - Duration::minutes(1))?,
            next_update: offset_time(now + Duration::minutes(VALIDITY_MINUTES))?,
            crl_number: rcgen::SerialNumber::from(now.timestamp().max(1) as u64),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let ca_pem = String::from_utf8(ca.cert.to_pem().map_err(crypto)?).map_err(crypto)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, &ca.rcgen_key).map_err(crypto)?;
        let crl = params.signed_by(&issuer).map_err(crypto)?;
        Ok(crl.der().to_vec())
    }

    /// Answers an OCSP request (DER) to CA `id`. `Ok(None)`: the responder is down (503).
    pub async fn ocsp(
        &self,
        id: &str,
        request_der: &[u8],
    ) -> Result<Option<Vec<u8>>, SandboxPkiError> {
        let ca = self.ca(id)?;
        let fault = self.faults(id).ocsp;
        match fault {
            OcspFault::Down => return Ok(None),
            OcspFault::Hang => tokio::time::sleep(HANG).await,
            _ => {}
        }
        let Ok(request) = OcspRequest::from_der(request_der) else {
            return OcspResponse::malformed_request()
                .to_der()
                .map(Some)
                .map_err(crypto);
        };
        let requests = &request.tbs_request.request_list;
        if requests.is_empty() || requests.len() > MAX_OCSP_REQUESTS {
            return OcspResponse::malformed_request()
                .to_der()
                .map(Some)
                .map_err(crypto);
        }
        let first_serial = hex::encode(requests[0].req_cert.serial_number.as_bytes());
        if fault == OcspFault::Replay
            && let Some(old) = self.state().first_answers.get(&first_serial)
        {
            return Ok(Some(old.clone()));
        }
        let now = self.clock.now();
        let this_update = match fault {
            OcspFault::NoNonceOld => now - Duration::hours(1),
            _ => now - Duration::minutes(1),
        };
        let responses = requests
            .iter()
            .map(|r| self.single_response(ca, &r.req_cert, this_update, now))
            .collect::<Result<Vec<_>, _>>()?;
        let nonce = match fault {
            OcspFault::WrongNonce => Some(crate::random::bytes::<16>().to_vec()),
            OcspFault::NoNonce | OcspFault::NoNonceOld => None,
            _ => request.nonce().map(|n| n.0.as_bytes().to_vec()),
        };
        let (signer_cert, signer_key, include_cert) = match (&fault, &ca.responder) {
            (OcspFault::Rogue, _) => (&self.rogue.0, &self.rogue.1, true),
            (_, Some((cert, key))) => (cert, key, true),
            (_, None) => (&ca.cert, &ca.key, false),
        };
        let der = sign_response(responses, nonce, signer_cert, signer_key, include_cert, now)?;
        self.state()
            .first_answers
            .entry(first_serial)
            .or_insert_with(|| der.clone());
        Ok(Some(der))
    }

    fn single_response(
        &self,
        ca: &Ca,
        id: &x509_ocsp::CertId,
        this_update: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SingleResponse, SandboxPkiError> {
        let serial = hex::encode(id.serial_number.as_bytes()).to_ascii_lowercase();
        let ours = cert_id_matches(id, &ca.cert)?;
        let record = self.state().issued.get(&serial).cloned();
        let status = match record {
            Some(r) if ours && r.ca == ca.id => match r.revoked_at {
                None => CertStatus::Good(Null),
                Some(at) => CertStatus::Revoked(RevokedInfo {
                    revocation_time: ocsp_time(at)?,
                    revocation_reason: Some(x509_cert::ext::pkix::crl::CrlReason::KeyCompromise),
                }),
            },
            // A sub-CA's own certificate, asked of its root: good (never revoked here).
            _ if ours
                && self.cas.iter().any(|c| {
                    c.parent == Some(ca.id)
                        && cert_serial(&c.cert).as_deref() == Some(serial.as_str())
                }) =>
            {
                CertStatus::Good(Null)
            }
            _ => CertStatus::Unknown(Null),
        };
        Ok(SingleResponse {
            cert_id: id.clone(),
            cert_status: status,
            this_update: ocsp_time(this_update)?,
            next_update: Some(ocsp_time(now + Duration::minutes(VALIDITY_MINUTES))?),
            single_extensions: None,
        })
    }
}

/// The subject's public key, and its private key when the sandbox made it.
fn subject_key(
    req: &IssueRequest,
) -> Result<(PKey<Public>, Option<PKey<Private>>), SandboxPkiError> {
    if let Some(pem) = &req.public_key_pem {
        let key = PKey::public_key_from_pem(pem.as_bytes()).map_err(|_| {
            SandboxPkiError::Invalid("public_key_pem is not a PEM public key".into())
        })?;
        return Ok((key, None));
    }
    if let Some(pem) = &req.csr_pem {
        let csr = X509Req::from_pem(pem.as_bytes()).map_err(|_| {
            SandboxPkiError::Invalid("csr_pem is not a PEM certificate request".into())
        })?;
        let key = csr.public_key().map_err(crypto)?;
        if !csr.verify(&key).unwrap_or(false) {
            return Err(SandboxPkiError::Invalid(
                "the CSR's signature does not verify".into(),
            ));
        }
        return Ok((key, None));
    }
    let private = match req.key {
        KeyKind::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto)?;
            PKey::from_ec_key(EcKey::generate(&group).map_err(crypto)?).map_err(crypto)?
        }
        KeyKind::Rsa | KeyKind::RsaPss => {
            PKey::from_rsa(Rsa::generate(2048).map_err(crypto)?).map_err(crypto)?
        }
    };
    let public =
        PKey::public_key_from_der(&private.public_key_to_der().map_err(crypto)?).map_err(crypto)?;
    Ok((public, Some(private)))
}

/// An extension's OID and DER value.
type RawExtension = (&'static [u64], Vec<u8>);

/// AIA (OCSP) and CRL distribution point extensions pointing at the sandbox, DER-encoded with
/// the `x509-cert` types.
fn revocation_pointers(public_url: &str, ca: &str) -> Result<Vec<RawExtension>, SandboxPkiError> {
    let uri = |u: String| {
        Ia5String::new(&u)
            .map(GeneralName::UniformResourceIdentifier)
            .map_err(crypto)
    };
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: der::asn1::ObjectIdentifier::new_unwrap(ID_AD_OCSP),
        access_location: uri(format!("{public_url}/sandbox/pki/ocsp/{ca}"))?,
    }]);
    let dp = CrlDistributionPoints(vec![x509_cert::ext::pkix::crl::dp::DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![uri(format!(
            "{public_url}/sandbox/pki/crl/{ca}.crl"
        ))?])),
        reasons: None,
        crl_issuer: None,
    }]);
    Ok(vec![
        (OID_AIA, aia.to_der().map_err(crypto)?),
        (OID_CRL_DP, dp.to_der().map_err(crypto)?),
    ])
}

fn openssl_extension(oid: &[u64], der: &[u8]) -> Result<X509Extension, SandboxPkiError> {
    let dotted = oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    let object = Asn1Object::from_str(&dotted).map_err(crypto)?;
    let value = Asn1OctetString::new_from_bytes(der).map_err(crypto)?;
    X509Extension::new_from_der(&object, false, &value).map_err(crypto)
}

/// Loads CA `id` from `dir`, or makes it (signed by `parent`, or self-signed) and saves it.
fn load_or_make_ca(
    dir: &Path,
    id: &'static str,
    parent: Option<&Ca>,
    cn: &str,
    o: &str,
    public_url: &str,
) -> Result<Ca, SandboxPkiError> {
    let key_path = dir.join(format!("{id}.key.pem"));
    let cert_path = dir.join(format!("{id}.cert.pem"));
    if key_path.exists() && cert_path.exists() {
        let key_pem = std::fs::read_to_string(&key_path)
            .map_err(|e| SandboxPkiError::Io(format!("{}: {e}", key_path.display())))?;
        let cert_pem = std::fs::read(&cert_path)
            .map_err(|e| SandboxPkiError::Io(format!("{}: {e}", cert_path.display())))?;
        let rcgen_key = rcgen::KeyPair::from_pem(&key_pem).map_err(crypto)?;
        return Ok(Ca {
            id,
            parent: parent.map(|p| p.id),
            cert: X509::from_pem(&cert_pem).map_err(crypto)?,
            key: PKey::private_key_from_pem(key_pem.as_bytes()).map_err(crypto)?,
            rcgen_key,
            responder: None,
        });
    }
    let rcgen_key = rcgen::KeyPair::generate().map_err(crypto)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CountryName, "VN");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, o);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(match parent {
        None => rcgen::BasicConstraints::Unconstrained,
        Some(_) => rcgen::BasicConstraints::Constrained(0),
    });
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let mut serial = crate::random::bytes::<16>();
    serial[0] &= 0x7f;
    serial[0] |= 0x10;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.use_authority_key_identifier_extension = parent.is_some();
    let cert = match parent {
        None => params.self_signed(&rcgen_key).map_err(crypto)?,
        Some(parent) => {
            for (oid, der) in revocation_pointers(public_url, parent.id)? {
                params
                    .custom_extensions
                    .push(rcgen::CustomExtension::from_oid_content(oid, der));
            }
            let parent_pem =
                String::from_utf8(parent.cert.to_pem().map_err(crypto)?).map_err(crypto)?;
            let issuer =
                rcgen::Issuer::from_ca_cert_pem(&parent_pem, &parent.rcgen_key).map_err(crypto)?;
            params.signed_by(&rcgen_key, &issuer).map_err(crypto)?
        }
    };
    write_private(&key_path, rcgen_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .map_err(|e| SandboxPkiError::Io(format!("{}: {e}", cert_path.display())))?;
    Ok(Ca {
        id,
        parent: parent.map(|p| p.id),
        cert: X509::from_der(cert.der()).map_err(crypto)?,
        key: PKey::private_key_from_pkcs8(&rcgen_key.serialize_der()).map_err(crypto)?,
        rcgen_key,
        responder: None,
    })
}

/// A delegated OCSP responder for `issuer`: id-kp-OCSPSigning and id-pkix-ocsp-nocheck, made
/// at each start (its authority comes from the CA's signature, nothing to keep).
fn delegated_responder(
    issuer: &Ca,
    now: DateTime<Utc>,
) -> Result<(X509, PKey<Private>), SandboxPkiError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto)?;
    let key = PKey::from_ec_key(EcKey::generate(&group).map_err(crypto)?).map_err(crypto)?;
    let mut name = X509NameBuilder::new().map_err(crypto)?;
    name.append_entry_by_nid(Nid::COUNTRYNAME, "VN")
        .map_err(crypto)?;
    name.append_entry_by_nid(Nid::COMMONNAME, "Sandbox Licensed CA OCSP Responder")
        .map_err(crypto)?;
    let name = name.build();
    let mut b = X509Builder::new().map_err(crypto)?;
    b.set_version(2).map_err(crypto)?;
    let serial = BigNum::from_slice(&crate::random::bytes::<16>()).map_err(crypto)?;
    b.set_serial_number(&*Asn1Integer::from_bn(&serial).map_err(crypto)?)
        .map_err(crypto)?;
    b.set_subject_name(&name).map_err(crypto)?;
    b.set_issuer_name(issuer.cert.subject_name())
        .map_err(crypto)?;
    b.set_pubkey(&key).map_err(crypto)?;
    b.set_not_before(&*asn1_time(now - Duration::days(1))?)
        .map_err(crypto)?;
    b.set_not_after(&*asn1_time(now + Duration::days(3650))?)
        .map_err(crypto)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .map_err(crypto)?,
    )
    .map_err(crypto)?;
    b.append_extension(
        ExtendedKeyUsage::new()
            .other("OCSPSigning")
            .build()
            .map_err(crypto)?,
    )
    .map_err(crypto)?;
    b.append_extension(openssl_extension_dotted(
        ID_PKIX_OCSP_NOCHECK,
        &Null.to_der().map_err(crypto)?,
    )?)
    .map_err(crypto)?;
    b.sign(&issuer.key, MessageDigest::sha256())
        .map_err(crypto)?;
    Ok((b.build(), key))
}

fn openssl_extension_dotted(oid: &str, der: &[u8]) -> Result<X509Extension, SandboxPkiError> {
    let object = Asn1Object::from_str(oid).map_err(crypto)?;
    let value = Asn1OctetString::new_from_bytes(der).map_err(crypto)?;
    X509Extension::new_from_der(&object, false, &value).map_err(crypto)
}

/// Whether an OCSP CertId names a certificate issued by `ca` (issuer name and key hashes,
/// SHA-1 or SHA-256).
fn cert_id_matches(id: &x509_ocsp::CertId, ca: &X509) -> Result<bool, SandboxPkiError> {
    let digest = match id.hash_algorithm.oid.to_string().as_str() {
        SHA1 => MessageDigest::sha1(),
        SHA256 => MessageDigest::sha256(),
        _ => return Ok(false),
    };
    let name_der = ca.subject_name().to_der().map_err(crypto)?;
    let cert = x509_cert::Certificate::from_der(&ca.to_der().map_err(crypto)?).map_err(crypto)?;
    let key_bits = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let name_hash = hash(digest, &name_der).map_err(crypto)?;
    let key_hash = hash(digest, &key_bits).map_err(crypto)?;
    Ok(id.issuer_name_hash.as_bytes() == &name_hash[..]
        && id.issuer_key_hash.as_bytes() == &key_hash[..])
}

fn cert_serial(cert: &X509) -> Option<String> {
    let bn = cert.serial_number().to_bn().ok()?;
    Some(hex::encode(bn.to_vec()))
}

/// Signs a BasicOCSPResponse with `key` (ECDSA P-256, SHA-256) and wraps it.
fn sign_response(
    responses: Vec<SingleResponse>,
    nonce: Option<Vec<u8>>,
    signer: &X509,
    key: &PKey<Private>,
    include_cert: bool,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, SandboxPkiError> {
    let signer_cert =
        x509_cert::Certificate::from_der(&signer.to_der().map_err(crypto)?).map_err(crypto)?;
    let response_extensions = match nonce {
        Some(n) => {
            let nonce = x509_ocsp::ext::Nonce(OctetString::new(n).map_err(crypto)?);
            Some(vec![x509_cert::ext::Extension {
                extn_id: der::asn1::ObjectIdentifier::new_unwrap(ID_PKIX_OCSP_NONCE),
                critical: false,
                extn_value: OctetString::new(nonce.to_der().map_err(crypto)?).map_err(crypto)?,
            }])
        }
        None => None,
    };
    let tbs = ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByName(signer_cert.tbs_certificate.subject.clone()),
        produced_at: ocsp_time(now)?,
        responses,
        response_extensions,
    };
    let tbs_der = tbs.to_der().map_err(crypto)?;
    let mut signer_ctx = Signer::new(MessageDigest::sha256(), key).map_err(crypto)?;
    let signature = signer_ctx.sign_oneshot_to_vec(&tbs_der).map_err(crypto)?;
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: x509_cert::spki::AlgorithmIdentifierOwned {
            oid: der::asn1::ObjectIdentifier::new_unwrap(ECDSA_WITH_SHA256),
            parameters: None,
        },
        signature: BitString::from_bytes(&signature).map_err(crypto)?,
        certs: include_cert.then(|| vec![signer_cert]),
    };
    OcspResponse::successful(basic)
        .and_then(|r| r.to_der())
        .map_err(crypto)
}

fn asn1_time(t: DateTime<Utc>) -> Result<Asn1Time, SandboxPkiError> {
    Asn1Time::from_unix(t.timestamp() as _).map_err(crypto)
}

fn offset_time(t: DateTime<Utc>) -> Result<time::OffsetDateTime, SandboxPkiError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(crypto)
}

fn ocsp_time(t: DateTime<Utc>) -> Result<OcspGeneralizedTime, SandboxPkiError> {
    let secs = u64::try_from(t.timestamp()).map_err(crypto)?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(crypto)
}

const ISSUED_FILE: &str = "issued.json";

fn read_issued(dir: &Path) -> Result<HashMap<String, Record>, SandboxPkiError> {
    let path = dir.join(ISSUED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| SandboxPkiError::Io(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(e) => Err(SandboxPkiError::Io(format!("{}: {e}", path.display()))),
    }
}

/// Rewrites the register of issued certificates (small: a sandbox), through a temporary file
/// so a crash never leaves half a file.
fn write_issued(dir: &Path, issued: &HashMap<String, Record>) -> Result<(), SandboxPkiError> {
    let path = dir.join(ISSUED_FILE);
    let tmp = dir.join(format!("{ISSUED_FILE}.tmp"));
    let json = serde_json::to_vec(issued).map_err(crypto)?;
    std::fs::write(&tmp, json)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| SandboxPkiError::Io(format!("{}: {e}", path.display())))
}

/// A CA key, readable by its owner only.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> Result<(), SandboxPkiError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .and_then(|mut f| f.write_all(content))
        .map_err(|e| SandboxPkiError::Io(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::testing::test_http_client;
    use crate::config::PkiConfig;
    use crate::pki::{Pki, PkiError};

    fn open(dir: &Path) -> SandboxPki {
        SandboxPki::open(dir, "http://localhost:1", Clock::system()).expect("sandbox PKI")
    }

    #[test]
    fn the_cas_and_what_they_issued_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path());
        let roots = first.anchors();
        assert_eq!(roots.len(), 2);
        let issued = first
            .issue(&IssueRequest {
                uids: vec!["CCCD:001099000123".into()],
                ..IssueRequest::default()
            })
            .unwrap();
        drop(first);
        let again = open(dir.path());
        assert_eq!(again.anchors(), roots);
        // The register came back: the serial is known, so it can be revoked.
        again.revoke(&issued.serial).unwrap();
        assert!(matches!(
            again.revoke("00ff"),
            Err(SandboxPkiError::NotFound)
        ));
        // A fresh directory is a fresh PKI.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(open(other.path()).anchors(), roots);
    }

    #[test]
    fn configured_anchor_files_are_read_and_bad_ones_refuse_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = open(&dir.path().join("pki"));
        let root = sandbox.ca_certificate("public-root").unwrap();
        let pem = X509::from_der(&root).unwrap().to_pem().unwrap();
        let file = dir.path().join("roots.pem");
        std::fs::write(&file, &pem).unwrap();
        let cfg = PkiConfig {
            public_anchors: vec![file.clone()],
            government_anchors: vec![file.clone()],
            ..PkiConfig::default()
        };
        let pki = Pki::new(&cfg, test_http_client(), &[]).unwrap();
        assert_eq!(pki.anchor_count(TrustSet::Public), 1);
        assert_eq!(pki.anchor_count(TrustSet::Government), 1);

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        for bad in [dir.path().join("missing.pem"), junk] {
            let cfg = PkiConfig {
                public_anchors: vec![bad],
                ..PkiConfig::default()
            };
            assert!(matches!(
                Pki::new(&cfg, test_http_client(), &[]),
                Err(PkiError::Config(_))
            ));
        }
    }

    /// A cheap complement to `fuzz/` that runs with the suite: thousands of mutations of real
    /// inputs (byte flips, truncations) through the same entry points; errors, never panics.
    #[tokio::test]
    async fn mutated_cms_certificates_and_ocsp_answers_are_errors_never_panics() {
        use crate::pki::{cms, parse_certificate, path::Anchors, revocation};
        let dir = tempfile::tempdir().unwrap();
        let sandbox = open(dir.path());
        let issued = sandbox
            .issue(&IssueRequest {
                uids: vec!["CCCD:001099000123".into()],
                ..IssueRequest::default()
            })
            .unwrap();
        let cert = X509::from_der(&issued.certificate_der).unwrap();
        let key = PKey::private_key_from_pkcs8(&issued.private_key_pkcs8_der).unwrap();
        let ca = X509::from_der(&issued.chain_der[0]).unwrap();
        let mut certs = openssl::stack::Stack::new().unwrap();
        certs.push(ca.clone()).unwrap();
        let cms_der = openssl::cms::CmsContentInfo::sign(
            Some(&cert),
            Some(&key),
            Some(&certs),
            Some(b"content"),
            openssl::cms::CMSOptions::BINARY,
        )
        .unwrap()
        .to_der()
        .unwrap();
        let request = revocation::ocsp_request(&cert, &ca, b"0123456789abcdef").unwrap();
        let answer = sandbox
            .ocsp("public-ca", &request.der)
            .await
            .unwrap()
            .unwrap();
        let mut anchors = Anchors::default();
        for (set, der) in sandbox.anchors() {
            anchors.add(set, X509::from_der(&der).unwrap());
        }
        let now = Clock::system().now();
        let expected = revocation::Expected {
            cert_id: &request.cert_id,
            nonce: b"0123456789abcdef",
            max_age_without_nonce: chrono::Duration::seconds(300),
        };
        // The unmutated inputs pass, so the mutations exercise the real paths.
        let parsed = cms::parse(&cms_der).unwrap();
        assert!(cms::verify_signature(&cms_der, &parsed, None).is_ok());
        assert!(
            revocation::verify_ocsp_response(&answer, &expected, &ca, &[], &anchors, now).is_ok()
        );
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..1500 {
            for original in [&cms_der, &issued.certificate_der, &answer] {
                let mut input = original.clone();
                if round % 5 == 0 {
                    input.truncate((next() as usize) % input.len());
                } else {
                    for _ in 0..(1 + next() % 4) {
                        let at = (next() as usize) % input.len();
                        input[at] = next() as u8;
                    }
                }
                if let Ok(parsed) = cms::parse(&input) {
                    let _ = cms::verify_signature(&input, &parsed, None);
                    let _ = cms::verify_signature(&input, &parsed, Some(b"content"));
                }
                if let Ok((c, subject)) = parse_certificate(&input) {
                    let _ = crate::pki::classify(&subject, TrustSet::Public);
                    let _ = crate::pki::path::check_signing_key_usage(&c);
                }
                let _ =
                    revocation::verify_ocsp_response(&input, &expected, &ca, &[], &anchors, now);
            }
        }
    }
}
