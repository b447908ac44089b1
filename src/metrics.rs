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
    /// SMS codes sent by purpose: `xacthuc_sms_sent_total{purpose}`.
    sms_sent: Mutex<BTreeMap<&'static str, u64>>,
    /// Wrong SMS codes by purpose: `xacthuc_otp_wrong_total{purpose}`.
    otp_wrong: Mutex<BTreeMap<&'static str, u64>>,
    /// Sends refused by the service-wide SMS ceiling (an alert: either an attack or a ceiling
    /// too low for the traffic).
    pub sms_ceiling_hits: AtomicU64,
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

    /// Counts an SMS code sent for `purpose`.
    pub fn sms_sent(&self, purpose: &'static str) {
        Self::add(&self.sms_sent, purpose);
    }

    /// Counts a wrong SMS code typed for `purpose`.
    pub fn otp_wrong(&self, purpose: &'static str) {
        Self::add(&self.otp_wrong, purpose);
    }

    /// Counts a send refused by the SMS ceiling.
    pub fn sms_ceiling_hit(&self) {
        Self::inc(&self.sms_ceiling_hits);
    }

    fn add(map: &Mutex<BTreeMap<&'static str, u64>>, label: &'static str) {
        if let Ok(mut map) = map.lock() {
            *map.entry(label).or_default() += 1;
        }
    }

    /// A counter family with one label, `label`.
    fn render_by(
        out: &mut String,
        name: &str,
        help: &str,
        label: &str,
        map: &Mutex<BTreeMap<&'static str, u64>>,
    ) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        if let Ok(map) = map.lock() {
            for (value, n) in map.iter() {
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
            }
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
            (
                "xacthuc_sms_ceiling_hits_total",
                "SMS sends refused by the service-wide ceiling (otp.max_sms_per_minute)",
                &self.sms_ceiling_hits,
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
        Self::render_by(
            &mut out,
            "xacthuc_sms_sent_total",
            "SMS codes sent, by purpose",
            "purpose",
            &self.sms_sent,
        );
        Self::render_by(
            &mut out,
            "xacthuc_otp_wrong_total",
            "Wrong SMS codes typed, by purpose",
            "purpose",
            &self.otp_wrong,
        );
        out
    }
}
