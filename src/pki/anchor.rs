//! A CA certificate offered as a trust anchor (an admin's upload): the rules it must meet
//! before it joins a trust set, as a pure function of the PEM text and `now`.
//!
//! Exactly one certificate and nothing else (no chain, no private key: a key pasted by
//! mistake is refused, never stored), a CA (basicConstraints `cA` TRUE) allowed to sign
//! certificates (keyCertSign, when the certificate has a keyUsage at all: RFC 5280 lets a CA
//! leave it out), valid at `now`. The extensions are read with the RustCrypto `x509-cert`
//! parser: the `openssl` crate does not expose basicConstraints.

use chrono::{DateTime, Utc};
use der::Decode;
use openssl::hash::MessageDigest;
use openssl::x509::X509;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use super::printable_name;
use super::revocation::asn1_to_utc;

/// Largest PEM text accepted (a CA certificate is a few KiB).
pub const MAX_PEM_BYTES: usize = 16 * 1024;

/// Why an offered certificate cannot be an anchor. Each has a message for the `pem` field
/// ([`AnchorProblem::message_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorProblem {
    Empty,
    TooLarge,
    /// Not a PEM certificate (junk, a broken base64 body, a bare key).
    NotPem,
    /// More than one PEM block: a chain, or a certificate with its key.
    NotOne,
    NotCa,
    NoKeyCertSign,
    Expired,
    NotYetValid,
}

impl AnchorProblem {
    pub fn message_key(self) -> &'static str {
        match self {
            Self::Empty => "admin_trust_pem_empty",
            Self::TooLarge => "admin_trust_pem_too_large",
            Self::NotPem => "admin_trust_pem_not_certificate",
            Self::NotOne => "admin_trust_pem_not_one",
            Self::NotCa => "admin_trust_pem_not_ca",
            Self::NoKeyCertSign => "admin_trust_pem_no_key_cert_sign",
            Self::Expired => "admin_trust_pem_expired",
            Self::NotYetValid => "admin_trust_pem_not_yet_valid",
        }
    }
}

/// A certificate that may be an anchor, with what the list shows of it.
#[derive(Debug, Clone)]
pub struct CaCertificate {
    pub cert: X509,
    /// Re-encoded from the DER: what is stored, whatever surrounded the block in the upload.
    pub pem: String,
    /// Printable subject (`CN=…,O=…,C=VN`).
    pub subject: String,
    /// Hex SHA-256 of the DER.
    pub sha256: String,
    pub not_after: DateTime<Utc>,
}

/// The facts every anchor is listed with, uploaded or configured.
pub fn describe(cert: &X509) -> Option<(String, String, DateTime<Utc>)> {
    let sha256 = cert.digest(MessageDigest::sha256()).ok().map(hex::encode)?;
    let not_after = asn1_to_utc(cert.not_after())?;
    Some((printable_name(cert.subject_name()), sha256, not_after))
}

