//! "SIM ký số" ending without a login, in real headless Chromium: nobody answers on the phone
//! until the request expires (the app clock is moved on; `push.js`'s next poll learns it), and
//! the user presses "Hủy" on the waiting page. Each time the page says why in the theme's words,
//! nobody is logged in, and the citizen can start again. Skipped like the other browser tests
//! when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use fantoccini::Locator;
use reqwest::StatusCode;
use xacthuc::authenticators::signature_push::PUSH_TTL_SECONDS;

use crate::browser::Browser;
use crate::helpers::*;

const AN_ID: &str = "001090012345";
const AN_PHONE: &str = "0823456088";
const AN_PIN: &str = "123456";

/// Whether the element `css` is displayed.
async fn displayed(b: &Browser, css: &str) -> bool {
    match b.client.find(Locator::Css(css)).await {
        Ok(e) => e.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

/// Nobody is logged in in this browser: "Thông tin cá nhân" sends it to the login page.
async fn assert_logged_out(b: &Browser, t: &TestApp) {
    b.goto(&t.url("/profile")).await;
    assert!(
        b.url().await.starts_with(&t.url("/login")),
        "not logged in: {}",
        b.url().await
    );
    let audit = t.app.db.audit_events(50).await.unwrap();
    assert!(audit.iter().all(|e| e.kind != "login.succeeded"));
}

#[tokio::test]
async fn an_unanswered_sim_request_expires_on_the_page_and_the_citizen_starts_again() {
    let Some((b, t, id)) = sim_login_waiting(AN_ID, AN_PHONE).await else {
        return;
    };

    t.advance(u64::from(PUSH_TTL_SECONDS) + 1);
    let expired = says(&t, "err_push_expired");
    assert!(
        wait_for(|| async { b.shown("#push-failed").await.as_deref() == Some(expired.as_str()) })
            .await,
        "the expiry is shown: {}",
        b.text().await
    );
    assert!(!displayed(&b, "#push-form").await, "nothing left to check");
    assert!(!displayed(&b, "#push-status").await, "no longer waiting");
    assert!(
        audited(&t, "login.failed", "expired").await.is_some(),
        "the expiry is audited"
    );
    // Too late for the phone too.
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some(AN_PIN)).await,
        StatusCode::CONFLICT
    );

    // The page offers to start again: back to the login page, with the SIM among its methods.
    assert_eq!(
        b.shown("#push-back").await.as_deref(),
        Some(says(&t, "push_back_to_login").as_str())
    );
    b.click("#push-back").await;
    assert!(b.url().await.starts_with(&t.url("/login")));
    assert!(displayed(&b, "#login-with-sim_signature").await);
    assert_logged_out(&b, &t).await;

    // A new request, answered this time, logs in.
    let code = start_sim_login(&b, &t, AN_PHONE).await;
    let id = request_for(&t, "mssp", AN_PHONE, &code).await;
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some(AN_PIN)).await,
        StatusCode::OK
    );
    assert!(
        wait_for(|| async { b.url().await.contains("/consent") }).await,
        "the script followed on: {}",
        b.url().await
    );
    b.close().await;
}

#[tokio::test]
async fn cancelling_on_the_waiting_page_ends_the_sim_login() {
    let Some((b, t, id)) = sim_login_waiting(AN_ID, AN_PHONE).await else {
        return;
    };

    b.click("#push-cancel").await;
    let page = b.text().await;
    assert!(page.contains(&says(&t, "err_push_cancelled")), "{page}");
    assert!(
        displayed(&b, "[name='password']").await,
        "back on the login page: {page}"
    );
    assert!(audited(&t, "login.failed", "cancelled").await.is_some());

    // The phone still shows the request (it cannot be withdrawn); approving it now logs
    // nobody in.
    answer_signature(&t, "mssp", &id, Some(AN_PIN)).await;
    assert_logged_out(&b, &t).await;
    b.close().await;
}
