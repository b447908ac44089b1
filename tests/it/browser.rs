//! The seeds' screens walked in real headless Chromium (Debian's chromium + chromium-driver,
//! which `.ci/run` installs), through WebDriver. Skipped with a note when chromedriver or
//! Chromium is absent, unless `XACTHUC_BROWSER=1` says they must run: then they fail.
//! [`Browser`] is shared with the other browser modules (`passkey_browser`).

use std::process::{Child, Command};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use xacthuc::domain::Ial;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium is heavy on two cores: at most two at once.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A chromedriver with one Chromium session; both are killed when dropped.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its own process group, which holds Chromium too.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// A fresh browser, or `None` (with a note) when chromedriver or Chromium is not installed.
    /// With `XACTHUC_BROWSER=1` a missing browser is a failure, not a skip.
    pub(crate) async fn open() -> Option<Browser> {
        let driver_bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(driver_bin) = driver_bin.filter(|_| std::path::Path::new(CHROMIUM).exists())
        else {
            let missing = "chromedriver or Chromium is not installed (apt-get install chromium chromium-driver)";
            if std::env::var("XACTHUC_BROWSER").as_deref() == Ok("1") {
                panic!("XACTHUC_BROWSER=1 but {missing}: browser tests must run");
            }
            eprintln!(
                "{missing}: browser test skipped (set XACTHUC_BROWSER=1 to make this a failure)"
            );
            return None;
        };
        let slot = SLOTS.acquire().await.expect("semaphore");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        use std::os::unix::process::CommandExt;
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http().get(format!("{url}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("WebDriver session");
        Some(Browser {
            client,
            driver,
            _profile: profile,
            _slot: slot,
        })
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub(crate) async fn fill(&self, name: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap_or_else(|_| panic!("field {name}"));
        field.clear().await.ok();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks the page's primary button (the main form's submit) and waits for the next page.
    pub(crate) async fn submit(&self) {
        self.click("form button.btn-primary").await;
    }

    /// Clicks something that navigates, and waits until the new page has loaded.
    pub(crate) async fn click(&self, css: &str) {
        let old = self.document().await;
        self.click_only(css).await;
        self.wait_replaced(old).await;
    }

    /// Runs a script that leaves the page (a form's `submit()`), and waits until the next page
    /// has loaded.
    pub(crate) async fn execute_navigating(&self, script: &str, args: Vec<serde_json::Value>) {
        let old = self.document().await;
        self.client
            .execute(script, args)
            .await
            .expect("script runs");
        self.wait_replaced(old).await;
    }

    async fn document(&self) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css("html"))
            .await
            .expect("a page")
    }

    /// Clicks something that navigates after a slow step in the page (the signing agent signs,
    /// then the page's script posts), and waits up to 30 s for the next page.
    pub(crate) async fn click_slow(&self, css: &str) {
        let old = self.document().await;
        self.click_only(css).await;
        self.wait_replaced_within(old, 1200).await;
    }

    async fn wait_replaced(&self, old: fantoccini::elements::Element) {
        self.wait_replaced_within(old, 200).await;
    }

    /// Waits for the next page, giving the old one `tries` × 25 ms to go.
    async fn wait_replaced_within(&self, old: fantoccini::elements::Element, tries: usize) {
        for _ in 0..tries {
            // The old document's element goes stale once the next page replaces it.
            if old.tag_name().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        for _ in 0..200 {
            let state = self
                .client
                .execute("return document.readyState", vec![])
                .await;
            if state
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .as_deref()
                == Some("complete")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Clicks without expecting a navigation (a radio button).
    pub(crate) async fn click_only(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css}"))
            .click()
            .await
            .unwrap();
    }

    pub(crate) async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The text of the element `css` as the page shows it: `None` when there is no such
    /// element, empty while it is hidden.
    pub(crate) async fn shown(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    /// The text of the element `css`, which must be on the page.
    pub(crate) async fn text_of(&self, css: &str) -> String {
        self.shown(css)
            .await
            .unwrap_or_else(|| panic!("{css} on the page"))
    }

    pub(crate) async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub(crate) async fn input_value(&self, name: &str) -> String {
        let field = self
            .client
            .find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap();
        field.prop("value").await.unwrap().unwrap_or_default()
    }

    /// Whether this browser has a session at `t`: the profile answers, or sends to the login
    /// page.
    pub(crate) async fn logged_in(&self, t: &TestApp) -> bool {
        self.goto(&t.url("/profile")).await;
        let url = self.url().await;
        assert!(
            url.ends_with("/profile") || url.contains("/login"),
            "unexpected page {url}"
        );
        url.ends_with("/profile")
    }

    /// Answers the captcha the way a tester may: through the sandbox contract.
    pub(crate) async fn solve_captcha(&self, t: &TestApp) {
        let id = self.input_value("captcha_id").await;
        self.fill("captcha", &captcha_answer(t, &id).await).await;
    }

    pub(crate) async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Opens the registration form of `method` from the home page, like a citizen would.
async fn open_registration(b: &Browser, t: &TestApp, method_link: &str) {
    b.goto(&t.url("/")).await;
    b.click("a[href='/register']").await;
    assert!(b.text().await.contains("Vui lòng chọn phương thức đăng ký"));
    b.click(&format!("a[href='{method_link}']")).await;
}

async fn fill_identity(b: &Browser, t: &TestApp, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        b.fill(name, value).await;
    }
    b.solve_captcha(t).await;
    b.submit().await;
}

pub(crate) async fn enter_otp(b: &Browser, t: &TestApp, phone: &str) {
    let code = latest_otp(t, phone).await;
    b.fill("otp", &code).await;
    b.submit().await;
}

/// The login of the account `id_number` (made by `add_account`, its phone `PHONE_E164`) on the
/// login page in front of the browser: ID number and password, then the SMS code.
pub(crate) async fn password_and_otp(b: &Browser, t: &TestApp, id_number: &str) {
    assert!(
        b.url().await.starts_with(&t.url("/login")),
        "{}",
        b.url().await
    );
    b.fill("username", id_number).await;
    b.fill("password", PASSWORD).await;
    b.submit().await;
    enter_otp(b, t, PHONE_E164).await;
}

/// A test portal on its own origin, whose redirect URI the browser can land on; the browser
/// is sent to its authorization request with `extra`; `client` adjusts its registration.
/// Returns the client's id and secret, its redirect URI and the PKCE verifier.
pub(crate) async fn portal_asks(
    b: &Browser,
    t: &TestApp,
    extra: &[(&str, &str)],
    client: impl FnOnce(&mut xacthuc::cli::ClientAdd),
) -> (String, String, String, String) {
    let callback = portal_callback().await;
    let uri = callback.clone();
    let (client_id, secret) = t
        .add_client(|c| {
            // Its callback takes the user back after a logout too.
            c.post_logout_redirect_uris = vec![uri.clone()];
            c.redirect_uris = vec![uri];
            client(c);
        })
        .await;
    let (verifier, challenge) = pkce();
    let scope = "openid profile phone id_number";
    b.goto(&authorize_to(
        t, &client_id, &challenge, &callback, scope, extra,
    ))
    .await;
    (client_id, secret.unwrap(), callback, verifier)
}

/// Waits for the redirect back to the portal at `callback`: the query it received.
pub(crate) async fn portal_received(
    b: &Browser,
    callback: &str,
) -> std::collections::HashMap<String, String> {
    assert!(
        wait_for_url(b, callback).await,
        "back at the portal: {}",
        b.url().await
    );
    query(&b.url().await)
}

const AN: [(&str, &str); 4] = [
    ("id_number", "001090012345"),
    ("full_name", "Nguyễn Văn An"),
    ("birthdate", "12/06/1990"),
    ("phone", "0823456088"),
];
const AN_PHONE: &str = "+84823456088";
const STRONG: &str = "Hà-Nội@2024!";

async fn set_password(b: &Browser, password: &str) {
    b.fill("password", password).await;
    b.fill("password_confirm", password).await;
    b.submit().await;
}

#[tokio::test]
async fn a_citizen_registers_by_mobile_subscription_and_logs_in_to_the_demo_portal_at_ial2() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    open_registration(&b, &t, "/register/mobile").await;
    fill_identity(&b, &t, &AN).await;
    assert!(
        b.text().await.contains("823****088") || b.text().await.contains("082****088"),
        "masked number shown"
    );
    enter_otp(&b, &t, AN_PHONE).await;
    set_password(&b, STRONG).await;
    assert!(b.text().await.contains("Đăng ký thành công"));

    b.goto(&t.url("/sandbox/demo-portal")).await;
    b.click("a[href='/sandbox/demo-portal/login']").await;
    b.fill("username", "001090012345").await;
    b.fill("password", STRONG).await;
    b.submit().await;
    enter_otp(&b, &t, AN_PHONE).await;
    assert!(b.url().await.contains("/consent"), "consent asked");
    b.submit().await;
    let page = b.text().await;
    assert!(
        page.contains("IAL2"),
        "acr=IAL2 shown by the relying party: {page}"
    );
    assert!(page.contains("001090012345"));
    b.close().await;
}

#[tokio::test]
async fn bhxh_registration_and_its_mismatch() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    open_registration(&b, &t, "/register/bhxh").await;
    let wrong = [
        ("id_number", "079188003344"),
        ("bhxh_code", "7912345678"),
        ("full_name", "Phan Thị Mai"),
        ("birthdate", "08/07/1988"),
        ("phone", "0934567890"),
    ];
    fill_identity(&b, &t, &wrong).await;
    assert!(b.text().await.contains("BHXH"), "the BHXH mismatch message");
    assert_eq!(
        b.input_value("full_name").await,
        "Phan Thị Mai",
        "inputs kept"
    );

    b.fill("birthdate", "07/07/1988").await;
    b.solve_captcha(&t).await;
    b.submit().await;
    // The code goes to the phone on her BHXH record.
    enter_otp(&b, &t, "+84934567890").await;
    set_password(&b, STRONG).await;
    assert!(b.text().await.contains("Đăng ký thành công"));
    let account = t
        .app
        .db
        .find_account_by_id_number("079188003344")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.registration_method, "bhxh");
    b.close().await;
}

