//! The one source of "now". Production reads the system clock; tests advance an offset by hand
//! so expiry can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// Current time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Seconds since the Unix epoch (JWT `iat`/`exp`).
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// Milliseconds since the Unix epoch (ephemeral-store expiries).
    pub fn unix_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Moves this clock forward; every component sharing it sees the jump.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    pub fn from_unix(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
    }
}
