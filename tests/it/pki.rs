//! The PKI (`xacthuc::pki`) against the sandbox PKI over real HTTP: certificates issued by
//! `POST /sandbox/pki/certificates`, OCSP and CRLs fetched from the sandbox's responders by
//! the app's own HTTP client, CMS made with OpenSSL's `CMS_sign`.

use serde_json::json;
use xacthuc::authenticators::evidence::IdentitySource;
use xacthuc::config::RevocationPolicy;
use xacthuc::domain::{SubjectType, TrustSet};
use xacthuc::pki::{PkiError, SignatureAlg};

use crate::helpers::*;

const CCCD: &str = "001099000123";
const PUBLIC: &[TrustSet] = &[TrustSet::Public];
/// The DER of the id-RSASSA-PSS OID (1.2.840.113549.1.1.10).
const RSASSA_PSS: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
];
const CONTENT: &[u8] = "Xác thực đăng nhập — thử thách 42".as_bytes();

async fn verify(
    t: &TestApp,
    cms: &[u8],
    detached: Option<&[u8]>,
) -> Result<xacthuc::pki::Signed, PkiError> {
    t.app
        .pki
        .verify_cms(cms, detached, PUBLIC, t.clock.now())
        .await
}

/// Signs CONTENT attached or detached and verifies it.
async fn sign_and_verify(
    t: &TestApp,
    cert: &TestCert,
    detached: bool,
) -> Result<xacthuc::pki::Signed, PkiError> {
    let cms = cert.sign_cms(CONTENT, detached);
    verify(t, &cms, detached.then_some(CONTENT)).await
}

#[tokio::test]
async fn good_signatures_verify_with_rsa_pkcs1_rsa_pss_and_ecdsa_attached_and_detached() {
    let t = spawn_app().await;
    for key in ["rsa", "rsa-pss", "ec-p256"] {
        let cert = t
            .issue_certificate(json!({
                "uids": [format!("CCCD:{CCCD}")],
                "cn": "Nguyễn Văn An",
                "c": "VN",
                "st": "Hà Nội",
                "email": "an@example.vn",
                "key": key,
            }))
            .await;
        for detached in [false, true] {
            let cms = match key {
                "rsa-pss" => cert.sign_cms_pss(CONTENT, detached),
                _ => cert.sign_cms(CONTENT, detached),
            };
            let is_pss = cms.windows(RSASSA_PSS.len()).any(|w| w == RSASSA_PSS);
            assert_eq!(
                is_pss,
                key == "rsa-pss",
                "{key}: the signer info's algorithm"
            );
            let signed = verify(&t, &cms, detached.then_some(CONTENT))
                .await
                .unwrap_or_else(|e| panic!("{key}, detached {detached}: {e:?}"));
            assert_eq!(signed.content, CONTENT);
            let info = &signed.certificate;
            assert_eq!(info.trust, TrustSet::Public);
            assert_eq!(info.der, cert.der());
            assert_eq!(info.reference.serial, cert.serial);
            assert!(
                info.reference.issuer.contains("Sandbox Licensed CA"),
                "{}",
                info.reference.issuer
            );
            let id = info.verified_identity(IdentitySource::Certificate);
            assert_eq!(id.subject_type, SubjectType::Citizen);
            assert_eq!(id.id_number.as_deref(), Some(CCCD));
            assert_eq!(id.full_name, "Nguyễn Văn An");
            assert_eq!(id.email.as_deref(), Some("an@example.vn"));
            assert_eq!(id.certificate.as_ref(), Some(&info.reference));
        }
    }
}

