//! OCSP responses: the whole offline check (OpenSSL's signature and responder check, the
//! nonce, the status and the times) against a fixed issuer, on any bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509, X509NameBuilder};
use xacthuc::pki::path::Anchors;
use xacthuc::pki::revocation;

struct Fixture {
    issuer: X509,
    cert_id: revocation::CertId,
    anchors: Anchors,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, "fuzz CA").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(3650).unwrap()).unwrap();
        b.append_extension(BasicConstraints::new().ca().build().unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let issuer = b.build();
        let request = revocation::ocsp_request(&issuer, &issuer, b"nonce").unwrap();
        let mut anchors = Anchors::default();
        anchors.add(xacthuc::domain::TrustSet::Public, issuer.clone());
        Fixture { issuer, cert_id: request.cert_id, anchors }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let _ = revocation::parse_ocsp_response(data);
    let expected = revocation::Expected {
        cert_id: &f.cert_id,
        nonce: b"nonce",
        max_age_without_nonce: chrono::Duration::seconds(300),
    };
    let _ = revocation::verify_ocsp_response(
        data,
        &expected,
        &f.issuer,
        &[],
        &f.anchors,
        chrono::Utc::now(),
    );
});
