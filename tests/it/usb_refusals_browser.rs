//! "USB ký số" refusals in real headless Chromium, the theme's `signer.js` signing through the
//! in-process agent on the shared SoftHSM2 token: each PKI failure of issue 8 (expired,
//! revoked by OCSP, untrusted root, wrong key usage, both revocation services down, a
//! Government-CA certificate offered as a citizen's) is refused with its own message from the
//! theme, logs nobody in and is audited; a signed answer captured on its way to the server
//! and posted again in a new login is refused. Skipped like the other browser tests when
//! chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).

use serde_json::{Value, json};
use xacthuc::domain::Ial;

use crate::browser::Browser;
use crate::helpers::*;
use crate::usb_token_browser::{agent_settled, app_with_agent, sign_with};

const AN: &str = "001090012345";

fn citizen(id_number: &str) -> Value {
    json!({"uids": [format!("CCCD:{id_number}")], "cn": "Nguyễn Văn An", "c": "VN"})
}

/// `citizen(id_number)` with `extra` fields of the sandbox PKI's request.
fn citizen_with(id_number: &str, extra: Value) -> Value {
    let mut certify = citizen(id_number);
    for (k, v) in extra.as_object().unwrap() {
        certify[k] = v.clone();
    }
    certify
}

/// An app with `AN`'s IAL3 account, whose pages talk to the agent of the returned token (a
/// good certificate of `AN`).
async fn app_with_an() -> (TestApp, UsbToken) {
    let (t, token) = app_with_agent(citizen(AN)).await;
    t.add_account(AN, Ial::Ial3).await;
    (t, token)
}

/// The `login.succeeded` events of the USB method.
async fn usb_logins(t: &TestApp) -> usize {
    t.app
        .db
        .audit_events(500)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "login.succeeded" && e.detail["method"] == "usb_token")
        .count()
}

/// Where the certificate is offered.
enum Offered {
    /// The login page's "USB ký số" tab.
    Login,
    /// "Đăng ký" → "Công dân" → "USB ký số": the path that takes public-CA certificates only
    /// (the login takes both trust sets, the holder's class deciding).
    CitizenRegistration,
}

/// A certificate the PKI must refuse.
struct Case {
    name: &'static str,
    /// What the sandbox PKI certifies for the token's key.
    certify: Value,
    /// Revoked after issue.
    revoke: bool,
    /// The public CA's OCSP/CRL faults while the case runs.
    faults: Value,
    offered: Offered,
    /// The theme's message the page shows.
    message: &'static str,
    /// The audit event (kind, reason) of the refusal.
    audit: (&'static str, &'static str),
}

fn cases(now: chrono::DateTime<chrono::Utc>) -> Vec<Case> {
    let none = json!({});
    vec![
        Case {
            name: "responders down: fail closed",
            certify: citizen(AN),
            revoke: false,
            faults: json!({"ocsp": "down", "crl": "down"}),
            offered: Offered::Login,
            message: "pki_revocation_unavailable",
            audit: ("login.failed", "revocation_unavailable"),
        },
        Case {
            name: "expired",
            certify: citizen_with(
                AN,
                json!({
                    "not_before": now - chrono::Duration::days(400),
                    "not_after": now - chrono::Duration::days(1),
                }),
            ),
            revoke: false,
            faults: none.clone(),
            offered: Offered::Login,
            message: "pki_expired",
            audit: ("login.failed", "certificate_expired"),
        },
        Case {
            name: "revoked (OCSP says so; the CRL is down)",
            certify: citizen(AN),
            revoke: true,
            faults: json!({"crl": "down"}),
            offered: Offered::Login,
            message: "pki_revoked",
            audit: ("login.failed", "revoked"),
        },
        Case {
            name: "untrusted root",
            certify: citizen_with(AN, json!({"tree": "untrusted"})),
            revoke: false,
            faults: none.clone(),
            offered: Offered::Login,
            message: "pki_untrusted",
            audit: ("login.failed", "untrusted"),
        },
        Case {
            name: "wrong key usage",
            certify: citizen_with(AN, json!({"key_usage": "wrong"})),
            revoke: false,
            faults: none.clone(),
            offered: Offered::Login,
            message: "pki_key_usage",
            audit: ("login.failed", "key_usage"),
        },
        Case {
            name: "a Government-CA certificate for a citizen's registration",
            certify: json!({
                "tree": "government",
                "uids": ["CCCD:079203004567"],
                "cn": "Lê Văn Cường",
                "o": "Sở Tư pháp tỉnh Khánh Hòa",
                "c": "VN",
            }),
            revoke: false,
            faults: none,
            offered: Offered::CitizenRegistration,
            message: "err_certificate_not_public",
            audit: ("registration.refused", "certificate_wrong_class"),
        },
    ]
}

