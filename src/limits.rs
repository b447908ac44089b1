//! Per-IP ceilings on what an anonymous client can make the server do (`[limits]`): pending
//! authorization requests (each stored for 30 minutes), registration and recovery submissions
//! (each a carrier or BHXH lookup and an SMS, so the captcha is not their only barrier).
//!
//! Each is a fixed window counted in the ephemeral store (`limit:<ceiling>:<ip>`), so it holds
//! across nodes. The request is counted first and refused when the count passes the ceiling, so
//! parallel requests cannot all slip under it.

use std::time::Duration;

use crate::config::LimitsConfig;
use crate::store::ephemeral::{EphemeralError, EphemeralStore};

/// The closed set of per-IP ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceiling {
    Authorize,
    Registration,
    Recovery,
}

impl Ceiling {
    fn name(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Registration => "registration",
            Self::Recovery => "recovery",
        }
    }

    pub fn window(self) -> Duration {
        match self {
            Self::Authorize => Duration::from_secs(60),
            Self::Registration | Self::Recovery => Duration::from_secs(3600),
        }
    }

    /// Requests per window; 0 = no ceiling.
    fn limit(self, cfg: &LimitsConfig) -> u64 {
        match self {
            Self::Authorize => cfg.authorize_per_ip_per_minute,
            Self::Registration => cfg.registrations_per_ip_per_hour,
            Self::Recovery => cfg.recoveries_per_ip_per_hour,
        }
    }
}

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over the ceiling: try again after this many seconds at most (the window's length).
    Limited {
        retry_after: u64,
    },
}

/// Counts one request from `ip` against `ceiling`.
pub async fn admit(
    store: &dyn EphemeralStore,
    cfg: &LimitsConfig,
    ceiling: Ceiling,
    ip: &str,
) -> Result<Admission, EphemeralError> {
    let limit = ceiling.limit(cfg);
    if limit == 0 {
        return Ok(Admission::Allowed);
    }
    let key = format!("limit:{}:{ip}", ceiling.name());
    let n = store.increment(&key, ceiling.window()).await?;
    Ok(if n > limit {
        Admission::Limited {
            retry_after: ceiling.window().as_secs(),
        }
    } else {
        Admission::Allowed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::store::ephemeral::MemoryStore;

    #[tokio::test]
    async fn counts_per_ip_and_window() {
        let clock = Clock::system();
        let store = MemoryStore::new(clock.clone());
        let cfg = LimitsConfig {
            registrations_per_ip_per_hour: 2,
            recoveries_per_ip_per_hour: 0,
            ..LimitsConfig::default()
        };
        let admit = |ceiling, ip| admit(&store, &cfg, ceiling, ip);
        assert_eq!(
            admit(Ceiling::Registration, "a").await.unwrap(),
            Admission::Allowed
        );
        assert_eq!(
            admit(Ceiling::Registration, "a").await.unwrap(),
            Admission::Allowed
        );
        assert_eq!(
            admit(Ceiling::Registration, "a").await.unwrap(),
            Admission::Limited { retry_after: 3600 }
        );
        assert_eq!(
            admit(Ceiling::Registration, "b").await.unwrap(),
            Admission::Allowed,
            "per address"
        );
        assert_eq!(
            admit(Ceiling::Authorize, "a").await.unwrap(),
            Admission::Allowed,
            "per ceiling"
        );
        for _ in 0..5 {
            assert_eq!(
                admit(Ceiling::Recovery, "a").await.unwrap(),
                Admission::Allowed,
                "0 = off"
            );
        }
        clock.advance(Duration::from_secs(3601));
        assert_eq!(
            admit(Ceiling::Registration, "a").await.unwrap(),
            Admission::Allowed,
            "a new window"
        );
    }
}
