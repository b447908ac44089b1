//! Complaints ("khiếu nại") over HTTP: filing from the public form (per-field errors, nothing
//! revealed about the disputed account), the officers' queue behind the staff door, and the
//! actions — lock (the impostor's login and refresh token refused), reject (unlocked), transfer
//! (the impostor's credentials gone, the owner setting a password through "Quên mật khẩu") —
//! each audited with the officer as actor and each told to the complainant by SMS. The
//! officer logs in with a software passkey (`passkey::holder`).

use reqwest::StatusCode;
use xacthuc::domain::{AccountStatus, CredentialKind, Role};
use xacthuc::store::CredentialRow;

use crate::helpers::*;
use crate::passkey::{Holder, holder, passkey_login};

/// The disputed number: the impostor's account holds it.
pub const DISPUTED: &str = "001090012345";
/// A number no account holds.
const FREE: &str = "079203004567";
const OFFICER_ID: &str = "001085000123";
pub const OFFICE: &str = "Bưu điện Hà Đông";
/// The complainant's (the rightful owner's) phone, as typed and in E.164.
pub const OWNER_PHONE: &str = "0823456088";
pub const OWNER_E164: &str = "+84823456088";
const NEW_PASSWORD: &str = "Hà-Nội@2024!";
const DESCRIPTION: &str = "Tôi chưa từng đăng ký tài khoản này, có người dùng số CCCD của tôi.";

/// A counter officer of [`OFFICE`] logged in with their passkey in a browser of their own.
pub struct Officer {
    pub b: reqwest::Client,
    pub holder: Holder,
}

