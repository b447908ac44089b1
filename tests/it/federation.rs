//! The federation broker against the sandbox VNeID, at the HTTP level: first logins make
//! accounts at the IAL of the VNeID level, existing accounts are linked (or not), the portal's
//! hints reach VNeID, and every upstream fault or bad callback is a clear page that creates and
//! changes nothing.

use reqwest::StatusCode;
use xacthuc::domain::{CredentialKind, Ial};
use xacthuc::sandbox::vneid::VneidFault;

use crate::code_flow::decode_part;
use crate::helpers::*;

/// Seeded sandbox VNeID citizens (config/sandbox-seed.toml).
const LEVEL2_NEW: (&str, &str) = ("040088003579", "0971234567");
const LEVEL1_NEW: (&str, &str) = ("092199001357", "0961234567");
const LEVEL2_AN: (&str, &str) = ("001090012345", "0823456088");
const LEVEL1_NGOC: (&str, &str) = ("079195004821", "0912345678");
const VNEID_PASSWORD: &str = "Vneid@2024";

/// A portal's authorization request in a fresh browser; returns the browser, the pending
/// request (`ar`), the PKCE verifier and the client.
async fn portal_request(
    t: &TestApp,
    extra: &[(&str, &str)],
) -> (reqwest::Client, String, String, (String, String)) {
    let (client_id, secret) = t.add_client(|_| {}).await;
    let (verifier, challenge) = pkce();
    let b = browser();
    let resp = b
        .get(authorize_url(t, &client_id, &challenge, extra))
        .send()
        .await
        .unwrap();
    let login = location(&resp);
    assert!(login.contains("/login?"), "to the login page: {login}");
    (b, ar_of(&login), verifier, (client_id, secret.unwrap()))
}

/// Our `/login/federation` for `upstream`, for the portal's pending request `ar`.
async fn start_at(t: &TestApp, b: &reqwest::Client, upstream: &str, ar: &str) -> reqwest::Response {
    let url = t.url(&format!("/login/federation?upstream={upstream}&ar={ar}"));
    b.get(url).send().await.unwrap()
}

/// Goes through the sandbox VNeID from our `/login/federation` and returns our callback's
/// answer.
async fn through_vneid(
    t: &TestApp,
    b: &reqwest::Client,
    ar: &str,
    citizen: (&str, &str),
) -> reqwest::Response {
    let callback = to_callback(t, b, ar, citizen).await;
    b.get(callback).send().await.unwrap()
}

