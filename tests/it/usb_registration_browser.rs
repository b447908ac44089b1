//! Registration by "USB ký số" in real headless Chromium, from the registration page's IAL3
//! card through the theme's `signer.js` and the in-process agent on the shared SoftHSM2 token:
//! a citizen sees the identity read from the certificate before "Đăng ký", registers, and logs
//! in to the demo portal with the token (IAL3, `amr` hwk pin sc); an enterprise (a certificate
//! with only `MST:`) must give an email, registers, and a second certificate with the same tax
//! code is refused with the seeds' duplicate message and its three ways out, the page's
//! language link leading back to the registration page. Skipped like the other browser tests
//! when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use fantoccini::Locator;
use serde_json::{Value, json};
use xacthuc::domain::{Ial, SubjectType};

use crate::browser::Browser;
use crate::helpers::*;
use crate::usb_token_browser::{app_with_agent, sign_with, wait_shown};

const NGOC: &str = "079195004821";
const NGOC_NAME: &str = "Trần Thị Bích Ngọc";
const TAX_CODE: &str = "0100233488";
const COMPANY: &str = "Công ty TNHH Ví Dụ";

fn enterprise() -> Value {
    json!({"uids": [format!("MST:{TAX_CODE}")], "cn": COMPANY, "o": COMPANY, "c": "VN"})
}

/// From "Đăng ký" (for `subject`) to the "USB ký số" card's ceremony, signed with `token`.
async fn register_by_usb(b: &Browser, t: &TestApp, subject: &str, token: &UsbToken) {
    b.goto(&t.url(&format!("/register?subject={subject}")))
        .await;
    b.click("a.method[data-method='usb_token']").await;
    sign_with(b, token).await;
}

/// The demo portal's row `name` among the ID token's claims (the page's first list).
async fn portal_claim(b: &Browser, name: &str) -> Value {
    b.client
        .execute(
            "var rows = document.querySelector('dl.kv').children;
             for (var i = 0; i < rows.length; i++) {
               if (rows[i].querySelector('dt').textContent === arguments[0]) {
                 return rows[i].querySelector('dd').textContent;
               }
             }
             return null;",
            vec![json!(name)],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_citizen_registers_by_usb_token_and_logs_in_to_the_demo_portal_at_ial3() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let certify = json!({"uids": [format!("CCCD:{NGOC}")], "cn": NGOC_NAME, "c": "VN"});
    let (t, token) = app_with_agent(certify).await;

    let turn = token_turn().await;
    register_by_usb(&b, &t, "citizen", &token).await;
    // Before "Đăng ký": the identity read from the certificate, and no account yet.
    assert!(
        b.url().await.ends_with("/register/confirm"),
        "{}: {}",
        b.url().await,
        b.text().await
    );
    assert_eq!(b.text_of("#identity-name").await, NGOC_NAME);
    assert_eq!(b.text_of("#identity-id-number").await, NGOC);
    assert!(!b.text_of("#identity-issuer").await.is_empty());
    assert_eq!(count_accounts(&t).await, 0, "nothing before Đăng ký");
    b.submit().await;
    drop(turn);
    let account = t
        .app
        .db
        .find_account_by_id_number(NGOC)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.subject_type, SubjectType::Citizen);
    assert_eq!(account.registration_method, "usb_token");
    assert!(b.logged_in(&t).await, "registered and logged in");

    // Another day: the demo portal, "USB ký số", the same token.
    b.client.delete_all_cookies().await.unwrap();
    let turn = token_turn().await;
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    b.click("#login-with-usb_token").await;
    sign_with(&b, &token).await;
    drop(turn);
    assert!(
        b.url().await.contains("/consent"),
        "{}: {}",
        b.url().await,
        b.text().await
    );
    wait_shown(&b, "form button.btn-primary").await;
    b.submit().await;
    assert_eq!(portal_claim(&b, "sub").await, json!(account.id));
    assert_eq!(
        portal_claim(&b, "acr").await,
        json!(t.app.acr.acr(Ial::Ial3))
    );
    let amr: Vec<String> =
        serde_json::from_str(portal_claim(&b, "amr").await.as_str().expect("amr shown")).unwrap();
    for a in ["hwk", "pin", "sc"] {
        assert!(amr.iter().any(|m| m == a), "{amr:?}");
    }
    assert!(!amr.iter().any(|m| m == "pwd"), "{amr:?}");
    b.close().await;
}