/// Offers `token` where `case` says in browser `b` (holding the token's turn while a page reads
/// it), and checks the refusal: the theme's message, no session, no account, the audit event.
async fn refused_in_browser(b: &Browser, t: &TestApp, case: &Case, token: &UsbToken) {
    let accounts = count_accounts(t).await;
    let turn = token_turn().await;
    match case.offered {
        Offered::Login => b.goto(&t.url("/login/usb_token")).await,
        Offered::CitizenRegistration => {
            b.goto(&t.url("/register?subject=citizen")).await;
            b.click("a.method[data-method='usb_token']").await;
        }
    }
    sign_with(b, token).await;
    let message = t.app.theme.t("vi", case.message);
    let shown = match case.offered {
        // The same tab again, a fresh challenge, the message above it.
        Offered::Login => {
            assert!(
                b.url().await.ends_with("/login/usb_token"),
                "{}: {}",
                case.name,
                b.url().await
            );
            agent_settled(b).await;
            b.text_of("#usb-error").await
        }
        Offered::CitizenRegistration => b.text_of(".alert-error .alert-title").await,
    };
    assert_eq!(shown, message, "{}", case.name);
    let (kind, reason) = case.audit;
    let event = audited(t, kind, reason).await;
    assert!(
        event.is_some_and(|e| e.detail["method"] == "usb_token"),
        "{}: {kind} {reason} audited",
        case.name
    );
    assert!(!b.logged_in(t).await, "{}: no session", case.name);
    drop(turn);
    assert_eq!(count_accounts(t).await, accounts, "{}", case.name);
}

#[tokio::test]
async fn every_pki_failure_is_refused_in_the_browser_with_its_message() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let (t, good) = app_with_an().await;
    for case in cases(t.clock.now()) {
        let token = usb_token(&t, case.certify.clone()).await;
        if case.revoke {
            t.revoke_certificate(&token.serial).await;
        }
        t.pki_faults("public-ca", case.faults.clone()).await;
        refused_in_browser(&b, &t, &case, &token).await;
        t.pki_faults("public-ca", json!({})).await;
    }
    assert_eq!(usb_logins(&t).await, 0, "no login");

    // The same page and agent log in with a good certificate: the refusals were the PKI's.
    let turn = token_turn().await;
    b.goto(&t.url("/login/usb_token")).await;
    sign_with(&b, &good).await;
    drop(turn);
    assert!(b.logged_in(&t).await, "{}", b.text().await);
    assert_eq!(usb_logins(&t).await, 1);
    b.close().await;
}

/// The fields the page posts, kept in `sessionStorage` (which outlives the navigation) when
/// its script submits the form: what a malicious extension could capture.
const CAPTURE: &str = "var f = document.getElementById('usb-form');
     f.submit = function () {
       var signed = {};
       ['cms', 'origin', 'challenge'].forEach(function (n) {
         signed[n] = f.querySelector('input[name=' + n + ']').value;
       });
       sessionStorage.setItem('signed', JSON.stringify(signed));
       HTMLFormElement.prototype.submit.call(f);
     };";

#[tokio::test]
async fn a_signature_posted_again_in_a_new_login_is_refused() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let (t, token) = app_with_an().await;
    let turn = token_turn().await;
    b.goto(&t.url("/login/usb_token")).await;
    b.client.execute(CAPTURE, vec![]).await.unwrap();
    sign_with(&b, &token).await;
    drop(turn);
    let signed: Value = serde_json::from_str(
        b.client
            .execute("return sessionStorage.getItem('signed');", vec![])
            .await
            .unwrap()
            .as_str()
            .expect("the posted fields were captured"),
    )
    .unwrap();
    assert_eq!(signed["origin"], t.base);
    assert!(b.logged_in(&t).await, "the first use logs in");
    assert_eq!(usb_logins(&t).await, 1);

    // A new login (no session), and the captured answer posted with its form.
    b.client.delete_all_cookies().await.unwrap();
    let turn = token_turn().await;
    b.goto(&t.url("/login/usb_token")).await;
    agent_settled(&b).await;
    b.execute_navigating(
        "var f = document.getElementById('usb-form');
         var signed = arguments[0];
         ['cms', 'origin', 'challenge'].forEach(function (n) {
           var i = document.createElement('input');
           i.type = 'hidden'; i.name = n; i.value = signed[n];
           f.appendChild(i);
         });
         HTMLFormElement.prototype.submit.call(f);",
        vec![signed],
    )
    .await;
    assert_eq!(
        b.text_of("#usb-error").await,
        t.app.theme.t("vi", "err_usb_challenge")
    );
    agent_settled(&b).await;
    assert!(
        audited(&t, "login.failed", "wrong_challenge")
            .await
            .is_some()
    );
    assert!(!b.logged_in(&t).await, "the replay gives no session");
    drop(turn);
    assert_eq!(usb_logins(&t).await, 1);
    b.close().await;
}
