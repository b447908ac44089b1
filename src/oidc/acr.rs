//! Mapping between identity assurance levels and the configured `acr` strings, and the rules
//! of RFC 9470 step-up: an IAL3 account satisfies IAL2; a session never satisfies more than it
//! was made with.

use crate::config::AcrConfig;
use crate::domain::Ial;

#[derive(Debug, Clone)]
pub struct AcrPolicy {
    ial2: String,
    ial3: String,
}

impl AcrPolicy {
    pub fn new(cfg: &AcrConfig) -> Self {
        Self {
            ial2: cfg.ial2.clone(),
            ial3: cfg.ial3.clone(),
        }
    }

    pub fn acr(&self, ial: Ial) -> &str {
        match ial {
            Ial::Ial2 => &self.ial2,
            Ial::Ial3 => &self.ial3,
        }
    }

    pub fn ial(&self, acr: &str) -> Option<Ial> {
        if acr == self.ial2 {
            Some(Ial::Ial2)
        } else if acr == self.ial3 {
            Some(Ial::Ial3)
        } else {
            None
        }
    }

    /// Values advertised in discovery (`acr_values_supported`).
    pub fn supported(&self) -> Vec<&str> {
        vec![&self.ial2, &self.ial3]
    }

    /// The lowest level among `acrs` that we know; unknown values are ignored.
    pub fn lowest_known(&self, acrs: &[String]) -> Option<Ial> {
        acrs.iter().filter_map(|a| self.ial(a)).min()
    }
}
