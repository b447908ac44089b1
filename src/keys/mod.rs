//! Signing keys: generated on first start, encrypted at rest, rotated with a delay, published
//! in JWKS by `kid`. Private-key operations go through josekit (OpenSSL), never `rsa`.

mod encryption;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use josekit::jwk::KeyPair;
use josekit::jws::{ES256, JwsHeader, JwsSigner, JwsVerifier, RS256};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::store::{Database, StoreError, StoredSigningKey};
pub use encryption::{KeyEncryptionError, KeyEncryptionKey};

pub const ALGORITHMS: [&str; 2] = ["RS256", "ES256"];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Encryption(#[from] KeyEncryptionError),
    #[error("key material: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error("no active {0} signing key")]
    NoActiveKey(String),
}

struct LoadedKey {
    kid: String,
    alg: String,
    activates_at: DateTime<Utc>,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    public_jwk: Value,
}

#[derive(Default)]
struct KeySet {
    /// Per algorithm, ordered by activation time.
    by_alg: HashMap<String, Vec<Arc<LoadedKey>>>,
    /// Keys a token may be verified with (the published ones).
    by_kid: HashMap<String, Arc<LoadedKey>>,
    jwks: Arc<Vec<u8>>,
}

/// The signing keys of this node, reloaded from the database periodically so a rotation made
/// by `xacthuc key rotate` (another process) reaches every node.
#[derive(Clone)]
pub struct KeyRing {
    db: Database,
    kek: Arc<KeyEncryptionKey>,
    clock: Clock,
    /// How long a superseded key stays published: the longest lifetime of a JWT it signed.
    retention: Duration,
    set: Arc<RwLock<KeySet>>,
}

impl KeyRing {
    /// Loads the keys, generating an active key per algorithm when there is none.
    pub async fn load(
        db: Database,
        kek: KeyEncryptionKey,
        clock: Clock,
        retention: Duration,
    ) -> Result<Self, KeyError> {
        let ring = Self {
            db,
            kek: Arc::new(kek),
            clock,
            retention,
            set: Arc::default(),
        };
        let stored = ring.db.signing_keys().await?;
        let now = ring.clock.now();
        for alg in ALGORITHMS {
            if !stored
                .iter()
                .any(|k| k.alg == alg && k.retired_at.is_none())
            {
                ring.generate(alg, now).await?;
            }
        }
        ring.reload().await?;
        Ok(ring)
    }

