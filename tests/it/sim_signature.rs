//! "SIM ký số" login over HTTP, against the sandbox mobile-signature service: the push, the
//! code on both screens, approval with the PIN, and every way it can end without a login.

use reqwest::StatusCode;
use serde_json::json;
use xacthuc::domain::Ial;

use crate::helpers::*;

/// The seeded holder whose certificate names the seeded citizen Nguyễn Văn An.
const AN_PHONE: &str = "0823456088";
const AN_ID: &str = "001090012345";
const AN_PIN: &str = "123456";

/// The seeds' login page: "CMT/CCCD", "USB ký số" and "SIM ký số" are tabs; the other methods
/// (passkey, "Chữ ký số cá nhân") are buttons under the form.
#[tokio::test]
async fn the_login_page_shows_the_signature_tokens_as_tabs() {
    let t = spawn_app().await;
    let html = page_text(&browser(), t.url("/login")).await;
    for (name, label) in [("usb_token", "USB ký số"), ("sim_signature", "SIM ký số")] {
        let tab = regex::Regex::new(&format!(
            r#"<a class="tab" href="[^"]+/login/{name}" id="login-with-{name}">{label}</a>"#
        ))
        .unwrap();
        assert!(tab.is_match(&html), "{name} is a tab: {html}");
    }
    for name in ["passkey", "remote_signature"] {
        let button = regex::Regex::new(&format!(
            r#"<a class="btn btn-outline btn-block" href="[^"]+/login/{name}" id="login-with-{name}">"#
        ))
        .unwrap();
        assert!(button.is_match(&html), "{name} is a button: {html}");
    }
}

/// Starts a SIM login for a portal's request; returns the login and the PKCE verifier.
async fn start_for_portal(t: &TestApp, client_id: &str) -> (PushLogin, String) {
    let (verifier, challenge) = pkce();
    let b = browser();
    let resp = b
        .get(authorize_url(t, client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    let page = page_text(&b, &login_url).await;
    assert!(
        page.contains("id=\"login-with-sim_signature\""),
        "the login page offers the SIM"
    );
    let login = PushLogin::open_in(t, "sim_signature", b, Some(&login_url)).await;
    assert!(login.html.contains("name=\"phone\""), "the phone form");
    (login, verifier)
}

/// Sends the request to `phone` and checks the page and the phone show the same code; returns
/// the sandbox's request id.
async fn push_to(t: &TestApp, login: &mut PushLogin, phone: &str) -> String {
    assert_eq!(
        login.post_page(t, &[("phone", phone)]).await,
        StatusCode::OK
    );
    let code = login.display_code().expect("the page shows a code");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert!(login.html.contains("/static/push.js"), "the polling script");
    assert!(login.html.contains("id=\"push-check\""), "works without JS");
    let pending = pending_signatures(t, "mssp", phone).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let display = pending[0]["display"].as_str().unwrap();
    assert!(display.contains(&code), "the phone shows {code}: {display}");
    pending[0]["id"].as_str().unwrap().to_string()
}

async fn last_failure(t: &TestApp) -> serde_json::Value {
    let audit = t.app.db.audit_events(20).await.unwrap();
    audit
        .iter()
        .find(|e| e.kind == "login.failed")
        .expect("login.failed audited")
        .detail
        .clone()
}

#[tokio::test]
async fn an_approved_sim_signature_logs_the_citizen_in_at_ial3() {
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial3).await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let (mut login, verifier) = start_for_portal(&t, &client_id).await;
    let id = push_to(&t, &mut login, AN_PHONE).await;

    assert_eq!(login.poll(&t).await, json!({ "status": "pending" }));
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some(AN_PIN)).await,
        StatusCode::OK
    );
    // The last poll said "outstanding": the MSSP is asked again only after a second.
    t.advance(2);
    assert_eq!(login.poll(&t).await, json!({ "status": "ready" }));

    // The page posts its form; the login completes.
    let resp = login.post(&t, &[]).await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let next = location(&resp);
    assert!(next.contains("/consent?"), "{next}");
    let back = consent(&login.b, &next, true).await;
    let tokens = redeem(&t, &back, &client_id, secret.as_deref().unwrap(), &verifier).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = crate::code_flow::decode_part(id_token, 1);
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["acr"], t.app.acr.acr(Ial::Ial3));
    assert_eq!(amr_of(id_token), ["hwk", "pin", "mca"]);
    let audit = t.app.db.audit_events(10).await.unwrap();
    let done = audit.iter().find(|e| e.kind == "login.succeeded").unwrap();
    assert_eq!(done.detail["method"], "sim_signature");

    // The flow is over: the same answer cannot log in twice (the form's CSRF token belonged to
    // the session before the login, and the flow is gone).
    let again = login.post(&t, &[]).await;
    assert!(again.status().is_client_error(), "{}", again.status());
}

