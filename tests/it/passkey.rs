//! Passkeys over HTTP (no browser): adding one in "Thông tin cá nhân", logging in with it (with
//! and without the ID number), the refusals (tampered, misplaced, malformed, oversized, unknown,
//! cloned, expired, replayed answers), portals that accept only phishing-resistant logins, the
//! `[login]` configuration, and why the login page asks again. The authenticator is
//! webauthn-authenticator-rs' `SoftPasskey`, fed the options the pages carry.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use xacthuc::authenticators::Method;
use xacthuc::domain::{CredentialKind, Ial};
use xacthuc::store::StoredCredential;

use crate::code_flow::decode_part;
use crate::helpers::*;

const ALICE: &str = "001090012345";
const BOB: &str = "079203004567";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

// --- the page side -----------------------------------------------------------------------------

/// The WebAuthn options a ceremony page hands to its script.
fn ceremony_options(html: &str) -> Value {
    let raw = attr(html, "passkey-form", "data-options").expect("a passkey ceremony page");
    serde_json::from_str(&raw).expect("the options are JSON")
}

/// The new credential rows of an account's passkeys.
async fn passkeys(t: &TestApp, account_id: &str) -> Vec<StoredCredential> {
    t.app
        .db
        .credentials_of(account_id, CredentialKind::Passkey)
        .await
        .unwrap()
}

async fn sessions(t: &TestApp, account_id: &str) -> usize {
    xacthuc::oidc::interaction::sessions_of(&t.app, account_id)
        .await
        .unwrap()
        .len()
}

/// Whether this browser is logged in (the profile page answers instead of sending it to login).
async fn logged_in(t: &TestApp, b: &reqwest::Client) -> bool {
    b.get(t.url("/profile")).send().await.unwrap().status() == StatusCode::OK
}

// --- the authenticator -------------------------------------------------------------------------

/// A software authenticator, standing in for the browser's `navigator.credentials`.
pub struct Authenticator {
    token: SoftPasskey,
    origin: Url,
}

impl Authenticator {
    pub fn new(t: &TestApp) -> Self {
        Self {
            // true: claims user verification (PIN, biometrics), which passkeys require.
            token: SoftPasskey::new(true),
            origin: Url::parse(&t.base).unwrap(),
        }
    }

    /// `navigator.credentials.create()`: the attestation, as JSON, for an enrolment page's options.
    pub fn create(&mut self, options: &Value) -> String {
        let mut options = options.clone();
        // SoftPasskey cannot store resident keys and refuses when asked to; the server does not
        // check the flag on the way back.
        let selection = &mut options["publicKey"]["authenticatorSelection"];
        selection["residentKey"] = json!("discouraged");
        selection["requireResidentKey"] = json!(false);
        let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
        let attestation = self
            .token
            .do_registration(self.origin.clone(), options)
            .expect("the authenticator registers");
        serde_json::to_string(&attestation).unwrap()
    }