#[tokio::test]
async fn an_enterprise_registers_by_usb_and_a_second_certificate_of_its_tax_code_is_refused() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let (t, token) = app_with_agent(enterprise()).await;
    // The enterprise's renewed certificate: another key, the same tax code.
    let renewed = usb_token(&t, enterprise()).await;

    let turn = token_turn().await;
    register_by_usb(&b, &t, "enterprise", &token).await;
    assert!(
        b.url().await.ends_with("/register/confirm"),
        "{}",
        b.url().await
    );
    assert_eq!(b.text_of("#identity-name").await, COMPANY);
    assert_eq!(b.text_of("#identity-tax-code").await, TAX_CODE);
    assert!(
        b.client
            .find(Locator::Css("#identity-id-number"))
            .await
            .is_err(),
        "an enterprise has no ID number"
    );
    // The email is required of an enterprise.
    b.submit().await;
    assert_eq!(
        b.text_of("#email-error").await,
        t.app.theme.t("vi", "err_email_required_enterprise")
    );
    assert_eq!(count_accounts(&t).await, 0);
    b.fill("email", "ketoan@vidu.vn").await;
    b.submit().await;
    let account = t
        .app
        .db
        .find_account_by_tax_code(TAX_CODE)
        .await
        .unwrap()
        .expect("the enterprise's account");
    assert_eq!(account.subject_type, SubjectType::Enterprise);
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.email.as_deref(), Some("ketoan@vidu.vn"));
    assert_eq!(account.registration_method, "usb_token");

    // Someone registers the same enterprise again with the renewed certificate.
    b.client.delete_all_cookies().await.unwrap();
    register_by_usb(&b, &t, "enterprise", &renewed).await;
    drop(turn);
    assert_eq!(
        b.text_of(".alert-error .alert-title").await,
        t.app.theme.t("vi", "err_duplicate_enterprise")
    );
    // The seeds' three ways out: "Quên mật khẩu", the counter, a complaint.
    let ways_out = b.text_of(".alert-error").await;
    for key in [
        "register_duplicate_forgot_link",
        "register_duplicate_counter",
        "register_duplicate_complaint_link",
    ] {
        assert!(
            ways_out.contains(&t.app.theme.t("vi", key)),
            "{key}: {ways_out}"
        );
    }
    for link in ["/forgot-password", "/complaint"] {
        assert!(
            b.client
                .find(Locator::Css(&format!(".alert-error a[href='{link}']")))
                .await
                .is_ok(),
            "{link}"
        );
    }
    assert_eq!(count_accounts(&t).await, 1, "no second account");
    assert!(
        audited(&t, "registration.refused", "duplicate_account")
            .await
            .is_some()
    );
    // The page answers the ceremony's post to /login/usb_token; its English link is the
    // registration page for the same subject, not that URL (which would begin a login).
    let english = b
        .client
        .find(Locator::Css("a.lang-switch"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(
        english.as_deref(),
        Some("/register?subject=enterprise&lang=en")
    );
    b.click("a.lang-switch").await;
    assert!(
        b.client
            .find(Locator::Css("a.method[data-method='usb_token']"))
            .await
            .is_ok(),
        "the registration page: {}",
        b.text().await
    );
    assert!(
        b.text()
            .await
            .contains(&t.app.theme.t("en", "register_subject_enterprise")),
        "in English, for an enterprise"
    );
    b.close().await;
}
