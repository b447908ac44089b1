//! The counter over HTTP (no browser): the staff-area door of `/counter`, a registration at
//! the counter finished on the citizen's phone (link → SMS code → password), its refusals
//! (fields, duplicate, used, expired, unknown links, wrong code), and the assisted password
//! reset (every session and refresh token of the account ends). The officer logs in with a
//! software passkey (`passkey::holder`), the simplest strong login.

use reqwest::StatusCode;
use xacthuc::domain::{Ial, Role};

use crate::admin_support::{StaffDesk, grant, staff_desk};
use crate::helpers::*;
use crate::passkey::{holder, passkey_login};

const OFFICER: &str = "001085000111";
const CITIZEN: &str = "001090000777";
const OFFICE: &str = "Bưu điện Hà Đông";

/// The officer, logged in with a passkey in a browser of their own.
async fn desk(t: &TestApp) -> StaffDesk {
    staff_desk(t, OFFICER, &[Role::CounterOfficer]).await
}

/// Posts the console form at `page` to `action` with `fields` (CSRF from the page).
async fn post_form(
    t: &TestApp,
    d: &StaffDesk,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post_on(t, &d.b, &t.url(page), action, fields).await
}

fn registration_fields<'a>(id_number: &'a str, phone: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("documents_checked", "yes"),
        ("id_number", id_number),
        ("full_name", "Trần Thị Bình"),
        ("birthdate", "12/06/1990"),
        ("phone", phone),
        ("email", "binh@example.vn"),
    ]
}

/// The link in the newest SMS to `phone`.
async fn link_sent_to(t: &TestApp, phone: &str) -> String {
    let texts = sms_texts(t, phone).await;
    let text = texts.last().expect("an SMS");
    let start = text.find("http").expect("a link in the SMS");
    let link = text[start..].split_whitespace().next().unwrap().to_string();
    assert!(link.starts_with(&t.url("/counter/complete/")), "{link}");
    link
}