    /// `navigator.credentials.get()` with the passkey `credential` (its id, as stored in
    /// `lookup`) of account `account_id`: the assertion, as JSON, for a login page's options.
    pub fn get(&mut self, options: &Value, credential: &str, account_id: &str) -> String {
        let mut options = options.clone();
        // SoftPasskey cannot discover its credentials: name the one to use.
        options["publicKey"]["allowCredentials"] =
            json!([{ "type": "public-key", "id": credential }]);
        let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
        let assertion = self
            .token
            .do_authentication(self.origin.clone(), options)
            .expect("the authenticator signs");
        let mut assertion = serde_json::to_value(&assertion).unwrap();
        // A discoverable credential returns the user handle (our account id); not signed.
        let handle = uuid::Uuid::parse_str(account_id).unwrap();
        assertion["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(handle.as_bytes()));
        assertion.to_string()
    }
}

/// A citizen (password [`PASSWORD`]) with one passkey on their own authenticator.
pub struct Holder {
    pub account_id: String,
    pub id_number: &'static str,
    pub authenticator: Authenticator,
    pub passkey: StoredCredential,
    /// The attestation the passkey was registered with (JSON).
    pub attestation: String,
}

impl Holder {
    /// The assertion for a login page's options.
    pub fn sign(&mut self, options: &Value) -> String {
        let id = self.passkey.lookup.clone().unwrap();
        self.authenticator.get(options, &id, &self.account_id)
    }
}

/// A new account whose holder added a passkey in "Thông tin cá nhân" (after a password + SMS
/// login in a browser of its own).
pub async fn holder(t: &TestApp, id_number: &'static str) -> Holder {
    let account_id = t.add_account(id_number, Ial::Ial2).await;
    let b = password_login(t, id_number).await;
    let mut authenticator = Authenticator::new(t);
    let (passkey, attestation) =
        enrol_passkey(t, &b, &mut authenticator, &account_id, "Laptop").await;
    Holder {
        account_id,
        id_number,
        authenticator,
        passkey,
        attestation,
    }
}

/// A browser logged in with the ID number and password (and the SMS code), just
/// re-authenticated in "Thông tin cá nhân" so that it may add passkeys.
async fn password_login(t: &TestApp, id_number: &str) -> reqwest::Client {
    let b = browser();
    let home = login(t, &b, &t.url("/login"), id_number, PASSWORD).await;
    assert_eq!(home, t.url("/"));
    let back = reauthenticate(t, &b, PHONE_E164).await;
    assert_eq!(back, t.url("/profile?notice=reauth_done"));
    b
}

/// `POST /profile/credentials/passkey` with the name (CSRF from the profile page).
async fn start_enrolment(t: &TestApp, b: &reqwest::Client, label: &str) -> reqwest::Response {
    let profile = b.get(t.url("/profile")).send().await.unwrap();
    let html = profile.text().await.unwrap();
    let csrf = hidden(&html, "csrf").expect("csrf");
    b.post(t.url("/profile/credentials/passkey"))
        .form(&[("csrf", csrf.as_str()), ("label", label)])
        .send()
        .await
        .unwrap()
}

/// Posts `fields` (and the page's CSRF token, and `ar` when the page has one) to a ceremony
/// page's form.
async fn answer_page(
    b: &reqwest::Client,
    html: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let action = attr(html, "passkey-form", "action").expect("the form's action");
    let csrf = hidden(html, "csrf").expect("csrf");
    let ar = hidden(html, "ar");
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    if let Some(ar) = &ar {
        form.push(("ar", ar));
    }
    form.extend_from_slice(fields);
    b.post(action).form(&form).send().await.unwrap()
}

/// Adds a passkey to the account logged in in `b` through the profile's endpoints; returns its
/// row and the attestation it was made with.
pub async fn enrol_passkey(
    t: &TestApp,
    b: &reqwest::Client,
    authenticator: &mut Authenticator,
    account_id: &str,
    label: &str,
) -> (StoredCredential, String) {
    let before = passkeys(t, account_id).await;
    let resp = start_enrolment(t, b, label).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let attestation = authenticator.create(&ceremony_options(&html));
    let resp = answer_page(b, &html, &[("credential", &attestation)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), t.url("/profile?notice=credential_added"));
    let added: Vec<_> = passkeys(t, account_id)
        .await
        .into_iter()
        .filter(|c| before.iter().all(|b| b.id != c.id))
        .collect();
    assert_eq!(added.len(), 1);
    let passkey = added.into_iter().next().unwrap();
    assert_eq!(passkey.label.as_deref(), Some(label));
    (passkey, attestation)
}

/// The passkey ceremony page of a login, `GET /login/passkey?ar=…`.
async fn passkey_page(t: &TestApp, b: &reqwest::Client, ar: Option<&str>) -> String {
    let url = match ar {
        Some(ar) => t.url(&format!("/login/passkey?ar={ar}")),
        None => t.url("/login/passkey"),
    };
    let resp = b.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

/// A passkey login for the pending request `ar` (none: from the home page), without the ID
/// number; returns the answer's response (on success a redirect with the session cookie).
pub async fn passkey_login(
    t: &TestApp,
    b: &reqwest::Client,
    holder: &mut Holder,
    ar: Option<&str>,
) -> reqwest::Response {
    let html = passkey_page(t, b, ar).await;
    let assertion = holder.sign(&ceremony_options(&html));
    answer_page(b, &html, &[("credential", &assertion)]).await
}

// --- 1. the whole OIDC flow --------------------------------------------------------------------

#[tokio::test]
async fn a_passkey_login_without_the_id_number_gets_the_portal_its_tokens() {
    let t = spawn_app().await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let mut alice = holder(&t, ALICE).await;
    assert!(alice.passkey.last_used_at.is_none());

    let b = browser();
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    assert!(login_url.starts_with(&t.url("/login?ar=")), "{login_url}");
    let html = page_text(&b, &login_url).await;
    assert!(unescape(&html).contains("Đăng nhập bằng passkey"));
    let link = attr(&html, "login-with-passkey", "href").expect("a passkey link");
    assert_eq!(
        link,
        t.url(&format!("/login/passkey?ar={}", ar_of(&login_url)))
    );

    let page = b.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    let options = ceremony_options(&html);
    // Discoverable: no ID number typed, so no credentials listed.
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{options}"
    );
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let assertion = alice.sign(&options);
    let resp = answer_page(&b, &html, &[("credential", &assertion)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let consent_url = location(&resp);
    assert!(consent_url.contains("/consent?"), "{consent_url}");
    let back = consent(&b, &consent_url, true).await;
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    let code = query(&back).get("code").cloned().expect("a code");

    let (status, tokens) = exchange_code(
        &t,
        &client_id,
        secret.as_deref().unwrap(),
        &code,
        REDIRECT_URI,
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], alice.account_id);
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"hwk") || amr.contains(&"swk"), "{amr:?}");
    assert!(amr.contains(&"user"), "{amr:?}");
    // SoftPasskey says it verified the user (UV).
    assert!(amr.contains(&"mfa"), "{amr:?}");
    assert!(!amr.contains(&"pwd"), "{amr:?}");
    assert_eq!(claims["acr"], t.app.acr.acr(Ial::Ial2));

