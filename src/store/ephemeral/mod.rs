//! Short-lived shared state: authorization codes, SSO sessions, pending authorization
//! requests, replay caches, rate-limit counters. One trait, two backends: in-process (embedded
//! default) and Redis (many nodes).
//!
//! Expiry is judged by [`Clock`], not by the backend's own clock, so tests that advance the
//! clock see keys expire on both backends. (Redis also gets a real TTL for cleanup.)

mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

/// The answer of [`EphemeralStore::take_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt was counted: it is the `used`-th of the window (1-based, at most the limit).
    Allowed { used: u64 },
    /// The window's attempts are used up; nothing was counted.
    Refused,
}

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("ephemeral store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait EphemeralStore: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError>;
    /// Stores only if `key` holds no live value; returns whether it stored (replay caches).
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError>;
    /// Reads a live value.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError>;
    /// Reads the live values of several keys in one round trip, in the order of `keys`.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError>;
    /// Reads and deletes atomically: of many concurrent callers, exactly one gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError>;
    /// Deletes `key` only if it still holds `expected`; returns whether it deleted.
    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, EphemeralError>;
    /// Deletes `key` (no error if absent).
    async fn delete(&self, key: &str) -> Result<(), EphemeralError>;
    /// Adds one to the counter at `key` and returns the new count. The first increment of a
    /// missing or expired counter starts a window of `ttl`; later increments keep that window.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, EphemeralError>;
    /// Takes one of `limit` attempts from the counter at `key`, in one atomic step: counts it
    /// and answers [`Attempt::Allowed`], or answers [`Attempt::Refused`] without counting when
    /// `limit` are already used. The window starts at the first attempt and lasts `ttl`; later
    /// attempts keep it. Every limit takes its attempt here *before* the work it limits, so
    /// parallel requests cannot all pass a check made before any of them was counted.
    async fn take_attempt(
        &self,
        key: &str,
        limit: u64,
        ttl: Duration,
    ) -> Result<Attempt, EphemeralError>;
    /// Gives back one attempt taken from the live counter at `key` (never below zero; the
    /// window is kept): the work turned out not to count (a success, under a rule that counts
    /// failures only; a later limit refused the request).
    async fn give_back(&self, key: &str) -> Result<(), EphemeralError>;
    /// The current count of a live counter made by [`increment`](Self::increment) or
    /// [`take_attempt`](Self::take_attempt), else 0.
    async fn count(&self, key: &str) -> Result<u64, EphemeralError>;
    /// Whether any of `keys` holds a live value (one round trip; revocation checks).
    async fn exists_any(&self, keys: &[String]) -> Result<bool, EphemeralError>;
    /// Whether the backend answers (readiness probe).
    async fn ping(&self) -> Result<(), EphemeralError>;
    /// Replaces the value of `key` with `value` for `ttl`, only if it still holds `expected`
    /// (live); returns whether it replaced. A key deleted or changed meanwhile is left as it is:
    /// an update never brings back what another request just removed.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError>;
}
