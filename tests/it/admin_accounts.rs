//! Accounts in the admin area: who may search, view and lock (per role, at the API and in the
//! console), the search keys and their refusals, the view (everything but secrets, audited),
//! lock and unlock (login, refresh and sessions; a stale edit; a complaint's hold) and
//! "revoke sessions and tokens".

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xacthuc::domain::{AccountStatus, Ial, Role, SubjectType};
use xacthuc::store::NewAccount;

use crate::admin_support::*;
use crate::helpers::*;

pub const CITIZEN: &str = "001090000333";
const ADMIN_ID: &str = "001085000222";
const AUDITOR_ID: &str = "001085000444";
/// A valid tax code (python-stdnum's example).
const TAX_CODE: &str = "0100233488";

/// Where a password login of `id_number` ends: the redirect, or the refusal's status.
pub async fn password_login(t: &TestApp, id_number: &str) -> Result<String, StatusCode> {
    let b = browser();
    let form = login_form(&b, &t.url("/login"), id_number, PASSWORD).await;
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    if !resp.status().is_redirection() {
        return Err(resp.status());
    }
    let next = location(&resp);
    if next.ends_with("/login/otp") {
        return Ok(submit_otp(t, &b, &next, PHONE_E164).await);
    }
    Ok(next)
}

async fn status_of(t: &TestApp, id: &str) -> AccountStatus {
    t.app.db.find_account(id).await.unwrap().unwrap().status
}

async fn lock_body(t: &TestApp, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/admin/api/v1/accounts/{id}/lock");
    api_call(t, Some(token), Method::POST, &path, Some(body)).await
}

