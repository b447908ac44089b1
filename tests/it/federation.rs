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
    client: &(String, String),
) -> serde_json::Value {
    id_token_of(t, b, resp, verifier, client).await.1
}

/// [`id_token_claims`], with the ID token itself.
async fn id_token_of(
    t: &TestApp,
    b: &reqwest::Client,
    resp: reqwest::Response,
    verifier: &str,
    (client_id, secret): &(String, String),
) -> (String, serde_json::Value) {
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
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let claims = decode_part(&id_token, 1);
    (id_token, claims)
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

/// The link page of a held login: its CSRF token (the page must explain the hold).
async fn link_page(t: &TestApp, b: &reqwest::Client) -> String {
    let page = b.get(t.url("/login/link")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = unescape(&page.text().await.unwrap());
    assert!(shows(t, &html, "federation_link_lead"), "{html}");
    hidden(&html, "csrf").expect("csrf")
}

/// Posts the local account's password on the link page.
async fn link_password(t: &TestApp, b: &reqwest::Client, password: &str) -> reqwest::Response {
    let csrf = link_page(t, b).await;
    b.post(t.url("/login/link"))
        .form(&[("csrf", csrf.as_str()), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// Posts `code` on the link's OTP page.
async fn link_code(t: &TestApp, b: &reqwest::Client, code: &str) -> reqwest::Response {
    let html = page_text(b, t.url("/login/link/otp")).await;
    let csrf = hidden(&html, "csrf").expect("the OTP page");
    b.post(t.url("/login/link/otp"))
        .form(&[("csrf", csrf.as_str()), ("otp", code)])
        .send()
        .await
        .unwrap()
}

/// A six-digit code that is not `code`.
fn other_code(code: &str) -> String {
    if code == "000000" { "111111" } else { "000000" }.to_string()
}

#[tokio::test]
async fn a_lower_vneid_level_links_a_higher_account_only_after_its_password_and_otp() {
    let t = spawn_app().await;
    let existing = t.add_account(LEVEL1_NGOC.0, Ial::Ial3).await;
    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL1_NGOC).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), t.url("/login/link"), "the proof page");
    assert!(
        !cookies_set(&resp).contains("xacthuc_session="),
        "no session"
    );
    assert!(
        !location(&resp).contains(LEVEL1_NGOC.0),
        "nothing of the person in the URL"
    );
    let html = unescape(&page_text(&b, t.url("/login/link")).await);
    assert!(
        html.contains("079******821"),
        "the account's ID number, masked: {html}"
    );
    assert!(
        !html.contains("name=\"username\""),
        "no other account can be chosen"
    );
    assert!(html.contains(VNEID_NAME));

    // A wrong password: the normal refusal, nothing linked.
    let wrong = link_password(&t, &b, "Sai@mat-khau1").await;
    refused(
        &t,
        wrong,
        StatusCode::UNAUTHORIZED,
        "error_invalid_credentials",
    )
    .await;
    assert_eq!(links_of(&t, &existing).await, 0, "not linked");
    assert!(
        audited(&t, "login.failed", "wrong ID number or password")
            .await
            .is_some()
    );

    // The right password: a code to the account's default phone, still nothing linked.
    let right = link_password(&t, &b, PASSWORD).await;
    assert_eq!(location(&right), t.url("/login/link/otp"));
    assert_eq!(links_of(&t, &existing).await, 0);
    let code = latest_otp(&t, PHONE_E164).await;

    // A wrong code: refused, nothing linked.
    let wrong = link_code(&t, &b, &other_code(&code)).await;
    refused_with(
        &t,
        wrong,
        StatusCode::BAD_REQUEST,
        "err_otp_wrong",
        &[("left", "4")],
    )
    .await;
    assert_eq!(links_of(&t, &existing).await, 0, "not linked");

    // The right code: linked, and the portal gets its code and the ID token.
    let html = page_text(&b, t.url("/login/link/otp")).await;
    let csrf = hidden(&html, "csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("otp", code.as_str())];
    let done = b
        .post(t.url("/login/link/otp"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let claims = id_token_claims(&t, &b, done, &verifier, &client).await;
    assert_eq!(claims["sub"], existing.as_str(), "the existing account");
    assert_eq!(
        claims["acr"], "IAL2",
        "the level VNeID proved in this login"
    );
    assert_eq!(claims["urn:xacthuc:upstream"]["level"], "1");
    let amr = amr_of_claims(&claims);
    for value in ["pwd", "otp", "sms", "mfa"] {
        assert!(amr.contains(&value.to_string()), "{value} in {amr:?}");
    }
    assert_eq!(links_of(&t, &existing).await, 1, "linked once");
    let event = audited_for(&t, "account.linked", &existing)
        .await
        .expect("audited");
    assert_eq!(event.detail["proof"], "password+sms_otp");
    assert_eq!(
        t.app.db.find_account(&existing).await.unwrap().unwrap().ial,
        Ial::Ial3,
        "the account keeps its own level"
    );

    // The flow is gone: the code again, or the pages, start nothing.
    let replay = b
        .post(t.url("/login/link/otp"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(replay.status().is_client_error(), "{}", replay.status());
    assert!(
        !cookies_set(&replay).contains("xacthuc_session="),
        "no second session"
    );
    let again = b.get(t.url("/login/link/otp")).send().await.unwrap();
    refused(&t, again, StatusCode::BAD_REQUEST, "err_flow_expired").await;
    let again = b.get(t.url("/login/link")).send().await.unwrap();
    refused(&t, again, StatusCode::BAD_REQUEST, "err_flow_expired").await;
    assert_eq!(links_of(&t, &existing).await, 1);

    // The next VNeID login goes straight through by the link.
    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL1_NGOC).await;
    let claims = id_token_claims(&t, &b, resp, &verifier, &client).await;
    assert_eq!(claims["sub"], existing.as_str());
    assert_eq!(claims["acr"], "IAL2");
    assert_eq!(links_of(&t, &existing).await, 1);
}

fn amr_of_claims(claims: &serde_json::Value) -> Vec<String> {
    claims["amr"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_held_login_belongs_to_its_browser_and_expires() {
    let t = spawn_app().await;
    let existing = t.add_account(LEVEL1_NGOC.0, Ial::Ial3).await;
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL1_NGOC).await;
    assert_eq!(location(&resp), t.url("/login/link"));
    // Another browser has no held login.
    let other = browser();
    let resp = other.get(t.url("/login/link")).send().await.unwrap();
    refused(&t, resp, StatusCode::BAD_REQUEST, "err_flow_expired").await;
    // Ten minutes later, this one has none either.
    t.advance(601);
    let resp = b.get(t.url("/login/link")).send().await.unwrap();
    refused(&t, resp, StatusCode::BAD_REQUEST, "err_flow_expired").await;
    assert_eq!(links_of(&t, &existing).await, 0);
}

/// Disables the account `id` (as an officer will, once the console exists).
async fn disable(t: &TestApp, id: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = sea_orm::Database::connect(&t.app.config.database.url)
        .await
        .unwrap();
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_string(
        backend,
        format!("UPDATE accounts SET status = 'disabled' WHERE id = '{id}'"),
    ))
    .await
    .unwrap();
    conn.close().await.ok();
}

#[tokio::test]
async fn a_disabled_account_is_never_linked_nor_offered_the_proof() {
    let t = spawn_app().await;
    // Level 2 for an IAL2 account (the direct branch), level 1 for an IAL3 one (the proof).
    for ((id_number, phone), ial) in [(LEVEL2_AN, Ial::Ial2), (LEVEL1_NGOC, Ial::Ial3)] {
        let existing = t.add_account(id_number, ial).await;
        disable(&t, &existing).await;
        let (b, ar, _, _) = portal_request(&t, &[]).await;
        let resp = through_vneid(&t, &b, &ar, (id_number, phone)).await;
        let html = refused(
            &t,
            resp,
            StatusCode::UNAUTHORIZED,
            "error_federation_account_inactive",
        )
        .await;
        assert!(html.contains("name=\"password\""), "the login page again");
        assert_eq!(links_of(&t, &existing).await, 0, "{id_number}: not linked");
        assert!(
            audited(&t, "login.failed", "account_inactive")
                .await
                .is_some()
        );
    }
}

#[tokio::test]
async fn an_account_without_a_verified_phone_cannot_be_proven_for_linking() {
    let t = spawn_app().await;
    let existing = t
        .add_account_with_phones(LEVEL1_NGOC.0, Ial::Ial3, &[])
        .await;
    let (b, ar, _, _) = portal_request(&t, &[]).await;
    through_vneid(&t, &b, &ar, LEVEL1_NGOC).await;
    let resp = link_password(&t, &b, PASSWORD).await;
    refused(
        &t,
        resp,
        StatusCode::UNAUTHORIZED,
        "error_federation_link_no_phone",
    )
    .await;
    assert_eq!(links_of(&t, &existing).await, 0);
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

/// A portal's RP-initiated logout of the session in `b`, with its ID token as the hint and its
/// registered post-logout URI (the default test client's).
async fn portal_logout(t: &TestApp, b: &reqwest::Client, id_token: &str) -> reqwest::Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/bye")
        .append_pair("state", "bye-1");
    b.get(t.url(&format!("/logout?{}", q.finish())))
        .send()
        .await
        .unwrap()
}

/// Whether `b` still has an SSO session here.
async fn has_session(t: &TestApp, b: &reqwest::Client) -> bool {
    let resp = b.get(t.url("/profile")).send().await.unwrap();
    resp.status() == StatusCode::OK
}

#[tokio::test]
async fn logging_out_of_a_vneid_session_ends_the_vneid_session_too_then_reaches_the_portal() {
    let t = spawn_app().await;
    let vneid = t.app.sandbox_vneid.clone().unwrap();
    let (b, ar, verifier, client) = portal_request(&t, &[]).await;
    let resp = through_vneid(&t, &b, &ar, LEVEL2_NEW).await;
    let (id_token, claims) = id_token_of(&t, &b, resp, &verifier, &client).await;
    assert!(has_session(&t, &b).await);

    let resp = portal_logout(&t, &b, &id_token).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let upstream = location(&resp);
    assert!(
        upstream.starts_with(&t.url("/sandbox/vneid/logout?")),
        "on to VNeID's end-session endpoint: {upstream}"
    );
    let sent = query(&upstream);
    assert_eq!(
        sent["post_logout_redirect_uri"],
        t.url("/logout/upstream-done")
    );
    assert_eq!(sent["client_id"], "xacthuc");
    assert!(sent["state"].len() >= 43);
    assert!(
        sent["id_token_hint"].split('.').count() == 3 && sent["id_token_hint"] != id_token,
        "VNeID's own ID token as the hint"
    );
    // Ours has ended already, whatever VNeID does (down, slow, never visited).
    assert!(!has_session(&t, &b).await, "logged out here first");

    let back = b.get(&upstream).send().await.unwrap();
    assert_eq!(
        back.status(),
        StatusCode::SEE_OTHER,
        "VNeID sends the browser back"
    );
    let done = location(&back);
    assert!(done.starts_with(&t.url("/logout/upstream-done?")), "{done}");
    let calls = vneid.logouts();
    assert_eq!(calls.len(), 1, "VNeID's session was ended once");
    assert!(
        calls[0].hint_subject.is_some(),
        "with a hint VNeID verified"
    );
    assert_ne!(calls[0].hint_subject.as_deref(), claims["sub"].as_str());

    let portal = b.get(&done).send().await.unwrap();
    assert_eq!(portal.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&portal),
        "http://127.0.0.1:9/bye?state=bye-1",
        "the portal's URI and state"
    );

    // The return is used once: again, it is the logged-out page.
    let again = b.get(&done).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert!(shows(&t, &again.text().await.unwrap(), "title_logged_out"));
}

#[tokio::test]
async fn vneid_refuses_a_forged_hint_or_an_unregistered_return_and_records_nothing() {
    let t = spawn_app().await;
    let vneid = t.app.sandbox_vneid.clone().unwrap();
    let done = t.url("/logout/upstream-done");
    for q in [
        vec![
            ("id_token_hint", "a.b.c"),
            ("post_logout_redirect_uri", done.as_str()),
        ],
        vec![("post_logout_redirect_uri", "https://evil.example/")],
    ] {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(q);
        let url = t.url(&format!("/sandbox/vneid/logout?{}", query.finish()));
        let resp = http().get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    assert!(vneid.logouts().is_empty());
}

#[tokio::test]
async fn a_password_session_logs_out_without_going_upstream() {
    let t = spawn_app().await;
    t.add_account(LEVEL2_AN.0, Ial::Ial2).await;
    let (b, ar, verifier, (client_id, secret)) = portal_request(&t, &[]).await;
    let next = login(
        &t,
        &b,
        &t.url(&format!("/login?ar={ar}")),
        LEVEL2_AN.0,
        PASSWORD,
    )
    .await;
    let loc = if next.contains("/consent?") {
        consent(&b, &next, true).await
    } else {
        next
    };
    let code = query(&loc)["code"].clone();
    let redirect_uri = loc.split('?').next().unwrap().to_string();
    let (_, tokens) = exchange_code(&t, &client_id, &secret, &code, &redirect_uri, &verifier).await;
    let resp = portal_logout(&t, &b, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(
        location(&resp),
        "http://127.0.0.1:9/bye?state=bye-1",
        "straight back"
    );
    assert!(!has_session(&t, &b).await);
    assert!(t.app.sandbox_vneid.as_ref().unwrap().logouts().is_empty());
}