/// The citizen opens the link and asks for the code: where the flow goes.
async fn open_link(b: &reqwest::Client, link: &str) -> reqwest::Response {
    let html = page_text(b, link).await;
    let csrf = hidden(&html, "csrf").expect("the link's page has a form");
    b.post(link)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

/// The new-password form of the citizen's flow.
async fn choose_password(t: &TestApp, b: &reqwest::Client, password: &str) -> reqwest::Response {
    post_on(
        t,
        b,
        &t.url("/counter/finish/password"),
        "/counter/finish/password",
        &[("password", password), ("password_confirm", password)],
    )
    .await
}

const NEW_PASSWORD: &str = "Qu@y-giao-dich-2026";

#[tokio::test]
async fn the_counter_opens_only_to_a_strong_login_of_an_officer() {
    let t = spawn_app().await;
    // No session: the staff login page, naming the strong methods.
    let resp = browser().get(t.url("/counter")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(shows(&t, &html, "staff_login_explain"), "{html}");

    // A password + SMS code login, even of an officer, is too weak.
    let mut officer = holder(&t, OFFICER).await;
    grant(&t, &officer.account_id, Role::CounterOfficer).await;
    let weak = browser();
    login(&t, &weak, &t.url("/login"), OFFICER, PASSWORD).await;
    let resp = weak.get(t.url("/counter")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.text().await.unwrap().contains("staff-weak-login"));
    // Its forms are refused the same way.
    let resp = post_on(
        &t,
        &weak,
        &t.url("/profile"),
        "/counter/register",
        &registration_fields(CITIZEN, PHONE_E164),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // A passkey login without the role: 403, audited.
    let mut other = holder(&t, "079203004567").await;
    let b = browser();
    passkey_login(&t, &b, &mut other, None).await;
    let resp = b.get(t.url("/counter")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let forbidden = audited_for_actor(&t, "staff.forbidden", &other.account_id).await;
    assert!(forbidden.is_some(), "the refusal is audited");

    // The officer with a passkey: the console, with their name, office and actions.
    let b = browser();
    passkey_login(&t, &b, &mut officer, None).await;
    let resp = b.get(t.url("/counter")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = unescape(&resp.text().await.unwrap());
    assert!(html.contains("Nguyễn Văn An"), "{html}");
    assert!(html.contains(OFFICE), "{html}");
    assert!(shows(&t, &html, "counter_action_register"));
    assert!(shows(&t, &html, "counter_action_reset"));
    // In English when asked.
    let en = page_text(&b, t.url("/counter?lang=en")).await;
    assert!(
        en.contains(&t.app.theme.t("en", "counter_action_register")),
        "{en}"
    );
    // Nothing was sent to anyone.
    assert!(no_link_sent(&t, PHONE_E164).await);
}

/// Whether no counter link went to `phone`.
async fn no_link_sent(t: &TestApp, phone: &str) -> bool {
    sms_texts(t, phone)
        .await
        .iter()
        .all(|s| !s.contains("/counter/complete/"))
}

/// The newest audit event of `kind` done by `actor`.
async fn audited_for_actor(
    t: &TestApp,
    kind: &str,
    actor: &str,
) -> Option<xacthuc::store::AuditRecord> {
    t.app
        .db
        .audit_events(200)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == kind && e.actor_id.as_deref() == Some(actor))
}

#[tokio::test]
async fn a_citizen_registered_at_the_counter_finishes_on_their_phone_and_logs_in() {
    let t = spawn_app().await;
    let d = desk(&t).await;
    let officer = d.holder.account_id.clone();

    let resp = post_form(
        &t,
        &d,
        "/counter/register",
        "/counter/register",
        &registration_fields(CITIZEN, "0823628899"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = unescape(&resp.text().await.unwrap());
    assert!(
        html.contains("082****899"),
        "the officer sees where the link went: {html}"
    );
    let started = audited_for_actor(&t, "counter.registration_started", &officer)
        .await
        .expect("audited");
    assert_eq!(started.detail["office"], OFFICE);
    assert!(
        t.app
            .db
            .find_account_by_id_number(CITIZEN)
            .await
            .unwrap()
            .is_none(),
        "nothing yet"
    );

    // The citizen, on their phone.
    let link = link_sent_to(&t, PHONE_E164).await;
    let phone = browser();
    let page = phone.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = unescape(&page.text().await.unwrap());
    assert!(html.contains("Trần Thị Bình"), "{html}");
    let sms_before = sms_texts(&t, PHONE_E164).await.len();
    let resp = open_link(&phone, &link).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), t.url("/counter/finish/otp"));
    assert_eq!(
        sms_texts(&t, PHONE_E164).await.len(),
        sms_before + 1,
        "the code went out"
    );

    // A wrong code is refused; the password page is not reachable yet.
    let code = latest_otp(&t, PHONE_E164).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let resp = post_on(
        &t,
        &phone,
        &t.url("/counter/finish/otp"),
        "/counter/finish/otp",
        &[("otp", wrong)],
    )
    .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = phone
        .get(t.url("/counter/finish/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), t.url("/counter/finish/otp"));

    let next = submit_otp(&t, &phone, &t.url("/counter/finish/otp"), PHONE_E164).await;
    assert_eq!(next, t.url("/counter/finish/password"));
    // A password the policy refuses: said under the field, nothing created.
    let resp = choose_password(&t, &phone, "short").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        t.app
            .db
            .find_account_by_id_number(CITIZEN)
            .await
            .unwrap()
            .is_none()
    );
    let resp = choose_password(&t, &phone, NEW_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "register_done_heading"
    ));

    let account = t
        .app
        .db
        .find_account_by_id_number(CITIZEN)
        .await
        .unwrap()
        .expect("created");
    assert_eq!(account.registration_method, "counter");
    assert_eq!(account.ial, Ial::Ial2);
    assert_eq!(account.full_name, "Trần Thị Bình");
    assert_eq!(
        account.birthdate,
        chrono::NaiveDate::from_ymd_opt(1990, 6, 12)
    );
    assert_eq!(account.email.as_deref(), Some("binh@example.vn"));
    let phones = t.app.db.verified_phones(&account.id).await.unwrap();
    assert_eq!(phones.len(), 1);
    assert_eq!(phones[0].e164, PHONE_E164);
    let levels = t.app.db.account_levels(&account.id).await.unwrap();
    assert_eq!(levels.len(), 1);
    assert_eq!(levels[0].method, "counter");
    assert_eq!(levels[0].level, Ial::Ial2);
    let created = audited_for(&t, "account.registered", &account.id)
        .await
        .expect("audited");
    assert_eq!(created.actor_id.as_deref(), Some(officer.as_str()));
    assert_eq!(created.detail["office"], OFFICE);
    assert_eq!(created.detail["method"], "counter");

    // The link works once.
    let again = browser().get(&link).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(shows(&t, &again.text().await.unwrap(), "counter_link_used"));

    // The citizen logs in with the password and an SMS code.
    let b = browser();
    let home = login(&t, &b, &t.url("/login"), CITIZEN, NEW_PASSWORD).await;
    assert_eq!(home, t.url("/"));
    assert!(unescape(&page_text(&b, t.url("/")).await).contains("Trần Thị Bình"));
}

#[tokio::test]
async fn a_counter_form_with_wrong_fields_says_what_is_wrong_and_sends_nothing() {
    let t = spawn_app().await;
    let d = desk(&t).await;
    let resp = post_form(
        &t,
        &d,
        "/counter/register",
        "/counter/register",
        &[
            ("id_number", "12345"),
            ("full_name", "Trần Thị Bình"),
            ("birthdate", "12/06/1990"),
            ("phone", "0123"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"documents_checked-error\""), "{html}");
    assert!(html.contains("id=\"id_number-error\""), "{html}");
    assert!(html.contains("id=\"phone-error\""), "{html}");
    assert!(shows(&t, &html, "err_counter_documents_unchecked"));
    assert!(shows(&t, &html, "err_id_number_malformed"));
    // What was typed stays in the form.
    assert!(unescape(&html).contains("Trần Thị Bình"));

    // All fields right but the box unticked: still refused.
    let mut fields = registration_fields(CITIZEN, PHONE_E164);
    fields.remove(0);
    let resp = post_form(&t, &d, "/counter/register", "/counter/register", &fields).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "err_counter_documents_unchecked"
    ));

    // A 9-digit CMND is fine at the counter; a mobile number is required.
    let resp = post_form(
        &t,
        &d,
        "/counter/register",
        "/counter/register",
        &registration_fields("123456789", "0241234567"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(!html.contains("id=\"id_number-error\""), "{html}");
    assert!(shows(&t, &html, "err_phone_not_mobile"));

    assert!(
        audited_for_actor(&t, "counter.registration_started", &d.holder.account_id)
            .await
            .is_none()
    );
    assert!(no_link_sent(&t, PHONE_E164).await);
    // Without its CSRF token, the form is refused.
    let resp =
        d.b.post(t.url("/counter/register"))
            .form(&registration_fields(CITIZEN, PHONE_E164))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_id_number_that_has_an_account_is_the_duplicate_message_with_the_reset_as_the_way_on() {
    let t = spawn_app().await;
    let d = desk(&t).await;
    t.add_account_with_phones(CITIZEN, Ial::Ial2, &["+84912345678"])
        .await;
    let resp = post_form(
        &t,
        &d,
        "/counter/register",
        "/counter/register",
        &registration_fields(CITIZEN, PHONE_E164),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"counter-duplicate\""), "{html}");
    assert!(
        html.contains("/counter/reset\""),
        "the reset is offered: {html}"
    );
    assert!(no_link_sent(&t, PHONE_E164).await);
}

#[tokio::test]
async fn expired_unknown_and_overtaken_links_create_nothing() {
    let t = spawn_app().await;
    let mut d = desk(&t).await;
    let resp = post_form(
        &t,
        &d,
        "/counter/register",
        "/counter/register",
        &registration_fields(CITIZEN, PHONE_E164),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let link = link_sent_to(&t, PHONE_E164).await;

    // Unknown links.
    for bad in [
        "/counter/complete/nope",
        "/counter/complete/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let resp = browser().get(t.url(bad)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{bad}");
        assert!(shows(
            &t,
            &resp.text().await.unwrap(),
            "counter_link_unknown"
        ));
    }

    // The citizen starts, but a day passes before the password: the link has expired (and,
    // with the in-memory store, which follows the test clock, the flow too).
    let phone = browser();
    open_link(&phone, &link).await;
    submit_otp(&t, &phone, &t.url("/counter/finish/otp"), PHONE_E164).await;
    let html = page_text(&phone, t.url("/counter/finish/password")).await;
    let csrf = hidden(&html, "csrf").expect("the password form");
    t.advance(24 * 3600 + 1);
    let resp = phone
        .post(t.url("/counter/finish/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        [StatusCode::GONE, StatusCode::BAD_REQUEST].contains(&resp.status()),
        "{}",
        resp.status()
    );
    let resp = browser().get(&link).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::GONE);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "counter_link_expired"
    ));
    // Asking for a code on it sends none.
    let sent = sms_texts(&t, PHONE_E164).await.len();
    let path = link.trim_start_matches(&t.base).to_string();
    let resp = post_on(&t, &browser(), &t.url("/forgot-password"), &path, &[]).await;
    assert_eq!(resp.status(), StatusCode::GONE);
    assert_eq!(sms_texts(&t, PHONE_E164).await.len(), sent);
    assert!(
        t.app
            .db
            .find_account_by_id_number(CITIZEN)
            .await
            .unwrap()
            .is_none()
    );

    // A new link (the officer logs in again: a day ended their session too), but the ID
    // number gets an account meanwhile (another registration).
    let resp = passkey_login(&t, &d.b, &mut d.holder, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = post_form(
        &t,
        &d,
        "/counter/register",
        "/counter/register",
        &registration_fields(CITIZEN, PHONE_E164),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let link = link_sent_to(&t, PHONE_E164).await;
    let phone = browser();
    open_link(&phone, &link).await;
    submit_otp(&t, &phone, &t.url("/counter/finish/otp"), PHONE_E164).await;
    let other = t
        .add_account_with_phones(CITIZEN, Ial::Ial2, &["+84912345678"])
        .await;
    let resp = choose_password(&t, &phone, NEW_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "counter_link_duplicate"
    ));
    let resp = browser().get(&link).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let account = t
        .app
        .db
        .find_account_by_id_number(CITIZEN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.id, other, "the other account stays as it was");
    assert_eq!(account.registration_method, "test");
}

#[tokio::test]
async fn an_assisted_reset_sets_a_new_password_and_ends_every_session_and_token() {
    let t = spawn_app().await;
    let citizen = t
        .add_account_with_phones(CITIZEN, Ial::Ial2, &[PHONE_E164, "+84912345678"])
        .await;
    // The citizen's sessions and a portal's refresh token from before.
    let (client_id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &client_id, &secret, CITIZEN).await;
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let old = browser();
    login(&t, &old, &t.url("/login"), CITIZEN, PASSWORD).await;
    assert_eq!(
        old.get(t.url("/profile")).send().await.unwrap().status(),
        StatusCode::OK
    );

    let d = desk(&t).await;
    let officer = d.holder.account_id.clone();
    // The ID number → the name, birth date and masked phones.
    let resp = post_form(
        &t,
        &d,
        "/counter/reset",
        "/counter/reset",
        &[("id_number", CITIZEN)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = unescape(&resp.text().await.unwrap());
    assert!(
        html.contains("id=\"account-name\">Nguyễn Văn An<"),
        "{html}"
    );
    assert!(
        html.contains("id=\"account-birthdate\">12/06/1990<"),
        "{html}"
    );
    assert!(
        html.contains("082****899") && html.contains("091****678"),
        "{html}"
    );
    assert!(!html.contains("0912345678"), "phones are masked");
    let viewed = audited_for(&t, "counter.account_viewed", &citizen)
        .await
        .expect("audited");
    assert_eq!(viewed.actor_id.as_deref(), Some(officer.as_str()));
    let account_id = hidden(&html, "account_id").expect("the account");
    let second = t.app.db.verified_phones(&citizen).await.unwrap()[1]
        .id
        .clone();

    // Without the documents checked: refused, nothing sent.
    let resp = post_form(
        &t,
        &d,
        "/counter/reset",
        "/counter/reset/send",
        &[("account_id", &account_id), ("phone_id", &second)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "err_counter_documents_unchecked"
    ));
    assert!(sms_texts(&t, "+84912345678").await.is_empty());

    // The citizen has their second phone with them.
    let resp = post_form(
        &t,
        &d,
        "/counter/reset",
        "/counter/reset/send",
        &[
            ("account_id", &account_id),
            ("phone_id", &second),
            ("documents_checked", "yes"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(unescape(&resp.text().await.unwrap()).contains("091****678"));
    let started = audited_for(&t, "counter.reset_started", &citizen)
        .await
        .expect("audited");
    assert_eq!(started.actor_id.as_deref(), Some(officer.as_str()));
    assert_eq!(started.detail["office"], OFFICE);

    let link = link_sent_to(&t, "+84912345678").await;
    let phone = browser();
    let resp = open_link(&phone, &link).await;
    assert_eq!(location(&resp), t.url("/counter/finish/otp"));
    submit_otp(&t, &phone, &t.url("/counter/finish/otp"), "+84912345678").await;
    let resp = choose_password(&t, &phone, NEW_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(shows(&t, &resp.text().await.unwrap(), "reset_done_heading"));
    let reset = audited_for(&t, "account.password_reset", &citizen)
        .await
        .expect("audited");
    assert_eq!(reset.actor_id.as_deref(), Some(officer.as_str()));
    assert_eq!(reset.detail["via"], "counter");
    assert_eq!(reset.detail["office"], OFFICE);
    // Each of the account's phones hears of it.
    let notice = says(&t, "sms_notice_password_reset_counter");
    for phone in [PHONE_E164, "+84912345678"] {
        assert!(sms_texts(&t, phone).await.contains(&notice), "{phone}");
    }

    // Every old session and token is dead.
    let resp = old.get(t.url("/profile")).send().await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(location(&resp).contains("/login"));
    let (status, body) = refresh(&t, &client_id, &secret, &refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    // The old password no longer works, the new one does.
    let b = browser();
    let form = login_form(&b, &t.url("/login"), CITIZEN, PASSWORD).await;
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let b = browser();
    assert_eq!(
        login(&t, &b, &t.url("/login"), CITIZEN, NEW_PASSWORD).await,
        t.url("/")
    );

    // The link works once.
    let resp = browser().get(&link).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_reset_for_an_unknown_id_number_or_another_accounts_phone_is_refused() {
    let t = spawn_app().await;
    let citizen = t.add_account(CITIZEN, Ial::Ial2).await;
    let other = t
        .add_account_with_phones("079203004568", Ial::Ial2, &["+84912345678"])
        .await;
    let d = desk(&t).await;
    let resp = post_form(
        &t,
        &d,
        "/counter/reset",
        "/counter/reset",
        &[("id_number", "001090000999")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(shows(&t, &resp.text().await.unwrap(), "counter_no_account"));
    let resp = post_form(
        &t,
        &d,
        "/counter/reset",
        "/counter/reset",
        &[("id_number", "12")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let foreign = t.app.db.verified_phones(&other).await.unwrap()[0]
        .id
        .clone();
    let resp = post_form(
        &t,
        &d,
        "/counter/reset",
        "/counter/reset/send",
        &[
            ("account_id", &citizen),
            ("phone_id", &foreign),
            ("documents_checked", "yes"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(sms_texts(&t, "+84912345678").await.is_empty());
    assert!(
        audited_for(&t, "counter.reset_started", &citizen)
            .await
            .is_none()
    );
}
