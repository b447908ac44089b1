//! Trust anchors and signing keys in the admin area: the API per role, an upload's checks, an
//! uploaded anchor used by the very next verification (and refused again once retired), the
//! keys' rotation and retirement, both reaching a second node within about a second, and the
//! console's pages and confirmations.

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xacthuc::domain::{Role, TrustSet};
use xacthuc::pki::PkiError;

use crate::admin_support::*;
use crate::code_flow::decode_part;
use crate::helpers::*;
use crate::keys::jwks_kids;

const CCCD: &str = "001099000123";
const ADMIN_ID: &str = "001085000444";
const AUDITOR_ID: &str = "001085000555";
const CONTENT: &[u8] = "Xác thực đăng nhập — thử thách quản trị".as_bytes();
const ANCHORS: &str = "/admin/api/v1/trust-anchors";
const KEYS: &str = "/admin/api/v1/signing-keys";

/// The PEM of a sandbox CA (`public-root`, `gov-root`, `untrusted-root`, …).
pub async fn sandbox_ca_pem(t: &TestApp, ca: &str) -> String {
    let resp = http()
        .get(t.url(&format!("/sandbox/pki/ca/{ca}.pem")))
        .send()
        .await
        .expect("sandbox PKI reachable");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

/// A citizen's certificate under the sandbox's `untrusted-root`, which no configuration
/// trusts.
pub async fn untrusted_citizen(t: &TestApp) -> TestCert {
    t.issue_certificate(
        json!({ "tree": "untrusted", "uids": [format!("CCCD:{CCCD}")], "cn": "Trần Văn Bảo" }),
    )
    .await
}

/// Verifies a detached CMS by `cert` through `node`'s verifier, on the public path.
pub async fn verify_on(node: &TestApp, cert: &TestCert) -> Result<(), PkiError> {
    let cms = cert.sign_cms(CONTENT, true);
    node.app
        .pki
        .verify_cms(&cms, Some(CONTENT), &[TrustSet::Public], node.clock.now())
        .await
        .map(|_| ())
}

/// A self-signed certificate made here: `ca` sets basicConstraints CA:TRUE, valid from
/// `from_days` to `to_days` around now.
fn self_signed(ca: bool, from_days: i64, to_days: i64) -> String {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, KeyUsage};
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "Hết hạn CA").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(
        &openssl::bn::BigNum::from_u32(7)
            .unwrap()
            .to_asn1_integer()
            .unwrap(),
    )
    .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    let now = chrono::Utc::now().timestamp();
    b.set_not_before(&Asn1Time::from_unix(now + from_days * 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + to_days * 86_400).unwrap())
        .unwrap();
    let mut bc = BasicConstraints::new();
    bc.critical();
    if ca {
        bc.ca();
    }
    b.append_extension(bc.build().unwrap()).unwrap();
    b.append_extension(KeyUsage::new().key_cert_sign().crl_sign().build().unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}

async fn upload(t: &TestApp, token: &str, set: &str, pem: &str) -> (StatusCode, Value) {
    api_call(
        t,
        Some(token),
        Method::POST,
        ANCHORS,
        Some(json!({ "trust_set": set, "pem": pem })),
    )
    .await
}