#[tokio::test]
async fn rsa_pss_signatures_with_sha1_or_a_mismatched_mgf1_or_no_salt_are_refused() {
    let t = spawn_app().await;
    let cert = t
        .issue_certificate(json!({ "uids": [format!("CCCD:{CCCD}")], "key": "rsa-pss" }))
        .await;
    let pss = |options: &[&str]| cert.sign_cms_pss_with(CONTENT, true, options);
    // Salt as long as the digest, and SHA-512 throughout: accepted.
    for options in [
        &["-keyopt", "rsa_pss_saltlen:digest"][..],
        &["-md", "sha512", "-keyopt", "rsa_mgf1_md:sha512"][..],
    ] {
        let cms = pss(options);
        assert!(verify(&t, &cms, Some(CONTENT)).await.is_ok(), "{options:?}");
    }
    for (options, what) in [
        (&["-keyopt", "rsa_mgf1_md:sha1"][..], "MGF1-SHA-1"),
        (&["-keyopt", "rsa_pss_saltlen:0"][..], "no salt"),
        (
            &["-md", "sha512", "-keyopt", "rsa_mgf1_md:sha256"][..],
            "mixed hashes",
        ),
    ] {
        let err = verify(&t, &pss(options), Some(CONTENT)).await.err();
        assert!(
            matches!(err, Some(PkiError::PssParameters(_))),
            "{what}: {err:?}"
        );
        // The user is told the algorithm is not supported; the audit says why.
        let err = err.unwrap();
        assert_eq!(err.message_key(), "pki_unsupported_algorithm");
        assert_eq!(err.reason(), "pss_parameters");
    }
    // SHA-1 as the digest (and so the PSS hash): refused before the signature is checked.
    assert_eq!(
        verify(&t, &pss(&["-md", "sha1"]), Some(CONTENT))
            .await
            .err(),
        Some(PkiError::UnsupportedAlgorithm)
    );
}

#[tokio::test]
async fn an_enterprise_and_its_representative_are_told_apart() {
    let t = spawn_app().await;
    let enterprise = t
        .issue_certificate(json!({
            "uids": ["MST:0101234565"],
            "o": "Công ty TNHH Ánh Dương",
            "cn": "Công ty TNHH Ánh Dương",
        }))
        .await;
    let info = sign_and_verify(&t, &enterprise, true)
        .await
        .unwrap()
        .certificate;
    let id = info.verified_identity(IdentitySource::Certificate);
    assert_eq!(id.subject_type, SubjectType::Enterprise);
    assert_eq!(id.tax_code.as_deref(), Some("0101234565"));
    assert_eq!(id.full_name, "Công ty TNHH Ánh Dương");

    let representative = t
        .issue_certificate(json!({
            "uids": ["MST:0101234565", format!("CCCD:{CCCD}")],
            "o": "Công ty TNHH Ánh Dương",
            "cn": "Trần Thị Bình",
        }))
        .await;
    let info = sign_and_verify(&t, &representative, false)
        .await
        .unwrap()
        .certificate;
    let id = info.verified_identity(IdentitySource::Certificate);
    // The person logs in, not the enterprise.
    assert_eq!(id.subject_type, SubjectType::Citizen);
    assert_eq!(id.id_number.as_deref(), Some(CCCD));
    assert_eq!(id.tax_code, None);
    assert_eq!(id.organization.as_deref(), Some("Công ty TNHH Ánh Dương"));
    assert_eq!(id.full_name, "Trần Thị Bình");
}

#[tokio::test]
async fn a_certificate_without_an_identity_is_refused() {
    let t = spawn_app().await;
    let cert = t.issue_certificate(json!({ "cn": "Không có UID" })).await;
    assert_eq!(
        sign_and_verify(&t, &cert, true).await.err(),
        Some(PkiError::NoIdentity)
    );
}

