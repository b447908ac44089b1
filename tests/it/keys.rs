//! Signing keys: rotation keeps older tokens verifiable; keys are encrypted at rest; production
//! refuses to start without a key-encryption key.

use reqwest::StatusCode;
use serde_json::Value;
use xacthuc::app::App;
use xacthuc::clock::Clock;
use xacthuc::domain::Ial;

use crate::code_flow::decode_part;
use crate::helpers::*;

pub async fn jwks_kids(t: &TestApp) -> Vec<String> {
    let jwks: Value = http()
        .get(t.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Verifies a JWT against the published JWKS, as a relying party would.
async fn verifies_against_jwks(t: &TestApp, jwt: &str) -> bool {
    let jwks: Value = http()
        .get(t.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = decode_part(jwt, 0)["kid"].as_str().unwrap().to_string();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return false;
    };
    let jwk = josekit::jwk::Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier: Box<dyn josekit::jws::JwsVerifier> = match jwk.algorithm() {
        Some("RS256") => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
        _ => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
    };
    josekit::jws::deserialize_compact(jwt, verifier.as_ref()).is_ok()
}

#[tokio::test]
async fn rotation_keeps_tokens_signed_before_it_verifiable() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t.add_client(|c| c.skip_consent = true).await;
    let secret = secret.unwrap();
    let before = tokens_for(&t, &id, &secret, "001090012345").await;
    let old_id_token = before["id_token"].as_str().unwrap();
    let old_kid = decode_part(old_id_token, 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();

    // A delayed rotation publishes the new keys first but keeps signing with the old ones.
    let new_kids = t
        .app
        .keys
        .rotate(chrono::Duration::seconds(3600))
        .await
        .unwrap();
    let kids = jwks_kids(&t).await;
    assert!(
        new_kids.iter().all(|k| kids.contains(k)),
        "pending keys are published ahead"
    );
    let during = tokens_for(&t, &id, &secret, "001090012345").await;
    assert_eq!(
        decode_part(during["id_token"].as_str().unwrap(), 0)["kid"],
        old_kid.as_str()
    );

    // Once active, new tokens use a new key and the old token still verifies.
    t.advance(3601);
    t.app.keys.reload().await.unwrap();
    let after = tokens_for(&t, &id, &secret, "001090012345").await;
    let new_kid = decode_part(after["id_token"].as_str().unwrap(), 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_kid, old_kid);
    assert!(new_kids.contains(&new_kid));
    assert!(
        verifies_against_jwks(&t, old_id_token).await,
        "old token verifies after rotation"
    );
    assert!(verifies_against_jwks(&t, after["id_token"].as_str().unwrap()).await);

    // After every token the old key signed has expired, it leaves the JWKS.
    t.advance(3600);
    t.app.keys.reload().await.unwrap();
    assert!(!jwks_kids(&t).await.contains(&old_kid));
}

#[tokio::test]
async fn es256_clients_get_es256_id_tokens() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (id, secret) = t
        .add_client(|c| c.id_token_alg = Some("ES256".into()))
        .await;
    let tokens = tokens_for(&t, &id, secret.as_deref().unwrap(), "001090012345").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(decode_part(id_token, 0)["alg"], "ES256");
    assert!(verifies_against_jwks(&t, id_token).await);
    let mut tampered = id_token.to_string();
    // A character inside the payload segment.
    let mid = tampered.find('.').unwrap() + 5;
    tampered.replace_range(
        mid..mid + 1,
        if &tampered[mid..mid + 1] == "A" {
            "B"
        } else {
            "A"
        },
    );
    assert!(
        !verifies_against_jwks(&t, &tampered).await,
        "a tampered token does not verify"
    );
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_a_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    // A valid production configuration but for the key-encryption key.
    let mut config = production_config();
    config.database.url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    config.theme.dir = concat!(env!("CARGO_MANIFEST_DIR"), "/themes/default").into();
    config.keys.dev_encryption_key_path = dir.path().join("kek");
    let err = App::build(config, Clock::system())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("key-encryption key"), "{err}");
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest() {
    let t = spawn_app().await;
    let resp = http().get(t.url("/jwks")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let jwks: Value = resp.json().await.unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "no private parts in JWKS");
    }
    // The stored private key column is ciphertext, not PEM.
    let stored = t.app.db.signing_keys().await.unwrap();
    assert!(!stored.is_empty());
    for key in stored {
        assert!(!key.encrypted_private_key.contains("PRIVATE KEY"));
    }
}
