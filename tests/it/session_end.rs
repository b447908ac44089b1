//! Tokens after a logout, a password reset or a revocation: a code redeemed after its session
//! ended, a refresh racing a revocation, and an authorization racing a logout never leave a
//! live token or bring the session back.

use reqwest::StatusCode;
use xacthuc::domain::Ial;
use xacthuc::oidc::params::Params;
use xacthuc::oidc::{authorize, interaction, logout, revocation};

use crate::helpers::*;

const CB: &str = "http://127.0.0.1:9/callback";

/// Logs `b` in for `client_id` (no consent page) and returns the code with its PKCE verifier.
async fn code_for(t: &TestApp, b: &reqwest::Client, client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let loc = authorize_as(
        t,
        b,
        &authorize_url(t, client_id, &challenge, &[]),
        "001090012345",
    )
    .await;
    let code = query(&loc).get("code").cloned().expect("a code");
    (code, verifier)
}

/// Logs the browser out as its user would: the confirmation page, then "Đăng xuất".
async fn log_out(t: &TestApp, b: &reqwest::Client) {
    let page = page_text(b, t.url("/logout")).await;
    let csrf = hidden(&page, "csrf").expect("confirmation form");
    let resp = b
        .post(t.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        b.get(t.url("/profile"))
            .send()
            .await
            .unwrap()
            .status()
            .is_redirection()
    );
}

#[tokio::test]
async fn a_code_redeemed_after_its_session_ended_is_refused() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|c| c.skip_consent = true).await;
    let secret = secret.unwrap();

    // Logout between the redirect with the code and its redemption.
    let b = browser();
    let (code, verifier) = code_for(&t, &b, &id).await;
    log_out(&t, &b).await;
    let (status, body) = exchange_code(&t, &id, &secret, &code, CB, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body.get("refresh_token").is_none());

    // A password reset (every session of the account ends) between the two.
    let b = browser();
    let (code, verifier) = code_for(&t, &b, &id).await;
    let account = t.account_by_id_number("001090012345").await;
    t.advance(1);
    xacthuc::oidc::logout::end_account(&t.app, &account.id, None, None)
        .await
        .unwrap();
    let (status, body) = exchange_code(&t, &id, &secret, &code, CB, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A live session's code still works.
    let b = browser();
    let (code, verifier) = code_for(&t, &b, &id).await;
    let (status, body) = exchange_code(&t, &id, &secret, &code, CB, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A revocation writes its marker first, then revokes the database rows. A refresh that runs
/// between the two must not extend the family: each marker is written here alone, as if the
/// database update were still on its way.
#[tokio::test]
async fn a_refresh_between_a_revocations_marker_and_its_database_update_is_refused() {
    let t = spawn_app().await;
    let sub = t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let store = t.app.store.as_ref();
    let ttl = std::time::Duration::from_secs(360);

    for marker in ["family", "session", "all sessions"] {
        let tokens = tokens_for(&t, &id, &secret, "001090012345").await;
        let rt = tokens["refresh_token"].as_str().unwrap();
        let grant = t
            .app
            .db
            .find_refresh_token(&xacthuc::random::sha256_hex(rt))
            .await
            .unwrap()
            .unwrap();
        match marker {
            "family" => store
                .put(&revocation::family_key(&grant.family_id), b"1", ttl)
                .await
                .unwrap(),
            "session" => store
                .put(
                    &revocation::sid_key(grant.sid.as_deref().unwrap()),
                    b"1",
                    ttl,
                )
                .await
                .unwrap(),
            _ => {
                t.advance(1);
                interaction::end_all_sessions(&t.app, &sub, None)
                    .await
                    .unwrap()
            }
        }
        let (status, body) = refresh(&t, &id, &secret, rt).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{marker}: {body}"
        );
    }
}

/// Rotations and revocations of the same family at the same moment, many times: whichever
/// wins, no successor outlives the revocation. (On PostgreSQL a single UPDATE misses a
/// successor committed while it waited on the rotated row.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_racing_a_family_revocation_leaves_no_live_successor() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|_| {}).await;
    let tokens = tokens_for(&t, &id, &secret.unwrap(), "001090012345").await;
    let first = t
        .app
        .db
        .find_refresh_token(&xacthuc::random::sha256_hex(
            tokens["refresh_token"].as_str().unwrap(),
        ))
        .await
        .unwrap()
        .unwrap();
    let mut rotated = 0;
    for round in 0..40 {
        let grant = xacthuc::store::RefreshGrant {
            id: uuid::Uuid::now_v7().to_string(),
            family_id: format!("race-{round}"),
            token_hash: format!("race-{round}-old"),
            ..first.clone()
        };
        t.app.db.insert_refresh_token(&grant).await.unwrap();
        let (db, now) = (t.app.db.clone(), t.clock.now());
        let store = t.app.store.clone();
        let rotation = tokio::spawn(async move {
            // A store round trip before the replacement, as the refresh grant makes.
            store.get_many(&["x".to_string()]).await.unwrap();
            let new = xacthuc::store::RefreshGrant {
                id: uuid::Uuid::now_v7().to_string(),
                token_hash: format!("race-{round}-new"),
                used_at: None,
                ..grant.clone()
            };
            let replaced = db
                .replace_refresh_token(&grant.token_hash, now, &new)
                .await
                .unwrap();
            replaced.then_some(new)
        });
        let (db, family) = (t.app.db.clone(), format!("race-{round}"));
        let revocation = tokio::spawn(async move { db.revoke_refresh_family(&family, now).await });
        let (rotation, revocation) = (rotation.await.unwrap(), revocation.await.unwrap());
        revocation.unwrap();
        if let Some(new) = rotation {
            rotated += 1;
            let stored = t
                .app
                .db
                .find_refresh_token(&new.token_hash)
                .await
                .unwrap()
                .unwrap();
            assert!(
                stored.revoked_at.is_some(),
                "round {round}: a live successor"
            );
        }
    }
    eprintln!("{rotated} of 40 rotations committed before their revocation");
}

