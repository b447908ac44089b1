//! RP-initiated and back-channel logout.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::code_flow::decode_part;
use crate::helpers::*;

#[tokio::test]
async fn rp_initiated_logout_ends_the_session_and_notifies_clients_back_channel() {
    let t = spawn_app().await;
    let sub = t.add_account("001090012345", Ial::Ial2).await;
    let (receiver, received) = logout_receiver().await;
    let (id, secret) = t
        .add_client(|c| {
            c.skip_consent = true;
            c.backchannel_logout_uri = Some(receiver.clone());
        })
        .await;
    let secret = secret.unwrap();
    let b = browser();
    let (verifier, challenge) = pkce();
    let loc = authorize_as(
        &t,
        &b,
        &authorize_url(&t, &id, &challenge, &[]),
        "001090012345",
    )
    .await;
    let code = query(&loc)["code"].clone();
    let (_, tokens) = exchange_code(
        &t,
        &id,
        &secret,
        &code,
        "http://127.0.0.1:9/callback",
        &verifier,
    )
    .await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = decode_part(id_token, 1)["sid"]
        .as_str()
        .unwrap()
        .to_string();

    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/bye")
        .append_pair("state", "bye-1");
    let resp = b
        .get(t.url(&format!("/logout?{}", q.finish())))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(location(&resp), "http://127.0.0.1:9/bye?state=bye-1");

    // The session is over: prompt=none now needs a login; the refresh token is dead.
    let again = b
        .get(authorize_url(&t, &id, &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&again))["error"], "login_required");
    let (_, err) = token_request(
        &t,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");

    // The client received a logout token for that session, signed by a key in our JWKS.
    let token = delivered(&received, 1).await.remove(0);
    let (claims, typ) = t
        .app
        .keys
        .verify(&token)
        .expect("signed by a published key");
    assert_eq!(typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["aud"], id.as_str());
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
}

#[tokio::test]
async fn unregistered_post_logout_redirect_uri_is_not_followed() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let tokens = tokens_for(&t, &id, secret.as_deref().unwrap(), "001090012345").await;
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", "https://evil.example/");
    let resp = browser()
        .get(t.url(&format!("/logout?{}", q.finish())))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, _) = t.add_client(|c| c.skip_consent = true).await;
    let b = browser();
    let (_, challenge) = pkce();
    authorize_as(
        &t,
        &b,
        &authorize_url(&t, &id, &challenge, &[]),
        "001090012345",
    )
    .await;

    let page = b.get(t.url("/logout")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    // A GET alone did not log the user out.
    let still = b
        .get(authorize_url(&t, &id, &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(query(&location(&still)).contains_key("code"));

    // Confirming without the CSRF token does nothing; with it, the session ends.
    let forged = b
        .post(t.url("/logout"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::OK,
        "shown the confirmation again"
    );
    let csrf = hidden(&html, "csrf").unwrap();
    let done = b
        .post(t.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let after = b
        .get(authorize_url(&t, &id, &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&after))["error"], "login_required");
    let audit = t.app.db.audit_events(20).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "session.ended"));
}
