//! What the admin-area tests share: staff roles granted as the command line does, an admin
//! API token (a client-credentials client allowed the role's scopes), a staff member logged in
//! with a software passkey (over HTTP, or handed to Chromium), and calls to the API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xacthuc::audit::Event;
use xacthuc::domain::Role;

use crate::browser::Browser;
use crate::helpers::*;
use crate::passkey::{Holder, holder, passkey_login};

/// Gives `account` `role` (a counter officer gets an office), as `xacthuc account role grant`.
pub async fn grant(t: &TestApp, account: &str, role: Role) {
    let office = (role == Role::CounterOfficer).then_some("Bưu điện Hà Đông");
    let row = t.app.audit.row(
        Event::new("role.granted")
            .account(account)
            .detail(json!({ "role": role.name() })),
    );
    let granted = t
        .app
        .db
        .grant_role(account, role, office, None, t.clock.now(), &row)
        .await
        .expect("grant");
    assert!(granted, "{role:?} granted once");
}

/// A client-credentials client allowed the scopes of `roles`; returns its id and secret.
pub async fn api_client(t: &TestApp, roles: &[Role]) -> (String, String) {
    let (id, secret) = t
        .add_client(|c| {
            c.name = "Công cụ quản trị".into();
            c.grants = vec!["client_credentials".into()];
            c.scopes = roles.iter().map(|r| r.api_scope().to_string()).collect();
        })
        .await;
    (id, secret.expect("a confidential client"))
}

/// An admin API access token carrying the scopes of `roles`.
pub async fn api_token(t: &TestApp, roles: &[Role]) -> String {
    let (id, secret) = api_client(t, roles).await;
    token_of(t, &id, &secret, roles).await
}

/// A client-credentials token of `client` for the scopes of `roles`.
pub async fn token_of(t: &TestApp, client: &str, secret: &str, roles: &[Role]) -> String {
    let scope = roles
        .iter()
        .map(|r| r.api_scope())
        .collect::<Vec<_>>()
        .join(" ");
    let (status, body) = token_request(
        t,
        client,
        secret,
        &[("grant_type", "client_credentials"), ("scope", &scope)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// A call to the admin API with `token` (none: no Authorization header) and a JSON body;
/// returns the status and the JSON answer (`Value::Null` when it is not JSON).
pub async fn api_call(
    t: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http().request(method, t.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("admin API answers");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `GET path` at the admin API.
pub async fn api_get(t: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    api_call(t, Some(token), Method::GET, path, None).await
}

/// A staff member holding `roles` (none: an ordinary citizen), logged in with a software
/// passkey in a browser of their own.
pub struct StaffDesk {
    pub holder: Holder,
    pub b: reqwest::Client,
    /// The SSO session cookie's value, to hand to Chromium.
    pub session: String,
}

pub async fn staff_desk(t: &TestApp, id_number: &'static str, roles: &[Role]) -> StaffDesk {
    let mut holder = holder(t, id_number).await;
    for role in roles {
        grant(t, &holder.account_id, *role).await;
    }
    let b = browser();
    let resp = passkey_login(t, &b, &mut holder, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let session = set_cookies(&resp)
        .into_iter()
        .find_map(|c| {
            c.strip_prefix("xacthuc_session=")
                .map(|v| v.split(';').next().unwrap().to_string())
        })
        .expect("a session cookie");
    StaffDesk { holder, b, session }
}

/// A Chromium logged in as `desk` (its passkey session handed over), on home.
pub async fn staff_in_chromium(t: &TestApp, desk: &StaffDesk) -> Option<Browser> {
    let b = Browser::open().await?;
    b.goto(&t.url("/")).await;
    // WebDriver's add-cookie refuses the `localhost` domain; the page's script may set it (not
    // HttpOnly then, which the server does not look at).
    b.client
        .execute(
            "document.cookie = 'xacthuc_session=' + arguments[0] + '; path=/'",
            vec![json!(desk.session)],
        )
        .await
        .expect("the session cookie");
    b.goto(&t.url("/")).await;
    Some(b)
}
