//! The tokens, through any PKCS#11 module (`cryptoki`): which are plugged in, which certificates
//! they hold, and a signature by the private key that goes with a certificate (the key with the
//! certificate's `CKA_ID`), after logging in with the PIN.
//!
//! Calls block (a token may take a second per signature): callers run them on a blocking thread.

use std::path::Path;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use der::{Decode, Encode};
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, SubjectKeyIdentifier};

use crate::error::AgentError;

/// An opened PKCS#11 module.
pub struct Tokens {
    pkcs11: Pkcs11,
}

/// A token that is plugged in.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub slot: u64,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
}

/// The key algorithms the agent signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256.
    EcP256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa,
}

/// A certificate on a token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenCertificate {
    /// SHA-256 of the certificate's DER, lower-case hex: how the page names it.
    pub id: String,
    pub token: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub key: KeyKind,
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Its issuers' certificates found on the token, issuer first (DER).
    #[serde(skip)]
    pub chain: Vec<Vec<u8>>,
    #[serde(skip)]
    slot: Slot,
    /// `CKA_ID`, shared by the certificate and its private key.
    #[serde(skip)]
    object_id: Vec<u8>,
}

fn token_error(e: Pkcs11Error) -> AgentError {
    match e {
        Pkcs11Error::Pkcs11(RvError::TokenNotPresent | RvError::DeviceRemoved, _) => {
            AgentError::NoToken
        }
        Pkcs11Error::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _) => {
            AgentError::PinIncorrect
        }
        Pkcs11Error::Pkcs11(RvError::PinLocked, _) => AgentError::PinLocked,
        other => AgentError::Token(other.to_string()),
    }
}

impl Tokens {
    /// Loads and initialises the module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub fn open(module: &Path) -> Result<Self, AgentError> {
        // Modules are process-wide: two agents in one process (tests) load it one at a time.
        static LOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = LOADING.lock().unwrap_or_else(|e| e.into_inner());
        let pkcs11 = Pkcs11::new(module)
            .map_err(|e| AgentError::Token(format!("cannot load {}: {e}", module.display())))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Another agent in this process (tests) initialised the same module: share it.
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(token_error(e)),
        }
        Ok(Self { pkcs11 })
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AgentError> {
        let slots = self
            .pkcs11
            .get_slots_with_initialized_token()
            .map_err(token_error)?;
        slots
            .into_iter()
            .map(|slot| {
                let info = self.pkcs11.get_token_info(slot).map_err(token_error)?;
                Ok(TokenInfo {
                    slot: slot.id(),
                    label: info.label().trim().to_string(),
                    manufacturer: info.manufacturer_id().trim().to_string(),
                    model: info.model().trim().to_string(),
                    serial: info.serial_number().trim().to_string(),
                })
            })
            .collect()
    }

    /// The end-entity certificates on every token, whose key the agent can use (CA certificates
    /// that vendors store beside them are left out).
    pub fn certificates(&self) -> Result<Vec<TokenCertificate>, AgentError> {
        let mut found = Vec::new();
        for slot in self
            .pkcs11
            .get_slots_with_initialized_token()
            .map_err(token_error)?
        {
            let label = self
                .pkcs11
                .get_token_info(slot)
                .map_err(token_error)?
                .label()
                .trim()
                .to_string();
            let session = self.pkcs11.open_ro_session(slot).map_err(token_error)?;
            let handles = session
                .find_objects(&[
                    Attribute::Class(ObjectClass::CERTIFICATE),
                    Attribute::CertificateType(CertificateType::X_509),
                ])
                .map_err(token_error)?;
            let mut on_token = Vec::new();
            for handle in handles {
                let attributes = session
                    .get_attributes(handle, &[AttributeType::Value, AttributeType::Id])
                    .map_err(token_error)?;
                let (mut der, mut object_id) = (Vec::new(), Vec::new());
                for attribute in attributes {
                    match attribute {
                        Attribute::Value(v) => der = v,
                        Attribute::Id(v) => object_id = v,
                        _ => {}
                    }
                }
                if let Ok(cert) = Certificate::from_der(&der) {
                    on_token.push((cert, der, object_id));
                }
            }
            let authorities: Vec<&(Certificate, Vec<u8>, Vec<u8>)> =
                on_token.iter().filter(|(c, _, _)| is_ca(c)).collect();
            for (cert, der, object_id) in on_token.iter().filter(|(c, _, _)| !is_ca(c)) {
                if let Some(mut c) = describe(slot, &label, cert, der, object_id) {
                    c.chain = chain_of(cert, &authorities);
                    found.push(c);
                }
            }
        }
        Ok(found)
    }

    /// The certificate named `id`, or why there is none.
    pub fn find(&self, id: &str) -> Result<TokenCertificate, AgentError> {
        if self
            .pkcs11
            .get_slots_with_initialized_token()
            .map_err(token_error)?
            .is_empty()
        {
            return Err(AgentError::NoToken);
        }
        let all = self.certificates()?;
        if all.is_empty() {
            return Err(AgentError::NoCertificate);
        }
        all.into_iter()
            .find(|c| c.id == id)
            .ok_or(AgentError::UnknownCertificate)
    }

    /// Logs in to the certificate's token with `pin` and hands `sign` the certificate's private
    /// key; logs out afterwards.
    pub fn with_key<T>(
        &self,
        certificate: &TokenCertificate,
        pin: &SecretString,
        sign: impl FnOnce(&TokenKey<'_>) -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        let session = self
            .pkcs11
            .open_ro_session(certificate.slot)
            .map_err(token_error)?;
        match session.login(UserType::User, Some(pin)) {
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(token_error(e)),
        }
        let result = self.sign_in(&session, certificate, sign);
        // The session closes on drop, which logs out too; this just says it first.
        let _ = session.logout();
        result
    }

    fn sign_in<T>(
        &self,
        session: &Session,
        certificate: &TokenCertificate,
        sign: impl FnOnce(&TokenKey<'_>) -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        let keys = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(certificate.object_id.clone()),
            ])
            .map_err(token_error)?;
        let handle = *keys.first().ok_or(AgentError::NoCertificate)?;
        let key_type = session
            .get_attributes(handle, &[AttributeType::KeyType])
            .map_err(token_error)?;
        let matches = key_type.iter().any(|a| match (a, certificate.key) {
            (Attribute::KeyType(t), KeyKind::EcP256) => *t == KeyType::EC,
            (Attribute::KeyType(t), KeyKind::Rsa) => *t == KeyType::RSA,
            _ => false,
        });
        if !matches {
            return Err(AgentError::UnsupportedKey);
        }
        sign(&TokenKey {
            session,
            handle,
            kind: certificate.key,
        })
    }
}

