//! Passkeys in real headless Chromium: the W3C WebAuthn WebDriver extension gives the browser
//! a virtual platform authenticator (CTAP2, internal transport, resident keys, user
//! verification, always consenting; not backup-eligible), so the theme's `passkey.js` runs the
//! real `navigator.credentials` ceremonies. Skipped like the other browser tests when
//! chromedriver is absent (failing instead under `XACTHUC_BROWSER=1`).
//!
//! Cookies are per host, not per port: every test server is `http://localhost:{port}`, so a
//! second listener of the same app (another origin) sees the same cookies.

use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};
use xacthuc::domain::Ial;

use crate::browser::{Browser, enter_otp};
use crate::helpers::*;

const ID_NUMBER: &str = "001090012345";
const LABEL: &str = "Điện thoại của An";

/// One command of the WebAuthn WebDriver extension: `{method} /session/{id}/webauthn/{path}`.
#[derive(Debug)]
struct WebAuthnCmd {
    method: axum::http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for WebAuthnCmd {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let sid = session_id.ok_or(url::ParseError::EmptyHost)?;
        base_url.join(&format!("session/{sid}/webauthn/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

/// A virtual authenticator attached to the browser session (it outlives navigations and
/// cleared cookies, like a phone's platform authenticator).
struct VirtualAuthenticator {
    id: String,
}

impl VirtualAuthenticator {
    async fn attach(client: &Client) -> Self {
        let id = client
            .issue_cmd(WebAuthnCmd {
                method: axum::http::Method::POST,
                path: "authenticator".into(),
                body: Some(json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                })),
            })
            .await
            .expect("virtual authenticator (WebAuthn WebDriver extension)");
        Self {
            id: id.as_str().expect("authenticator id").to_string(),
        }
    }

    /// The credentials the authenticator holds.
    async fn credentials(&self, client: &Client) -> Vec<Value> {
        let listed = client
            .issue_cmd(WebAuthnCmd {
                method: axum::http::Method::GET,
                path: format!("authenticator/{}/credentials", self.id),
                body: None,
            })
            .await
            .expect("credentials");
        listed.as_array().cloned().unwrap_or_default()
    }
}

/// A theme string as the user reads it (Vietnamese, the default).
fn vi(key: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/themes/default/strings/vi.toml"
    );
    let strings: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    strings[key].as_str().expect(key).to_string()
}

/// A browser with a virtual authenticator, or `None` when browser tests are skipped.
async fn open() -> Option<(Browser, VirtualAuthenticator)> {
    let b = Browser::open().await?;
    let authenticator = VirtualAuthenticator::attach(&b.client).await;
    Some((b, authenticator))
}

/// The citizen logs in with the ID number, the password and the SMS code.
async fn password_login(b: &Browser, t: &TestApp) {
    b.goto(&t.url("/login")).await;
    b.fill("username", ID_NUMBER).await;
    b.fill("password", PASSWORD).await;
    b.submit().await;
    enter_otp(b, t, PHONE_E164).await;
    assert!(b.text().await.contains("Nguyễn Văn An"), "logged in");
}

/// In "Thông tin cá nhân": re-authenticates (the password, then the SMS code), names a new
/// passkey, and lets the authenticator create it.
async fn add_passkey(b: &Browser, t: &TestApp) {
    b.goto(&t.url("/profile")).await;
    b.click("#reauth-link").await;
    b.fill("current_password", PASSWORD).await;
    b.submit().await;
    enter_otp(b, t, PHONE_E164).await;
    assert!(
        b.url().await.ends_with("/profile?notice=reauth_done"),
        "back in the profile: {}",
        b.url().await
    );
    b.fill("label", LABEL).await;
    b.click("#add-passkey").await;
    assert!(
        b.text().await.contains(LABEL),
        "the ceremony page names the passkey"
    );
    b.click("#passkey-start").await;
    assert!(
        b.url().await.ends_with("/profile?notice=credential_added"),
        "back in the profile: {}",
        b.url().await
    );
}

/// A citizen with one passkey (added through the profile), logged out again.
async fn citizen_with_passkey(b: &Browser, t: &TestApp) -> String {
    let sub = t.add_account(ID_NUMBER, Ial::Ial2).await;
    password_login(b, t).await;
    add_passkey(b, t).await;
    log_out(b, t).await;
    sub
}

/// A fresh browser state for the same device: no cookies, same authenticator.
async fn log_out(b: &Browser, t: &TestApp) {
    b.goto(&t.url("/login")).await;
    b.client.delete_all_cookies().await.expect("clear cookies");
}

/// From the login page to the passkey ceremony page ("Đăng nhập bằng passkey").
async fn open_passkey_login(b: &Browser, t: &TestApp) {
    b.goto(&t.url("/login")).await;
    b.click("#login-with-passkey").await;
    assert!(
        b.url().await.contains("/login/passkey"),
        "{}",
        b.url().await
    );
}

/// Runs the ceremony for the challenge on the page without posting it: the assertion JSON.
async fn capture_assertion(b: &Browser) -> String {
    let out = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const f = document.getElementById('passkey-form');
             window.xacthucPasskey.get(JSON.parse(f.getAttribute('data-options')))
               .then(done, e => done('ERR:' + e.name));",
            vec![],
        )
        .await
        .expect("ceremony script");
    let json = out.as_str().expect("a string").to_string();
    assert!(
        !json.starts_with("ERR:"),
        "the authenticator refused: {json}"
    );
    json
}