pub async fn officer(t: &TestApp, id_number: &'static str) -> Officer {
    let mut holder = officer_holder(t, id_number).await;
    let b = browser();
    let resp = passkey_login(t, &b, &mut holder, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the officer logs in");
    Officer { b, holder }
}

/// An account with a passkey and the counter-officer role at [`OFFICE`].
pub async fn officer_holder(t: &TestApp, id_number: &'static str) -> Holder {
    let holder = holder(t, id_number).await;
    let grant = t.app.audit.row(xacthuc::audit::Event::new("role.granted"));
    t.app
        .db
        .grant_role(
            &holder.account_id,
            Role::CounterOfficer,
            Some(OFFICE),
            None,
            t.clock.now(),
            &grant,
        )
        .await
        .unwrap();
    holder
}

/// Files a complaint for `id_number` from a fresh browser; returns the response.
async fn file(t: &TestApp, id_number: &str, name: &str, phone: &str) -> reqwest::Response {
    let b = browser();
    submit_registration(
        t,
        &b,
        "/complaint",
        &[
            ("id_number", id_number),
            ("full_name", name),
            ("phone", phone),
            ("email", ""),
            ("description", DESCRIPTION),
        ],
    )
    .await
}

/// The ticket a page shows.
pub fn ticket_in(html: &str) -> String {
    let at = html.find("KN-").expect("a ticket on the page");
    html[at..at + 11].to_string()
}

/// Files a complaint about [`DISPUTED`] by the owner; returns its ticket.
pub async fn filed(t: &TestApp) -> String {
    let resp = file(t, DISPUTED, "Trần Thị Bình", OWNER_PHONE).await;
    assert_eq!(resp.status(), StatusCode::OK);
    ticket_in(&resp.text().await.unwrap())
}

/// The officer's action on `ticket` from its detail page (its CSRF token and the status it
/// shows), with `fields`.
pub async fn act(
    t: &TestApp,
    b: &reqwest::Client,
    ticket: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = b
        .get(t.url(&format!("/counter/complaints/{ticket}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    // A finished complaint's page has no form: the session's token from another page.
    let csrf = match hidden(&html, "csrf") {
        Some(csrf) => csrf,
        None => hidden(&page_text(b, t.url("/profile")).await, "csrf").expect("csrf"),
    };
    let status = hidden(&html, "status").unwrap_or_default();
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf), ("status", &status)];
    form.extend_from_slice(fields);
    b.post(t.url(&format!("/counter/complaints/{ticket}/{action}")))
        .form(&form)
        .send()
        .await
        .unwrap()
}

const TRANSFER: [(&str, &str); 4] = [
    ("checked", "yes"),
    ("full_name", "Trần Thị Bình"),
    ("birthdate", "12/06/1990"),
    ("phone", OWNER_PHONE),
];

async fn status_of(t: &TestApp, ticket: &str) -> String {
    t.app
        .db
        .complaint_by_ticket(ticket)
        .await
        .unwrap()
        .expect("stored")
        .status
        .as_str()
        .to_string()
}

async fn account_status(t: &TestApp, account_id: &str) -> AccountStatus {
    t.app
        .db
        .find_account(account_id)
        .await
        .unwrap()
        .unwrap()
        .status
}

/// The audit event of `kind` about `ticket`, checked to name the officer and their office.
async fn audited_by_officer(t: &TestApp, kind: &str, ticket: &str, officer: &Officer) {
    let e = t
        .app
        .db
        .audit_events(200)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == kind && e.detail["ticket"] == ticket)
        .unwrap_or_else(|| panic!("{kind} audited"));
    assert_eq!(
        e.actor_id.as_deref(),
        Some(officer.holder.account_id.as_str())
    );
    assert_eq!(e.detail["office"], OFFICE);
}

/// A password login (ID number, password, then the SMS code to `phone`); the status of the
/// password step when it is refused, else where the browser ends up.
async fn password_login(
    t: &TestApp,
    b: &reqwest::Client,
    id_number: &str,
    password: &str,
    phone: &str,
) -> Result<String, StatusCode> {
    let form = login_form(b, &t.url("/login"), id_number, password).await;
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    if !resp.status().is_redirection() {
        return Err(resp.status());
    }
    let next = location(&resp);
    if next.ends_with("/login/otp") {
        return Ok(submit_otp(t, b, &next, phone).await);
    }
    Ok(next)
}

#[tokio::test]
async fn bad_fields_are_each_explained_and_nothing_is_stored() {
    let t = spawn_app().await;
    let b = browser();
    let resp = submit_registration(
        &t,
        &b,
        "/complaint",
        &[
            ("id_number", "12345"),
            ("full_name", ""),
            ("phone", "123"),
            ("email", "không phải email"),
            ("description", "ngắn quá"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    for field in ["id_number", "full_name", "phone", "email", "description"] {
        assert!(
            html.contains(&format!("id=\"{field}-error\"")),
            "{field}: {html}"
        );
    }
    let length = t
        .app
        .theme
        .t("vi", "err_complaint_description_length")
        .replace("{min}", "20")
        .replace("{max}", "2000");
    assert!(unescape(&html).contains(&length));
    // A wrong captcha alone is refused too.
    let html = page_text(&b, t.url("/complaint")).await;
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("captcha_id", hidden(&html, "captcha_id").unwrap()),
        ("captcha", "wrong".to_string()),
        ("id_number", DISPUTED.to_string()),
        ("full_name", "Trần Thị Bình".to_string()),
        ("phone", OWNER_PHONE.to_string()),
        ("description", DESCRIPTION.to_string()),
    ];
    let resp = b
        .post(t.url("/complaint"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("id=\"captcha-error\""));
    // Without its CSRF token, nothing either.
    let resp = browser()
        .post(t.url("/complaint"))
        .form(&[("id_number", DISPUTED)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    assert!(t.app.db.complaint_queue().await.unwrap().is_empty());
    assert!(sms_texts(&t, OWNER_E164).await.is_empty());
}

#[tokio::test]
async fn the_complainant_learns_nothing_about_the_disputed_account() {
    let t = spawn_app().await;
    let impostor = t.add_account(DISPUTED, xacthuc::domain::Ial::Ial2).await;

    // The duplicate message's link fills the number in.
    let html = page_text(
        &browser(),
        t.url(&format!("/complaint?id_number={DISPUTED}")),
    )
    .await;
    assert!(html.contains(&format!("value=\"{DISPUTED}\"")));

    let taken = file(&t, DISPUTED, "Trần Thị Bình", OWNER_PHONE).await;
    let free = file(&t, FREE, "Trần Thị Bình", "0912345678").await;
    assert_eq!(taken.status(), StatusCode::OK);
    assert_eq!(free.status(), StatusCode::OK);
    let (taken, free) = (taken.text().await.unwrap(), free.text().await.unwrap());
    let (t1, t2) = (ticket_in(&taken), ticket_in(&free));
    assert_ne!(t1, t2);
    // The same page but for the ticket and the masked contact phone.
    assert_eq!(
        taken.replace(&t1, "T").replace("082****088", "P"),
        free.replace(&t2, "T").replace("091****678", "P")
    );
    assert!(
        !unescape(&taken).contains("Nguyễn Văn An"),
        "the holder's name"
    );
    assert!(
        !taken.replace(&t1, "").contains("899"),
        "the holder's phone"
    );
    // The same SMS.
    let sms_taken = sms_texts(&t, OWNER_E164).await;
    let sms_free = sms_texts(&t, "+84912345678").await;
    assert_eq!(sms_taken.len(), 1);
    assert_eq!(
        sms_taken[0].replace(&t1, "T"),
        sms_free[0].replace(&t2, "T")
    );
    assert!(sms_taken[0].contains(&t1));
    // Only the audit log knows which number has an account.
    let events = t.app.db.audit_events(50).await.unwrap();
    let of = |ticket: &str| {
        events
            .iter()
            .find(|e| e.kind == "complaint.filed" && e.detail["ticket"] == ticket)
            .expect("audited")
            .account_id
            .clone()
    };
    assert_eq!(of(&t1), Some(impostor));
    assert_eq!(of(&t2), None);
    let queue = t.app.db.complaint_queue().await.unwrap();
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[0].ticket, t1, "oldest first");
    assert_eq!(queue[0].status.as_str(), "open");
}

#[tokio::test]
async fn the_queue_opens_for_a_strong_login_with_the_role_only() {
    let t = spawn_app().await;
    let ticket = filed(&t).await;
    let queue = t.url("/counter/complaints");
    let detail = t.url(&format!("/counter/complaints/{ticket}"));

    // No session: the staff login page.
    for url in [&queue, &detail] {
        let resp = browser().get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(shows(
            &t,
            &resp.text().await.unwrap(),
            "staff_login_heading"
        ));
    }
    // A password + SMS login of an officer: too weak.
    t.add_account("001090000777", xacthuc::domain::Ial::Ial2)
        .await;
    let weak = browser();
    login(&t, &weak, &t.url("/login"), "001090000777", PASSWORD).await;
    let resp = weak.get(&queue).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.text().await.unwrap().contains("staff-weak-login"));
    // A passkey login without the role: forbidden.
    let mut citizen = holder(&t, "079203000888").await;
    let b = browser();
    passkey_login(&t, &b, &mut citizen, None).await;
    let resp = b.get(&queue).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = b.get(&detail).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = page_text(&b, t.url("/profile")).await;
    let csrf = hidden(&page, "csrf").expect("csrf");
    let resp = b
        .post(t.url(&format!("/counter/complaints/{ticket}/lock")))
        .form(&[("csrf", csrf.as_str()), ("status", "open")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(status_of(&t, &ticket).await, "open");

    // The officer sees the queue and the detail, with the disputed account (no account here).
    let o = officer(&t, OFFICER_ID).await;
    let html = page_text(&o.b, &queue).await;
    assert!(html.contains(&ticket), "{html}");
    assert!(unescape(&html).contains("Trần Thị Bình"));
    let html = page_text(&o.b, &detail).await;
    assert!(html.contains("id=\"no-disputed-account\""));
    assert!(html.contains("id=\"complaint-lock\""));
    let resp =
        o.b.get(t.url("/counter/complaints/KN-NOSUCH99"))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Locking needs an account holding the number.
    let resp = act(&t, &o.b, &ticket, "lock", &[]).await;
    refused(&t, resp, StatusCode::CONFLICT, "err_complaint_no_account").await;
    assert_eq!(status_of(&t, &ticket).await, "open");
}

#[tokio::test]
async fn lock_then_transfer_hands_the_account_to_its_owner() {
    let t = spawn_app().await;
    let mut impostor = holder(&t, DISPUTED).await;
    let id = impostor.account_id.clone();
    let link = CredentialRow {
        account_id: &id,
        kind: CredentialKind::FederatedLink,
        lookup: Some("vneid:impostor-sub"),
        data: "{}",
        label: Some("VNeID"),
    };
    t.app
        .db
        .add_credential(&link, t.clock.now(), None)
        .await
        .unwrap();
    let (client_id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &client_id, &secret, DISPUTED).await;
    let ticket = filed(&t).await;
    let o = officer(&t, OFFICER_ID).await;

    // The detail page shows the staff the disputed account, phones masked.
    let html = page_text(&o.b, t.url(&format!("/counter/complaints/{ticket}"))).await;
    assert!(unescape(&html).contains("Nguyễn Văn An"));
    assert!(html.contains("082****899"));
    assert!(!html.contains("0823628899"));
    // A transfer needs the account locked first.
    let resp = act(&t, &o.b, &ticket, "transfer", &TRANSFER).await;
    refused(&t, resp, StatusCode::CONFLICT, "err_complaint_not_allowed").await;

    // Lock.
    let resp = act(&t, &o.b, &ticket, "lock", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&resp),
        t.url(&format!("/counter/complaints/{ticket}?done=lock"))
    );
    assert_eq!(status_of(&t, &ticket).await, "account_locked");
    assert_eq!(account_status(&t, &id).await, AccountStatus::Locked);
    audited_by_officer(&t, "complaint.lock", &ticket, &o).await;
    let (_, err) = refresh(
        &t,
        &client_id,
        &secret,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        err["error"], "invalid_grant",
        "the impostor's refresh token"
    );
    let refused_login = password_login(&t, &browser(), DISPUTED, PASSWORD, PHONE_E164).await;
    assert_eq!(refused_login, Err(StatusCode::UNAUTHORIZED));
    // "Quên mật khẩu" does nothing for a locked account (the same screens, no code).
    let before = sms_texts(&t, PHONE_E164).await.len();
    let resp = submit_registration(
        &t,
        &browser(),
        "/forgot-password",
        &[("id_number", DISPUTED), ("phone", "0823628899")],
    )
    .await;
    assert_eq!(location(&resp), t.url("/forgot-password/otp"));
    assert_eq!(
        sms_texts(&t, PHONE_E164).await.len(),
        before,
        "no code sent"
    );
    let sms = sms_texts(&t, OWNER_E164).await;
    assert_eq!(sms.len(), 2);
    assert!(sms[1].contains(&ticket));
    assert_eq!(
        sms[1],
        t.app
            .theme
            .t("vi", "sms_complaint_locked")
            .replace("{ticket}", &ticket)
    );

    // The transfer needs the in-person check confirmed: nothing changes without it.
    let unchecked: Vec<_> = TRANSFER
        .iter()
        .copied()
        .filter(|(k, _)| *k != "checked")
        .collect();
    let resp = act(&t, &o.b, &ticket, "transfer", &unchecked).await;
    let html = refused(
        &t,
        resp,
        StatusCode::BAD_REQUEST,
        "err_complaint_check_required",
    )
    .await;
    assert!(html.contains("id=\"checked-error\""));
    assert_eq!(status_of(&t, &ticket).await, "account_locked");
    assert_eq!(t.app.db.verified_phones(&id).await.unwrap().len(), 1);

    let resp = act(&t, &o.b, &ticket, "transfer", &TRANSFER).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&t, &ticket).await, "resolved");
    audited_by_officer(&t, "complaint.transfer", &ticket, &o).await;
    let account = t.app.db.find_account(&id).await.unwrap().unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.full_name, "Trần Thị Bình");
    assert_eq!(account.email, None);
    let phones: Vec<_> = t
        .app
        .db
        .verified_phones(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.e164, p.is_default))
        .collect();
    assert_eq!(phones, [(OWNER_E164.to_string(), true)]);
    for kind in [
        CredentialKind::Password,
        CredentialKind::Passkey,
        CredentialKind::FederatedLink,
    ] {
        assert!(
            t.app.db.credentials_of(&id, kind).await.unwrap().is_empty(),
            "{kind:?}"
        );
    }
    let sms = sms_texts(&t, OWNER_E164).await;
    assert_eq!(
        sms.last().unwrap(),
        &t.app
            .theme
            .t("vi", "sms_complaint_transferred")
            .replace("{ticket}", &ticket)
    );
    // The impostor's password and passkey are worth nothing now.
    let refused_login = password_login(&t, &browser(), DISPUTED, PASSWORD, PHONE_E164).await;
    assert_eq!(refused_login, Err(StatusCode::UNAUTHORIZED));
    let resp = passkey_login(&t, &browser(), &mut impostor, None).await;
    assert_ne!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "the impostor's passkey"
    );
    let (_, err) = refresh(
        &t,
        &client_id,
        &secret,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");

    // The owner sets a password with "Quên mật khẩu": the code goes to their phone.
    let b = browser();
    let resp = submit_registration(
        &t,
        &b,
        "/forgot-password",
        &[("id_number", DISPUTED), ("phone", OWNER_PHONE)],
    )
    .await;
    assert_eq!(location(&resp), t.url("/forgot-password/otp"));
    let next = submit_otp(&t, &b, &t.url("/forgot-password/otp"), OWNER_E164).await;
    let resp = post_on(
        &t,
        &b,
        &next,
        "/forgot-password/password",
        &[
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let owner = browser();
    let home = password_login(&t, &owner, DISPUTED, NEW_PASSWORD, OWNER_E164).await;
    assert_eq!(home, Ok(t.url("/")));
    let profile = page_text(&owner, t.url("/profile")).await;
    assert!(unescape(&profile).contains("Trần Thị Bình"));

    // Finished: no action applies any more.
    for action in ["lock", "reject", "transfer"] {
        let resp = act(&t, &o.b, &ticket, action, &TRANSFER).await;
        refused(&t, resp, StatusCode::CONFLICT, "err_complaint_finished").await;
    }
    assert_eq!(status_of(&t, &ticket).await, "resolved");
    // Off the queue.
    let html = page_text(&o.b, t.url("/counter/complaints")).await;
    assert!(!html.contains(&ticket));
}

#[tokio::test]
async fn reject_unlocks_the_account_and_tells_the_complainant() {
    let t = spawn_app().await;
    let impostor = t.add_account(DISPUTED, xacthuc::domain::Ial::Ial2).await;
    let ticket = filed(&t).await;
    let o = officer(&t, OFFICER_ID).await;
    let resp = act(&t, &o.b, &ticket, "lock", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(account_status(&t, &impostor).await, AccountStatus::Locked);

    let resp = act(&t, &o.b, &ticket, "reject", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let done = page_text(&o.b, location(&resp)).await;
    assert!(shows(&t, &done, "complaint_done_reject"));
    assert!(done.contains("id=\"complaint-finished\""));
    assert_eq!(status_of(&t, &ticket).await, "rejected");
    assert_eq!(account_status(&t, &impostor).await, AccountStatus::Active);
    audited_by_officer(&t, "complaint.reject", &ticket, &o).await;
    let sms = sms_texts(&t, OWNER_E164).await;
    assert_eq!(sms.len(), 3, "filed, locked, rejected: {sms:?}");
    assert_eq!(
        sms[2],
        t.app
            .theme
            .t("vi", "sms_complaint_rejected")
            .replace("{ticket}", &ticket)
    );
    // The holder logs in again.
    let home = password_login(&t, &browser(), DISPUTED, PASSWORD, PHONE_E164).await;
    assert_eq!(home, Ok(t.url("/")));
    let resp = act(&t, &o.b, &ticket, "lock", &[]).await;
    refused(&t, resp, StatusCode::CONFLICT, "err_complaint_finished").await;
}

#[tokio::test]
async fn of_two_officers_acting_at_once_the_second_is_told_it_moved() {
    let t = spawn_app().await;
    let impostor = t.add_account(DISPUTED, xacthuc::domain::Ial::Ial2).await;
    let ticket = filed(&t).await;
    let first = officer(&t, OFFICER_ID).await;
    let second = officer(&t, "079203000999").await;
    // Both open the complaint while it is open.
    let page = page_text(&second.b, t.url(&format!("/counter/complaints/{ticket}"))).await;
    let csrf = hidden(&page, "csrf").unwrap();
    let resp = act(&t, &first.b, &ticket, "lock", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    // The second officer's "reject", decided on the open complaint, is not applied.
    let resp = second
        .b
        .post(t.url(&format!("/counter/complaints/{ticket}/reject")))
        .form(&[("csrf", csrf.as_str()), ("status", "open")])
        .send()
        .await
        .unwrap();
    let html = refused(&t, resp, StatusCode::CONFLICT, "err_complaint_moved").await;
    assert!(
        html.contains("data-status=\"account_locked\""),
        "shows where it stands"
    );
    assert_eq!(status_of(&t, &ticket).await, "account_locked");
    assert_eq!(account_status(&t, &impostor).await, AccountStatus::Locked);
    // The store's compare-and-set itself: a move from a status the complaint left is refused.
    let c = t
        .app
        .db
        .complaint_by_ticket(&ticket)
        .await
        .unwrap()
        .unwrap();
    let row = t
        .app
        .audit
        .row(xacthuc::audit::Event::new("complaint.test"));
    let by = xacthuc::store::complaints::Handler {
        account_id: &second.holder.account_id,
        office: OFFICE,
    };
    use xacthuc::domain::ComplaintStatus::*;
    let moved = t
        .app
        .db
        .move_complaint(
            &c.id,
            Open,
            Rejected,
            by,
            &xacthuc::store::complaints::AccountChange::None,
            t.clock.now(),
            &row,
        )
        .await
        .unwrap();
    assert!(!moved);
    assert!(
        t.app
            .db
            .audit_events(50)
            .await
            .unwrap()
            .iter()
            .all(|e| e.kind != "complaint.test"),
        "nothing written"
    );
}