/// Checks `pem` against the rules above at `now`.
pub fn parse_ca_certificate(pem: &str, now: DateTime<Utc>) -> Result<CaCertificate, AnchorProblem> {
    let text = pem.trim();
    if text.is_empty() {
        return Err(AnchorProblem::Empty);
    }
    if text.len() > MAX_PEM_BYTES {
        return Err(AnchorProblem::TooLarge);
    }
    match text.matches("-----BEGIN ").count() {
        0 => return Err(AnchorProblem::NotPem),
        1 => {}
        _ => return Err(AnchorProblem::NotOne),
    }
    let cert = X509::from_pem(text.as_bytes()).map_err(|_| AnchorProblem::NotPem)?;
    let der = cert.to_der().map_err(|_| AnchorProblem::NotPem)?;
    let parsed = x509_cert::Certificate::from_der(&der).map_err(|_| AnchorProblem::NotPem)?;
    let tbs = &parsed.tbs_certificate;
    let is_ca = tbs
        .get::<BasicConstraints>()
        .map_err(|_| AnchorProblem::NotPem)?
        .is_some_and(|(_, bc)| bc.ca);
    if !is_ca {
        return Err(AnchorProblem::NotCa);
    }
    if let Some((_, usage)) = tbs.get::<KeyUsage>().map_err(|_| AnchorProblem::NotPem)?
        && !usage.0.contains(KeyUsages::KeyCertSign)
    {
        return Err(AnchorProblem::NoKeyCertSign);
    }
    let not_before = asn1_to_utc(cert.not_before()).ok_or(AnchorProblem::NotPem)?;
    let (subject, sha256, not_after) = describe(&cert).ok_or(AnchorProblem::NotPem)?;
    if not_after <= now {
        return Err(AnchorProblem::Expired);
    }
    if not_before > now {
        return Err(AnchorProblem::NotYetValid);
    }
    let pem = cert
        .to_pem()
        .ok()
        .and_then(|p| String::from_utf8(p).ok())
        .ok_or(AnchorProblem::NotPem)?;
    Ok(CaCertificate {
        cert,
        pem,
        subject,
        sha256,
        not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints as Bc, KeyUsage as Ku};
    use openssl::x509::{X509Builder, X509NameBuilder};

    /// A self-signed certificate: `ca` sets basicConstraints, `usage` the keyUsage (none:
    /// no extension), valid from `from` to `to` days around now.
    fn cert(ca: Option<bool>, usage: Option<&[&str]>, from: i64, to: i64) -> String {
        let key = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "Thử nghiệm CA").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let mut serial = BigNum::new().unwrap();
        serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        let now = Utc::now().timestamp();
        b.set_not_before(&Asn1Time::from_unix(now + from * 86400).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(now + to * 86400).unwrap())
            .unwrap();
        if let Some(ca) = ca {
            let mut bc = Bc::new();
            bc.critical();
            if ca {
                bc.ca();
            }
            b.append_extension(bc.build().unwrap()).unwrap();
        }
        if let Some(usage) = usage {
            let mut ku = Ku::new();
            for u in usage {
                match *u {
                    "keyCertSign" => ku.key_cert_sign(),
                    "cRLSign" => ku.crl_sign(),
                    _ => ku.digital_signature(),
                };
            }
            b.append_extension(ku.build().unwrap()).unwrap();
        }
        b.sign(&key, MessageDigest::sha256()).unwrap();
        String::from_utf8(b.build().to_pem().unwrap()).unwrap()
    }

    #[test]
    fn a_ca_that_signs_certificates_and_is_valid_now_is_accepted() {
        let pem = cert(Some(true), Some(&["keyCertSign", "cRLSign"]), -1, 365);
        let ca = parse_ca_certificate(&format!("\n  {pem}\n"), Utc::now()).unwrap();
        assert_eq!(ca.subject, "CN=Thử nghiệm CA");
        assert_eq!(ca.sha256.len(), 64);
        assert_eq!(ca.pem, pem);
        // No keyUsage at all: allowed (RFC 5280 §4.2.1.3 only asks it of CAs that have one).
        assert!(parse_ca_certificate(&cert(Some(true), None, -1, 365), Utc::now()).is_ok());
    }

    #[test]
    fn everything_else_is_refused_with_its_reason() {
        let now = Utc::now();
        let ca = cert(Some(true), Some(&["keyCertSign"]), -1, 365);
        let cases: Vec<(String, AnchorProblem)> = vec![
            ("   ".into(), AnchorProblem::Empty),
            ("not a certificate".into(), AnchorProblem::NotPem),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into(),
                AnchorProblem::NotPem,
            ),
            (format!("{ca}{ca}"), AnchorProblem::NotOne),
            ("x".repeat(MAX_PEM_BYTES + 1), AnchorProblem::TooLarge),
            (
                cert(None, Some(&["digitalSignature"]), -1, 365),
                AnchorProblem::NotCa,
            ),
            (cert(Some(false), None, -1, 365), AnchorProblem::NotCa),
            (
                cert(Some(true), Some(&["digitalSignature"]), -1, 365),
                AnchorProblem::NoKeyCertSign,
            ),
            (cert(Some(true), None, -30, -1), AnchorProblem::Expired),
            (cert(Some(true), None, 1, 30), AnchorProblem::NotYetValid),
        ];
        for (pem, problem) in cases {
            assert_eq!(
                parse_ca_certificate(&pem, now).err(),
                Some(problem),
                "{}",
                pem.get(..60).unwrap_or(&pem)
            );
        }
        // A private key pasted with the certificate: refused, so it is never stored.
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            parse_ca_certificate(&format!("{ca}{key}"), now).err(),
            Some(AnchorProblem::NotOne)
        );
    }
}