/// Posts `assertion` with the ceremony page's form, as the page's script would.
async fn post_assertion(b: &Browser, assertion: &str) {
    b.execute_navigating(
        "const f = document.getElementById('passkey-form');
         const i = document.createElement('input');
         i.type = 'hidden'; i.name = 'credential'; i.value = arguments[0];
         f.appendChild(i);
         f.submit();",
        vec![json!(assertion)],
    )
    .await;
}

/// The `detail.reason` of every `login.failed` of the passkey method, oldest first.
async fn passkey_refusals(t: &TestApp) -> Vec<String> {
    let mut reasons: Vec<String> = t
        .app
        .db
        .audit_events(500)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "login.failed" && e.detail["method"] == "passkey")
        .map(|e| e.detail["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    reasons.reverse();
    reasons
}

/// The account and `detail` of every passkey `login.succeeded`, oldest first.
async fn passkey_logins(t: &TestApp) -> Vec<(Option<String>, Value)> {
    let mut logins: Vec<(Option<String>, Value)> = t
        .app
        .db
        .audit_events(500)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "login.succeeded" && e.detail["method"] == "passkey")
        .map(|e| (e.account_id, e.detail))
        .collect();
    logins.reverse();
    logins
}

#[tokio::test]
async fn a_citizen_adds_a_passkey_logs_in_to_a_portal_with_it_then_removes_it() {
    let Some((b, authenticator)) = open().await else {
        return;
    };
    let t = spawn_app().await;
    let sub = t.add_account(ID_NUMBER, Ial::Ial2).await;

    // Password + SMS, then "Thông tin cá nhân" → re-authenticate, add a passkey (a name).
    password_login(&b, &t).await;
    b.goto(&t.url("/profile")).await;
    assert!(b.text().await.contains(&vi("credential_passkey_empty")));
    add_passkey(&b, &t).await;
    let page = b.text().await;
    assert!(page.contains(&vi("credential_added")), "{page}");
    assert!(page.contains(LABEL), "listed by its name: {page}");
    assert!(
        page.contains(&vi("profile_credential_never_used")),
        "{page}"
    );
    let held = authenticator.credentials(&b.client).await;
    assert_eq!(held.len(), 1, "the device holds the passkey");
    assert_eq!(
        held[0]["isResidentCredential"], true,
        "discoverable: no ID number needed to use it"
    );

    // Same device, no session: the demo portal → "Đăng nhập bằng passkey", no ID number typed.
    log_out(&b, &t).await;
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    assert!(b.url().await.contains("/login?ar="), "{}", b.url().await);
    let link = b.text().await;
    assert!(link.contains(&vi("login_with_passkey")), "{link}");
    b.click("#login-with-passkey").await;
    b.click("#passkey-start").await;
    assert!(b.url().await.contains("/consent"), "consent asked");
    b.submit().await;
    let portal = b.text().await;
    assert!(
        b.url().await.starts_with(&t.url("/sandbox/demo-portal")),
        "back at the portal"
    );
    assert!(portal.contains(ID_NUMBER), "the portal knows who: {portal}");
    assert!(
        portal.contains("\"hwk\"") && portal.contains("\"user\""),
        "amr of a device-bound passkey in the ID token: {portal}"
    );
    assert!(
        !portal.contains("\"swk\""),
        "not a synced passkey: {portal}"
    );
    let logins = passkey_logins(&t).await;
    assert_eq!(logins.len(), 1);
    let (account, detail) = &logins[0];
    assert_eq!(account.as_deref(), Some(sub.as_str()));
    let amr = detail["amr"].as_array().unwrap();
    assert!(
        amr.contains(&json!("hwk")) && amr.contains(&json!("user")),
        "{amr:?}"
    );
    assert_eq!(detail["credential"]["kind"], "passkey");

    // The profile shows when it was last used.
    b.goto(&t.url("/profile")).await;
    let page = b.text().await;
    assert!(page.contains(&vi("profile_credential_last_used")), "{page}");
    assert!(
        !page.contains(&vi("profile_credential_never_used")),
        "{page}"
    );

    // Removing it needs a fresh re-authentication of this session: the page offers the
    // passkey next to the password, and the device answers the ceremony.
    b.click("#reauth-link").await;
    b.click("#passkey-start").await;
    assert!(
        b.url().await.ends_with("/profile?notice=reauth_done"),
        "re-authenticated with the passkey: {}",
        b.url().await
    );

    // Removed in the profile: the device still offers it, the server no longer knows it.
    b.click("form[action='/profile/credentials/remove'] button")
        .await;
    let page = b.text().await;
    assert!(page.contains(&vi("credential_removed")), "{page}");
    assert!(page.contains(&vi("credential_passkey_empty")), "{page}");
    assert!(!page.contains(LABEL));
    log_out(&b, &t).await;
    open_passkey_login(&b, &t).await;
    b.click("#passkey-start").await;
    let page = b.text().await;
    assert!(page.contains(&vi("err_passkey_unknown")), "{page}");
    assert!(!b.logged_in(&t).await, "refused means no session");
    assert_eq!(passkey_refusals(&t).await, ["unknown_credential"]);
    assert_eq!(passkey_logins(&t).await.len(), 1);
    b.close().await;
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let Some((b, _authenticator)) = open().await else {
        return;
    };
    let t = spawn_app().await;
    citizen_with_passkey(&b, &t).await;

    // A signed assertion, captured on its way to the server (say, by a malicious extension).
    open_passkey_login(&b, &t).await;
    let assertion = capture_assertion(&b).await;
    post_assertion(&b, &assertion).await;
    assert!(
        b.text().await.contains("Nguyễn Văn An"),
        "the first use logs in"
    );
    assert_eq!(passkey_logins(&t).await.len(), 1);

    // Replayed into a new login (the first one is finished, so it answers no challenge there).
    log_out(&b, &t).await;
    open_passkey_login(&b, &t).await;
    post_assertion(&b, &assertion).await;
    let page = b.text().await;
    assert!(page.contains(&vi("err_passkey_challenge")), "{page}");
    assert!(
        b.client
            .find(fantoccini::Locator::Css("#passkey-start"))
            .await
            .is_ok(),
        "the user may try again"
    );
    assert!(!b.logged_in(&t).await, "replay gives no session");
    // The new login's challenge is fresh; the assertion signs the old one.
    assert_eq!(passkey_refusals(&t).await, ["wrong_challenge"]);
    assert_eq!(passkey_logins(&t).await.len(), 1);
    b.close().await;
}

