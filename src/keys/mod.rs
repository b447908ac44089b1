//! Signing keys: generated on first start, encrypted at rest, rotated with a delay, published
//! in JWKS by `kid`. Private-key operations go through josekit (OpenSSL), never `rsa`.

mod encryption;
mod signer;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use josekit::jwk::KeyPair;
use josekit::jws::{ES256, JwsVerifier, RS256};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::store::{AuditRecord, Database, StoreError, StoredSigningKey};
pub use encryption::{KeyEncryptionError, KeyEncryptionKey};
pub use signer::SignerError;
use signer::TokenSigner;

pub const ALGORITHMS: [&str; 2] = ["RS256", "ES256"];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Encryption(#[from] KeyEncryptionError),
    #[error("key material: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("no active {0} signing key")]
    NoActiveKey(String),
}

struct LoadedKey {
    kid: String,
    alg: String,
    activates_at: DateTime<Utc>,
    signer: TokenSigner,
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

    /// Re-reads the keys from the database and rebuilds the published set; answers whether
    /// the published set (the keys tokens are verified with) changed.
    pub async fn reload(&self) -> Result<bool, KeyError> {
        let stored = self.db.signing_keys().await?;
        let now = self.clock.now();
        let mut by_alg: HashMap<String, Vec<Arc<LoadedKey>>> = HashMap::new();
        for k in stored.iter().filter(|k| k.retired_at.is_none()) {
            let pem = self.kek.decrypt(&k.encrypted_private_key)?;
            let public_jwk: Value = serde_json::from_str(&k.public_jwk)
                .map_err(|e| KeyError::Store(StoreError::Corrupt(format!("jwk: {e}"))))?;
            let jwk = josekit::jwk::Jwk::from_bytes(k.public_jwk.as_bytes())?;
            let (signer, verifier): (TokenSigner, Box<dyn JwsVerifier>) = match k.alg.as_str() {
                "RS256" => (
                    TokenSigner::from_pem("RS256", &pem)?,
                    Box::new(RS256.verifier_from_jwk(&jwk)?),
                ),
                "ES256" => (
                    TokenSigner::from_pem("ES256", &pem)?,
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
        let changed = set.jwks != jwks;
        *set = KeySet {
            by_alg,
            by_kid,
            jwks,
        };
        Ok(changed)
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

    /// [`rotate`](Self::rotate) with its audit row, made by `audit` from the new kids and
    /// their activation time, written in the keys' own transaction.
    pub async fn rotate_recorded(
        &self,
        delay: Duration,
        audit: impl FnOnce(&[String], DateTime<Utc>) -> AuditRecord,
    ) -> Result<Vec<String>, KeyError> {
        let activates_at = self.clock.now() + delay;
        let keys = ALGORITHMS
            .into_iter()
            .map(|alg| self.make_key(alg, activates_at))
            .collect::<Result<Vec<_>, _>>()?;
        let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
        let row = audit(&kids, activates_at);
        self.db.insert_signing_keys(&keys, &row).await?;
        tracing::info!(?kids, %activates_at, "signing keys created");
        self.reload().await?;
        Ok(kids)
    }

    /// Every stored key (retired ones too) with its state at this moment, by algorithm and
    /// activation.
    pub async fn summaries(&self) -> Result<Vec<KeySummary>, KeyError> {
        let stored = self.db.signing_keys().await?;
        Ok(summaries(&stored, self.clock.now(), self.retention))
    }

    async fn generate(&self, alg: &str, activates_at: DateTime<Utc>) -> Result<String, KeyError> {
        let stored = self.make_key(alg, activates_at)?;
        self.db.insert_signing_key(&stored).await?;
        tracing::info!(kid = stored.kid, alg, %activates_at, "signing key created");
        Ok(stored.kid)
    }

    /// A new key of `alg`, encrypted under the KEK, not yet stored.
    fn make_key(
        &self,
        alg: &str,
        activates_at: DateTime<Utc>,
    ) -> Result<StoredSigningKey, KeyError> {
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
        Ok(StoredSigningKey {
            kid,
            alg: alg.to_string(),
            encrypted_private_key: self.kek.encrypt(&pem)?,
            public_jwk: jwk.to_string(),
            created_at: self.clock.now(),
            activates_at,
            retired_at: None,
        })
    }

    /// Signs `claims` as a compact JWS with the active key of `alg`.
    pub fn sign(
        &self,
        alg: &str,
        typ: &str,
        claims: &impl serde::Serialize,
    ) -> Result<String, KeyError> {
        let key = self.active(alg)?;
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        Ok(key.signer.compact(&key.alg, &key.kid, typ, &payload)?)
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

/// Where a key stands at a moment (the admin's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published ahead; signs once its activation comes.
    Pending,
    /// Signs now: the latest of its algorithm whose activation has come.
    Active,
    /// A newer key signs; still published so tokens it signed verify (`retention`).
    SupersededPublished,
    /// A newer key signs and the retention is over: no longer published.
    Superseded,
    /// Retired by an admin: unpublished at once, its tokens no longer verify.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::SupersededPublished => "superseded_published",
            Self::Superseded => "superseded",
            Self::Retired => "retired",
        }
    }

    pub fn published(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Active | Self::SupersededPublished
        )
    }
}

/// A key as the admin area lists it (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub state: KeyState,
}

/// The state at `now` of the live (not retired) key at `i` of one algorithm's activation
/// times, in order. The one rule behind both the published set and the admin's list.
fn live_state(
    activations: &[DateTime<Utc>],
    i: usize,
    now: DateTime<Utc>,
    retention: Duration,
) -> KeyState {
    if activations[i] > now {
        return KeyState::Pending;
    }
    // Superseded when the next key (in activation order) became active.
    match activations.get(i + 1) {
        Some(next) if *next <= now => {
            if now < *next + retention {
                KeyState::SupersededPublished
            } else {
                KeyState::Superseded
            }
        }
        _ => KeyState::Active,
    }
}

/// Keys of one algorithm worth publishing at `now`: pending keys (so relying parties cache
/// them before first use), the active key, and keys superseded less than `retention` ago.
fn published(
    keys: &[Arc<LoadedKey>],
    now: DateTime<Utc>,
    retention: Duration,
) -> Vec<&Arc<LoadedKey>> {
    let activations: Vec<DateTime<Utc>> = keys.iter().map(|k| k.activates_at).collect();
    keys.iter()
        .enumerate()
        .filter(|(i, _)| live_state(&activations, *i, now, retention).published())
        .map(|(_, k)| k)
        .collect()
}

/// Every stored key with its state at `now`: by algorithm, then activation.
pub fn summaries(
    stored: &[StoredSigningKey],
    now: DateTime<Utc>,
    retention: Duration,
) -> Vec<KeySummary> {
    let mut keys: Vec<&StoredSigningKey> = stored.iter().collect();
    keys.sort_by(|a, b| (&a.alg, a.activates_at, &a.kid).cmp(&(&b.alg, b.activates_at, &b.kid)));
    let mut out = Vec::with_capacity(keys.len());
    for alg in keys
        .iter()
        .map(|k| k.alg.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let of_alg: Vec<&&StoredSigningKey> = keys.iter().filter(|k| k.alg == alg).collect();
        let live: Vec<DateTime<Utc>> = of_alg
            .iter()
            .filter(|k| k.retired_at.is_none())
            .map(|k| k.activates_at)
            .collect();
        let mut live_index = 0;
        for k in of_alg {
            let state = if k.retired_at.is_some() {
                KeyState::Retired
            } else {
                live_index += 1;
                live_state(&live, live_index - 1, now, retention)
            };
            out.push(KeySummary {
                kid: k.kid.clone(),
                alg: k.alg.clone(),
                created_at: k.created_at,
                activates_at: k.activates_at,
                retired_at: k.retired_at,
                state,
            });
        }
    }
    out
}

fn new_kid(alg: &str, now: DateTime<Utc>) -> String {
    let suffix: u32 = rand::random();
    format!(
        "{}-{}-{suffix:08x}",
        alg.to_ascii_lowercase(),
        now.format("%Y%m%d")
    )
}
