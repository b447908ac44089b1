//! VNeID in real headless Chromium: the demo portal → our login page's "Tài khoản Định danh
//! điện tử cấp bởi Bộ Công an" button → the sandbox VNeID's own pages (ID number + password,
//! then its OTP) → back, consent, and the portal shows the new account's IAL. Skipped like the
//! other browser tests when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use crate::browser::Browser;
use crate::helpers::*;

#[tokio::test]
async fn a_citizen_logs_in_to_the_demo_portal_with_vneid_and_gets_an_ial3_account() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    let login_page = b.text().await;
    assert!(login_page.contains("Tài khoản Định danh điện tử cấp bởi Bộ Công an"));
    assert!(!login_page.contains("Sắp ra mắt"));
    b.click("#login-with-upstream-vneid").await;
    assert!(
        b.url()
            .await
            .starts_with(&t.url("/sandbox/vneid/authorize"))
    );
    b.fill("id_number", "040088003579").await;
    b.fill("password", "Vneid@2024").await;
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