#[tokio::test]
async fn duplicate_account_and_carrier_mismatch_are_explained() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    open_registration(&b, &t, "/register/mobile").await;
    fill_identity(&b, &t, &AN).await;
    let page = b.text().await;
    assert!(
        page.contains("Quên mật khẩu"),
        "points to password recovery: {page}"
    );

    b.goto(&t.url("/register/mobile")).await;
    let someone_else = [
        ("id_number", "079195004821"),
        ("full_name", "Trần Thị Bích Ngọc"),
        ("birthdate", "03/11/1995"),
        ("phone", "0823456088"),
    ];
    fill_identity(&b, &t, &someone_else).await;
    assert!(b.text().await.contains("Thông tin đăng ký không khớp với thông tin thuê bao tại nhà mạng, vui lòng kiểm tra/đăng ký lại với nhà mạng"));
    b.close().await;
}

#[tokio::test]
async fn wrong_codes_resend_cooldown_expiry_and_weak_passwords() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    open_registration(&b, &t, "/register/mobile").await;
    fill_identity(&b, &t, &AN).await;
    let code = latest_otp(&t, AN_PHONE).await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for _ in 0..5 {
        b.fill("otp", wrong).await;
        b.submit().await;
    }
    b.fill("otp", &code).await;
    b.submit().await;
    assert!(
        b.url().await.ends_with("/register/otp"),
        "a dead code leads nowhere"
    );
    assert!(b.text().await.contains("Gửi lại OTP"));

    // Too early to resend (the button is enabled without JS; the server refuses politely).
    b.client
        .execute(
            "document.getElementById('resend-button').disabled = false;",
            vec![],
        )
        .await
        .unwrap();
    b.click("#resend-button").await;
    assert!(b.text().await.contains("giây"), "asked to wait");
    t.advance(61);
    b.client
        .execute(
            "document.getElementById('resend-button').disabled = false;",
            vec![],
        )
        .await
        .unwrap();
    b.click("#resend-button").await;
    let fresh = latest_otp(&t, AN_PHONE).await;
    assert_ne!(fresh, code);
    t.advance(301);
    b.fill("otp", &fresh).await;
    b.submit().await;
    assert!(b.text().await.contains("hết hạn"), "expired");

    t.advance(61);
    b.client
        .execute(
            "document.getElementById('resend-button').disabled = false;",
            vec![],
        )
        .await
        .unwrap();
    b.click("#resend-button").await;
    enter_otp(&b, &t, AN_PHONE).await;
    set_password(&b, "password").await;
    assert!(
        b.url().await.ends_with("/register/password"),
        "weak password refused"
    );
    assert!(
        t.app
            .db
            .find_account_by_id_number("001090012345")
            .await
            .unwrap()
            .is_none()
    );
    set_password(&b, STRONG).await;
    assert!(b.text().await.contains("Đăng ký thành công"));
    b.close().await;
}

