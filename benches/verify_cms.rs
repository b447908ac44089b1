//! `Pki::verify_cms` per second with a warm OCSP cache: what one signature login costs the
//! verifier once its certificate's revocation answer is cached (the usual case: the sandbox's
//! answers hold 5 minutes, real CAs' hours). A plain timed loop (no criterion), one thread.
//!
//!   cargo bench --bench verify_cms               # 2 s per key type
//!   VERIFY_SECONDS=5 cargo bench --bench verify_cms
//!
//! The sandbox PKI runs in-process on 127.0.0.1:0 and answers the first OCSP requests; every
//! timed call then finds its answers (end entity, intermediate) in the cache, so the loop
//! measures parsing, the CMS signature, path validation at `now` and the subject.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use xacthuc::clock::Clock;
use xacthuc::config::PkiConfig;
use xacthuc::domain::TrustSet;
use xacthuc::pki::Pki;
use xacthuc::sandbox::pki::{IssueRequest, KeyKind, SandboxPki};

const CONTENT: &[u8] = b"xacthuc login challenge: 0123456789abcdef0123456789abcdef";

/// A detached CMS SignedData over CONTENT by a fresh sandbox certificate of `key`.
fn signed(pki: &SandboxPki, key: KeyKind) -> Vec<u8> {
    let issued = pki
        .issue(&IssueRequest {
            uids: vec!["CCCD:001099000123".into()],
            cn: Some("Nguyễn Văn An".into()),
            key,
            ..IssueRequest::default()
        })
        .expect("issued");
    let cert = X509::from_der(&issued.certificate_der).unwrap();
    let pkey = PKey::private_key_from_pkcs8(&issued.private_key_pkcs8_der).unwrap();
    let mut chain = Stack::new().unwrap();
    for der in &issued.chain_der {
        chain.push(X509::from_der(der).unwrap()).unwrap();
    }
    CmsContentInfo::sign(
        Some(&cert),
        Some(&pkey),
        Some(&chain),
        Some(CONTENT),
        CMSOptions::BINARY | CMSOptions::DETACHED,
    )
    .and_then(|c| c.to_der())
    .expect("CMS")
}

fn main() {
    xacthuc::app::install_crypto_provider();
    let seconds: u64 = std::env::var("VERIFY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = Arc::new(SandboxPki::open(dir.path(), &base, Clock::system()).unwrap());
    let router = xacthuc::sandbox::pki_http::router(sandbox.clone());
    rt.spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let http = reqwest::Client::builder().build().unwrap();
    let pki = Pki::new(&PkiConfig::default(), http, &sandbox.anchors()).unwrap();

    println!("verify_cms, warm OCSP cache, one thread, {seconds} s each");
    for (name, key) in [("ECDSA P-256", KeyKind::EcP256), ("RSA-2048", KeyKind::Rsa)] {
        let cms = signed(&sandbox, key);
        let verify = || {
            pki.verify_cms(
                &cms,
                Some(CONTENT),
                &[TrustSet::Public],
                Clock::system().now(),
            )
        };
        // The first call fetches the OCSP answers; the loop finds them cached.
        rt.block_on(verify()).expect("the signature verifies");
        let mut samples = Vec::new();
        let end = Instant::now() + Duration::from_secs(seconds);
        let start = Instant::now();
        while Instant::now() < end {
            let t = Instant::now();
            rt.block_on(verify()).expect("verifies");
            samples.push(t.elapsed());
        }
        let total = start.elapsed().as_secs_f64();
        samples.sort();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
        println!(
            "{name:>12}: {:>7.0} verify_cms/s  (n = {}, p50 {:.0} µs, p99 {:.0} µs)",
            samples.len() as f64 / total,
            samples.len(),
            pct(0.50),
            pct(0.99)
        );
    }
}
