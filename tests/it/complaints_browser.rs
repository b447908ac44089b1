//! A complaint in headless Chromium, from the duplicate-account message to the owner's first
//! login: the complainant files it from the registration's "gửi khiếu nại" link (the number
//! filled in), the counter officer (logged in with a passkey; the session is handed to
//! Chromium as its cookie) locks the disputed account and hands it over after the in-person
//! check, and the owner sets a password with "Quên mật khẩu" and the code on their phone.

use xacthuc::domain::{AccountStatus, Ial};

use crate::browser::{Browser, enter_otp};
use crate::complaints::{DISPUTED, OWNER_E164, OWNER_PHONE, officer_holder};
use crate::helpers::*;
use crate::passkey::passkey_login;

const PASSWORD_NEW: &str = "Hà-Nội@2024!";

#[tokio::test]
async fn a_complaint_from_the_duplicate_message_to_the_owner_setting_a_password() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    let impostor = t.add_account(DISPUTED, Ial::Ial2).await;

    // The owner tries to register and is told the number is taken.
    b.goto(&t.url("/register/mobile")).await;
    for (name, value) in [
        ("id_number", DISPUTED),
        ("full_name", "Nguyễn Văn An"),
        ("birthdate", "12/06/1990"),
        ("phone", OWNER_PHONE),
    ] {
        b.fill(name, value).await;
    }
    b.solve_captcha(&t).await;
    b.submit().await;
    assert!(
        b.text().await.contains("gửi khiếu nại"),
        "{}",
        b.text().await
    );
    b.click("a[href^='/complaint']").await;
    assert_eq!(b.input_value("id_number").await, DISPUTED, "filled in");
    b.fill("full_name", "Nguyễn Văn An").await;
    b.fill("phone", OWNER_PHONE).await;
    b.fill(
        "description",
        "Tôi chưa từng đăng ký tài khoản này; có người đã dùng số CCCD của tôi.",
    )
    .await;
    b.solve_captcha(&t).await;
    b.submit().await;
    let ticket = b.text_of("#complaint-ticket").await;
    assert!(ticket.starts_with("KN-"), "{ticket}");
    assert!(sms_texts(&t, OWNER_E164).await[0].contains(&ticket));

    // The officer, at the counter, with their passkey session.
    let mut officer = officer_holder(&t, "001085000123").await;
    let (http, jar) = browser_with_jar();
    let resp = passkey_login(&t, &http, &mut officer, None).await;
    assert!(resp.status().is_redirection());
    let cookies = {
        use reqwest::cookie::CookieStore;
        jar.cookies(&t.base.parse().unwrap()).expect("cookies")
    };
    let session = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("xacthuc_session="))
        .expect("a session cookie")
        .to_string();
    b.client.delete_all_cookies().await.unwrap();
    b.goto(&t.url("/")).await;
    // Set by the page's script (WebDriver's addCookie refuses a host-only `localhost` cookie);
    // the server reads it like its own.
    b.client
        .execute(
            "document.cookie = arguments[0]",
            vec![serde_json::json!(format!(
                "xacthuc_session={session}; path=/; SameSite=Lax"
            ))],
        )
        .await
        .expect("the officer's session cookie");
    b.goto(&t.url("/counter/complaints")).await;
    b.click(&format!("a[data-ticket='{ticket}']")).await;
    assert!(
        b.text().await.contains("082****899"),
        "the disputed account, masked"
    );
    b.click("#complaint-lock button").await;
    assert_eq!(
        b.text_of("#complaint-notice").await,
        t.app.theme.t("vi", "complaint_done_lock")
    );
    assert_eq!(
        t.app
            .db
            .find_account(&impostor)
            .await
            .unwrap()
            .unwrap()
            .status,
        AccountStatus::Locked
    );
    b.click_only("#complaint-transfer input[name='checked']")
        .await;
    b.fill("birthdate", "12/06/1990").await;
    assert_eq!(
        b.input_value("phone").await,
        OWNER_PHONE,
        "the complaint's phone"
    );
    b.click("#complaint-transfer button").await;
    assert_eq!(
        b.text_of("#complaint-notice").await,
        t.app.theme.t("vi", "complaint_done_transfer")
    );
    assert!(b.shown("#complaint-finished").await.is_some());

    // The owner: "Quên mật khẩu", the code on their phone, a new password, and in.
    b.client.delete_all_cookies().await.unwrap();
    b.goto(&t.url("/login")).await;
    b.click("a[href='/forgot-password']").await;
    b.fill("id_number", DISPUTED).await;
    b.fill("phone", OWNER_PHONE).await;
    b.solve_captcha(&t).await;
    b.submit().await;
    enter_otp(&b, &t, OWNER_E164).await;
    b.fill("password", PASSWORD_NEW).await;
    b.fill("password_confirm", PASSWORD_NEW).await;
    b.submit().await;
    b.goto(&t.url("/login")).await;
    b.fill("username", DISPUTED).await;
    b.fill("password", PASSWORD_NEW).await;
    b.submit().await;
    enter_otp(&b, &t, OWNER_E164).await;
    assert!(b.logged_in(&t).await, "{}", b.url().await);
    assert!(b.text().await.contains("Nguyễn Văn An"));
    let sms = sms_texts(&t, OWNER_E164).await;
    assert!(
        sms.iter().filter(|s| s.contains(&ticket)).count() >= 3,
        "{sms:?}"
    );
    b.close().await;
}