    /// Re-reads the keys from the database and rebuilds the published set.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let stored = self.db.signing_keys().await?;
        let now = self.clock.now();
        let mut by_alg: HashMap<String, Vec<Arc<LoadedKey>>> = HashMap::new();
        for k in stored.iter().filter(|k| k.retired_at.is_none()) {
            let pem = self.kek.decrypt(&k.encrypted_private_key)?;
            let public_jwk: Value = serde_json::from_str(&k.public_jwk)
                .map_err(|e| KeyError::Store(StoreError::Corrupt(format!("jwk: {e}"))))?;
            let jwk = josekit::jwk::Jwk::from_bytes(k.public_jwk.as_bytes())?;
            let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match k
                .alg
                .as_str()
            {
                "RS256" => (
                    Box::new(RS256.signer_from_pem(&pem)?),
                    Box::new(RS256.verifier_from_jwk(&jwk)?),
                ),
                "ES256" => (
                    Box::new(ES256.signer_from_pem(&pem)?),
                    Box::new(ES256.verifier_from_jwk(&jwk)?),
                ),
                other => {
                    tracing::warn!(kid = %k.kid, alg = other, "skipping key of unknown algorithm");
                    continue;
                }
            };
            by_alg
                .entry(k.alg.clone())
                .or_default()
                .push(Arc::new(LoadedKey {
                    kid: k.kid.clone(),
                    alg: k.alg.clone(),
                    activates_at: k.activates_at,
                    signer,
                    verifier,
                    public_jwk,
                }));
        }
        let mut by_kid = HashMap::new();
        for keys in by_alg.values() {
            for key in published(keys, now, self.retention) {
                by_kid.insert(key.kid.clone(), key.clone());
            }
        }
        let mut published_keys: Vec<&Arc<LoadedKey>> = by_kid.values().collect();
        published_keys.sort_by(|a, b| (&a.alg, a.activates_at).cmp(&(&b.alg, b.activates_at)));
        let jwks =
            json!({ "keys": published_keys.iter().map(|k| &k.public_jwk).collect::<Vec<_>>() });
        let jwks = Arc::new(serde_json::to_vec(&jwks).unwrap_or_default());
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        *set = KeySet {
            by_alg,
            by_kid,
            jwks,
        };
        Ok(())
    }

    /// Introduces a new key per algorithm that becomes the signing key after `delay`.
    pub async fn rotate(&self, delay: Duration) -> Result<Vec<String>, KeyError> {
        let activates_at = self.clock.now() + delay;
        let mut kids = Vec::new();
        for alg in ALGORITHMS {
            kids.push(self.generate(alg, activates_at).await?);
        }
        self.reload().await?;
        Ok(kids)
    }

    async fn generate(&self, alg: &str, activates_at: DateTime<Utc>) -> Result<String, KeyError> {
        let kid = new_kid(alg, self.clock.now());
        let (pem, mut jwk) = match alg {
            "RS256" => {
                let pair = RS256.generate_key_pair(2048)?;
                (pair.to_pem_private_key(), pair.to_jwk_public_key())
            }
            _ => {
                let pair = ES256.generate_key_pair()?;
                (pair.to_pem_private_key(), pair.to_jwk_public_key())
            }
        };
        jwk.set_key_id(&kid);
        jwk.set_algorithm(alg);
        jwk.set_key_use("sig");
        let stored = StoredSigningKey {
            kid: kid.clone(),
            alg: alg.to_string(),
            encrypted_private_key: self.kek.encrypt(&pem)?,
            public_jwk: jwk.to_string(),
            created_at: self.clock.now(),
            activates_at,
            retired_at: None,
        };
        self.db.insert_signing_key(&stored).await?;
        tracing::info!(kid, alg, %activates_at, "signing key created");
        Ok(kid)
    }

    /// Signs `claims` as a compact JWS with the active key of `alg`.
    pub fn sign(&self, alg: &str, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let key = self.active(alg)?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&key.kid);
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        Ok(josekit::jws::serialize_compact(
            &payload,
            &header,
            key.signer.as_ref(),
        )?)
    }

    /// Verifies a compact JWS signed by one of our published keys; returns its claims and
    /// header `typ`. Time claims are the caller's to check.
    pub fn verify(&self, token: &str) -> Option<(Value, Option<String>)> {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        let (payload, header) = josekit::jws::deserialize_compact_with_selector(token, |h| {
            let key = h.key_id().and_then(|kid| set.by_kid.get(kid));
            Ok(match key {
                Some(k) if h.algorithm() == Some(k.alg.as_str()) => {
                    Some(k.verifier.as_ref() as &dyn JwsVerifier)
                }
                _ => None,
            })
        })
        .ok()?;
        let claims: Value = serde_json::from_slice(&payload).ok()?;
        claims
            .is_object()
            .then(|| (claims, header.token_type().map(str::to_string)))
    }

    /// The published JWK set, serialised once per reload.
    pub fn jwks(&self) -> Arc<Vec<u8>> {
        self.set
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .jwks
            .clone()
    }

    fn active(&self, alg: &str) -> Result<Arc<LoadedKey>, KeyError> {
        let now = self.clock.now();
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        set.by_alg
            .get(alg)
            .and_then(|keys| keys.iter().rev().find(|k| k.activates_at <= now))
            .cloned()
            .ok_or_else(|| KeyError::NoActiveKey(alg.to_string()))
    }
}

/// Keys of one algorithm worth publishing at `now`: pending keys (so relying parties cache
/// them before first use), the active key, and keys superseded less than `retention` ago.
fn published(
    keys: &[Arc<LoadedKey>],
    now: DateTime<Utc>,
    retention: Duration,
) -> Vec<&Arc<LoadedKey>> {
    keys.iter()
        .enumerate()
        .filter(|(i, k)| {
            if k.activates_at > now {
                return true;
            }
            // Superseded when the next key (in activation order) became active.
            match keys.get(i + 1) {
                Some(next) if next.activates_at <= now => now < next.activates_at + retention,
                _ => true,
            }
        })
        .map(|(_, k)| k)
        .collect()
}

fn new_kid(alg: &str, now: DateTime<Utc>) -> String {
    let suffix: u32 = rand::random();
    format!(
        "{}-{}-{suffix:08x}",
        alg.to_ascii_lowercase(),
        now.format("%Y%m%d")
    )
}
