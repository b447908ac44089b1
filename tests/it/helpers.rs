//! Test harness: `spawn_app()` and a browser-like HTTP client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use xacthuc::app::App;
use xacthuc::cli::ClientAdd;
use xacthuc::clock::Clock;
use xacthuc::config::{Config, StoreBackend};
use xacthuc::domain::{Ial, SubjectType};
use xacthuc::store::NewAccount;

use crate::browser::Browser;

pub const PASSWORD: &str = "Aa@123456";

pub struct TestApp {
    pub app: App,
    pub base: String,
    pub clock: Clock,
    /// A sandbox of its own process (many nodes share one), or `None`: this node's own
    /// `/sandbox`.
    pub sandbox: Option<String>,
    pub _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    xacthuc::app::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    // A domain name, not an IP address: WebAuthn (passkeys) refuses IP origins.
    let port = listener.local_addr().expect("addr").port();
    let base = format!("http://localhost:{port}");

    let mut config = Config::default();
    config.server.public_url = base.clone();
    config.database.url = database_url(&dir).await;
    config.database.max_connections = 5;
    if let Ok(url) = std::env::var("REDIS_URL")
        && !url.is_empty()
    {
        config.store.backend = StoreBackend::Redis;
        config.store.redis_url = url;
        config.store.key_prefix = format!("test:{}:", uuid::Uuid::new_v4());
    }
    config.keys.encryption_key = Some(xacthuc::keys::KeyEncryptionKey::generate_base64());
    // Each test its own sandbox CAs (made at start, kept in the test's directory).
    config.sandbox.pki_dir = dir.path().join("sandbox-pki");
    config.theme.dir = concat!(env!("CARGO_MANIFEST_DIR"), "/themes/default").into();
    // Cheap hashes keep the suite fast; production parameters are tested by config defaults.
    config.passwords.argon2_memory_kib = 1024;
    config.passwords.argon2_iterations = 1;
    // Tests log the same sandbox phone in many times, all from 127.0.0.1; the SMS budgets have
    // their own tests.
    let budgets = &mut config.otp.per_phone_per_hour;
    budgets.login = 1000;
    budgets.registration = 1000;
    budgets.recovery = 1000;
    budgets.profile = 1000;
    config.otp.max_per_account_per_hour = 1000;
    config.otp.max_per_ip_per_hour = 1000;
    tweak(&mut config);

    let clock = Clock::system();
    let app = App::build(config, clock.clone()).await.expect("app builds");
    xacthuc::sandbox::demo_portal::register(&app)
        .await
        .expect("demo portal");
    let served = app.clone();
    tokio::spawn(async move {
        let _ = xacthuc::http::serve(served, listener, std::future::pending()).await;
    });
    TestApp {
        app,
        base,
        clock,
        sandbox: None,
        _dir: dir,
    }
}

