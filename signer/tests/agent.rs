//! The agent binary against a SoftHSM2 token of each test's own (`SOFTHSM2_CONF` in a temp
//! dir): signatures OpenSSL verifies, origins refused, a wrong PIN, bad input.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509NameBuilder, X509PurposeId};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use xacthuc_signer::softhsm::SoftHsm;

const ORIGIN: &str = "https://dichvucong.example";
const PIN: &str = "2468";
const TOKEN: &str = "Token test";

/// A root, an intermediate CA (stored on the token, as vendors do) and end-entity
/// certificates it issued for keys on the token. Only the root is trusted.
struct Pki {
    root: X509,
    ca: X509,
    ca_key: PKey<Private>,
}

impl Pki {
    fn new() -> Self {
        let root_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let root = certificate("Test Root", &root_key, None, true);
        let ca_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let ca = certificate("Test CA", &ca_key, Some((&root, &root_key)), true);
        Self { root, ca, ca_key }
    }

    fn issue(&self, cn: &str, key: &PKey<Private>) -> X509 {
        certificate(cn, key, Some((&self.ca, &self.ca_key)), false)
    }
}

fn certificate(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    ca: bool,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(rand_serial())
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|(c, _)| c.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(KeyUsage::new().key_cert_sign().build().unwrap())
            .unwrap();
    } else {
        b.append_extension(
            KeyUsage::new()
                .digital_signature()
                .non_repudiation()
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    b.sign(
        issuer.map(|(_, k)| k).unwrap_or(key),
        MessageDigest::sha256(),
    )
    .unwrap();
    b.build()
}

/// An HTTP client for the agent. Built in the whole workspace, reqwest carries the server's
/// `rustls-no-provider` feature and refuses to build a client before a crypto provider is
/// installed, even for plain HTTP.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn rand_serial() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        | 1
}

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A running agent binary on a token of its own.
struct Agent {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token holding an EC P-256 key (id 01) and an RSA key (id 02) with their certificates.
fn token(dir: &std::path::Path, pki: &Pki) -> (SoftHsm, Vec<X509>) {
    let hsm = SoftHsm::create(dir).unwrap();
    hsm.init_token(TOKEN, PIN).unwrap();
    hsm.write_certificate(TOKEN, PIN, "c0", &pki.ca.to_der().unwrap())
        .unwrap();
    let mut certs = Vec::new();
    for (id, key) in [
        ("01", ec_key()),
        ("02", PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()),
    ] {
        hsm.import_key(TOKEN, PIN, id, &key.private_key_to_pem_pkcs8().unwrap())
            .unwrap();
        let cert = pki.issue(&format!("Nguyễn Văn An {id}"), &key);
        hsm.write_certificate(TOKEN, PIN, id, &cert.to_der().unwrap())
            .unwrap();
        certs.push(cert);
    }
    (hsm, certs)
}

fn start(dir: tempfile::TempDir, conf: &std::path::Path, pin_command: &str) -> Agent {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xacthuc-signer"))
        .args([
            "--port",
            "0",
            "--allow-origin",
            ORIGIN,
            "--pin-command",
            pin_command,
        ])
        .env("SOFTHSM2_CONF", conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the agent prints its address")
        .to_string();
    Agent {
        child,
        url,
        _dir: dir,
    }
}

fn agent_with_token(pin_command: &str) -> (Agent, Pki, Vec<X509>) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (hsm, certs) = token(dir.path(), &pki);
    let conf = hsm.conf().to_path_buf();
    (start(dir, &conf, pin_command), pki, certs)
}

fn id_of(cert: &X509) -> String {
    hex::encode(Sha256::digest(cert.to_der().unwrap()))
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(rand_serial().to_be_bytes().repeat(8))
}

async fn post(agent: &Agent, origin: Option<&str>, body: String) -> (u16, Value) {
    let mut request = client()
        .post(format!("{}/v1/sign", agent.url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(o) = origin {
        request = request.header("origin", o);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sign(agent: &Agent, origin: &str, cert: &X509, challenge: &str) -> (u16, Value) {
    let body = json!({"origin": origin, "challenge": challenge, "certificate_id": id_of(cert)});
    post(agent, Some(ORIGIN), body.to_string()).await
}

/// What the server does: the detached content, the chain to the CA, no S/MIME purpose. With
/// `signer`, the signature must be by that certificate (certificates in the CMS ignored).
fn verify(
    pki: &Pki,
    cms_b64: &str,
    content: &[u8],
    signer: Option<&X509>,
) -> Result<(), openssl::error::ErrorStack> {
    let der = STANDARD.decode(cms_b64).unwrap();
    let mut cms = CmsContentInfo::from_der(&der)?;
    let mut store = X509StoreBuilder::new()?;
    store.add_cert(pki.root.clone())?;
    store.set_purpose(X509PurposeId::ANY)?;
    let store = store.build();
    let mut certs = Stack::new()?;
    let mut flags = CMSOptions::BINARY;
    if let Some(cert) = signer {
        certs.push(cert.clone())?;
        flags |= CMSOptions::NOINTERN;
    }
    cms.verify(Some(&certs), Some(&store), Some(content), None, flags)
}

fn expected_content(origin: &str, challenge: &str) -> Vec<u8> {
    [
        Sha256::digest(origin.as_bytes()),
        Sha256::digest(challenge.as_bytes()),
    ]
    .concat()
}

#[tokio::test]
async fn ec_and_rsa_signatures_verify_with_openssl_over_origin_and_challenge() {
    let (agent, pki, certs) = agent_with_token(&format!("echo {PIN}"));
    let status: Value = client()
        .get(format!("{}/v1/status", agent.url))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["tokens"][0]["label"], TOKEN);
    let listed: Value = client()
        .get(format!("{}/v1/certificates", agent.url))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "the two end-entity certificates: {listed}");
    for cert in &certs {
        assert!(ids.contains(&id_of(cert).as_str()));
        let c = challenge();
        let (code, answer) = sign(&agent, ORIGIN, cert, &c).await;
        assert_eq!(code, 200, "{answer}");
        let cms = answer["cms"].as_str().unwrap();
        let content = expected_content(ORIGIN, &c);
        verify(&pki, cms, &content, None)
            .expect("verifies with the certificate and the intermediate it carries");
        verify(&pki, cms, &content, Some(cert)).expect("signed by this certificate");
        let other = pki.issue("Someone else", &ec_key());
        assert!(verify(&pki, cms, &content, Some(&other)).is_err());
        assert_eq!(
            STANDARD
                .decode(answer["certificate"].as_str().unwrap())
                .unwrap(),
            cert.to_der().unwrap()
        );
        assert!(
            verify(
                &pki,
                cms,
                &expected_content("https://phish.example", &c),
                None
            )
            .is_err(),
            "the signature is bound to the origin"
        );
    }
}

#[tokio::test]
async fn other_origins_are_refused_and_get_no_cors() {
    let (agent, _pki, certs) = agent_with_token(&format!("echo {PIN}"));
    let body =
        json!({"origin": ORIGIN, "challenge": challenge(), "certificate_id": id_of(&certs[0])})
            .to_string();
    let (code, answer) = post(&agent, Some("https://phish.example"), body.clone()).await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (403, Some("origin_not_allowed"))
    );
    let (code, answer) = post(&agent, None, body).await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (403, Some("origin_missing"))
    );
    // An allowed page asking for another origin's signature.
    let (code, answer) = sign(&agent, "https://phish.example", &certs[0], &challenge()).await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (403, Some("origin_mismatch"))
    );

    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, format!("{}/v1/sign", agent.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .header("access-control-request-private-network", "true")
            .send()
    };
    let allowed = preflight(ORIGIN).await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(
        allowed.headers()["access-control-allow-private-network"],
        "true"
    );
    let refused = preflight("https://phish.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_wrong_pin_is_pin_incorrect_and_nothing_is_signed() {
    let (agent, _pki, certs) = agent_with_token("echo 0000");
    let (code, answer) = sign(&agent, ORIGIN, &certs[0], &challenge()).await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (401, Some("pin_incorrect")),
        "{answer}"
    );
    assert!(answer.get("cms").is_none());
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let (agent, _pki, certs) = agent_with_token("exit 1");
    let id = id_of(&certs[0]);
    let cases = [
        ("not json".to_string(), 400, "bad_request"),
        (json!({"origin": ORIGIN}).to_string(), 400, "bad_request"),
        (
            json!({"origin": ORIGIN, "challenge": "not base64url!", "certificate_id": id})
                .to_string(),
            400,
            "bad_challenge",
        ),
        (
            json!({"origin": ORIGIN, "challenge": "c2hvcnQ", "certificate_id": id}).to_string(),
            400,
            "bad_challenge",
        ),
        (
            json!({"origin": ORIGIN, "challenge": challenge(), "certificate_id": "00"}).to_string(),
            404,
            "unknown_certificate",
        ),
        (
            json!({"origin": ORIGIN, "challenge": "A".repeat(20_000), "certificate_id": id})
                .to_string(),
            413,
            "too_large",
        ),
        // The PIN prompt was cancelled (the command failed).
        (
            json!({"origin": ORIGIN, "challenge": challenge(), "certificate_id": id}).to_string(),
            409,
            "pin_cancelled",
        ),
    ];
    for (body, status, error) in cases {
        let (code, answer) = post(&agent, Some(ORIGIN), body.clone()).await;
        assert_eq!(
            (code, answer["error"].as_str()),
            (status, Some(error)),
            "{}",
            &body[..body.len().min(80)]
        );
    }
}

