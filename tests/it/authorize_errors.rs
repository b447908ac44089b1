//! Authorization errors: which ones show a page (no redirect) and which go back to the client
//! with their exact OAuth error code.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;

async fn error_of(url: &str) -> std::collections::HashMap<String, String> {
    let resp = browser().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "an error redirect");
    let loc = location(&resp);
    assert!(loc.starts_with("http://127.0.0.1:9/callback?"), "{loc}");
    query(&loc)
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_not_a_redirect() {
    let t = spawn_app().await;
    let (_, challenge) = pkce();
    let resp = browser()
        .get(authorize_url(&t, "no-such-client", &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    let html = resp.text().await.unwrap();
    assert!(html.contains("invalid_request"));
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    for evil in [
        "http://127.0.0.1:9/callback/../evil",
        "http://127.0.0.1:9/callback?x=1",
        "https://evil.example/callback",
        "http://127.0.0.1:9/CALLBACK",
    ] {
        let url = authorize_url(&t, &client_id, &challenge, &[]).replace(
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback",
            &format!(
                "redirect_uri={}",
                form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
            ),
        );
        let resp = browser().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{evil}");
        assert!(
            resp.headers().get("location").is_none(),
            "never redirect to {evil}"
        );
    }
}

#[tokio::test]
async fn public_client_without_pkce_is_refused() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|c| c.public = true).await;
    let url = t.url(&format!(
        "/authorize?response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&scope=openid&state=s1"
    ));
    let q = error_of(&url).await;
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");
    assert_eq!(q["iss"], t.base);
}

#[tokio::test]
async fn plain_pkce_is_refused() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (verifier, _) = pkce();
    let url = authorize_url(&t, &client_id, &verifier, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    assert_eq!(error_of(&url).await["error"], "invalid_request");
}

#[tokio::test]
async fn unsupported_response_type_is_reported() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    for rt in ["token", "id_token", "code%20id_token"] {
        let url = authorize_url(&t, &client_id, &challenge, &[])
            .replace("response_type=code", &format!("response_type={rt}"));
        assert_eq!(
            error_of(&url).await["error"],
            "unsupported_response_type",
            "{rt}"
        );
    }
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let q = error_of(&authorize_url(
        &t,
        &client_id,
        &challenge,
        &[("prompt", "none")],
    ))
    .await;
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-123");
}

#[tokio::test]
async fn prompt_none_without_consent_is_consent_required() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, _) = t.add_client(|c| c.skip_consent = true).await;
    let (b, _) = t.add_client(|_| {}).await;
    let browser = browser();
    let (_, challenge) = pkce();
    authorize_as(
        &t,
        &browser,
        &authorize_url(&t, &a, &challenge, &[]),
        "001090012345",
    )
    .await;
    let resp = browser
        .get(authorize_url(&t, &b, &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&resp))["error"], "consent_required");
}

/// Only the methods that prove an account holder: nothing can lift an IAL2 account.
fn without_signatures(c: &mut xacthuc::config::Config) {
    use xacthuc::authenticators::Method;
    c.login.methods = vec![Method::Password, Method::Passkey];
}

fn essential_acr(acr: &str) -> String {
    serde_json::json!({ "id_token": { "acr": { "essential": true, "values": [acr] } } }).to_string()
}

#[tokio::test]
async fn essential_ial3_cannot_be_met_by_an_ial2_account() {
    // No signature method enabled, so no upgrade to offer (with one: `upgrade.rs`).
    let t = spawn_app_with(without_signatures).await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (client_id, _) = t.add_client(|c| c.skip_consent = true).await;
    let (_, challenge) = pkce();
    let url = authorize_url(
        &t,
        &client_id,
        &challenge,
        &[("claims", &essential_acr("IAL3"))],
    );
    let back = authorize_as(&t, &browser(), &url, "001090012345").await;
    let q = query(&back);
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("unmet_authentication_requirements"),
        "{back}"
    );
}

#[tokio::test]
async fn an_ial3_account_satisfies_an_essential_ial2_request() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial3).await;
    let (client_id, secret) = t.add_client(|c| c.skip_consent = true).await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &t,
        &client_id,
        &challenge,
        &[("claims", &essential_acr("IAL2"))],
    );
    let back = authorize_as(&t, &browser(), &url, "001090012345").await;
    let code = query(&back)["code"].clone();
    let (status, body) = exchange_code(
        &t,
        &client_id,
        secret.as_deref().unwrap(),
        &code,
        "http://127.0.0.1:9/callback",
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let claims = crate::code_flow::decode_part(body["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["acr"], "IAL3");
}

#[tokio::test]
async fn client_minimum_acr_refuses_lower_accounts() {
    let t = spawn_app_with(without_signatures).await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (client_id, _) = t
        .add_client(|c| {
            c.skip_consent = true;
            c.min_acr = Some("IAL3".into());
        })
        .await;
    let (_, challenge) = pkce();
    let back = authorize_as(
        &t,
        &browser(),
        &authorize_url(&t, &client_id, &challenge, &[]),
        "001090012345",
    )
    .await;
    assert_eq!(
        query(&back).get("error").map(String::as_str),
        Some("unmet_authentication_requirements")
    );
}

#[tokio::test]
async fn unknown_essential_acr_is_unmet() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let url = authorize_url(
        &t,
        &client_id,
        &challenge,
        &[("claims", &essential_acr("urn:unknown:loa"))],
    );
    assert_eq!(
        error_of(&url).await["error"],
        "unmet_authentication_requirements"
    );
}

#[tokio::test]
async fn request_objects_are_not_supported() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let url = authorize_url(
        &t,
        &client_id,
        &challenge,
        &[("request", "eyJhbGciOiJub25lIn0.e30.")],
    );
    assert_eq!(error_of(&url).await["error"], "request_not_supported");
    let url = authorize_url(
        &t,
        &client_id,
        &challenge,
        &[("request_uri", "https://x.example/r")],
    );
    assert_eq!(error_of(&url).await["error"], "request_uri_not_supported");
}

#[tokio::test]
async fn scope_without_openid_is_invalid_scope() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let url = authorize_url(&t, &client_id, &challenge, &[])
        .replace("scope=openid+profile+phone+id_number", "scope=profile");
    assert_eq!(error_of(&url).await["error"], "invalid_scope");
}
