//! The limits of issue 7 (items 1–4) over HTTP, on both backends: a burst gets no more than a
//! limit allows (each attempt is taken before it is checked); a login name under attack is
//! throttled and challenged (captcha, then the SMS step) but never locked for good; SMS budgets
//! per purpose, answered with a 429 and a message; wrong codes in a row, audited and counted.

use reqwest::StatusCode;
use xacthuc::authenticators::Method;
use xacthuc::domain::Ial;

use crate::helpers::*;

const ID: &str = "001090012345";
const STRANGER: &str = "079195004821";
const STRANGER_PHONE: &str = "+84912345678";
const NEW_PASSWORD: &str = "Hà-Nội@2024!";

/// Posts the login form of a fresh login page with `fields` (CSRF from the page).
async fn post_login(
    t: &TestApp,
    b: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post_on(t, b, &t.url("/login"), "/login", fields).await
}

/// `count` wrong passwords for [`ID`], one after the other, each refused as wrong.
async fn fail_passwords(t: &TestApp, count: usize) {
    let b = browser();
    for _ in 0..count {
        let resp = post_login(t, &b, &[("username", ID), ("password", "Wrong@12345")]).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
}

/// The right password of [`ID`] with the captcha the refused page showed; the response.
async fn login_with_captcha(t: &TestApp, b: &reqwest::Client, password: &str) -> reqwest::Response {
    let resp = post_login(t, b, &[("username", ID), ("password", password)]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = resp.text().await.unwrap();
    assert!(html.contains("mã xác thực trong hình"), "says why");
    let captcha_id = hidden(&html, "captcha_id").expect("the form now shows a captcha");
    let answer = captcha_answer(t, &captcha_id).await;
    post_on(
        t,
        b,
        &t.url("/login"),
        "/login",
        &[
            ("username", ID),
            ("password", password),
            ("captcha_id", &captcha_id),
            ("captcha", &answer),
        ],
    )
    .await
}

/// "Quên mật khẩu" for [`ID`] and its phone, up to the OTP screen.
async fn start_recovery(t: &TestApp, b: &reqwest::Client) {
    let fields = [("id_number", ID), ("phone", "0823628899")];
    let resp = submit_registration(t, b, "/forgot-password", &fields).await;
    assert_eq!(location(&resp), t.url("/forgot-password/otp"));
}

/// The login's OTP screen for [`ID`], past its password.
struct CodeScreen {
    csrf: String,
    /// The code sent.
    code: String,
    /// Another one.
    wrong: &'static str,
}

async fn at_the_login_code(t: &TestApp, b: &reqwest::Client) -> CodeScreen {
    let resp = post_login(t, b, &[("username", ID), ("password", PASSWORD)]).await;
    assert_eq!(location(&resp), t.url("/login/otp"));
    let html = page_text(b, t.url("/login/otp")).await;
    let code = latest_otp(t, PHONE_E164).await;
    CodeScreen {
        csrf: hidden(&html, "csrf").unwrap(),
        wrong: if code == "000000" { "000001" } else { "000000" },
        code,
    }
}

impl CodeScreen {
    /// Posts `code` on the screen; the status of the answer.
    async fn post(&self, t: &TestApp, b: &reqwest::Client, code: &str) -> StatusCode {
        let form = [("csrf", self.csrf.as_str()), ("otp", code)];
        let resp = b.post(t.url("/login/otp")).form(&form).send().await;
        resp.unwrap().status()
    }
}

/// The value of a counter in `/metrics` (0 when absent).
async fn metric(t: &TestApp, series: &str) -> u64 {
    let text = page_text(&http(), t.url("/metrics")).await;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Item 1: fifty wrong passwords at once got fifty Argon2 checks (each read the counters before
/// any was written). Each attempt is now taken first: five checks, the rest refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_wrong_passwords_get_five_checks() {
    let t = spawn_app_with(|c| c.passwords.max_failed_logins_per_ip = 1_000_000).await;
    t.add_account(ID, Ial::Ial2).await;
    let b = browser();
    let html = page_text(&b, t.url("/login")).await;
    let csrf = hidden(&html, "csrf").unwrap();
    let tries = (0..50).map(|_| {
        let form = [
            ("csrf", csrf.as_str()),
            ("username", ID),
            ("password", "Wrong@12345"),
        ];
        b.post(t.url("/login")).form(&form).send()
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS)
    );
    let resp = post_login(&t, &b, &[("username", ID), ("password", PASSWORD)]).await;
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "then the right one"
    );
}

/// Item 1 at the login's SMS step: fifty wrong codes at once are compared five times at most
/// (`xacthuc_otp_wrong_total` counts comparisons), and the right code is refused after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_wrong_codes_on_the_login_screen_are_compared_five_times() {
    let t = spawn_app().await;
    t.add_account(ID, Ial::Ial2).await;
    let b = browser();
    let screen = at_the_login_code(&t, &b).await;
    let guesses = (0..50).map(|_| screen.post(&t, &b, screen.wrong));
    for status in futures::future::join_all(guesses).await {
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        metric(&t, "xacthuc_otp_wrong_total{purpose=\"login\"}").await,
        5
    );
    let status = screen.post(&t, &b, &screen.code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the code is dead");
}

/// Item 2: after the limit the name needs the captcha (checked before the password) and then
/// the SMS step, even where `[login.then]` skips it; the right password ends the run.
#[tokio::test]
async fn a_challenged_name_needs_the_captcha_then_the_sms_step() {
    let t = spawn_app_with(|c| {
        c.login.then.insert(Method::Password, vec![]);
    })
    .await;
    t.add_account(ID, Ial::Ial2).await;
    fail_passwords(&t, 5).await;
    t.advance(901);
    let b = browser();
    let resp = login_with_captcha(&t, &b, PASSWORD).await;
    assert_eq!(
        location(&resp),
        t.url("/login/otp"),
        "the SMS step, which [login.then] skips"
    );
    assert_eq!(
        submit_otp(&t, &b, &t.url("/login/otp"), PHONE_E164).await,
        t.url("/")
    );
    let audit = t.app.db.audit_events(5).await.unwrap();
    let done = audit.iter().find(|e| e.kind == "login.succeeded").unwrap();
    assert_eq!(done.detail["amr"], serde_json::json!(["pwd", "sms", "mfa"]));

    // The run is over: a plain login again, without captcha or SMS.
    let resp = post_login(&t, &browser(), &[("username", ID), ("password", PASSWORD)]).await;
    assert_eq!(location(&resp), t.url("/"));
}

/// Item 2: a challenged account with no phone for the SMS step is told why and what to do.
#[tokio::test]
async fn a_challenged_account_without_a_phone_is_told_why() {
    let t = spawn_app().await;
    t.add_account_with_phones(ID, Ial::Ial2, &[]).await;
    fail_passwords(&t, 5).await;
    t.advance(901);
    let resp = login_with_captcha(&t, &browser(), PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = resp.text().await.unwrap();
    assert!(html.contains("chưa có số điện thoại đã xác thực"), "{html}");
}

/// Item 2: nothing but the clock lifted a lock, and after 100 failures nothing at all. A
/// password reset now ends the name's failures, and the run of wrong login codes (item 4).
#[tokio::test]
async fn a_password_reset_lifts_the_failures_and_the_wrong_codes() {
    let t = spawn_app_with(|c| c.otp.max_wrong_per_account = 3).await;
    t.add_account(ID, Ial::Ial2).await;
    // Three wrong codes in a row at the login's SMS step stop the codes of the account.
    let b = browser();
    let screen = at_the_login_code(&t, &b).await;
    for _ in 0..3 {
        screen.post(&t, &b, screen.wrong).await;
    }
    let status = screen.post(&t, &b, &screen.code).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right code");
    // And the name is challenged.
    fail_passwords(&t, 5).await;

    let r = browser();
    start_recovery(&t, &r).await;
    let next = submit_otp(&t, &r, &t.url("/forgot-password/otp"), PHONE_E164).await;
    let fields = [
        ("password", NEW_PASSWORD),
        ("password_confirm", NEW_PASSWORD),
    ];
    let resp = post_on(&t, &r, &next, "/forgot-password/password", &fields).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // No captcha, no lock, and the login's code is accepted again.
    let home = login(&t, &browser(), &t.url("/login"), ID, NEW_PASSWORD).await;
    assert_eq!(home, t.url("/"));
}

/// Item 2: a password change ends the name's failures too.
#[tokio::test]
async fn a_password_change_lifts_the_failures() {
    let t = spawn_app().await;
    t.add_account(ID, Ial::Ial2).await;
    let b = browser();
    login(&t, &b, &t.url("/login"), ID, PASSWORD).await;
    // A change needs a fresh re-authentication (itself a password check, before the stranger).
    reauthenticate(&t, &b, PHONE_E164).await;
    // A stranger's failures, one short of the challenge.
    fail_passwords(&t, 4).await;
    let fields = [
        ("current_password", PASSWORD),
        ("password", NEW_PASSWORD),
        ("password_confirm", NEW_PASSWORD),
    ];
    let resp = post_on(
        &t,
        &b,
        &t.url("/profile/password"),
        "/profile/password",
        &fields,
    )
    .await;
    assert_eq!(location(&resp), t.url("/profile?notice=password_changed"));
    // Not lifted, this failure would be the fifth in a row and the login below would be
    // challenged.
    fail_passwords(&t, 1).await;
    let resp = post_login(
        &t,
        &browser(),
        &[("username", ID), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(location(&resp), t.url("/login/otp"), "no captcha asked");
}

/// Item 3: adding a phone in a profile drew from the phone's one budget (and a full budget was a
/// 503), so a stranger could stop a citizen's login by adding the citizen's phone six times.
#[tokio::test]
async fn a_stranger_adding_a_citizens_phone_does_not_stop_the_citizens_login() {
    let t = spawn_app_with(|c| {
        c.otp.per_phone_per_hour.profile = 3;
        c.otp.per_phone_per_hour.login = 5;
    })
    .await;
    t.add_account(ID, Ial::Ial2).await;
    t.add_account_with_phones(STRANGER, Ial::Ial2, &[STRANGER_PHONE])
        .await;
    let s = browser();
    let resp = post_login(&t, &s, &[("username", STRANGER), ("password", PASSWORD)]).await;
    assert_eq!(location(&resp), t.url("/login/otp"));
    submit_otp(&t, &s, &t.url("/login/otp"), STRANGER_PHONE).await;
    // Changes need a fresh re-authentication: one code to the stranger's own phone.
    reauthenticate(&t, &s, STRANGER_PHONE).await;
    let add = [("phone", "0823628899")];
    for _ in 0..3 {
        let resp = post_on(&t, &s, &t.url("/profile"), "/profile/phones", &add).await;
        assert_eq!(location(&resp), t.url("/profile/phones/verify"));
    }
    let resp = post_on(&t, &s, &t.url("/profile"), "/profile/phones", &add).await;
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a limit, not an outage"
    );
    assert!(resp.text().await.unwrap().contains("quá nhiều mã OTP"));

    let home = login(&t, &browser(), &t.url("/login"), ID, PASSWORD).await;
    assert_eq!(home, t.url("/"), "the citizen's login still gets its code");
    assert_eq!(
        metric(&t, "xacthuc_sms_sent_total{purpose=\"profile\"}").await,
        4,
        "three codes to the citizen's phone, one for the stranger's re-authentication"
    );
}

/// Item 3: past the service-wide ceiling a send is refused with "busy" (429), and the alert
/// metric counts it.
#[tokio::test]
async fn the_sms_ceiling_answers_busy_and_counts_for_the_alert() {
    let t = spawn_app_with(|c| c.otp.max_sms_per_minute = 1).await;
    t.add_account(ID, Ial::Ial2).await;
    let resp = post_login(&t, &browser(), &[("username", ID), ("password", PASSWORD)]).await;
    assert_eq!(location(&resp), t.url("/login/otp"));
    let resp = post_login(&t, &browser(), &[("username", ID), ("password", PASSWORD)]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.text().await.unwrap().contains("quá tải"));
    assert_eq!(metric(&t, "xacthuc_sms_ceiling_hits_total").await, 1);
    assert_eq!(
        metric(&t, "xacthuc_sms_sent_total{purpose=\"login\"}").await,
        1
    );
    t.advance(61);
    let resp = post_login(&t, &browser(), &[("username", ID), ("password", PASSWORD)]).await;
    assert_eq!(location(&resp), t.url("/login/otp"), "a new minute");
}

/// Item 4: a wrong code outside a login is audited as `otp.wrong`, with the client's real IP
/// (the OTP pages passed none), and counted by purpose.
#[tokio::test]
async fn a_wrong_recovery_code_is_audited_with_the_clients_ip_and_counted() {
    let t = spawn_app().await;
    t.add_account(ID, Ial::Ial2).await;
    let b = browser();
    start_recovery(&t, &b).await;
    let code = latest_otp(&t, PHONE_E164).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let page = t.url("/forgot-password/otp");
    let resp = post_on(&t, &b, &page, "/forgot-password/otp", &[("otp", wrong)]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let audit = t.app.db.audit_events(10).await.unwrap();
    let event = audit
        .iter()
        .find(|e| e.kind == "otp.wrong")
        .expect("audited");
    assert_eq!(event.detail["purpose"], "recovery");
    assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
    assert!(event.account_id.is_some());
    assert_eq!(
        metric(&t, "xacthuc_otp_wrong_total{purpose=\"recovery\"}").await,
        1
    );
}