#[tokio::test]
async fn an_authorization_racing_a_logout_does_not_bring_the_session_back() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (first, _) = t.add_client(|c| c.skip_consent = true).await;
    let (second, _) = t.add_client(|c| c.skip_consent = true).await;
    let (b, jar) = browser_with_jar();
    code_for(&t, &b, &first).await;
    let cookie = session_cookie(&t, &jar);
    let session = interaction::load_session(&t.app, &cookie)
        .await
        .unwrap()
        .expect("logged in");

    // An authorization for another portal has read the session; then the user logs out.
    let (_, challenge) = pkce();
    let url = authorize_url(&t, &second, &challenge, &[]);
    let params = Params::parse(url.split_once('?').unwrap().1.as_bytes()).unwrap();
    let client = t.app.client(&second).await.unwrap().unwrap();
    let target = authorize::check_redirect_uri(&params, &client).unwrap();
    let req = authorize::validate(&params, &client, &target, &t.app.acr).unwrap();
    logout::end_session(&t.app, &cookie, None).await.unwrap();

    let next = interaction::advance(
        &t.app,
        &req,
        None,
        Some(&session),
        Default::default(),
        "browser",
    )
    .await;
    assert!(next.is_err(), "no code for an ended session");
    assert!(
        interaction::load_session(&t.app, &cookie)
            .await
            .unwrap()
            .is_none(),
        "the ended session stays ended"
    );
    let resp = b.get(t.url("/profile")).send().await.unwrap();
    assert!(resp.status().is_redirection(), "the cookie logs in no more");
}

/// The session cookie's secret in a browser's jar.
fn session_cookie(t: &TestApp, jar: &reqwest::cookie::Jar) -> String {
    use reqwest::cookie::CookieStore;
    let header = jar.cookies(&t.base.parse().unwrap()).expect("cookies");
    header
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("xacthuc_session="))
        .expect("a session cookie")
        .to_string()
}