/// A fresh database for one test: a SQLite file, or a new PostgreSQL database on the server
/// named by DATABASE_URL.
pub async fn database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            use sea_orm::ConnectionTrait;
            let name = format!("xt_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&url)
                .await
                .expect("postgres reachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (server, _) = url.rsplit_once('/').expect("DATABASE_URL has a database");
            format!("{server}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A URL of the sandbox the server talks to (its own `/sandbox`, or a shared one).
    pub fn sandbox_url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.as_deref().unwrap_or(&self.base))
    }

    /// A confidential client (client_secret_basic) with a redirect URI on a port nobody
    /// listens on; returns (client_id, secret).
    pub async fn add_client(&self, tweak: impl FnOnce(&mut ClientAdd)) -> (String, Option<String>) {
        let mut add = client_add();
        tweak(&mut add);
        let (client, secret) =
            xacthuc::cli::new_client(&self.app.config, add).expect("valid client");
        self.app
            .db
            .insert_client(&client, self.clock.now())
            .await
            .expect("insert client");
        (client.client_id, secret)
    }

    /// The stored account of `id_number`, which the test made earlier.
    pub async fn account_by_id_number(&self, id_number: &str) -> xacthuc::domain::Account {
        self.app
            .db
            .find_account_by_id_number(id_number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no account of {id_number}"))
    }

    /// A citizen account with password [`PASSWORD`] and the sandbox phone [`PHONE_E164`];
    /// returns its `sub`.
    pub async fn add_account(&self, id_number: &str, ial: Ial) -> String {
        self.add_account_with_phones(id_number, ial, &[PHONE_E164])
            .await
    }

    /// A citizen account with password [`PASSWORD`] and these verified phones (the first is
    /// the default); returns its `sub`.
    pub async fn add_account_with_phones(
        &self,
        id_number: &str,
        ial: Ial,
        phones: &[&str],
    ) -> String {
        let hash =
            xacthuc::authenticators::password::hash(&self.app.config.passwords, PASSWORD).unwrap();
        let account = self
            .app
            .db
            .create_account(
                &NewAccount {
                    subject_type: SubjectType::Citizen,
                    id_number: Some(id_number.into()),
                    tax_code: None,
                    full_name: "Nguyễn Văn An".into(),
                    birthdate: chrono::NaiveDate::from_ymd_opt(1990, 6, 12),
                    email: Some("an@example.vn".into()),
                    ial,
                    registration_method: "test".into(),
                    phones: phones.iter().map(|p| p.to_string()).collect(),
                    password_hash: Some(hash),
                },
                self.clock.now(),
            )
            .await
            .expect("account");
        account.id
    }

    /// What login and registration methods use, as for a request in Vietnamese.
    pub fn ctx(&self) -> xacthuc::authenticators::Ctx<'_> {
        self.app.ctx("vi", "127.0.0.1")
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// The same deployment reached at `base`: another node (another process) on this app's
    /// database, which the helpers then talk to.
    pub fn elsewhere(&self, base: &str) -> TestApp {
        TestApp {
            app: self.app.clone(),
            base: base.to_string(),
            clock: self.clock.clone(),
            sandbox: self.sandbox.clone(),
            _dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A second node of the same deployment: the same configuration (issuer, database,
    /// key-encryption key), the same clock and the same ephemeral store (this app's, so an
    /// in-memory store is shared too, as two servers share one Redis), listening on its own
    /// port (`base`).
    pub async fn second_node(&self) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let app = App::build_sharing(
            self.app.config.clone(),
            self.clock.clone(),
            self.app.store.clone(),
        )
        .await
        .expect("second node builds");
        let served = app.clone();
        tokio::spawn(async move {
            let _ = xacthuc::http::serve(served, listener, std::future::pending()).await;
        });
        TestApp {
            app,
            base,
            clock: self.clock.clone(),
            sandbox: self.sandbox.clone(),
            _dir: tempfile::tempdir().expect("tempdir"),
        }
    }
}

/// The registration `TestApp::add_client` starts from: a confidential client
/// (client_secret_basic) with redirect URIs on a port nobody listens on.
pub fn client_add() -> ClientAdd {
    ClientAdd {
        name: "Cổng dịch vụ công tỉnh Khánh Hòa".into(),
        redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
        post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
        backchannel_logout_uri: None,
        public: false,
        jwks_file: None,
        skip_consent: false,
        min_acr: None,
        id_token_alg: None,
        require_phishing_resistant: false,
        omit_iss_in_errors: false,
        grants: vec![],
        scopes: vec![],
        client_id: None,
        subject_type: "public".into(),
        sector_identifier_uri: None,
    }
}

/// A configuration that production mode accepts, but for what a test changes: https issuer,
/// the sandbox off, real connector URLs.
pub fn production_config() -> Config {
    let mut config = Config::default();
    config.server.mode = xacthuc::config::Mode::Production;
    config.server.public_url = "https://id.example.gov.vn".into();
    config.sandbox.enabled = false;
    config.connectors.carrier_url = "https://carrier.example.vn".into();
    config.connectors.sms_url = "https://sms.example.vn".into();
    config.connectors.bhxh_url = "https://bhxh.example.vn".into();
    config.connectors.mail_url = "https://mail.example.vn".into();
    config.connectors.mobile_signature_url = "https://mssp.example.vn".into();
    config.connectors.remote_signature_url = "https://csc.example.vn/csc/v2".into();
    // Named, not read: the production tests are refused (or stop) before the PKI loads them.
    config.pki.public_anchors = vec!["/etc/xacthuc/public-anchors.pem".into()];
    config.pki.government_anchors = vec!["/etc/xacthuc/government-anchors.pem".into()];
    config.federation.upstreams[0].discovery_url =
        "https://vneid.example.vn/.well-known/openid-configuration".into();
    config
}

/// A browser: keeps cookies, does not follow redirects (tests look at each hop).
pub fn browser() -> reqwest::Client {
    xacthuc::app::install_crypto_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser whose cookie jar the test can also write to (to plant a cookie, as an attacker
/// on a sibling subdomain could on plain http).
pub fn browser_with_jar() -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>) {
    xacthuc::app::install_crypto_provider();
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// A plain HTTP client for back-channel calls.
pub fn http() -> reqwest::Client {
    xacthuc::app::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The page at `url`, as text.
pub async fn page_text(b: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    b.get(url).send().await.unwrap().text().await.unwrap()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// The value of hidden input `name` in an HTML page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&#x3D;", "="))
}

pub fn pkce() -> (String, String) {
    let verifier = xacthuc::random::token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Follows an authorization URL through login (and consent, approving) as a user would,
/// returning the final redirect to the client (its Location).
pub async fn authorize_as(
    t: &TestApp,
    b: &reqwest::Client,
    authorize_url: &str,
    id_number: &str,
) -> String {
    let resp = b.get(authorize_url).send().await.unwrap();
    let mut loc = location(&resp);
    if loc.contains("/login?") {
        loc = login(t, b, &loc, id_number, PASSWORD).await;
    }
    if loc.contains("/consent?") {
        loc = consent(b, &loc, true).await;
    }
    loc
}

/// The login form at `login_url`, filled in: its `csrf` and `ar`, the ID number and password.
pub async fn login_form(
    b: &reqwest::Client,
    login_url: &str,
    id_number: &str,
    password: &str,
) -> Vec<(&'static str, String)> {
    let page = b.get(login_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    vec![
        ("csrf", hidden(&html, "csrf").expect("csrf field")),
        ("ar", hidden(&html, "ar").expect("ar field")),
        ("username", id_number.to_string()),
        ("password", password.to_string()),
    ]
}

/// Submits the login form at `login_url`; returns the redirect that follows.
pub async fn login(
    t: &TestApp,
    b: &reqwest::Client,
    login_url: &str,
    id_number: &str,
    password: &str,
) -> String {
    let form = login_form(b, login_url, id_number, password).await;
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert!(
        resp.status().is_redirection(),
        "login refused: {}",
        resp.status()
    );
    let next = location(&resp);
    if next.ends_with("/login/otp") {
        return submit_otp(t, b, &next, PHONE_E164).await;
    }
    next
}

/// Re-authenticates the logged-in browser `b` in "Thông tin cá nhân" with the password, then
/// the SMS code to `phone`, as a change of a phone, the email, the password or a passkey needs;
/// returns where the browser is sent back to.
pub async fn reauthenticate(t: &TestApp, b: &reqwest::Client, phone: &str) -> String {
    let page = b.get(t.url("/profile/reauth")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf").expect("csrf");
    let resp = b
        .post(t.url("/profile/reauth"))
        .form(&[("csrf", csrf.as_str()), ("current_password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&resp),
        t.url("/profile/reauth/otp"),
        "password refused: {}",
        resp.status()
    );
    submit_otp(t, b, &t.url("/profile/reauth/otp"), phone).await
}

/// The sandbox phone of accounts made by [`TestApp::add_account`].
pub const PHONE_E164: &str = "+84823628899";

/// The code in the newest SMS to `phone`, read from the sandbox outbox (⚓ contract).
pub async fn latest_otp(t: &TestApp, phone: &str) -> String {
    let texts = sms_texts(t, phone).await;
    let text = texts.last().expect("an SMS was sent");
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("6-digit code")
        .to_string()
}

/// The answer of captcha `id`, read through the sandbox (⚓ contract), as a person would read
/// the picture.
pub async fn captcha_answer(t: &TestApp, id: &str) -> String {
    if t.sandbox.is_some() {
        // A shared sandbox of its own process does not hold the servers' captchas: they live
        // in the deployment's store, where the sandbox route would read them.
        return xacthuc::authenticators::captcha::peek_answer(t.app.store.as_ref(), id)
            .await
            .unwrap()
            .expect("a live captcha");
    }
    let answer: serde_json::Value = http()
        .get(t.url(&format!("/sandbox/captcha/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["answer"]
        .as_str()
        .expect("a live captcha")
        .to_string()
}

/// Answers the OTP screen at `otp_url` with the code just sent to `phone`.
pub async fn submit_otp(t: &TestApp, b: &reqwest::Client, otp_url: &str, phone: &str) -> String {
    let page = b.get(otp_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf").expect("csrf");
    let code = latest_otp(t, phone).await;
    let resp = b
        .post(otp_url)
        .form(&[("csrf", csrf.as_str()), ("otp", code.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_redirection(),
        "OTP refused: {}",
        resp.status()
    );
    location(&resp)
}

/// Answers the consent page at `consent_url`.
pub async fn consent(b: &reqwest::Client, consent_url: &str, allow: bool) -> String {
    let page = b.get(consent_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf").expect("csrf");
    let ar = hidden(&html, "ar").expect("ar");
    let base = consent_url.split("/consent").next().unwrap();
    let decision = if allow { "allow" } else { "deny" };
    let resp = b
        .post(format!("{base}/consent"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ar", ar.as_str()),
            ("decision", decision),
            ("remember", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection() || resp.status() == StatusCode::OK);
    location(&resp)
}

/// A plain authorization URL for a confidential client with PKCE.
pub fn authorize_url(
    t: &TestApp,
    client_id: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    authorize_with(
        t,
        client_id,
        challenge,
        "openid profile phone id_number",
        extra,
    )
}

/// POSTs to the token endpoint with Basic auth; returns (status, JSON body).
pub async fn token_request(
    t: &TestApp,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let resp = http()
        .post(t.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or_default())
}

/// Redeems `code` at the token endpoint (Basic auth).
pub async fn exchange_code(
    t: &TestApp,
    client_id: &str,
    secret: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (StatusCode, serde_json::Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    token_request(t, client_id, secret, &form).await
}

/// Introspects `token` as client `id` (RFC 7662, Basic auth); the answer must be 200.
pub async fn introspect(t: &TestApp, id: &str, secret: &str, token: &str) -> serde_json::Value {
    let resp = http()
        .post(t.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// Uses a refresh token (Basic auth).
pub async fn refresh(
    t: &TestApp,
    client_id: &str,
    secret: &str,
    token: &str,
) -> (StatusCode, serde_json::Value) {
    token_request(
        t,
        client_id,
        secret,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// Runs a full login for a confidential client and returns the token response.
pub async fn tokens_for(
    t: &TestApp,
    client_id: &str,
    secret: &str,
    id_number: &str,
) -> serde_json::Value {
    let (verifier, challenge) = pkce();
    let b = browser();
    let loc = authorize_as(
        t,
        &b,
        &authorize_url(t, client_id, &challenge, &[]),
        id_number,
    )
    .await;
    let code = query(&loc).get("code").cloned().expect("code in redirect");
    let (status, body) = exchange_code(
        t,
        client_id,
        secret,
        &code,
        "http://127.0.0.1:9/callback",
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// What a portal does with the redirect `back` that carries its code: redeems the code (with
/// the PKCE verifier, at the test redirect URI) and expects tokens.
pub async fn redeem(
    t: &TestApp,
    back: &str,
    client_id: &str,
    secret: &str,
    verifier: &str,
) -> serde_json::Value {
    let code = query(back)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {back}"));
    let (status, tokens) = exchange_code(
        t,
        client_id,
        secret,
        &code,
        "http://127.0.0.1:9/callback",
        verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// Fills and submits a form with a captcha (registration, recovery) as a user would: the captcha
/// read through the sandbox.
pub async fn submit_registration(
    t: &TestApp,
    b: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = page_text(b, t.url(path)).await;
    let csrf = hidden(&html, "csrf").expect("csrf");
    let captcha_id = hidden(&html, "captcha_id").expect("captcha_id");
    let answer = captcha_answer(t, &captcha_id).await;
    let mut form: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("captcha_id", &captcha_id),
        ("captcha", &answer),
    ];
    form.extend_from_slice(fields);
    b.post(t.url(path)).form(&form).send().await.unwrap()
}

/// Submits a form found at `page_url` (its csrf), with `fields`.
pub async fn post_on(
    t: &TestApp,
    b: &reqwest::Client,
    page_url: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = page_text(b, page_url).await;
    let csrf = hidden(&html, "csrf").expect("csrf");
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    form.extend_from_slice(fields);
    b.post(t.url(action)).form(&form).send().await.unwrap()
}

/// A relying party's back-channel logout endpoint: collects the logout tokens it receives.
/// Returns its URL and the tokens received so far.
pub async fn logout_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                let token = form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                sink.lock().unwrap().push(token);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, received)
}

/// The first `n` logout tokens a [`logout_receiver`] got. Deliveries run in the background over
/// real HTTP, so this waits for them (up to 2 s).
pub async fn delivered(received: &Arc<Mutex<Vec<String>>>, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let got = received.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} back-channel logout token(s) expected");
}

/// The messages of a sandbox outbox (`sms` or `mail`), oldest first: all of them, or those
/// sent `to` one phone or address.
pub async fn outbox(t: &TestApp, gateway: &str, to: Option<&str>) -> Vec<serde_json::Value> {
    let query = to
        .map(|to| {
            format!(
                "?to={}",
                form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default();
    let messages: serde_json::Value = http()
        .get(t.sandbox_url(&format!("/sandbox/{gateway}/outbox{query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    messages.as_array().expect("a JSON array").clone()
}

/// The texts of the SMS sent to `phone` (sandbox outbox, ⚓ contract), oldest first.
pub async fn sms_texts(t: &TestApp, phone: &str) -> Vec<String> {
    outbox(t, "sms", Some(phone))
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

/// The emails sent to `address` (sandbox mail outbox), oldest first.
pub async fn mails_to(t: &TestApp, address: &str) -> Vec<serde_json::Value> {
    outbox(t, "mail", Some(address)).await
}

impl TestApp {
    /// Makes every later audit write fail (the table is renamed away), on either database.
    pub async fn break_audit_log(&self) {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(&self.app.config.database.url)
            .await
            .expect("database reachable");
        conn.execute_unprepared("ALTER TABLE audit_events RENAME TO audit_events_off")
            .await
            .expect("rename");
        conn.close().await.ok();
    }
}

/// A push signature login (SIM ký số, Chữ ký số cá nhân) in progress in a test browser.
pub struct PushLogin {
    pub b: reqwest::Client,
    /// `sim_signature` or `remote_signature`.
    pub method: &'static str,
    /// The pending authorization request, when a portal asked.
    pub ar: String,
    /// The page last shown.
    pub html: String,
}

impl PushLogin {
    /// Opens the method's page in a new browser, without a portal.
    pub async fn open(t: &TestApp, method: &'static str) -> Self {
        Self::open_in(t, method, browser(), None).await
    }

    /// Opens the method's page in browser `b` for the pending request behind `login_url`.
    pub async fn open_in(
        t: &TestApp,
        method: &'static str,
        b: reqwest::Client,
        login_url: Option<&str>,
    ) -> Self {
        let ar = login_url
            .and_then(|u| query(u).get("ar").cloned())
            .unwrap_or_default();
        let resp = b
            .get(t.url(&format!("/login/{method}?ar={ar}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        Self {
            b,
            method,
            ar,
            html,
        }
    }

    /// Posts the method's form (its csrf and `ar`) with `fields`.
    pub async fn post(&mut self, t: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = hidden(&self.html, "csrf").expect("csrf on the page");
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf), ("ar", &self.ar)];
        form.extend_from_slice(fields);
        self.b
            .post(t.url(&format!("/login/{}", self.method)))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts the form and keeps the page shown (for the next post); returns its status.
    pub async fn post_page(&mut self, t: &TestApp, fields: &[(&str, &str)]) -> StatusCode {
        let resp = self.post(t, fields).await;
        let status = resp.status();
        self.html = resp.text().await.unwrap();
        status
    }

    /// The code the page shows.
    pub fn display_code(&self) -> Option<String> {
        let marker = "id=\"push-code\">";
        let start = self.html.find(marker)? + marker.len();
        Some(self.html[start..start + 4].to_string())
    }

    /// What the poll URL answers.
    pub async fn poll(&self, t: &TestApp) -> serde_json::Value {
        let resp = self
            .b
            .get(t.url(&format!("/login/{}/poll", self.method)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }
}

/// The outstanding requests of a sandbox signing provider (`mssp` or `csc`) for `holder`.
pub async fn pending_signatures(
    t: &TestApp,
    provider: &str,
    holder: &str,
) -> Vec<serde_json::Value> {
    pending_signatures_at(&t.base, provider, holder).await
}

/// [`pending_signatures`] of the sandbox at `base` (a standalone `xacthuc sandbox`).
pub async fn pending_signatures_at(
    base: &str,
    provider: &str,
    holder: &str,
) -> Vec<serde_json::Value> {
    let holder: String = form_urlencoded::byte_serialize(holder.as_bytes()).collect();
    let list: serde_json::Value = http()
        .get(format!("{base}/sandbox/{provider}/pending?holder={holder}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().expect("a JSON array").clone()
}

/// The holder answers a sandbox signature request: approves with `pin`, or rejects (`None`).
pub async fn answer_signature(
    t: &TestApp,
    provider: &str,
    id: &str,
    pin: Option<&str>,
) -> StatusCode {
    answer_signature_at(&t.base, provider, id, pin).await
}

/// [`answer_signature`] at the sandbox at `base` (a standalone `xacthuc sandbox`).
pub async fn answer_signature_at(
    base: &str,
    provider: &str,
    id: &str,
    pin: Option<&str>,
) -> StatusCode {
    let c = http();
    let resp = match pin {
        Some(pin) => c
            .post(format!("{base}/sandbox/{provider}/requests/{id}/approve"))
            .json(&serde_json::json!({ "pin": pin })),
        None => c.post(format!("{base}/sandbox/{provider}/requests/{id}/reject")),
    };
    resp.send().await.unwrap().status()
}

/// The `amr` of an ID token.
pub fn amr_of(id_token: &str) -> Vec<String> {
    crate::code_flow::decode_part(id_token, 1)["amr"]
        .as_array()
        .expect("amr")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}
// --- push signatures in Chromium (SIM ký số, Chữ ký số cá nhân) ---------------------------------

/// Waits (up to 15 s: the page polls every 2 s) until `done` holds.
pub async fn wait_for<F, Fut>(done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for_within(Duration::from_secs(15), done).await
}

/// Waits (polling every 250 ms, for at most `limit`) until `done` holds.
pub async fn wait_for_within<F, Fut>(limit: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// The theme's Vietnamese text `key`, as a page shows it.
pub fn says(t: &TestApp, key: &str) -> String {
    t.app.theme.t("vi", key)
}

/// The waiting page of a push signature in the browser: the code it shows, once `push.js`
/// runs (its status line, the theme's "waiting" text, is only shown by the script).
pub async fn push_code(b: &Browser, t: &TestApp) -> String {
    let code = b.shown("#push-code").await.expect("the code is shown");
    assert!(
        code.len() == 4 && code.bytes().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    assert!(b.text().await.contains(&says(t, "push_check_again")));
    let waiting = says(t, "push_waiting");
    assert!(
        wait_for(|| async { b.shown("#push-status").await.as_deref() == Some(waiting.as_str()) })
            .await,
        "push.js shows that it waits: {}",
        b.text().await
    );
    code
}

/// From the demo portal's login page to the SIM's waiting page for `phone`; returns the code
/// the page shows.
pub async fn start_sim_login(b: &Browser, t: &TestApp, phone: &str) -> String {
    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    b.click("#login-with-sim_signature").await;
    b.fill("phone", phone).await;
    b.submit().await;
    push_code(b, t).await
}

/// A fresh app with an IAL3 account for `id_number`, and a browser at the waiting page of a
/// SIM login from the demo portal to the sandbox SIM `phone`: the browser, the app and the
/// sandbox request's id. `None` when the browser tests are skipped.
pub async fn sim_login_waiting(id_number: &str, phone: &str) -> Option<(Browser, TestApp, String)> {
    let b = Browser::open().await?;
    let t = spawn_app().await;
    t.add_account(id_number, Ial::Ial3).await;
    let code = start_sim_login(&b, &t, phone).await;
    let id = request_for(&t, "mssp", phone, &code).await;
    Some((b, t, id))
}

/// The one request waiting at the sandbox `provider` (`mssp`, `csc`) for `holder`, checked
/// against the code the page shows; returns its id.
pub async fn request_for(t: &TestApp, provider: &str, holder: &str, code: &str) -> String {
    let pending = pending_signatures(t, provider, holder).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0]["display"].as_str().unwrap().contains(code));
    pending[0]["id"].as_str().unwrap().to_string()
}

/// A test portal's redirect URI that a real browser can land on (Chromium stays on the page
/// before when the redirect goes nowhere, as to 127.0.0.1:9): a blank page for every GET.
pub async fn portal_callback() -> String {
    let app = axum::Router::new().route("/callback", axum::routing::get(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    url
}

/// What the demo portal shows for the claim `name` (from its ID token, else from userinfo),
/// once the login has come back to it.
pub async fn portal_claim(b: &Browser, name: &str) -> Option<String> {
    let script = "for (const row of document.querySelectorAll('dl.kv div')) {\
                    if (row.querySelector('dt').textContent === arguments[0]) {\
                      return row.querySelector('dd').textContent; } }\
                  return null;";
    let value = b
        .client
        .execute(script, vec![serde_json::json!(name)])
        .await
        .expect("script runs");
    value.as_str().map(str::to_string)
}

/// Waits until the browser is at a URL starting with `prefix`.
pub async fn wait_for_url(b: &Browser, prefix: &str) -> bool {
    wait_for(|| async { b.url().await.starts_with(prefix) }).await
}

/// The IAL2 account `sub` was raised to IAL3 by a signature of `method`: its level, the level's
/// history (kept, naming the certificate bound to the account) and the audit event.
pub async fn assert_raised_to_ial3(t: &TestApp, sub: &str, method: &str) {
    let account = t.app.db.find_account(sub).await.unwrap().unwrap();
    assert_eq!(account.ial, Ial::Ial3);
    let history = t.app.db.account_levels(sub).await.unwrap();
    let levels: Vec<Ial> = history.iter().map(|h| h.level).collect();
    assert_eq!(
        levels,
        [Ial::Ial2, Ial::Ial3],
        "the level's history is kept"
    );
    assert_eq!(history[1].method, method);
    let certs = t
        .app
        .db
        .credentials_of(sub, xacthuc::domain::CredentialKind::Certificate)
        .await
        .unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(history[1].certificate_sha256, certs[0].lookup);
    let events = t.app.db.audit_events(50).await.unwrap();
    let raised = events
        .iter()
        .find(|e| e.kind == "account.level_raised")
        .expect("audited");
    assert_eq!(raised.account_id.as_deref(), Some(sub));
    assert_eq!(
        (raised.detail["from"].as_i64(), raised.detail["to"].as_i64()),
        (Some(2), Some(3))
    );
}

/// The IAL2 account `sub` was not raised: its level, its level's history, no certificate bound.
pub async fn assert_still_ial2(t: &TestApp, sub: &str) {
    let account = t.app.db.find_account(sub).await.unwrap().unwrap();
    assert_eq!(account.ial, Ial::Ial2);
    assert_eq!(t.app.db.account_levels(sub).await.unwrap().len(), 1);
    assert!(
        t.app
            .db
            .credentials_of(sub, xacthuc::domain::CredentialKind::Certificate)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The demo portal shows the `acr` of `ial` from its ID token.
pub async fn assert_portal_acr(b: &Browser, t: &TestApp, ial: Ial) {
    assert_eq!(
        portal_claim(b, "acr").await.as_deref(),
        Some(t.app.acr.acr(ial)),
        "{}",
        b.text().await
    );
}

// --- pages (shared by the method tests) --------------------------------------------------------

/// Undoes handlebars' HTML escaping.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&#x3D;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attr` on the element with `id` (unescaped).
pub fn attr(html: &str, id: &str, attr: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let marker = format!(" {attr}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + end]))
}

/// Whether the page (unescaped) shows the theme's text `key`.
pub fn shows(t: &TestApp, html: &str, key: &str) -> bool {
    unescape(html).contains(&t.app.theme.t("vi", key))
}

/// The newest audit event of `kind` whose detail has `reason`.
pub async fn audited(t: &TestApp, kind: &str, reason: &str) -> Option<xacthuc::store::AuditRecord> {
    newest_event(t, |e| e.kind == kind && e.detail["reason"] == reason).await
}

/// The newest audit event of `kind` about `account`.
pub async fn audited_for(
    t: &TestApp,
    kind: &str,
    account: &str,
) -> Option<xacthuc::store::AuditRecord> {
    newest_event(t, |e| {
        e.kind == kind && e.account_id.as_deref() == Some(account)
    })
    .await
}

/// The newest audit event of `kind`.
pub async fn audited_kind(t: &TestApp, kind: &str) -> Option<xacthuc::store::AuditRecord> {
    newest_event(t, |e| e.kind == kind).await
}

/// The newest of the last hundred audit events that `wanted` accepts.
async fn newest_event(
    t: &TestApp,
    wanted: impl Fn(&xacthuc::store::AuditRecord) -> bool,
) -> Option<xacthuc::store::AuditRecord> {
    t.app
        .db
        .audit_events(100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| wanted(e))
}

/// A refused answer: a page (not a 500), with the theme's text `key`; returns the page.
pub async fn refused(
    t: &TestApp,
    resp: reqwest::Response,
    status: StatusCode,
    key: &str,
) -> String {
    refused_with(t, resp, status, key, &[]).await
}

/// [`refused`] for a text with placeholders: `args` are its `{name}`s and their values.
pub async fn refused_with(
    t: &TestApp,
    resp: reqwest::Response,
    status: StatusCode,
    key: &str,
    args: &[(&str, &str)],
) -> String {
    assert_eq!(resp.status(), status, "expected {key}");
    assert!(
        !cookies_set(&resp).contains("xacthuc_session="),
        "no session"
    );
    let html = resp.text().await.unwrap();
    let mut text = t.app.theme.t("vi", key);
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    assert!(
        unescape(&html).contains(&text),
        "the page says {key}: {html}"
    );
    html
}

/// The pending request of a redirect to the login page.
pub fn ar_of(login_url: &str) -> String {
    query(login_url).get("ar").cloned().expect("ar")
}

/// The cookies a response sets, as a `Cookie` header would send them back.
pub fn cookies_set(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

// --- USB ký số: a SoftHSM2 token and the signing agent -------------------------------------------

/// The PIN of the test binary's token.
pub const TOKEN_PIN: &str = "246810";
const TOKEN_LABEL: &str = "xacthuc-it";

/// The test binary's one SoftHSM2 token. A PKCS#11 module is loaded once per process and
/// SoftHSM2 reads `SOFTHSM2_CONF` when it is initialised, so every test shares one token folder
/// (set up before any agent loads the module) and brings keys of its own to it.
fn softhsm() -> &'static xacthuc_signer::softhsm::SoftHsm {
    static HSM: std::sync::OnceLock<xacthuc_signer::softhsm::SoftHsm> = std::sync::OnceLock::new();
    HSM.get_or_init(|| {
        // Kept for the whole run: the module holds files in it until the process ends.
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let hsm = xacthuc_signer::softhsm::SoftHsm::create(&dir).expect("softhsm2 config");
        hsm.init_token(TOKEN_LABEL, TOKEN_PIN)
            .expect("softhsm2-util --init-token");
        // SAFETY: set once, before the PKCS#11 module (the only reader) is loaded; Rust's own
        // environment reads take the same lock.
        unsafe { std::env::set_var("SOFTHSM2_CONF", hsm.conf()) };
        hsm
    })
}

/// The token's turn: SoftHSM2 keeps objects in files that the `softhsm2-util`/`pkcs11-tool`
/// processes write while the test binary's module reads them; a signature made while another
/// test writes its key can find the key half-written. Writing and signing take turns.
static TOKEN_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the token's turn, for a test whose browser has the agent read or sign (the page
/// talks to the agent itself, so [`UsbToken::sign`] cannot take the turn for it). Not while
/// making a token: [`usb_token_on`] takes the turn itself.
pub async fn token_turn() -> tokio::sync::MutexGuard<'static, ()> {
    TOKEN_TURN.lock().await
}

/// A key on the token with its certificate, and an agent that signs with it for the test
/// app's pages.
pub struct UsbToken {
    pub agent_url: String,
    pub certificate_id: String,
    pub serial: String,
    agent: tokio::task::JoinHandle<()>,
}

impl Drop for UsbToken {
    fn drop(&mut self) {
        self.agent.abort();
    }
}

/// What the sandbox PKI is asked to certify (`POST /sandbox/pki/certificates`): e.g.
/// `json!({"uids": ["CCCD:001090012345"], "cn": "Nguyễn Văn An"})`.
pub async fn usb_token(t: &TestApp, certify: serde_json::Value) -> UsbToken {
    usb_token_for(t, certify, &[t.base.as_str()], &format!("echo {TOKEN_PIN}")).await
}

/// [`usb_token`] with the agent's allowed origins and PIN command chosen.
pub async fn usb_token_for(
    t: &TestApp,
    certify: serde_json::Value,
    origins: &[&str],
    pin_command: &str,
) -> UsbToken {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    usb_token_on(t, certify, origins, pin_command, listener).await
}

/// A listener for an agent, bound before the app is built so that its `usb_token.agent_url`
/// can name it; returns the listener and that URL.
pub async fn agent_listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// [`usb_token_for`] with the agent on `listener`.
pub async fn usb_token_on(
    t: &TestApp,
    mut certify: serde_json::Value,
    origins: &[&str],
    pin_command: &str,
    listener: tokio::net::TcpListener,
) -> UsbToken {
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    let hsm = softhsm();
    let turn = TOKEN_TURN.lock().await;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let id = hex::encode(uuid::Uuid::new_v4().as_bytes());
    let pem = key.private_key_to_pem_pkcs8().unwrap();
    hsm.import_key(TOKEN_LABEL, TOKEN_PIN, &id, &pem)
        .expect("import the key");
    certify["public_key_pem"] = String::from_utf8(key.public_key_to_pem().unwrap())
        .unwrap()
        .into();
    let issued = t.issue_certificate(certify).await;
    let certificate_der = issued.der();
    hsm.write_certificate(TOKEN_LABEL, TOKEN_PIN, &id, &certificate_der)
        .expect("write the certificate");
    // The issuers too, as vendors store them: the agent sends the chain with the signature.
    for (n, ca) in issued.chain.iter().enumerate() {
        let ca_id = format!("{id}{n:02x}");
        hsm.write_certificate(TOKEN_LABEL, TOKEN_PIN, &ca_id, &ca.to_der().unwrap())
            .expect("write an issuer's certificate");
    }
    drop(turn);
    let agent = xacthuc_signer::Agent::open(xacthuc_signer::Config {
        module: xacthuc_signer::DEFAULT_MODULE.into(),
        allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
        pin: xacthuc_signer::PinSource::Command(pin_command.into()),
    })
    .expect("the agent loads SoftHSM2");
    let agent_url = format!("http://{}", listener.local_addr().unwrap());
    let agent = tokio::spawn(async move {
        let _ = xacthuc_signer::serve(listener, agent).await;
    });
    UsbToken {
        agent_url,
        certificate_id: hex::encode(Sha256::digest(&certificate_der)),
        serial: issued.serial,
        agent,
    }
}

impl UsbToken {
    /// What the page's script has the agent do: sign `challenge` for `origin`, the request
    /// coming from `page_origin`. The agent's JSON answer.
    pub async fn sign(
        &self,
        page_origin: &str,
        origin: &str,
        challenge: &str,
    ) -> serde_json::Value {
        let _turn = TOKEN_TURN.lock().await;
        http()
            .post(format!("{}/v1/sign", self.agent_url))
            .header("origin", page_origin)
            .json(&serde_json::json!({
                "origin": origin,
                "challenge": challenge,
                "certificate_id": self.certificate_id,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A "USB ký số" ceremony page (a login's, a registration's or an upgrade's): its options
/// (`data-signer`) and form fields. The test plays the page's script with [`UsbToken::sign`].
pub struct Ceremony {
    pub options: serde_json::Value,
    pub csrf: String,
    pub ar: String,
}

pub async fn ceremony(t: &TestApp, b: &reqwest::Client, url: &str) -> Ceremony {
    let page = b.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let options: serde_json::Value =
        serde_json::from_str(&attr(&html, "usb-form", "data-signer").expect("a USB ceremony page"))
            .unwrap();
    let agent = options["agent_url"].as_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        csp.contains(&format!("connect-src 'self' {agent}")),
        "{csp}"
    );
    assert_eq!(options["origin"], t.base);
    Ceremony {
        options,
        csrf: hidden(&html, "csrf").unwrap(),
        ar: hidden(&html, "ar").unwrap(),
    }
}

impl Ceremony {
    pub fn challenge(&self) -> &str {
        self.options["challenge"].as_str().unwrap()
    }

    pub async fn post(
        &self,
        t: &TestApp,
        b: &reqwest::Client,
        cms: &str,
        origin: &str,
        challenge: &str,
    ) -> reqwest::Response {
        b.post(t.url("/login/usb_token"))
            .form(&[
                ("csrf", self.csrf.as_str()),
                ("ar", self.ar.as_str()),
                ("cms", cms),
                ("origin", origin),
                ("challenge", challenge),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Signs with `token` as the page would, and posts the answer.
    pub async fn answer(
        &self,
        t: &TestApp,
        b: &reqwest::Client,
        token: &UsbToken,
    ) -> reqwest::Response {
        let signed = token.sign(&t.base, &t.base, self.challenge()).await;
        let cms = signed["cms"]
            .as_str()
            .unwrap_or_else(|| panic!("the agent signed: {signed}"));
        self.post(t, b, cms, &t.base, self.challenge()).await
    }
}

// --- IAL3 registration by a signature ------------------------------------------------------

/// An authorization URL asking for `scope` (and `extra`).
pub fn authorize_with(
    t: &TestApp,
    client_id: &str,
    challenge: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> String {
    authorize_to(
        t,
        client_id,
        challenge,
        "http://127.0.0.1:9/callback",
        scope,
        extra,
    )
}

/// An authorization URL asking for `scope` (and `extra`), redirecting to `redirect_uri`.
pub fn authorize_to(
    t: &TestApp,
    client_id: &str,
    challenge: &str,
    redirect_uri: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    t.url(&format!("/authorize?{}", q.finish()))
}

/// The registration's confirmation page (`/register/confirm`) after a signature: its HTML.
pub async fn confirm_page(t: &TestApp, b: &reqwest::Client, signed: reqwest::Response) -> String {
    assert!(signed.status().is_redirection(), "{}", signed.status());
    assert_eq!(location(&signed), t.url("/register/confirm"));
    let page = b.get(t.url("/register/confirm")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

pub async fn post_confirm(
    t: &TestApp,
    b: &reqwest::Client,
    html: &str,
    email: &str,
) -> reqwest::Response {
    let csrf = hidden(html, "csrf").expect("csrf");
    b.post(t.url("/register/confirm"))
        .form(&[("csrf", csrf.as_str()), ("email", email)])
        .send()
        .await
        .unwrap()
}

pub async fn count_accounts(t: &TestApp) -> usize {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = sea_orm::Database::connect(&t.app.config.database.url)
        .await
        .unwrap();
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM accounts",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    conn.close().await.ok();
    n as usize
}

/// A certificate issued by the sandbox PKI over HTTP, with its key (when the sandbox made
/// it).
pub struct TestCert {
    pub serial: String,
    pub cert: openssl::x509::X509,
    /// Issuer first, root last.
    pub chain: Vec<openssl::x509::X509>,
    pub key: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
}

impl TestCert {
    pub fn der(&self) -> Vec<u8> {
        self.cert.to_der().expect("der")
    }

    /// The end entity, then the issuing CA (no root): what a signer sends.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        let mut out = vec![self.der()];
        if let Some(ca) = self.chain.first() {
            out.push(ca.to_der().expect("der"));
        }
        out
    }

    /// A CMS SignedData over `content` made with OpenSSL (`CMS_sign`), carrying the signer's
    /// certificate and its issuing CA; `detached` leaves the content out.
    pub fn sign_cms(&self, content: &[u8], detached: bool) -> Vec<u8> {
        use openssl::cms::{CMSOptions, CmsContentInfo};
        let mut certs = openssl::stack::Stack::new().expect("stack");
        if let Some(ca) = self.chain.first() {
            certs.push(ca.clone()).expect("push");
        }
        let mut flags = CMSOptions::BINARY;
        if detached {
            flags |= CMSOptions::DETACHED;
        }
        let key = self.key.as_ref().expect("the sandbox made the key");
        CmsContentInfo::sign(
            Some(&self.cert),
            Some(key),
            Some(&certs),
            Some(content),
            flags,
        )
        .expect("CMS_sign")
        .to_der()
        .expect("der")
    }

    /// The same with RSASSA-PSS, as the Government CA's plugin signs. The `openssl` crate's
    /// `CMS_sign` cannot choose the padding, so this runs the `openssl cms` command.
    pub fn sign_cms_pss(&self, content: &[u8], detached: bool) -> Vec<u8> {
        self.sign_cms_pss_with(content, detached, &[])
    }

    /// [`Self::sign_cms_pss`] with more `openssl cms -sign` options for the signer (e.g.
    /// `["-keyopt", "rsa_mgf1_md:sha1"]`, `["-md", "sha512"]`).
    pub fn sign_cms_pss_with(&self, content: &[u8], detached: bool, options: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            path
        };
        let key = self.key.as_ref().expect("the sandbox made the key");
        let signer = file("signer.pem", &self.cert.to_pem().expect("pem"));
        let inkey = file("key.pem", &key.private_key_to_pem_pkcs8().expect("pem"));
        let data = file("content", content);
        let ca = file("ca.pem", &self.chain[0].to_pem().expect("pem"));
        let out = dir.path().join("out.der");
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["cms", "-sign", "-binary", "-outform", "DER"])
            .arg("-in")
            .arg(&data)
            .arg("-signer")
            .arg(&signer)
            .arg("-inkey")
            .arg(&inkey)
            // After its signer: -keyopt applies to the signer before it.
            .args(["-keyopt", "rsa_padding_mode:pss"])
            .args(options)
            .arg("-certfile")
            .arg(&ca)
            .arg("-out")
            .arg(&out);
        if !detached {
            cmd.arg("-nodetach");
        }
        let status = cmd.status().expect("the openssl command");
        assert!(status.success(), "openssl cms -sign");
        std::fs::read(out).expect("CMS written")
    }
}

impl TestApp {
    /// `POST /sandbox/pki/certificates` with this JSON (see `sandbox::pki::IssueRequest`).
    pub async fn issue_certificate(&self, request: serde_json::Value) -> TestCert {
        let resp = http()
            .post(self.url("/sandbox/pki/certificates"))
            .json(&request)
            .send()
            .await
            .expect("sandbox PKI reachable");
        assert_eq!(resp.status(), StatusCode::OK, "issuing {request}");
        let body: serde_json::Value = resp.json().await.expect("json");
        let pem = |v: &serde_json::Value| {
            openssl::x509::X509::from_pem(v.as_str().expect("pem").as_bytes()).expect("a PEM cert")
        };
        TestCert {
            serial: body["serial"].as_str().expect("serial").to_string(),
            cert: pem(&body["certificate_pem"]),
            chain: body["chain_pem"]
                .as_array()
                .expect("chain")
                .iter()
                .map(pem)
                .collect(),
            key: body["private_key_pem"].as_str().map(|k| {
                openssl::pkey::PKey::private_key_from_pem(k.as_bytes()).expect("a PEM key")
            }),
        }
    }

    /// A citizen's signature certificate from the sandbox's public tree.
    pub async fn citizen_certificate(&self, id_number: &str) -> TestCert {
        self.issue_certificate(serde_json::json!({
            "uids": [format!("CCCD:{id_number}")],
            "cn": "Nguyễn Văn An",
            "c": "VN",
        }))
        .await
    }

    /// `POST /sandbox/pki/certificates/{serial}/revoke`.
    pub async fn revoke_certificate(&self, serial: &str) {
        let resp = http()
            .post(self.url(&format!("/sandbox/pki/certificates/{serial}/revoke")))
            .send()
            .await
            .expect("sandbox PKI reachable");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }

    /// `POST /sandbox/pki/ca/{ca}/faults`, e.g. `{"ocsp": "down", "crl": "down"}`.
    pub async fn pki_faults(&self, ca: &str, faults: serde_json::Value) {
        let resp = http()
            .post(self.url(&format!("/sandbox/pki/ca/{ca}/faults")))
            .json(&faults)
            .send()
            .await
            .expect("sandbox PKI reachable");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{faults}");
    }
}
