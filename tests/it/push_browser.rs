//! "SIM ký số" in real headless Chromium: the login page's SIM method, the code on the page,
//! the theme's `push.js` polling while the holder answers in the sandbox, and the login
//! finishing at the relying party (the demo portal) — or the rejection shown on the page.
//! Skipped like the other browser tests when chromedriver is absent (failing instead under
//! `XACTHUC_BROWSER=1`).

use fantoccini::Locator;

use crate::helpers::*;

const AN_ID: &str = "001090012345";
const AN_PHONE: &str = "0823456088";

#[tokio::test]
async fn a_citizen_logs_in_to_the_demo_portal_with_the_sim_at_ial3() {
    let Some((b, t, id)) = sim_login_waiting(AN_ID, AN_PHONE).await else {
        return;
    };
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some("123456")).await,
        reqwest::StatusCode::OK
    );
    // push.js sees "ready" and posts the form: the consent page of the demo portal.
    assert!(
        wait_for(|| async { b.url().await.contains("/consent") }).await,
        "the script followed on: {}",
        b.url().await
    );
    b.submit().await;
    let page = b.text().await;
    assert!(
        page.contains("IAL3"),
        "acr=IAL3 at the relying party: {page}"
    );
    assert!(page.contains("hwk"), "amr shown: {page}");
    b.close().await;
}

#[tokio::test]
async fn a_rejection_on_the_phone_is_shown_on_the_page() {
    let Some((b, t, id)) = sim_login_waiting(AN_ID, AN_PHONE).await else {
        return;
    };
    answer_signature(&t, "mssp", &id, None).await;
    let shown = wait_for(|| async {
        match b.client.find(Locator::Css("#push-failed")).await {
            Ok(e) => e.text().await.unwrap_or_default().contains("từ chối"),
            Err(_) => false,
        }
    })
    .await;
    assert!(shown, "the rejection is shown: {}", b.text().await);
    b.close().await;
}
