//! Connectors against the sandbox simulators, over real HTTP on 127.0.0.1:0.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::NaiveDate;

use xacthuc::clock::Clock;
use xacthuc::connectors::{
    ConnectorError, Connectors, ConnectorsConfig, SubscriberCheck, SubscriberQuery,
};
use xacthuc::sandbox::seed::{Fault, SandboxSeed, SeedError};
use xacthuc::sandbox::simulators::{self, OUTBOX_CAPACITY, Simulators, SmsMessage};

/// Serves `router` on an ephemeral port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct Sandbox {
    sim: Arc<Simulators>,
    base: String,
    connectors: Connectors,
    http: reqwest::Client,
}

/// The default seed's simulators, mounted at /sandbox like the main app does, with connectors
/// resolving their URLs from the "public URL" exactly as the app will.
async fn sandbox(config: ConnectorsConfig, fault_delay: Duration) -> Sandbox {
    let seed = SandboxSeed::load(None).expect("default seed");
    let sim = Arc::new(Simulators::new(seed, Clock::system()).with_fault_delay(fault_delay));
    let base = serve(simulators::standalone_router(sim.clone())).await;
    let http = http_client();
    let connectors = Connectors::http(
        &config,
        &format!("{base}/"),
        http.clone(),
        Default::default(),
    );
    Sandbox {
        sim,
        base,
        connectors,
        http,
    }
}

async fn default_sandbox() -> Sandbox {
    sandbox(ConnectorsConfig::default(), Duration::from_secs(2)).await
}

