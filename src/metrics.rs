//! Prometheus counters kept per app instance (no global recorder, so several apps can live in
//! one test process).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    /// Logins by (method, result): `xacthuc_logins_total{method, result}`.
    logins: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    pub tokens_issued: AtomicU64,
    pub token_errors: AtomicU64,
    pub authorize_requests: AtomicU64,
    pub logins_succeeded: AtomicU64,
    pub logins_failed: AtomicU64,
    pub logouts: AtomicU64,
    pub introspections: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a login step's result (`succeeded`, `failed`, or `busy`: refused unchecked because
    /// the hashing pool was full) for a method.
    pub fn login(&self, method: &'static str, result: &'static str) {
        match result {
            "succeeded" => Self::inc(&self.logins_succeeded),
            "busy" => {}
            _ => Self::inc(&self.logins_failed),
        }
        if let Ok(mut map) = self.logins.lock() {
            *map.entry((method, result)).or_default() += 1;
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, v) in [
            (
                "xacthuc_tokens_issued_total",
                "Token responses issued",
                &self.tokens_issued,
            ),
            (
                "xacthuc_token_errors_total",
                "Token requests refused",
                &self.token_errors,
            ),
            (
                "xacthuc_authorize_requests_total",
                "Authorization requests",
                &self.authorize_requests,
            ),
            (
                "xacthuc_logins_succeeded_total",
                "Successful logins",
                &self.logins_succeeded,
            ),
            (
                "xacthuc_logins_failed_total",
                "Failed logins",
                &self.logins_failed,
            ),
            ("xacthuc_logouts_total", "SSO sessions ended", &self.logouts),
            (
                "xacthuc_introspections_total",
                "Introspection requests",
                &self.introspections,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP xacthuc_logins_total Login steps by method and result\n# TYPE xacthuc_logins_total counter"
        );
        if let Ok(map) = self.logins.lock() {
            for ((method, result), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "xacthuc_logins_total{{method=\"{method}\",result=\"{result}\"}} {n}"
                );
            }
        }
        out
    }
}
