//! VNeID in real headless Chromium: the demo portal → our login page's "Tài khoản Định danh
//! điện tử cấp bởi Bộ Công an" button → the sandbox VNeID's own pages (ID number + password,
//! then its OTP) → back, consent, and the portal shows the new account's IAL; linking an
//! existing account (directly, or after its password and SMS code); upstream faults through the
//! real pages; the portal's hints at VNeID; and a logout that ends VNeID's session too. Where
//! it matters (CSP `form-action`, cookies), VNeID is reached on another origin than ours
//! (`127.0.0.1` beside `localhost`), as the real one is. Skipped like the other browser tests
//! when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use xacthuc::domain::Ial;
use xacthuc::sandbox::vneid::VneidFault;

use crate::browser::{Browser, enter_otp, portal_asks, portal_received};
use crate::helpers::*;

const VNEID_PASSWORD: &str = "Vneid@2024";
const VNEID_NAME: &str = "Tài khoản Định danh điện tử cấp bởi Bộ Công an";

/// The app, with the sandbox VNeID reached at `127.0.0.1` (another origin than ours).
async fn app_with_vneid_elsewhere() -> TestApp {
    spawn_app_with(|c| {
        let origin = c.server.public_url.replace("localhost", "127.0.0.1");
        c.federation.upstreams[0].discovery_url =
            format!("{origin}/sandbox/vneid/.well-known/openid-configuration");
    })
    .await
}

/// From our login page: the VNeID button, then VNeID's own login and its OTP.
async fn log_in_at_vneid(b: &Browser, t: &TestApp, id_number: &str, phone: &str) {
    b.click("#login-with-upstream-vneid").await;
    assert!(
        b.url().await.contains("/sandbox/vneid/authorize"),
        "{}",
        b.url().await
    );
    b.fill("id_number", id_number).await;
    b.fill("password", VNEID_PASSWORD).await;
    b.click("form button").await;
    let otp = latest_otp(t, phone).await;
    b.fill("otp", &otp).await;
    b.click("form button").await;
}

#[tokio::test]
async fn a_citizen_logs_in_to_the_demo_portal_with_vneid_and_gets_an_ial3_account() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    let login_page = b.text().await;
    assert!(login_page.contains(VNEID_NAME));
    assert!(!login_page.contains("Sắp ra mắt"));
    b.click("#login-with-upstream-vneid").await;
    assert!(
        b.url()
            .await
            .starts_with(&t.url("/sandbox/vneid/authorize"))
    );
    b.fill("id_number", "040088003579").await;
    b.fill("password", VNEID_PASSWORD).await;
    b.click("form button").await;
    let otp = latest_otp(&t, "0971234567").await;
    b.fill("otp", &otp).await;
    b.click("form button").await;
    assert!(b.url().await.contains("/consent"), "consent asked");
    b.submit().await;
    let page = b.text().await;
    assert!(
        page.contains("IAL3"),
        "acr=IAL3 (VNeID level 2) shown by the portal: {page}"
    );
    let account = t
        .app
        .db
        .find_account_by_id_number("040088003579")
        .await
        .unwrap()
        .expect("the account VNeID's first login made");
    assert_eq!(account.registration_method, "vneid");
    b.close().await;
}

#[tokio::test]
async fn an_existing_account_is_linked_directly_when_vneid_vouches_its_level() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = app_with_vneid_elsewhere().await;
    let existing = t.add_account("001090012345", Ial::Ial2).await;
    let (_, _, callback, _) = portal_asks(&b, &t, &[], |c| c.skip_consent = true).await;
    log_in_at_vneid(&b, &t, "001090012345", "0823456088").await;
    let back = portal_received(&b, &callback).await;
    assert!(back.contains_key("code"), "{back:?}");
    let links = t
        .app
        .db
        .credentials_of(&existing, xacthuc::domain::CredentialKind::FederatedLink)
        .await
        .unwrap();
    assert_eq!(links.len(), 1, "linked without a further proof");
    assert_eq!(count_accounts(&t).await, 1, "no second account");
    b.close().await;
}

