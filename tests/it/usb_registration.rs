//! Registration at IAL3 by "USB ký số" over HTTP: the test plays the ceremony page's script
//! (as `usb_token` does) on `/register/{subject}/usb_token`, then the confirmation page. A
//! citizen, and a state official ("Cơ quan nhà nước") with a Government-CA certificate naming
//! the agency — beside their own citizen account — each register and then log into a portal
//! with the same token; a public-CA certificate offered as an official's is refused.

use reqwest::StatusCode;
use serde_json::{Value, json};
use xacthuc::domain::{CredentialKind, Ial, SubjectType};

use crate::code_flow::decode_part;
use crate::helpers::*;

const AN: &str = "001090012345";
const AGENCY: &str = "Bộ Tư pháp";

fn citizen(id_number: &str) -> Value {
    json!({"uids": [format!("CCCD:{id_number}")], "cn": "Nguyễn Văn An", "c": "VN"})
}

/// An official's certificate from the Government CA ("Ban Cơ yếu Chính phủ"), naming the agency.
fn official(id_number: &str) -> Value {
    json!({
        "tree": "government",
        "uids": [format!("CCCD:{id_number}")],
        "cn": "Nguyễn Văn An",
        "o": AGENCY,
        "c": "VN",
    })
}

/// Signs with `token` on the registration page of `subject` in browser `b`; the answer.
async fn register_with(
    t: &TestApp,
    b: &reqwest::Client,
    subject: &str,
    token: &UsbToken,
) -> reqwest::Response {
    let c = ceremony(t, b, &t.url(&format!("/register/{subject}/usb_token"))).await;
    c.answer(t, b, token).await
}

/// Registers as `subject` with `token` and `email` ("Đăng ký" on the confirmation page), and
/// checks the person is logged in; the confirmation page it showed.
async fn register(
    t: &TestApp,
    b: &reqwest::Client,
    subject: &str,
    token: &UsbToken,
    email: &str,
) -> String {
    let signed = register_with(t, b, subject, token).await;
    let html = confirm_page(t, b, signed).await;
    let resp = post_confirm(t, b, &html, email).await;
    assert_eq!(location(&resp), t.url("/"), "registered and logged in");
    unescape(&html)
}

/// A portal's code flow logged in with `token`, asking for `scope`: the token response.
async fn portal_login(t: &TestApp, token: &UsbToken, scope: &str) -> Value {
    let (client_id, secret) = t.add_client(|_| {}).await;
    let b = browser();
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_with(t, &client_id, &challenge, scope, &[]))
        .send()
        .await
        .unwrap();
    let ar = ar_of(&location(&resp));
    let c = ceremony(t, &b, &t.url(&format!("/login/usb_token?ar={ar}"))).await;
    let resp = c.answer(t, &b, token).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let back = consent(&b, &location(&resp), true).await;
    redeem(t, &back, &client_id, secret.as_deref().unwrap(), &verifier).await
}

#[tokio::test]
async fn a_citizen_registers_with_a_usb_token_and_logs_in_with_it_at_ial3() {
    let t = spawn_app().await;
    let token = usb_token(&t, citizen(AN)).await;
    let b = browser();
    let choice = page_text(&b, t.url("/register?subject=citizen")).await;
    assert!(choice.contains("data-method=\"usb_token\""), "{choice}");

    let html = register(&t, &b, "citizen", &token, "").await;
    assert!(
        html.contains("Nguyễn Văn An") && html.contains(AN),
        "{html}"
    );

    let account = t
        .app
        .db
        .find_account_by_id_number(AN)
        .await
        .unwrap()
        .expect("the citizen's account");
    assert_eq!(account.subject_type, SubjectType::Citizen);
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.registration_method, "usb_token");
    let certs = t
        .app
        .db
        .credentials_of(&account.id, CredentialKind::Certificate)
        .await
        .unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(
        certs[0].lookup.as_deref(),
        Some(token.certificate_id.as_str())
    );

    let tokens = portal_login(&t, &token, "openid profile id_number").await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], account.id.as_str());
    assert_eq!(claims["acr"], t.app.acr.acr(Ial::Ial3));
    let amr = amr_of(tokens["id_token"].as_str().unwrap());
    for a in ["hwk", "pin", "sc"] {
        assert!(amr.iter().any(|m| m == a), "{amr:?}");
    }
    assert_eq!(claims["subject_type"], "citizen");
    assert_eq!(claims["id_number"], AN);
}