/// Logs in at the sandbox VNeID from our `/login/federation` (ID number, password, the OTP
/// from the SMS outbox); returns where VNeID sends the browser back (our callback).
async fn to_callback(
    t: &TestApp,
    b: &reqwest::Client,
    ar: &str,
    (id_number, phone): (&str, &str),
) -> String {
    let start = start_at(t, b, "vneid", ar).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "off to VNeID");
    let authorize = location(&start);
    assert!(authorize.starts_with(&t.url("/sandbox/vneid/authorize?")));
    let html = page_text(b, &authorize).await;
    let login = hidden(&html, "login").expect("VNeID's login form");
    let html = b
        .post(t.url("/sandbox/vneid/login"))
        .form(&[
            ("login", login.as_str()),
            ("id_number", id_number),
            ("password", VNEID_PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("name=\"otp\""),
        "VNeID asks for its OTP: {html}"
    );
    let otp = latest_otp(t, phone).await;
    let back = b
        .post(t.url("/sandbox/vneid/otp"))
        .form(&[("login", login.as_str()), ("otp", otp.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.status(),
        StatusCode::SEE_OTHER,
        "back to the portal's IdP"
    );
    let callback = location(&back);
    assert!(callback.starts_with(&t.url("/login/federation/callback?")));
    callback
}

/// After a successful callback: on to the portal (consent approved), the code redeemed;
/// returns the ID token's claims.
async fn id_token_claims(
    t: &TestApp,
    b: &reqwest::Client,
    resp: reqwest::Response,
    verifier: &str,
    (client_id, secret): &(String, String),
) -> serde_json::Value {
    assert!(
        resp.status().is_redirection(),
        "logged in: {}",
        resp.status()
    );
    let mut loc = location(&resp);
    if loc.contains("/consent?") {
        loc = consent(b, &loc, true).await;
    }
    let code = query(&loc)
        .get("code")
        .cloned()
        .expect("a code for the portal");
    let redirect_uri = loc.split('?').next().unwrap().to_string();
    let (status, tokens) =
        exchange_code(t, client_id, secret, &code, &redirect_uri, verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    decode_part(tokens["id_token"].as_str().unwrap(), 1)
}

const VNEID_NAME: &str = "Tài khoản Định danh điện tử cấp bởi Bộ Công an";

/// A refused answer whose message names the upstream.
async fn refused_naming(
    t: &TestApp,
    resp: reqwest::Response,
    status: StatusCode,
    key: &str,
    upstream: &str,
) -> String {
    unescape(&refused_with(t, resp, status, key, &[("upstream", upstream)]).await)
}

/// How many upstream links the account has.
async fn links_of(t: &TestApp, account: &str) -> usize {
    let links = t
        .app
        .db
        .credentials_of(account, CredentialKind::FederatedLink);
    links.await.unwrap().len()
}

async fn set_fault(t: &TestApp, fault: &str) {
    let resp = http()
        .post(t.url("/sandbox/vneid/faults"))
        .json(&serde_json::json!({ "fault": fault }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_first_vneid_login_makes_an_account_at_the_ial_of_the_vneid_level() {
    let t = spawn_app().await;
    for ((id_number, phone), ial, acr, level) in [
        (LEVEL2_NEW, Ial::Ial3, "IAL3", "2"),
        (LEVEL1_NEW, Ial::Ial2, "IAL2", "1"),
    ] {
        assert!(
            t.app
                .db
                .find_account_by_id_number(id_number)
                .await
                .unwrap()
                .is_none()
        );
        let (b, ar, verifier, client) = portal_request(&t, &[]).await;
        let resp = through_vneid(&t, &b, &ar, (id_number, phone)).await;
        let claims = id_token_claims(&t, &b, resp, &verifier, &client).await;
        assert_eq!(claims["acr"], acr, "VNeID's level, mapped");
        assert_eq!(
            claims["urn:xacthuc:upstream"],
            serde_json::json!({ "id": "vneid", "name": VNEID_NAME, "level": level }),
            "VNeID's own level and name, namespaced"
        );
        let amr = claims["amr"].as_array().unwrap();
        assert!(
            amr.contains(&"pwd".into()) && amr.contains(&"otp".into()),
            "{amr:?}"
        );
        let account = t
            .app
            .db
            .find_account_by_id_number(id_number)
            .await
            .unwrap()
            .expect("an account was made");
        assert_eq!(claims["sub"], account.id.as_str());
        assert_eq!(account.ial, ial);
        assert_eq!(account.registration_method, "vneid");
        let event = audited_for(&t, "account.registered", &account.id)
            .await
            .expect("the registration is audited");
        assert_eq!(event.detail["upstream"], "vneid");

        // The next login opens the same account.
        let (b, ar, verifier, client) = portal_request(&t, &[]).await;
        let resp = through_vneid(&t, &b, &ar, (id_number, phone)).await;
        let again = id_token_claims(&t, &b, resp, &verifier, &client).await;
        assert_eq!(
            again["sub"],
            account.id.as_str(),
            "the same account, not a second"
        );
    }
    assert_eq!(
        t.app
            .db
            .find_account_by_id_number(LEVEL2_NEW.0)
            .await
            .unwrap()
            .unwrap()
            .full_name,
        "Lê Quang Huy",
        "the identity is VNeID's"
    );
}

#[tokio::test]
async fn the_portals_hints_reach_vneid_with_pkce_state_and_nonce() {
    let t = spawn_app().await;
    let extra = [
        ("login_hint", "040088003579"),
        ("acr_values", "IAL3"),
        ("ui_locales", "vi"),
        ("max_age", "600"),
    ];
    let (b, ar, _, _) = portal_request(&t, &extra).await;
    let start = start_at(&t, &b, "vneid", &ar).await;
    let sent = query(&location(&start));
    for (name, value) in extra {
        assert_eq!(
            sent.get(name).map(String::as_str),
            Some(value),
            "{name} forwarded"
        );
    }
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(sent["redirect_uri"], t.url("/login/federation/callback"));
    assert!(sent["state"].len() >= 43 && sent["nonce"].len() >= 43);
    let html = page_text(&b, location(&start)).await;
    assert!(
        html.contains("value=\"040088003579\""),
        "VNeID prefills the hint"
    );
    let seen = t.app.sandbox_vneid.as_ref().unwrap().last_authorize();
    assert_eq!(seen.get("acr_values").map(String::as_str), Some("IAL3"));
}

#[tokio::test]
async fn an_account_with_the_same_id_number_is_linked_when_vneid_vouches_at_least_its_level() {
    let t = spawn_app().await;
    let existing = t.add_account(LEVEL2_AN.0, Ial::Ial2).await;
    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_AN).await;
    let claims = id_token_claims(&t, &b, resp, &verifier, &client).await;
    assert_eq!(
        claims["sub"],
        existing.as_str(),
        "the existing account, linked"
    );
    assert_eq!(claims["acr"], "IAL2", "never above the account's own level");
    assert_eq!(links_of(&t, &existing).await, 1);
    assert!(audited_for(&t, "account.linked", &existing).await.is_some());
}

#[tokio::test]
async fn a_lower_vneid_level_does_not_link_a_higher_account() {
    let t = spawn_app().await;
    let existing = t.add_account(LEVEL1_NGOC.0, Ial::Ial3).await;
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL1_NGOC).await;
    refused(
        &t,
        resp,
        StatusCode::UNAUTHORIZED,
        "error_federation_link_needs_proof",
    )
    .await;
    assert_eq!(links_of(&t, &existing).await, 0, "not linked");
    assert_eq!(
        t.app.db.find_account(&existing).await.unwrap().unwrap().ial,
        Ial::Ial3
    );
}

#[tokio::test]
async fn every_upstream_fault_is_a_clear_page_and_creates_nothing() {
    let t = spawn_app().await;
    // (fault, status, message, the reason in the audit log)
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    let unauthorized = StatusCode::UNAUTHORIZED;
    let cases = [
        (
            "error",
            unavailable,
            "error_federation_unavailable",
            "upstream_unavailable",
        ),
        (
            "html",
            unavailable,
            "error_federation_unavailable",
            "upstream_malformed",
        ),
        (
            "bad_signature",
            unauthorized,
            "error_federation_token_refused",
            "bad_signature",
        ),
        (
            "wrong_nonce",
            unauthorized,
            "error_federation_token_refused",
            "wrong_nonce",
        ),
        (
            "wrong_issuer",
            unauthorized,
            "error_federation_token_refused",
            "wrong_issuer",
        ),
        (
            "expired",
            unauthorized,
            "error_federation_token_refused",
            "id_token_expired",
        ),
        (
            "alg_none",
            unauthorized,
            "error_federation_token_refused",
            "alg_none",
        ),
        (
            "hmac",
            unauthorized,
            "error_federation_token_refused",
            "alg_hmac",
        ),
    ];
    for (fault, status, key, reason) in cases {
        set_fault(&t, fault).await;
        let (b, ar, _, _) = portal_request(&t, &[]).await;
        let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
        let html = refused_naming(&t, resp, status, key, VNEID_NAME).await;
        assert!(
            audited(&t, "login.failed", reason).await.is_some(),
            "{fault}: audited as {reason}"
        );
        assert!(
            html.contains("name=\"password\""),
            "{fault}: the other methods stay offered"
        );
        assert!(
            t.app
                .db
                .find_account_by_id_number(LEVEL2_NEW.0)
                .await
                .unwrap()
                .is_none(),
            "{fault}: no account"
        );
    }
    // Fixed upstream, same browser flow: it works again.
    set_fault(&t, "none").await;
    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
    id_token_claims(&t, &b, resp, &verifier, &client).await;
}

#[tokio::test]
async fn a_slow_vneid_is_named_and_the_other_methods_stay() {
    let t = spawn_app_with(|c| c.federation.timeout_ms = 500).await;
    t.app
        .sandbox_vneid
        .as_ref()
        .unwrap()
        .set_fault(VneidFault::Timeout);
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
    let html = refused_naming(
        &t,
        resp,
        StatusCode::SERVICE_UNAVAILABLE,
        "error_federation_unavailable",
        VNEID_NAME,
    )
    .await;
    assert!(html.contains("name=\"password\""));
}

#[tokio::test]
async fn vneid_naming_another_id_number_than_the_linked_account_opens_nothing() {
    let t = spawn_app().await;
    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
    let first = id_token_claims(&t, &b, resp, &verifier, &client).await;

    set_fault(&t, "other_id_number").await;
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
    refused(
        &t,
        resp,
        StatusCode::UNAUTHORIZED,
        "error_federation_id_number_changed",
    )
    .await;
    let account = t
        .app
        .db
        .find_account(first["sub"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        account.id_number.as_deref(),
        Some(LEVEL2_NEW.0),
        "unchanged"
    );
    assert!(
        t.app
            .db
            .find_account_by_id_number(LEVEL2_AN.0)
            .await
            .unwrap()
            .is_none(),
        "no account for the other number"
    );
}

#[tokio::test]
async fn a_callback_without_its_state_or_replayed_logs_no_one_in() {
    let t = spawn_app().await;
    // No login in this browser at all.
    let resp = browser()
        .get(t.url("/login/federation/callback?code=abc&state=xyz"))
        .send()
        .await
        .unwrap();
    refused(&t, resp, StatusCode::BAD_REQUEST, "err_flow_expired").await;

    // A login, but a callback without the state (or with another).
    for query in ["code=abc", "code=abc&state=forged"] {
        let (b, ar, _, _) = portal_request(&t, &[]).await;
        let start = start_at(&t, &b, "vneid", &ar).await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let resp = b
            .get(t.url(&format!("/login/federation/callback?{query}")))
            .send()
            .await
            .unwrap();
        refused(
            &t,
            resp,
            StatusCode::UNAUTHORIZED,
            "error_federation_failed",
        )
        .await;
    }

    // A finished login's callback, answered again: nothing more happens.
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let callback = to_callback(&t, &b, &ar, LEVEL2_NEW).await;
    let first = b.get(&callback).send().await.unwrap();
    assert!(first.status().is_redirection());
    let again = b.get(&callback).send().await.unwrap();
    refused(&t, again, StatusCode::BAD_REQUEST, "err_flow_expired").await;
}

#[tokio::test]
async fn an_unknown_upstream_is_a_clear_page() {
    let t = spawn_app().await;
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let resp = start_at(&t, &b, "nope", &ar).await;
    let html = refused(
        &t,
        resp,
        StatusCode::BAD_REQUEST,
        "error_federation_unknown_upstream",
    )
    .await;
    assert!(html.contains("name=\"password\""), "back on the login page");
}

#[tokio::test]
async fn an_upstream_whose_discovery_answers_html_is_named_and_nothing_breaks() {
    let t = spawn_app_with(|c| {
        let mut other = c.federation.upstreams[0].clone();
        other.id = "html".into();
        other.name = "Trang HTML".into();
        // Our own login page: HTML, not a discovery document.
        other.discovery_url = format!("{}/login", c.server.public_url);
        c.federation.upstreams.push(other);
    })
    .await;
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let resp = start_at(&t, &b, "html", &ar).await;
    refused_naming(
        &t,
        resp,
        StatusCode::SERVICE_UNAVAILABLE,
        "error_federation_unavailable",
        "Trang HTML",
    )
    .await;
}

#[tokio::test]
async fn each_configured_upstream_has_its_own_button() {
    let t = spawn_app_with(|c| {
        let mut other = c.federation.upstreams[0].clone();
        other.id = "tinh".into();
        other.name = "Định danh tỉnh".into();
        other.logo = "https://idp.example.vn/logo.svg".into();
        c.federation.upstreams.push(other);
    })
    .await;
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let html = unescape(&page_text(&b, t.url(&format!("/login?ar={ar}"))).await);
    assert_eq!(
        attr(&html, "login-with-upstream-vneid", "href").as_deref(),
        Some(
            t.url(&format!("/login/federation?upstream=vneid&ar={ar}"))
                .as_str()
        )
    );
    assert!(html.contains("Tài khoản Định danh điện tử cấp bởi Bộ Công an"));
    assert!(html.contains(&t.url("/static/vneid.svg")));
    assert!(attr(&html, "login-with-upstream-tinh", "href").is_some());
    assert!(html.contains("Định danh tỉnh") && html.contains("https://idp.example.vn/logo.svg"));
    assert!(!html.contains("Sắp ra mắt"));
}

const VNEID_SEED: &str = r#"
[[vneid]]
id_number = "040088003579"
password = "Vneid@2024"
full_name = "Lê Quang Huy"
birthdate = "20/07/1988"
phone = "0971234567"
level = 2
"#;

#[test]
fn the_vneid_seed_is_read_and_checked_entry_by_entry() {
    use xacthuc::sandbox::seed::SandboxSeed;
    let seed = SandboxSeed::parse(VNEID_SEED).expect("good");
    assert_eq!(seed.vneid[0].phone, "+84971234567");
    assert_eq!(seed.vneid[0].level, 2);
    let error = |text: String| SandboxSeed::parse(&text).unwrap_err().to_string();
    let e = error(VNEID_SEED.replace("level = 2", "level = 3"));
    assert!(
        e.contains("vneid[0]") && e.contains("level must be 1 or 2"),
        "{e}"
    );
    let e = error(VNEID_SEED.replace("0971234567", "0123"));
    assert!(e.contains("not a Vietnamese mobile number"), "{e}");
    let e = error(format!("{VNEID_SEED}{VNEID_SEED}"));
    assert!(
        e.contains("vneid[1]") && e.contains("same ID number"),
        "{e}"
    );
    let e = error(VNEID_SEED.replace("\"Vneid@2024\"", "\"\""));
    assert!(e.contains("password must not be empty"), "{e}");
}

#[tokio::test]
async fn a_name_changed_at_vneid_updates_the_linked_profile_with_an_audit_event() {
    let t = spawn_app().await;
    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
    let sub = id_token_claims(&t, &b, resp, &verifier, &client).await["sub"]
        .as_str()
        .unwrap()
        .to_string();
    // The record as it was before VNeID corrected it.
    let record = t
        .app
        .audit
        .row(xacthuc::audit::Event::new("test.setup").account(&sub));
    let old_birthdate = chrono::NaiveDate::from_ymd_opt(1988, 7, 2);
    t.app
        .db
        .set_identity(&sub, "Lê Quang Hủy", old_birthdate, t.clock.now(), &record)
        .await
        .unwrap();

    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
    id_token_claims(&t, &b, resp, &verifier, &client).await;
    let account = t.app.db.find_account(&sub).await.unwrap().unwrap();
    assert_eq!(account.full_name, "Lê Quang Huy");
    assert_eq!(
        account.birthdate,
        chrono::NaiveDate::from_ymd_opt(1988, 7, 20)
    );
    let event = audited_for(&t, "account.identity_updated", &sub)
        .await
        .expect("audited");
    assert_eq!(event.detail["before"]["full_name"], "Lê Quang Hủy");
    assert_eq!(event.detail["after"]["full_name"], "Lê Quang Huy");
}

#[tokio::test]
async fn a_sandbox_vneid_key_file_that_is_not_rsa_refuses_the_start() {
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use xacthuc::app::{App, StartError};
    xacthuc::app::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("sandbox-pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ec = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    std::fs::write(
        pki_dir.join("vneid-signing-key.pem"),
        ec.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let mut config = xacthuc::config::Config::default();
    config.database.url = format!("sqlite://{}/x.db?mode=rwc", dir.path().display());
    config.sandbox.pki_dir = pki_dir;
    config.keys.encryption_key = Some(xacthuc::keys::KeyEncryptionKey::generate_base64());
    config.theme.dir = concat!(env!("CARGO_MANIFEST_DIR"), "/themes/default").into();
    match App::build(config, xacthuc::clock::Clock::system()).await {
        Err(StartError::Refused(why)) => assert!(why.contains("not an RSA key"), "{why}"),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("started with an EC key as VNeID's RS256 key"),
    }
}
