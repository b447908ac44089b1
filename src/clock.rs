//! The one source of "now". Production reads the system clock; tests advance an offset by hand
//! so expiry can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// Indochina Time, UTC+7 all year (checked when compiling).
const VIETNAM: FixedOffset = match FixedOffset::east_opt(7 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+7 is a valid offset"),
};

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

    /// A time as people in Vietnam read it: their clock (UTC+7, no daylight saving),
    /// `dd/mm/yyyy HH:MM`.
    pub fn vietnam_time(at: DateTime<Utc>) -> String {
        at.with_timezone(&VIETNAM)
            .format("%d/%m/%Y %H:%M")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_on_vietnam_clocks() {
        // 17:30 UTC on New Year's Eve is half past midnight on New Year's Day in Hà Nội.
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 17, 30, 0).unwrap();
        assert_eq!(Clock::vietnam_time(at), "01/01/2027 00:30");
    }
}
