//! A raw signature over a digest (CSC `signatures/signHash`): OpenSSL's `EVP_PKEY_verify`
//! with the digest named, so the digest is not hashed again.

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sign::RsaPssSaltlen;

use super::{PkiError, SignatureAlg};

enum Family {
    RsaPkcs1,
    RsaPss,
    Ecdsa,
}

impl SignatureAlg {
    fn parts(self) -> (Family, MessageDigest) {
        match self {
            Self::RsaPkcs1Sha256 => (Family::RsaPkcs1, MessageDigest::sha256()),
            Self::RsaPkcs1Sha384 => (Family::RsaPkcs1, MessageDigest::sha384()),
            Self::RsaPkcs1Sha512 => (Family::RsaPkcs1, MessageDigest::sha512()),
            Self::RsaPssSha256 => (Family::RsaPss, MessageDigest::sha256()),
            Self::EcdsaSha256 => (Family::Ecdsa, MessageDigest::sha256()),
            Self::EcdsaSha384 => (Family::Ecdsa, MessageDigest::sha384()),
        }
    }

    /// The CSC / JOSE-style OID of the algorithm, for connectors that receive one.
    pub fn from_oid(oid: &str) -> Option<SignatureAlg> {
        match oid {
            "1.2.840.113549.1.1.11" => Some(Self::RsaPkcs1Sha256),
            "1.2.840.113549.1.1.12" => Some(Self::RsaPkcs1Sha384),
            "1.2.840.113549.1.1.13" => Some(Self::RsaPkcs1Sha512),
            "1.2.840.113549.1.1.10" => Some(Self::RsaPssSha256),
            "1.2.840.10045.4.3.2" => Some(Self::EcdsaSha256),
            "1.2.840.10045.4.3.3" => Some(Self::EcdsaSha384),
            _ => None,
        }
    }
}

/// Checks `signature` over `digest` with `key`.
pub fn verify(
    key: &PKey<Public>,
    digest: &[u8],
    alg: SignatureAlg,
    signature: &[u8],
) -> Result<(), PkiError> {
    let (family, md) = alg.parts();
    if digest.len() != md.size() {
        return Err(PkiError::Malformed);
    }
    let key_is_rsa = matches!(key.id(), Id::RSA | Id::RSA_PSS);
    let signature = match family {
        Family::RsaPkcs1 | Family::RsaPss if key_is_rsa => signature.to_vec(),
        Family::Ecdsa if key.id() == Id::EC => ecdsa_der(key, signature)?,
        _ => return Err(PkiError::UnsupportedAlgorithm),
    };
    let bad = |_| PkiError::BadSignature;
    let mut ctx = PkeyCtx::new(key).map_err(bad)?;
    ctx.verify_init().map_err(bad)?;
    match family {
        Family::RsaPkcs1 => ctx.set_rsa_padding(Padding::PKCS1).map_err(bad)?,
        Family::RsaPss => {
            ctx.set_rsa_padding(Padding::PKCS1_PSS).map_err(bad)?;
            // Salt as long as the digest (CSC, the usual signers); OpenSSL also accepts it
            // recovered from the signature with "auto", which we do not need.
            ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .map_err(bad)?;
            ctx.set_rsa_mgf1_md(md_ref(alg)).map_err(bad)?;
        }
        Family::Ecdsa => {}
    }
    ctx.set_signature_md(md_ref(alg)).map_err(bad)?;
    match ctx.verify(digest, &signature) {
        Ok(true) => Ok(()),
        _ => Err(PkiError::BadSignature),
    }
}

fn md_ref(alg: SignatureAlg) -> &'static openssl::md::MdRef {
    match alg {
        SignatureAlg::RsaPkcs1Sha256 | SignatureAlg::RsaPssSha256 | SignatureAlg::EcdsaSha256 => {
            openssl::md::Md::sha256()
        }
        SignatureAlg::RsaPkcs1Sha384 | SignatureAlg::EcdsaSha384 => openssl::md::Md::sha384(),
        SignatureAlg::RsaPkcs1Sha512 => openssl::md::Md::sha512(),
    }
}

/// ECDSA signatures come DER-encoded or as raw r‖s (PKCS#11 `CKM_ECDSA`, many CSC
/// providers); OpenSSL takes DER.
fn ecdsa_der(key: &PKey<Public>, signature: &[u8]) -> Result<Vec<u8>, PkiError> {
    if EcdsaSig::from_der(signature).is_ok() {
        return Ok(signature.to_vec());
    }
    let ec = key.ec_key().map_err(|_| PkiError::Malformed)?;
    let bits = ec.group().degree() as usize;
    let size = bits.div_ceil(8);
    if signature.len() != 2 * size {
        return Err(PkiError::Malformed);
    }
    let (r, s) = signature.split_at(size);
    let r = BigNum::from_slice(r).map_err(|_| PkiError::Malformed)?;
    let s = BigNum::from_slice(s).map_err(|_| PkiError::Malformed)?;
    EcdsaSig::from_private_components(r, s)
        .and_then(|sig| sig.to_der())
        .map_err(|_| PkiError::Malformed)
}