fn uploaded(list: &Value) -> Vec<Value> {
    list["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["source"] == "uploaded")
        .cloned()
        .collect()
}

#[tokio::test]
async fn admins_change_auditors_read_and_others_are_kept_out() {
    let t = spawn_app().await;
    let admin = api_token(&t, &[Role::Admin]).await;
    let auditor = api_token(&t, &[Role::Auditor]).await;
    let manager = api_token(&t, &[Role::ClientManager]).await;
    let pem = sandbox_ca_pem(&t, "untrusted-root").await;

    for path in [ANCHORS, KEYS] {
        let (status, body) = api_get(&t, &admin, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let (status, _) = api_get(&t, &auditor, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let (status, body) = api_get(&t, &manager, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["error"], "forbidden");
        let (status, _) = api_call(&t, None, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }

    // The list shows the sandbox's roots, read-only, in their sets.
    let (_, list) = api_get(&t, &auditor, ANCHORS).await;
    let sandbox: Vec<&Value> = list["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["source"] == "sandbox")
        .collect();
    assert_eq!(sandbox.len(), 2, "{list}");
    assert!(sandbox.iter().all(|a| a["id"].is_null()));
    assert!(sandbox.iter().any(|a| a["trust_set"] == "government"));
    // Keys: one signing key per algorithm, no key material.
    let (_, keys) = api_get(&t, &auditor, KEYS).await;
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k["state"] == "active" && k["published"] == true)
    );
    assert!(!serde_json::to_string(keys).unwrap().contains("private"));

    // The auditor's writes: 403, each audited, nothing changed.
    let writes = [
        (
            ANCHORS.to_string(),
            Some(json!({ "trust_set": "public", "pem": pem })),
        ),
        (format!("{KEYS}/rotate"), Some(json!({}))),
        (
            format!("{KEYS}/{}/retire", keys[0]["kid"].as_str().unwrap()),
            None,
        ),
    ];
    for (path, body) in &writes {
        let (status, answer) = api_call(&t, Some(&auditor), Method::POST, path, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
        let event = audited_kind(&t, "admin.forbidden").await.expect("audited");
        assert_eq!(event.detail["access"], "write");
        assert!(event.actor_id.unwrap().starts_with("client:"));
        let (status, _) = api_call(&t, Some(&manager), Method::POST, path, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let (status, _) = api_call(&t, None, Method::POST, path, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert!(t.app.db.trust_anchors().await.unwrap().is_empty());
    assert_eq!(t.app.db.signing_keys().await.unwrap().len(), 2);

    // The OpenAPI document describes the five operations.
    let doc: Value = http()
        .get(t.url("/admin/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        ANCHORS,
        "/admin/api/v1/trust-anchors/{id}/retire",
        KEYS,
        "/admin/api/v1/signing-keys/rotate",
        "/admin/api/v1/signing-keys/{kid}/retire",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["paths"][ANCHORS]["post"].is_object());
}

#[tokio::test]
async fn an_upload_that_is_not_one_valid_ca_certificate_is_refused_per_field_and_nothing_is_stored()
{
    let t = spawn_app().await;
    let admin = api_token(&t, &[Role::Admin]).await;
    let untrusted = sandbox_ca_pem(&t, "untrusted-root").await;
    let gov = sandbox_ca_pem(&t, "gov-root").await;
    let end_entity = untrusted_citizen(&t).await;
    let end_entity_pem = String::from_utf8(end_entity.cert.to_pem().unwrap()).unwrap();
    let key_pem = String::from_utf8(
        end_entity
            .key
            .as_ref()
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap(),
    )
    .unwrap();

    let cases = [
        (
            "public",
            "rác không phải PEM".to_string(),
            "pem",
            "admin_trust_pem_not_certificate",
        ),
        ("public", String::new(), "pem", "admin_trust_pem_empty"),
        (
            "public",
            format!("{untrusted}{gov}"),
            "pem",
            "admin_trust_pem_not_one",
        ),
        (
            "public",
            format!("{untrusted}{key_pem}"),
            "pem",
            "admin_trust_pem_not_one",
        ),
        (
            "public",
            end_entity_pem.clone(),
            "pem",
            "admin_trust_pem_not_ca",
        ),
        (
            "public",
            self_signed(true, -400, -1),
            "pem",
            "admin_trust_pem_expired",
        ),
        (
            "public",
            self_signed(false, -1, 300),
            "pem",
            "admin_trust_pem_not_ca",
        ),
        (
            "private",
            untrusted.clone(),
            "trust_set",
            "admin_trust_set_invalid",
        ),
    ];
    for (set, pem, field, key) in &cases {
        let (status, body) = upload(&t, &admin, set, pem).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{key}: {body}");
        assert_eq!(body["error"], "invalid");
        assert_eq!(body["fields"][field], says(&t, key), "{key}: {body}");
    }
    // Both fields missing: both named. English on request.
    let resp = http()
        .post(t.url(ANCHORS))
        .bearer_auth(&admin)
        .header("Accept-Language", "en")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["fields"]["pem"],
        t.app.theme.t("en", "admin_trust_pem_empty")
    );
    assert_eq!(
        body["fields"]["trust_set"],
        t.app.theme.t("en", "admin_trust_set_invalid")
    );
    // Not JSON at all, or the wrong shape: 400, never a 500.
    for raw in ["{", "[1,2]", "{\"pem\": 5}"] {
        let resp = http()
            .post(t.url(ANCHORS))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{raw}");
    }
    assert!(t.app.db.trust_anchors().await.unwrap().is_empty());
    assert!(audited_kind(&t, "admin.trust_anchor.added").await.is_none());

    // A root the sandbox already puts in the public set: a duplicate (409). The same upload
    // twice: the second is a duplicate.
    let public_root = sandbox_ca_pem(&t, "public-root").await;
    let (status, body) = upload(&t, &admin, "public", &public_root).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["message"], says(&t, "admin_trust_duplicate"));
    let (status, _) = upload(&t, &admin, "government", &untrusted).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = upload(&t, &admin, "government", &untrusted).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "conflict");
    assert_eq!(t.app.db.trust_anchors().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_uploaded_anchor_is_trusted_by_the_next_verification_and_not_after_it_is_retired() {
    let t = spawn_app().await;
    let admin_client = api_client(&t, &[Role::Admin]).await;
    let admin = token_of(&t, &admin_client.0, &admin_client.1, &[Role::Admin]).await;
    let cert = untrusted_citizen(&t).await;
    assert_eq!(verify_on(&t, &cert).await, Err(PkiError::Untrusted));

    let pem = sandbox_ca_pem(&t, "untrusted-root").await;
    let (status, added) = upload(&t, &admin, "public", &pem).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["source"], "uploaded");
    assert_eq!(added["trust_set"], "public");
    assert!(
        added["subject"]
            .as_str()
            .unwrap()
            .contains("Sandbox Untrusted Root")
    );
    assert_eq!(added["added_by"], format!("client:{}", admin_client.0));
    assert_eq!(verify_on(&t, &cert).await, Ok(()), "trusted at once");

    // Audited with the state after, and no certificate body or secret in the row.
    let event = audited_kind(&t, "admin.trust_anchor.added").await.unwrap();
    assert_eq!(
        event.actor_id.as_deref(),
        Some(added["added_by"].as_str().unwrap())
    );
    assert_eq!(event.detail["via"], "api");
    assert!(event.detail["before"].is_null());
    assert_eq!(event.detail["after"]["sha256"], added["sha256"]);
    assert!(!event.detail.to_string().contains("BEGIN"));

    // In the public set only: the government path still refuses it.
    let cms = cert.sign_cms(CONTENT, true);
    let on_gov = t
        .app
        .pki
        .verify_cms(&cms, Some(CONTENT), &[TrustSet::Government], t.clock.now())
        .await;
    assert_eq!(on_gov.err(), Some(PkiError::WrongTrustSet));

    // Retired: refused again, at once.
    let id = added["id"].as_str().unwrap();
    let retire = format!("{ANCHORS}/{id}/retire");
    let (status, retired) = api_call(&t, Some(&admin), Method::POST, &retire, None).await;
    assert_eq!(status, StatusCode::OK, "{retired}");
    assert!(retired["retired_at"].is_string());
    assert_eq!(retired["retired_by"], added["added_by"]);
    assert_eq!(verify_on(&t, &cert).await, Err(PkiError::Untrusted));
    let event = audited_kind(&t, "admin.trust_anchor.retired")
        .await
        .unwrap();
    assert!(event.detail["before"]["retired_at"].is_null());
    assert!(event.detail["after"]["retired_at"].is_string());
    // Twice: a conflict; an unknown or malformed id: not found.
    let (status, body) = api_call(&t, Some(&admin), Method::POST, &retire, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["message"], says(&t, "admin_trust_already_retired"));
    for bad in [
        uuid::Uuid::new_v4().to_string(),
        "không-phải-id".into(),
        "%00".into(),
    ] {
        let (status, _) = api_call(
            &t,
            Some(&admin),
            Method::POST,
            &format!("{ANCHORS}/{bad}/retire"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
    // The list keeps it, retired; it can be uploaded again.
    let (_, list) = api_get(&t, &admin, ANCHORS).await;
    let listed = uploaded(&list);
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["retired_at"].is_string());
    let (status, _) = upload(&t, &admin, "public", &pem).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(verify_on(&t, &cert).await, Ok(()));
}

#[tokio::test]
async fn anchor_and_key_changes_on_one_node_reach_another_within_about_a_second() {
    let t = spawn_app().await;
    let b = t.second_node().await;
    b.app.spawn_background_tasks();
    let (client, secret) = api_client(&t, &[Role::Admin]).await;
    let token = token_of(&t, &client, &secret, &[Role::Admin]).await;
    // Node B has verified (and cached) the token.
    let (status, _) = api_get(&b, &token, "/admin/api/v1/whoami").await;
    assert_eq!(status, StatusCode::OK);

    // An anchor uploaded on A is used by B.
    let cert = untrusted_citizen(&t).await;
    assert_eq!(verify_on(&b, &cert).await, Err(PkiError::Untrusted));
    let pem = sandbox_ca_pem(&t, "untrusted-root").await;
    let (status, added) = upload(&t, &token, "public", &pem).await;
    assert_eq!(status, StatusCode::CREATED);
    let started = Instant::now();
    assert!(wait_for(|| async { verify_on(&b, &cert).await.is_ok() }).await);
    assert!(
        started.elapsed().as_secs_f64() < 2.5,
        "{:?}",
        started.elapsed()
    );
    // Retired on A: B refuses it again.
    let id = added["id"].as_str().unwrap();
    let (status, _) = api_call(
        &t,
        Some(&token),
        Method::POST,
        &format!("{ANCHORS}/{id}/retire"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let started = Instant::now();
    assert!(wait_for(|| async { verify_on(&b, &cert).await == Err(PkiError::Untrusted) }).await);
    assert!(
        started.elapsed().as_secs_f64() < 2.5,
        "{:?}",
        started.elapsed()
    );

    // Keys rotated on A (signing at once): B publishes the new keys.
    let old_kid = decode_part(&token, 0)["kid"].as_str().unwrap().to_string();
    let (status, rotated) = api_call(
        &t,
        Some(&token),
        Method::POST,
        &format!("{KEYS}/rotate"),
        Some(json!({ "delay_seconds": 0 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_kids: Vec<String> = rotated["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_kids.len(), 2);
    let started = Instant::now();
    assert!(
        wait_for(|| async {
            let kids = jwks_kids(&b).await;
            new_kids.iter().all(|k| kids.contains(k))
        })
        .await
    );
    assert!(
        started.elapsed().as_secs_f64() < 2.5,
        "{:?}",
        started.elapsed()
    );
    let event = audited_kind(&t, "admin.signing_key.rotated").await.unwrap();
    let mut recorded: Vec<String> =
        serde_json::from_value(event.detail["after"]["new_keys"].clone()).unwrap();
    let mut expected = new_kids.clone();
    recorded.sort();
    expected.sort();
    assert_eq!(recorded, expected);
    assert_eq!(event.detail["before"]["keys"].as_array().unwrap().len(), 2);

    // The old key still publishes (its tokens live on); a token minted now is signed by a
    // new key, so the old one may be retired.
    let (_, keys) = api_get(&t, &token, KEYS).await;
    let state_of = |keys: &Value, kid: &str| {
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].as_str().unwrap().to_string())
    };
    assert_eq!(
        state_of(&keys, &old_kid).as_deref(),
        Some("superseded_published")
    );
    let fresh = token_of(&t, &client, &secret, &[Role::Admin]).await;
    let fresh_kid = decode_part(&fresh, 0)["kid"].as_str().unwrap().to_string();
    assert!(new_kids.contains(&fresh_kid));

    // The key that signs now cannot be retired.
    let (status, body) = api_call(
        &t,
        Some(&fresh),
        Method::POST,
        &format!("{KEYS}/{fresh_kid}/retire"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["message"], says(&t, "admin_trust_key_active"));
    let (status, _) = api_call(
        &t,
        Some(&fresh),
        Method::POST,
        &format!("{KEYS}/no-such-kid/retire"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The old one is retired on A: it leaves B's JWKS, and the token it signed stops opening
    // the API on B (B had it cached as verified).
    let (status, retired) = api_call(
        &t,
        Some(&fresh),
        Method::POST,
        &format!("{KEYS}/{old_kid}/retire"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retired}");
    assert_eq!(retired["state"], "retired");
    let started = Instant::now();
    assert!(wait_for(|| async { !jwks_kids(&b).await.contains(&old_kid) }).await);
    assert!(
        wait_for(|| async {
            api_get(&b, &token, "/admin/api/v1/whoami").await.0 == StatusCode::UNAUTHORIZED
        })
        .await
    );
    assert!(
        started.elapsed().as_secs_f64() < 2.5,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        api_get(&t, &token, "/admin/api/v1/whoami").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_get(&b, &fresh, "/admin/api/v1/whoami").await.0,
        StatusCode::OK
    );
    let event = audited_kind(&t, "admin.signing_key.retired").await.unwrap();
    assert_eq!(event.detail["before"]["state"], "superseded_published");
    assert_eq!(event.detail["after"]["state"], "retired");
    // Again: a conflict.
    let (status, _) = api_call(
        &t,
        Some(&fresh),
        Method::POST,
        &format!("{KEYS}/{old_kid}/retire"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_rotation_waits_its_delay_and_refuses_a_bad_one() {
    let t = spawn_app().await;
    let admin = api_token(&t, &[Role::Admin]).await;
    for bad in [
        json!({ "delay_seconds": -5 }),
        json!({ "delay_seconds": 7_776_001 }),
    ] {
        let (status, body) = api_call(
            &t,
            Some(&admin),
            Method::POST,
            &format!("{KEYS}/rotate"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["fields"]["delay_seconds"].is_string());
    }
    let (status, _) = api_call(
        &t,
        Some(&admin),
        Method::POST,
        &format!("{KEYS}/rotate"),
        Some(json!({ "delay_seconds": "soon" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(t.app.db.signing_keys().await.unwrap().len(), 2);

    // No body: the configured delay (a day). The new keys are published, pending; the old
    // ones still sign.
    let resp = http()
        .post(t.url(&format!("{KEYS}/rotate")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let rotated: Value = resp.json().await.unwrap();
    let keys = rotated["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .all(|k| k["state"] == "pending" && k["published"] == true)
    );
    let kids = jwks_kids(&t).await;
    assert!(
        keys.iter()
            .all(|k| kids.contains(&k["kid"].as_str().unwrap().to_string()))
    );
    // A pending key may be retired: it leaves the JWKS.
    let pending = keys[0]["kid"].as_str().unwrap();
    let (status, _) = api_call(
        &t,
        Some(&admin),
        Method::POST,
        &format!("{KEYS}/{pending}/retire"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!jwks_kids(&t).await.contains(&pending.to_string()));
    // The day passes: the remaining new key signs, the old one of its algorithm is superseded.
    t.advance(86_400 + 1);
    let (_, list) = api_get(&t, &api_token(&t, &[Role::Admin]).await, KEYS).await;
    let states: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "active").count(),
        2,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "retired").count(),
        1,
        "{states:?}"
    );
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == "superseded_published")
            .count(),
        1,
        "{states:?}"
    );
}

// --- the console ----------------------------------------------------------------------------

#[tokio::test]
async fn the_console_uploads_and_retires_anchors_with_a_confirmation() {
    let t = spawn_app().await;
    let desk = staff_desk(&t, ADMIN_ID, &[Role::Admin]).await;
    let page = t.url("/admin/trust-anchors");
    let html = page_text(&desk.b, &page).await;
    assert!(html.contains("id=\"set-public\""), "{html}");
    assert_eq!(
        html.matches("class=\"anchor-row\"").count(),
        2,
        "the sandbox's roots"
    );
    assert!(html.contains("id=\"trust-upload\""));

    // Junk: the page again, 400, the message under the field, the text kept.
    let resp = post_on(
        &t,
        &desk.b,
        &page,
        "/admin/trust-anchors",
        &[("trust_set", "public"), ("pem", "rác")],
    )
    .await;
    let html = refused(
        &t,
        resp,
        StatusCode::BAD_REQUEST,
        "admin_trust_pem_not_certificate",
    )
    .await;
    assert!(html.contains("id=\"pem-error\""));
    assert!(html.contains(">rác</textarea>"));

    // A certificate with its private key: refused, and the key is not sent back.
    let pem = sandbox_ca_pem(&t, "untrusted-root").await;
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    let resp = post_on(
        &t,
        &desk.b,
        &page,
        "/admin/trust-anchors",
        &[("trust_set", "public"), ("pem", &format!("{pem}{key}"))],
    )
    .await;
    let html = refused(&t, resp, StatusCode::BAD_REQUEST, "admin_trust_pem_not_one").await;
    assert!(!html.contains("PRIVATE KEY"));

    let resp = post_on(
        &t,
        &desk.b,
        &page,
        "/admin/trust-anchors",
        &[("trust_set", "public"), ("pem", &pem)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page_text(&desk.b, location(&resp)).await;
    assert!(shows(&t, &html, "admin_trust_done_added"), "{html}");
    assert!(html.contains("Sandbox Untrusted Root"));
    let cert = untrusted_citizen(&t).await;
    assert_eq!(verify_on(&t, &cert).await, Ok(()));
    let event = audited_kind(&t, "admin.trust_anchor.added").await.unwrap();
    assert_eq!(
        event.actor_id.as_deref(),
        Some(desk.holder.account_id.as_str())
    );
    assert_eq!(event.detail["via"], "console");

    // The same again: 409 with the message.
    let resp = post_on(
        &t,
        &desk.b,
        &page,
        "/admin/trust-anchors",
        &[("trust_set", "public"), ("pem", &pem)],
    )
    .await;
    refused(&t, resp, StatusCode::CONFLICT, "admin_trust_duplicate").await;

    // Retire without the confirmation: the page again, nothing done.
    let id = t.app.db.trust_anchors().await.unwrap()[0].id.clone();
    let action = format!("/admin/trust-anchors/{id}/retire");
    assert!(html.contains(&action));
    let resp = post_on(&t, &desk.b, &page, &action, &[]).await;
    refused(&t, resp, StatusCode::BAD_REQUEST, "admin_confirm_required").await;
    assert_eq!(verify_on(&t, &cert).await, Ok(()));
    let resp = post_on(&t, &desk.b, &page, &action, &[("confirm", "yes")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(verify_on(&t, &cert).await, Err(PkiError::Untrusted));
    let html = page_text(&desk.b, location(&resp)).await;
    assert!(shows(&t, &html, "admin_trust_done_retired"));
    assert!(
        !html.contains(&action),
        "no retire form for a retired anchor"
    );
    // In English on request.
    let html = page_text(&desk.b, format!("{page}?lang=en")).await;
    assert!(html.contains(&t.app.theme.t("en", "admin_trust_upload_heading")));

    // An auditor reads the page without forms; a post (with the CSRF token of its session,
    // from the profile page) is refused by the role.
    let auditor = staff_desk(&t, AUDITOR_ID, &[Role::Auditor]).await;
    let html = page_text(&auditor.b, &page).await;
    assert!(html.contains("Sandbox Untrusted Root"));
    assert!(!html.contains("id=\"trust-upload\""));
    let resp = post_on(
        &t,
        &auditor.b,
        &t.url("/profile"),
        "/admin/trust-anchors",
        &[("trust_set", "public"), ("pem", &pem)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(t.app.db.trust_anchors().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_console_rotates_and_retires_keys_with_a_confirmation() {
    let t = spawn_app().await;
    let desk = staff_desk(&t, ADMIN_ID, &[Role::Admin]).await;
    let page = t.url("/admin/keys");
    let html = page_text(&desk.b, &page).await;
    assert_eq!(html.matches("class=\"key-row\"").count(), 2, "{html}");
    // The signing keys offer no retire form.
    assert!(!html.contains("class=\"btn btn-danger key-retire\""));
    let before = t.app.db.signing_keys().await.unwrap();

    // No confirmation, then a bad delay: the page again, nothing made.
    let resp = post_on(
        &t,
        &desk.b,
        &page,
        "/admin/keys/rotate",
        &[("delay_seconds", "60")],
    )
    .await;
    let html = refused(&t, resp, StatusCode::BAD_REQUEST, "admin_confirm_required").await;
    assert!(html.contains("id=\"confirm-error\""));
    let resp = post_on(
        &t,
        &desk.b,
        &page,
        "/admin/keys/rotate",
        &[("delay_seconds", "mai"), ("confirm", "yes")],
    )
    .await;
    let html = refused_with(
        &t,
        resp,
        StatusCode::BAD_REQUEST,
        "admin_trust_key_delay_invalid",
        &[("max", "7776000")],
    )
    .await;
    assert!(html.contains("id=\"delay_seconds-error\""));
    assert_eq!(t.app.db.signing_keys().await.unwrap().len(), 2);

    let resp = post_on(
        &t,
        &desk.b,
        &page,
        "/admin/keys/rotate",
        &[("delay_seconds", "3600"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page_text(&desk.b, location(&resp)).await;
    assert!(shows(&t, &html, "admin_trust_key_done_rotated"));
    assert_eq!(html.matches("data-state=\"pending\"").count(), 2);
    // The retire form warns what a retirement does.
    assert!(shows(&t, &html, "admin_trust_key_retire_warning"));

    // The signing key, posted directly: 409 and its message.
    let active = &before[0].kid;
    let retire_active = format!("/admin/keys/{active}/retire");
    let resp = post_on(&t, &desk.b, &page, &retire_active, &[("confirm", "yes")]).await;
    refused(&t, resp, StatusCode::CONFLICT, "admin_trust_key_active").await;
    // A pending key: confirmation first, then retired.
    let pending = t
        .app
        .db
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| !before.iter().any(|b| b.kid == k.kid))
        .unwrap()
        .kid;
    let action = format!("/admin/keys/{pending}/retire");
    let resp = post_on(&t, &desk.b, &page, &action, &[]).await;
    refused(&t, resp, StatusCode::BAD_REQUEST, "admin_confirm_required").await;
    let resp = post_on(&t, &desk.b, &page, &action, &[("confirm", "yes")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(!jwks_kids(&t).await.contains(&pending));
    let event = audited_kind(&t, "admin.signing_key.retired").await.unwrap();
    assert_eq!(event.detail["via"], "console");
    assert_eq!(event.detail["before"]["state"], "pending");

    // An auditor reads, without forms.
    let auditor = staff_desk(&t, AUDITOR_ID, &[Role::Auditor]).await;
    let html = page_text(&auditor.b, &page).await;
    assert!(html.contains(&pending));
    assert!(!html.contains("id=\"keys-rotate\""));
}
