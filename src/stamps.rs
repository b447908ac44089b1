//! Change stamps: how a change to state every node holds in memory (the trust anchors, the
//! signing keys) reaches every node at once.
//!
//! Whoever commits a change writes a fresh random stamp under the state's key in the shared
//! ephemeral store ([`announce`]). Every node runs one task (`App::spawn_background_tasks`)
//! that reads the stamps every [`POLL`] and reloads what it holds when a stamp differs from
//! the one it loaded under ([`Watch`]); a full reload every `keys.reload_seconds` stays as
//! the fallback (a stamp the store lost, a change announced while it was down).
//!
//! Why polling and not a subscription: the `EphemeralStore` trait has no pub/sub, the memory
//! backend none to offer, and a subscriber that reconnects misses what was published in
//! between; two small reads a second per node cost little and the delay is bounded (about a
//! second). Why a random stamp and not a counter: a counter that expired and counted up again
//! could come back to the value a node loaded under (see `oidc::client_cache`).

use std::time::Duration;

use crate::store::ephemeral::{EphemeralError, EphemeralStore};

/// How often a node reads the stamps.
pub const POLL: Duration = Duration::from_secs(1);

/// How long a stamp is kept: a stamp that expires costs one reload per node.
pub const STAMP_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Shared state that every node holds in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    TrustAnchors,
    SigningKeys,
}

impl Shared {
    pub const ALL: [Shared; 2] = [Self::TrustAnchors, Self::SigningKeys];

    pub fn key(self) -> &'static str {
        match self {
            Self::TrustAnchors => "trust_anchors_stamp",
            Self::SigningKeys => "signing_keys_stamp",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::TrustAnchors => 0,
            Self::SigningKeys => 1,
        }
    }
}

/// Writes a fresh random stamp under `key`.
pub async fn put_fresh(store: &dyn EphemeralStore, key: &str) -> Result<(), EphemeralError> {
    let stamp = crate::random::token();
    store.put(key, stamp.as_bytes(), STAMP_TTL).await
}

/// Tells every node that `what` changed; call it after the change committed. A store that
/// does not answer leaves the nodes on their periodic reload: logged, not an error (the
/// change itself is made).
pub async fn announce(store: &dyn EphemeralStore, what: Shared) -> bool {
    match put_fresh(store, what.key()).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, stamp = what.key(), "change not announced; nodes see it at their next full reload (keys.reload_seconds)");
            false
        }
    }
}

/// The stamps a node loaded its state under.
#[derive(Debug, Default)]
pub struct Watch {
    /// Per [`Shared`]: `None` before the first read, then the stamp (itself `None` while the
    /// store holds none).
    loaded: [Option<Option<Vec<u8>>>; 2],
}

impl Watch {
    /// Reads the stamps and returns each state whose stamp differs from the one loaded, with
    /// the stamp read. Read before the reload: a change committed during the reload announces
    /// a newer stamp, seen at the next poll. A store that does not answer changes nothing.
    pub async fn changed(&self, store: &dyn EphemeralStore) -> Vec<(Shared, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        for what in Shared::ALL {
            match store.get(what.key()).await {
                Ok(stamp) if self.loaded[what.index()].as_ref() != Some(&stamp) => {
                    out.push((what, stamp));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "change stamps unreadable; the periodic reload remains");
                    break;
                }
            }
        }
        out
    }

    /// Records that `what` was reloaded under `stamp`.
    pub fn loaded(&mut self, what: Shared, stamp: Option<Vec<u8>>) {
        self.loaded[what.index()] = Some(stamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::store::ephemeral::MemoryStore;

    #[tokio::test]
    async fn a_node_reloads_once_per_announced_change() {
        let store = MemoryStore::new(Clock::system());
        let mut watch = Watch::default();
        // Never read: everything counts as changed, once.
        let first = watch.changed(&store).await;
        assert_eq!(first.len(), 2);
        for (what, stamp) in first {
            watch.loaded(what, stamp);
        }
        assert!(watch.changed(&store).await.is_empty());

        assert!(announce(&store, Shared::SigningKeys).await);
        let changed = watch.changed(&store).await;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, Shared::SigningKeys);
        // Not recorded (say the reload failed): still changed at the next poll.
        assert_eq!(watch.changed(&store).await.len(), 1);
        let (what, stamp) = changed.into_iter().next().unwrap();
        watch.loaded(what, stamp);
        assert!(watch.changed(&store).await.is_empty());
    }
}
