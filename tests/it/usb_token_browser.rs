//! "USB ký số" in real headless Chromium: the theme's `signer.js` finds the signing agent
//! (in-process, on the test binary's SoftHSM2 token, the PIN given by a script), lists the
//! token's certificate, has it sign, and the demo portal gets an IAL3 login; and without an
//! agent, the page says how to install and start one. Skipped like the other browser tests
//! when chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use xacthuc::domain::Ial;

use crate::browser::Browser;
use crate::helpers::*;

const AN: &str = "001090012345";

/// Waits until the element `css` is shown (not `hidden`), or fails with the page's text.
pub(crate) async fn wait_shown(b: &Browser, css: &str) {
    for _ in 0..1200 {
        let shown = b
            .client
            .execute(
                "var e = document.querySelector(arguments[0]); return !!e && !e.hidden && !e.closest('[hidden]');",
                vec![json!(css)],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool());
        if shown == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{css} never shown: {}", b.text().await);
}

/// An app whose pages talk to the agent of the returned token (certifying `certify`). That
/// agent signs with any certificate on the shared token: a test's other tokens need no agent
/// of their own in the app.
pub(crate) async fn app_with_agent(certify: serde_json::Value) -> (TestApp, UsbToken) {
    let (listener, agent_url) = agent_listener().await;
    let t = spawn_app_with(|c| c.usb_token.agent_url = agent_url.clone()).await;
    let token = usb_token_on(
        &t,
        certify,
        &[t.base.as_str()],
        &format!("echo {TOKEN_PIN}"),
        listener,
    )
    .await;
    (t, token)
}

/// Waits until a "USB ký số" page has heard back from the agent (the list of certificates,
/// or guidance): a page reads the token as it loads, also when it comes back with a refusal,
/// so a test waits for this before it leaves the page and gives up the token's turn. A read
/// while another test's `softhsm2-util` writes can leave SoftHSM2's view of the token broken
/// until the next write.
pub(crate) async fn agent_settled(b: &Browser) {
    wait_shown(b, "#usb-certificates, #usb-guide:not([hidden])").await;
}

/// On a "USB ký số" ceremony page (a login's or a registration's): waits for the agent's list
/// of the token's certificates, chooses `token`'s as its holder would (the token is shared
/// with the other tests), and has the page sign and post; returns with the next page loaded.
/// The caller holds the token's turn ([`token_turn`]) from before the page opened: the page
/// reads the token as it loads.
pub(crate) async fn sign_with(b: &Browser, token: &UsbToken) {
    agent_settled(b).await;
    let guide = b
        .client
        .execute(
            "var g = document.getElementById('usb-guide'); return g.hidden ? null : g.getAttribute('data-code');",
            vec![],
        )
        .await
        .unwrap();
    if !guide.is_null() {
        // Say what the agent answered: the page shows only its guidance.
        let origin = url::Url::parse(&b.url().await)
            .unwrap()
            .origin()
            .ascii_serialization();
        let listed = match http()
            .get(format!("{}/v1/certificates", token.agent_url))
            .header("origin", origin)
            .send()
            .await
        {
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        panic!("the page's agent failed ({guide}); asked again, an agent answers {listed:.300}");
    }
    let chosen = b
        .client
        .execute(
            "var s = document.getElementById('usb-certificate'); s.value = arguments[0]; return s.value;",
            vec![json!(token.certificate_id)],
        )
        .await
        .unwrap();
    assert_eq!(
        chosen,
        json!(token.certificate_id),
        "the token's certificate is listed"
    );
    b.click_slow("#usb-start").await;
}

#[tokio::test]
async fn the_usb_tab_logs_in_to_the_demo_portal_through_the_agent() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let certify = json!({"uids": [format!("CCCD:{AN}")], "cn": "Nguyễn Văn An", "c": "VN"});
    let (t, token) = app_with_agent(certify).await;
    t.add_account(AN, Ial::Ial3).await;

    // The page reads the token as it loads, and has it sign.
    let turn = token_turn().await;
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    b.click("#login-with-usb_token").await;
    assert!(b.text().await.contains("Đăng nhập bằng USB ký số"));
    wait_shown(&b, "#usb-certificates").await;
    let option = b
        .client
        .find(Locator::Css(&format!(
            "#usb-certificate option[value='{}']",
            token.certificate_id
        )))
        .await
        .expect("the token's certificate is listed")
        .text()
        .await
        .unwrap();
    assert!(option.contains("Nguyễn Văn An"), "{option}");
    // The token is shared with the other tests: choose this test's certificate, as a user
    // chooses theirs.
    b.client
        .execute(
            "document.getElementById('usb-certificate').value = arguments[0];",
            vec![json!(token.certificate_id)],
        )
        .await
        .unwrap();
    // The agent asks the PIN (a script here) and signs; then the page posts the signature.
    b.click_only("#usb-start").await;
    let mut url = String::new();
    for _ in 0..1200 {
        url = b.url().await;
        if url.contains("/consent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    drop(turn);
    assert!(
        url.contains("/consent"),
        "consent asked: {url} {}",
        b.text().await
    );
    wait_shown(&b, "form button.btn-primary").await;
    b.submit().await;
    let page = b.text().await;
    assert!(
        page.contains("IAL3"),
        "acr=IAL3 shown by the relying party: {page}"
    );
    assert!(page.contains(AN));
    b.close().await;
}

#[tokio::test]
async fn without_the_agent_the_page_says_how_to_install_and_start_it() {
    let Some(b) = Browser::open().await else {
        return;
    };
    // Nobody listens there.
    let (listener, agent_url) = agent_listener().await;
    drop(listener);
    let t = spawn_app_with(|c| {
        c.usb_token.agent_url = agent_url.clone();
        c.usb_token.download_url = "https://example.vn/xacthuc-signer".into();
    })
    .await;
    b.goto(&t.url("/login/usb_token")).await;
    wait_shown(&b, "[data-signer-guide='no_agent']").await;
    let text = b.text().await;
    assert!(
        text.contains(&t.app.theme.t("vi", "usb_no_agent")),
        "{text}"
    );
    assert!(
        text.contains(&t.app.theme.t("vi", "usb_install_steps")),
        "{text}"
    );
    let download = b.client.find(Locator::Css("#usb-download")).await.unwrap();
    assert_eq!(
        download.attr("href").await.unwrap().as_deref(),
        Some("https://example.vn/xacthuc-signer")
    );
    wait_shown(&b, "#usb-retry").await;
    b.close().await;
}