    let used = &passkeys(&t, &alice.account_id).await[0];
    assert!(used.last_used_at.is_some());
    let event = t
        .app
        .db
        .audit_events(20)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "login.succeeded" && e.detail["method"] == "passkey")
        .expect("the login is audited");
    assert_eq!(event.account_id.as_deref(), Some(alice.account_id.as_str()));
    assert_eq!(event.detail["credential"]["id"], json!(alice.passkey.id));
}

// --- 2. the ID number typed first ---------------------------------------------------------------

/// `POST /login` with `method=passkey` and the ID number (CSRF from the login page).
async fn passkey_for_id(
    t: &TestApp,
    b: &reqwest::Client,
    ar: Option<&str>,
    id_number: &str,
) -> reqwest::Response {
    let login_url = match ar {
        Some(ar) => t.url(&format!("/login?ar={ar}")),
        None => t.url("/login"),
    };
    let html = page_text(b, login_url).await;
    assert!(html.contains("id=\"login-passkey-for-id\""));
    let csrf = hidden(&html, "csrf").expect("csrf");
    b.post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ar", ar.unwrap_or_default()),
            ("username", id_number),
            ("method", "passkey"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_the_id_number_typed_only_that_accounts_passkeys_are_accepted() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    let mut bob = holder(&t, BOB).await;
    let sessions_before = (
        sessions(&t, &alice.account_id).await,
        sessions(&t, &bob.account_id).await,
    );

    let b = browser();
    let resp = passkey_for_id(&t, &b, None, alice.id_number).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let options = ceremony_options(&html);
    assert_eq!(
        options["publicKey"]["allowCredentials"],
        json!([{ "type": "public-key", "id": alice.passkey.lookup }]),
        "Alice's passkeys are listed"
    );

    // Bob's authenticator answers with Bob's passkey.
    let resp = answer_page(&b, &html, &[("credential", &bob.sign(&options))]).await;
    let html = refused(
        &t,
        resp,
        StatusCode::UNAUTHORIZED,
        "err_passkey_other_account",
    )
    .await;
    let event = audited(&t, "login.failed", "credential_of_another_account")
        .await
        .expect("audited");
    assert_eq!(event.detail["method"], "passkey");
    assert_eq!(event.detail["credential"], json!(bob.passkey.id));
    assert!(!logged_in(&t, &b).await);
    assert_eq!(
        (
            sessions(&t, &alice.account_id).await,
            sessions(&t, &bob.account_id).await
        ),
        sessions_before
    );
    assert!(
        passkeys(&t, &bob.account_id).await[0]
            .last_used_at
            .is_none()
    );

    // The page offers a fresh ceremony, still for Alice: her passkey logs her in.
    let options = ceremony_options(&html);
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        json!(alice.passkey.lookup)
    );
    let resp = answer_page(&b, &html, &[("credential", &alice.sign(&options))]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), t.url("/"));
    assert!(logged_in(&t, &b).await);
    assert_eq!(sessions(&t, &alice.account_id).await, sessions_before.0 + 1);
}

#[tokio::test]
async fn an_unknown_id_number_is_not_revealed() {
    let t = spawn_app().await;
    let _alice = holder(&t, ALICE).await;
    let b = browser();
    let resp = passkey_for_id(&t, &b, None, "001099999999").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let options = ceremony_options(&resp.text().await.unwrap());
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
}

// --- 3. bad input ------------------------------------------------------------------------------

