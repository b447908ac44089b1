//! Staff roles and the complaints queue in the admin area: grants and revocations at the API
//! (only admins; audited with before and after), the last admin kept, a counter officer
//! granted in the console opening the counter, and who reads the complaints queue.

use reqwest::{Method, StatusCode};
use serde_json::json;
use xacthuc::domain::{Ial, Role};

use crate::admin_support::*;
use crate::helpers::*;

const STAFF: &str = "001090000777";
const ADMIN_ID: &str = "001085000222";

async fn roles_of(t: &TestApp, account: &str) -> Vec<Role> {
    t.app
        .db
        .roles_of(account)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.role)
        .collect()
}

async fn grant_api(
    t: &TestApp,
    token: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    api_call(
        t,
        Some(token),
        Method::POST,
        "/admin/api/v1/roles/grants",
        Some(body),
    )
    .await
}

#[tokio::test]
async fn admins_grant_and_revoke_roles_at_the_api_and_others_cannot() {
    let t = spawn_app().await;
    let staff = t.add_account(STAFF, Ial::Ial2).await;
    let (admin_client, secret) = api_client(&t, &[Role::Admin]).await;
    let admin = token_of(&t, &admin_client, &secret, &[Role::Admin]).await;
    let auditor = api_token(&t, &[Role::Auditor]).await;
    let manager = api_token(&t, &[Role::ClientManager]).await;
    let officer = api_token(&t, &[Role::CounterOfficer]).await;

    // Reading: admins and auditors; not client managers or counter officers; not anonymous.
    let (status, _) = api_call(&t, None, Method::GET, "/admin/api/v1/roles", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for token in [&manager, &officer] {
        let (status, _) = api_get(&t, token, "/admin/api/v1/roles").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, list) = api_get(&t, &auditor, "/admin/api/v1/roles").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["roles"].as_array().unwrap().len(), 4);

    // An auditor's grant: 403, audited, nothing granted.
    let grant = json!({ "id_number": STAFF, "role": "auditor" });
    let (status, _) = grant_api(&t, &auditor, grant.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = audited_kind(&t, "admin.forbidden").await.unwrap();
    assert_eq!(refused.detail["resource"], "roles");
    assert!(roles_of(&t, &staff).await.is_empty());

    // The admin grants: 201, listed, audited with before and after.
    let (status, holder) = grant_api(&t, &admin, grant.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{holder}");
    assert_eq!(holder["account_id"], staff.as_str());
    assert_eq!(holder["role"], "auditor");
    assert_eq!(roles_of(&t, &staff).await, [Role::Auditor]);
    let (_, list) = api_get(&t, &auditor, "/admin/api/v1/roles").await;
    let auditors = list["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "auditor")
        .unwrap();
    assert_eq!(auditors["holders"][0]["id_number"], STAFF);
    let row = audited_for(&t, "role.granted", &staff).await.unwrap();
    assert_eq!(row.actor_id, Some(format!("client:{admin_client}")));
    assert_eq!(row.detail["before"], json!({ "roles": [] }));
    assert_eq!(row.detail["after"], json!({ "roles": ["auditor"] }));
    assert_eq!(row.detail["role"], "auditor");

    // Twice: 409. Bad fields: 422 each.
    let (status, _) = grant_api(&t, &admin, grant).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = grant_api(
        &t,
        &admin,
        json!({ "id_number": STAFF, "role": "counter_officer" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["fields"]["office"],
        says(&t, "admin_accounts_roles_office_required")
    );
    let (status, body) = grant_api(&t, &admin, json!({ "id_number": "12", "role": "king" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["id_number"].is_string() && body["fields"]["role"].is_string());
    let (status, body) = grant_api(
        &t,
        &admin,
        json!({ "id_number": "079090000111", "role": "auditor" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["fields"]["id_number"],
        says(&t, "admin_accounts_roles_no_account")
    );
    let (status, _) = grant_api(&t, &admin, json!({ "id_number": 12 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Revoke: 204, audited; again: 404; an unknown role: 404; an auditor: 403.
    let path = format!("/admin/api/v1/roles/auditor/holders/{staff}");
    let (status, _) = api_call(&t, Some(&auditor), Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api_call(&t, Some(&admin), Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(roles_of(&t, &staff).await.is_empty());
    let row = audited_for(&t, "role.revoked", &staff).await.unwrap();
    assert_eq!(row.detail["before"], json!({ "roles": ["auditor"] }));
    assert_eq!(row.detail["after"], json!({ "roles": [] }));
    let (status, _) = api_call(&t, Some(&admin), Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api_call(
        &t,
        Some(&admin),
        Method::DELETE,
        &format!("/admin/api/v1/roles/king/holders/{staff}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_last_admin_cannot_revoke_their_own_admin_role() {
    let t = spawn_app().await;
    let admin = staff_desk(&t, ADMIN_ID, &[Role::Admin]).await;
    let me = admin.holder.account_id.clone();
    let page = t.url("/admin/roles");
    let revoke = [
        ("account_id", me.as_str()),
        ("role", "admin"),
        ("confirm", "yes"),
    ];

    // Without the confirmation: the page again, saying so.
    let resp = post_on(&t, &admin.b, &page, "/admin/roles/revoke", &revoke[..2]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "admin_confirm_required"
    ));
    // Confirmed: refused, the deployment keeps its admin.
    let resp = post_on(&t, &admin.b, &page, "/admin/roles/revoke", &revoke).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "admin_accounts_roles_last_admin"
    ));
    assert_eq!(roles_of(&t, &me).await, [Role::Admin]);
    assert!(audited_for(&t, "role.revoked", &me).await.is_none());
    // Through the API too.
    let token = api_token(&t, &[Role::Admin]).await;
    let path = format!("/admin/api/v1/roles/admin/holders/{me}");
    let (status, body) = api_call(&t, Some(&token), Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // With a second admin, the first may step down.
    let other = t.add_account(STAFF, Ial::Ial2).await;
    grant(&t, &other, Role::Admin).await;
    let resp = post_on(&t, &admin.b, &page, "/admin/roles/revoke", &revoke).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(roles_of(&t, &me).await.is_empty());
    let row = audited_for(&t, "role.revoked", &me).await.unwrap();
    assert_eq!(row.actor_id.as_deref(), Some(me.as_str()));
    assert_eq!(row.detail["via"], "console");
}

#[tokio::test]
async fn a_counter_officer_granted_in_the_console_opens_the_counter() {
    let t = spawn_app().await;
    let admin = staff_desk(&t, ADMIN_ID, &[Role::Admin]).await;
    let officer = staff_desk(&t, STAFF, &[]).await;
    let resp = officer.b.get(t.url("/counter")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let page = t.url("/admin/roles");
    // No office: the form again with the field's message.
    let fields = [("id_number", STAFF), ("role", "counter_officer")];
    let resp = post_on(&t, &admin.b, &page, "/admin/roles/grant", &fields).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "admin_accounts_roles_office_required"
    ));
    let fields = [
        ("id_number", STAFF),
        ("role", "counter_officer"),
        ("office", "Bưu điện Cầu Giấy"),
    ];
    let resp = post_on(&t, &admin.b, &page, "/admin/roles/grant", &fields).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page_text(&admin.b, &page).await;
    assert!(unescape(&html).contains("Bưu điện Cầu Giấy"));

    let resp = officer.b.get(t.url("/counter")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let grants = t.app.db.roles_of(&officer.holder.account_id).await.unwrap();
    assert_eq!(
        grants[0].granted_by.as_deref(),
        Some(admin.holder.account_id.as_str())
    );
    let row = audited_for(&t, "role.granted", &officer.holder.account_id)
        .await
        .unwrap();
    assert_eq!(row.detail["office"], "Bưu điện Cầu Giấy");
    assert_eq!(
        row.actor_id.as_deref(),
        Some(admin.holder.account_id.as_str())
    );
}

#[tokio::test]
async fn the_complaints_queue_is_read_by_admins_officers_and_auditors_and_only_actors_get_the_link()
{
    use xacthuc::store::complaints::NewComplaint;
    let t = spawn_app().await;
    let row = t
        .app
        .audit
        .row(xacthuc::audit::Event::new("complaint.filed"));
    t.app
        .db
        .file_complaint(
            &NewComplaint {
                ticket: "KN-QUEUE001".into(),
                id_number: "001090012345".into(),
                account_id: None,
                complainant_name: "Trần Thị Bình".into(),
                contact_phone: "+84823456088".into(),
                contact_email: Some("binh@example.vn".into()),
                description: "Số CCCD của tôi bị người khác đăng ký.".into(),
                locale: "vi".into(),
            },
            t.clock.now(),
            &row,
        )
        .await
        .unwrap();
    let path = "/admin/api/v1/complaints";
    let (status, _) = api_call(&t, None, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let manager = api_token(&t, &[Role::ClientManager]).await;
    assert_eq!(api_get(&t, &manager, path).await.0, StatusCode::FORBIDDEN);
    for (role, link) in [
        (Role::Admin, true),
        (Role::CounterOfficer, true),
        (Role::Auditor, false),
    ] {
        let token = api_token(&t, &[role]).await;
        let (status, body) = api_get(&t, &token, path).await;
        assert_eq!(status, StatusCode::OK, "{role:?}: {body}");
        let c = &body["complaints"][0];
        assert_eq!(c["ticket"], "KN-QUEUE001");
        assert_eq!(c["status"], "open");
        assert_eq!(c["id_number"], "001090012345");
        assert_eq!(c["contact_phone"], "+84823456088");
        assert_eq!(c["counter_url"].is_string(), link, "{role:?}");
    }

    // The console: the auditor reads without a link to act.
    let auditor = staff_desk(&t, ADMIN_ID, &[Role::Auditor]).await;
    let html = page_text(&auditor.b, t.url("/admin/complaints")).await;
    assert!(html.contains("KN-QUEUE001"));
    assert!(!html.contains("/counter/complaints/KN-QUEUE001"));
    grant(&t, &auditor.holder.account_id, Role::Admin).await;
    let html = page_text(&auditor.b, t.url("/admin/complaints")).await;
    assert!(html.contains("/counter/complaints/KN-QUEUE001"));
}
