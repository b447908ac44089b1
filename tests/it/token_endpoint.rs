//! The token endpoint and its neighbours: grants, client authentication, introspection,
//! revocation — each failure with its exact OAuth error.

use josekit::jws::{ES256, JwsHeader};
use reqwest::StatusCode;
use serde_json::{Value, json};
use xacthuc::domain::{AccountStatus, Ial};

use crate::helpers::*;

const CB: &str = "http://127.0.0.1:9/callback";

async fn code_for(t: &TestApp, client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let loc = authorize_as(
        t,
        &browser(),
        &authorize_url(t, client_id, &challenge, &[]),
        "001090012345",
    )
    .await;
    (query(&loc)["code"].clone(), verifier)
}

/// An app, a confidential client (id, secret) and the refresh token of a login to it.
async fn logged_in_with_refresh() -> (TestApp, String, String, String) {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let first = tokens_for(&t, &id, &secret, "001090012345").await;
    let refresh = first["refresh_token"].as_str().unwrap().to_string();
    (t, id, secret, refresh)
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let (t, id, secret, r1) = logged_in_with_refresh().await;
    let r1 = r1.as_str();

    let (status, second) = refresh(&t, &id, &secret, r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "rotated");
    assert!(second["id_token"].is_string());
    let at2 = second["access_token"].as_str().unwrap();
    assert_eq!(introspect(&t, &id, &secret, at2).await["active"], true);

    // The rotated token comes back: reuse → refused, and the family (r2, its access token) dies.
    let (status, err) = refresh(&t, &id, &secret, r1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    let (_, err) = refresh(&t, &id, &secret, r2).await;
    assert_eq!(
        err["error"], "invalid_grant",
        "the newer token is revoked too"
    );
    assert_eq!(introspect(&t, &id, &secret, at2).await["active"], false);
    let audit = t.app.db.audit_events(20).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "token.refresh_reused"));
}

/// A code redeemed after its account was locked gets no tokens, and leaves no refresh token
/// stored (the account is read and the token stored in one step).
#[tokio::test]
async fn a_code_of_an_account_locked_since_the_login_is_refused_and_stores_nothing() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let (code, verifier) = code_for(&t, &id).await;
    let account = t.account_by_id_number("001090012345").await;
    let audit = xacthuc::store::AuditRecord {
        at: t.clock.now(),
        kind: "account.locked".into(),
        account_id: Some(account.id.clone()),
        actor_id: None,
        client_id: None,
        ip: None,
        detail: json!({}),
    };
    t.app
        .db
        .set_account_status(&account.id, AccountStatus::Locked, t.clock.now(), &audit)
        .await
        .unwrap();

    let (status, body) = exchange_code(&t, &id, &secret, &code, CB, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body.get("refresh_token").is_none());
    let live_families = t
        .app
        .db
        .revoke_refresh_by_account(&account.id, t.clock.now())
        .await
        .unwrap();
    assert!(
        live_families.is_empty(),
        "a refresh token was stored: {live_families:?}"
    );
}

