//! Hostile and malformed input against the whole admin area, found rather than listed: every
//! path and method of the API's OpenAPI document, and every page and form the console links
//! to from `/admin`. Whatever a resource adds later is covered by the same tests. No answer may
//! be a 5xx, the API's door answers first (401 without a token), and no page reflects markup.

use std::collections::{BTreeSet, VecDeque};

use regex::Regex;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use xacthuc::domain::{Ial, Role};

use crate::admin_support::*;
use crate::helpers::*;

const ADMIN: &str = "001085000444";
const CITIZEN: &str = "001090000555";

/// Path parameter values: traversal, NUL, quotes, emoji, very long, a UUID nobody has.
const PATH_VALUES: [&str; 7] = [
    "x",
    "%2e%2e%2f%2e%2e%2fetc",
    "%00",
    "%27%3B--%20drop",
    "%F0%9F%98%80",
    "00000000-0000-0000-0000-000000000000",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
];

/// JSON bodies that are broken, of the wrong shape, or of the wrong types.
fn bodies() -> Vec<Option<String>> {
    let long = "A".repeat(100_000);
    vec![
        None,
        Some(String::new()),
        Some("{".into()),
        Some("null".into()),
        Some("[]".into()),
        Some("{\"unexpected\": 1}".into()),
        Some(
            r#"{"client_id": null, "redirect_uris": "x", "pem": 123, "trust_set": [], "reason": {}, "version": "one", "overlap_seconds": -5, "delay_seconds": 1e300, "role": "root", "id_number": "<script>"}"#
                .into(),
        ),
        Some(format!("{{\"name\": \"{long}\", \"pem\": \"{long}\"}}")),
    ]
}

const HOSTILE_QUERY: &str = "?id_number=%00&tax_code=%3Cb%3E&phone=%2B%2B&kind=%25&actor=%27&from=zzz&to=99999999999999999999&limit=-1&offset=18446744073709551616&cursor=%FF";

/// Markup that must never come back unescaped.
const PROBES: [&str; 2] = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"];

fn api_operations(doc: &Value) -> Vec<(Method, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    path.clone(),
                ));
            }
        }
    }
    ops
}

fn with_path_value(template: &str, value: &str) -> String {
    let param = Regex::new(r"\{[^}]+\}").unwrap();
    param.replace_all(template, value).into_owned()
}

