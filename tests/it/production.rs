//! Production guard rails: what `mode = "production"` refuses, the sandbox's routes absent when
//! it is off, `__Host-` cookies on an https issuer, and CSRF tokens bound to the browser's
//! session.

use reqwest::StatusCode;
use xacthuc::app::{App, StartError};
use xacthuc::clock::Clock;
use xacthuc::config::Config;
use xacthuc::domain::Ial;

use crate::helpers::*;

/// `App::build` refuses a production configuration that breaks one rule, naming it; nothing is
/// connected or created first.
async fn production_refusal(tweak: impl FnOnce(&mut Config)) -> String {
    let mut config = production_config();
    // A database that cannot be opened: the refusal must come before any connection.
    config.database.url = "sqlite:///nonexistent-dir/never.db".into();
    tweak(&mut config);
    match App::build(config, Clock::system()).await {
        Err(StartError::Config(e)) => e.to_string(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("production started"),
    }
}

#[tokio::test]
async fn production_refuses_to_start_with_the_sandbox_an_http_issuer_or_empty_connectors() {
    let why = production_refusal(|c| c.sandbox.enabled = true).await;
    assert!(why.contains("refuses the sandbox"), "{why}");
    let why = production_refusal(|c| c.server.public_url = "http://localhost:8080".into()).await;
    assert!(why.contains("https server.public_url"), "{why}");
    let why = production_refusal(|c| c.connectors.sms_url = String::new()).await;
    assert!(why.contains("connectors.sms_url"), "{why}");
}

#[tokio::test]
async fn production_refuses_to_start_with_signature_methods_and_no_trust_anchors() {
    let why = production_refusal(|c| c.pki.public_anchors.clear()).await;
    assert!(why.contains("pki.public_anchors"), "{why}");
    let why = production_refusal(|c| c.pki.government_anchors.clear()).await;
    assert!(why.contains("pki.government_anchors"), "{why}");
}

#[tokio::test]
async fn without_the_sandbox_the_captcha_answers_and_the_sms_outbox_do_not_exist() {
    let t = spawn_app_with(|c| {
        c.sandbox.enabled = false;
        c.connectors.carrier_url = "http://127.0.0.1:9".into();
        c.connectors.sms_url = "http://127.0.0.1:9".into();
        c.connectors.bhxh_url = "http://127.0.0.1:9".into();
        c.connectors.mail_url = "http://127.0.0.1:9".into();
        c.connectors.mobile_signature_url = "http://127.0.0.1:9".into();
        c.connectors.remote_signature_url = "http://127.0.0.1:9".into();
        c.federation.upstreams[0].discovery_url = "http://127.0.0.1:9/openid".into();
    })
    .await;
    // A live captcha, as a registration form shows it.
    let html = page_text(&browser(), t.url("/register/mobile")).await;
    let captcha_id = hidden(&html, "captcha_id").expect("the form has a captcha");
    for path in [
        format!("/sandbox/captcha/{captcha_id}"),
        "/sandbox/sms/outbox?to=0823456088".to_string(),
        "/sandbox/mail/outbox?to=an@example.vn".to_string(),
        "/sandbox/demo-portal".to_string(),
        "/sandbox/mssp/pending".to_string(),
        "/sandbox/csc/app".to_string(),
        "/sandbox/vneid/.well-known/openid-configuration".to_string(),
    ] {
        let resp = http().get(t.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("answer"), "{path}: {body}");
    }
    // The captcha itself still works: its picture is served.
    let resp = http()
        .get(t.url(&format!("/captcha/{captcha_id}/image.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn cookies_take_the_host_prefix_on_an_https_issuer() {
    // The server is reached over http in the test, but its issuer says https.
    let t =
        spawn_app_with(|c| c.server.public_url = c.server.public_url.replace("http:", "https:"))
            .await;
    let resp = http().get(t.url("/login?lang=en")).send().await.unwrap();
    let cookies = set_cookies(&resp);
    for name in ["__Host-xacthuc_csrf=", "__Host-xacthuc_lang="] {
        let c = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {cookies:?}"));
        assert!(c.contains("; Path=/;") && c.contains("; Secure"), "{c}");
        assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
    }

    // A cookie under the plain name (planted over http, or by a sibling subdomain) is not
    // read: the page hands out a new `__Host-` cookie, and a form bound to the planted one
    // fails.
    let cookie = format!("xacthuc_csrf={}", xacthuc::random::token());
    let (cookies, token) = login_page_with_cookie(&t, &cookie).await;
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-xacthuc_csrf="))
    );
    let status = post_login_with_cookie(&t, &cookie, &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The login page fetched with `cookie`: the cookies it sets and its form's CSRF token.
async fn login_page_with_cookie(t: &TestApp, cookie: &str) -> (Vec<String>, String) {
    let resp = http()
        .get(t.url("/login"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&resp);
    let token = hidden(&resp.text().await.unwrap(), "csrf").expect("a form");
    (cookies, token)
}

/// The status of a login posted with `cookie` and the CSRF token `csrf`.
async fn post_login_with_cookie(t: &TestApp, cookie: &str, csrf: &str) -> StatusCode {
    http()
        .post(t.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf),
            ("username", "001090012345"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_csrf_token_is_neither_the_cookie_nor_portable_between_browsers() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let planted = xacthuc::random::token();
    let cookie = format!("xacthuc_csrf={planted}");
    // Double submit of a value of one's choosing: the cookie's value as the token.
    assert_eq!(
        post_login_with_cookie(&t, &cookie, &planted).await,
        StatusCode::FORBIDDEN,
        "the cookie is not the token"
    );

    // A browser that logged in: its forms are bound to its session. An attacker who plants a
    // CSRF cookie in it and fetched the matching token for that cookie still cannot post.
    let (b, jar) = browser_with_jar();
    let next = login(&t, &b, &t.url("/login"), "001090012345", PASSWORD).await;
    assert!(!next.contains("/login"), "logged in: {next}");
    let (_, attacker_token) = login_page_with_cookie(&t, &cookie).await;
    jar.add_cookie_str(
        &format!("{cookie}; Path=/"),
        &t.base.parse::<url::Url>().unwrap(),
    );
    for token in [planted.as_str(), attacker_token.as_str()] {
        let resp = b
            .post(t.url("/logout"))
            .form(&[("csrf", token)])
            .send()
            .await
            .unwrap();
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("name=\"csrf\""),
            "asked to confirm, not logged out"
        );
    }
    let profile = b.get(t.url("/profile")).send().await.unwrap();
    assert_eq!(profile.status(), StatusCode::OK, "still logged in");

    // The browser's own token (from its own page) does log it out.
    let own = hidden(&profile.text().await.unwrap(), "csrf").unwrap();
    b.post(t.url("/logout"))
        .form(&[("csrf", own.as_str())])
        .send()
        .await
        .unwrap();
    let profile = b.get(t.url("/profile")).send().await.unwrap();
    assert!(profile.status().is_redirection(), "logged out");
}
