//! A portal on another origin, in real headless Chromium: every page whose form is answered
//! with a redirect to the portal lets its forms lead there (CSP `form-action`). Browsers hold
//! each redirect of a form's navigation to the page's `form-action`, so with `'self'` alone
//! Chromium stays on our page after the SMS code, an upgrade's "Không, cảm ơn" or the logout
//! confirmation; HTTP clients do not apply CSP and never noticed. Skipped like the other
//! browser tests when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::browser::{Browser, password_and_otp, portal_asks, portal_received};
use crate::helpers::*;

const AN_ID: &str = "001090012345";

#[tokio::test]
async fn a_portal_that_skips_consent_gets_its_code_once_the_sms_code_is_entered() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial2).await;
    let (client_id, secret, callback, verifier) =
        portal_asks(&b, &t, &[], |c| c.skip_consent = true).await;
    password_and_otp(&b, &t, AN_ID).await;

    let back = portal_received(&b, &callback).await;
    assert_eq!(back.get("state").map(String::as_str), Some("st-123"));
    let code = back.get("code").expect("a code");
    let (status, tokens) = exchange_code(&t, &client_id, &secret, code, &callback, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = crate::code_flow::decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], sub.as_str());

    // The portal's RP-initiated logout: the confirmation's "Đăng xuất" is answered with a
    // redirect to the portal's registered post-logout URI.
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &client_id)
        .append_pair("post_logout_redirect_uri", &callback)
        .append_pair("state", "bye-1");
    b.goto(&t.url(&format!("/logout?{}", q.finish()))).await;
    assert!(b.text().await.contains(&says(&t, "logout_confirm_button")));
    b.submit().await;
    let back = portal_received(&b, &callback).await;
    assert_eq!(back.get("state").map(String::as_str), Some("bye-1"));
    b.close().await;
}

#[tokio::test]
async fn declining_an_essential_ial3_sends_the_portal_unmet_authentication_requirements() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial2).await;
    let claims = crate::upgrade::essential_ial3();
    let (_, _, callback, _) = portal_asks(&b, &t, &[("claims", &claims)], |_| {}).await;
    password_and_otp(&b, &t, AN_ID).await;
    assert!(
        b.url().await.starts_with(&t.url("/upgrade?ar=")),
        "the upgrade is offered: {}",
        b.url().await
    );

    b.click("#upgrade-decline").await;
    let back = portal_received(&b, &callback).await;
    assert_eq!(
        back.get("error").map(String::as_str),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(back.get("state").map(String::as_str), Some("st-123"));
    assert!(!back.contains_key("code"));
    b.close().await;
}
