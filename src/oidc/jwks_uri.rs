//! The JWK sets that private_key_jwt clients publish at a `jwks_uri`: fetched when needed and
//! kept per node for [`KEEP_MS`]; an assertion naming a `kid` the set lacks fetches it again
//! (at most once per [`REFETCH_GAP_MS`]), so a client that rotated its keys is accepted at
//! once, and an unknown caller cannot make us fetch on every request.

use std::sync::Arc;

use serde_json::Value;

use crate::cache::TtlCache;

/// How long a fetched set is used.
const KEEP_MS: i64 = 10 * 60 * 1000;
/// The shortest time between two fetches of one set.
const REFETCH_GAP_MS: i64 = 30 * 1000;
/// The largest JWK set document we read.
const MAX_DOCUMENT: usize = 64 * 1024;

/// A fetched set and when it was fetched (unix ms).
type Entry = (Arc<Value>, i64);

pub struct JwksUriCache {
    entries: TtlCache<String, Entry>,
}

impl Default for JwksUriCache {
    fn default() -> Self {
        Self {
            entries: TtlCache::new(1_000),
        }
    }
}

impl JwksUriCache {
    /// The set at `uri`: the cached one, unless `refresh` asks for a new one and the cached
    /// one is older than [`REFETCH_GAP_MS`]. Returns the set and whether it was just fetched.
    pub async fn keys(
        &self,
        http: &reqwest::Client,
        uri: &str,
        now_ms: i64,
        refresh: bool,
    ) -> Result<(Arc<Value>, bool), String> {
        let key = uri.to_string();
        if let Some((set, fetched_at)) = self.entries.get(&key, now_ms)
            && (!refresh || now_ms - fetched_at < REFETCH_GAP_MS)
        {
            return Ok((set, false));
        }
        let set = Arc::new(fetch(http, uri).await?);
        self.entries
            .insert(key, (set.clone(), now_ms), now_ms + KEEP_MS);
        Ok((set, true))
    }
}

/// Fetches the JSON document at `uri` (an object with a `keys` array); the error says why
/// not, in English, for logs and the command line.
pub async fn fetch(http: &reqwest::Client, uri: &str) -> Result<Value, String> {
    let resp = http
        .get(uri)
        .send()
        .await
        .map_err(|e| format!("the JWK set could not be fetched: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "the JWK set could not be fetched: HTTP {}",
            resp.status()
        ));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("the JWK set could not be read: {e}"))?;
    if body.len() > MAX_DOCUMENT {
        return Err("the JWK set is larger than 64 KiB".into());
    }
    let set: Value =
        serde_json::from_slice(&body).map_err(|_| "the JWK set is not JSON".to_string())?;
    if !set.get("keys").is_some_and(Value::is_array) {
        return Err("the document is not a JWK set".into());
    }
    Ok(set)
}
