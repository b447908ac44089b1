//! CMS SignedData (RFC 5652), attached or detached.
//!
//! The structure is read with the RustCrypto `cms` types (the `openssl` crate does not expose
//! the signer infos): exactly one signer, its certificate inside the CMS, algorithms we
//! accept, the content where it should be. The signature is then OpenSSL's `CMS_verify` with
//! `NO_SIGNER_CERT_VERIFY`: the signer's path is validated separately by [`super::path`], at
//! the time of use and without CMS's S/MIME purpose check (tokens' certificates lack it).

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::x509::X509;

use super::PkiError;

const ID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const ID_DATA: &str = "1.2.840.113549.1.7.1";

/// Digests a signer may use: SHA-256, SHA-384, SHA-512 (never SHA-1 or MD5).
const DIGESTS: [&str; 3] = [
    "2.16.840.1.101.3.4.2.1",
    "2.16.840.1.101.3.4.2.2",
    "2.16.840.1.101.3.4.2.3",
];

/// Signature algorithms: RSA PKCS#1 v1.5 (as rsaEncryption or sha*WithRSAEncryption),
/// RSASSA-PSS, ECDSA with SHA-2 (some signers write id-ecPublicKey).
const SIGNATURES: [&str; 9] = [
    "1.2.840.113549.1.1.1",
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    "1.2.840.113549.1.1.10",
    "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3",
    "1.2.840.10045.4.3.4",
    "1.2.840.10045.2.1",
];

/// A SignedData whose structure we accept: the signer's certificate, the other certificates
/// it carries (candidate intermediates), whether the content is inside.
pub struct Parsed {
    pub signer: X509,
    pub others: Vec<X509>,
    pub attached: bool,
}

/// Reads the structure (the fuzzing entry point for CMS).
pub fn parse(cms_der: &[u8]) -> Result<Parsed, PkiError> {
    let info = ContentInfo::from_der(cms_der).map_err(|_| PkiError::Malformed)?;
    if info.content_type != oid(ID_SIGNED_DATA) {
        return Err(PkiError::Malformed);
    }
    let signed: SignedData = info.content.decode_as().map_err(|_| PkiError::Malformed)?;
    if signed.encap_content_info.econtent_type != oid(ID_DATA) {
        return Err(PkiError::Malformed);
    }
    let mut signers = signed.signer_infos.0.iter();
    let (Some(signer_info), None) = (signers.next(), signers.next()) else {
        // Zero or several signers: whose identity would it be?
        return Err(PkiError::Malformed);
    };
    let digest = signer_info.digest_alg.oid.to_string();
    let signature = signer_info.signature_algorithm.oid.to_string();
    if !DIGESTS.contains(&digest.as_str()) || !SIGNATURES.contains(&signature.as_str()) {
        return Err(PkiError::UnsupportedAlgorithm);
    }
    let mut certs = Vec::new();
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let CertificateChoices::Certificate(cert) = choice {
            certs.push(cert);
        }
    }
    let position = certs
        .iter()
        .position(|c| match &signer_info.sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => {
                c.tbs_certificate.issuer == id.issuer
                    && c.tbs_certificate.serial_number == id.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => to_openssl(c)
                .ok()
                .and_then(|x| x.subject_key_id().map(|k| k.as_slice() == ski.0.as_bytes()))
                .unwrap_or(false),
        })
        // The signer's certificate must travel with the signature.
        .ok_or(PkiError::Malformed)?;
    let signer = to_openssl(certs[position])?;
    let others = certs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != position)
        .map(|(_, c)| to_openssl(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed {
        signer,
        others,
        attached: signed.encap_content_info.econtent.is_some(),
    })
}

/// Verifies the signature of one signer and returns the signed content.
pub fn verify_signature(
    cms_der: &[u8],
    parsed: &Parsed,
    detached: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    match (parsed.attached, detached) {
        (true, None) | (false, Some(_)) => {}
        // Content both inside and beside, or nowhere: which one was meant?
        _ => return Err(PkiError::Malformed),
    }
    let mut cms = CmsContentInfo::from_der(cms_der).map_err(|_| PkiError::Malformed)?;
    let mut content = Vec::new();
    cms.verify(
        None,
        None,
        detached,
        Some(&mut content),
        CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    )
    .map_err(|_| PkiError::BadSignature)?;
    Ok(match detached {
        Some(d) => d.to_vec(),
        None => content,
    })
}

fn to_openssl(cert: &x509_cert::Certificate) -> Result<X509, PkiError> {
    let der = cert.to_der().map_err(|_| PkiError::Malformed)?;
    X509::from_der(&der).map_err(|_| PkiError::Malformed)
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}