/// `clientDataJSON` of an assertion or attestation (JSON), with `edit` applied to its JSON.
fn tamper_client_data(credential: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(credential).unwrap();
    let raw = URL_SAFE_NO_PAD
        .decode(v["response"]["clientDataJSON"].as_str().unwrap())
        .unwrap();
    let mut client_data: Value = serde_json::from_slice(&raw).unwrap();
    edit(&mut client_data);
    v["response"]["clientDataJSON"] =
        json!(URL_SAFE_NO_PAD.encode(client_data.to_string().as_bytes()));
    v.to_string()
}

/// A fresh 32-byte challenge, as WebAuthn writes it.
fn other_challenge() -> String {
    URL_SAFE_NO_PAD.encode(xacthuc::random::bytes::<32>())
}

#[tokio::test]
async fn bad_answers_to_a_login_ceremony_are_refused_and_log_no_one_in() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    let sessions_before = sessions(&t, &alice.account_id).await;
    let b = browser();
    let mut html = passkey_page(&t, &b, None).await;

    // Each refusal shows the ceremony again with a fresh challenge; the next answer uses it.
    let cases: Vec<(&str, StatusCode, &str)> = vec![
        (
            "challenge",
            StatusCode::UNAUTHORIZED,
            "err_passkey_challenge",
        ),
        ("origin", StatusCode::UNAUTHORIZED, "err_passkey_origin"),
        ("type", StatusCode::UNAUTHORIZED, "err_passkey_malformed"),
        ("signature", StatusCode::UNAUTHORIZED, "err_passkey_invalid"),
        (
            "attestation",
            StatusCode::BAD_REQUEST,
            "err_passkey_malformed",
        ),
        ("not json", StatusCode::BAD_REQUEST, "err_passkey_malformed"),
        (
            "over 16 KiB",
            StatusCode::BAD_REQUEST,
            "err_passkey_malformed",
        ),
        ("missing", StatusCode::BAD_REQUEST, "err_passkey_malformed"),
        (
            "cancelled",
            StatusCode::BAD_REQUEST,
            "err_passkey_cancelled",
        ),
    ];
    for (case, status, key) in cases {
        let options = ceremony_options(&html);
        let good = alice.sign(&options);
        let big = format!("{{\"id\":\"{}\"}}", "A".repeat(17 * 1024));
        let fields: Vec<(&str, String)> = match case {
            "challenge" => vec![(
                "credential",
                tamper_client_data(&good, |c| c["challenge"] = json!(other_challenge())),
            )],
            "origin" => vec![(
                "credential",
                tamper_client_data(&good, |c| {
                    c["origin"] = json!("http://localhost.evil.example")
                }),
            )],
            "type" => vec![(
                "credential",
                tamper_client_data(&good, |c| c["type"] = json!("webauthn.create")),
            )],
            "signature" => {
                let mut v: Value = serde_json::from_str(&good).unwrap();
                let mut sig = URL_SAFE_NO_PAD
                    .decode(v["response"]["signature"].as_str().unwrap())
                    .unwrap();
                let last = sig.len() - 1;
                sig[last] ^= 0x01;
                v["response"]["signature"] = json!(URL_SAFE_NO_PAD.encode(&sig));
                vec![("credential", v.to_string())]
            }
            "attestation" => vec![("credential", alice.attestation.clone())],
            "not json" => vec![("credential", "{\"id\": ".to_string())],
            "over 16 KiB" => vec![("credential", big)],
            "missing" => vec![],
            "cancelled" => vec![("error", "NotAllowedError".to_string())],
            _ => unreachable!(),
        };
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = answer_page(&b, &html, &fields).await;
        html = refused(&t, resp, status, key).await;
        assert!(!logged_in(&t, &b).await, "{case}");
        let fresh = ceremony_options(&html);
        assert_ne!(
            fresh["publicKey"]["challenge"], options["publicKey"]["challenge"],
            "{case}: a fresh challenge"
        );
    }
    assert_eq!(sessions(&t, &alice.account_id).await, sessions_before);
    let stored = passkeys(&t, &alice.account_id).await;
    assert_eq!(stored.len(), 1, "nothing stored");
    assert!(stored[0].last_used_at.is_none());
    assert_eq!(
        stored[0].data, alice.passkey.data,
        "the counter is untouched"
    );

    // Beyond the body limit: refused before any step sees it.
    let options = ceremony_options(&html);
    let huge = format!("{{\"id\":\"{}\"}}", "A".repeat(70 * 1024));
    let resp = answer_page(&b, &html, &[("credential", &huge)]).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert!(!logged_in(&t, &b).await);

    // The flow is still there, and a good answer still works.
    let resp = answer_page(&b, &html, &[("credential", &alice.sign(&options))]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(logged_in(&t, &b).await);
}

