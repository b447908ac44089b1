//! The admin area's two doors: the API (`/admin/api/v1`, a client-credentials token whose
//! scopes name roles) and the console (`/admin`, a strong login of an account with roles),
//! the OpenAPI document, and the API's messages in both languages.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use xacthuc::domain::{Ial, Role};

use crate::admin_support::*;
use crate::helpers::*;

const ADMIN: &str = "001085000222";
const CITIZEN: &str = "001090000333";

#[tokio::test]
async fn the_api_opens_only_to_a_live_admin_token_of_a_client() {
    let t = spawn_app().await;

    let (status, body) = api_call(&t, None, Method::GET, "/admin/api/v1/whoami", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    let resp = http()
        .get(t.url("/admin/api/v1/whoami"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()[reqwest::header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let (client, secret) = api_client(&t, &[Role::Admin]).await;
    let token = token_of(&t, &client, &secret, &[Role::Admin]).await;
    let (status, body) = api_get(&t, &token, "/admin/api/v1/whoami").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["via"], "api");
    assert_eq!(body["actor"], format!("client:{client}"));
    assert_eq!(body["roles"], serde_json::json!(["admin"]));

    // The client loses the scope: its token, still unexpired, stops opening the API at once.
    let mut changed = (*t.app.client(&client).await.unwrap().unwrap()).clone();
    changed.allowed_scopes.clear();
    t.app
        .db
        .upsert_client(&changed, t.clock.now())
        .await
        .unwrap();
    t.app.client_changed(&client).await;
    let (status, _) = api_get(&t, &token, "/admin/api/v1/whoami").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A removed client's token opens nothing.
    let (other, secret) = api_client(&t, &[Role::Auditor]).await;
    let token = token_of(&t, &other, &secret, &[Role::Auditor]).await;
    let (status, body) = api_get(&t, &token, "/admin/api/v1/whoami").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["roles"], serde_json::json!(["auditor"]));
    assert!(t.app.db.delete_client(&other).await.unwrap());
    t.app.client_changed(&other).await;
    let (status, _) = api_get(&t, &token, "/admin/api/v1/whoami").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_users_access_token_never_opens_the_api_even_with_an_admin_scope() {
    let t = spawn_app().await;
    t.add_account(CITIZEN, Ial::Ial2).await;
    let (client, secret) = t
        .add_client(|c| {
            c.scopes = vec!["openid".into(), Role::Admin.api_scope().into()];
        })
        .await;
    let secret = secret.unwrap();
    let (verifier, challenge) = pkce();
    let b = browser();
    let url = authorize_with(&t, &client, &challenge, "openid xacthuc:admin", &[]);
    let loc = authorize_as(&t, &b, &url, CITIZEN).await;
    let code = query(&loc).get("code").cloned().expect("a code");
    let (status, tokens) = exchange_code(
        &t,
        &client,
        &secret,
        &code,
        "http://127.0.0.1:9/callback",
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["scope"].as_str().unwrap().contains("xacthuc:admin"));
    let user_token = tokens["access_token"].as_str().unwrap();
    let (status, body) = api_get(&t, user_token, "/admin/api/v1/whoami").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn api_messages_are_vietnamese_unless_english_is_asked_for() {
    let t = spawn_app().await;
    let vi = http()
        .get(t.url("/admin/api/v1/whoami"))
        .send()
        .await
        .unwrap();
    let vi: Value = vi.json().await.unwrap();
    assert_eq!(vi["message"], says(&t, "admin_api_unauthorized"));
    let en = http()
        .get(t.url("/admin/api/v1/whoami"))
        .header("Accept-Language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    let en: Value = en.json().await.unwrap();
    assert_eq!(
        en["message"],
        "The admin access token is missing or not valid."
    );
    assert_ne!(vi["message"], en["message"]);
}

#[tokio::test]
async fn the_openapi_document_is_served_and_describes_the_api() {
    let t = spawn_app().await;
    let resp = http()
        .get(t.url(xacthuc::http::admin::OPENAPI_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/admin/api/v1/whoami"]["get"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_console_opens_to_a_strong_login_with_a_role_and_lists_what_it_may_read() {
    let t = spawn_app().await;

    // No session, then a password + SMS session: the staff login page.
    let resp = browser().get(t.url("/admin")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    t.add_account(CITIZEN, Ial::Ial2).await;
    let b = browser();
    login(&t, &b, &t.url("/login"), CITIZEN, PASSWORD).await;
    let resp = b.get(t.url("/admin")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(shows(&t, &resp.text().await.unwrap(), "staff_login_weak"));

    // A strong login without a role: 403, audited with the account as actor.
    let nobody = staff_desk(&t, ADMIN, &[]).await;
    let resp = nobody.b.get(t.url("/admin")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let refused = audited_kind(&t, "staff.forbidden").await.expect("audited");
    assert_eq!(
        refused.actor_id.as_deref(),
        Some(nobody.holder.account_id.as_str())
    );

    // An auditor sees every section; home links to the console.
    grant(&t, &nobody.holder.account_id, Role::Auditor).await;
    let resp = nobody.b.get(t.url("/admin")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    for section in [
        "/admin/clients",
        "/admin/audit",
        "/admin/trust-anchors",
        "/admin/roles",
    ] {
        assert!(html.contains(section), "{section}");
    }
    let home = page_text(&nobody.b, t.url("/")).await;
    assert!(home.contains("id=\"admin-link\""));
}

#[tokio::test]
async fn a_client_manager_sees_only_the_clients_section() {
    let t = spawn_app().await;
    let desk = staff_desk(&t, ADMIN, &[Role::ClientManager]).await;
    let html = page_text(&desk.b, t.url("/admin")).await;
    assert!(html.contains("/admin/clients"));
    for other in [
        "/admin/accounts",
        "/admin/audit",
        "/admin/keys",
        "/admin/roles",
    ] {
        assert!(!html.contains(other), "{other}");
    }
}

#[tokio::test]
async fn with_passkeys_not_allowed_the_console_wants_a_signature() {
    let t = spawn_app_with(|c| c.admin.passkey_allowed = false).await;
    let desk = staff_desk(&t, ADMIN, &[Role::Admin]).await;
    let resp = desk.b.get(t.url("/admin")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(shows(&t, &html, "staff_login_weak"));
    // The page offers the signature methods, not the passkey.
    assert!(!html.contains("data-method=\"passkey\""), "{html}");
}

#[tokio::test]
async fn a_token_carries_every_role_its_scopes_name() {
    let t = spawn_app().await;
    let token = api_token(&t, &[Role::ClientManager, Role::Auditor]).await;
    let (status, body) = api_get(&t, &token, "/admin/api/v1/whoami").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["roles"],
        serde_json::json!(["client_manager", "auditor"])
    );
}
