//! Locking an account in the console, in headless Chromium: an admin (logged in with a
//! passkey; the session handed to Chromium) finds a citizen by ID number, opens the account,
//! locks it with a reason and the confirmation; the citizen's password login is then refused
//! and a refresh token issued before is rejected at `/token`.

use reqwest::StatusCode;
use xacthuc::domain::{AccountStatus, Ial, Role};

use crate::admin_accounts::{CITIZEN, password_login};
use crate::admin_support::*;
use crate::helpers::*;

#[tokio::test]
async fn an_admin_finds_a_citizen_by_id_number_and_locks_the_account_in_the_console() {
    let t = spawn_app().await;
    let desk = staff_desk(&t, "001085000222", &[Role::Admin]).await;
    let Some(b) = staff_in_chromium(&t, &desk).await else {
        return;
    };
    let id = t.add_account(CITIZEN, Ial::Ial2).await;
    let (client, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &client, &secret, CITIZEN).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

    // From the console's home to the account.
    b.goto(&t.url("/admin")).await;
    b.click("a[href$='/admin/accounts']").await;
    b.fill("id_number", CITIZEN).await;
    b.click("#account-search-submit").await;
    b.click(&format!("a.account-link[data-id='{id}']")).await;
    assert_eq!(b.text_of("#account-id-number").await, CITIZEN);
    assert_eq!(
        b.text_of("#account-status").await,
        says(&t, "admin_accounts_status_active")
    );
    assert!(
        b.shown("#account-sessions").await.is_some(),
        "the citizen's session is listed"
    );

    // The lock asks for a confirmation first.
    b.fill("reason", "Tài khoản bị chiếm đoạt").await;
    b.click("#lock-submit").await;
    assert_eq!(
        b.text_of("#account-error").await,
        says(&t, "admin_confirm_required")
    );
    assert_eq!(
        t.app.db.find_account(&id).await.unwrap().unwrap().status,
        AccountStatus::Active
    );
    b.click_only("#lock_confirm").await;
    b.click("#lock-submit").await;
    assert_eq!(
        b.text_of("#account-notice").await,
        says(&t, "admin_accounts_done_locked")
    );
    assert_eq!(
        b.text_of("#account-status").await,
        says(&t, "admin_accounts_status_locked")
    );
    assert!(
        b.shown("#account-unlock").await.is_some(),
        "now it can be unlocked"
    );
    assert!(b.shown("#account-no-sessions").await.is_some());

    // The citizen: no login, and the refresh token from before is dead.
    assert_eq!(
        password_login(&t, CITIZEN).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let (status, err) = refresh(&t, &client, &secret, &refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    let row = audited_for(&t, "admin.account.locked", &id).await.unwrap();
    assert_eq!(row.detail["reason"], "Tài khoản bị chiếm đoạt");
    assert_eq!(
        row.actor_id.as_deref(),
        Some(desk.holder.account_id.as_str())
    );
    b.close().await;
}