#[tokio::test]
async fn a_certificate_whose_tax_code_fails_its_check_digit_is_refused_as_a_broken_identity() {
    let t = spawn_app().await;
    // 0101234567: the check digit of 010123456 is 5. Alone (an enterprise), beside a CCCD (a
    // representative), or as the organizationIdentifier: nobody is identified.
    for request in [
        json!({ "uids": ["MST:0101234567"], "o": "Công ty TNHH Ánh Dương" }),
        json!({ "uids": ["MST:0101234565-000"], "o": "Công ty TNHH Ánh Dương" }),
        json!({ "uids": ["MST:0101234567", format!("CCCD:{CCCD}")], "o": "Ánh Dương" }),
        json!({ "uids": [format!("CCCD:{CCCD}")], "organization_identifier": "VATVN-0101234567" }),
    ] {
        let cert = t.issue_certificate(request.clone()).await;
        let err = sign_and_verify(&t, &cert, true).await.err();
        assert_eq!(err, Some(PkiError::NoIdentity), "{request}");
        assert_eq!(err.unwrap().message_key(), "pki_no_identity");
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_refused_at_the_time_of_use() {
    let t = spawn_app().await;
    let now = t.clock.now();
    let expired = t
        .issue_certificate(json!({
            "uids": [format!("CCCD:{CCCD}")],
            "not_before": now - chrono::Duration::days(400),
            "not_after": now - chrono::Duration::days(1),
        }))
        .await;
    assert_eq!(
        sign_and_verify(&t, &expired, true).await.err(),
        Some(PkiError::Expired)
    );

    let future = t
        .issue_certificate(json!({
            "uids": [format!("CCCD:{CCCD}")],
            "not_before": now + chrono::Duration::days(1),
        }))
        .await;
    assert_eq!(
        sign_and_verify(&t, &future, true).await.err(),
        Some(PkiError::NotYetValid)
    );

    // Valid today; a year and a day later (the app's clock) it has expired.
    let cert = t.citizen_certificate(CCCD).await;
    let cms = cert.sign_cms(CONTENT, true);
    assert!(verify(&t, &cms, Some(CONTENT)).await.is_ok());
    t.advance(366 * 86_400);
    assert_eq!(
        verify(&t, &cms, Some(CONTENT)).await.err(),
        Some(PkiError::Expired)
    );
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_by_ocsp() {
    let t = spawn_app().await;
    let cert = t.citizen_certificate(CCCD).await;
    t.revoke_certificate(&cert.serial).await;
    // The CRL is down: the answer can only be OCSP's.
    t.pki_faults("public-ca", json!({ "crl": "down" })).await;
    assert_eq!(
        sign_and_verify(&t, &cert, true).await.err(),
        Some(PkiError::Revoked)
    );
    let chain = cert.chain_der();
    assert_eq!(
        t.app
            .pki
            .check_chain(&chain, PUBLIC, t.clock.now())
            .await
            .err(),
        Some(PkiError::Revoked)
    );
}

#[tokio::test]
async fn untrusted_roots_wrong_key_usage_and_the_government_ca_on_the_public_path_are_refused() {
    let t = spawn_app().await;
    let untrusted = t
        .issue_certificate(json!({ "tree": "untrusted", "uids": [format!("CCCD:{CCCD}")] }))
        .await;
    assert_eq!(
        sign_and_verify(&t, &untrusted, true).await.err(),
        Some(PkiError::Untrusted)
    );

    let wrong_usage = t
        .issue_certificate(json!({ "uids": [format!("CCCD:{CCCD}")], "key_usage": "wrong" }))
        .await;
    assert_eq!(
        sign_and_verify(&t, &wrong_usage, true).await.err(),
        Some(PkiError::KeyUsage)
    );

    let official = t
        .issue_certificate(json!({
            "tree": "government",
            "uids": [format!("CCCD:{CCCD}")],
            "o": "Sở Tư pháp tỉnh Khánh Hòa",
            "cn": "Lê Văn Cường",
        }))
        .await;
    let cms = official.sign_cms(CONTENT, true);
    assert_eq!(
        verify(&t, &cms, Some(CONTENT)).await.err(),
        Some(PkiError::WrongTrustSet)
    );
    // Where the Government CA is accepted, it is an official of the agency.
    let signed = t
        .app
        .pki
        .verify_cms(&cms, Some(CONTENT), &[TrustSet::Government], t.clock.now())
        .await
        .expect("accepted on the government path");
    assert_eq!(signed.certificate.trust, TrustSet::Government);
    let id = signed
        .certificate
        .verified_identity(IdentitySource::Certificate);
    assert_eq!(id.subject_type, SubjectType::Agency);
    assert_eq!(
        id.organization.as_deref(),
        Some("Sở Tư pháp tỉnh Khánh Hòa")
    );
    // A public certificate offered where only the Government CA is accepted.
    let citizen = t.citizen_certificate(CCCD).await;
    let cms = citizen.sign_cms(CONTENT, true);
    let refused = t
        .app
        .pki
        .verify_cms(&cms, Some(CONTENT), &[TrustSet::Government], t.clock.now())
        .await;
    assert_eq!(refused.err(), Some(PkiError::WrongTrustSet));
}

#[tokio::test]
async fn tampered_content_and_tampered_signatures_are_refused() {
    let t = spawn_app().await;
    let cert = t.citizen_certificate(CCCD).await;
    // Detached: other content.
    let cms = cert.sign_cms(CONTENT, true);
    assert_eq!(
        verify(&t, &cms, Some(b"other content")).await.err(),
        Some(PkiError::BadSignature)
    );
    // Attached: one byte of the content changed inside the CMS.
    let mut cms = cert.sign_cms(CONTENT, false);
    let at = cms
        .windows(CONTENT.len())
        .position(|w| w == CONTENT)
        .expect("content inside");
    cms[at] ^= 0x01;
    assert_eq!(
        verify(&t, &cms, None).await.err(),
        Some(PkiError::BadSignature)
    );
    // The signature's last byte changed (RSA: the signature value ends the DER).
    let rsa = t
        .issue_certificate(json!({ "uids": [format!("CCCD:{CCCD}")], "key": "rsa" }))
        .await;
    let mut cms = rsa.sign_cms(CONTENT, true);
    let last = cms.len() - 1;
    cms[last] ^= 0x01;
    assert_eq!(
        verify(&t, &cms, Some(CONTENT)).await.err(),
        Some(PkiError::BadSignature)
    );
    // Content both inside and beside: ambiguous.
    let cms = cert.sign_cms(CONTENT, false);
    assert_eq!(
        verify(&t, &cms, Some(CONTENT)).await.err(),
        Some(PkiError::Malformed)
    );
}

#[tokio::test]
async fn garbage_truncated_oversized_and_certificate_less_input_is_an_error_not_a_panic() {
    let t = spawn_app_with(|c| c.pki.max_signature_bytes = 64 * 1024).await;
    let cert = t.citizen_certificate(CCCD).await;
    let cms = cert.sign_cms(CONTENT, true);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", b"\x30\x82\xff\xff not DER at all".to_vec()),
        ("zeros", vec![0; 4096]),
        ("truncated", cms[..cms.len() / 2].to_vec()),
        ("a certificate, not a CMS", cert.der()),
    ];
    for (what, input) in cases {
        assert_eq!(
            verify(&t, &input, Some(CONTENT)).await.err(),
            Some(PkiError::Malformed),
            "{what}"
        );
    }
    assert_eq!(
        verify(&t, &vec![0x30; 64 * 1024 + 1], Some(CONTENT))
            .await
            .err(),
        Some(PkiError::TooLarge)
    );
    // The signer's certificate left out of the CMS.
    let mut certs = openssl::stack::Stack::new().unwrap();
    certs.push(cert.chain[0].clone()).unwrap();
    let bare = openssl::cms::CmsContentInfo::sign(
        Some(&cert.cert),
        cert.key.as_deref(),
        Some(&certs),
        Some(CONTENT),
        openssl::cms::CMSOptions::BINARY
            | openssl::cms::CMSOptions::DETACHED
            | openssl::cms::CMSOptions::CMS_NOCERTS,
    )
    .unwrap()
    .to_der()
    .unwrap();
    assert_eq!(
        verify(&t, &bare, Some(CONTENT)).await.err(),
        Some(PkiError::Malformed)
    );
    // Certificates that are not certificates.
    for chain in [
        vec![],
        vec![b"junk".to_vec()],
        vec![cert.der(), vec![0x30, 0x00]],
    ] {
        assert_eq!(
            t.app
                .pki
                .check_chain(&chain, PUBLIC, t.clock.now())
                .await
                .err(),
            Some(PkiError::Malformed)
        );
    }
}

#[tokio::test]
async fn an_unreachable_responder_fails_closed_and_the_crl_answers_when_only_ocsp_is_down() {
    let t = spawn_app_with(|c| c.pki.ocsp_timeout_ms = 500).await;
    let good = t.citizen_certificate(CCCD).await;
    let revoked = t.citizen_certificate(CCCD).await;
    t.revoke_certificate(&revoked.serial).await;

    // Both unreachable (OCSP answers too late, the CRL is down): refused, fail closed, with
    // its own message.
    t.pki_faults("public-ca", json!({ "ocsp": "hang", "crl": "down" }))
        .await;
    let err = sign_and_verify(&t, &good, true).await.err();
    assert_eq!(err, Some(PkiError::RevocationUnavailable));
    assert_eq!(err.unwrap().message_key(), "pki_revocation_unavailable");

    // OCSP down (503), the CRL answers: good is good, revoked is revoked.
    t.pki_faults("public-ca", json!({ "ocsp": "down" })).await;
    assert!(sign_and_verify(&t, &good, true).await.is_ok());
    assert_eq!(
        sign_and_verify(&t, &revoked, true).await.err(),
        Some(PkiError::Revoked)
    );
    // The CRL is kept until its nextUpdate: with both down again, it still answers.
    t.pki_faults("public-ca", json!({ "ocsp": "down", "crl": "down" }))
        .await;
    let other = t.citizen_certificate(CCCD).await;
    assert!(sign_and_verify(&t, &other, true).await.is_ok());
}

#[tokio::test]
async fn fail_open_accepts_when_both_are_unreachable_but_never_a_bad_answer() {
    let t = spawn_app_with(|c| c.pki.revocation = RevocationPolicy::FailOpen).await;
    let cert = t.citizen_certificate(CCCD).await;
    t.pki_faults("public-ca", json!({ "ocsp": "down", "crl": "down" }))
        .await;
    assert!(sign_and_verify(&t, &cert, true).await.is_ok());
    // An answer that arrived but is not trustworthy is not an outage.
    let other = t.citizen_certificate(CCCD).await;
    t.pki_faults("public-ca", json!({ "ocsp": "wrong_nonce", "crl": "down" }))
        .await;
    assert_eq!(
        sign_and_verify(&t, &other, true).await.err(),
        Some(PkiError::RevocationUnavailable)
    );
}

#[tokio::test]
async fn ocsp_answers_with_a_wrong_nonce_a_replay_or_an_unauthorised_signer_are_refused() {
    let t = spawn_app().await;
    for fault in ["wrong_nonce", "rogue"] {
        let cert = t.citizen_certificate(CCCD).await;
        t.pki_faults("public-ca", json!({ "ocsp": fault, "crl": "down" }))
            .await;
        assert_eq!(
            sign_and_verify(&t, &cert, true).await.err(),
            Some(PkiError::RevocationUnavailable),
            "{fault}"
        );
    }
    // A "good" recorded before the revocation, replayed after it: refused.
    t.pki_faults("public-ca", json!({})).await;
    let cert = t.citizen_certificate(CCCD).await;
    assert!(sign_and_verify(&t, &cert, true).await.is_ok());
    t.revoke_certificate(&cert.serial).await;
    // Past the first answer's nextUpdate, so the verifier asks again.
    t.advance(10 * 60);
    t.pki_faults("public-ca", json!({ "ocsp": "replay", "crl": "down" }))
        .await;
    assert_eq!(
        sign_and_verify(&t, &cert, true).await.err(),
        Some(PkiError::RevocationUnavailable)
    );
    // With the CRL back, the truth.
    t.pki_faults("public-ca", json!({ "ocsp": "replay" })).await;
    assert_eq!(
        sign_and_verify(&t, &cert, true).await.err(),
        Some(PkiError::Revoked)
    );
}

#[tokio::test]
async fn an_ocsp_answer_is_cached_until_its_next_update() {
    let t = spawn_app().await;
    let cert = t.citizen_certificate(CCCD).await;
    assert!(sign_and_verify(&t, &cert, true).await.is_ok());
    // Both sources down: the cached "good" still holds…
    t.pki_faults("public-ca", json!({ "ocsp": "down", "crl": "down" }))
        .await;
    assert!(sign_and_verify(&t, &cert, true).await.is_ok());
    // …until its nextUpdate (five minutes in the sandbox).
    t.advance(6 * 60);
    assert_eq!(
        sign_and_verify(&t, &cert, true).await.err(),
        Some(PkiError::RevocationUnavailable)
    );
}

#[tokio::test]
async fn raw_signatures_over_a_digest_verify_for_each_algorithm() {
    use openssl::hash::{MessageDigest, hash};
    use openssl::pkey_ctx::PkeyCtx;
    let t = spawn_app().await;
    let digest = hash(MessageDigest::sha256(), CONTENT).unwrap().to_vec();
    for (key, alg) in [
        ("rsa", SignatureAlg::RsaPkcs1Sha256),
        ("rsa", SignatureAlg::RsaPssSha256),
        ("ec-p256", SignatureAlg::EcdsaSha256),
    ] {
        let cert = t
            .issue_certificate(json!({ "uids": [format!("CCCD:{CCCD}")], "key": key }))
            .await;
        let pkey = cert.key.as_ref().unwrap();
        let mut ctx = PkeyCtx::new(pkey).unwrap();
        ctx.sign_init().unwrap();
        if alg == SignatureAlg::RsaPssSha256 {
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS)
                .unwrap();
            ctx.set_rsa_pss_saltlen(openssl::sign::RsaPssSaltlen::DIGEST_LENGTH)
                .unwrap();
        } else if alg == SignatureAlg::RsaPkcs1Sha256 {
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1).unwrap();
        }
        ctx.set_signature_md(openssl::md::Md::sha256()).unwrap();
        let mut signature = vec![];
        ctx.sign_to_vec(&digest, &mut signature).unwrap();
        let chain = cert.chain_der();
        let now = t.clock.now();
        let info = t
            .app
            .pki
            .verify_signed_digest(&chain, &digest, alg, &signature, PUBLIC, now)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        assert_eq!(info.reference.serial, cert.serial);
        // Another digest: refused.
        let other = hash(MessageDigest::sha256(), b"other").unwrap().to_vec();
        let refused = t
            .app
            .pki
            .verify_signed_digest(&chain, &other, alg, &signature, PUBLIC, now)
            .await;
        assert_eq!(refused.err(), Some(PkiError::BadSignature), "{alg:?}");
        if alg == SignatureAlg::RsaPssSha256 {
            // A raw signature carries no parameters: ours are SHA-256, MGF1-SHA-256 and a
            // 32-byte salt, so PSS made with MGF1-SHA-1 (or another salt) does not verify.
            let mut ctx = PkeyCtx::new(pkey).unwrap();
            ctx.sign_init().unwrap();
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS)
                .unwrap();
            ctx.set_rsa_mgf1_md(openssl::md::Md::sha1()).unwrap();
            ctx.set_signature_md(openssl::md::Md::sha256()).unwrap();
            let mut sha1_mgf = vec![];
            ctx.sign_to_vec(&digest, &mut sha1_mgf).unwrap();
            let refused = t
                .app
                .pki
                .verify_signed_digest(&chain, &digest, alg, &sha1_mgf, PUBLIC, now)
                .await;
            assert_eq!(refused.err(), Some(PkiError::BadSignature));
        }
        if alg == SignatureAlg::EcdsaSha256 {
            // PKCS#11 and many CSC providers answer raw r‖s.
            let sig = openssl::ecdsa::EcdsaSig::from_der(&signature).unwrap();
            let mut raw = sig.r().to_vec_padded(32).unwrap();
            raw.extend(sig.s().to_vec_padded(32).unwrap());
            assert!(
                t.app
                    .pki
                    .verify_signed_digest(&chain, &digest, alg, &raw, PUBLIC, now)
                    .await
                    .is_ok()
            );
        }
    }
}

