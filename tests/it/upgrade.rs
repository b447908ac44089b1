//! IAL2 → IAL3 (issue 8): a citizen binds a SIM signature whose certificate states their own
//! ID number, inside a portal's request that asks for IAL3 (`acr_values`, an essential `acr`,
//! a client's minimum) or from "Thông tin cá nhân"; declining; a certificate of someone else.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;
use crate::ial3_registration::sim_sign;

const AN_PHONE: &str = "0823456088";
const AN_ID: &str = "001090012345";
const AN_PIN: &str = "123456";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

pub(crate) fn essential_ial3() -> String {
    serde_json::json!({ "id_token": { "acr": { "essential": true, "values": ["IAL3"] } } })
        .to_string()
}

/// Logs the IAL2 account in with its password for the portal's request at `url`; returns
/// where the browser is sent after the login.
async fn password_login_for(t: &TestApp, b: &reqwest::Client, url: &str) -> String {
    let login_url = location(&b.get(url).send().await.unwrap());
    assert!(login_url.contains("/login?"), "{login_url}");
    login(t, b, &login_url, AN_ID, PASSWORD).await
}

async fn upgrade_page(t: &TestApp, b: &reqwest::Client, next: &str) -> String {
    assert!(
        next.starts_with(&t.url("/upgrade?ar=")),
        "the upgrade is offered: {next}"
    );
    let page = b.get(next).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

fn kinds(events: &[xacthuc::store::AuditRecord]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn a_portal_asking_for_ial3_gets_it_after_the_citizen_binds_their_sim() {
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial2).await;
    let (client_id, secret) = t.add_client(|c| c.skip_consent = true).await;
    let (verifier, challenge) = pkce();
    let b = browser();
    let url = authorize_url(&t, &client_id, &challenge, &[("acr_values", "IAL3")]);
    let next = password_login_for(&t, &b, &url).await;
    let page = upgrade_page(&t, &b, &next).await;
    assert!(page.contains("data-method=\"sim_signature\""), "{page}");
    assert!(page.contains("Không, cảm ơn"));
    let ar = query(&next)["ar"].clone();

    let resp = sim_sign(
        &t,
        &b,
        &format!("/upgrade/sim_signature?ar={ar}"),
        AN_PHONE,
        AN_PIN,
    )
    .await;
    let back = location(&resp);
    let tokens = redeem(&t, &back, &client_id, secret.as_deref().unwrap(), &verifier).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = crate::code_flow::decode_part(id_token, 1);
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["acr"], "IAL3");
    assert_eq!(amr_of(id_token), ["hwk", "pin", "mca"]);

    assert_raised_to_ial3(&t, &sub, "sim_signature").await;
}

#[tokio::test]
async fn declining_an_essential_ial3_is_unmet_for_the_portal() {
    let t = spawn_app().await;
    let sub = t.add_account(AN_ID, Ial::Ial2).await;
    let (client_id, _) = t.add_client(|c| c.skip_consent = true).await;
    let (_, challenge) = pkce();
    let b = browser();
    let url = authorize_url(&t, &client_id, &challenge, &[("claims", &essential_ial3())]);
    let next = password_login_for(&t, &b, &url).await;
    let page = upgrade_page(&t, &b, &next).await;
    let resp = b
        .post(t.url("/upgrade/decline"))
        .form(&[
            ("csrf", hidden(&page, "csrf").unwrap()),
            ("ar", hidden(&page, "ar").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    assert_eq!(
        query(&back).get("error").map(String::as_str),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(
        query(&back).get("state").map(String::as_str),
        Some("st-123")
    );
    assert_eq!(
        t.app.db.find_account(&sub).await.unwrap().unwrap().ial,
        Ial::Ial2
    );

    // The client's minimum is the same: offered, and unmet when declined.
    let (strict, _) = t
        .add_client(|c| {
            c.skip_consent = true;
            c.min_acr = Some("IAL3".into());
        })
        .await;
    let resp = b
        .get(authorize_url(&t, &strict, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let next = location(&resp);
    upgrade_page(&t, &b, &next).await;
}

#[tokio::test]
async fn declining_a_voluntary_ial3_goes_on_at_ial2() {
    let t = spawn_app().await;
    t.add_account(AN_ID, Ial::Ial2).await;
    let (client_id, secret) = t.add_client(|c| c.skip_consent = true).await;
    let (verifier, challenge) = pkce();
    let b = browser();
    let url = authorize_url(&t, &client_id, &challenge, &[("acr_values", "IAL3")]);
    let next = password_login_for(&t, &b, &url).await;
    let page = upgrade_page(&t, &b, &next).await;
    let resp = b
        .post(t.url("/upgrade/decline"))
        .form(&[
            ("csrf", hidden(&page, "csrf").unwrap()),
            ("ar", hidden(&page, "ar").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&resp);
    let code = query(&back)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("{back}"));
    let (_, tokens) = exchange_code(
        &t,
        &client_id,
        secret.as_deref().unwrap(),
        &code,
        REDIRECT_URI,
        &verifier,
    )
    .await;
    let claims = crate::code_flow::decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["acr"], "IAL2");
}

#[tokio::test]
async fn someone_elses_certificate_does_not_upgrade_the_account() {
    let t = spawn_app().await;
    // Not An: his SIM's certificate states another ID number.
    let sub = t.add_account("031087006543", Ial::Ial2).await;
    let b = browser();
    login(&t, &b, &t.url("/login"), "031087006543", PASSWORD).await;
    let profile = page_text(&b, t.url("/profile")).await;
    assert!(
        profile.contains("id=\"profile-upgrade\""),
        "the profile offers the upgrade"
    );
    let page = page_text(&b, t.url("/upgrade")).await;
    assert!(page.contains("data-method=\"sim_signature\""));
    let resp = sim_sign(&t, &b, "/upgrade/sim_signature", AN_PHONE, AN_PIN).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let text = resp.text().await.unwrap();
    assert!(text.contains("không phải của chủ tài khoản"), "{text}");
    assert_still_ial2(&t, &sub).await;
    let events = t.app.db.audit_events(30).await.unwrap();
    let refused = events
        .iter()
        .find(|e| e.kind == "account.level_raise_refused")
        .unwrap_or_else(|| panic!("{:?}", kinds(&events)));
    assert_eq!(refused.detail["reason"], "id_number_mismatch");
    assert_eq!(refused.account_id.as_deref(), Some(sub.as_str()));
    assert!(!kinds(&events).contains(&"account.level_raised"));
}