/// A passkey re-authenticates a session for the changes of "Thông tin cá nhân" (instead of the
/// password and an SMS code); another account's passkey does not. Adding one is told to the
/// account's phones.
#[tokio::test]
async fn a_passkey_reauthenticates_a_session_for_changes() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    let mut bob = holder(&t, BOB).await;
    assert_eq!(
        sms_texts(&t, PHONE_E164).await.last(),
        Some(&t.app.theme.t("vi", "sms_notice_passkey_added")),
        "the phone heard of the passkey"
    );
    let b = browser();
    let resp = passkey_login(&t, &b, &mut alice, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // Logged in, but not re-authenticated: the passkey cannot be removed yet.
    let html = page_text(&b, t.url("/profile")).await;
    let csrf = hidden(&html, "csrf").unwrap();
    let passkey_id = alice.passkey.id.clone();
    let remove = || {
        b.post(t.url("/profile/credentials/remove"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("credential_id", passkey_id.as_str()),
            ])
            .send()
    };
    let resp = remove().await.unwrap();
    assert_eq!(location(&resp), t.url("/profile/reauth?next=profile"));

    // The re-authentication page offers Alice's passkey; Bob's is refused there.
    let html = page_text(&b, t.url("/profile/reauth")).await;
    let assertion = bob.sign(&ceremony_options(&html));
    let resp = answer_page(&b, &html, &[("credential", &assertion)]).await;
    let html = refused(
        &t,
        resp,
        StatusCode::UNAUTHORIZED,
        "err_passkey_other_account",
    )
    .await;
    assert!(
        audited(&t, "reauth.failed", "credential_of_another_account")
            .await
            .is_some()
    );
    let assertion = alice.sign(&ceremony_options(&html));
    let resp = answer_page(&b, &html, &[("credential", &assertion)]).await;
    assert_eq!(location(&resp), t.url("/profile?notice=reauth_done"));

    let resp = remove().await.unwrap();
    assert_eq!(location(&resp), t.url("/profile?notice=credential_removed"));
    assert!(passkeys(&t, &alice.account_id).await.is_empty());
}

#[tokio::test]
async fn a_passkey_of_no_account_is_refused_and_audited() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    // The passkey is removed in "Thông tin cá nhân" but stays on the authenticator.
    t.app
        .db
        .remove_credential(&alice.account_id, &alice.passkey.id, None)
        .await
        .unwrap()
        .expect("removed");
    let sessions_before = sessions(&t, &alice.account_id).await;
    let b = browser();
    let resp = passkey_login(&t, &b, &mut alice, None).await;
    refused(&t, resp, StatusCode::UNAUTHORIZED, "err_passkey_unknown").await;
    let event = audited(&t, "login.failed", "unknown_credential")
        .await
        .expect("audited");
    assert_eq!(event.detail["method"], "passkey");
    assert_eq!(event.detail["credential"], json!(alice.passkey.lookup));
    assert!(!logged_in(&t, &b).await);
    assert_eq!(sessions(&t, &alice.account_id).await, sessions_before);
    assert!(passkeys(&t, &alice.account_id).await.is_empty());
}