#[tokio::test]
async fn an_assertion_for_another_login_is_refused() {
    let Some((b, _authenticator)) = open().await else {
        return;
    };
    let t = spawn_app().await;
    citizen_with_passkey(&b, &t).await;

    // Login A: the authenticator signs A's challenge; nothing is posted.
    open_passkey_login(&b, &t).await;
    let for_a = capture_assertion(&b).await;
    // Login B in the same browser: the flow cookie now names B.
    open_passkey_login(&b, &t).await;
    post_assertion(&b, &for_a).await;
    let page = b.text().await;
    assert!(page.contains(&vi("err_passkey_challenge")), "{page}");
    assert_eq!(passkey_refusals(&t).await, ["wrong_challenge"]);
    assert!(passkey_logins(&t).await.is_empty());

    // The refusal handed out a fresh challenge: the real ceremony now works.
    b.click("#passkey-start").await;
    assert!(b.text().await.contains("Nguyễn Văn An"), "logged in");
    assert!(b.logged_in(&t).await);
    assert_eq!(passkey_logins(&t).await.len(), 1);
    b.close().await;
}

#[tokio::test]
async fn an_assertion_made_on_another_origin_is_refused() {
    let Some((b, _authenticator)) = open().await else {
        return;
    };
    let t = spawn_app().await;
    citizen_with_passkey(&b, &t).await;

    // The same app on a second port: another origin with the same RP ID (`localhost`), as a
    // look-alike site relaying our challenges would be. Its login flow is ours (same store).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    tokio::spawn(xacthuc::http::serve(
        t.app.clone(),
        listener,
        std::future::pending(),
    ));

    // The ceremony runs on the other origin, so the browser signs that origin into the
    // assertion. The page's form posts to the main origin (`server.public_url`), which CSP
    // `form-action 'self'` forbids from there; the form is pointed at its own origin instead.
    // The server is the same app with the same flow (cookies ignore the port): the challenge
    // is right, the credential is known, only the origin is wrong.
    b.goto(&format!("{other}/login/passkey")).await;
    b.client
        .execute(
            "document.getElementById('passkey-form').action = '/login/passkey';",
            vec![],
        )
        .await
        .unwrap();
    b.click("#passkey-start").await;
    assert!(b.url().await.starts_with(&other), "{}", b.url().await);
    let page = b.text().await;
    assert!(page.contains(&vi("err_passkey_origin")), "{page}");
    assert!(!b.logged_in(&t).await, "no session");
    assert_eq!(passkey_refusals(&t).await, ["wrong_origin"]);
    assert!(passkey_logins(&t).await.is_empty());
    b.close().await;
}
