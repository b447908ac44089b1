//! "Chữ ký số cá nhân" login over HTTP, against the sandbox remote signature provider (CSC
//! API shape): approval in the app, rejection, an unknown user, the provider down.

use reqwest::StatusCode;
use serde_json::json;
use xacthuc::domain::Ial;

use crate::helpers::*;

const AN_ID: &str = "001090012345";
const AN_USER: &str = "an.nguyen";
const AN_PIN: &str = "135790";

/// Sends the request for `user` and checks the page and the app show the same code; returns
/// the sandbox's request id.
async fn push_to(t: &TestApp, login: &mut PushLogin, user: &str, holder: &str) -> String {
    assert!(login.html.contains("name=\"user_id\""), "the user form");
    assert_eq!(
        login.post_page(t, &[("user_id", user)]).await,
        StatusCode::OK,
        "{}",
        login.html
    );
    let code = login.display_code().expect("the page shows a code");
    let pending = pending_signatures(t, "csc", holder).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0]["display"].as_str().unwrap().contains(&code));
    pending[0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_approved_remote_signature_logs_the_citizen_in_at_ial3() {
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial3).await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let (verifier, challenge) = pkce();
    let b = browser();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    assert!(
        page_text(&b, &login_url)
            .await
            .contains("id=\"login-with-remote_signature\"")
    );
    let mut login = PushLogin::open_in(&t, "remote_signature", b, Some(&login_url)).await;
    let id = push_to(&t, &mut login, AN_USER, AN_USER).await;
    assert_eq!(login.poll(&t).await, json!({ "status": "pending" }));
    assert_eq!(
        answer_signature(&t, "csc", &id, Some(AN_PIN)).await,
        StatusCode::OK
    );
    t.advance(2);
    assert_eq!(login.poll(&t).await, json!({ "status": "ready" }));
    let resp = login.post(&t, &[]).await;
    let next = location(&resp);
    assert!(next.contains("/consent?"), "{next}");
    let back = consent(&login.b, &next, true).await;
    let tokens = redeem(&t, &back, &client_id, secret.as_deref().unwrap(), &verifier).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = crate::code_flow::decode_part(id_token, 1);
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["acr"], t.app.acr.acr(Ial::Ial3));
    assert_eq!(amr_of(id_token), ["swk", "pin", "mca"]);
}

#[tokio::test]
async fn the_id_number_finds_the_user_too() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "remote_signature").await;
    let id = push_to(&t, &mut login, AN_ID, AN_USER).await;
    answer_signature(&t, "csc", &id, Some(AN_PIN)).await;
    let resp = login.post(&t, &[]).await;
    assert_eq!(location(&resp), t.url("/"));
}

#[tokio::test]
async fn a_rejection_in_the_app_is_refused() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    let mut login = PushLogin::open(&t, "remote_signature").await;
    let id = push_to(&t, &mut login, AN_USER, AN_USER).await;
    assert_eq!(answer_signature(&t, "csc", &id, None).await, StatusCode::OK);
    let answer = login.poll(&t).await;
    assert_eq!(answer["status"], "failed");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("ứng dụng ký số"),
        "{answer}"
    );
    let audit = t.app.db.audit_events(10).await.unwrap();
    let failed = audit.iter().find(|e| e.kind == "login.failed").unwrap();
    assert_eq!(failed.detail["reason"], "user_rejected");
    assert_eq!(failed.detail["method"], "remote_signature");
}

#[tokio::test]
async fn an_unknown_user_and_a_provider_down_are_told_apart() {
    let t = spawn_app().await;
    let mut login = PushLogin::open(&t, "remote_signature").await;
    assert_eq!(
        login.post_page(&t, &[("user_id", "nobody.here")]).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(login.html.contains("Không tìm thấy"), "{}", login.html);
    assert_eq!(
        login.post_page(&t, &[("user_id", "csc.down")]).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(
        login
            .html
            .contains("Dịch vụ ký số từ xa hiện không phản hồi"),
        "{}",
        login.html
    );
    assert_eq!(
        login.post_page(&t, &[("user_id", "<script>")]).await,
        StatusCode::BAD_REQUEST
    );
}