#[tokio::test]
async fn an_ocsp_answer_without_a_nonce_is_accepted_only_while_recent() {
    let t = spawn_app().await;
    // A responder that ignores nonces (RFC 8954) with a fresh answer: the OCSP answer decides,
    // with the CRL down.
    t.pki_faults("public-ca", json!({ "ocsp": "no_nonce", "crl": "down" }))
        .await;
    let good = t.citizen_certificate(CCCD).await;
    assert!(sign_and_verify(&t, &good, true).await.is_ok());
    let revoked = t.citizen_certificate(CCCD).await;
    t.revoke_certificate(&revoked.serial).await;
    assert_eq!(
        sign_and_verify(&t, &revoked, true).await.err(),
        Some(PkiError::Revoked)
    );
    // A pre-produced answer an hour old, past ocsp_max_age_seconds (300 s + skew): not
    // trusted, so with the CRL down the status is unknown and the certificate refused…
    t.pki_faults(
        "public-ca",
        json!({ "ocsp": "no_nonce_old", "crl": "down" }),
    )
    .await;
    let other = t.citizen_certificate(CCCD).await;
    assert_eq!(
        sign_and_verify(&t, &other, true).await.err(),
        Some(PkiError::RevocationUnavailable)
    );
    // …and the CRL decides when it is up.
    t.pki_faults("public-ca", json!({ "ocsp": "no_nonce_old" }))
        .await;
    assert!(sign_and_verify(&t, &other, true).await.is_ok());
}

