//! "Thông tin cá nhân": identity, phones, email, password, sessions.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;

/// A browser logged in as the test account (password + SMS code).
async fn logged_in(t: &TestApp) -> reqwest::Client {
    let b = browser();
    let home = login(t, &b, &t.url("/login"), "001090012345", PASSWORD).await;
    assert_eq!(home, t.url("/"));
    b
}

/// Posts a form of the profile page (CSRF from the page).
async fn post(
    t: &TestApp,
    b: &reqwest::Client,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post_on(t, b, &t.url("/profile"), action, fields).await
}

#[tokio::test]
async fn the_profile_needs_a_login_and_shows_the_identity() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let anonymous = browser().get(t.url("/profile")).send().await.unwrap();
    assert_eq!(location(&anonymous), t.url("/login"));
    let b = logged_in(&t).await;
    let html = b
        .get(t.url("/profile"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [
        "Nguyễn Văn An",
        "001090012345",
        "12/06/1990",
        "IAL2",
        "0823628899",
    ] {
        assert!(html.contains(shown), "{shown}");
    }
}

#[tokio::test]
async fn a_new_phone_is_verified_by_sms_and_can_become_the_default() {
    let t = spawn_app().await;
    let sub = t.add_account("001090012345", Ial::Ial2).await;
    let b = logged_in(&t).await;
    let resp = post(&t, &b, "/profile/phones", &[("phone", "0241234567")]).await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "a landline is refused"
    );
    let resp = post(&t, &b, "/profile/phones", &[("phone", "0912 345 678")]).await;
    assert_eq!(location(&resp), t.url("/profile/phones/verify"));
    assert_eq!(
        t.app.db.verified_phones(&sub).await.unwrap().len(),
        1,
        "not added before verification"
    );
    let back = submit_otp(&t, &b, &t.url("/profile/phones/verify"), "+84912345678").await;
    assert!(back.starts_with(&t.url("/profile?notice=")));
    let phones = t.app.db.verified_phones(&sub).await.unwrap();
    let added = phones
        .iter()
        .find(|p| p.e164 == "+84912345678")
        .expect("verified phone added");
    let resp = post(
        &t,
        &b,
        "/profile/phones/default",
        &[("phone_id", &added.id)],
    )
    .await;
    assert!(resp.status().is_redirection());
    assert_eq!(
        t.app.db.default_phone(&sub).await.unwrap().as_deref(),
        Some("+84912345678")
    );
    // Another account's phone id is refused.
    let resp = post(
        &t,
        &b,
        "/profile/phones/default",
        &[("phone_id", "not-mine")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn email_is_validated_and_saved() {
    let t = spawn_app().await;
    let sub = t.add_account("001090012345", Ial::Ial2).await;
    let b = logged_in(&t).await;
    let resp = post(&t, &b, "/profile/email", &[("email", "not an email")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("email-error"));
    let resp = post(
        &t,
        &b,
        "/profile/email",
        &[("email", "an.nguyen@example.vn")],
    )
    .await;
    assert!(resp.status().is_redirection());
    assert_eq!(
        t.app
            .db
            .find_account(&sub)
            .await
            .unwrap()
            .unwrap()
            .email
            .as_deref(),
        Some("an.nguyen@example.vn")
    );
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_signed_out() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let phone_browser = logged_in(&t).await;
    t.advance(1);
    let b = logged_in(&t).await;
    let html = b
        .get(t.url("/profile"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        html.matches("name=\"session_id\"").count(),
        1,
        "one other session to sign out"
    );
    let resp = post(&t, &b, "/profile/sessions/revoke-others", &[]).await;
    assert!(resp.status().is_redirection());
    let other = phone_browser.get(t.url("/profile")).send().await.unwrap();
    assert_eq!(
        location(&other),
        t.url("/login"),
        "the other browser is signed out"
    );
    let mine = b.get(t.url("/profile")).send().await.unwrap();
    assert_eq!(mine.status(), StatusCode::OK, "this one stays");
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let other = logged_in(&t).await;
    t.advance(1);
    let b = logged_in(&t).await;
    let page = b
        .get(t.url("/profile/password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf").unwrap();
    let wrong = [
        ("csrf", csrf.as_str()),
        ("current_password", "Nope@12345"),
        ("password", "Mới@Khẩu2025"),
        ("password_confirm", "Mới@Khẩu2025"),
    ];
    assert_eq!(
        b.post(t.url("/profile/password"))
            .form(&wrong)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let weak = [
        ("csrf", csrf.as_str()),
        ("current_password", PASSWORD),
        ("password", "12345678"),
        ("password_confirm", "12345678"),
    ];
    assert_eq!(
        b.post(t.url("/profile/password"))
            .form(&weak)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    t.advance(1);
    let good = [
        ("csrf", csrf.as_str()),
        ("current_password", PASSWORD),
        ("password", "Mới@Khẩu2025"),
        ("password_confirm", "Mới@Khẩu2025"),
    ];
    let resp = b
        .post(t.url("/profile/password"))
        .form(&good)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(
        b.get(t.url("/profile")).send().await.unwrap().status(),
        StatusCode::OK,
        "still logged in here"
    );
    assert_eq!(
        location(&other.get(t.url("/profile")).send().await.unwrap()),
        t.url("/login"),
        "elsewhere signed out"
    );
    let audit = t.app.db.audit_events(30).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "account.password_changed"));
}
