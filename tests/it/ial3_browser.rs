//! IAL3 registration in real headless Chromium (issue 8): from the demo portal's login page to
//! "Đăng ký" → "Công dân" → "SIM ký số", the phone, the code on the page while the holder
//! approves in the sandbox (the theme's `push.js` polls and posts), the identity read from the
//! certificate, "Đăng ký", and back at the portal with `acr=IAL3`. Skipped like the other
//! browser tests when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use std::time::Duration;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::*;

const AN_PHONE: &str = "0823456088";
const AN_ID: &str = "001090012345";

#[tokio::test]
async fn a_citizen_registers_by_sim_from_the_demo_portal_and_returns_at_ial3() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    b.click("#login-register").await;
    let choice = b.text().await;
    assert!(!choice.contains("Sắp ra mắt"), "{choice}");
    b.click("a.method[data-method='sim_signature']").await;
    b.fill("phone", AN_PHONE).await;
    b.submit().await;
    let code = b
        .client
        .find(Locator::Css("#push-code"))
        .await
        .expect("the code is shown")
        .text()
        .await
        .unwrap();
    let pending = pending_signatures(&t, "mssp", AN_PHONE).await;
    assert_eq!(pending.len(), 1);
    assert!(pending[0]["display"].as_str().unwrap().contains(&code));
    let id = pending[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some("123456")).await,
        reqwest::StatusCode::OK
    );
    // push.js sees "ready" and posts: the identity read from the certificate.
    let mut confirmed = false;
    for _ in 0..60 {
        if b.url().await.contains("/register/confirm") {
            confirmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(confirmed, "on to the confirmation: {}", b.url().await);
    let page = b.text().await;
    assert!(
        page.contains("Nguyễn Văn An") && page.contains(AN_ID),
        "{page}"
    );
    assert_eq!(b.input_value("email").await, "an.nguyen@example.vn");
    b.submit().await;
    // Logged in: the demo portal's consent, then the portal shows the ID token.
    assert!(b.url().await.contains("/consent"), "{}", b.url().await);
    b.submit().await;
    let portal = b.text().await;
    assert!(
        portal.contains("IAL3"),
        "acr=IAL3 at the relying party: {portal}"
    );
    let account = t.app.db.find_account_by_id_number(AN_ID).await.unwrap();
    assert_eq!(
        account.map(|a| a.registration_method).as_deref(),
        Some("sim_signature")
    );
    b.close().await;
}
