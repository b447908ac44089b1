//! Client secret rotation with an overlap window, client changes reaching every node at once,
//! and the per-client switch that leaves `iss` off authorization error responses.

use reqwest::StatusCode;
use serde_json::Value;
use xacthuc::domain::Ial;

use crate::helpers::*;

const ID_NUMBER: &str = "001090012345";

/// The status of an introspection request authenticated with `secret` (Basic).
async fn introspect_status(t: &TestApp, id: &str, secret: &str) -> StatusCode {
    http()
        .post(t.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap()
        .status()
}

/// The status of a refresh at /token with `secret` sent in the body (client_secret_post).
async fn refresh_posted(
    t: &TestApp,
    id: &str,
    secret: &str,
    refresh_token: &str,
) -> (StatusCode, Value) {
    let resp = http()
        .post(t.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or_default())
}

/// What `xacthuc client rotate-secret` does, announced through this node's store (the CLI
/// announces through the configured store, the same Redis as the nodes').
async fn rotate(t: &TestApp, id: &str, overlap: u64) -> String {
    let out = xacthuc::cli::rotate_secret(&t.app.db, &t.clock, id, overlap)
        .await
        .expect("rotated");
    t.app.client_changed(id).await;
    out["client_secret"]
        .as_str()
        .expect("the new secret")
        .to_string()
}

#[tokio::test]
async fn a_rotated_secret_works_at_once_and_the_old_one_until_the_overlap_ends() {
    let t = spawn_app().await;
    t.add_account(ID_NUMBER, Ial::Ial2).await;
    let (id, old) = t.add_client(|_| {}).await;
    let old = old.unwrap();
    // A login with the old secret warms this node's client cache.
    let tokens = tokens_for(&t, &id, &old, ID_NUMBER).await;
    let mut refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(introspect_status(&t, &id, &old).await, StatusCode::OK);

    let new = rotate(&t, &id, 600).await;
    assert_ne!(new, old);

    // The new secret works at once, at /token (Basic and in the body) and at /introspect.
    assert_eq!(introspect_status(&t, &id, &new).await, StatusCode::OK);
    let (status, body) = refresh(&t, &id, &new, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refresh_token = body["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = refresh_posted(&t, &id, &new, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refresh_token = body["refresh_token"].as_str().unwrap().to_string();

    // The old one within the overlap too.
    assert_eq!(introspect_status(&t, &id, &old).await, StatusCode::OK);
    let (status, body) = refresh_posted(&t, &id, &old, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refresh_token = body["refresh_token"].as_str().unwrap().to_string();

    // Audited, without the secret or its hash.
    let event = audited_kind(&t, "client.secret_rotated")
        .await
        .expect("audited");
    assert_eq!(event.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(event.detail["overlap_seconds"], 600);
    assert_eq!(event.detail["replaced_previous"], false);
    let detail = event.detail.to_string();
    assert!(!detail.contains(&new) && !detail.contains(&xacthuc::random::sha256_hex(&new)));
    assert!(!detail.contains(&xacthuc::random::sha256_hex(&old)));

    // After the overlap, the old secret is refused everywhere; the new one still works.
    t.advance(601);
    assert_eq!(
        introspect_status(&t, &id, &old).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = refresh_posted(&t, &id, &old, &refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = refresh(&t, &id, &old, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert_eq!(introspect_status(&t, &id, &new).await, StatusCode::OK);
    let (status, body) = refresh(&t, &id, &new, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_second_rotation_drops_the_older_secret_and_overlap_zero_stops_the_old_one_at_once() {
    let t = spawn_app().await;
    let (id, first) = t.add_client(|_| {}).await;
    let first = first.unwrap();
    assert_eq!(introspect_status(&t, &id, &first).await, StatusCode::OK);

    let second = rotate(&t, &id, 3600).await;
    let third = rotate(&t, &id, 3600).await;
    // Only one previous secret is kept: the first stops at the second rotation.
    assert_eq!(
        introspect_status(&t, &id, &first).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(introspect_status(&t, &id, &second).await, StatusCode::OK);
    assert_eq!(introspect_status(&t, &id, &third).await, StatusCode::OK);
    let event = audited_kind(&t, "client.secret_rotated").await.unwrap();
    assert_eq!(event.detail["replaced_previous"], true);

    let fourth = rotate(&t, &id, 0).await;
    assert_eq!(
        introspect_status(&t, &id, &third).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        introspect_status(&t, &id, &second).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(introspect_status(&t, &id, &fourth).await, StatusCode::OK);
    let event = audited_kind(&t, "client.secret_rotated").await.unwrap();
    assert_eq!(event.detail["overlap_seconds"], 0);
    assert_eq!(event.detail["previous_expires_at"], Value::Null);
}

#[tokio::test]
async fn a_rotation_refuses_bad_input_and_writes_nothing() {
    let t = spawn_app().await;
    let (id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let (public_id, _) = t.add_client(|c| c.public = true).await;
    for (client, overlap, says) in [
        (id.as_str(), 30 * 24 * 3600 + 1, "at most"),
        ("no-such-client", 60, "no client"),
        (public_id.as_str(), 60, "has no secret"),
    ] {
        let err = xacthuc::cli::rotate_secret(&t.app.db, &t.clock, client, overlap)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(audited_kind(&t, "client.secret_rotated").await.is_none());
    assert_eq!(introspect_status(&t, &id, &secret).await, StatusCode::OK);
}

#[tokio::test]
async fn a_change_made_through_one_node_reaches_the_other_at_once() {
    let a = spawn_app().await;
    let b = a.second_node().await;
    let (id, old) = a.add_client(|_| {}).await;
    let old = old.unwrap();
    // Both nodes have the client in their caches.
    assert_eq!(introspect_status(&a, &id, &old).await, StatusCode::OK);
    assert_eq!(introspect_status(&b, &id, &old).await, StatusCode::OK);

    let new = rotate(&a, &id, 0).await;
    assert_eq!(introspect_status(&b, &id, &new).await, StatusCode::OK);
    assert_eq!(
        introspect_status(&b, &id, &old).await,
        StatusCode::UNAUTHORIZED
    );

    // A removal too (what `xacthuc client remove` does).
    assert!(a.app.db.delete_client(&id).await.unwrap());
    a.app.client_changed(&id).await;
    assert_eq!(
        introspect_status(&b, &id, &new).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        introspect_status(&a, &id, &new).await,
        StatusCode::UNAUTHORIZED
    );
}

/// What the command line does, with its own connection to the shared store: only with Redis
/// (an in-memory store cannot be shared with another process), so this test runs only when
/// REDIS_URL is set.
#[tokio::test]
async fn a_rotation_by_the_command_line_reaches_a_warm_node_at_once_with_redis() {
    if std::env::var("REDIS_URL").is_err() {
        return;
    }
    let t = spawn_app().await;
    let (id, old) = t.add_client(|_| {}).await;
    let old = old.unwrap();
    assert_eq!(introspect_status(&t, &id, &old).await, StatusCode::OK);
    let out = xacthuc::cli::rotate_secret(&t.app.db, &t.clock, &id, 0)
        .await
        .unwrap();
    xacthuc::cli::announce(&t.app.config, &t.clock, &id).await;
    let new = out["client_secret"].as_str().unwrap();
    assert_eq!(introspect_status(&t, &id, new).await, StatusCode::OK);
    assert_eq!(
        introspect_status(&t, &id, &old).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The query of an authorization error redirect to the test redirect URI.
async fn error_redirect(
    b: &reqwest::Client,
    url: &str,
) -> std::collections::HashMap<String, String> {
    let resp = b.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = location(&resp);
    assert!(loc.starts_with("http://127.0.0.1:9/callback?"), "{loc}");
    query(&loc)
}

#[tokio::test]
async fn a_client_may_have_its_error_redirects_without_iss() {
    let t = spawn_app().await;
    t.add_account(ID_NUMBER, Ial::Ial2).await;
    let (plain, _) = t.add_client(|_| {}).await;
    let (compat, _) = t.add_client(|c| c.omit_iss_in_errors = true).await;
    let (_, challenge) = pkce();
    let bad_scope = |id: &str| {
        authorize_url(&t, id, &challenge, &[])
            .replace("scope=openid+profile+phone+id_number", "scope=profile")
    };

    // By default (RFC 9207) an error carries iss.
    let q = error_redirect(&browser(), &bad_scope(&plain)).await;
    assert_eq!(q["error"], "invalid_scope");
    assert_eq!(q.get("iss"), Some(&t.app.issuer));
    // With the switch, it does not; the rest is the same.
    let q = error_redirect(&browser(), &bad_scope(&compat)).await;
    assert_eq!(q["error"], "invalid_scope");
    assert_eq!(q["state"], "st-123");
    assert_eq!(q.get("iss"), None);

    // Consent denied: an error after login, from the stored request.
    let b = browser();
    let resp = b
        .get(authorize_url(&t, &compat, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let consent_url = login(&t, &b, &location(&resp), ID_NUMBER, PASSWORD).await;
    assert!(consent_url.contains("/consent?"), "{consent_url}");
    let q = query(&consent(&b, &consent_url, false).await);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");
    assert_eq!(q.get("iss"), None);

    // A success still carries iss: the switch is about errors only.
    let q = query(
        &authorize_as(
            &t,
            &b,
            &authorize_url(&t, &compat, &challenge, &[]),
            ID_NUMBER,
        )
        .await,
    );
    assert!(q.contains_key("code"));
    assert_eq!(q.get("iss"), Some(&t.app.issuer));

    // And the other client's denial keeps it.
    let b = browser();
    let resp = b
        .get(authorize_url(&t, &plain, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let consent_url = login(&t, &b, &location(&resp), ID_NUMBER, PASSWORD).await;
    let q = query(&consent(&b, &consent_url, false).await);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q.get("iss"), Some(&t.app.issuer));
}