#[tokio::test]
async fn a_state_official_registers_the_agency_account_with_a_government_certificate() {
    let t = spawn_app().await;
    let token = usb_token(&t, official(AN)).await;
    let b = browser();
    let choice = page_text(&b, t.url("/register?subject=agency")).await;
    assert!(choice.contains("data-method=\"usb_token\""), "{choice}");

    let html = register(&t, &b, "agency", &token, "an.nguyen@moj.gov.vn").await;
    assert!(html.contains(AGENCY), "the agency read: {html}");

    let account = t
        .app
        .db
        .find_account_by_official_id(AN)
        .await
        .unwrap()
        .expect("the agency account");
    assert_eq!(account.subject_type, SubjectType::Agency);
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.organization.as_deref(), Some(AGENCY));
    assert_eq!(
        account.id_number, None,
        "the official's number is not a citizen key"
    );
    assert_eq!(account.registration_method, "usb_token");
    let registered = t
        .app
        .db
        .audit_events(50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "account.registered")
        .expect("the registration is audited");
    assert_eq!(registered.account_id.as_deref(), Some(account.id.as_str()));

    // Logs in again by the token: the portal sees the agency and its official.
    let tokens = portal_login(&t, &token, "openid profile organization id_number").await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], account.id.as_str());
    assert_eq!(claims["acr"], t.app.acr.acr(Ial::Ial3));
    assert_eq!(claims["subject_type"], "agency");
    assert_eq!(claims["organization"], AGENCY);
    assert_eq!(claims["id_number"], AN);
    let amr = amr_of(tokens["id_token"].as_str().unwrap());
    for a in ["hwk", "pin", "sc"] {
        assert!(amr.iter().any(|m| m == a), "{amr:?}");
    }
    let info: Value = http()
        .get(t.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], account.id.as_str());
    assert_eq!(info["subject_type"], "agency");
    assert_eq!(info["organization"], AGENCY);

    // One agency account per official: a second registration is told it exists.
    let again = register_with(&t, &browser(), "agency", &token).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(shows(
        &t,
        &again.text().await.unwrap(),
        "err_duplicate_agency"
    ));
    assert_eq!(count_accounts(&t).await, 1);
}

#[tokio::test]
async fn a_public_certificate_does_not_register_a_state_official() {
    let t = spawn_app().await;
    // The agency in O, but from a public CA: a citizen's certificate, whatever it names.
    let mut public = official(AN);
    public["tree"] = json!("public");
    let token = usb_token(&t, public).await;
    let b = browser();
    let resp = register_with(&t, &b, "agency", &token).await;
    let page = refused(
        &t,
        resp,
        StatusCode::UNPROCESSABLE_ENTITY,
        "err_certificate_not_government",
    )
    .await;
    assert!(
        unescape(&page).contains("/register?subject=agency"),
        "a way back: {page}"
    );
    // Nothing kept: no confirmation page, no account, the refusal audited.
    let confirm = b.get(t.url("/register/confirm")).send().await.unwrap();
    assert_eq!(confirm.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count_accounts(&t).await, 0);
    assert!(
        t.app
            .db
            .find_account_by_official_id(AN)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        audited(&t, "registration.refused", "certificate_wrong_class")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn an_official_with_a_citizen_account_keeps_both() {
    let t = spawn_app().await;
    let person = t.add_account(AN, Ial::Ial2).await;
    let token = usb_token(&t, official(AN)).await;
    register(&t, &browser(), "agency", &token, "").await;

    assert_eq!(count_accounts(&t).await, 2);
    let agency = t
        .app
        .db
        .find_account_by_official_id(AN)
        .await
        .unwrap()
        .expect("the agency account");
    assert_ne!(agency.id, person);
    assert_eq!(agency.subject_type, SubjectType::Agency);
    let citizen = t
        .app
        .db
        .find_account_by_id_number(AN)
        .await
        .unwrap()
        .expect("the citizen account is kept");
    assert_eq!(citizen.id, person);
    assert_eq!(citizen.subject_type, SubjectType::Citizen);
    assert_eq!(
        citizen.ial,
        Ial::Ial2,
        "untouched by the official's registration"
    );
    assert!(
        t.app
            .db
            .credentials_of(&person, CredentialKind::Certificate)
            .await
            .unwrap()
            .is_empty()
    );
    // The Government certificate opens the agency account, not the person's.
    let tokens = portal_login(&t, &token, "openid profile organization").await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], agency.id.as_str());
    assert_eq!(claims["subject_type"], "agency");
}
