//! Many nodes (issue 11): three real `xacthuc serve` processes on one PostgreSQL and one Redis
//! behind a load balancer ([`crate::cluster`]), and what a user or an operator notices when
//! requests move between nodes, a node dies, Redis restarts, PostgreSQL goes away, or the
//! signing keys rotate. PostgreSQL + Redis only: skipped (with a note) on the SQLite pass.

use reqwest::StatusCode;
use serde_json::Value;
use xacthuc::domain::Ial;

use crate::cluster::{Cluster, lb_browser, wait_until};
use crate::helpers::*;

const ID: &str = "079090001234";

/// A seeded subscriber of the sandbox carrier whose SIM is their own.
const AN: [(&str, &str); 4] = [
    ("id_number", "001090012345"),
    ("full_name", "Nguyễn Văn An"),
    ("birthdate", "12/06/1990"),
    ("phone", "0823456088"),
];
const AN_ID: &str = "001090012345";
const AN_PHONE: &str = "+84823456088";

/// A portal and a citizen with a password and the sandbox phone; returns the client's id and
/// secret.
async fn portal_and_citizen(c: &Cluster) -> (String, String) {
    let (client_id, secret) = c.lb.add_client(|_| {}).await;
    c.lb.add_account(ID, Ial::Ial2).await;
    (client_id, secret.expect("confidential client"))
}

