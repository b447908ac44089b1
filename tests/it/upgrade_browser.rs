//! IAL2 → IAL3 inside a portal's request, in real headless Chromium (issue 8): an IAL2 citizen
//! logs in with password and SMS code for a portal that asks for IAL3 (`acr_values`), is
//! offered the upgrade, binds their SIM signature and the portal gets `acr` IAL3; declining
//! when the demo portal made IAL3 essential sends it `unmet_authentication_requirements`; a
//! remote signature of someone else is refused with the theme's message. Skipped like the
//! other browser tests when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::browser::{Browser, password_and_otp, portal_asks, portal_received};
use crate::helpers::*;

const AN_ID: &str = "001090012345";
const AN_PHONE: &str = "0823456088";
const AN_PIN: &str = "123456";

/// After the login, the upgrade is offered for the portal `portal` with the theme's text
/// `asks` (asked or required).
async fn assert_offered(b: &Browser, t: &TestApp, portal: &str, asks: &str) {
    assert!(
        b.url().await.starts_with(&t.url("/upgrade?ar=")),
        "the upgrade is offered: {}",
        b.url().await
    );
    let page = b.text().await;
    assert!(page.contains(&says(t, "upgrade_heading")), "{page}");
    assert!(page.contains(&says(t, asks)), "{page}");
    assert!(page.contains(portal), "{page}");
    assert!(b.shown("#upgrade-decline").await.is_some(), "{page}");
}

#[tokio::test]
async fn a_portal_asking_for_ial3_gets_it_once_the_citizen_binds_their_sim() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial2).await;
    let (client_id, secret, callback, verifier) =
        portal_asks(&b, &t, &[("acr_values", "IAL3")], |_| {}).await;
    password_and_otp(&b, &t, AN_ID).await;
    assert_offered(&b, &t, &client_add().name, "upgrade_portal_asks").await;

    b.click("a.method[data-method='sim_signature']").await;
    b.fill("phone", AN_PHONE).await;
    b.submit().await;
    let code = push_code(&b, &t).await;
    let id = request_for(&t, "mssp", AN_PHONE, &code).await;
    assert_eq!(
        answer_signature(&t, "mssp", &id, Some(AN_PIN)).await,
        StatusCode::OK
    );
    // push.js posts by itself; the raised account is asked its consent for the portal, and
    // goes back to it with a code.
    assert!(
        wait_for_url(&b, &t.url("/consent")).await,
        "the script followed on: {}",
        b.url().await
    );
    assert!(b.text().await.contains(&client_add().name));
    b.submit().await;
    let back = portal_received(&b, &callback).await;
    assert_eq!(back.get("state").map(String::as_str), Some("st-123"));
    let code = back.get("code").expect("a code");
    let (status, tokens) = exchange_code(&t, &client_id, &secret, code, &callback, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = crate::code_flow::decode_part(id_token, 1);
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["acr"], t.app.acr.acr(Ial::Ial3));
    assert_eq!(amr_of(id_token), ["hwk", "pin", "mca"]);

    assert_raised_to_ial3(&t, &sub, "sim_signature").await;
    b.close().await;
}

#[tokio::test]
async fn declining_an_essential_ial3_is_unmet_at_the_demo_portal() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial2).await;
    // The demo portal's "IAL3" login makes `acr` IAL3 essential (the `claims` parameter).
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login?acr=IAL3']")
        .await;
    password_and_otp(&b, &t, AN_ID).await;
    let demo_portal = xacthuc::sandbox::demo_portal::CLIENT_ID;
    let portal = t
        .app
        .client(demo_portal)
        .await
        .unwrap()
        .unwrap()
        .name
        .clone();
    assert_offered(&b, &t, &portal, "upgrade_portal_requires").await;

    // "Không, cảm ơn": the portal's callback gets `unmet_authentication_requirements` (which
    // the demo portal names `unmet`, and explains).
    b.click("#upgrade-decline").await;
    assert!(
        b.url()
            .await
            .starts_with(&t.url("/sandbox/demo-portal?error=unmet")),
        "{}",
        b.url().await
    );
    assert!(b.text().await.contains(&says(&t, "demo_error_unmet")));
    assert_eq!(
        portal_claim(&b, "acr").await,
        None,
        "nobody logged in there"
    );
    assert_still_ial2(&t, &sub).await;
    b.close().await;
}

#[tokio::test]
async fn someone_elses_remote_signature_is_refused_on_the_page() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial2).await;
    portal_asks(&b, &t, &[("acr_values", "IAL3")], |_| {}).await;
    password_and_otp(&b, &t, AN_ID).await;
    let portal = client_add().name;
    assert_offered(&b, &t, &portal, "upgrade_portal_asks").await;

    // Trần Thị Bích Ngọc's remote signature: her certificate states her ID number, not An's.
    b.click("a.method[data-method='remote_signature']").await;
    b.fill("user_id", "ngoc.tran").await;
    b.submit().await;
    let code = push_code(&b, &t).await;
    let id = request_for(&t, "csc", "ngoc.tran", &code).await;
    assert_eq!(
        answer_signature(&t, "csc", &id, Some("246810")).await,
        StatusCode::OK
    );
    let mismatch = says(&t, "err_upgrade_mismatch");
    assert!(
        // `shown`, not `text`: the page may be replaced while it is read (push.js posts).
        wait_for(|| async {
            b.shown("body")
                .await
                .is_some_and(|page| page.contains(&mismatch))
        })
        .await,
        "the refusal is shown: {}",
        b.text().await
    );
    assert_still_ial2(&t, &sub).await;
    let refused = audited(&t, "account.level_raise_refused", "id_number_mismatch")
        .await
        .expect("the refusal is audited");
    assert_eq!(refused.account_id.as_deref(), Some(sub.as_str()));

    // "Thử lại" offers the upgrade again, still for the portal.
    b.click("a.btn-primary").await;
    assert_offered(&b, &t, &portal, "upgrade_portal_asks").await;
    b.close().await;
}