#[tokio::test]
async fn bad_answers_to_an_enrolment_store_nothing() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    let b = password_login(&t, ALICE).await;
    // An assertion of Alice's existing passkey, from a login ceremony in another browser.
    let other = browser();
    let login_page = passkey_page(&t, &other, None).await;
    let assertion = alice.sign(&ceremony_options(&login_page));

    let cases: Vec<(&str, StatusCode, &str)> = vec![
        (
            "assertion",
            StatusCode::BAD_REQUEST,
            "err_passkey_malformed",
        ),
        (
            "challenge",
            StatusCode::BAD_REQUEST,
            "err_passkey_challenge",
        ),
        ("not json", StatusCode::BAD_REQUEST, "err_passkey_malformed"),
        (
            "over 16 KiB",
            StatusCode::BAD_REQUEST,
            "err_passkey_malformed",
        ),
        ("missing", StatusCode::BAD_REQUEST, "err_passkey_malformed"),
        (
            "cancelled",
            StatusCode::BAD_REQUEST,
            "err_passkey_cancelled",
        ),
    ];
    let mut authenticator = Authenticator::new(&t);
    for (case, status, key) in cases {
        let resp = start_enrolment(&t, &b, "Điện thoại").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        let fields: Vec<(&str, String)> = match case {
            "assertion" => vec![("credential", assertion.clone())],
            "challenge" => {
                let good = authenticator.create(&ceremony_options(&html));
                vec![(
                    "credential",
                    tamper_client_data(&good, |c| c["challenge"] = json!(other_challenge())),
                )]
            }
            "not json" => vec![("credential", "[1, 2".to_string())],
            "over 16 KiB" => vec![(
                "credential",
                format!("{{\"id\":\"{}\"}}", "A".repeat(17 * 1024)),
            )],
            "missing" => vec![],
            "cancelled" => vec![("error", "NotAllowedError".to_string())],
            _ => unreachable!(),
        };
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = answer_page(&b, &html, &fields).await;
        let status_seen = resp.status();
        let page = resp.text().await.unwrap();
        assert!(status_seen.is_client_error(), "{case}: {status_seen}");
        assert_eq!(status_seen, status, "{case}");
        assert!(shows(&t, &page, key), "{case}: {key}");
        assert_eq!(passkeys(&t, &alice.account_id).await.len(), 1, "{case}");
    }

    // Beyond the body limit.
    let resp = start_enrolment(&t, &b, "Điện thoại").await;
    let html = resp.text().await.unwrap();
    let huge = "A".repeat(70 * 1024);
    let resp = answer_page(&b, &html, &[("credential", &huge)]).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(passkeys(&t, &alice.account_id).await.len(), 1);

    // An answer is taken once: the same good attestation twice adds one passkey.
    let resp = start_enrolment(&t, &b, "Điện thoại").await;
    let html = resp.text().await.unwrap();
    let good = authenticator.create(&ceremony_options(&html));
    let first = answer_page(&b, &html, &[("credential", &good)]).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let again = answer_page(&b, &html, &[("credential", &good)]).await;
    refused(&t, again, StatusCode::BAD_REQUEST, "err_flow_expired").await;
    assert_eq!(passkeys(&t, &alice.account_id).await.len(), 2);
}

#[tokio::test]
async fn adding_a_passkey_needs_a_recent_reauthentication_and_a_name() {
    let t = spawn_app().await;
    let account_id = t.add_account(ALICE, Ial::Ial2).await;
    let b = browser();
    login(&t, &b, &t.url("/login"), ALICE, PASSWORD).await;

    // A session alone (a stolen cookie) is sent to re-authenticate.
    let resp = start_enrolment(&t, &b, "Laptop").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), t.url("/profile/reauth?next=profile"));
    // A wrong password there counts like a login's and starts nothing.
    let html = page_text(&b, t.url("/profile/reauth")).await;
    let csrf = hidden(&html, "csrf").unwrap();
    let resp = b
        .post(t.url("/profile/reauth"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current_password", "Wrong@123456"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "err_current_password_wrong"
    ));
    assert!(
        audited(&t, "reauth.failed", "wrong_password")
            .await
            .is_some()
    );
    let resp = start_enrolment(&t, &b, "Laptop").await;
    assert_eq!(location(&resp), t.url("/profile/reauth?next=profile"));

    reauthenticate(&t, &b, PHONE_E164).await;
    let label_error = t
        .app
        .theme
        .t("vi", "err_credential_label")
        .replace("{max}", "64");
    for label in ["", "   ", &"ậ".repeat(65)] {
        let resp = start_enrolment(&t, &b, label).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{label:?}");
        let html = resp.text().await.unwrap();
        assert!(unescape(&html).contains(&label_error), "{label:?}");
        assert!(!html.contains("data-options"), "no ceremony");
    }
    assert!(passkeys(&t, &account_id).await.is_empty());

    // 64 characters are fine.
    let resp = start_enrolment(&t, &b, &"ậ".repeat(64)).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

// --- 4. a cloned authenticator -----------------------------------------------------------------

#[tokio::test]
async fn a_sign_counter_that_went_back_is_refused() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    let b = browser();
    let resp = passkey_login(&t, &b, &mut alice, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let stored = &passkeys(&t, &alice.account_id).await[0];
    let mut data: Value = serde_json::from_str(&stored.data).unwrap();
    let counter = data["cred"]["counter"].as_u64().expect("a counter");
    assert!(counter >= 1, "the counter was updated by the login");
    data["cred"]["counter"] = json!(1000);
    t.app
        .db
        .update_credential_data(&stored.id, &data.to_string(), t.clock.now())
        .await
        .unwrap();

    let sessions_before = sessions(&t, &alice.account_id).await;
    let b = browser();
    let resp = passkey_login(&t, &b, &mut alice, None).await;
    refused(&t, resp, StatusCode::UNAUTHORIZED, "err_passkey_sign_count").await;
    let event = audited(&t, "login.failed", "sign_count_regression")
        .await
        .expect("audited");
    assert_eq!(event.account_id.as_deref(), Some(alice.account_id.as_str()));
    assert_eq!(event.detail["credential"], json!(alice.passkey.id));
    assert!(!logged_in(&t, &b).await);
    assert_eq!(sessions(&t, &alice.account_id).await, sessions_before);
}

