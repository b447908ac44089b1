//! The authorization code flow as relying parties see it, driven by an independent RP library.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;

/// The RP library's HTTP client, backed by reqwest.
async fn rp_http(
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let resp = http()
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    Ok(out.body(resp.bytes().await?.to_vec()).expect("response"))
}

#[tokio::test]
async fn certified_rp_library_logs_in_with_code_and_pkce() {
    let t = spawn_app().await;
    let sub = t.add_account("001090012345", Ial::Ial2).await;
    let (client_id, secret) = t.add_client(|_| {}).await;

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(t.base.clone()).unwrap(), &rp_http)
            .await
            .expect("discovery document is valid");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:9/callback".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("phone".into()))
        .set_pkce_challenge(challenge)
        .url();

    let redirect = authorize_as(&t, &browser(), auth_url.as_str(), "001090012345").await;
    let params = query(&redirect);
    assert_eq!(
        params.get("state").map(String::as_str),
        Some(state.secret().as_str())
    );
    assert_eq!(params.get("iss"), Some(&t.base), "RFC 9207 iss");
    let code = params.get("code").expect("code").clone();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies against JWKS");
    assert_eq!(claims.subject().as_str(), sub);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("IAL2"));
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(amr, ["pwd", "sms", "mfa"], "password + SMS code");
    assert!(claims.auth_time().is_some());
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert_eq!(
        claims.phone_number().map(|p| p.as_str()),
        Some("+84823628899")
    );
    assert!(tokens.refresh_token().is_some());

    let userinfo: openidconnect::core::CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp_http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject().as_str(), sub);
    let name = userinfo
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_string());
    assert_eq!(name.as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(userinfo.birthdate().map(|b| b.as_str()), Some("1990-06-12"));
}

#[tokio::test]
async fn access_token_is_an_rfc9068_jwt_with_acr_and_auth_time() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial3).await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let tokens = tokens_for(&t, &client_id, secret.as_deref().unwrap(), "001090012345").await;
    let at = tokens["access_token"].as_str().unwrap();
    let header: serde_json::Value = decode_part(at, 0);
    let claims: serde_json::Value = decode_part(at, 1);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["acr"], "IAL3", "an IAL3 account's tokens say IAL3");
    assert_eq!(claims["client_id"], client_id.as_str());
    assert!(claims["auth_time"].is_i64());
    assert!(claims["jti"].is_string());

    // The public sid in tokens is not the session cookie: replaying it logs no one in.
    let sid = decode_part(tokens["id_token"].as_str().unwrap(), 1)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let replayed = http()
        .get(t.url("/profile"))
        .header("cookie", format!("xacthuc_session={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&replayed),
        t.url("/login"),
        "an ID token's sid must not open the session"
    );
}

pub fn decode_part(jwt: &str, i: usize) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn second_portal_gets_single_sign_on_without_a_password() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, _) = t.add_client(|_| {}).await;
    let (b, _) = t.add_client(|c| c.skip_consent = true).await;
    let browser = browser();
    let (_, challenge) = pkce();
    authorize_as(
        &t,
        &browser,
        &authorize_url(&t, &a, &challenge, &[]),
        "001090012345",
    )
    .await;

    // The second portal trusts the session: straight back with a code, no login, no consent.
    let resp = browser
        .get(authorize_url(&t, &b, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = location(&resp);
    assert!(loc.starts_with("http://127.0.0.1:9/callback?"), "{loc}");
    assert!(query(&loc).contains_key("code"));
}

#[tokio::test]
async fn remembered_consent_is_not_asked_again_unless_prompt_consent() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, _) = t.add_client(|_| {}).await;
    let browser = browser();
    let (_, challenge) = pkce();
    authorize_as(
        &t,
        &browser,
        &authorize_url(&t, &a, &challenge, &[]),
        "001090012345",
    )
    .await;

    let again = browser
        .get(authorize_url(&t, &a, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert!(
        query(&location(&again)).contains_key("code"),
        "consent was remembered"
    );

    let forced = browser
        .get(authorize_url(&t, &a, &challenge, &[("prompt", "consent")]))
        .send()
        .await
        .unwrap();
    let loc = location(&forced);
    assert!(
        loc.contains("/consent?ar="),
        "prompt=consent shows the page: {loc}"
    );
    // Approving it returns a code (no loop back to consent).
    let back = consent(&browser, &loc, true).await;
    assert!(query(&back).contains_key("code"), "{back}");
}

#[tokio::test]
async fn prompt_login_asks_for_the_password_again() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, _) = t.add_client(|c| c.skip_consent = true).await;
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
        .get(authorize_url(&t, &a, &challenge, &[("prompt", "login")]))
        .send()
        .await
        .unwrap();
    let loc = location(&resp);
    assert!(loc.contains("/login?ar="), "{loc}");
    let back = login(&t, &browser, &loc, "001090012345", PASSWORD).await;
    assert!(
        query(&back).contains_key("code"),
        "after logging in again: {back}"
    );
}

