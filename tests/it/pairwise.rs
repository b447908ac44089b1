//! Pairwise subject identifiers (OIDC Core §8): one `sub` per sector, stable, the same in every
//! token and response a portal sees; the sector identifier document checked at registration.

use reqwest::StatusCode;
use serde_json::Value;
use xacthuc::domain::Ial;

use crate::code_flow::decode_part;
use crate::helpers::*;

const ID: &str = "001090012345";

/// A pairwise confidential client that skips consent, redirecting to `redirect`.
async fn pairwise_client(
    t: &TestApp,
    redirect: &str,
    tweak: impl FnOnce(&mut xacthuc::cli::ClientAdd),
) -> (String, String) {
    let (id, secret) = t
        .add_client(|c| {
            c.subject_type = "pairwise".into();
            c.redirect_uris = vec![redirect.to_string()];
            c.skip_consent = true;
            tweak(c);
        })
        .await;
    (id, secret.unwrap())
}

/// A login (or SSO) in `b` through client `id` at `redirect`; the token response.
async fn tokens_at(
    t: &TestApp,
    b: &reqwest::Client,
    id: &str,
    secret: &str,
    redirect: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorize_to(t, id, &challenge, redirect, "openid profile", &[]);
    let loc = authorize_as(t, b, &url, ID).await;
    let code = query(&loc)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {loc}"));
    let (status, tokens) = exchange_code(t, id, secret, &code, redirect, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

fn sub_of(jwt: &Value) -> String {
    decode_part(jwt.as_str().unwrap(), 1)["sub"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn userinfo_sub(t: &TestApp, access: &str) -> String {
    let resp = http()
        .get(t.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["sub"].as_str().unwrap().to_string()
}

async fn introspected_sub(t: &TestApp, id: &str, secret: &str, token: &str) -> String {
    let body: Value = http()
        .post(t.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["active"], true, "{body}");
    body["sub"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn each_sector_sees_its_own_stable_sub_and_every_response_agrees() {
    let t = spawn_app().await;
    let account = t.add_account(ID, Ial::Ial2).await;
    let here = "http://127.0.0.1:9/callback";
    let (a, a_secret) = pairwise_client(&t, here, |_| {}).await;
    let (b_id, b_secret) = pairwise_client(&t, "http://localhost:9/callback", |_| {}).await;
    // Same host as `a`: the same sector.
    let (c, c_secret) = pairwise_client(&t, "http://127.0.0.1:8/other", |_| {}).await;
    let (public, public_secret) = t.add_client(|c| c.skip_consent = true).await;

    let b = browser();
    let at_a = tokens_at(&t, &b, &a, &a_secret, here).await;
    let at_b = tokens_at(&t, &b, &b_id, &b_secret, "http://localhost:9/callback").await;
    let at_c = tokens_at(&t, &b, &c, &c_secret, "http://127.0.0.1:8/other").await;
    let at_public = tokens_at(&t, &b, &public, public_secret.as_deref().unwrap(), here).await;
    let sub_a = sub_of(&at_a["id_token"]);
    assert_ne!(
        sub_a, account,
        "a pairwise portal never sees the account id"
    );
    assert_ne!(
        sub_a,
        sub_of(&at_b["id_token"]),
        "two sectors cannot correlate"
    );
    assert_eq!(sub_a, sub_of(&at_c["id_token"]), "one sector, one sub");
    assert_eq!(sub_of(&at_public["id_token"]), account);

    // Stable across logins (another browser, a new login).
    let again = tokens_at(&t, &browser(), &a, &a_secret, here).await;
    assert_eq!(sub_of(&again["id_token"]), sub_a);

    // The access token, userinfo and introspection say the same; the token, which the
    // portal can read, does not carry the account id in clear.
    let access = at_a["access_token"].as_str().unwrap();
    assert_eq!(sub_of(&at_a["access_token"]), sub_a);
    assert!(!decode_part(access, 1).to_string().contains(&account));
    assert_eq!(userinfo_sub(&t, access).await, sub_a);
    assert_eq!(introspected_sub(&t, &a, &a_secret, access).await, sub_a);
    let refresh_token = at_a["refresh_token"].as_str().unwrap();
    assert_eq!(
        introspected_sub(&t, &a, &a_secret, refresh_token).await,
        sub_a
    );

    // A refresh keeps it.
    let (status, refreshed) = refresh(&t, &a, &a_secret, refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(sub_of(&refreshed["id_token"]), sub_a);
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(userinfo_sub(&t, access).await, sub_a);
}

#[tokio::test]
async fn back_channel_logout_and_id_token_hint_use_the_pairwise_sub() {
    let t = spawn_app().await;
    let account = t.add_account(ID, Ial::Ial2).await;
    let (receiver, received) = logout_receiver().await;
    let here = "http://127.0.0.1:9/callback";
    let (id, secret) = pairwise_client(&t, here, |c| {
        c.backchannel_logout_uri = Some(receiver.clone());
    })
    .await;
    let b = browser();
    let tokens = tokens_at(&t, &b, &id, &secret, here).await;
    let sub = sub_of(&tokens["id_token"]);
    assert_ne!(sub, account);

    // The hint identifies the session: logged out at once, no confirmation page.
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/bye")
        .append_pair("state", "s1");
    let resp = b
        .get(t.url(&format!("/logout?{}", q.finish())))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert_eq!(location(&resp), "http://127.0.0.1:9/bye?state=s1");

    let token = delivered(&received, 1).await.remove(0);
    let (claims, _) = t.app.keys.verify(&token).expect("signed by us");
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["aud"], id.as_str());
}

/// A sector identifier host: `/good` lists both redirect URIs, `/missing` one, `/html` is a page.
async fn sector_host(redirects: [&str; 2]) -> String {
    let good = serde_json::json!(redirects).to_string();
    let missing = serde_json::json!([redirects[0]]).to_string();
    let app = axum::Router::new()
        .route("/good", axum::routing::get(move || async move { good }))
        .route(
            "/missing",
            axum::routing::get(move || async move { missing }),
        )
        .route(
            "/html",
            axum::routing::get(|| async { "<html>sector</html>" }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    base
}

#[tokio::test]
async fn a_sector_identifier_is_fetched_and_must_list_every_redirect_uri() {
    let t = spawn_app().await;
    t.add_account(ID, Ial::Ial2).await;
    let redirects = ["http://127.0.0.1:9/callback", "http://localhost:9/callback"];
    let base = sector_host(redirects).await;
    let add = |sector: Option<String>| xacthuc::cli::ClientAdd {
        redirect_uris: redirects.map(String::from).to_vec(),
        subject_type: "pairwise".into(),
        sector_identifier_uri: sector,
        skip_consent: true,
        ..client_add()
    };
    let config = &t.app.config;
    let refused = |r: anyhow::Result<(xacthuc::oidc::client::Client, Option<String>)>| {
        r.expect_err("refused").to_string()
    };

    // Several hosts and no sector identifier: refused (OIDC Core 8.1).
    let err = refused(xacthuc::cli::new_client(config, add(None)));
    assert!(err.contains("sector_identifier_uri"), "{err}");
    // Not https (nor loopback http).
    let err = refused(xacthuc::cli::new_client(
        config,
        add(Some("http://portal.example.vn/sector.json".into())),
    ));
    assert!(err.contains("must be https"), "{err}");
    // A sector identifier for a public client makes no sense.
    let mut public = add(Some(format!("{base}/good")));
    public.subject_type = "public".into();
    let err = refused(xacthuc::cli::new_client(config, public));
    assert!(err.contains("only for a pairwise client"), "{err}");

    let http = &t.app.http;
    let err = refused(
        xacthuc::cli::checked_client(config, add(Some(format!("{base}/missing"))), http).await,
    );
    assert!(
        err.contains("does not list") && err.contains(redirects[1]),
        "{err}"
    );
    let err = refused(
        xacthuc::cli::checked_client(config, add(Some(format!("{base}/html"))), http).await,
    );
    assert!(err.contains("not a JSON array"), "{err}");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = refused(
        xacthuc::cli::checked_client(
            config,
            add(Some(format!("http://{closed}/sector.json"))),
            http,
        )
        .await,
    );
    assert!(err.contains("could not be fetched"), "{err}");

    // Listed: accepted; both redirect URIs are one sector, so one sub.
    let (client, secret) =
        xacthuc::cli::checked_client(config, add(Some(format!("{base}/good"))), http)
            .await
            .expect("accepted");
    t.app
        .db
        .insert_client(&client, t.clock.now())
        .await
        .unwrap();
    let secret = secret.unwrap();
    let one = tokens_at(&t, &browser(), &client.client_id, &secret, redirects[0]).await;
    let other = tokens_at(&t, &browser(), &client.client_id, &secret, redirects[1]).await;
    assert_eq!(sub_of(&one["id_token"]), sub_of(&other["id_token"]));
}
