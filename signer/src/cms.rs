//! The CMS SignedData the agent returns: RustCrypto's `cms` builder around a token-backed
//! signer. Detached (the server knows what was signed), with the signer's certificate and the
//! signed attributes content-type and message-digest.

use std::cell::RefCell;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::CertificateChoices;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{BitString, Null};
use der::{Any, Decode, Encode};
use sha2::{Digest, Sha256};
use spki::{
    AlgorithmIdentifierOwned, Document, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding,
};
use x509_cert::Certificate;

use crate::error::AgentError;
use crate::token::{KeyKind, TokenKey, public_key_der};

/// A detached SignedData over `content`, signed by `key` for `certificate_der`, carrying the
/// certificate and its `chain` (issuer first).
pub fn sign_detached(
    certificate_der: &[u8],
    chain: &[Vec<u8>],
    content: &[u8],
    key: &TokenKey<'_>,
) -> Result<Vec<u8>, AgentError> {
    let cms_error = |e: &dyn std::fmt::Display| AgentError::Cms(e.to_string());
    let certificate = Certificate::from_der(certificate_der).map_err(|e| cms_error(&e))?;
    let signer = CmsSigner {
        key,
        public_key: public_key_der(&certificate)?,
        failure: RefCell::new(None),
    };
    let digest = Sha256::digest(content);
    let content_info = EncapsulatedContentInfo {
        econtent_type: rfc5911::ID_DATA,
        econtent: None,
    };
    let sha256 = AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    };
    let signer_info = SignerInfoBuilder::new(
        SignerIdentifier::from(&certificate),
        sha256.clone(),
        &content_info,
        Some(&digest),
    )
    .map_err(|e| cms_error(&e))?;
    let mut builder = SignedDataBuilder::new(&content_info);
    builder
        .add_digest_algorithm(sha256)
        .and_then(|b| b.add_certificate(CertificateChoices::Certificate(certificate)))
        .map_err(|e| cms_error(&e))?;
    for der in chain {
        let issuer = Certificate::from_der(der).map_err(|e| cms_error(&e))?;
        builder
            .add_certificate(CertificateChoices::Certificate(issuer))
            .map_err(|e| cms_error(&e))?;
    }
    let built = builder
        .add_signer_info::<_, TokenSignature>(signer_info, &signer)
        .and_then(|b| b.build());
    match built {
        Ok(content_info) => content_info.to_der().map_err(|e| cms_error(&e)),
        // The token's own error (a PIN that expired meanwhile, a removed token) wins.
        Err(e) => Err(signer.failure.take().unwrap_or_else(|| cms_error(&e))),
    }
}

/// The token key as the builder's signer.
struct CmsSigner<'a, 's> {
    key: &'a TokenKey<'s>,
    public_key: Vec<u8>,
    /// Why the token refused, kept for the caller (the `signature` error carries no source).
    failure: RefCell<Option<AgentError>>,
}

/// A signature as the token made it (DER for ECDSA).
struct TokenSignature(Vec<u8>);

impl SignatureBitStringEncoding for TokenSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// The signer's public key (from its certificate), which the builder asks for.
#[derive(Clone)]
struct PublicKey(Vec<u8>);

impl EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> spki::Result<Document> {
        Ok(Document::try_from(self.0.as_slice())?)
    }
}

impl signature::Keypair for CmsSigner<'_, '_> {
    type VerifyingKey = PublicKey;

    fn verifying_key(&self) -> PublicKey {
        PublicKey(self.public_key.clone())
    }
}

impl DynSignatureAlgorithmIdentifier for CmsSigner<'_, '_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(match self.key.kind() {
            KeyKind::EcP256 => AlgorithmIdentifierOwned {
                oid: rfc5912::ECDSA_WITH_SHA_256,
                parameters: None,
            },
            KeyKind::Rsa => AlgorithmIdentifierOwned {
                oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(Any::from(Null)),
            },
        })
    }
}

impl signature::Signer<TokenSignature> for CmsSigner<'_, '_> {
    fn try_sign(&self, message: &[u8]) -> Result<TokenSignature, signature::Error> {
        self.key.sign(message).map(TokenSignature).map_err(|e| {
            *self.failure.borrow_mut() = Some(e);
            signature::Error::new()
        })
    }
}
