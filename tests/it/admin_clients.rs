//! Clients in the admin area: the API (`/admin/api/v1/clients`) per role, every validation
//! rule with its per-field message, stale edits, audit before/after without secrets, changes
//! seen at once by another node, secret rotation, and the console's pages over HTTP.

use josekit::jwk::KeyPair;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xacthuc::domain::{Ial, Role};

use crate::admin_support::*;
use crate::helpers::*;

const CLIENTS: &str = "/admin/api/v1/clients";
const CITIZEN: &str = "001090000444";

fn jwk_json(jwk: &josekit::jwk::Jwk) -> Value {
    serde_json::to_value(jwk.as_ref()).unwrap()
}

fn client_url(id: &str) -> String {
    format!("{CLIENTS}/{id}")
}

/// A valid confidential client registration (client_secret_basic) with the test redirect URI.
fn body(id: &str) -> Value {
    json!({
        "client_id": id,
        "name": "Cổng dịch vụ công tỉnh Khánh Hòa",
        "redirect_uris": ["http://127.0.0.1:9/callback"],
        "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "allowed_scopes": ["openid", "profile", "phone", "id_number"],
    })
}

/// `body(id)` with `changes` laid over it.
fn with(id: &str, changes: Value) -> Value {
    let mut b = body(id);
    if let (Some(obj), Value::Object(extra)) = (b.as_object_mut(), changes) {
        obj.extend(extra);
    }
    b
}

