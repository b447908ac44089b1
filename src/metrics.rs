//! Prometheus counters kept per app instance (no global recorder, so several apps can live in
//! one test process).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
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
        out
    }
}
