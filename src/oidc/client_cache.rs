//! The per-node client cache, kept current on every node through the shared ephemeral store.
//!
//! Every change to a client (added, updated, rotated, removed) writes a fresh random stamp
//! under `client_stamp:<client_id>` ([`announce_change`]). A node's cache entry remembers the
//! stamp it was loaded under and is used only while the store still holds that stamp: one
//! read of the store per lookup, and the next lookup after a change, on any node, reads the
//! database again. A random stamp rather than a counter: a counter that expired and counted
//! up again could return to the value a node cached. When the store cannot be read the cache
//! falls back to its time limit (`server.client_cache_seconds`): authentication never fails
//! because of the stamp.

use std::sync::Arc;

use crate::cache::TtlCache;
use crate::clock::Clock;
use crate::oidc::client::Client;
use crate::store::ephemeral::EphemeralStore;
use crate::store::{Database, StoreError};

fn stamp_key(client_id: &str) -> String {
    format!("client_stamp:{client_id}")
}

/// What the store said about a client's stamp at a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// The stamp (none: the client never changed, or its stamp expired).
    Stamp(Option<Vec<u8>>),
    /// The store did not answer.
    Unknown,
}

pub struct ClientCache {
    entries: TtlCache<String, (Arc<Client>, Seen)>,
    ttl_ms: i64,
}

impl ClientCache {
    pub fn new(ttl_seconds: u64) -> Self {
        Self {
            entries: TtlCache::new(10_000),
            ttl_ms: ttl_seconds as i64 * 1000,
        }
    }

    /// The client, from this node's cache while its stamp is unchanged, else from the
    /// database.
    pub async fn get(
        &self,
        db: &Database,
        store: &dyn EphemeralStore,
        clock: &Clock,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        // Read before the database: a change committed after this read announces a stamp
        // after it too, so the entry made below is replaced at the next lookup.
        let seen = match store.get(&stamp_key(client_id)).await {
            Ok(stamp) => Seen::Stamp(stamp),
            Err(e) => {
                tracing::warn!(error = %e, "client cache: the store did not answer; entries live out their time");
                Seen::Unknown
            }
        };
        let now = clock.unix_ms();
        let key = client_id.to_string();
        if let Some((client, cached)) = self.entries.get(&key, now)
            && (seen == Seen::Unknown || seen == cached)
        {
            return Ok(Some(client));
        }
        let Some(client) = db.find_client(client_id).await? else {
            self.entries.remove(&key);
            return Ok(None);
        };
        let client = Arc::new(client);
        self.entries
            .insert(key, (client.clone(), seen), now + self.ttl_ms);
        Ok(Some(client))
    }
}

/// Tells every node that `client_id` changed: their cached copies are not used again. Call
/// it after the change committed. A store that does not answer leaves the nodes on their
/// time limit; that is logged, not an error (the change itself is made).
pub async fn announce_change(store: &dyn EphemeralStore, client_id: &str) -> bool {
    // The stamp lives far longer than any cache entry, so a stamp that expires only costs
    // one database read per node.
    match crate::stamps::put_fresh(store, &stamp_key(client_id)).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, client = client_id, "client change not announced; nodes see it within server.client_cache_seconds");
            false
        }
    }
}
