//! A client's life in the console, in headless Chromium: an admin (logged in with a passkey,
//! the session handed to Chromium) creates a confidential client and copies its secret, shown
//! once; a citizen logs in through the client's authorization URL in the browser and the
//! portal redeems the code with that secret; then the admin rotates the secret with an
//! overlap: the old secret works at the token endpoint until the overlap ends, the new one
//! after.

use xacthuc::domain::{Ial, Role};

use crate::admin_support::*;
use crate::browser::{Browser, password_and_otp};
use crate::helpers::*;

const ADMIN: &str = "001085000888";
const CITIZEN: &str = "001090000999";

/// Puts the staff session of `desk` into `b` (a fresh start: no other cookie of ours).
async fn as_staff(b: &Browser, t: &TestApp, desk: &StaffDesk) {
    // WebDriver deletes the cookies of the page's own site: be on ours first.
    b.goto(&t.url("/")).await;
    b.client.delete_all_cookies().await.unwrap();
    b.client
        .execute(
            "document.cookie = 'xacthuc_session=' + arguments[0] + '; path=/'",
            vec![serde_json::json!(desk.session)],
        )
        .await
        .expect("the session cookie");
}

/// Whether the token endpoint takes `secret` as the client's: a code that does not exist is
/// `invalid_grant` once the client is authenticated, `invalid_client` before.
async fn secret_works(t: &TestApp, client: &str, secret: &str) -> bool {
    let (_, body) = token_request(
        t,
        client,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", "khong-co"),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("code_verifier", "x"),
        ],
    )
    .await;
    match body["error"].as_str() {
        Some("invalid_grant") => true,
        Some("invalid_client") => false,
        other => panic!("unexpected answer {other:?}: {body}"),
    }
}

#[tokio::test]
async fn an_admin_creates_a_client_in_the_console_a_citizen_logs_in_and_the_secret_rotates() {
    let t = spawn_app().await;
    let desk = staff_desk(&t, ADMIN, &[Role::Admin]).await;
    let Some(b) = staff_in_chromium(&t, &desk).await else {
        return;
    };
    t.add_account(CITIZEN, Ial::Ial2).await;
    let callback = portal_callback().await;

    // The admin registers the portal.
    b.goto(&t.url("/admin")).await;
    b.click("a[href$='/admin/clients']").await;
    b.click("#client-new").await;
    b.fill("client_id", "cong-trinh-duyet").await;
    b.fill("name", "Cổng dịch vụ công tỉnh Lào Cai").await;
    b.fill("redirect_uris", &callback).await;
    b.submit().await;
    assert_eq!(
        b.text_of("#client-notice").await,
        says(&t, "admin_clients_notice_created")
    );
    let secret = b.text_of("#client-secret").await;
    assert!(secret.len() >= 40, "{secret}");
    let created = t
        .app
        .db
        .find_client("cong-trinh-duyet")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.redirect_uris, std::slice::from_ref(&callback));
    assert!(
        created
            .grant_types
            .contains(&"authorization_code".to_string())
    );

    // A citizen logs in at the portal, in the browser; the portal redeems the code.
    b.client.delete_all_cookies().await.unwrap();
    let (verifier, challenge) = pkce();
    b.goto(&authorize_to(
        &t,
        "cong-trinh-duyet",
        &challenge,
        &callback,
        "openid profile",
        &[],
    ))
    .await;
    password_and_otp(&b, &t, CITIZEN).await;
    assert!(b.url().await.contains("/consent"), "{}", b.url().await);
    b.submit().await;
    assert!(wait_for_url(&b, &callback).await, "{}", b.url().await);
    let code = query(&b.url().await).get("code").cloned().expect("a code");
    let (status, tokens) =
        exchange_code(&t, "cong-trinh-duyet", &secret, &code, &callback, &verifier).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");
    assert!(tokens["id_token"].is_string());

    // The admin rotates the secret with a five-minute overlap.
    as_staff(&b, &t, &desk).await;
    b.goto(&t.url("/admin/clients/cong-trinh-duyet")).await;
    b.click("#client-rotate").await;
    b.fill("overlap_seconds", "300").await;
    // Without the confirmation: asked again, nothing rotated.
    b.click("#client-confirm-submit").await;
    assert!(b.text().await.contains(&says(&t, "admin_confirm_required")));
    assert!(secret_works(&t, "cong-trinh-duyet", &secret).await);
    b.click_only("#confirm").await;
    b.click("#client-confirm-submit").await;
    let new_secret = b.text_of("#client-secret").await;
    assert_ne!(new_secret, secret);
    assert!(b.shown("#client-previous-secret").await.is_some());

    assert!(
        secret_works(&t, "cong-trinh-duyet", &secret).await,
        "old, within the overlap"
    );
    assert!(secret_works(&t, "cong-trinh-duyet", &new_secret).await);
    t.advance(301);
    assert!(
        !secret_works(&t, "cong-trinh-duyet", &secret).await,
        "old, after the overlap"
    );
    assert!(secret_works(&t, "cong-trinh-duyet", &new_secret).await);
    b.close().await;
}
