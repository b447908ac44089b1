//! The counter in headless Chromium: the officer's console in one browser (its session made
//! with a software passkey, as in `counter.rs`, and handed to Chromium), the citizen's link in
//! another (one after the other: Chromium is allowed two at a time across the suite).
//! Skipped like the other browser tests when chromedriver is absent (failing instead under
//! `XACTHUC_BROWSER=1`).

use xacthuc::domain::{Ial, Role};

use crate::admin_support::{staff_desk, staff_in_chromium};
use crate::browser::{Browser, enter_otp};
use crate::helpers::*;

const OFFICER: &str = "001085000111";
const CITIZEN: &str = "001090000777";
const CITIZEN_PHONE: &str = "0912345678";
const CITIZEN_E164: &str = "+84912345678";
const NEW_PASSWORD: &str = "Qu@y-giao-dich-2026";

/// A Chromium in which the counter officer is logged in with a passkey, at the console.
async fn officer_at_the_console(t: &TestApp) -> Option<Browser> {
    let desk = staff_desk(t, OFFICER, &[Role::CounterOfficer]).await;
    let b = staff_in_chromium(t, &desk).await?;
    b.click("#counter-link").await;
    assert!(b.url().await.ends_with("/counter"), "{}", b.url().await);
    Some(b)
}

/// The link in the newest SMS to `phone`.
async fn link_sent_to(t: &TestApp, phone: &str) -> String {
    let texts = sms_texts(t, phone).await;
    let text = texts.last().expect("an SMS");
    let start = text.find("http").expect("a link");
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// The citizen, on their phone: the link, the SMS code, the password.
async fn citizen_finishes(t: &TestApp, link: &str, phone: &str, heading_key: &str) {
    let Some(b) = Browser::open().await else {
        return;
    };
    b.goto(link).await;
    b.submit().await;
    assert!(
        b.url().await.ends_with("/counter/finish/otp"),
        "{}",
        b.url().await
    );
    enter_otp(&b, t, phone).await;
    assert!(
        b.url().await.ends_with("/counter/finish/password"),
        "{}",
        b.url().await
    );
    b.fill("password", NEW_PASSWORD).await;
    b.fill("password_confirm", NEW_PASSWORD).await;
    b.submit().await;
    assert!(
        b.text().await.contains(&says(t, heading_key)),
        "{}",
        b.text().await
    );
    // The link works once.
    b.goto(link).await;
    assert!(b.text().await.contains(&says(t, "counter_link_used")));
    b.close().await;
}

#[tokio::test]
async fn a_registration_at_the_counter_end_to_end() {
    let t = spawn_app().await;
    let Some(officer) = officer_at_the_console(&t).await else {
        return;
    };
    assert!(officer.text().await.contains("Bưu điện Hà Đông"));
    officer.click("#counter-register").await;
    officer.click_only("#documents_checked").await;
    officer.fill("id_number", CITIZEN).await;
    officer.fill("full_name", "Trần Thị Bình").await;
    officer.fill("birthdate", "12/06/1990").await;
    officer.fill("phone", CITIZEN_PHONE).await;
    officer.submit().await;
    assert!(
        officer
            .text_of("#counter-sent")
            .await
            .contains("091****678")
    );
    officer.close().await;

    let link = link_sent_to(&t, CITIZEN_E164).await;
    citizen_finishes(&t, &link, CITIZEN_E164, "register_done_heading").await;
    let account = t
        .app
        .db
        .find_account_by_id_number(CITIZEN)
        .await
        .unwrap()
        .expect("the account");
    assert_eq!(account.registration_method, "counter");
    assert_eq!(account.ial, Ial::Ial2);
}

#[tokio::test]
async fn an_assisted_password_reset_end_to_end() {
    let t = spawn_app().await;
    let citizen = t
        .add_account_with_phones(CITIZEN, Ial::Ial2, &[CITIZEN_E164])
        .await;
    let Some(officer) = officer_at_the_console(&t).await else {
        return;
    };
    officer.click("#counter-reset").await;
    officer.fill("id_number", CITIZEN).await;
    officer.submit().await;
    assert_eq!(officer.text_of("#account-birthdate").await, "12/06/1990");
    assert!(officer.text().await.contains("091****678"));
    officer.click_only("#documents_checked").await;
    officer.submit().await;
    assert!(
        officer
            .text_of("#counter-sent")
            .await
            .contains("091****678")
    );
    officer.close().await;

    let link = link_sent_to(&t, CITIZEN_E164).await;
    citizen_finishes(&t, &link, CITIZEN_E164, "reset_done_heading").await;
    let reset = audited_for(&t, "account.password_reset", &citizen)
        .await
        .expect("audited");
    assert_eq!(reset.detail["via"], "counter");
    // The new password logs in (with the SMS code to the account's phone).
    let b = browser();
    let form = login_form(&b, &t.url("/login"), CITIZEN, NEW_PASSWORD).await;
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert!(
        location(&resp).ends_with("/login/otp"),
        "{}",
        location(&resp)
    );
}
