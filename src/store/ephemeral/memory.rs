//! In-process backend for a single node (the embedded default).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::{Attempt, EphemeralError, EphemeralStore};
use crate::clock::Clock;

/// The map is swept of expired entries once it reaches this many entries, and afterwards
/// whenever it reaches twice the size it had after the previous sweep. Sweeping is O(n), so
/// doubling keeps its cost amortized O(1) per write while memory stays within about twice the
/// live set (plus this floor).
const MIN_SWEEP_LEN: usize = 1024;

struct Entry {
    value: Vec<u8>,
    expires_at_ms: i64,
}

impl Entry {
    fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms
    }
}

struct Inner {
    entries: HashMap<String, Entry>,
    /// Map length at which the next write sweeps expired entries.
    sweep_at_len: usize,
}

/// A counter's value: 8 big-endian bytes; a non-counter value counts as zero.
fn counter(entry: &Entry) -> u64 {
    <[u8; 8]>::try_from(entry.value.as_slice())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

impl Inner {
    /// The live entry under `key`; an expired one is removed on the way.
    fn live(&mut self, key: &str, now_ms: i64) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.is_live(now_ms)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn insert(&mut self, key: &str, entry: Entry, now_ms: i64) {
        if self.entries.len() >= self.sweep_at_len {
            self.entries.retain(|_, e| e.is_live(now_ms));
            self.sweep_at_len = MIN_SWEEP_LEN.max(self.entries.len().saturating_mul(2));
        }
        self.entries.insert(key.to_owned(), entry);
    }
}

pub struct MemoryStore {
    clock: Clock,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                sweep_at_len: MIN_SWEEP_LEN,
            }),
        }
    }

    /// Locks the map and reads the clock. A poisoned lock is recovered: every critical section
    /// leaves the map consistent, so a panic elsewhere must not take the store down.
    fn lock(&self) -> (MutexGuard<'_, Inner>, i64) {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (guard, self.clock.unix_ms())
    }

    fn expiry(now_ms: i64, ttl: Duration) -> i64 {
        now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
    }
}

#[async_trait]
impl EphemeralStore for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        let (mut inner, now) = self.lock();
        let entry = Entry {
            value: value.to_vec(),
            expires_at_ms: Self::expiry(now, ttl),
        };
        inner.insert(key, entry, now);
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let (mut inner, now) = self.lock();
        if inner.live(key, now).is_some() {
            return Ok(false);
        }
        let entry = Entry {
            value: value.to_vec(),
            expires_at_ms: Self::expiry(now, ttl),
        };
        inner.insert(key, entry, now);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let (mut inner, now) = self.lock();
        Ok(inner.live(key, now).map(|e| e.value.clone()))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        let (mut inner, now) = self.lock();
        Ok(keys
            .iter()
            .map(|k| inner.live(k, now).map(|e| e.value.clone()))
            .collect())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let (mut inner, now) = self.lock();
        Ok(inner
            .entries
            .remove(key)
            .filter(|e| e.is_live(now))
            .map(|e| e.value))
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, EphemeralError> {
        let (mut inner, now) = self.lock();
        if inner.live(key, now).is_some_and(|e| e.value == expected) {
            inner.entries.remove(key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn delete(&self, key: &str) -> Result<(), EphemeralError> {
        let (mut inner, _) = self.lock();
        inner.entries.remove(key);
        Ok(())
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, EphemeralError> {
        let (mut inner, now) = self.lock();
        if let Some(entry) = inner.live(key, now) {
            let count = counter(entry).saturating_add(1);
            entry.value = count.to_be_bytes().to_vec();
            return Ok(count);
        }
        let entry = Entry {
            value: 1u64.to_be_bytes().to_vec(),
            expires_at_ms: Self::expiry(now, ttl),
        };
        inner.insert(key, entry, now);
        Ok(1)
    }

    async fn take_attempt(
        &self,
        key: &str,
        limit: u64,
        ttl: Duration,
    ) -> Result<Attempt, EphemeralError> {
        // Under the one lock: the compare and the count are a single step.
        let (mut inner, now) = self.lock();
        if let Some(entry) = inner.live(key, now) {
            let used = counter(entry);
            if used >= limit {
                return Ok(Attempt::Refused);
            }
            entry.value = (used + 1).to_be_bytes().to_vec();
            return Ok(Attempt::Allowed { used: used + 1 });
        }
        if limit == 0 {
            return Ok(Attempt::Refused);
        }
        let entry = Entry {
            value: 1u64.to_be_bytes().to_vec(),
            expires_at_ms: Self::expiry(now, ttl),
        };
        inner.insert(key, entry, now);
        Ok(Attempt::Allowed { used: 1 })
    }

    async fn give_back(&self, key: &str) -> Result<(), EphemeralError> {
        let (mut inner, now) = self.lock();
        if let Some(entry) = inner.live(key, now) {
            entry.value = counter(entry).saturating_sub(1).to_be_bytes().to_vec();
        }
        Ok(())
    }

    async fn count(&self, key: &str) -> Result<u64, EphemeralError> {
        let (mut inner, now) = self.lock();
        Ok(inner.live(key, now).map(|e| counter(e)).unwrap_or(0))
    }

    async fn exists_any(&self, keys: &[String]) -> Result<bool, EphemeralError> {
        let (inner, now) = self.lock();
        Ok(keys
            .iter()
            .any(|k| inner.entries.get(k).is_some_and(|e| e.is_live(now))))
    }

    async fn ping(&self) -> Result<(), EphemeralError> {
        Ok(())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let (mut inner, now) = self.lock();
        match inner.live(key, now) {
            Some(entry) if entry.value == expected => {
                entry.value = value.to_vec();
                entry.expires_at_ms = Self::expiry(now, ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_entries_are_swept_on_write() {
        let clock = Clock::system();
        let store = MemoryStore::new(clock.clone());
        for i in 0..MIN_SWEEP_LEN {
            store
                .put(&format!("old{i}"), b"v", Duration::from_secs(1))
                .await
                .unwrap();
        }
        store
            .put("live", b"v", Duration::from_secs(60))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(2));

        // Reaching the threshold sweeps everything expired, never anything live.
        for i in 0..MIN_SWEEP_LEN {
            store
                .put(&format!("new{i}"), b"v", Duration::from_secs(60))
                .await
                .unwrap();
        }
        let inner = store.inner.lock().unwrap();
        assert!(inner.entries.len() <= MIN_SWEEP_LEN + 1);
        assert!(inner.entries.keys().all(|k| !k.starts_with("old")));
        assert!(inner.entries.contains_key("live"));
    }
}