#[tokio::test]
async fn a_lower_vneid_level_links_after_the_accounts_password_and_sms_code() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = app_with_vneid_elsewhere().await;
    let existing = t.add_account("079195004821", Ial::Ial3).await;
    let (client_id, secret, callback, verifier) =
        portal_asks(&b, &t, &[], |c| c.skip_consent = true).await;
    log_in_at_vneid(&b, &t, "079195004821", "0912345678").await;
    assert!(
        b.url().await.starts_with(&t.url("/login/link")),
        "the proof page: {}",
        b.url().await
    );
    assert!(b.text().await.contains(&says(&t, "federation_link_lead")));
    assert_eq!(b.text_of("#link-id-number").await, "079******821");

    // A wrong password first: the page says so, nothing is linked.
    b.fill("password", "Sai@mat-khau1").await;
    b.submit().await;
    assert_eq!(
        b.text_of("#link-error").await,
        says(&t, "error_invalid_credentials")
    );
    b.fill("password", PASSWORD).await;
    b.submit().await;
    assert!(b.url().await.starts_with(&t.url("/login/link/otp")));
    // The SMS code's form is answered with a redirect to the portal (CSP form-action).
    enter_otp(&b, &t, PHONE_E164).await;
    let back = portal_received(&b, &callback).await;
    let code = back.get("code").expect("a code for the portal");
    let (status, tokens) = exchange_code(&t, &client_id, &secret, code, &callback, &verifier).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");
    let claims = crate::code_flow::decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], existing.as_str());
    assert_eq!(
        claims["acr"], "IAL2",
        "the level VNeID proved in this login"
    );
    let links = t
        .app
        .db
        .credentials_of(&existing, xacthuc::domain::CredentialKind::FederatedLink)
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(count_accounts(&t).await, 1);
    b.close().await;
}

#[tokio::test]
async fn upstream_faults_are_clear_on_the_login_page_and_create_no_account() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = app_with_vneid_elsewhere().await;
    let vneid = t.app.sandbox_vneid.clone().unwrap();
    for (fault, key) in [
        (VneidFault::Error, "error_federation_unavailable"),
        (VneidFault::WrongIssuer, "error_federation_token_refused"),
        (VneidFault::BadSignature, "error_federation_token_refused"),
    ] {
        vneid.set_fault(fault);
        let (_, _, _, _) = portal_asks(&b, &t, &[], |_| {}).await;
        log_in_at_vneid(&b, &t, "040088003579", "0971234567").await;
        assert!(
            b.url()
                .await
                .starts_with(&t.url("/login/federation/callback"))
        );
        let message = says(&t, key).replace("{upstream}", VNEID_NAME);
        assert_eq!(b.text_of("#login-error").await, message, "{fault:?}");
        // The other ways in stay offered.
        assert!(b.shown("[name='password']").await.is_some(), "{fault:?}");
        assert!(b.shown("#login-with-upstream-vneid").await.is_some());
        assert_eq!(count_accounts(&t).await, 0, "{fault:?}: no account");
    }
    b.close().await;
}

#[tokio::test]
async fn the_portals_login_hint_and_acr_values_reach_vneids_page() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = app_with_vneid_elsewhere().await;
    let extra = [("login_hint", "040088003579"), ("acr_values", "IAL3")];
    let _ = portal_asks(&b, &t, &extra, |_| {}).await;
    b.click("#login-with-upstream-vneid").await;
    assert!(
        b.url()
            .await
            .starts_with(&t.url("/sandbox/vneid").replace("localhost", "127.0.0.1"))
    );
    assert_eq!(
        b.input_value("id_number").await,
        "040088003579",
        "prefilled"
    );
    let seen = t.app.sandbox_vneid.as_ref().unwrap().last_authorize();
    assert_eq!(seen.get("acr_values").map(String::as_str), Some("IAL3"));
    assert_eq!(
        seen.get("login_hint").map(String::as_str),
        Some("040088003579")
    );
    b.close().await;
}

#[tokio::test]
async fn signing_out_of_a_vneid_session_signs_out_of_vneid_and_returns_to_the_portal() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = app_with_vneid_elsewhere().await;
    let vneid = t.app.sandbox_vneid.clone().unwrap();
    let (client_id, _, callback, _) = portal_asks(&b, &t, &[], |c| c.skip_consent = true).await;
    log_in_at_vneid(&b, &t, "040088003579", "0971234567").await;
    portal_received(&b, &callback).await;

    // The portal's logout without a hint: the confirmation, whose "Đăng xuất" leads to VNeID
    // (another origin), back here, then to the portal.
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &client_id)
        .append_pair("post_logout_redirect_uri", &callback)
        .append_pair("state", "bye-1");
    b.goto(&t.url(&format!("/logout?{}", q.finish()))).await;
    assert!(b.text().await.contains(&says(&t, "logout_confirm_button")));
    b.submit().await;
    let back = portal_received(&b, &callback).await;
    assert_eq!(back.get("state").map(String::as_str), Some("bye-1"));
    let calls = vneid.logouts();
    assert_eq!(calls.len(), 1, "VNeID's end-session endpoint was called");
    assert!(calls[0].hint_subject.is_some());
    assert!(!b.logged_in(&t).await, "logged out here");
    b.close().await;
}