// --- 5. an expired challenge -------------------------------------------------------------------

#[tokio::test]
async fn an_expired_challenge_is_refused_and_a_fresh_one_offered() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    let b = browser();
    let html = passkey_page(&t, &b, None).await;
    let late = alice.sign(&ceremony_options(&html));
    t.advance(301);
    let resp = answer_page(&b, &html, &[("credential", &late)]).await;
    let html = refused(&t, resp, StatusCode::BAD_REQUEST, "err_passkey_expired").await;
    assert!(!logged_in(&t, &b).await);

    let resp = answer_page(
        &b,
        &html,
        &[("credential", &alice.sign(&ceremony_options(&html)))],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), t.url("/"));
    assert!(logged_in(&t, &b).await);
}

// --- 6. a replayed answer ----------------------------------------------------------------------

/// The cookies a response sets, as a `Cookie` header (name=value; …).
#[tokio::test]
async fn the_same_answer_twice_logs_in_once() {
    let t = spawn_app().await;
    let mut alice = holder(&t, ALICE).await;
    let before = sessions(&t, &alice.account_id).await;

    // One after the other, the flow's cookie kept (a browser that ignores the cleared cookie).
    let page = http().get(t.url("/login/passkey")).send().await.unwrap();
    let cookies = cookies_set(&page);
    assert!(cookies.contains("xacthuc_flow_login="), "{cookies}");
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    let assertion = alice.sign(&ceremony_options(&html));
    let post = || {
        http()
            .post(t.url("/login/passkey"))
            .header("cookie", &cookies)
            .form(&[
                ("csrf", csrf.as_str()),
                ("ar", ""),
                ("credential", assertion.as_str()),
            ])
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert!(cookies_set(&first).contains("xacthuc_session="));
    let second = post().await.unwrap();
    refused(&t, second, StatusCode::BAD_REQUEST, "err_flow_expired").await;
    assert_eq!(sessions(&t, &alice.account_id).await, before + 1);

    // At the same time.
    let page = http().get(t.url("/login/passkey")).send().await.unwrap();
    let cookies = cookies_set(&page);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    let assertion = alice.sign(&ceremony_options(&html));
    let post = || {
        http()
            .post(t.url("/login/passkey"))
            .header("cookie", &cookies)
            .form(&[
                ("csrf", csrf.as_str()),
                ("ar", ""),
                ("credential", assertion.as_str()),
            ])
            .send()
    };
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
    assert_eq!(sessions(&t, &alice.account_id).await, before + 2);
}

// --- 7. portals that accept only phishing-resistant logins -------------------------------------

#[tokio::test]
async fn a_portal_that_requires_phishing_resistance_gets_passkey_logins_only() {
    let t = spawn_app().await;
    let (client_id, secret) = t.add_client(|c| c.require_phishing_resistant = true).await;
    let mut alice = holder(&t, ALICE).await;

    let b = browser();
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    let ar = ar_of(&login_url);
    let html = page_text(&b, &login_url).await;
    assert!(!html.contains("name=\"password\""), "no password form");
    assert!(!html.contains("id=\"login-passkey-for-id\""));
    assert!(html.contains("id=\"login-with-passkey\""));
    assert!(shows(&t, &html, "login_reason_phishing_resistant"));

    // The password form, posted anyway, is refused (the CSRF token from the ceremony page: the
    // login page has no form).
    let csrf = hidden(&passkey_page(&t, &b, Some(&ar)).await, "csrf").expect("csrf");
    let resp = b
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ar", ar.as_str()),
            ("username", ALICE),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!logged_in(&t, &b).await);

    let resp = passkey_login(&t, &b, &mut alice, Some(&ar)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let back = consent(&b, &location(&resp), true).await;
    let code = query(&back).get("code").cloned().expect("a code");
    let (status, tokens) = exchange_code(
        &t,
        &client_id,
        secret.as_deref().unwrap(),
        &code,
        REDIRECT_URI,
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    // Logged in with the password and the SMS code: asked to log in again, with the reason.
    let b = password_login(&t, ALICE).await;
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    assert!(
        login_url.starts_with(&t.url("/login?ar=")),
        "no code: {login_url}"
    );
    let html = page_text(&b, &login_url).await;
    assert!(shows(&t, &html, "login_reason_phishing_resistant"));
    assert!(!html.contains("name=\"password\""));
    // … and the passkey does it.
    let resp = passkey_login(&t, &b, &mut alice, Some(&ar_of(&login_url))).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let next = location(&resp);
    assert!(next.starts_with(REDIRECT_URI), "consent remembered: {next}");
    assert!(query(&next).contains_key("code"));
}

// --- 8. `[login]` configuration ----------------------------------------------------------------

#[tokio::test]
async fn passkeys_off_hides_them_and_their_routes_refuse() {
    let t = spawn_app_with(|c| c.login.methods = vec![Method::Password]).await;
    t.add_account(ALICE, Ial::Ial2).await;
    let b = browser();
    let html = page_text(&b, t.url("/login")).await;
    assert!(html.contains("name=\"password\""));
    assert!(!html.contains("login-with-passkey"));
    assert!(!html.contains("login-passkey-for-id"));
    assert!(!shows(&t, &html, "login_with_passkey"));
    let csrf = hidden(&html, "csrf").unwrap();

    let resp = b.get(t.url("/login/passkey")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b
        .post(t.url("/login/passkey"))
        .form(&[("csrf", csrf.as_str()), ("ar", ""), ("credential", "{}")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ar", ""),
            ("username", ALICE),
            ("method", "passkey"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Nor can one be added.
    let b = password_login(&t, ALICE).await;
    let profile = page_text(&b, t.url("/profile")).await;
    assert!(!profile.contains("/profile/credentials/passkey"));
    let resp = start_enrolment(&t, &b, "Laptop").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn passkeys_only_has_no_password_form() {
    let t = spawn_app_with(|c| c.login.methods = vec![Method::Passkey]).await;
    t.add_account(ALICE, Ial::Ial2).await;
    let b = browser();
    let html = page_text(&b, t.url("/login")).await;
    assert!(!html.contains("name=\"password\""));
    assert!(html.contains("id=\"login-with-passkey\""));
    // The login page has no form here; the ceremony page carries the browser's CSRF token.
    let csrf = hidden(&passkey_page(&t, &b, None).await, "csrf").unwrap();
    let resp = b
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ar", ""),
            ("username", ALICE),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!logged_in(&t, &b).await);
    // The password method's own route sends to the login page, which has no form for it.
    let resp = b.get(t.url("/login/password")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_password_without_following_steps_logs_in_with_pwd_alone() {
    let t = spawn_app_with(|c| {
        c.login.then.insert(Method::Password, vec![]);
    })
    .await;
    t.add_account(ALICE, Ial::Ial2).await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let b = browser();
    let login_page = t.url("/login");
    let home = login(&t, &b, &login_page, ALICE, PASSWORD).await;
    assert_eq!(home, t.url("/"), "no SMS step");
    let tokens = tokens_for(&t, &client_id, secret.as_deref().unwrap(), ALICE).await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["amr"], json!(["pwd"]));
}

// --- 9. why the login page asks again ----------------------------------------------------------

#[tokio::test]
async fn the_login_page_says_why_it_asks_again() {
    let t = spawn_app().await;
    t.add_account(ALICE, Ial::Ial2).await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let b = password_login(&t, ALICE).await;
    let (_, challenge) = pkce();

    let html = page_text(&b, t.url("/login")).await;
    assert!(
        !html.contains("id=\"login-reason\""),
        "no portal, no reason"
    );

    let resp = b
        .get(authorize_url(
            &t,
            &client_id,
            &challenge,
            &[("prompt", "login")],
        ))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    assert!(login_url.starts_with(&t.url("/login?ar=")), "{login_url}");
    let html = page_text(&b, &login_url).await;
    assert!(shows(&t, &html, "login_reason_prompt_login"));

    t.advance(2);
    let resp = b
        .get(authorize_url(
            &t,
            &client_id,
            &challenge,
            &[("max_age", "0")],
        ))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    assert!(login_url.starts_with(&t.url("/login?ar=")), "{login_url}");
    let html = page_text(&b, &login_url).await;
    assert!(shows(&t, &html, "login_reason_max_age"));
    assert!(!shows(&t, &html, "login_reason_prompt_login"));

    // A browser without a session is just asked to log in.
    let fresh = browser();
    let resp = fresh
        .get(authorize_url(
            &t,
            &client_id,
            &challenge,
            &[("max_age", "0")],
        ))
        .send()
        .await
        .unwrap();
    let html = page_text(&fresh, location(&resp)).await;
    assert!(!html.contains("id=\"login-reason\""));
}