#[tokio::test]
async fn without_javascript_check_again_waits_then_logs_in() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    let id = push_to(&t, &mut login, AN_PHONE).await;
    // "Kiểm tra lại" before the phone answered: the same code, still waiting.
    let code = login.display_code();
    assert_eq!(login.post_page(&t, &[]).await, StatusCode::OK);
    assert_eq!(login.display_code(), code);
    answer_signature(&t, "mssp", &id, Some(AN_PIN)).await;
    t.advance(2);
    let resp = login.post(&t, &[]).await;
    assert_eq!(location(&resp), t.url("/"), "logged in, no portal: home");
}

#[tokio::test]
async fn a_rejected_request_is_refused_and_audited_once() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    let id = push_to(&t, &mut login, AN_PHONE).await;
    assert_eq!(
        answer_signature(&t, "mssp", &id, None).await,
        StatusCode::OK
    );
    let answer = login.poll(&t).await;
    assert_eq!(answer["status"], "failed");
    assert!(
        answer["message"].as_str().unwrap().contains("từ chối"),
        "{answer}"
    );
    assert_eq!(last_failure(&t).await["reason"], "user_cancelled");
    // The login has ended: posting again starts over.
    let resp = login.post(&t, &[]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let failures = t.app.db.audit_events(20).await.unwrap();
    assert_eq!(
        failures.iter().filter(|e| e.kind == "login.failed").count(),
        1
    );
}

#[tokio::test]
async fn an_unanswered_request_expires_on_the_clock() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    let id = push_to(&t, &mut login, AN_PHONE).await;
    t.advance(121);
    // Without a script: "Kiểm tra lại" shows the login page, saying why.
    let resp = login.post(&t, &[]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(html.contains("hết hạn"), "{html}");
    assert_eq!(last_failure(&t).await["reason"], "expired");
    // Too late for the phone too.
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some(AN_PIN)).await,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn three_wrong_pins_block_the_sim() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    let id = push_to(&t, &mut login, AN_PHONE).await;
    for _ in 0..2 {
        assert_eq!(
            answer_signature(&t, "mssp", &id, Some("000000")).await,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some("000000")).await,
        StatusCode::LOCKED
    );
    let answer = login.poll(&t).await;
    assert_eq!(answer["status"], "failed", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("khóa"),
        "{answer}"
    );
    assert_eq!(last_failure(&t).await["reason"], "pin_blocked");

    // A new request to the blocked SIM is refused at once, on the phone form.
    let mut again = PushLogin::open(&t, "sim_signature").await;
    assert_eq!(
        again.post_page(&t, &[("phone", AN_PHONE)]).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(again.html.contains("bị khóa"), "{}", again.html);
    assert!(again.html.contains("name=\"phone\""), "the form again");
}

#[tokio::test]
async fn an_unknown_number_or_a_bad_one_gets_the_form_again() {
    let t = spawn_app().await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    assert_eq!(
        login.post_page(&t, &[("phone", "0911111111")]).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        login.html.contains("chưa đăng ký dịch vụ SIM ký số"),
        "{}",
        login.html
    );
    assert!(login.html.contains("value=\"0911111111\""), "kept as typed");
    assert_eq!(last_failure(&t).await["reason"], "unknown_user");
    assert_eq!(
        login.post_page(&t, &[("phone", "12345")]).await,
        StatusCode::BAD_REQUEST
    );
    assert!(login.html.contains("không hợp lệ"), "{}", login.html);
}