/// A call to the API in English.
async fn api_en(
    t: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http()
        .request(method, t.url(path))
        .bearer_auth(token)
        .header("Accept-Language", "en");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Whether `text` is the English message `key`, its placeholders filled with anything.
fn is_en(t: &TestApp, text: &Value, key: &str) -> bool {
    let template = t.app.theme.t("en", key);
    let text = text.as_str().unwrap_or_default();
    !text.is_empty()
        && template
            .split(['{', '}'])
            .step_by(2)
            .all(|literal| text.contains(literal))
}

/// Creates `id` through the API with `token`; returns the answer (201 expected).
async fn create(t: &TestApp, token: &str, id: &str) -> Value {
    let (status, created) = api_call(t, Some(token), Method::POST, CLIENTS, Some(body(id))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

#[tokio::test]
async fn each_role_gets_what_the_permission_table_says() {
    let t = spawn_app().await;

    let (status, answer) = api_call(&t, None, Method::GET, CLIENTS, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"], "unauthorized");

    // An admin creates: the secret is shown once, the view holds no hash.
    let admin = api_token(&t, &[Role::Admin]).await;
    let created = create(&t, &admin, "cong-khanh-hoa").await;
    let secret = created["client_secret"].as_str().expect("the secret, once");
    assert_eq!(created["version"], 1);
    assert_eq!(created["has_secret"], true);
    let stored = t
        .app
        .db
        .find_client("cong-khanh-hoa")
        .await
        .unwrap()
        .unwrap();
    let hash = stored.secret_hash.unwrap();
    assert!(!created.to_string().contains(&hash));
    let (status, tokens) = token_request(
        &t,
        "cong-khanh-hoa",
        secret,
        &[("grant_type", "client_credentials"), ("scope", "profile")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the secret shown works: {tokens}");
    // The secret is never shown again.
    let (status, read) = api_get(&t, &admin, &client_url("cong-khanh-hoa")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(read.get("client_secret").is_none());
    assert!(!read.to_string().contains(&hash));

    // A client manager creates and edits.
    let manager = api_token(&t, &[Role::ClientManager]).await;
    create(&t, &manager, "cong-da-nang").await;
    let (status, edited) = api_call(
        &t,
        Some(&manager),
        Method::PUT,
        &client_url("cong-da-nang"),
        Some(with(
            "cong-da-nang",
            json!({ "name": "Cổng Đà Nẵng", "version": 1 }),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "Cổng Đà Nẵng");
    assert_eq!(edited["version"], 2);

    // An auditor reads everything; a write is 403 and audited.
    let (auditor_id, auditor_secret) = api_client(&t, &[Role::Auditor]).await;
    let auditor = token_of(&t, &auditor_id, &auditor_secret, &[Role::Auditor]).await;
    let (status, list) = api_get(&t, &auditor, CLIENTS).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"cong-khanh-hoa") && ids.contains(&"cong-da-nang"),
        "{ids:?}"
    );
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("secret_hash").is_none())
    );
    let (status, _) = api_get(&t, &auditor, &client_url("cong-da-nang")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = api_call(
        &t,
        Some(&auditor),
        Method::POST,
        CLIENTS,
        Some(body("cong-x")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"], "forbidden");
    let (status, _) = api_call(
        &t,
        Some(&auditor),
        Method::POST,
        &format!("{}/disable", client_url("cong-da-nang")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let forbidden = audited_kind(&t, "admin.forbidden").await.expect("audited");
    assert_eq!(
        forbidden.actor_id.as_deref(),
        Some(format!("client:{auditor_id}").as_str())
    );
    assert_eq!(forbidden.detail["resource"], "clients");
    assert_eq!(forbidden.detail["access"], "write");
    assert!(t.app.db.find_client("cong-x").await.unwrap().is_none());
    assert!(
        !t.app
            .db
            .find_client("cong-da-nang")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    // A counter officer may not even read.
    let officer = api_token(&t, &[Role::CounterOfficer]).await;
    let (status, _) = api_get(&t, &officer, CLIENTS).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api_get(&t, &officer, &client_url("cong-da-nang")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Not found is 404, not a 500, for any id.
    let (status, answer) = api_get(&t, &admin, &client_url("khong-co")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"], "not_found");
    let (status, _) = api_get(&t, &admin, &client_url("%00%01")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A JWK set host: `/public` a public EC key, `/private` the same with its private part.
async fn jwks_host() -> String {
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let public = json!({ "keys": [jwk_json(&KeyPair::to_jwk_public_key(&pair))] });
    let private = json!({ "keys": [jwk_json(&KeyPair::to_jwk_private_key(&pair))] });
    let app = axum::Router::new()
        .route(
            "/public",
            axum::routing::get(move || std::future::ready(axum::Json(public.clone()))),
        )
        .route(
            "/private",
            axum::routing::get(move || std::future::ready(axum::Json(private.clone()))),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn every_rule_is_checked_with_a_message_per_field() {
    let t = spawn_app().await;
    let admin = api_token(&t, &[Role::Admin]).await;
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let public_jwk = jwk_json(&KeyPair::to_jwk_public_key(&pair));
    let private_jwk = jwk_json(&KeyPair::to_jwk_private_key(&pair));
    let mut hs_jwk = public_jwk.clone();
    hs_jwk["alg"] = json!("HS256");
    let jwt = |extra: Value| {
        let mut b = json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
        });
        if let (Some(o), Value::Object(e)) = (b.as_object_mut(), extra) {
            o.extend(e);
        }
        b
    };
    let jwks_base = jwks_host().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "client_id": "a b" }),
            "client_id",
            "admin_clients_id_invalid",
        ),
        (
            json!({ "client_id": "ab" }),
            "client_id",
            "admin_clients_id_invalid",
        ),
        (json!({ "name": "" }), "name", "admin_clients_name_invalid"),
        (
            json!({ "name": "x".repeat(201) }),
            "name",
            "admin_clients_name_invalid",
        ),
        (
            json!({ "redirect_uris": ["http://portal.example.vn/cb"] }),
            "redirect_uris",
            "admin_clients_uri_not_https",
        ),
        (
            json!({ "redirect_uris": ["https://portal.example.vn/cb#x"] }),
            "redirect_uris",
            "admin_clients_uri_fragment",
        ),
        (
            json!({ "redirect_uris": ["vn.gov.app:/cb"] }),
            "redirect_uris",
            "admin_clients_uri_custom_scheme_public_only",
        ),
        (
            json!({ "redirect_uris": ["myapp:/cb"], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"] }),
            "redirect_uris",
            "admin_clients_uri_scheme",
        ),
        (
            json!({ "redirect_uris": ["not a uri"] }),
            "redirect_uris",
            "admin_clients_uri_not_a_uri",
        ),
        (
            json!({ "redirect_uris": [] }),
            "redirect_uris",
            "admin_clients_redirect_required",
        ),
        (
            json!({ "post_logout_redirect_uris": ["http://portal.example.vn/bye"] }),
            "post_logout_redirect_uris",
            "admin_clients_uri_not_https",
        ),
        (
            json!({ "backchannel_logout_uri": "http://portal.example.vn/bc" }),
            "backchannel_logout_uri",
            "admin_clients_backchannel_invalid",
        ),
        (
            json!({ "grant_types": ["password"] }),
            "grant_types",
            "admin_clients_grant_unknown",
        ),
        (
            json!({ "grant_types": [] }),
            "grant_types",
            "admin_clients_grant_required",
        ),
        (
            json!({ "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "client_credentials"] }),
            "grant_types",
            "admin_clients_grant_public_credentials",
        ),
        (
            json!({ "token_endpoint_auth_method": "tls_client_auth" }),
            "token_endpoint_auth_method",
            "admin_clients_auth_method_invalid",
        ),
        (jwt(json!({})), "jwks", "admin_clients_jwks_one_of"),
        (
            jwt(
                json!({ "jwks": { "keys": [public_jwk.clone()] }, "jwks_uri": format!("{jwks_base}/public") }),
            ),
            "jwks",
            "admin_clients_jwks_one_of",
        ),
        (
            jwt(json!({ "jwks": { "keys": [private_jwk.clone()] } })),
            "jwks",
            "admin_clients_jwks_private_key",
        ),
        (
            jwt(json!({ "jwks": { "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] } })),
            "jwks",
            "admin_clients_jwks_private_key",
        ),
        (
            jwt(json!({ "jwks": { "keys": [hs_jwk] } })),
            "jwks",
            "admin_clients_jwks_alg",
        ),
        (
            jwt(json!({ "jwks": "not json" })),
            "jwks",
            "admin_clients_jwks_invalid",
        ),
        (
            jwt(json!({ "jwks": { "keys": [] } })),
            "jwks",
            "admin_clients_jwks_invalid",
        ),
        (
            jwt(json!({ "jwks_uri": "http://keys.example.vn/jwks" })),
            "jwks_uri",
            "admin_clients_jwks_uri_not_https",
        ),
        (
            jwt(json!({ "jwks_uri": format!("{jwks_base}/private") })),
            "jwks_uri",
            "admin_clients_jwks_uri_unusable",
        ),
        (
            jwt(json!({ "jwks_uri": format!("{jwks_base}/missing") })),
            "jwks_uri",
            "admin_clients_jwks_uri_unusable",
        ),
        (
            json!({ "jwks": { "keys": [public_jwk.clone()] } }),
            "jwks",
            "admin_clients_jwks_not_for_method",
        ),
        (
            json!({ "allowed_scopes": ["openid", "everything"] }),
            "allowed_scopes",
            "admin_clients_scope_unknown",
        ),
        (
            json!({ "min_acr": "IAL9" }),
            "min_acr",
            "admin_clients_acr_unknown",
        ),
        (
            json!({ "subject_type": "random" }),
            "subject_type",
            "admin_clients_subject_type_invalid",
        ),
        (
            json!({ "subject_type": "pairwise", "sector_identifier_uri": "http://portal.example.vn/s.json" }),
            "sector_identifier_uri",
            "admin_clients_sector_invalid",
        ),
        (
            json!({ "sector_identifier_uri": "https://portal.example.vn/s.json" }),
            "sector_identifier_uri",
            "admin_clients_sector_invalid",
        ),
        (
            json!({ "id_token_alg": "HS256" }),
            "id_token_alg",
            "admin_clients_id_token_alg_invalid",
        ),
        (
            json!({ "theme": "khanh-hoa" }),
            "theme",
            "admin_clients_theme_unknown",
        ),
    ];
    for (i, (changes, field, key)) in cases.into_iter().enumerate() {
        let id = format!("cong-{i}");
        let sent = with(&id, changes.clone());
        let (status, answer) = api_en(&t, &admin, Method::POST, CLIENTS, Some(sent)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{changes}: {answer}"
        );
        assert_eq!(answer["error"], "invalid");
        assert!(
            is_en(&t, &answer["fields"][field], key),
            "{changes}: {field} should say {key}: {answer}"
        );
        assert!(
            t.app.db.find_client(&id).await.unwrap().is_none(),
            "nothing written for {changes}"
        );
    }
    // The same in Vietnamese by default.
    let (status, answer) = api_call(
        &t,
        Some(&admin),
        Method::POST,
        CLIENTS,
        Some(with(
            "cong-vi",
            json!({ "redirect_uris": ["http://portal.example.vn/cb"] }),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer["fields"]["redirect_uris"],
        says(&t, "admin_clients_uri_not_https").replace("{uri}", "http://portal.example.vn/cb")
    );

    // Not JSON, or JSON of another shape: 400, never a 500.
    for raw in ["{", "[]", "{\"name\": 5}", "{\"nmae\": \"x\"}"] {
        let resp = http()
            .post(t.url(CLIENTS))
            .bearer_auth(&admin)
            .header("Content-Type", "application/json")
            .header("Accept-Language", "en")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{raw}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"], "bad_request");
        assert!(
            is_en(&t, &answer["message"], "admin_api_bad_json"),
            "{answer}"
        );
    }

    // Accepted: a private_key_jwt client with a public JWK set, one with a jwks_uri, a public
    // app with its own scheme.
    for (id, changes) in [
        (
            "cong-jwks",
            jwt(json!({ "jwks": { "keys": [public_jwk.clone()] } })),
        ),
        (
            "cong-jwks-uri",
            jwt(json!({ "jwks_uri": format!("{jwks_base}/public") })),
        ),
        (
            "app-vneid",
            json!({ "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"], "redirect_uris": ["vn.gov.app:/cb"] }),
        ),
    ] {
        let (status, answer) =
            api_en(&t, &admin, Method::POST, CLIENTS, Some(with(id, changes))).await;
        assert_eq!(status, StatusCode::CREATED, "{id}: {answer}");
        assert!(answer.get("client_secret").is_none(), "{id} has no secret");
    }

    // A taken id: 409.
    let (status, answer) = api_en(&t, &admin, Method::POST, CLIENTS, Some(body("cong-jwks"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(is_en(&t, &answer["message"], "admin_clients_id_taken"));
}

#[tokio::test]
async fn only_an_admin_gives_admin_scopes() {
    let t = spawn_app().await;
    let manager = api_token(&t, &[Role::ClientManager]).await;
    let admin = api_token(&t, &[Role::Admin]).await;
    let escalate = with(
        "cong-leo-thang",
        json!({ "allowed_scopes": ["openid", "xacthuc:admin"] }),
    );
    let (status, answer) =
        api_en(&t, &manager, Method::POST, CLIENTS, Some(escalate.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        is_en(
            &t,
            &answer["fields"]["allowed_scopes"],
            "admin_clients_scope_admin_only"
        ),
        "{answer}"
    );
    assert!(
        t.app
            .db
            .find_client("cong-leo-thang")
            .await
            .unwrap()
            .is_none()
    );

    // Nor by editing a client of their own.
    create(&t, &manager, "cong-cua-toi").await;
    let edit = with(
        "cong-cua-toi",
        json!({ "allowed_scopes": ["xacthuc:client_manager", "xacthuc:admin"], "version": 1 }),
    );
    let (status, answer) = api_en(
        &t,
        &manager,
        Method::PUT,
        &client_url("cong-cua-toi"),
        Some(edit.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let stored = t.app.db.find_client("cong-cua-toi").await.unwrap().unwrap();
    assert!(
        !stored
            .allowed_scopes
            .iter()
            .any(|s| s.starts_with("xacthuc:"))
    );

    // An admin may.
    let (status, answer) = api_en(&t, &admin, Method::POST, CLIENTS, Some(escalate)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, _) = api_en(
        &t,
        &admin,
        Method::PUT,
        &client_url("cong-cua-toi"),
        Some(edit),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_stale_edit_is_refused_and_the_first_change_kept() {
    let t = spawn_app().await;
    let a = api_token(&t, &[Role::Admin]).await;
    let b = api_token(&t, &[Role::ClientManager]).await;
    create(&t, &a, "cong-hue").await;
    let resp = http()
        .get(t.url(&client_url("cong-hue")))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["etag"], "\"1\"");

    // Both read version 1; the first write wins, the second is refused and writes nothing.
    let first = with("cong-hue", json!({ "name": "Cổng Huế (A)", "version": 1 }));
    let second = with(
        "cong-hue",
        json!({ "name": "Cổng Huế (B)", "redirect_uris": ["https://b.example.vn/cb"], "version": 1 }),
    );
    let (status, _) = api_call(
        &t,
        Some(&a),
        Method::PUT,
        &client_url("cong-hue"),
        Some(first),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = api_call(
        &t,
        Some(&b),
        Method::PUT,
        &client_url("cong-hue"),
        Some(second),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"], "conflict");
    assert_eq!(answer["message"], says(&t, "admin_stale_edit"));
    let (_, now) = api_get(&t, &a, &client_url("cong-hue")).await;
    assert_eq!(now["name"], "Cổng Huế (A)");
    assert_eq!(now["redirect_uris"], json!(["http://127.0.0.1:9/callback"]));
    assert_eq!(now["version"], 2);

    // No version at all: a field error. If-Match names it too.
    let (status, answer) = api_en(
        &t,
        &b,
        Method::PUT,
        &client_url("cong-hue"),
        Some(body("cong-hue")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is_en(
        &t,
        &answer["fields"]["version"],
        "admin_clients_version_required"
    ));
    let resp = http()
        .put(t.url(&client_url("cong-hue")))
        .bearer_auth(&b)
        .header("If-Match", "\"2\"")
        .json(&with("cong-hue", json!({ "name": "Cổng Huế (B)" })))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["etag"], "\"3\"");

    // A deletion based on an old version is refused too.
    let (status, _) = api_call(
        &t,
        Some(&a),
        Method::DELETE,
        &client_url("cong-hue"),
        Some(json!({ "version": 2 })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(t.app.db.find_client("cong-hue").await.unwrap().is_some());
    let (status, _) = api_call(
        &t,
        Some(&a),
        Method::DELETE,
        &client_url("cong-hue"),
        Some(json!({ "version": 3 })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api_get(&t, &a, &client_url("cong-hue")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let deleted = audited_kind(&t, "admin.client.deleted")
        .await
        .expect("audited");
    assert_eq!(deleted.detail["before"]["name"], "Cổng Huế (B)");
    assert_eq!(deleted.detail["after"], Value::Null);
}

#[tokio::test]
async fn a_change_on_one_node_holds_on_the_other_at_once() {
    let a = spawn_app().await;
    let b = a.second_node().await;
    a.add_account(CITIZEN, Ial::Ial2).await;
    let admin = api_token(&a, &[Role::Admin]).await;
    let created = create(&a, &admin, "cong-hai-nut").await;
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let new_uri = "http://127.0.0.1:9/new-callback";
    let (_, challenge) = pkce();
    let at_b = |uri: &str| authorize_to(&b, "cong-hai-nut", &challenge, uri, "openid profile", &[]);

    // B has the client cached, and refuses a redirect URI it does not have.
    let resp = browser()
        .get(at_b("http://127.0.0.1:9/callback"))
        .send()
        .await
        .unwrap();
    assert!(location(&resp).contains("/login"), "{}", resp.status());
    let resp = browser().get(at_b(new_uri)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Added on A: B accepts it on the very next request.
    let edit = with(
        "cong-hai-nut",
        json!({ "redirect_uris": ["http://127.0.0.1:9/callback", new_uri], "version": 1 }),
    );
    let (status, _) = api_call(
        &a,
        Some(&admin),
        Method::PUT,
        &client_url("cong-hai-nut"),
        Some(edit),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let resp = browser().get(at_b(new_uri)).send().await.unwrap();
    assert!(
        location(&resp).contains("/login"),
        "B sees the new URI: {}",
        resp.status()
    );

    // B's token endpoint works, then refuses the client disabled on A, then works again.
    let credentials = [("grant_type", "client_credentials"), ("scope", "profile")];
    let (status, _) = token_request(&b, "cong-hai-nut", &secret, &credentials).await;
    assert_eq!(status, StatusCode::OK);
    let (status, view) = api_call(
        &a,
        Some(&admin),
        Method::POST,
        &format!("{}/disable", client_url("cong-hai-nut")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["disabled"], true);
    let (status, err) = token_request(&b, "cong-hai-nut", &secret, &credentials).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    assert_eq!(err["error"], "invalid_client");
    let resp = browser().get(at_b(new_uri)).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "authorize refuses a disabled client"
    );
    assert!(resp.headers().get("location").is_none());
    let disabled = audited_kind(&a, "admin.client.disabled")
        .await
        .expect("audited");
    assert_eq!(disabled.detail["before"]["disabled"], false);
    assert_eq!(disabled.detail["after"]["disabled"], true);
    let (status, _) = api_call(
        &a,
        Some(&admin),
        Method::POST,
        &format!("{}/enable", client_url("cong-hai-nut")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = token_request(&b, "cong-hai-nut", &secret, &credentials).await;
    assert_eq!(status, StatusCode::OK);
    assert!(audited_kind(&a, "admin.client.enabled").await.is_some());
}

#[tokio::test]
async fn an_update_is_audited_before_and_after_without_secrets() {
    let t = spawn_app().await;
    let (manager_id, manager_secret) = api_client(&t, &[Role::ClientManager]).await;
    let token = token_of(&t, &manager_id, &manager_secret, &[Role::ClientManager]).await;
    let created = create(&t, &token, "cong-can-tho").await;
    let first_secret = created["client_secret"].as_str().unwrap().to_string();
    let edit = with(
        "cong-can-tho",
        json!({ "name": "Cổng Cần Thơ", "skip_consent": true, "version": 1 }),
    );
    let (status, _) = api_call(
        &t,
        Some(&token),
        Method::PUT,
        &client_url("cong-can-tho"),
        Some(edit),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let ev = audited_kind(&t, "admin.client.updated")
        .await
        .expect("audited");
    assert_eq!(
        ev.actor_id.as_deref(),
        Some(format!("client:{manager_id}").as_str())
    );
    assert_eq!(ev.client_id.as_deref(), Some("cong-can-tho"));
    assert_eq!(ev.detail["via"], "api");
    assert_eq!(
        ev.detail["before"]["name"],
        "Cổng dịch vụ công tỉnh Khánh Hòa"
    );
    assert_eq!(ev.detail["after"]["name"], "Cổng Cần Thơ");
    assert_eq!(ev.detail["before"]["skip_consent"], false);
    assert_eq!(ev.detail["after"]["skip_consent"], true);
    assert_eq!(ev.detail["before"]["version"], 1);
    assert_eq!(ev.detail["after"]["version"], 2);
    assert!(ev.ip.is_some());
    assert!(audited_kind(&t, "admin.client.created").await.is_some());

    let (status, rotated) = api_call(
        &t,
        Some(&token),
        Method::POST,
        &format!("{}/rotate-secret", client_url("cong-can-tho")),
        Some(json!({ "overlap_seconds": 60 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    let rot = audited_kind(&t, "admin.client.secret_rotated")
        .await
        .expect("audited");
    assert!(rot.detail["after"]["previous_secret_expires_at"].is_string());

    // No secret and no hash of one in any of these rows.
    let events = t.app.db.audit_events(100).await.unwrap();
    let text: String = events
        .iter()
        .filter(|e| e.kind.starts_with("admin.client."))
        .map(|e| e.detail.to_string())
        .collect();
    for secret in [&first_secret, &new_secret] {
        assert!(!text.contains(secret.as_str()));
        assert!(!text.contains(&xacthuc::random::sha256_hex(secret)));
    }
}

#[tokio::test]
async fn rotation_from_the_api_keeps_the_old_secret_for_the_overlap() {
    let t = spawn_app().await;
    let admin = api_token(&t, &[Role::Admin]).await;
    let old = create(&t, &admin, "cong-xoay").await["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let rotate = format!("{}/rotate-secret", client_url("cong-xoay"));
    let (status, answer) = api_en(
        &t,
        &admin,
        Method::POST,
        &rotate,
        Some(json!({ "overlap_seconds": 2_592_001 })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is_en(
        &t,
        &answer["fields"]["overlap_seconds"],
        "admin_clients_overlap_invalid"
    ));
    let (status, answer) = api_call(
        &t,
        Some(&admin),
        Method::POST,
        &rotate,
        Some(json!({ "overlap_seconds": 120 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let new = answer["client_secret"].as_str().unwrap().to_string();
    assert!(answer["previous_expires_at"].is_string());
    let credentials = [("grant_type", "client_credentials"), ("scope", "profile")];
    assert_eq!(
        token_request(&t, "cong-xoay", &old, &credentials).await.0,
        StatusCode::OK
    );
    assert_eq!(
        token_request(&t, "cong-xoay", &new, &credentials).await.0,
        StatusCode::OK
    );
    t.advance(121);
    assert_eq!(
        token_request(&t, "cong-xoay", &old, &credentials).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_request(&t, "cong-xoay", &new, &credentials).await.0,
        StatusCode::OK
    );

    // A rotation is an edit: an edit based on the version before it is stale.
    let (status, _) = api_call(
        &t,
        Some(&admin),
        Method::PUT,
        &client_url("cong-xoay"),
        Some(with("cong-xoay", json!({ "version": 1 }))),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A public client has no secret to rotate; an unknown one is not found.
    let app = with(
        "app-cong",
        json!({ "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"] }),
    );
    let (status, _) = api_call(&t, Some(&admin), Method::POST, CLIENTS, Some(app)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = api_call(
        &t,
        Some(&admin),
        Method::POST,
        &format!("{}/rotate-secret", client_url("app-cong")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, _) = api_call(
        &t,
        Some(&admin),
        Method::POST,
        &format!("{}/rotate-secret", client_url("khong-co")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_jwks_uri_client_authenticates_with_the_published_keys() {
    let t = spawn_app().await;
    let admin = api_token(&t, &[Role::Admin]).await;
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut jwk = KeyPair::to_jwk_public_key(&pair);
    jwk.set_key_id("k1");
    let published = std::sync::Arc::new(std::sync::Mutex::new(json!({ "keys": [jwk_json(&jwk)] })));
    let served = published.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let set = served.lock().unwrap().clone();
            async move { axum::Json(set) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!(
        "http://127.0.0.1:{}/jwks",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let reg = json!({
        "client_id": "cong-jwks-uri", "name": "Cổng khóa công khai",
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri,
        "grant_types": ["client_credentials"], "allowed_scopes": ["profile"],
    });
    let (status, answer) = api_call(&t, Some(&admin), Method::POST, CLIENTS, Some(reg)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let assertion = |signer: &josekit::jws::alg::ecdsa::EcdsaJwsSigner, kid: &str| {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_key_id(kid);
        let now = t.clock.unix();
        let claims = json!({ "iss": "cong-jwks-uri", "sub": "cong-jwks-uri", "aud": t.app.issuer, "exp": now + 60, "jti": xacthuc::random::token() });
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, signer).unwrap()
    };
    let token_with = |jwt: String| {
        let url = t.url("/token");
        async move {
            http()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", "profile"),
                    ("client_id", "cong-jwks-uri"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &jwt),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let signer = josekit::jws::ES256
        .signer_from_jwk(&KeyPair::to_jwk_private_key(&pair))
        .unwrap();
    assert_eq!(token_with(assertion(&signer, "k1")).await, StatusCode::OK);

    // The client rotates its keys: a new kid is fetched again at once.
    let pair2 = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut jwk2 = KeyPair::to_jwk_public_key(&pair2);
    jwk2.set_key_id("k2");
    *published.lock().unwrap() = json!({ "keys": [jwk_json(&jwk2)] });
    // (A set is fetched again at most every 30 seconds, so an unknown caller cannot make us
    // fetch it on every request.)
    t.advance(31);
    let signer2 = josekit::jws::ES256
        .signer_from_jwk(&KeyPair::to_jwk_private_key(&pair2))
        .unwrap();
    assert_eq!(token_with(assertion(&signer2, "k2")).await, StatusCode::OK);
    // A key it no longer publishes, or one it never did, is refused.
    let stranger = josekit::jws::ES256.generate_key_pair().unwrap();
    let stranger = josekit::jws::ES256
        .signer_from_jwk(&KeyPair::to_jwk_private_key(&stranger))
        .unwrap();
    assert_eq!(
        token_with(assertion(&stranger, "k2")).await,
        StatusCode::UNAUTHORIZED
    );
}

// --- the console over HTTP ---------------------------------------------------------------

const MANAGER: &str = "001085000555";
const AUDITOR: &str = "001085000666";
const OFFICER: &str = "001085000777";

/// The fields of a new client form (`redirect` one per line).
fn console_fields<'a>(id: &'a str, redirect: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", id),
        ("name", "Cổng Hà Giang"),
        ("token_endpoint_auth_method", "client_secret_basic"),
        ("redirect_uris", redirect),
        ("post_logout_redirect_uris", ""),
        ("grant_authorization_code", "yes"),
        ("grant_refresh_token", "yes"),
        ("scope_openid", "yes"),
        ("scope_profile", "yes"),
        ("subject_type", "public"),
        ("id_token_alg", "RS256"),
        ("min_acr", ""),
    ]
}

#[tokio::test]
async fn the_console_creates_edits_and_deletes_a_client() {
    let t = spawn_app().await;
    let desk = staff_desk(&t, MANAGER, &[Role::ClientManager]).await;
    let b = &desk.b;
    let list = b.get(t.url("/admin/clients")).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK);

    // A bad redirect URI: the form again, the message under the field, the values kept.
    let new = t.url("/admin/clients/new");
    let resp = post_on(
        &t,
        b,
        &new,
        "/admin/clients/new",
        &console_fields("cong-ha-giang", "http://hagiang.example.vn/cb"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unescape(&resp.text().await.unwrap());
    assert!(html.contains("id=\"redirect_uris-error\""));
    assert!(shows(
        &t,
        &html.replace("http://hagiang.example.vn/cb: ", "{uri}: "),
        "admin_clients_uri_not_https"
    ));
    assert!(html.contains("value=\"Cổng Hà Giang\""), "values kept");
    assert!(
        t.app
            .db
            .find_client("cong-ha-giang")
            .await
            .unwrap()
            .is_none()
    );

    // Valid: created, its secret shown once on the page that answers.
    let resp = post_on(
        &t,
        b,
        &new,
        "/admin/clients/new",
        &console_fields(
            "cong-ha-giang",
            "https://hagiang.example.vn/cb\nhttp://127.0.0.1:9/callback",
        ),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let html = resp.text().await.unwrap();
    let secret = attr_text(&html, "client-secret").expect("the secret, once");
    let stored = t
        .app
        .db
        .find_client("cong-ha-giang")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(xacthuc::random::sha256_hex(&secret).as_str())
    );
    assert_eq!(stored.redirect_uris.len(), 2);
    let page = page_text(b, t.url("/admin/clients/cong-ha-giang")).await;
    assert!(!page.contains(&secret), "never shown again");
    let created = audited_kind(&t, "admin.client.created").await.unwrap();
    assert_eq!(
        created.actor_id.as_deref(),
        Some(desk.holder.account_id.as_str())
    );
    assert_eq!(created.detail["via"], "console");

    // An edit from an old version: refused, nothing written.
    let client_page = t.url("/admin/clients/cong-ha-giang");
    let mut fields = console_fields("cong-ha-giang", "https://hagiang.example.vn/cb");
    fields.retain(|(k, _)| *k != "client_id");
    fields.push(("name", "Cổng tỉnh Hà Giang"));
    fields.retain(|(k, v)| *k != "name" || *v == "Cổng tỉnh Hà Giang");
    let mut stale = fields.clone();
    stale.push(("version", "0"));
    let resp = post_on(&t, b, &client_page, "/admin/clients/cong-ha-giang", &stale).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(shows(&t, &resp.text().await.unwrap(), "admin_stale_edit"));
    assert_eq!(
        t.app
            .db
            .find_client("cong-ha-giang")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Cổng Hà Giang"
    );
    let mut fresh = fields.clone();
    fresh.push(("version", "1"));
    let resp = post_on(&t, b, &client_page, "/admin/clients/cong-ha-giang", &fresh).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let saved = t
        .app
        .db
        .find_client("cong-ha-giang")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.name, "Cổng tỉnh Hà Giang");
    assert_eq!(saved.redirect_uris, ["https://hagiang.example.vn/cb"]);
    assert_eq!(saved.version, 2);

    // Disable and delete ask for a confirmation first.
    let confirm = t.url("/admin/clients/cong-ha-giang/delete");
    let resp = post_on(
        &t,
        b,
        &confirm,
        "/admin/clients/cong-ha-giang/delete",
        &[("version", "2")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(shows(
        &t,
        &resp.text().await.unwrap(),
        "admin_confirm_required"
    ));
    assert!(
        t.app
            .db
            .find_client("cong-ha-giang")
            .await
            .unwrap()
            .is_some()
    );
    let disable = t.url("/admin/clients/cong-ha-giang/disable");
    let resp = post_on(
        &t,
        b,
        &disable,
        "/admin/clients/cong-ha-giang/disable",
        &[("version", "2"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(
        t.app
            .db
            .find_client("cong-ha-giang")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let resp = post_on(
        &t,
        b,
        &confirm,
        "/admin/clients/cong-ha-giang/delete",
        &[("version", "3"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).ends_with("/admin/clients?done=deleted"));
    assert!(
        t.app
            .db
            .find_client("cong-ha-giang")
            .await
            .unwrap()
            .is_none()
    );
    assert!(audited_kind(&t, "admin.client.deleted").await.is_some());

    // A form without its CSRF token is refused.
    let resp = b
        .post(t.url("/admin/clients/new"))
        .form(&console_fields("cong-csrf", "https://a.example.vn/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(t.app.db.find_client("cong-csrf").await.unwrap().is_none());
}

#[tokio::test]
async fn the_console_shows_an_auditor_but_lets_no_one_else_change() {
    let t = spawn_app().await;
    let (id, _) = t
        .add_client(|c| c.client_id = Some("cong-doc".into()))
        .await;
    let auditor = staff_desk(&t, AUDITOR, &[Role::Auditor]).await;
    let page = auditor
        .b
        .get(t.url(&format!("/admin/clients/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("cong-doc") && !html.contains("id=\"client-form\""),
        "read only"
    );
    let resp = post_on(
        &t,
        &auditor.b,
        &t.url("/profile"),
        "/admin/clients/cong-doc/disable",
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        !t.app
            .db
            .find_client("cong-doc")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let new = auditor
        .b
        .get(t.url("/admin/clients/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), StatusCode::FORBIDDEN);

    let officer = staff_desk(&t, OFFICER, &[Role::CounterOfficer]).await;
    let list = officer.b.get(t.url("/admin/clients")).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::FORBIDDEN);
    let missing = auditor
        .b
        .get(t.url("/admin/clients/khong-co"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The text of the element with `id` (its first text node), unescaped.
fn attr_text(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[start..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')?;
    Some(unescape(rest[open..open + close].trim()))
}

#[tokio::test]
async fn the_openapi_document_describes_the_client_routes() {
    let t = spawn_app().await;
    let (status, doc) = api_call(
        &t,
        None,
        Method::GET,
        xacthuc::http::admin::OPENAPI_PATH,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/admin/api/v1/clients", &["get", "post"][..]),
        (
            "/admin/api/v1/clients/{client_id}",
            &["get", "put", "delete"][..],
        ),
        ("/admin/api/v1/clients/{client_id}/disable", &["post"][..]),
        ("/admin/api/v1/clients/{client_id}/enable", &["post"][..]),
        (
            "/admin/api/v1/clients/{client_id}/rotate-secret",
            &["post"][..],
        ),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path}");
        }
    }
    let draft = &doc["components"]["schemas"]["ClientDraft"]["properties"];
    assert!(draft["redirect_uris"].is_object() && draft["jwks_uri"].is_object());
    let view = &doc["components"]["schemas"]["ClientView"]["properties"];
    assert!(view["version"].is_object());
    assert!(view.get("secret_hash").is_none());
}

/// A deployment with one portal theme, `khanh-hoa`, whose strings rename the login and consent
/// pages' titles (Vietnamese only: English falls back to the common theme's).
fn client_theme_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let strings = dir.path().join("khanh-hoa").join("strings");
    std::fs::create_dir_all(&strings).unwrap();
    std::fs::write(
        strings.join("vi.toml"),
        "login_title = \"Đăng nhập Cổng Khánh Hòa\"\nconsent_title = \"Khánh Hòa xin quyền truy cập\"\n",
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn a_portal_theme_dresses_its_login_and_consent_pages_and_an_unknown_one_is_refused() {
    let themes = client_theme_dir();
    let root = themes.path().to_path_buf();
    let t = spawn_app_with(|c| c.theme.clients_dir = Some(root)).await;
    t.add_account(CITIZEN, Ial::Ial2).await;
    let admin = api_token(&t, &[Role::Admin]).await;

    let (status, answer) = api_en(
        &t,
        &admin,
        Method::POST,
        CLIENTS,
        Some(with("cong-ha-noi", json!({ "theme": "ha-noi" }))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["fields"]["theme"]
            .as_str()
            .unwrap()
            .contains("khanh-hoa")
    );

    let (status, answer) = api_en(
        &t,
        &admin,
        Method::POST,
        CLIENTS,
        Some(with("cong-khanh-hoa", json!({ "theme": "khanh-hoa" }))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["theme"], "khanh-hoa", "{answer}");
    let plain = create(&t, &admin, "cong-chung").await;
    assert!(plain["theme"].is_null(), "{plain}");

    // The themed portal's login page, then its consent page, in its theme.
    let b = browser();
    let (_, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, "cong-khanh-hoa", &challenge, &[]))
        .send()
        .await
        .unwrap();
    let login_url = location(&resp);
    let html = page_text(&b, &login_url).await;
    assert!(html.contains("Đăng nhập Cổng Khánh Hòa"), "{html}");
    let consent_url = login(&t, &b, &login_url, CITIZEN, PASSWORD).await;
    assert!(consent_url.contains("/consent"), "{consent_url}");
    let html = page_text(&b, &consent_url).await;
    assert!(html.contains("Khánh Hòa xin quyền truy cập"), "{html}");

    // Another portal of the same deployment keeps the common theme.
    let other = browser();
    let resp = other
        .get(authorize_url(&t, "cong-chung", &challenge, &[]))
        .send()
        .await
        .unwrap();
    let html = page_text(&other, &location(&resp)).await;
    assert!(!html.contains("Cổng Khánh Hòa"), "{html}");
    assert!(html.contains(&says(&t, "login_title")));
}