/// On node `i`: the portal sends the browser to /authorize, the user submits ID number and
/// password. Returns where the browser is sent next (the SMS code screen) and the PKCE verifier.
async fn password_on_node(
    c: &Cluster,
    i: usize,
    b: &reqwest::Client,
    client_id: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let authorize = authorize_url(&c.lb, client_id, &challenge, &[]);
    let resp = b.get(c.on_node(i, &authorize)).send().await.unwrap();
    let login_url = location(&resp);
    assert!(login_url.contains("/login?"), "{login_url}");
    let form = login_form(b, &c.on_node(i, &login_url), ID, PASSWORD).await;
    let resp = b
        .post(c.node(i).url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let otp_url = location(&resp);
    assert!(otp_url.ends_with("/login/otp"), "{}", resp.status());
    (otp_url, verifier)
}

/// The SMS code and consent, each on node `i`; returns the redirect back to the portal.
async fn finish_on_node(c: &Cluster, i: usize, b: &reqwest::Client, otp_url: &str) -> String {
    let node = c.node(i);
    let next = submit_otp(&node, b, &c.on_node(i, otp_url), PHONE_E164).await;
    assert!(next.contains("/consent?"), "{next}");
    consent(b, &c.on_node(i, &next), true).await
}

#[tokio::test]
async fn a_login_started_on_one_node_finishes_on_another() {
    let Some(c) = Cluster::start("a_login_started_on_one_node_finishes_on_another").await else {
        return;
    };
    let (client_id, secret) = portal_and_citizen(&c).await;
    let b = browser();

    // Password on node 0, SMS code and consent on node 1, the code redeemed at node 2.
    let (otp_url, verifier) = password_on_node(&c, 0, &b, &client_id).await;
    let back = finish_on_node(&c, 1, &b, &otp_url).await;
    let tokens = redeem(&c.node(2), &back, &client_id, &secret, &verifier).await;
    let amr = amr_of(tokens["id_token"].as_str().unwrap());
    assert!(
        amr.contains(&"pwd".into()) && amr.contains(&"sms".into()),
        "{amr:?}"
    );

    // The SSO session made on node 1 is known to node 0: the next portal visit skips login.
    let (_, challenge) = pkce();
    let again = authorize_url(&c.lb, &client_id, &challenge, &[]);
    let resp = b.get(c.on_node(0, &again)).send().await.unwrap();
    let back = location(&resp);
    assert!(
        back.contains("code="),
        "SSO session not seen on node 0: {back}"
    );
}

/// "Thuê bao di động": the form and captcha on node `form`, the SMS code on node `otp`.
async fn registration_up_to_password(c: &Cluster, b: &reqwest::Client, form: usize, otp: usize) {
    let resp = submit_registration(&c.node(form), b, "/register/mobile", &AN).await;
    assert_eq!(
        location(&resp),
        c.lb.url("/register/otp"),
        "to the OTP screen"
    );
    let node = c.node(otp);
    let next = submit_otp(&node, b, &node.url("/register/otp"), AN_PHONE).await;
    assert_eq!(next, c.lb.url("/register/password"));
}

/// The new password, submitted on node `i`.
async fn choose_password(c: &Cluster, b: &reqwest::Client, i: usize) -> reqwest::Response {
    let node = c.node(i);
    let fields = [("password", PASSWORD), ("password_confirm", PASSWORD)];
    post_on(
        &node,
        b,
        &node.url("/register/password"),
        "/register/password",
        &fields,
    )
    .await
}

#[tokio::test]
async fn a_registration_started_on_one_node_finishes_on_another() {
    let Some(c) = Cluster::start("a_registration_started_on_one_node_finishes_on_another").await
    else {
        return;
    };
    let b = browser();
    registration_up_to_password(&c, &b, 0, 1).await;
    let done = choose_password(&c, &b, 2).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(shows(
        &c.lb,
        &done.text().await.unwrap(),
        "register_done_heading"
    ));

    // The new citizen logs in to a portal through the load balancer: password, SMS code.
    let (client_id, secret) = c.lb.add_client(|p| p.skip_consent = true).await;
    let b = lb_browser();
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_url(&c.lb, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let form = login_form(&b, &location(&resp), AN_ID, PASSWORD).await;
    let resp = b.post(c.lb.url("/login")).form(&form).send().await.unwrap();
    let back = submit_otp(&c.lb, &b, &location(&resp), AN_PHONE).await;
    let tokens = redeem(&c.lb, &back, &client_id, &secret.unwrap(), &verifier).await;
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn a_token_revoked_through_one_node_is_refused_by_the_others() {
    let Some(c) = Cluster::start("a_token_revoked_through_one_node_is_refused_by_the_others").await
    else {
        return;
    };
    let (client_id, secret) = portal_and_citizen(&c).await;
    let tokens = tokens_for(&c.lb, &client_id, &secret, ID).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    // Every node has verified (and cached) the access token before the revocation.
    for i in 0..3 {
        let seen = introspect(&c.node(i), &client_id, &secret, access).await;
        assert_eq!(seen["active"], true, "node {i}");
        assert_eq!(userinfo_status(&c, i, access).await, StatusCode::OK);
    }

    for token in [access, refresh_token] {
        let resp = http()
            .post(c.node(0).url("/revoke"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    for i in 1..3 {
        let seen = introspect(&c.node(i), &client_id, &secret, access).await;
        assert_eq!(
            seen["active"], false,
            "node {i} still accepts the access token"
        );
        assert_eq!(
            userinfo_status(&c, i, access).await,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = refresh(&c.node(i), &client_id, &secret, refresh_token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "node {i}: {body}");
        assert_eq!(body["error"], "invalid_grant");
    }
}

async fn userinfo_status(c: &Cluster, i: usize, access: &str) -> StatusCode {
    http()
        .get(c.node(i).url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_node_killed_during_a_login_leaves_the_user_to_finish_on_another() {
    let Some(mut c) =
        Cluster::start("a_node_killed_during_a_login_leaves_the_user_to_finish_on_another").await
    else {
        return;
    };
    let (client_id, secret) = portal_and_citizen(&c).await;
    let b = lb_browser();
    let (otp_url, verifier) = password_on_node(&c, 0, &b, &client_id).await;

    c.kill_node(0);

    // The rest goes through the load balancer, which skips the dead node.
    let next = submit_otp(&c.lb, &b, &otp_url, PHONE_E164).await;
    let back = consent(&b, &next, true).await;
    let tokens = redeem(&c.lb, &back, &client_id, &secret, &verifier).await;
    assert!(tokens["id_token"].is_string());
    assert_eq!(
        introspect(
            &c.lb,
            &client_id,
            &secret,
            tokens["access_token"].as_str().unwrap()
        )
        .await["active"],
        true
    );
}

#[tokio::test]
async fn a_redis_restart_asks_users_to_start_again_and_the_nodes_recover() {
    let Some(mut c) =
        Cluster::start("a_redis_restart_asks_users_to_start_again_and_the_nodes_recover").await
    else {
        return;
    };
    let (client_id, secret) = portal_and_citizen(&c).await;
    let accounts = count_accounts(&c.lb).await;
    let b = lb_browser();
    let (otp_url, _) = password_on_node(&c, 0, &b, &client_id).await;

    c.redis.stop();
    // While Redis is down: not ready, and the login in progress is lost: "start again", never
    // a 5xx.
    assert!(
        wait_until(|| async {
            c.statuses("/readyz")
                .await
                .iter()
                .all(|s| s.as_u16() == 503)
        })
        .await
    );
    assert_start_again(&c, &b, &otp_url).await;

    // Redis is back, empty: the login in progress is gone, and the user is told to start again.
    c.restart_redis().await;
    assert_start_again(&c, &b, &otp_url).await;
    assert_eq!(count_accounts(&c.lb).await, accounts);

    // A registration past its SMS code when Redis restarts: start again, and no account was
    // made; done again, it makes one account with its phone and password.
    let b = browser();
    registration_up_to_password(&c, &b, 0, 1).await;
    let page = page_text(&b, c.node(2).url("/register/password")).await;
    let csrf = hidden(&page, "csrf").expect("csrf");
    c.restart_redis().await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let lost = b
        .post(c.node(2).url("/register/password"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &c.lb,
        &lost.text().await.unwrap(),
        "err_flow_expired"
    ));
    assert_eq!(count_accounts(&c.lb).await, accounts);
    registration_up_to_password(&c, &b, 1, 2).await;
    assert_eq!(choose_password(&c, &b, 0).await.status(), StatusCode::OK);
    assert_eq!(count_accounts(&c.lb).await, accounts + 1);
    let db = &c.lb.app.db;
    let an = db
        .find_account_by_id_number(AN_ID)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(
        db.default_phone(&an.id).await.unwrap().as_deref(),
        Some(AN_PHONE)
    );
    assert!(db.password_hash(&an.id).await.unwrap().is_some());

    // Without restarting any node, a new login works through the load balancer, and a change
    // announced through the new Redis (a key rotation) reaches every node.
    let tokens = tokens_for(&c.lb, &client_id, &secret, ID).await;
    assert!(tokens["id_token"].is_string());
    let new_kids = rotate_keys(&c).await;
    assert_every_node_publishes(&c, &new_kids).await;
}

/// The OTP screen of a lost login: a 400 page saying to go back to the portal and start again,
/// in Vietnamese and in English.
async fn assert_start_again(c: &Cluster, b: &reqwest::Client, otp_url: &str) {
    for lang in ["vi", "en"] {
        let resp = b
            .get(format!("{otp_url}?lang={lang}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let html = unescape(&resp.text().await.unwrap());
        let says = c.lb.app.theme.t(lang, "error_session_expired");
        assert!(html.contains(&says), "{lang}: {html}");
    }
}

#[tokio::test]
async fn postgres_unreachable_makes_nodes_unready_with_clear_errors_until_it_returns() {
    let Some(c) = Cluster::start(
        "postgres_unreachable_makes_nodes_unready_with_clear_errors_until_it_returns",
    )
    .await
    else {
        return;
    };
    let (client_id, secret) = portal_and_citizen(&c).await;
    // A portal no node has seen yet (so none has it cached).
    let (new_portal, _) = c.lb.add_client(|_| {}).await;
    let tokens = tokens_for(&c.lb, &client_id, &secret, ID).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let b = lb_browser();
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_url(&c.lb, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    let form = login_form(&b, &login_url, ID, PASSWORD).await;

    c.pg.cut();
    assert!(
        wait_until(|| async {
            c.statuses("/readyz")
                .await
                .iter()
                .all(|s| s.as_u16() == 503)
        })
        .await,
        "readyz {:?}",
        c.statuses("/readyz").await
    );
    // The user submits the password: a themed "try again later" page, on every node.
    for i in 0..3 {
        let resp = b
            .post(c.node(i).url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "node {i}");
        let html = resp.text().await.unwrap();
        assert!(
            shows(&c.lb, &html, "error_temporarily_unavailable"),
            "{html}"
        );
    }
    // A portal no node has cached sends a user: the themed "try again later" page (its
    // redirect URI cannot be checked, so no redirect).
    let (_, challenge) = pkce();
    let resp = b
        .get(authorize_url(&c.lb, &new_portal, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(shows(
        &c.lb,
        &resp.text().await.unwrap(),
        "error_temporarily_unavailable"
    ));
    // A resource server asks for the user's claims: an OAuth error in JSON, 503.
    for i in 0..3 {
        let resp = http()
            .get(c.node(i).url("/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "node {i}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    // The portal refreshes its tokens: an OAuth error in JSON, 503.
    let (status, body) = refresh(&c.lb, &client_id, &secret, refresh_token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");

    c.pg.restore();
    for i in 0..3 {
        c.wait_ready(i).await;
    }
    let (status, body) = refresh(&c.lb, &client_id, &secret, refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = b.post(c.lb.url("/login")).form(&form).send().await.unwrap();
    let next = location(&resp);
    assert!(next.ends_with("/login/otp"), "{}", resp.status());
    // The citizen consented to this portal before: back to it with a code.
    let back = submit_otp(&c.lb, &b, &next, PHONE_E164).await;
    redeem(&c.lb, &back, &client_id, &secret, &verifier).await;
}

#[tokio::test]
async fn a_key_rotation_on_one_node_is_seen_by_all() {
    let Some(c) = Cluster::start("a_key_rotation_on_one_node_is_seen_by_all").await else {
        return;
    };
    let (client_id, secret) = portal_and_citizen(&c).await;
    let new_kids = rotate_keys(&c).await;
    assert_every_node_publishes(&c, &new_kids).await;

    // Tokens made on node 0 are signed with a new key and verify on every node.
    let b = browser();
    let (otp_url, verifier) = password_on_node(&c, 0, &b, &client_id).await;
    let back = finish_on_node(&c, 0, &b, &otp_url).await;
    let tokens = redeem(&c.node(0), &back, &client_id, &secret, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    for token in [access, tokens["id_token"].as_str().unwrap()] {
        let kid = kid_of(token);
        assert!(new_kids.contains(&kid), "{kid} is not one of {new_kids:?}");
    }
    for i in 0..3 {
        let seen = introspect(&c.node(i), &client_id, &secret, access).await;
        assert_eq!(seen["active"], true, "node {i}");
        assert_eq!(userinfo_status(&c, i, access).await, StatusCode::OK);
    }
}

/// `xacthuc key rotate --delay 0`, run as an operator would on one node; the new keys' ids.
async fn rotate_keys(c: &Cluster) -> Vec<String> {
    let rotated: Value =
        serde_json::from_str(&c.cli(&["key", "rotate", "--delay", "0"]).await).unwrap();
    let new_kids: Vec<String> = rotated["new_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert!(!new_kids.is_empty());
    new_kids
}

/// Waits (bounded, well within the nodes' 60 s periodic reload) until every node's JWKS
/// publishes `kids`.
async fn assert_every_node_publishes(c: &Cluster, kids: &[String]) {
    for i in 0..3 {
        let node = c.node(i);
        let published = wait_until(|| async {
            let jwks: Value = http()
                .get(node.url("/jwks"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let published: Vec<&str> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|k| k["kid"].as_str())
                .collect();
            kids.iter().all(|k| published.contains(&k.as_str()))
        })
        .await;
        assert!(published, "node {i} does not publish {kids:?}");
    }
}

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_string()
}