/// Several uses of one refresh token at once: exactly one is answered with a successor, and
/// since two uses of one token are reuse, that successor's family is revoked too.
#[tokio::test]
async fn simultaneous_uses_of_one_refresh_token_rotate_it_once_and_revoke_the_family() {
    let (t, id, secret, r1) = logged_in_with_refresh().await;
    let r1 = r1.as_str();

    let answers = futures::future::join_all((0..5).map(|_| refresh(&t, &id, &secret, r1))).await;
    let rotated: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(rotated.len(), 1, "exactly one use rotates: {answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant");
    }
    let successor = rotated[0]["refresh_token"].as_str().unwrap();
    let (status, err) = refresh(&t, &id, &secret, successor).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the family is revoked: {err}"
    );
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_token_cannot_widen_scope_or_cross_clients() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let (other, other_secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &id, &secret, "001090012345").await;
    let r = tokens["refresh_token"].as_str().unwrap();
    let (_, err) = refresh(&t, &other, other_secret.as_deref().unwrap(), r).await;
    assert_eq!(err["error"], "invalid_grant");
    let wider = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r),
        ("scope", "openid email"),
    ];
    let (_, err) = token_request(&t, &id, &secret, &wider).await;
    assert_eq!(err["error"], "invalid_scope");
    let narrower = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r),
        ("scope", "openid"),
    ];
    let (status, narrowed) = token_request(&t, &id, &secret, &narrower).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(narrowed["scope"], "openid");
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let (code, verifier) = code_for(&t, &id).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, first) = token_request(&t, &id, &secret, &form).await;
    assert_eq!(status, StatusCode::OK);
    let at = first["access_token"].as_str().unwrap();
    assert_eq!(introspect(&t, &id, &secret, at).await["active"], true);

    let (status, err) = token_request(&t, &id, &secret, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(
        introspect(&t, &id, &secret, at).await["active"],
        false,
        "access token revoked"
    );
    let (_, err) = token_request(
        &t,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(err["error"], "invalid_grant", "refresh token revoked");
}

#[tokio::test]
async fn wrong_code_verifier_is_invalid_grant() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let (code, _) = code_for(&t, &id).await;
    let (other_verifier, _) = pkce();
    let (status, err) = exchange_code(
        &t,
        &id,
        secret.as_deref().unwrap(),
        &code,
        CB,
        &other_verifier,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn missing_code_verifier_is_invalid_grant() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let (code, _) = code_for(&t, &id).await;
    let (_, err) = token_request(
        &t,
        &id,
        secret.as_deref().unwrap(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let (code, verifier) = code_for(&t, &id).await;
    t.advance(61);
    let (status, err) =
        exchange_code(&t, &id, secret.as_deref().unwrap(), &code, CB, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn redirect_uri_must_match_the_authorization_request() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t
        .add_client(|c| c.redirect_uris.push("http://127.0.0.1:9/other".into()))
        .await;
    let (code, verifier) = code_for(&t, &id).await;
    let (_, err) = exchange_code(
        &t,
        &id,
        secret.as_deref().unwrap(),
        &code,
        "http://127.0.0.1:9/other",
        &verifier,
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_of_another_client_is_invalid_grant() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, _) = t.add_client(|_| {}).await;
    let (other, other_secret) = t.add_client(|_| {}).await;
    let (code, verifier) = code_for(&t, &id).await;
    let (_, err) = exchange_code(
        &t,
        &other,
        other_secret.as_deref().unwrap(),
        &code,
        CB,
        &verifier,
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let t = spawn_app().await;
    let (id, _) = t
        .add_client(|c| c.grants = vec!["client_credentials".into()])
        .await;
    let (status, err) = token_request(
        &t,
        &id,
        "wrong-secret",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"], "invalid_client");
    let (status, err) = token_request(
        &t,
        "unknown-client",
        "x",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"], "invalid_client");
    // No credentials at all.
    let resp = http()
        .post(t.url("/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // A confidential client pretending to be public.
    let resp = http()
        .post(t.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", &id)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_credentials_issues_an_access_token_and_post_auth_works() {
    let t = spawn_app().await;
    let (id, secret) = t
        .add_client(|c| {
            c.grants = vec!["client_credentials".into()];
            c.scopes = vec!["profile".into()];
        })
        .await;
    let secret = secret.unwrap();
    let resp = http()
        .post(t.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "profile"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let info = introspect(&t, &id, &secret, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], id.as_str());
    let (_, err) = token_request(
        &t,
        &id,
        &secret,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!(err["error"], "invalid_scope");
    let (_, err) = token_request(
        &t,
        &id,
        &secret,
        &[("grant_type", "authorization_code"), ("code", "x")],
    )
    .await;
    assert_eq!(err["error"], "unauthorized_client");
    let (_, err) = token_request(&t, &id, &secret, &[("grant_type", "password")]).await;
    assert_eq!(err["error"], "unsupported_grant_type");
}

/// A private_key_jwt client registered with the public JWK set `keys`; returns its id.
async fn jwt_client_with(t: &TestApp, keys: &[Value]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, json!({ "keys": keys }).to_string()).unwrap();
    let (id, secret) = t
        .add_client(|c| {
            c.grants = vec!["client_credentials".into()];
            c.jwks_file = Some(path.clone());
        })
        .await;
    assert!(secret.is_none());
    id
}

/// A fresh ES256 key: its public JWK (with `kid`) and a signer.
fn es256_key(kid: &str) -> (Value, josekit::jws::alg::ecdsa::EcdsaJwsSigner) {
    let pair = ES256.generate_key_pair().unwrap();
    let mut jwk = josekit::jwk::KeyPair::to_jwk_public_key(&pair);
    jwk.set_key_id(kid);
    let signer = ES256
        .signer_from_jwk(&josekit::jwk::KeyPair::to_jwk_private_key(&pair))
        .unwrap();
    (serde_json::to_value(jwk.as_ref()).unwrap(), signer)
}

/// A private_key_jwt client with one ES256 key `k1`; returns (client_id, its signer).
async fn jwt_client(t: &TestApp) -> (String, josekit::jws::alg::ecdsa::EcdsaJwsSigner) {
    let (public, signer) = es256_key("k1");
    (jwt_client_with(t, &[public]).await, signer)
}

/// A signed assertion whose header carries `kid` (or none).
fn assertion_with_kid(
    signer: &josekit::jws::alg::ecdsa::EcdsaJwsSigner,
    kid: Option<&str>,
    claims: Value,
) -> String {
    let mut header = JwsHeader::new();
    if let Some(kid) = kid {
        header.set_key_id(kid);
    }
    josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, signer).unwrap()
}

fn assertion(signer: &josekit::jws::alg::ecdsa::EcdsaJwsSigner, claims: Value) -> String {
    assertion_with_kid(signer, Some("k1"), claims)
}

async fn jwt_token(t: &TestApp, jwt: &str) -> (StatusCode, Value) {
    let resp = http()
        .post(t.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn private_key_jwt_authenticates_once_per_jti() {
    let t = spawn_app().await;
    let (id, signer) = jwt_client(&t).await;
    let now = t.clock.unix();
    let claims = |aud: &str, exp: i64, jti: &str| json!({ "iss": id, "sub": id, "aud": aud, "exp": exp, "iat": now, "jti": jti });
    let token_url = t.url("/token");

    let good = assertion(&signer, claims(&token_url, now + 60, "j1"));
    let (status, body) = jwt_token(&t, &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = jwt_token(&t, &good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "replayed jti"
    );

    let (_, body) = jwt_token(&t, &assertion(&signer, claims(&t.base, now + 60, "j2"))).await;
    assert!(
        body["access_token"].is_string(),
        "the issuer is an accepted audience"
    );
    for (bad, why) in [
        (
            assertion(
                &signer,
                claims("https://other.example/token", now + 60, "j3"),
            ),
            "wrong aud",
        ),
        (
            assertion(&signer, claims(&token_url, now + 3600, "j4")),
            "exp too far ahead",
        ),
        (
            assertion(&signer, claims(&token_url, now - 10, "j5")),
            "expired",
        ),
        (
            assertion(
                &signer,
                json!({ "iss": id, "sub": id, "aud": token_url, "exp": now + 60 }),
            ),
            "no jti",
        ),
    ] {
        let (status, body) = jwt_token(&t, &bad).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{why}"
        );
    }
    // A tampered signature.
    let mut tampered = assertion(&signer, claims(&token_url, now + 60, "j6"));
    let i = tampered.len() - 20;
    let flipped = if &tampered[i..=i] == "A" { "B" } else { "A" };
    tampered.replace_range(i..=i, flipped);
    let (status, _) = jwt_token(&t, &tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn private_key_jwt_without_kid_is_matched_against_the_registered_keys() {
    let t = spawn_app().await;
    let (first, _) = es256_key("k1");
    let (second, signer) = es256_key("k2");
    let rsa = {
        let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
        let mut jwk = josekit::jwk::KeyPair::to_jwk_public_key(&pair);
        jwk.set_key_id("r1");
        serde_json::to_value(jwk.as_ref()).unwrap()
    };
    let id = jwt_client_with(&t, &[rsa, first, second]).await;
    let now = t.clock.unix();
    let claims =
        |jti: &str| json!({ "iss": id, "sub": id, "aud": t.base, "exp": now + 60, "jti": jti });

    // Authlib's default: no kid in the header, although every registered key has one.
    let (status, body) = jwt_token(&t, &assertion_with_kid(&signer, None, claims("j1"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        jwt_token(&t, &assertion_with_kid(&signer, Some("k2"), claims("j2"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A kid names one key: the signature must be that key's.
    let (status, body) =
        jwt_token(&t, &assertion_with_kid(&signer, Some("k1"), claims("j3"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

#[tokio::test]
async fn private_key_jwt_audience_is_one_value_and_lifetime_is_capped() {
    let t = spawn_app().await;
    let (id, signer) = jwt_client(&t).await;
    let now = t.clock.unix();
    let token_url = t.url("/token");
    let claims = |aud: Value, exp: i64, jti: &str| json!({ "iss": id, "sub": id, "aud": aud, "exp": exp, "jti": jti });
    for (aud, exp, jti) in [
        (json!([t.base]), now + 300, "ok1"),
        (json!([token_url]), now + 60, "ok2"),
    ] {
        let (status, body) = jwt_token(&t, &assertion(&signer, claims(aud, exp, jti))).await;
        assert_eq!(status, StatusCode::OK, "{jti}: {body}");
    }
    for (aud, exp, why) in [
        (
            json!([t.base, "https://other.example"]),
            now + 60,
            "two audiences",
        ),
        // (a margin over 300 s: the server's clock may have moved on a second)
        (json!(t.base), now + 310, "lives longer than 300 s"),
        (json!(t.base), now + 3600, "Authlib's default lifetime"),
    ] {
        let (status, _) = jwt_token(&t, &assertion(&signer, claims(aud, exp, why))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
    }

    // Configured: the issuer alone, assertions up to an hour.
    let t = spawn_app_with(|c| {
        c.tokens.client_assertion_allow_token_endpoint_aud = false;
        c.tokens.client_assertion_max_lifetime_seconds = 3600;
    })
    .await;
    let (id, signer) = jwt_client(&t).await;
    let now = t.clock.unix();
    let claims = |aud: &str, jti: &str| json!({ "iss": id, "sub": id, "aud": aud, "exp": now + 3600, "jti": jti });
    let (status, body) = jwt_token(&t, &assertion(&signer, claims(&t.base, "a"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = jwt_token(&t, &assertion(&signer, claims(&t.url("/token"), "b"))).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the token endpoint is not the issuer"
    );
}

#[tokio::test]
async fn discovery_publishes_assertion_algorithms_for_every_endpoint_and_empty_scope_is_omitted() {
    let t = spawn_app().await;
    let doc: Value = http()
        .get(t.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for endpoint in ["token", "introspection", "revocation"] {
        let key = format!("{endpoint}_endpoint_auth_signing_alg_values_supported");
        assert_eq!(doc[&key], json!(["RS256", "PS256", "ES256"]), "{key}");
    }

    // client_credentials without a scope: no `scope: ""` in the answer.
    let (id, secret) = t
        .add_client(|c| c.grants = vec!["client_credentials".into()])
        .await;
    let (status, body) = token_request(
        &t,
        &id,
        secret.as_deref().unwrap(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("scope").is_none(), "{body}");
}

#[tokio::test]
async fn revocation_deactivates_access_and_refresh_tokens() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &id, &secret, "001090012345").await;
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let info = introspect(&t, &id, &secret, rt).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["token_type"], "refresh_token");

    let revoke = |token: String| {
        let (id, secret, url) = (id.clone(), secret.clone(), t.url("/revoke"));
        async move {
            http()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(revoke(at.to_string()).await, StatusCode::OK);
    assert_eq!(introspect(&t, &id, &secret, at).await["active"], false);
    let resp = http()
        .get(t.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    assert_eq!(revoke(rt.to_string()).await, StatusCode::OK);
    let (_, err) = refresh(&t, &id, &secret, rt).await;
    assert_eq!(err["error"], "invalid_grant");
    // Unknown tokens are acknowledged too (RFC 7009 §2.2).
    assert_eq!(revoke("not-a-token".into()).await, StatusCode::OK);
    assert_eq!(
        introspect(&t, &id, &secret, "not-a-token").await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn introspection_of_another_clients_token_is_inactive_unless_a_resource_server_asks() {
    let t = spawn_app_with(|c| c.introspection.resource_servers = vec!["api-thue".into()]).await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (portal, portal_secret) = t.add_client(|_| {}).await;
    let (other, other_secret) = t.add_client(|_| {}).await;
    let (api, api_secret) = t
        .add_client(|c| {
            c.client_id = Some("api-thue".into());
            c.grants = vec!["client_credentials".into()];
        })
        .await;
    let portal_secret = portal_secret.unwrap();
    let tokens = tokens_for(&t, &portal, &portal_secret, "001090012345").await;
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();

    let own = introspect(&t, &portal, &portal_secret, at).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["sub"].as_str().map(str::len), Some(36));
    let other_secret = other_secret.unwrap();
    for token in [at, rt] {
        assert_eq!(
            introspect(&t, &other, &other_secret, token).await,
            json!({ "active": false }),
            "another portal learns nothing"
        );
    }
    let by_api = introspect(&t, &api, api_secret.as_deref().unwrap(), at).await;
    assert_eq!(by_api["active"], true);
    assert_eq!(by_api["client_id"], portal.as_str());
    assert_eq!(
        introspect(&t, &api, api_secret.as_deref().unwrap(), rt).await,
        json!({ "active": false }),
        "refresh tokens stay with their client"
    );
}

#[tokio::test]
async fn userinfo_requires_a_valid_bearer_token() {
    let t = spawn_app().await;
    let resp = http().get(t.url("/userinfo")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("www-authenticate"));
    let resp = http()
        .get(t.url("/userinfo"))
        .bearer_auth("eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_access_token_is_inactive() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &id, &secret, "001090012345").await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&t, &id, &secret, at).await["active"], true);
    t.advance(301);
    assert_eq!(introspect(&t, &id, &secret, at).await["active"], false);
}
