//! The audit trail in the admin area: who may read it, its filters (actor, subject, kind or
//! prefix, time) returning exactly the expected rows, its pages, and the CSV export (header,
//! quoting, formulas neutralised, audited).

use reqwest::{Method, StatusCode};
use serde_json::Value;
use xacthuc::audit::Event;
use xacthuc::domain::{Ial, Role};

use crate::admin_support::*;
use crate::helpers::*;

const ACTOR_ID_NUMBER: &str = "001085000222";

/// Records a test event at the app's clock.
async fn record(t: &TestApp, kind: &str, actor: Option<&str>, account: Option<&str>) {
    let mut e = Event::new(kind);
    if let Some(a) = actor {
        e = e.actor(a);
    }
    if let Some(a) = account {
        e = e.account(a);
    }
    t.app.audit.record(e).await.unwrap();
}

/// The kinds of the events `path` returns, in order.
async fn kinds(t: &TestApp, token: &str, path: &str) -> Vec<String> {
    let (status, body) = api_get(t, token, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn filters_return_exactly_the_expected_rows_newest_first_a_page_at_a_time() {
    let t = spawn_app().await;
    let subject = t.add_account("001090000333", Ial::Ial2).await;
    // Day 1 (05/12/2026 in Vietnam, as the test clock starts there or later): three events.
    let day1 = t.clock.now();
    record(&t, "test.alpha", Some("staff-1"), Some(&subject)).await;
    record(&t, "test.beta", Some("client:ops"), None).await;
    // `_` is a LIKE wildcard: a prefix `test_a.` must not match `testba.x`.
    record(&t, "testba.x", Some("staff-1"), None).await;
    record(&t, "test_a.y", Some("staff-2"), Some(&subject)).await;
    // Three days later: two more.
    t.advance(3 * 86_400);
    record(&t, "test.alpha", Some("staff-2"), Some(&subject)).await;
    record(&t, "test.gamma", Some("staff-1"), None).await;
    let token = api_token(&t, &[Role::Auditor]).await;
    let base = "/admin/api/v1/audit-events";

    assert_eq!(
        kinds(&t, &token, &format!("{base}?actor=staff-1")).await,
        ["test.gamma", "testba.x", "test.alpha"]
    );
    assert_eq!(
        kinds(&t, &token, &format!("{base}?actor=client:ops")).await,
        ["test.beta"]
    );
    assert_eq!(
        kinds(&t, &token, &format!("{base}?account={subject}"))
            .await
            .into_iter()
            .filter(|k| k.starts_with("test"))
            .collect::<Vec<_>>(),
        ["test.alpha", "test_a.y", "test.alpha"]
    );
    assert_eq!(
        kinds(&t, &token, &format!("{base}?kind=test.alpha")).await,
        ["test.alpha", "test.alpha"]
    );
    assert_eq!(
        kinds(&t, &token, &format!("{base}?kind=test.")).await,
        ["test.gamma", "test.alpha", "test.beta", "test.alpha"]
    );
    assert_eq!(
        kinds(&t, &token, &format!("{base}?kind=test_a.")).await,
        ["test_a.y"]
    );
    assert_eq!(
        kinds(&t, &token, &format!("{base}?kind=test*&actor=staff-2")).await,
        ["test.alpha", "test_a.y"]
    );
    // Time: the first day only (a Vietnam day, "to" including it), in both notations.
    let day = (day1 + chrono::Duration::hours(7))
        .format("%d/%m/%Y")
        .to_string();
    let iso_day = (day1 + chrono::Duration::hours(7))
        .format("%Y-%m-%d")
        .to_string();
    for (from, to) in [(day.clone(), day.clone()), (iso_day.clone(), iso_day)] {
        let path = format!("{base}?kind=test.&from={from}&to={to}");
        assert_eq!(
            kinds(&t, &token, &path).await,
            ["test.beta", "test.alpha"],
            "{path}"
        );
    }
    // An RFC 3339 instant: from two days after the first events.
    let from = (day1 + chrono::Duration::days(2)).to_rfc3339();
    let path = format!("{base}?kind=test.&from={}", urlencoding(&from));
    assert_eq!(kinds(&t, &token, &path).await, ["test.gamma", "test.alpha"]);

    // Pages of two, following the cursor.
    let (_, first) = api_get(&t, &token, &format!("{base}?kind=test.&limit=2")).await;
    let names = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&first), ["test.gamma", "test.alpha"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = api_get(
        &t,
        &token,
        &format!("{base}?kind=test.&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(&second), ["test.beta", "test.alpha"]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let (_, third) = api_get(
        &t,
        &token,
        &format!("{base}?kind=test.&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(&third), Vec::<String>::new());
    assert!(third["next_cursor"].is_null());

    // Bad filters: 422 per field.
    for (query, field) in [
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("kind=Admin.%25", "kind"),
        ("from=31/02/2026", "from"),
        ("from=2026-12-06&to=2026-12-01", "to"),
        ("cursor=abc", "cursor"),
    ] {
        let (status, body) = api_get(&t, &token, &format!("{base}?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(body["fields"][field].is_string(), "{query}: {body}");
    }
    // Reading the trail is not itself audited.
    assert!(audited_kind(&t, "admin.audit.exported").await.is_none());
}

fn urlencoding(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn only_admins_and_auditors_read_the_trail() {
    let t = spawn_app().await;
    let path = "/admin/api/v1/audit-events";
    let (status, _) = api_call(&t, None, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for role in [Role::ClientManager, Role::CounterOfficer] {
        let token = api_token(&t, &[role]).await;
        for p in [path, "/admin/api/v1/audit-events.csv"] {
            let (status, _) = api_get(&t, &token, p).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {p}");
        }
    }
    for role in [Role::Admin, Role::Auditor] {
        let token = api_token(&t, &[role]).await;
        let (status, _) = api_get(&t, &token, path).await;
        assert_eq!(status, StatusCode::OK, "{role:?}");
    }
}

#[tokio::test]
async fn the_csv_export_has_a_header_quotes_cells_neutralises_formulas_and_is_audited() {
    let t = spawn_app().await;
    t.app
        .audit
        .record(
            Event::new("test.csv")
                .account("a,b")
                .actor("=cmd|' /C calc'!A0")
                .ip(Some("-1+1"))
                .detail(serde_json::json!({ "note": "say \"hi\"" })),
        )
        .await
        .unwrap();
    record(&t, "test.other", Some("@x"), None).await;
    let (client, secret) = api_client(&t, &[Role::Auditor]).await;
    let token = token_of(&t, &client, &secret, &[Role::Auditor]).await;

    let resp = http()
        .get(t.url("/admin/api/v1/audit-events.csv?kind=test."))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,at,kind,account_id,actor_id,client_id,ip,detail"
    );
    assert_eq!(lines.len(), 4, "header, two rows, the final CRLF: {csv}");
    assert!(lines[1].contains(",test.other,,'@x,,,"), "{}", lines[1]);
    let row = lines[2];
    assert!(
        row.contains(",test.csv,\"a,b\",'=cmd|' /C calc'!A0,,'-1+1,"),
        "{row}"
    );
    assert!(row.ends_with(r#","{""note"":""say \""hi\""""}""#), "{row}");

    // The export is audited with its filter and who asked.
    let exported = audited_kind(&t, "admin.audit.exported")
        .await
        .expect("audited");
    assert_eq!(exported.actor_id, Some(format!("client:{client}")));
    assert_eq!(exported.detail["filter"]["kind"], "test.");
    // A bad filter: 422, nothing exported or audited.
    let (status, _) = api_get(&t, &token, "/admin/api/v1/audit-events.csv?kind=BAD").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_console_filters_by_the_actors_id_number_and_links_the_csv() {
    let t = spawn_app().await;
    let admin = staff_desk(&t, ACTOR_ID_NUMBER, &[Role::Admin]).await;
    record(&t, "test.mine", Some(&admin.holder.account_id), None).await;
    record(&t, "test.theirs", Some("someone-else"), None).await;

    let html = page_text(
        &admin.b,
        t.url(&format!(
            "/admin/audit?actor_id_number={ACTOR_ID_NUMBER}&kind=test."
        )),
    )
    .await;
    assert!(html.contains("data-kind=\"test.mine\""), "{html}");
    assert!(!html.contains("data-kind=\"test.theirs\""));
    let csv_link = attr(&html, "audit-csv", "href").expect("a CSV link");
    assert!(csv_link.contains("actor_id_number="), "{csv_link}");
    let csv = page_text(&admin.b, &csv_link).await;
    assert!(
        csv.contains("test.mine") && !csv.contains("test.theirs"),
        "{csv}"
    );
    let exported = audited_kind(&t, "admin.audit.exported").await.unwrap();
    assert_eq!(
        exported.actor_id.as_deref(),
        Some(admin.holder.account_id.as_str())
    );
    assert_eq!(exported.detail["via"], "console");

    // A bad date: the page again with the field's message.
    let resp = admin
        .b
        .get(t.url("/admin/audit?from=hôm-qua"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "admin_accounts_audit_time_invalid"
    ));
    // An unknown ID number: no rows.
    let html = page_text(&admin.b, t.url("/admin/audit?actor_id_number=079090000111")).await;
    assert!(html.contains("id=\"audit-empty\""));
}

#[tokio::test]
async fn the_openapi_document_describes_accounts_audit_roles_and_complaints() {
    let t = spawn_app().await;
    let doc: Value = http()
        .get(t.url(xacthuc::http::admin::OPENAPI_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/admin/api/v1/accounts", "get"),
        ("/admin/api/v1/accounts/{id}", "get"),
        ("/admin/api/v1/accounts/{id}/lock", "post"),
        ("/admin/api/v1/accounts/{id}/unlock", "post"),
        ("/admin/api/v1/accounts/{id}/revoke-sessions", "post"),
        ("/admin/api/v1/audit-events", "get"),
        ("/admin/api/v1/audit-events.csv", "get"),
        ("/admin/api/v1/roles", "get"),
        ("/admin/api/v1/roles/grants", "post"),
        ("/admin/api/v1/roles/{role}/holders/{account_id}", "delete"),
        ("/admin/api/v1/complaints", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["AccountView"].is_object());
    // Messages in English on request.
    let token = api_token(&t, &[Role::Auditor]).await;
    let resp = http()
        .get(t.url("/admin/api/v1/audit-events?limit=9999"))
        .bearer_auth(&token)
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["fields"]["limit"], "Events per page: from 1 to 500.");
}
