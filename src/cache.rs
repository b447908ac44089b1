//! A small time-bounded cache for hot read paths (clients on every token request, verified
//! access tokens on every introspection). Bounded: when full it is cleared, which is cheap and
//! only costs a few re-reads.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, i64)>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The value, if present and `now_ms` is before its expiry.
    pub fn get(&self, key: &K, now_ms: i64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, exp)| now_ms < *exp)
            .map(|(v, _)| v.clone())
    }

    pub fn insert(&self, key: K, value: V, expires_at_ms: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (value, expires_at_ms));
    }

    /// Forgets everything (e.g. verified tokens, once a signing key is retired).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn remove(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}
