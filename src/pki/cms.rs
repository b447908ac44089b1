//! CMS SignedData (RFC 5652), attached or detached.
//!
//! The structure is read with the RustCrypto `cms` types (the `openssl` crate does not expose
//! the signer infos): exactly one signer, its certificate inside the CMS, algorithms we
//! accept, the content where it should be. The signature is then OpenSSL's `CMS_verify` with
//! `NO_SIGNER_CERT_VERIFY`: the signer's path is validated separately by [`super::path`], at
//! the time of use and without CMS's S/MIME purpose check (tokens' certificates lack it).
//!
//! OpenSSL verifies RSASSA-PSS with whatever parameters the signer wrote, SHA-1 included, so
//! [`check_pss_params`] reads them first: the hash SHA-256/384/512, MGF1 with that same hash,
//! a salt of at least 20 bytes that fits the key, the standard trailer.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Reader, TagMode, TagNumber};
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

const ID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const ID_MGF1: &str = "1.2.840.113549.1.1.8";
/// The smallest PSS salt accepted, in bytes: RFC 8017's default. Shorter (down to none, a
/// deterministic signature) weakens the scheme's security proof for no gain.
const MIN_PSS_SALT: u32 = 20;

/// Signature algorithms: RSA PKCS#1 v1.5 (as rsaEncryption or sha*WithRSAEncryption),
/// RSASSA-PSS, ECDSA with SHA-2 (some signers write id-ecPublicKey).
const SIGNATURES: [&str; 9] = [
    "1.2.840.113549.1.1.1",
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    ID_RSASSA_PSS,
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
    if signature == ID_RSASSA_PSS {
        let der = signer_info
            .signature_algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.to_der().ok())
            // id-RSASSA-PSS without parameters would mean SHA-1 throughout.
            .ok_or(PkiError::PssParameters("no parameters (SHA-1 defaults)"))?;
        let bits = signer
            .public_key()
            .and_then(|k| k.rsa())
            .map_err(|_| PkiError::UnsupportedAlgorithm)?
            .n()
            .num_bits();
        check_pss_params(&der, bits as u32)?;
    }
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

/// Checks DER RSASSA-PSS-params (RFC 8017 A.2.3; absent fields mean SHA-1, MGF1-SHA-1, a
/// 20-byte salt) for a key of `key_bits`.
pub fn check_pss_params(der: &[u8], key_bits: u32) -> Result<(), PkiError> {
    use x509_cert::spki::AlgorithmIdentifierOwned;
    let (hash, mgf, salt, trailer) = der::SliceReader::new(der)
        .and_then(|mut r| {
            let fields = r.sequence(|r| {
                let hash: Option<AlgorithmIdentifierOwned> =
                    r.context_specific(TagNumber::N0, TagMode::Explicit)?;
                let mgf: Option<AlgorithmIdentifierOwned> =
                    r.context_specific(TagNumber::N1, TagMode::Explicit)?;
                let salt: Option<u32> = r.context_specific(TagNumber::N2, TagMode::Explicit)?;
                let trailer: Option<u32> = r.context_specific(TagNumber::N3, TagMode::Explicit)?;
                Ok((hash, mgf, salt, trailer))
            })?;
            r.finish(fields)
        })
        .map_err(|_| PkiError::Malformed)?;
    let hash = hash.ok_or(PkiError::PssParameters("SHA-1 hash (the default)"))?;
    let hash_len = match DIGESTS.iter().position(|d| oid(d) == hash.oid) {
        Some(0) => 32,
        Some(1) => 48,
        Some(_) => 64,
        None => return Err(PkiError::PssParameters("hash other than SHA-256/384/512")),
    };
    let mgf = mgf.ok_or(PkiError::PssParameters("MGF1 with SHA-1 (the default)"))?;
    if mgf.oid != oid(ID_MGF1) {
        return Err(PkiError::PssParameters("mask generation other than MGF1"));
    }
    let mgf_hash = mgf
        .parameters
        .as_ref()
        .and_then(|p| p.to_der().ok())
        .and_then(|d| AlgorithmIdentifierOwned::from_der(&d).ok())
        .ok_or(PkiError::Malformed)?;
    if mgf_hash.oid != hash.oid {
        return Err(PkiError::PssParameters(
            "MGF1 hash differs from the signature hash",
        ));
    }
    let salt = salt.unwrap_or(20);
    // EMSA-PSS (RFC 8017 9.1.1): emLen = ⌈(modBits − 1) / 8⌉ ≥ hLen + sLen + 2.
    let em_len = key_bits.saturating_sub(1).div_ceil(8);
    if salt < MIN_PSS_SALT || salt + hash_len + 2 > em_len {
        return Err(PkiError::PssParameters("salt length"));
    }
    if trailer.unwrap_or(1) != 1 {
        return Err(PkiError::PssParameters("trailer field other than 0xBC"));
    }
    Ok(())
}

fn to_openssl(cert: &x509_cert::Certificate) -> Result<X509, PkiError> {
    let der = cert.to_der().map_err(|_| PkiError::Malformed)?;
    X509::from_der(&der).map_err(|_| PkiError::Malformed)
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RSASSA-PSS-params for `hash` / MGF1 `mgf_hash` (DER OIDs' dotted form) and `salt`.
    fn params(hash: &str, mgf_hash: &str, salt: u8) -> Vec<u8> {
        use x509_cert::spki::AlgorithmIdentifierOwned;
        let alg = |o: &str| AlgorithmIdentifierOwned {
            oid: oid(o),
            parameters: Some(der::asn1::Null.into()),
        };
        let wrap = |tag: u8, inner: Vec<u8>| {
            let mut v = vec![0xa0 | tag, inner.len() as u8];
            v.extend(inner);
            v
        };
        let mgf = AlgorithmIdentifierOwned {
            oid: oid(ID_MGF1),
            parameters: Some(der::Any::encode_from(&alg(mgf_hash)).unwrap()),
        };
        let mut body = wrap(0, alg(hash).to_der().unwrap());
        body.extend(wrap(1, mgf.to_der().unwrap()));
        body.extend(wrap(2, vec![0x02, 0x01, salt]));
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    const SHA1: &str = "1.3.14.3.2.26";
    const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    const SHA512: &str = "2.16.840.1.101.3.4.2.3";

    #[test]
    fn pss_parameters_are_sha2_with_the_same_mgf1_hash_and_a_sane_salt() {
        assert_eq!(check_pss_params(&params(SHA256, SHA256, 32), 2048), Ok(()));
        assert_eq!(check_pss_params(&params(SHA512, SHA512, 64), 2048), Ok(()));
        // All defaults: SHA-1 throughout.
        assert!(matches!(
            check_pss_params(&[0x30, 0x00], 2048),
            Err(PkiError::PssParameters(_))
        ));
        for (hash, mgf, salt) in [
            (SHA1, SHA1, 20),
            (SHA256, SHA1, 32),
            (SHA256, SHA512, 32),
            (SHA256, SHA256, 0),
            (SHA256, SHA256, 19),
        ] {
            assert!(
                matches!(
                    check_pss_params(&params(hash, mgf, salt), 2048),
                    Err(PkiError::PssParameters(_))
                ),
                "{hash} {mgf} {salt}"
            );
        }
        // A salt larger than a 512-bit key can hold.
        assert!(matches!(
            check_pss_params(&params(SHA256, SHA256, 40), 512),
            Err(PkiError::PssParameters(_))
        ));
        assert_eq!(
            check_pss_params(b"\x30\x03\x02\x01", 2048),
            Err(PkiError::Malformed)
        );
    }
}
