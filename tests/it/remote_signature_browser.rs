//! "Chữ ký số cá nhân" in real headless Chromium: from the demo portal, the remote signature's
//! user form, the code and the countdown on the page while the holder approves in the sandbox
//! provider's app (a second tab, as a citizen holds the phone beside the computer), `push.js`
//! following on by itself, and the portal's ID token at IAL3 with `amr` swk, pin, mca. Then the
//! registration of a citizen by the same method. Skipped like the other browser tests when
//! chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use xacthuc::domain::Ial;

use crate::browser::Browser;
use crate::helpers::*;

const AN_ID: &str = "001090012345";
const AN_USER: &str = "an.nguyen";
const AN_PIN: &str = "135790";

/// From the demo portal to our login page, for the portal's request.
async fn open_demo_portal_login(b: &Browser, t: &TestApp) {
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
}

/// Sends the request to `user` from the user form; returns the code the page shows.
async fn send_to(b: &Browser, t: &TestApp, user: &str) -> String {
    b.fill("user_id", user).await;
    b.submit().await;
    assert!(
        b.text().await.contains(&says(t, "remote_pending_lead")),
        "{}",
        b.text().await
    );
    push_code(b, t).await
}

/// The holder opens the sandbox app in another tab, checks the code and approves with the PIN,
/// then comes back to the waiting page.
async fn approve_in_the_app(b: &Browser, t: &TestApp, holder: &str, code: &str, pin: &str) {
    let waiting = b.client.window().await.unwrap();
    let app = b.client.new_window(true).await.unwrap();
    b.client.switch_to_window(app.handle).await.unwrap();
    b.goto(&t.url(&format!("/sandbox/csc/app?holder={holder}")))
        .await;
    let shown = b
        .shown("section.request .display")
        .await
        .unwrap_or_default();
    assert!(shown.contains(code), "the app shows {code}: {shown}");
    b.fill("pin", pin).await;
    b.click("button[name='approve']").await;
    assert!(
        b.shown("#notice").await.is_some(),
        "the app confirms: {}",
        b.text().await
    );
    assert!(b.shown("#empty").await.is_some(), "nothing left to sign");
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(waiting).await.unwrap();
}

#[tokio::test]
async fn a_citizen_approves_in_the_signing_app_and_the_demo_portal_gets_ial3() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial3).await;
    open_demo_portal_login(&b, &t).await;
    b.click("#login-with-remote_signature").await;
    assert!(b.text().await.contains(&says(&t, "remote_login_lead")));
    let code = send_to(&b, &t, AN_USER).await;

    // The countdown runs on the page while nobody has answered yet.
    let left = || async {
        b.shown("[data-push-left]")
            .await
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    let first = left().await;
    assert!(first <= 120, "{first}");
    assert!(
        wait_for(|| async { left().await < first }).await,
        "the countdown moves"
    );
    assert!(b.url().await.contains("/login/remote_signature"));

    approve_in_the_app(&b, &t, AN_USER, &code, AN_PIN).await;
    // push.js sees "ready" and posts the form by itself: the demo portal's consent.
    assert!(
        wait_for(|| async { b.url().await.contains("/consent") }).await,
        "the page moved on: {}",
        b.url().await
    );
    b.submit().await;
    assert_portal_acr(&b, &t, Ial::Ial3).await;
    let amr: Vec<String> =
        serde_json::from_str(&portal_claim(&b, "amr").await.expect("amr shown")).unwrap();
    assert_eq!(amr, ["swk", "pin", "mca"]);
    assert_eq!(portal_claim(&b, "id_number").await.as_deref(), Some(AN_ID));
    b.close().await;
}

#[tokio::test]
async fn a_citizen_registers_with_the_remote_signature_and_the_demo_portal_gets_ial3() {
    let Some(b) = Browser::open().await else {
        return;
    };
    assert!(
        xacthuc::authenticators::Method::RemoteSignature
            .registers()
            .contains(&xacthuc::domain::SubjectType::Citizen),
        "the remote signature registers citizens"
    );
    let t = spawn_app().await;
    let (ngoc_id, ngoc_user, ngoc_pin) = ("079195004821", "ngoc.tran", "246810");
    open_demo_portal_login(&b, &t).await;
    b.click("#login-register").await;
    b.click("a.method[data-method='remote_signature']").await;
    let code = send_to(&b, &t, ngoc_user).await;
    let id = request_for(&t, "csc", ngoc_user, &code).await;
    assert_eq!(
        answer_signature(&t, "csc", &id, Some(ngoc_pin)).await,
        reqwest::StatusCode::OK
    );
    // push.js sees "ready" and posts: the identity read from the certificate.
    assert!(
        wait_for_url(&b, &t.url("/register/confirm")).await,
        "on to the confirmation: {}",
        b.url().await
    );
    assert_eq!(
        b.shown("#identity-name").await.as_deref(),
        Some("Trần Thị Bích Ngọc")
    );
    assert_eq!(
        b.shown("#identity-id-number").await.as_deref(),
        Some(ngoc_id)
    );
    b.submit().await;
    assert!(b.url().await.contains("/consent"), "{}", b.url().await);
    b.submit().await;
    assert_portal_acr(&b, &t, Ial::Ial3).await;
    assert_eq!(
        portal_claim(&b, "id_number").await.as_deref(),
        Some(ngoc_id)
    );
    let account = t
        .app
        .db
        .find_account_by_id_number(ngoc_id)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.registration_method, "remote_signature");
    b.close().await;
}