#[tokio::test]
async fn no_token_and_no_certificate_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::create(dir.path()).unwrap();
    let conf = hsm.conf().to_path_buf();
    let agent = start(dir, &conf, "echo 1");
    let get = |path: &str| {
        client()
            .get(format!("{}{path}", agent.url))
            .header("origin", ORIGIN)
            .send()
    };
    let answer: Value = get("/v1/certificates").await.unwrap().json().await.unwrap();
    assert_eq!(answer["error"], "no_token");
    drop(agent);

    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::create(dir.path()).unwrap();
    hsm.init_token(TOKEN, PIN).unwrap();
    let conf = hsm.conf().to_path_buf();
    let agent = start(dir, &conf, "echo 1");
    let answer: Value = client()
        .get(format!("{}/v1/certificates", agent.url))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error"], "no_certificate");
}

#[tokio::test]
async fn a_certificate_written_while_the_agent_runs_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::create(dir.path()).unwrap();
    hsm.init_token(TOKEN, PIN).unwrap();
    let conf = hsm.conf().to_path_buf();
    let pki = Pki::new();
    let agent = start(dir, &conf, &format!("echo {PIN}"));
    let certificates = || {
        client()
            .get(format!("{}/v1/certificates", agent.url))
            .header("origin", ORIGIN)
            .send()
    };
    let answer: Value = certificates().await.unwrap().json().await.unwrap();
    assert_eq!(answer["error"], "no_certificate");
    // As another program (the vendor's tool) would, on the token the agent has open.
    let key = ec_key();
    hsm.import_key(TOKEN, PIN, "07", &key.private_key_to_pem_pkcs8().unwrap())
        .unwrap();
    let cert = pki.issue("Trần Thị Bình", &key);
    hsm.write_certificate(TOKEN, PIN, "07", &cert.to_der().unwrap())
        .unwrap();
    let answer: Value = certificates().await.unwrap().json().await.unwrap();
    assert_eq!(answer["certificates"][0]["id"], id_of(&cert), "{answer}");
    let c = challenge();
    let (code, signed) = sign(&agent, ORIGIN, &cert, &c).await;
    assert_eq!(code, 200, "{signed}");
}