fn fast_config() -> ConnectorsConfig {
    ConnectorsConfig {
        timeout_ms: 300,
        retries: 2,
        ..ConnectorsConfig::default()
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn an(msisdn: &str) -> SubscriberQuery {
    SubscriberQuery {
        msisdn: msisdn.into(),
        id_number: "001090012345".into(),
        full_name: "Nguyễn Văn An".into(),
        birthdate: date(1990, 6, 12),
    }
}

// ── carrier ──

#[tokio::test]
async fn carrier_match() {
    let s = default_sandbox().await;
    let r = s
        .connectors
        .carrier
        .check_subscriber(&an("+84823456088"))
        .await;
    assert_eq!(r.expect("answer"), SubscriberCheck::Match);
}

#[tokio::test]
async fn carrier_match_cmnd_and_number_seeded_in_other_forms() {
    let s = default_sandbox().await;
    let q = SubscriberQuery {
        msisdn: "+84356789012".into(),
        id_number: "012345678".into(),
        full_name: "Hoàng Văn Bình".into(),
        birthdate: date(1970, 3, 15),
    };
    assert_eq!(
        s.connectors
            .carrier
            .check_subscriber(&q)
            .await
            .expect("answer"),
        SubscriberCheck::Match
    );
    // Seeded as "84398765432"; asked in E.164.
    let q = SubscriberQuery {
        msisdn: "+84398765432".into(),
        id_number: "001304005566".into(),
        full_name: "Vũ Thu Hà".into(),
        birthdate: date(2004, 2, 29),
    };
    assert_eq!(
        s.connectors
            .carrier
            .check_subscriber(&q)
            .await
            .expect("answer"),
        SubscriberCheck::Match
    );
}

#[tokio::test]
async fn carrier_mismatch_when_sim_belongs_to_someone_else() {
    let s = default_sandbox().await;
    // Phạm Thị Lan with her husband's SIM.
    let q = SubscriberQuery {
        msisdn: "+84987654321".into(),
        id_number: "031189002468".into(),
        full_name: "Phạm Thị Lan".into(),
        birthdate: date(1989, 4, 21),
    };
    assert_eq!(
        s.connectors
            .carrier
            .check_subscriber(&q)
            .await
            .expect("answer"),
        SubscriberCheck::Mismatch
    );
    // Right person, wrong birth date; right person, wrong ID number; different diacritics.
    let mut q = an("+84823456088");
    q.birthdate = date(1990, 6, 13);
    assert_eq!(
        s.connectors
            .carrier
            .check_subscriber(&q)
            .await
            .expect("answer"),
        SubscriberCheck::Mismatch
    );
    let mut q = an("+84823456088");
    q.id_number = "001090012346".into();
    assert_eq!(
        s.connectors
            .carrier
            .check_subscriber(&q)
            .await
            .expect("answer"),
        SubscriberCheck::Mismatch
    );
    let mut q = an("+84823456088");
    q.full_name = "Nguyen Van An".into();
    assert_eq!(
        s.connectors
            .carrier
            .check_subscriber(&q)
            .await
            .expect("answer"),
        SubscriberCheck::Mismatch
    );
}

#[tokio::test]
async fn carrier_unknown_number() {
    let s = default_sandbox().await;
    let r = s
        .connectors
        .carrier
        .check_subscriber(&an("+84911111111"))
        .await;
    assert_eq!(r.expect("answer"), SubscriberCheck::UnknownNumber);
}

#[tokio::test]
async fn carrier_folds_names() {
    let s = default_sandbox().await;
    for name in [
        "NGUYỄN  văn an",
        "  nguyễn văn AN\t",
        // NFD: e + circumflex + tilde, a + breve.
        "Nguye\u{0302}\u{0303}n Va\u{0306}n An",
        "NGUYE\u{0302}\u{0303}N   VA\u{0306}N AN",
    ] {
        let mut q = an("+84823456088");
        q.full_name = name.into();
        assert_eq!(
            s.connectors
                .carrier
                .check_subscriber(&q)
                .await
                .expect("answer"),
            SubscriberCheck::Match,
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn carrier_error_is_unavailable_after_retries() {
    let s = sandbox(fast_config(), Duration::from_secs(2)).await;
    let r = s
        .connectors
        .carrier
        .check_subscriber(&an("+84900000500"))
        .await;
    assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
    assert_eq!(s.sim.carrier_calls(), 3, "retries + 1 attempts");
}

#[tokio::test]
async fn carrier_timeout_is_unavailable_within_the_time_budget() {
    let s = sandbox(fast_config(), Duration::from_secs(2)).await;
    let started = Instant::now();
    let r = s
        .connectors
        .carrier
        .check_subscriber(&an("+84900000504"))
        .await;
    let took = started.elapsed();
    match &r {
        Err(ConnectorError::Unavailable(why)) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // 3 attempts × 300 ms + backoff 100 + 200 ms ≈ 1.2 s; the fault would answer after 2 s.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_millis(1900), "{took:?}");
    assert_eq!(s.sim.carrier_calls(), 3);
}

#[tokio::test]
async fn carrier_malformed_is_not_retried() {
    let s = sandbox(fast_config(), Duration::from_secs(2)).await;
    let r = s
        .connectors
        .carrier
        .check_subscriber(&an("+84900000502"))
        .await;
    assert!(matches!(r, Err(ConnectorError::Malformed(_))), "{r:?}");
    assert_eq!(s.sim.carrier_calls(), 1);
}

#[tokio::test]
async fn carrier_unreachable_is_unavailable() {
    // A port that was just free: connection refused.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let config = ConnectorsConfig {
        carrier_url: format!("http://{addr}/carrier"),
        ..fast_config()
    };
    let c = Connectors::http(
        &config,
        "http://unused.invalid",
        http_client(),
        Default::default(),
    );
    let r = c.carrier.check_subscriber(&an("+84823456088")).await;
    match r {
        Err(ConnectorError::Unavailable(why)) => {
            assert!(
                !why.contains(&addr.to_string()),
                "no URL in messages: {why}"
            )
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A hand-made upstream answering `status` with `body` to every carrier/BHXH/SMS request,
/// counting calls.
async fn fake_upstream(status: StatusCode, body: &'static str) -> (String, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let handler = move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        }
    };
    let router = Router::new()
        .route("/x/v1/subscriber-check", post(handler.clone()))
        .route("/x/v1/messages", post(handler.clone()))
        .route("/x/v1/insured/{code}", get(handler));
    (format!("{}/x", serve(router).await), calls)
}

fn pointed_at(url: &str) -> Connectors {
    let config = ConnectorsConfig {
        carrier_url: url.into(),
        sms_url: url.into(),
        bhxh_url: url.into(),
        ..fast_config()
    };
    Connectors::http(
        &config,
        "http://unused.invalid",
        http_client(),
        Default::default(),
    )
}

#[tokio::test]
async fn carrier_contract_edges() {
    // Unknown result value, missing result, a 4xx: Malformed, not retried.
    for (status, body) in [
        (StatusCode::OK, r#"{"result":"maybe"}"#),
        (StatusCode::OK, r#"{"verdict":"match"}"#),
        (StatusCode::OK, r#"["match"]"#),
        (StatusCode::BAD_REQUEST, r#"{"error":"bad"}"#),
        (StatusCode::FORBIDDEN, ""),
    ] {
        let (url, calls) = fake_upstream(status, body).await;
        let r = pointed_at(&url)
            .carrier
            .check_subscriber(&an("+84823456088"))
            .await;
        assert!(
            matches!(r, Err(ConnectorError::Malformed(_))),
            "{status} {body}: {r:?}"
        );
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
    // 503 and 429 are "try later": retried.
    for status in [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let (url, calls) = fake_upstream(status, "").await;
        let r = pointed_at(&url)
            .carrier
            .check_subscriber(&an("+84823456088"))
            .await;
        assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }
}

// ── BHXH ──

#[tokio::test]
async fn bhxh_found() {
    let s = default_sandbox().await;
    let r = s
        .connectors
        .bhxh
        .lookup("0123456789")
        .await
        .expect("answer");
    let record = r.expect("record");
    assert_eq!(record.bhxh_code, "0123456789");
    assert_eq!(record.id_number, "001090012345");
    assert_eq!(record.full_name, "Nguyễn Văn An");
    assert_eq!(record.birthdate, date(1990, 6, 12));
    assert_eq!(
        record.phone.as_deref(),
        Some("+84823456088"),
        "the phone on file, E.164"
    );
    let without = s
        .connectors
        .bhxh
        .lookup("7998765432")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(without.phone, None, "a record may have no phone");
}

#[tokio::test]
async fn bhxh_returns_names_as_stored() {
    let s = default_sandbox().await;
    let record = s
        .connectors
        .bhxh
        .lookup("7998765432")
        .await
        .expect("answer")
        .expect("record");
    // Decomposed, upper case, double space: folding is the authenticator's job.
    assert_eq!(
        record.full_name,
        "TRA\u{0302}\u{0300}N THI\u{0323}  BI\u{0301}CH NGO\u{0323}C"
    );
    assert_eq!(record.id_number, "079195004821");
}

#[tokio::test]
async fn bhxh_not_found_is_none() {
    let s = default_sandbox().await;
    assert!(
        s.connectors
            .bhxh
            .lookup("9999999999")
            .await
            .expect("answer")
            .is_none()
    );
    // Odd input stays one path segment: still just "not found".
    for code in ["../../carrier", "a b/c?d#e", "%2e%2e", ""] {
        let r = s.connectors.bhxh.lookup(code).await;
        assert!(matches!(r, Ok(None)), "{code:?}: {r:?}");
    }
}

#[tokio::test]
async fn bhxh_faults() {
    let s = sandbox(fast_config(), Duration::from_secs(2)).await;
    let r = s.connectors.bhxh.lookup("4800000500").await;
    assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
    assert_eq!(s.sim.bhxh_calls(), 3);

    let started = Instant::now();
    let r = s.connectors.bhxh.lookup("9200000504").await;
    assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_millis(1900));
    assert_eq!(s.sim.bhxh_calls(), 6);

    let r = s.connectors.bhxh.lookup("4000000502").await;
    assert!(matches!(r, Err(ConnectorError::Malformed(_))), "{r:?}");
    assert_eq!(s.sim.bhxh_calls(), 7);
}

#[tokio::test]
async fn bhxh_invalid_records_are_malformed() {
    for body in [
        // Missing field.
        r#"{"bhxh_code":"0123456789","id_number":"001090012345","full_name":"A"}"#,
        // Bad date.
        r#"{"bhxh_code":"0123456789","id_number":"001090012345","full_name":"A","birthdate":"12/06/1990"}"#,
        // Empty name.
        r#"{"bhxh_code":"0123456789","id_number":"001090012345","full_name":" ","birthdate":"1990-06-12"}"#,
        // Bad ID number.
        r#"{"bhxh_code":"0123456789","id_number":"12345","full_name":"A","birthdate":"1990-06-12"}"#,
        // Another person's record.
        r#"{"bhxh_code":"0000000001","id_number":"001090012345","full_name":"A","birthdate":"1990-06-12"}"#,
        // Wrong types.
        r#"{"bhxh_code":123,"id_number":"001090012345","full_name":"A","birthdate":"1990-06-12"}"#,
        // A phone on file that is not a Vietnamese mobile number.
        r#"{"bhxh_code":"0123456789","id_number":"001090012345","full_name":"A","birthdate":"1990-06-12","phone":"123"}"#,
    ] {
        let (url, _) = fake_upstream(StatusCode::OK, body).await;
        let r = pointed_at(&url).bhxh.lookup("0123456789").await;
        match r {
            Err(ConnectorError::Malformed(why)) => {
                assert!(!why.contains("001090012345"), "no personal data: {why}")
            }
            other => panic!("{body}: expected Malformed, got {other:?}"),
        }
    }
}

// ── SMS ──

async fn outbox(s: &Sandbox, query: &str) -> Vec<SmsMessage> {
    let resp = s
        .http
        .get(format!("{}/sandbox/sms/outbox{query}", s.base))
        .send()
        .await
        .expect("outbox");
    assert_eq!(resp.status(), StatusCode::OK, "{query}");
    resp.json().await.expect("outbox json")
}

#[tokio::test]
async fn sms_send_then_outbox_newest_last_filtered_by_phone() {
    let s = default_sandbox().await;
    let sms = &s.connectors.sms;
    sms.send("+84823456088", "Ma OTP: 111111")
        .await
        .expect("send 1");
    sms.send("+84912345678", "Ma OTP: 999999")
        .await
        .expect("send other");
    sms.send("+84823456088", "Ma OTP: 222222")
        .await
        .expect("send 2");

    let texts = |ms: Vec<SmsMessage>| ms.into_iter().map(|m| m.text).collect::<Vec<_>>();
    let expected = vec!["Ma OTP: 111111".to_string(), "Ma OTP: 222222".to_string()];
    // The same number in every accepted form; '+' unencoded decodes as a space and still works.
    for q in [
        "?to=0823456088",
        "?to=%2B84823456088",
        "?to=+84823456088",
        "?to=84823456088",
        "?to=082%20345%206088",
    ] {
        assert_eq!(texts(outbox(&s, q).await), expected, "{q}");
    }
    let mine = outbox(&s, "?to=0823456088").await;
    assert!(mine.iter().all(|m| m.to == "+84823456088"));
    assert!(mine[0].sent_at <= mine[1].sent_at);

    let all = outbox(&s, "").await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].to, "+84912345678");
    assert_eq!(
        texts(outbox(&s, "?to=0911111111").await),
        Vec::<String>::new()
    );

    // In-process view for tests and the CLI.
    assert_eq!(texts(s.sim.messages_to("0823456088")), expected);
    assert_eq!(texts(s.sim.messages_to("+84823456088")), expected);
    assert!(s.sim.messages_to("garbage").is_empty());

    // The wire shape of the ⚓ contract: exactly to, text, sent_at.
    let raw: serde_json::Value = s
        .http
        .get(format!("{}/sandbox/sms/outbox?to=0912345678", s.base))
        .send()
        .await
        .expect("outbox")
        .json()
        .await
        .expect("json");
    let entry = raw[0].as_object().expect("object");
    let mut keys: Vec<_> = entry.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["sent_at", "text", "to"]);
}

#[tokio::test]
async fn sms_outbox_is_bounded() {
    let s = default_sandbox().await;
    for i in 0..OUTBOX_CAPACITY + 5 {
        s.connectors
            .sms
            .send("+84823456088", &format!("message {i}"))
            .await
            .expect("send");
    }
    let all = s.sim.messages();
    assert_eq!(all.len(), OUTBOX_CAPACITY);
    assert_eq!(all[0].text, "message 5");
    assert_eq!(
        all[OUTBOX_CAPACITY - 1].text,
        format!("message {}", OUTBOX_CAPACITY + 4)
    );
}

#[tokio::test]
async fn sms_is_never_retried() {
    for status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ] {
        let (url, calls) = fake_upstream(status, "").await;
        let r = pointed_at(&url).sms.send("+84823456088", "x").await;
        assert!(matches!(r, Err(ConnectorError::Unavailable(_))), "{r:?}");
        assert_eq!(calls.load(Ordering::Relaxed), 1, "a retry could send twice");
    }
    let (url, _) = fake_upstream(StatusCode::BAD_REQUEST, "").await;
    let r = pointed_at(&url).sms.send("+84823456088", "x").await;
    assert!(matches!(r, Err(ConnectorError::Malformed(_))), "{r:?}");
    let (url, _) = fake_upstream(StatusCode::OK, "").await;
    pointed_at(&url)
        .sms
        .send("+84823456088", "x")
        .await
        .expect("200 is success too");
}

// ── the simulators never fail on bad input ──

#[tokio::test]
async fn simulators_answer_400_to_bad_input() {
    let s = default_sandbox().await;
    let post = |path: &str, body: &'static str| {
        s.http
            .post(format!("{}/sandbox{path}", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (path, body) in [
        ("/carrier/v1/subscriber-check", ""),
        ("/carrier/v1/subscriber-check", "not json"),
        ("/carrier/v1/subscriber-check", "{\"msisdn\": 1}"),
        (
            "/carrier/v1/subscriber-check",
            r#"{"msisdn":"12","id_number":"1","full_name":"a","birthdate":"1990-06-12"}"#,
        ),
        (
            "/carrier/v1/subscriber-check",
            r#"{"msisdn":"+84823456088","id_number":"1","full_name":"a","birthdate":"12/06/1990"}"#,
        ),
        ("/sms/v1/messages", "[]"),
        ("/sms/v1/messages", r#"{"to":"+1555","text":"x"}"#),
        ("/sms/v1/messages", r#"{"to":"0823456088","text":"  "}"#),
        ("/sms/v1/messages", "\u{0}\u{ffff}"),
    ] {
        let resp = post(path, body).await.expect("request");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path} {body:?}");
    }
    for query in ["?to=12345", "?to=%FF", "?to=abc"] {
        let resp = s
            .http
            .get(format!("{}/sandbox/sms/outbox{query}", s.base))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let resp = s
        .http
        .get(format!("{}/sandbox/bhxh/v1/insured/%FF%FE", s.base))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(s.sim.messages().is_empty());
}

// ── seed ──

#[test]
fn default_seed_covers_every_case() {
    let seed = SandboxSeed::load(None).expect("default seed");
    assert!(seed.subscribers.len() >= 8);
    assert!(seed.bhxh.len() >= 6);
    for fault in [Fault::Error, Fault::Timeout, Fault::Malformed] {
        assert!(
            seed.subscribers.iter().any(|s| s.fault == fault),
            "{fault:?}"
        );
        assert!(seed.bhxh.iter().any(|b| b.fault == fault), "{fault:?}");
    }
    assert!(seed.subscribers.iter().any(|s| s.id_number.len() == 9));
    assert!(seed.subscribers.iter().all(|s| s.phone.starts_with("+84")));
    // The file on disk is the one embedded.
    let on_disk = SandboxSeed::load(Some(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/sandbox-seed.toml"
    ))))
    .expect("file");
    assert_eq!(on_disk, seed);
}

#[test]
fn default_seed_cccd_numbers_are_consistent_with_birth_dates() {
    use chrono::Datelike;
    let seed = SandboxSeed::load(None).expect("default seed");
    let people = seed
        .subscribers
        .iter()
        .map(|s| (&s.id_number, s.birthdate))
        .chain(seed.bhxh.iter().map(|b| (&b.id_number, b.birthdate)));
    for (id, birthdate) in people {
        if id.len() != 12 {
            continue;
        }
        let province = &id[0..3];
        assert!(
            ["001", "031", "040", "048", "056", "079", "092"].contains(&province),
            "{id}"
        );
        let century_gender: u32 = id[3..4].parse().expect("digit");
        let year = birthdate.year();
        let century_ok = match century_gender {
            0 | 1 => (1900..2000).contains(&year),
            2 | 3 => (2000..2100).contains(&year),
            _ => false,
        };
        assert!(century_ok, "{id} {birthdate}");
        assert_eq!(id[4..6], format!("{:02}", year % 100), "{id} {birthdate}");
    }
}

fn seed_error(text: &str) -> String {
    match SandboxSeed::parse(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = r#"
[[subscribers]]
phone = "0823456088"
id_number = "001090012345"
full_name = "Nguyễn Văn An"
birthdate = "12/06/1990"
"#;

#[test]
fn seed_parses_forms_and_defaults() {
    let seed = SandboxSeed::parse(GOOD).expect("good");
    assert_eq!(seed.subscribers[0].phone, "+84823456088");
    assert_eq!(seed.subscribers[0].birthdate, date(1990, 6, 12));
    assert_eq!(seed.subscribers[0].fault, Fault::None);
    assert!(seed.bhxh.is_empty());
    assert_eq!(
        SandboxSeed::parse("").expect("empty"),
        SandboxSeed::default()
    );
}

#[test]
fn seed_errors_name_the_entry_and_the_problem() {
    let bad_date = GOOD.replace("12/06/1990", "31/02/1990");
    let e = seed_error(&bad_date);
    assert!(
        e.contains("subscribers[0]") && e.contains("birthdate \"31/02/1990\""),
        "{e}"
    );
    assert!(e.contains("dd/mm/yyyy"), "{e}");
    let e = seed_error(&GOOD.replace("12/06/1990", "1990-06-12"));
    assert!(e.contains("dd/mm/yyyy"), "{e}");
    let e = seed_error(&GOOD.replace("12/06/1990", "12/6/90"));
    assert!(e.contains("dd/mm/yyyy"), "{e}");

    let e = seed_error(&GOOD.replace("0823456088", "0123"));
    assert!(e.contains("subscribers[0] (phone \"0123\")"), "{e}");
    assert!(e.contains("not a Vietnamese mobile number"), "{e}");

    let e = seed_error(&format!("{GOOD}fault = \"explode\"\n"));
    assert!(
        e.contains("fault \"explode\" is not one of none, error, timeout, malformed"),
        "{e}"
    );

    let e = seed_error(&GOOD.replace("001090012345", "0010900123"));
    assert!(e.contains("id_number") && e.contains("12 digits"), "{e}");

    let e = seed_error(&format!(
        "{GOOD}{}",
        GOOD.replace("0823456088", "+84 823 456 088")
    ));
    assert!(
        e.contains("subscribers[1]") && e.contains("same number as subscribers[0]"),
        "{e}"
    );

    let e = seed_error(
        "[[bhxh]]\nbhxh_code = \"12\"\nid_number = \"001090012345\"\nfull_name = \"\"\nbirthdate = \"12/06/1990\"\n",
    );
    assert!(
        e.contains("bhxh[0] (bhxh_code \"12\"): bhxh_code must be 10 digits"),
        "{e}"
    );
    assert!(e.contains("full_name is empty"), "{e}");

    // Unknown keys and missing fields are refused by the parser, with the line.
    let e = seed_error(&format!("{GOOD}colour = \"red\"\n"));
    assert!(e.contains("colour"), "{e}");
    let e = seed_error("[[subscribers]]\nphone = \"0823456088\"\n");
    assert!(e.contains("missing field"), "{e}");
    let e = seed_error("[[carriers]]\n");
    assert!(e.contains("carriers"), "{e}");
}

#[test]
fn seed_load_reports_the_missing_file() {
    let e = SandboxSeed::load(Some(std::path::Path::new("/nonexistent/seed.toml")))
        .expect_err("missing");
    assert!(matches!(e, SeedError::Read { .. }));
    assert!(e.to_string().contains("/nonexistent/seed.toml"), "{e}");
}

// ── config ──

#[test]
fn config_defaults_resolve_to_the_sandbox() {
    let c = ConnectorsConfig::default();
    assert_eq!(c.timeout_ms, 3000);
    assert_eq!(c.retries, 2);
    assert!(c.uses_sandbox());
    let urls = c.resolve("https://id.example.gov.vn/");
    assert_eq!(urls.carrier, "https://id.example.gov.vn/sandbox/carrier");
    assert_eq!(urls.sms, "https://id.example.gov.vn/sandbox/sms");
    assert_eq!(urls.bhxh, "https://id.example.gov.vn/sandbox/bhxh");
    c.validate().expect("defaults are valid");

    let c: ConnectorsConfig =
        toml::from_str("carrier_url = \"https://carrier.example/api/\"\nretries = 0\n")
            .expect("toml");
    assert_eq!(c.resolve("http://x").carrier, "https://carrier.example/api");
    assert_eq!(c.resolve("http://x").sms, "http://x/sandbox/sms");
    assert_eq!(c.timeout_ms, 3000);
    assert!(toml::from_str::<ConnectorsConfig>("carier_url = \"x\"").is_err());

    for bad in [
        "carrier_url = \"ftp://x\"",
        "sms_url = \"not a url\"",
        "bhxh_url = \"http://x/?a=b\"",
        "timeout_ms = 0",
        "retries = 50",
    ] {
        let c: ConnectorsConfig = toml::from_str(bad).expect("toml");
        assert!(c.validate().is_err(), "{bad}");
    }
}

// ── wiring shape the main app uses ──

#[tokio::test]
async fn nests_next_to_other_sandbox_routes_of_a_stateful_app() {
    // Stands in for `App`: the simulators bring their own state.
    #[derive(Clone)]
    struct AppState;
    let seed = SandboxSeed::load(None).expect("seed");
    let sim = Arc::new(Simulators::new(seed, Clock::system()));
    let app: Router<AppState> = Router::new()
        .route("/sandbox/demo-portal", get(|| async { "portal" }))
        .route("/sandbox/captcha/{id}", get(|| async { "captcha" }))
        .nest("/sandbox", simulators::router(sim));
    let base = serve(app.with_state(AppState)).await;
    let http = http_client();
    for (path, status) in [
        ("/sandbox/demo-portal", StatusCode::OK),
        ("/sandbox/captcha/abc", StatusCode::OK),
        ("/sandbox/sms/outbox", StatusCode::OK),
        ("/sandbox/bhxh/v1/insured/9999999999", StatusCode::NOT_FOUND),
    ] {
        let resp = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), status, "{path}");
    }
}

// ── `xacthuc sandbox`: the standalone sandbox with its PKI ──

/// What a production-shaped xacthuc (sandbox off) does against `xacthuc sandbox`: its
/// connectors reach the standalone's MSSP, the holder approves there, and the signature is
/// verified by a `Pki` trusting only the root downloaded from it, with revocation answered by
/// its OCSP responder (the CRL is down).
#[tokio::test]
async fn the_standalone_sandbox_signs_with_its_ca_and_answers_ocsp_for_it() {
    use xacthuc::connectors::mobile_signature::{MssStatus, Requested, SignatureRequest};
    use xacthuc::domain::TrustSet;
    use xacthuc::pki::Pki;

    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seed = SandboxSeed::load(None).expect("default seed");
    let sandbox =
        xacthuc::sandbox::Standalone::open(seed, &dir.path().join("pki"), &base, Clock::system())
            .expect("the sandbox CA");
    let router = sandbox.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let http = http_client();

    // The anchor, as an operator would download it.
    let root = http
        .get(format!("{base}/sandbox/pki/ca/public-root.pem"))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    let anchor = dir.path().join("public-root.pem");
    std::fs::write(&anchor, root.bytes().await.unwrap()).unwrap();
    let config = xacthuc::config::PkiConfig {
        public_anchors: vec![anchor],
        ..Default::default()
    };
    let pki = Pki::new(&config, http.clone(), &[]).expect("anchors");
    let faults = http
        .post(format!("{base}/sandbox/pki/ca/public-ca/faults"))
        .json(&serde_json::json!({ "crl": "down" }))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status(), StatusCode::NO_CONTENT);

    // The SIM signature, through the connector, approved on the standalone's MSSP.
    let connectors = Connectors::http(
        &ConnectorsConfig::default(),
        &format!("{base}/"),
        http.clone(),
        Default::default(),
    );
    let dtbs = b"0123456789abcdef0123456789abcdef".to_vec();
    let requested = connectors
        .mobile_signature
        .request_signature(&SignatureRequest {
            ap_trans_id: "standalone-1".into(),
            msisdn: "+84823456088".into(),
            data_to_be_displayed: "Mã xác nhận 1234".into(),
            data_to_be_signed: dtbs.clone(),
            timeout_seconds: 120,
        })
        .await
        .unwrap();
    let Requested::Accepted { mssp_trans_id } = requested else {
        panic!("refused: {requested:?}");
    };
    let pending = crate::helpers::pending_signatures_at(&base, "mssp", "0823456088").await;
    let id = pending[0]["id"].as_str().expect("a pending request");
    assert_eq!(
        crate::helpers::answer_signature_at(&base, "mssp", id, Some("123456")).await,
        StatusCode::OK
    );
    let MssStatus::Signed(cms) = connectors
        .mobile_signature
        .status(&mssp_trans_id)
        .await
        .unwrap()
    else {
        panic!("not signed");
    };
    let signed = pki
        .verify_cms(
            &cms,
            Some(&dtbs),
            &[TrustSet::Public],
            Clock::system().now(),
        )
        .await
        .expect("trusted by the standalone's root, not revoked by its OCSP responder");
    assert_eq!(
        signed.certificate.subject.uids,
        vec![xacthuc::pki::Uid::Cccd("001090012345".into())]
    );

    // The holder's page is there too.
    let page = http
        .get(format!("{base}/sandbox/mssp/phone"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}