#[tokio::test]
async fn upstream_failures_leave_nothing_half_created() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app_with(|c| c.connectors.timeout_ms = 300).await;
    for (phone, id, name, birthdate) in [
        ("0900000500", "048080001111", "Bùi Văn Cường", "01/01/1980"),
        ("0900000504", "092192002222", "Đặng Thị Hoa", "10/10/1992"),
    ] {
        b.goto(&t.url("/register/mobile")).await;
        fill_identity(
            &b,
            &t,
            &[
                ("id_number", id),
                ("full_name", name),
                ("birthdate", birthdate),
                ("phone", phone),
            ],
        )
        .await;
        let page = b.text().await;
        assert!(
            page.contains("nhà mạng"),
            "the carrier is named in the message: {page}"
        );
        assert!(
            t.app
                .db
                .find_account_by_id_number(id)
                .await
                .unwrap()
                .is_none()
        );
    }
    b.close().await;
}

#[tokio::test]
async fn login_code_to_another_phone_and_forgot_password() {
    let Some(b) = Browser::open().await else {
        return;
    };
    let t = spawn_app().await;
    let sub = t.add_account("001090012345", Ial::Ial2).await;
    t.app
        .db
        .add_phone(&sub, "+84912345678", true, t.clock.now(), None)
        .await
        .unwrap();
    b.goto(&t.url("/login")).await;
    b.fill("username", "001090012345").await;
    b.fill("password", PASSWORD).await;
    b.submit().await;
    t.advance(61); // choosing another phone waits for the resend cooldown
    b.click("a[href$='/login/otp/phones']").await;
    b.click_only("input[name='phone_id']:not(:checked)").await;
    b.submit().await;
    enter_otp(&b, &t, "+84912345678").await;
    assert!(b.text().await.contains("Nguyễn Văn An"), "logged in");

    let other = Browser::open().await.expect("second browser");
    other.goto(&t.url("/login")).await;
    other.click("a[href='/forgot-password']").await;
    other.fill("id_number", "001090012345").await;
    other.fill("phone", "0823628899").await;
    other.solve_captcha(&t).await;
    other.submit().await;
    enter_otp(&other, &t, PHONE_E164).await;
    set_password(&other, STRONG).await;
    assert!(other.text().await.contains("mật khẩu"), "reset confirmed");
    other.close().await;

    // The first browser's session ended with the reset.
    b.goto(&t.url("/")).await;
    assert!(!b.text().await.contains("Nguyễn Văn An"));
    b.close().await;
}
