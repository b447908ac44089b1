//! "USB ký số" over HTTP (no browser): the test plays the login page's script — it reads the
//! ceremony's options, has the signing agent (in-process, on the test binary's SoftHSM2 token)
//! sign, and posts the CMS. Certificates come from the sandbox PKI for the token's own key.

use reqwest::StatusCode;
use serde_json::{Value, json};
use xacthuc::domain::Ial;

use crate::code_flow::decode_part;
use crate::helpers::*;

const AN: &str = "001090012345";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

fn citizen(id_number: &str) -> Value {
    json!({"uids": [format!("CCCD:{id_number}")], "cn": "Nguyễn Văn An", "c": "VN"})
}

async fn app() -> TestApp {
    spawn_app().await
}

#[tokio::test]
async fn a_usb_token_login_gets_the_portal_its_tokens_with_hwk_pin_sc() {
    let t = app().await;
    let sub = t.add_account(AN, Ial::Ial3).await;
    let token = usb_token(&t, citizen(AN)).await;
    let (client_id, secret) = t.add_client(|_| {}).await;

    let b = browser();
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    let html = page_text(&b, &login_url).await;
    assert!(
        unescape(&html).contains("USB ký số"),
        "the login page offers it"
    );
    let link = attr(&html, "login-with-usb_token", "href").expect("a USB link");
    assert_eq!(
        link,
        t.url(&format!("/login/usb_token?ar={}", ar_of(&login_url)))
    );

    let c = ceremony(&t, &b, &link).await;
    let resp = c.answer(&t, &b, &token).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let back = consent(&b, &location(&resp), true).await;
    let tokens = redeem(&t, &back, &client_id, secret.as_deref().unwrap(), &verifier).await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], sub);
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in ["hwk", "pin", "sc"] {
        assert!(amr.contains(&a), "{amr:?}");
    }
    assert!(!amr.contains(&"pwd"), "{amr:?}");
    assert_eq!(claims["acr"], t.app.acr.acr(Ial::Ial3));
    let event = t
        .app
        .db
        .audit_events(20)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "login.succeeded" && e.detail["method"] == "usb_token")
        .expect("the login is audited");
    assert_eq!(event.account_id.as_deref(), Some(sub.as_str()));
}

#[tokio::test]
async fn an_ial2_account_stays_ial2() {
    let t = app().await;
    t.add_account(AN, Ial::Ial2).await;
    let token = usb_token(&t, citizen(AN)).await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let b = browser();
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let ar = ar_of(&location(&resp));
    let c = ceremony(&t, &b, &t.url(&format!("/login/usb_token?ar={ar}"))).await;
    let resp = c.answer(&t, &b, &token).await;
    let back = consent(&b, &location(&resp), true).await;
    let code = query(&back).get("code").cloned().expect("a code");
    let (_, tokens) = exchange_code(
        &t,
        &client_id,
        secret.as_deref().unwrap(),
        &code,
        REDIRECT_URI,
        &verifier,
    )
    .await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(
        claims["acr"],
        t.app.acr.acr(Ial::Ial2),
        "the upgrade is another step"
    );
}

#[tokio::test]
async fn a_certificate_of_no_account_is_told_to_register() {
    let t = app().await;
    let token = usb_token(&t, citizen("079203004567")).await;
    let b = browser();
    let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
    let resp = c.answer(&t, &b, &token).await;
    refused(
        &t,
        resp,
        StatusCode::UNAUTHORIZED,
        "error_no_account_for_identity",
    )
    .await;
    assert!(
        audited(&t, "login.failed", "no_account_for_identity")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn the_same_signature_logs_in_once() {
    let t = app().await;
    t.add_account(AN, Ial::Ial3).await;
    let token = usb_token(&t, citizen(AN)).await;
    let page = http().get(t.url("/login/usb_token")).send().await.unwrap();
    let cookies = cookies_set(&page);
    let html = page.text().await.unwrap();
    let options: Value =
        serde_json::from_str(&attr(&html, "usb-form", "data-signer").unwrap()).unwrap();
    let challenge = options["challenge"].as_str().unwrap().to_string();
    let csrf = hidden(&html, "csrf").unwrap();
    let signed = token.sign(&t.base, &t.base, &challenge).await;
    let cms = signed["cms"].as_str().unwrap().to_string();
    let post = || {
        http()
            .post(t.url("/login/usb_token"))
            .header("cookie", &cookies)
            .form(&[
                ("csrf", csrf.as_str()),
                ("ar", ""),
                ("cms", &cms),
                ("origin", &t.base),
                ("challenge", &challenge),
            ])
            .send()
    };
    // Both requests read the flow before either finishes it: the challenge is taken once.
    let (a, b) = tokio::join!(post(), post());
    let statuses = [a.unwrap().status(), b.unwrap().status()];
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| s.is_client_error()), "{statuses:?}");

    // Replayed into another login: refused, the other login's challenge is not this one.
    let b = browser();
    let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
    let resp = c.post(&t, &b, &cms, &t.base, &challenge).await;
    let html = refused(&t, resp, StatusCode::UNAUTHORIZED, "err_usb_challenge").await;
    let fresh: Value =
        serde_json::from_str(&attr(&html, "usb-form", "data-signer").unwrap()).unwrap();
    let fresh = fresh["challenge"].as_str().unwrap();
    let resp = c.post(&t, &b, &cms, &t.base, fresh).await;
    refused(&t, resp, StatusCode::UNAUTHORIZED, "pki_bad_signature").await;
}