#[tokio::test]
async fn no_admin_api_route_answers_hostile_input_with_a_server_error() {
    let t = spawn_app().await;
    t.add_account(CITIZEN, Ial::Ial2).await;
    let token = api_token(&t, &[Role::Admin]).await;
    let doc: Value = http()
        .get(t.url(xacthuc::http::admin::OPENAPI_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops = api_operations(&doc);
    assert!(!ops.is_empty());
    let mut failures = Vec::new();
    for (method, template) in &ops {
        // The door answers before anything else.
        let path = with_path_value(template, "x");
        let resp = http()
            .request(method.clone(), t.url(&path))
            .body("{")
            .send()
            .await
            .unwrap();
        if resp.status() != StatusCode::UNAUTHORIZED {
            failures.push(format!(
                "{method} {path} without a token: {}",
                resp.status()
            ));
        }
        for value in PATH_VALUES {
            let path = with_path_value(template, value);
            for query in ["", HOSTILE_QUERY] {
                let bodies = if *method == Method::GET {
                    vec![None]
                } else {
                    bodies()
                };
                for body in bodies {
                    let mut req = http()
                        .request(method.clone(), t.url(&format!("{path}{query}")))
                        .bearer_auth(&token);
                    if let Some(body) = &body {
                        req = req
                            .header("content-type", "application/json")
                            .body(body.clone());
                    }
                    let resp = req.send().await.unwrap();
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_server_error() {
                        let shown: String = body.unwrap_or_default().chars().take(80).collect();
                        failures.push(format!("{method} {path}{query} [{shown}]: {status} {text}"));
                    }
                    if PROBES.iter().any(|p| text.contains(p)) {
                        failures.push(format!("{method} {path}{query}: reflects markup"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The console's links under `/admin` (absolute or local), in page order.
fn admin_links(t: &TestApp, html: &str) -> Vec<String> {
    let href = Regex::new(r#"href="([^"]+)""#).unwrap();
    href.captures_iter(html)
        .filter_map(|c| {
            let link = c[1].replace("&amp;", "&");
            let local = link
                .strip_prefix(&t.base)
                .map(str::to_string)
                .unwrap_or(link);
            (local.starts_with("/admin") && !local.starts_with("/admin/api")).then_some(local)
        })
        .collect()
}

/// The POST forms of a page: action and the names of their fields.
fn forms(html: &str) -> Vec<(String, Vec<String>)> {
    let form = Regex::new(r#"(?s)<form[^>]*method="post"[^>]*>(.*?)</form>"#).unwrap();
    let action = Regex::new(r#"<form[^>]*action="([^"]+)""#).unwrap();
    let name = Regex::new(r#"name="([^"]+)""#).unwrap();
    form.captures_iter(html)
        .filter_map(|c| {
            let whole = c.get(0)?.as_str();
            let action = action.captures(whole)?[1].replace("&amp;", "&");
            let names = name
                .captures_iter(&c[1])
                .map(|n| n[1].to_string())
                .filter(|n| n != "csrf")
                .collect();
            Some((action, names))
        })
        .collect()
}

#[tokio::test]
async fn no_console_page_or_form_answers_hostile_input_with_a_server_error_or_markup() {
    let t = spawn_app().await;
    t.add_account(CITIZEN, Ial::Ial2).await;
    let desk = staff_desk(&t, ADMIN, &[Role::Admin]).await;
    let b = &desk.b;

    // Every page reachable from /admin (bounded), plain and with a hostile query.
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([String::from("/admin")]);
    let mut pages = Vec::new();
    let mut failures = Vec::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || seen.len() > 80 {
            continue;
        }
        let resp = b.get(t.url(&path)).send().await.unwrap();
        let status = resp.status();
        let html = resp.text().await.unwrap_or_default();
        if status.is_server_error() {
            failures.push(format!("GET {path}: {status}"));
            continue;
        }
        queue.extend(admin_links(&t, &html));
        let sep = if path.contains('?') { "&" } else { "?" };
        let hostile = format!(
            "{path}{sep}q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&id_number=%00&page=-1&kind=%25&from=zzz"
        );
        let resp = b.get(t.url(&hostile)).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_server_error() || PROBES.iter().any(|p| text.contains(p)) {
            failures.push(format!("GET {hostile}: {status}"));
        }
        pages.push((path, html));
    }
    assert!(!pages.is_empty());

    // Every form of those pages, posted with hostile values in every field (CSRF fresh from the
    // page each time), then with every field empty.
    for (page, html) in &pages {
        for (action, names) in forms(html) {
            let action = action.strip_prefix(&t.base).unwrap_or(&action).to_string();
            for value in [
                PROBES[0],
                PROBES[1],
                "\u{0}",
                "-1",
                "99999999999999999999999",
                "",
            ] {
                let fields: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), value)).collect();
                let page_html = page_text(b, t.url(page)).await;
                let Some(csrf) = hidden(&page_html, "csrf") else {
                    continue; // the session ended (a form revoked it): nothing more to post
                };
                let mut form = vec![("csrf", csrf.as_str())];
                form.extend(fields);
                let resp = b.post(t.url(&action)).form(&form).send().await.unwrap();
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                if status.is_server_error() {
                    failures.push(format!("POST {action} ({value:?}): {status}"));
                }
                if PROBES.iter().any(|p| text.contains(p)) {
                    failures.push(format!("POST {action} ({value:?}): reflects markup"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