async fn enterprise(t: &TestApp) -> String {
    t.app
        .db
        .create_account(
            &NewAccount {
                subject_type: SubjectType::Enterprise,
                id_number: None,
                tax_code: Some(TAX_CODE.into()),
                full_name: "Công ty TNHH Sông Hồng".into(),
                birthdate: None,
                email: None,
                ial: Ial::Ial3,
                registration_method: "usb_token".into(),
                phones: vec!["+84912345678".into()],
                password_hash: None,
            },
            t.clock.now(),
        )
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn each_role_gets_what_the_table_allows_and_a_refusal_is_audited() {
    let t = spawn_app().await;
    let id = t.add_account(CITIZEN, Ial::Ial2).await;
    let search = format!("/admin/api/v1/accounts?id_number={CITIZEN}");
    let view = format!("/admin/api/v1/accounts/{id}");
    let lock = format!("/admin/api/v1/accounts/{id}/lock");
    let body = json!({ "reason": "thử", "expected_status": "active" });

    // No token: 401 everywhere.
    for (method, path) in [
        (Method::GET, search.as_str()),
        (Method::GET, view.as_str()),
        (Method::POST, lock.as_str()),
    ] {
        let (status, _) = api_call(&t, None, method, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }

    // Client managers and counter officers: 403, even to read.
    for role in [Role::ClientManager, Role::CounterOfficer] {
        let token = api_token(&t, &[role]).await;
        let (status, body) = api_get(&t, &token, &search).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}: {body}");
        assert_eq!(body["error"], "forbidden");
        let (status, _) = api_get(&t, &token, &view).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
    }

    // An auditor reads, and may not lock: 403, audited, nothing changed.
    let (auditor, secret) = api_client(&t, &[Role::Auditor]).await;
    let token = token_of(&t, &auditor, &secret, &[Role::Auditor]).await;
    let (status, found) = api_get(&t, &token, &search).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["accounts"][0]["id"], id.as_str());
    let (status, _) = api_get(&t, &token, &view).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = lock_body(&t, &token, &id, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = audited_kind(&t, "admin.forbidden").await.expect("audited");
    assert_eq!(
        refused.actor_id.as_deref(),
        Some(format!("client:{auditor}").as_str())
    );
    assert_eq!(refused.detail["resource"], "accounts");
    assert_eq!(refused.detail["access"], "write");
    assert_eq!(status_of(&t, &id).await, AccountStatus::Active);

    // An admin locks.
    let admin = api_token(&t, &[Role::Admin]).await;
    let (status, locked) = lock_body(&t, &admin, &id, body).await;
    assert_eq!(status, StatusCode::OK, "{locked}");
    assert_eq!(locked["status"], "locked");
}

#[tokio::test]
async fn search_by_each_key_refuses_bad_values_per_field_and_finds_nothing_for_a_stranger() {
    let t = spawn_app().await;
    let citizen = t.add_account(CITIZEN, Ial::Ial2).await;
    let company = enterprise(&t).await;
    // An unverified phone of the citizen is found too.
    t.app
        .db
        .add_phone(&citizen, "+84987654321", false, t.clock.now(), None)
        .await
        .unwrap();
    let token = api_token(&t, &[Role::Admin]).await;
    let found = |path: String| {
        let t = &t;
        let token = token.clone();
        async move {
            let (status, body) = api_get(t, &token, &path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found(format!("/admin/api/v1/accounts?id_number={CITIZEN}")).await,
        [citizen.as_str()]
    );
    assert_eq!(
        found(format!("/admin/api/v1/accounts?tax_code={TAX_CODE}")).await,
        [company.as_str()]
    );
    // National or international form; the default phone and an unverified one.
    assert_eq!(
        found("/admin/api/v1/accounts?phone=0823628899".into()).await,
        [citizen.as_str()]
    );
    assert_eq!(
        found("/admin/api/v1/accounts?phone=%2B84987654321".into()).await,
        [citizen.as_str()]
    );
    let (_, one) = api_get(
        &t,
        &token,
        &format!("/admin/api/v1/accounts?tax_code={TAX_CODE}"),
    )
    .await;
    assert_eq!(one["accounts"][0]["subject_type"], "enterprise");
    assert_eq!(one["accounts"][0]["ial"], 3);
    assert_eq!(one["accounts"][0]["status"], "active");
    assert_eq!(one["accounts"][0]["full_name"], "Công ty TNHH Sông Hồng");

    // Valid keys nobody has: empty lists.
    assert!(
        found("/admin/api/v1/accounts?id_number=079090000111".into())
            .await
            .is_empty()
    );
    assert!(
        found("/admin/api/v1/accounts?phone=0911111111".into())
            .await
            .is_empty()
    );

    // Bad values: 422 with the field's message; two keys: both fields; none: 400.
    for (query, field, key) in [
        ("id_number=12345", "id_number", "err_id_number_malformed"),
        (
            "id_number=999090000111",
            "id_number",
            "err_id_number_province",
        ),
        (
            "tax_code=0100233489",
            "tax_code",
            "admin_accounts_tax_code_check",
        ),
        (
            "tax_code=12ab",
            "tax_code",
            "admin_accounts_tax_code_malformed",
        ),
        ("phone=12345", "phone", "err_phone_malformed"),
    ] {
        let (status, body) = api_get(&t, &token, &format!("/admin/api/v1/accounts?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"], "invalid");
        assert_eq!(body["fields"][field], says(&t, key), "{query}");
    }
    let (status, body) = api_get(
        &t,
        &token,
        &format!("/admin/api/v1/accounts?id_number={CITIZEN}&phone=0823628899"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["id_number"].is_string() && body["fields"]["phone"].is_string());
    let (status, body) = api_get(&t, &token, "/admin/api/v1/accounts").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], says(&t, "admin_accounts_search_one"));
    let (status, _) = api_get(&t, &token, "/admin/api/v1/accounts?phone=1&phone=2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An unknown account: 404.
    let (status, _) = api_get(&t, &token, "/admin/api/v1/accounts/no-such-account").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_view_shows_identity_history_phones_credentials_and_sessions_but_no_secret() {
    let t = spawn_app().await;
    let id = t.add_account(CITIZEN, Ial::Ial2).await;
    t.app
        .db
        .add_phone(&id, "+84987654321", false, t.clock.now(), None)
        .await
        .unwrap();
    let (client, secret) = t.add_client(|_| {}).await;
    tokens_for(&t, &client, &secret.unwrap(), CITIZEN).await;
    let (api, api_secret) = api_client(&t, &[Role::Auditor]).await;
    let token = token_of(&t, &api, &api_secret, &[Role::Auditor]).await;

    let (status, v) = api_get(&t, &token, &format!("/admin/api/v1/accounts/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["full_name"], "Nguyễn Văn An");
    assert_eq!(v["id_number"], CITIZEN);
    assert_eq!(v["birthdate"], "1990-06-12");
    assert_eq!(v["subject_type"], "citizen");
    assert_eq!(v["status"], "active");
    assert_eq!(v["ial"], 2);
    assert_eq!(v["registration_method"], "test");
    assert!(v["created_at"].is_string());
    assert_eq!(v["email"], "an@example.vn");
    assert_eq!(v["levels"][0]["level"], 2);
    assert_eq!(v["levels"][0]["method"], "test");
    // Full numbers, which is default and which verified.
    assert_eq!(v["phones"][0]["number"], PHONE_E164);
    assert_eq!(v["phones"][0]["national"], "0823628899");
    assert_eq!(v["phones"][0]["is_default"], true);
    assert_eq!(v["phones"][0]["verified"], true);
    assert_eq!(v["phones"][1]["number"], "+84987654321");
    assert_eq!(v["phones"][1]["verified"], false);
    // The password is listed, its hash is not.
    assert_eq!(v["credentials"][0]["kind"], "password");
    let text = v.to_string();
    assert!(!text.contains("argon2"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    // The session the login made, with the client it gave tokens to.
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["sessions"][0]["clients"][0], client.as_str());
    assert!(
        v["sessions"][0]["amr"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "pwd")
    );
    assert_eq!(v["roles"], json!([]));
    assert!(v["held_by_complaint"].is_null());

    // Reading someone's personal data is audited, with who read it.
    let seen = audited_for(&t, "admin.account.viewed", &id)
        .await
        .expect("audited");
    assert_eq!(seen.actor_id, Some(format!("client:{api}")));
    assert_eq!(seen.detail["via"], "api");
}

#[tokio::test]
async fn a_lock_refuses_login_and_refresh_and_ends_sessions_and_an_unlock_lets_the_owner_back() {
    let t = spawn_app().await;
    let id = t.add_account(CITIZEN, Ial::Ial2).await;
    let (client, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &client, &secret, CITIZEN).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert!(
        !xacthuc::oidc::interaction::sessions_of(&t.app, &id)
            .await
            .unwrap()
            .is_empty()
    );
    let (api, api_secret) = api_client(&t, &[Role::Admin]).await;
    let token = token_of(&t, &api, &api_secret, &[Role::Admin]).await;

    // Without a reason, or from a status the admin did not see: 422, nothing changed.
    let (status, body) = lock_body(&t, &token, &id, json!({ "expected_status": "active" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["fields"]["reason"],
        says(&t, "admin_accounts_reason_required")
    );
    let (status, body) = lock_body(
        &t,
        &token,
        &id,
        json!({ "reason": "x", "expected_status": "locked" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["expected_status"].is_string());
    let (status, body) = api_call(
        &t,
        Some(&token),
        Method::POST,
        &format!("/admin/api/v1/accounts/{id}/lock"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not JSON: {body}");
    assert_eq!(status_of(&t, &id).await, AccountStatus::Active);

    let reason = "Nghi bị chiếm đoạt, theo công văn 12/CV";
    let (status, body) = lock_body(
        &t,
        &token,
        &id,
        json!({ "reason": reason, "expected_status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_of(&t, &id).await, AccountStatus::Locked);
    // The refresh token issued before is rejected, the session is gone, and the password
    // no longer logs in.
    let (status, err) = refresh(&t, &client, &secret, refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert!(
        xacthuc::oidc::interaction::sessions_of(&t.app, &id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        password_login(&t, CITIZEN).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let row = audited_for(&t, "admin.account.locked", &id)
        .await
        .expect("audited");
    assert_eq!(row.actor_id, Some(format!("client:{api}")));
    assert_eq!(row.detail["reason"], reason);
    assert_eq!(row.detail["before"], json!({ "status": "active" }));
    assert_eq!(row.detail["after"], json!({ "status": "locked" }));
    assert_eq!(row.detail["via"], "api");

    // A second admin who saw it active: 409, nothing written.
    let events = t.app.db.audit_events(500).await.unwrap().len();
    let (status, body) = lock_body(
        &t,
        &token,
        &id,
        json!({ "reason": "cũng khóa", "expected_status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["message"], says(&t, "admin_stale_edit"));
    assert_eq!(t.app.db.audit_events(500).await.unwrap().len(), events);

    // Unlock: the password works again.
    let unlock = format!("/admin/api/v1/accounts/{id}/unlock");
    let (status, body) = api_call(
        &t,
        Some(&token),
        Method::POST,
        &unlock,
        Some(json!({ "expected_status": "locked" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    assert!(password_login(&t, CITIZEN).await.is_ok());
    let row = audited_for(&t, "admin.account.unlocked", &id)
        .await
        .expect("audited");
    assert_eq!(row.detail["after"], json!({ "status": "active" }));
    // A stale unlock: 409.
    let (status, _) = api_call(
        &t,
        Some(&token),
        Method::POST,
        &unlock,
        Some(json!({ "expected_status": "locked" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Unknown account: 404.
    let (status, _) = lock_body(
        &t,
        &token,
        "no-such-account",
        json!({ "reason": "x", "expected_status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_account_a_complaint_holds_locked_is_not_unlocked_by_an_admin() {
    use xacthuc::domain::ComplaintStatus;
    use xacthuc::store::complaints::{AccountChange, Handler, NewComplaint};
    let t = spawn_app().await;
    let id = t.add_account(CITIZEN, Ial::Ial2).await;
    let officer = t.add_account("001085000555", Ial::Ial2).await;
    let row = t
        .app
        .audit
        .row(xacthuc::audit::Event::new("complaint.filed"));
    let complaint = t
        .app
        .db
        .file_complaint(
            &NewComplaint {
                ticket: "KN-TEST0001".into(),
                id_number: CITIZEN.into(),
                account_id: Some(id.clone()),
                complainant_name: "Trần Thị Bình".into(),
                contact_phone: "+84823456088".into(),
                contact_email: None,
                description: "Số CCCD của tôi bị người khác đăng ký.".into(),
                locale: "vi".into(),
            },
            t.clock.now(),
            &row,
        )
        .await
        .unwrap();
    let by = Handler {
        account_id: &officer,
        office: "Bưu điện Hà Đông",
    };
    let lock = AccountChange::Lock {
        account_id: id.clone(),
    };
    let row = t
        .app
        .audit
        .row(xacthuc::audit::Event::new("complaint.lock"));
    let from = ComplaintStatus::Open;
    let to = ComplaintStatus::AccountLocked;
    assert!(
        t.app
            .db
            .move_complaint(&complaint.id, from, to, by, &lock, t.clock.now(), &row)
            .await
            .unwrap()
    );
    assert_eq!(status_of(&t, &id).await, AccountStatus::Locked);

    let token = api_token(&t, &[Role::Admin]).await;
    let (_, view) = api_get(&t, &token, &format!("/admin/api/v1/accounts/{id}")).await;
    assert_eq!(view["held_by_complaint"], "KN-TEST0001");
    let (status, body) = api_call(
        &t,
        Some(&token),
        Method::POST,
        &format!("/admin/api/v1/accounts/{id}/unlock"),
        Some(json!({ "expected_status": "locked" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("KN-TEST0001"),
        "{body}"
    );
    assert_eq!(status_of(&t, &id).await, AccountStatus::Locked);
    assert!(
        audited_for(&t, "admin.account.unlocked", &id)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn revoking_sessions_ends_them_and_every_refresh_token_but_leaves_the_account_active() {
    let t = spawn_app().await;
    let id = t.add_account(CITIZEN, Ial::Ial2).await;
    let (client, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    let tokens = tokens_for(&t, &client, &secret, CITIZEN).await;
    let token = api_token(&t, &[Role::Admin]).await;
    let path = format!("/admin/api/v1/accounts/{id}/revoke-sessions");

    let auditor = api_token(&t, &[Role::Auditor]).await;
    let (status, _) = api_call(&t, Some(&auditor), Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = api_call(&t, Some(&token), Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sessions_ended"], 1);
    let (_, err) = refresh(
        &t,
        &client,
        &secret,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");
    assert!(
        xacthuc::oidc::interaction::sessions_of(&t.app, &id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(status_of(&t, &id).await, AccountStatus::Active);
    assert!(password_login(&t, CITIZEN).await.is_ok());
    let row = audited_for(&t, "admin.account.sessions_revoked", &id)
        .await
        .expect("audited");
    assert_eq!(row.detail["before"]["sessions"], 1);
    assert_eq!(row.detail["after"]["sessions"], 0);
}

#[tokio::test]
async fn in_the_console_an_admin_finds_views_and_locks_with_a_confirmation_and_an_auditor_only_reads()
 {
    let t = spawn_app().await;
    let id = t.add_account(CITIZEN, Ial::Ial2).await;
    let admin = staff_desk(&t, ADMIN_ID, &[Role::Admin]).await;

    // Search: a bad number is explained next to its field; a good one lists the account.
    let resp = admin
        .b
        .get(t.url("/admin/accounts?id_number=12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "err_id_number_malformed"
    ));
    let html = page_text(
        &admin.b,
        t.url(&format!("/admin/accounts?id_number={CITIZEN}")),
    )
    .await;
    assert!(html.contains(&format!("/admin/accounts/{id}")), "{html}");
    // English on request.
    let html = page_text(&admin.b, t.url("/admin/accounts?lang=en")).await;
    assert!(html.contains("Search by exactly one of"));
    page_text(&admin.b, t.url("/admin/accounts?lang=vi")).await;

    // The account's page, audited with the admin as actor.
    let page = t.url(&format!("/admin/accounts/{id}"));
    let html = page_text(&admin.b, &page).await;
    assert!(unescape(&html).contains("Nguyễn Văn An"));
    assert!(html.contains("0823628899"), "full numbers for admins");
    let seen = audited_for(&t, "admin.account.viewed", &id).await.unwrap();
    assert_eq!(
        seen.actor_id.as_deref(),
        Some(admin.holder.account_id.as_str())
    );
    assert_eq!(seen.detail["via"], "console");

    // Lock without ticking the confirmation: the page again, saying so; nothing changed.
    let action = format!("/admin/accounts/{id}/lock");
    let fields = [("reason", "Giả mạo giấy tờ"), ("expected_status", "active")];
    let resp = post_on(&t, &admin.b, &page, &action, &fields).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(shows(&t, &html, "admin_confirm_required"), "{html}");
    assert_eq!(status_of(&t, &id).await, AccountStatus::Active);
    // No reason: its field says so.
    let resp = post_on(
        &t,
        &admin.b,
        &page,
        &action,
        &[("expected_status", "active"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "admin_accounts_reason_required"
    ));
    // Confirmed: locked, back on the account with the notice.
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirm", "yes"));
    let resp = post_on(&t, &admin.b, &page, &action, &confirmed).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&resp),
        t.url(&format!("/admin/accounts/{id}?done=locked"))
    );
    assert_eq!(status_of(&t, &id).await, AccountStatus::Locked);
    let row = audited_for(&t, "admin.account.locked", &id).await.unwrap();
    assert_eq!(
        row.actor_id.as_deref(),
        Some(admin.holder.account_id.as_str())
    );
    assert_eq!(row.detail["via"], "console");
    // A form from before the lock (the status it saw: active) is stale: 409.
    let resp = post_on(&t, &admin.b, &page, &action, &confirmed).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(shows(&t, &resp.text().await.unwrap(), "admin_stale_edit"));

    // An action the console does not have: 404.
    let resp = post_on(
        &t,
        &admin.b,
        &page,
        &format!("/admin/accounts/{id}/delete"),
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // An auditor sees the account but no form, and a post is refused (403, audited).
    let auditor = staff_desk(&t, AUDITOR_ID, &[Role::Auditor]).await;
    let html = page_text(&auditor.b, &page).await;
    assert!(html.contains("id=\"account-status\""));
    assert!(
        !html.contains("id=\"account-unlock\""),
        "no form for an auditor"
    );
    // (The CSRF token from a page that has a form: it is bound to the session.)
    let resp = post_on(
        &t,
        &auditor.b,
        &t.url("/profile"),
        &format!("/admin/accounts/{id}/unlock"),
        &[("expected_status", "locked"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(status_of(&t, &id).await, AccountStatus::Locked);
    let refused = audited_kind(&t, "staff.forbidden").await.unwrap();
    assert_eq!(
        refused.actor_id.as_deref(),
        Some(auditor.holder.account_id.as_str())
    );

    // A counter officer may not even read accounts.
    let officer = staff_desk(&t, "001085000666", &[Role::CounterOfficer]).await;
    let resp = officer.b.get(&page).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