#[tokio::test]
async fn a_signature_for_another_origin_is_refused() {
    let t = app().await;
    t.add_account(AN, Ial::Ial3).await;
    let phish = "https://dichvucong-gov.example";
    let token = usb_token_for(&t, citizen(AN), &[phish], &format!("echo {TOKEN_PIN}")).await;
    let b = browser();
    let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
    // A look-alike site relays our challenge; the agent signs it for the look-alike's origin.
    let signed = token.sign(phish, phish, c.challenge()).await;
    let cms = signed["cms"].as_str().unwrap();
    let resp = c.post(&t, &b, cms, phish, c.challenge()).await;
    let html = refused(&t, resp, StatusCode::UNAUTHORIZED, "err_usb_origin").await;
    // Claiming our origin does not help: the signature names the other one.
    let fresh: Value =
        serde_json::from_str(&attr(&html, "usb-form", "data-signer").unwrap()).unwrap();
    let challenge = fresh["challenge"].as_str().unwrap();
    let signed = token.sign(phish, phish, challenge).await;
    let resp = c
        .post(&t, &b, signed["cms"].as_str().unwrap(), &t.base, challenge)
        .await;
    refused(&t, resp, StatusCode::UNAUTHORIZED, "pki_bad_signature").await;
    assert!(audited(&t, "login.failed", "wrong_origin").await.is_some());
}

#[tokio::test]
async fn an_expired_challenge_is_refused_and_a_fresh_one_offered() {
    let t = app().await;
    t.add_account(AN, Ial::Ial3).await;
    let token = usb_token(&t, citizen(AN)).await;
    let b = browser();
    let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
    let signed = token.sign(&t.base, &t.base, c.challenge()).await;
    t.advance(xacthuc::authenticators::usb_token::CHALLENGE_TTL as u64 + 1);
    let resp = c
        .post(
            &t,
            &b,
            signed["cms"].as_str().unwrap(),
            &t.base,
            c.challenge(),
        )
        .await;
    let html = refused(&t, resp, StatusCode::BAD_REQUEST, "err_usb_expired").await;
    let fresh: Value =
        serde_json::from_str(&attr(&html, "usb-form", "data-signer").unwrap()).unwrap();
    assert_ne!(fresh["challenge"], c.options["challenge"]);
}

#[tokio::test]
async fn pki_refusals_are_shown_with_their_message() {
    let t = app().await;
    t.add_account(AN, Ial::Ial3).await;
    // Revoked after issue: OCSP says so.
    let revoked = usb_token(&t, citizen(AN)).await;
    t.revoke_certificate(&revoked.serial).await;
    // Issued under a root nobody trusts.
    let mut untrusted = citizen(AN);
    untrusted["tree"] = json!("untrusted");
    let untrusted = usb_token(&t, untrusted).await;
    for (token, key) in [(&revoked, "pki_revoked"), (&untrusted, "pki_untrusted")] {
        let b = browser();
        let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
        let resp = c.answer(&t, &b, token).await;
        refused(&t, resp, StatusCode::UNAUTHORIZED, key).await;
    }
}

#[tokio::test]
async fn bad_answers_are_clear_errors() {
    let t = app().await;
    let b = browser();
    let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
    let challenge = c.challenge().to_string();
    let resp = c.post(&t, &b, "not base64!", &t.base, &challenge).await;
    refused(&t, resp, StatusCode::BAD_REQUEST, "err_usb_malformed").await;
    let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
    let resp = c
        .post(&t, &b, &"A".repeat(70_000), &t.base, c.challenge())
        .await;
    // Refused before the method sees it (the form's size caps), with an error page.
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(!cookies_set(&resp).contains("xacthuc_session="));
    let c = ceremony(&t, &b, &t.url("/login/usb_token")).await;
    let garbage = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"\x30\x03\x02\x01\x01",
    );
    let resp = c.post(&t, &b, &garbage, &t.base, c.challenge()).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
}