#[tokio::test]
async fn a_longer_ocsp_max_age_accepts_an_old_answer_without_a_nonce() {
    let t = spawn_app_with(|c| c.pki.ocsp_max_age_seconds = 2 * 3600).await;
    t.pki_faults(
        "public-ca",
        json!({ "ocsp": "no_nonce_old", "crl": "down" }),
    )
    .await;
    let cert = t.citizen_certificate(CCCD).await;
    assert!(sign_and_verify(&t, &cert, true).await.is_ok());
}

#[tokio::test]
async fn the_sandbox_certifies_a_key_it_did_not_make_and_refuses_bad_requests() {
    let t = spawn_app().await;
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let public_pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
    let mut cert = t
        .issue_certificate(
            json!({ "uids": [format!("CCCD:{CCCD}")], "public_key_pem": public_pem }),
        )
        .await;
    assert!(cert.key.is_none());
    assert!(cert.cert.public_key().unwrap().public_eq(&key));
    cert.key = Some(key);
    assert!(sign_and_verify(&t, &cert, true).await.is_ok());

    for bad in [
        json!({ "tree": "elsewhere" }),
        json!({ "public_key_pem": "not a key" }),
        json!({ "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" }),
        json!({ "c": "Việt Nam" }),
        json!({ "uids": ["CCCD:1"], "not_before": "2030-01-01T00:00:00Z", "not_after": "2029-01-01T00:00:00Z" }),
    ] {
        let resp = http()
            .post(t.url("/sandbox/pki/certificates"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST, "{bad}");
    }
    let resp = http()
        .post(t.url("/sandbox/pki/certificates/00ff/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::NOT_FOUND);
    let resp = http()
        .post(t.url("/sandbox/pki/ocsp/public-ca"))
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        reqwest::StatusCode::OK,
        "an OCSP malformedRequest answer"
    );
}