#[tokio::test]
async fn max_age_exceeded_requires_a_new_login() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, _) = t.add_client(|c| c.skip_consent = true).await;
    let browser = browser();
    let (_, challenge) = pkce();
    authorize_as(
        &t,
        &browser,
        &authorize_url(&t, &a, &challenge, &[]),
        "001090012345",
    )
    .await;
    t.advance(120);
    let resp = browser
        .get(authorize_url(&t, &a, &challenge, &[("max_age", "60")]))
        .send()
        .await
        .unwrap();
    assert!(location(&resp).contains("/login?ar="));
    let fresh = browser
        .get(authorize_url(&t, &a, &challenge, &[("max_age", "600")]))
        .send()
        .await
        .unwrap();
    assert!(query(&location(&fresh)).contains_key("code"));
}

#[tokio::test]
async fn denied_consent_returns_access_denied_with_state() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, _) = t.add_client(|_| {}).await;
    let browser = browser();
    let (_, challenge) = pkce();
    let resp = browser
        .get(authorize_url(&t, &a, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let consent_url = login(&t, &browser, &location(&resp), "001090012345", PASSWORD).await;
    let back = consent(&browser, &consent_url, false).await;
    let q = query(&back);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
}

#[tokio::test]
async fn form_post_response_mode_posts_the_code_to_the_client() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, _) = t.add_client(|c| c.skip_consent = true).await;
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
        .get(authorize_url(
            &t,
            &a,
            &challenge,
            &[("response_mode", "form_post")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("form-action http://127.0.0.1:9"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("action=\"http://127.0.0.1:9/callback\""),
        "{html}"
    );
    assert!(hidden(&html, "code").is_some());
    assert_eq!(hidden(&html, "state").as_deref(), Some("st-123"));
}

#[tokio::test]
async fn public_client_exchanges_its_code_with_pkce_and_no_secret() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (a, secret) = t.add_client(|c| c.public = true).await;
    assert!(secret.is_none());
    let (verifier, challenge) = pkce();
    let loc = authorize_as(
        &t,
        &browser(),
        &authorize_url(&t, &a, &challenge, &[]),
        "001090012345",
    )
    .await;
    let code = query(&loc)["code"].clone();
    let resp = http()
        .post(t.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &a),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["id_token"].is_string());
}

#[tokio::test]
async fn demo_portal_shows_verified_claims_after_login() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let b = browser();
    let resp = b
        .get(t.url("/sandbox/demo-portal/login"))
        .send()
        .await
        .unwrap();
    let callback = authorize_as(&t, &b, &location(&resp), "001090012345").await;
    assert!(
        callback.contains("/sandbox/demo-portal/callback?"),
        "{callback}"
    );
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(location(&resp), t.url("/sandbox/demo-portal"));
    let page = b
        .get(t.url("/sandbox/demo-portal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("IAL2"), "acr shown");
    assert!(page.contains("001090012345"), "id_number claim shown");
}

#[tokio::test]
async fn a_pending_request_belongs_to_the_browser_that_started_it() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let (verifier, challenge) = pkce();
    let a = browser();
    let resp = a
        .get(authorize_url(&t, &id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&resp)
            .iter()
            .any(|c| c.starts_with("xacthuc_browser=") && c.contains("SameSite=Lax")),
    );
    let login_url = location(&resp);
    let ar = query(&login_url)["ar"].clone();
    let start_again = "Phiên đăng nhập đã hết hạn";

    // Another browser holding the same link can neither see nor use the request.
    let b = browser();
    let resp = b.get(&login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains(start_again));
    let csrf = hidden(&page_text(&b, t.url("/login")).await, "csrf").unwrap();
    let resp = b
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ar", ar.as_str()),
            ("username", "001090012345"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains(start_again));

    // The browser that started it logs in and reaches the consent page; the other one, logged
    // in as well, cannot answer it.
    let consent_url = login(&t, &a, &login_url, "001090012345", PASSWORD).await;
    assert!(consent_url.contains("/consent?ar="), "{consent_url}");
    let home = login(&t, &b, &t.url("/login"), "001090012345", PASSWORD).await;
    assert!(!home.contains("ar="), "{home}");
    let resp = b.get(&consent_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let csrf = hidden(&page_text(&b, t.url("/profile")).await, "csrf").unwrap();
    let consent_ar = query(&consent_url)["ar"].clone();
    let resp = b
        .post(t.url("/consent"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ar", consent_ar.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none(), "no code");

    // The first browser finishes as usual.
    let done = consent(&a, &consent_url, true).await;
    let code = query(&done).get("code").cloned().expect("a code");
    let (status, body) = exchange_code(
        &t,
        &id,
        secret.as_deref().unwrap(),
        &code,
        "http://127.0.0.1:9/callback",
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