#[tokio::test]
async fn a_service_that_fails_times_out_or_answers_garbage_gets_a_clear_503() {
    let t = spawn_app_with(|c| c.connectors.timeout_ms = 300).await;
    for phone in ["0900000600", "0900000601", "0900000602"] {
        let mut login = PushLogin::open(&t, "sim_signature").await;
        let status = login.post_page(&t, &[("phone", phone)]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{phone}");
        assert!(
            login.html.contains("Dịch vụ SIM ký số hiện không phản hồi"),
            "{phone}: {}",
            login.html
        );
        assert_eq!(last_failure(&t).await["reason"], "mssp_unavailable");
    }
}

#[tokio::test]
async fn cancelling_goes_back_to_the_login_page() {
    let t = spawn_app().await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    push_to(&t, &mut login, AN_PHONE).await;
    let resp = login.post(&t, &[("cancel", "1")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Bạn đã hủy"), "{html}");
    assert!(html.contains("name=\"password\""), "the login page");
    assert_eq!(last_failure(&t).await["reason"], "cancelled");
}

#[tokio::test]
async fn a_person_without_an_account_is_sent_to_register() {
    let t = spawn_app().await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    let id = push_to(&t, &mut login, AN_PHONE).await;
    answer_signature(&t, "mssp", &id, Some(AN_PIN)).await;
    let resp = login.post(&t, &[]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Chưa có tài khoản"), "{html}");
    assert_eq!(last_failure(&t).await["reason"], "no_account_for_identity");
}

#[tokio::test]
async fn the_sandbox_phone_page_approves_with_the_pin() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    push_to(&t, &mut login, AN_PHONE).await;
    let code = login.display_code().unwrap();
    let phone = page_text(&http(), t.url("/sandbox/mssp/phone?holder=0823456088")).await;
    assert!(phone.contains(&code), "{phone}");
    let id = pending_signatures(&t, "mssp", AN_PHONE).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = http()
        .post(t.url("/sandbox/mssp/page/approve"))
        .form(&[("id", id.as_str()), ("holder", AN_PHONE), ("pin", AN_PIN)])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert!(pending_signatures(&t, "mssp", AN_PHONE).await.is_empty());
    t.advance(2);
    assert_eq!(login.poll(&t).await, json!({ "status": "ready" }));
}

/// An MSSP in the middle that asks the SIM to sign other data than ours (a relayed or mixed-up
/// transaction): the signature is valid, but not over our challenge.
async fn mssp_signing_other_data() -> (String, std::sync::Arc<std::sync::Mutex<String>>) {
    use base64::Engine;
    use sha2::Digest;
    let target = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let upstream = target.clone();
    let app = axum::Router::new().route(
        "/rest/service",
        axum::routing::post(move |body: String| {
            let upstream = upstream.lock().unwrap().clone();
            async move {
                let mut request: serde_json::Value = serde_json::from_str(&body).unwrap();
                if let Some(dtbs) = request.pointer_mut("/MSS_SignatureReq/DataToBeSigned/Data") {
                    let other = sha2::Sha256::digest(b"another challenge");
                    *dtbs = json!(base64::engine::general_purpose::STANDARD.encode(other));
                }
                let answer = http()
                    .post(format!("{upstream}/rest/service"))
                    .json(&request)
                    .send()
                    .await
                    .unwrap();
                answer.text().await.unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, target)
}

#[tokio::test]
async fn a_signature_over_another_challenge_is_refused() {
    let (fake, target) = mssp_signing_other_data().await;
    let t = spawn_app_with(|c| c.connectors.mobile_signature_url = fake).await;
    *target.lock().unwrap() = t.url("/sandbox/mssp");
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    let id = push_to(&t, &mut login, AN_PHONE).await;
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some(AN_PIN)).await,
        StatusCode::OK
    );
    let answer = login.poll(&t).await;
    assert_eq!(answer["status"], "failed", "{answer}");
    assert!(!answer["message"].as_str().unwrap().is_empty());
    let audit = t.app.db.audit_events(20).await.unwrap();
    assert!(audit.iter().all(|e| e.kind != "login.succeeded"));
    assert_eq!(last_failure(&t).await["method"], "sim_signature");
}

#[tokio::test]
async fn a_revoked_sim_certificate_is_refused() {
    let t = spawn_app().await;
    t.add_account("079195004821", Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "sim_signature").await;
    let id = push_to(&t, &mut login, "0988000111").await;
    answer_signature(&t, "mssp", &id, Some("222222")).await;
    let answer = login.poll(&t).await;
    assert_eq!(answer["status"], "failed", "{answer}");
    let audit = t.app.db.audit_events(20).await.unwrap();
    assert!(audit.iter().all(|e| e.kind != "login.succeeded"));
    let reason = last_failure(&t).await["reason"].clone();
    assert!(
        reason.as_str().unwrap().contains("revoked"),
        "the PKI's reason: {reason}"
    );
}