/// A private key on a token, logged in.
pub struct TokenKey<'s> {
    session: &'s Session,
    handle: ObjectHandle,
    kind: KeyKind,
}

impl TokenKey<'_> {
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Signs `message` with SHA-256: ECDSA as DER (the token answers raw r‖s), RSA as PKCS#1
    /// v1.5 (the token hashes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        match self.kind {
            KeyKind::EcP256 => {
                // CKM_ECDSA signs a hash computed here: more tokens have it than CKM_ECDSA_SHA256.
                let digest = Sha256::digest(message);
                let raw = self
                    .session
                    .sign(&Mechanism::Ecdsa, self.handle, &digest)
                    .map_err(token_error)?;
                let signature = p256::ecdsa::Signature::from_slice(&raw).map_err(|_| {
                    AgentError::Token("the token's ECDSA signature is not P-256".into())
                })?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            KeyKind::Rsa => self
                .session
                .sign(&Mechanism::Sha256RsaPkcs, self.handle, message)
                .map_err(token_error),
        }
    }
}

/// A certificate found on a token, if it is an end-entity certificate with a key we sign with.
fn is_ca(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .get_extension::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, bc)| bc.ca)
}

/// The issuers of `cert` among the CA certificates on its token, issuer first (the vendors
/// store the chain on the token; the server needs the intermediates). An issuer is the CA whose
/// subject is the certificate's issuer and, when the certificate names its authority key
/// identifier, whose subject key identifier is that one (CAs of the same name, e.g. renewed
/// ones, are told apart).
fn chain_of(cert: &Certificate, authorities: &[&(Certificate, Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut chain: Vec<Vec<u8>> = Vec::new();
    let mut child = cert;
    // A bound keeps a loop of cross-signed names from running forever.
    for _ in 0..8 {
        let wanted = authority_key_id(child);
        let Some((ca, der, _)) = authorities.iter().find(|(ca, der, _)| {
            ca.tbs_certificate().subject() == child.tbs_certificate().issuer()
                && wanted
                    .as_ref()
                    .is_none_or(|id| subject_key_id(ca).as_ref() == Some(id))
                && !chain.contains(der)
        }) else {
            break;
        };
        chain.push(der.clone());
        if ca.tbs_certificate().issuer() == ca.tbs_certificate().subject() {
            break;
        }
        child = ca;
    }
    chain
}

fn authority_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let (_, aki) = cert
        .tbs_certificate()
        .get_extension::<AuthorityKeyIdentifier>()
        .ok()??;
    Some(aki.key_identifier?.as_bytes().to_vec())
}

fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let (_, ski) = cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .ok()??;
    Some(ski.0.as_bytes().to_vec())
}

/// An end-entity certificate found on a token, if its key is one we sign with.
fn describe(
    slot: Slot,
    token: &str,
    cert: &Certificate,
    der: &[u8],
    object_id: &[u8],
) -> Option<TokenCertificate> {
    let tbs = cert.tbs_certificate();
    let key = key_kind(cert)?;
    Some(TokenCertificate {
        id: hex::encode(Sha256::digest(der)),
        token: token.to_string(),
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        not_before: tbs.validity().not_before.to_string(),
        not_after: tbs.validity().not_after.to_string(),
        key,
        der: der.to_vec(),
        chain: Vec::new(),
        slot,
        object_id: object_id.to_vec(),
    })
}

fn key_kind(cert: &Certificate) -> Option<KeyKind> {
    use const_oid::db::{rfc5912, rfc5912::ID_EC_PUBLIC_KEY};
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid == rfc5912::RSA_ENCRYPTION {
        return Some(KeyKind::Rsa);
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()?
        .decode_as::<der::asn1::ObjectIdentifier>()
        .ok()?;
    (spki.algorithm.oid == ID_EC_PUBLIC_KEY && curve == rfc5912::SECP_256_R_1)
        .then_some(KeyKind::EcP256)
}

/// The certificate's public key as SPKI DER.
pub fn public_key_der(cert: &Certificate) -> Result<Vec<u8>, AgentError> {
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| AgentError::Cms(e.to_string()))
}
