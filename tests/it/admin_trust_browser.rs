//! Trust anchors in headless Chromium: an admin (a passkey session handed to Chromium) pastes
//! the sandbox's `untrusted-root` into the public set on the console page; a certificate the
//! sandbox issued under it is accepted by the very next verification. Skipped like the other
//! browser tests when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use xacthuc::domain::Role;
use xacthuc::pki::PkiError;

use crate::admin_support::*;
use crate::admin_trust::{sandbox_ca_pem, untrusted_citizen, verify_on};
use crate::helpers::*;

const ADMIN_ID: &str = "001085000666";

#[tokio::test]
async fn an_admin_uploads_a_root_in_the_console_and_a_certificate_under_it_is_accepted() {
    let t = spawn_app().await;
    let desk = staff_desk(&t, ADMIN_ID, &[Role::Admin]).await;
    let Some(b) = staff_in_chromium(&t, &desk).await else {
        return;
    };
    let cert = untrusted_citizen(&t).await;
    assert_eq!(verify_on(&t, &cert).await, Err(PkiError::Untrusted));

    // From the admin home to the trust anchors' page.
    b.goto(&t.url("/admin")).await;
    b.click("a[href$='/admin/trust-anchors']").await;
    assert!(
        b.url().await.ends_with("/admin/trust-anchors"),
        "{}",
        b.url().await
    );
    assert!(
        b.text()
            .await
            .contains(&says(&t, "admin_trust_upload_heading"))
    );

    // A mistake first: the message under the field.
    b.click_only("#trust_set option[value='public']").await;
    b.fill("pem", "không phải chứng thư").await;
    b.submit().await;
    assert_eq!(
        b.text_of("#pem-error").await,
        says(&t, "admin_trust_pem_not_certificate")
    );

    let pem = sandbox_ca_pem(&t, "untrusted-root").await;
    b.fill("pem", &pem).await;
    b.submit().await;
    assert!(b.url().await.contains("done=added"), "{}", b.url().await);
    assert_eq!(
        b.text_of("#trust-notice").await,
        says(&t, "admin_trust_done_added")
    );
    assert!(
        b.text_of("#set-public")
            .await
            .contains("Sandbox Untrusted Root")
    );

    // The certificate under it is accepted at once, as a citizen's signature.
    assert_eq!(verify_on(&t, &cert).await, Ok(()));
    let event = audited_kind(&t, "admin.trust_anchor.added").await.unwrap();
    assert_eq!(
        event.actor_id.as_deref(),
        Some(desk.holder.account_id.as_str())
    );
    assert_eq!(event.detail["after"]["trust_set"], "public");
    b.close().await;
}
