//! Prometheus counters and histograms kept per app instance (no global recorder, so several
//! apps can live in one test process).
//!
//! Every label value is a `&'static str` from a closed set (a route template, a method name,
//! an error code): never a path, a person or a token. The hot path (every request) touches
//! only atomics once a route's entry exists; the maps are read-mostly.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

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
    /// Token responses by grant: `xacthuc_tokens_total{grant}`.
    tokens_by_grant: [AtomicU64; Grant::ALL.len()],
    /// Token refusals by OAuth error code: `xacthuc_token_errors_by_code_total{error}`.
    token_errors_by_code: Mutex<BTreeMap<&'static str, u64>>,
    /// Registrations by (method, result): `xacthuc_registrations_total{method, result}`.
    registrations: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Request latency by route: `xacthuc_http_request_duration_seconds`.
    pub requests: RouteLatency,
    /// Calls to external systems; shared with the connectors, which outlive no app.
    pub upstream: Arc<UpstreamCalls>,
}

/// The grant of a token request, as a closed label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// A missing or unknown `grant_type` (its value is the caller's, not a label).
    Other,
}

impl Grant {
    pub const ALL: [Grant; 4] = [
        Grant::AuthorizationCode,
        Grant::RefreshToken,
        Grant::ClientCredentials,
        Grant::Other,
    ];

    pub fn of(grant_type: Option<&str>) -> Self {
        match grant_type {
            Some("authorization_code") => Self::AuthorizationCode,
            Some("refresh_token") => Self::RefreshToken,
            Some("client_credentials") => Self::ClientCredentials,
            _ => Self::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::Other => "other",
        }
    }
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
        Self::add_pair(&self.logins, method, result);
    }

    /// Counts a token response for `grant`.
    pub fn token_issued(&self, grant: Grant) {
        Self::inc(&self.tokens_issued);
        Self::inc(&self.tokens_by_grant[grant as usize]);
    }

    /// Counts a refused token request by its OAuth error code.
    pub fn token_refused(&self, error: &'static str) {
        Self::inc(&self.token_errors);
        Self::add(&self.token_errors_by_code, error);
    }

    /// Counts a registration's end for a method: `succeeded`, `duplicate` (the identity has an
    /// account already) or `failed` (the store refused).
    pub fn registration(&self, method: &'static str, result: &'static str) {
        Self::add_pair(&self.registrations, method, result);
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

    fn add_pair(
        map: &Mutex<BTreeMap<(&'static str, &'static str), u64>>,
        method: &'static str,
        result: &'static str,
    ) {
        if let Ok(mut map) = map.lock() {
            *map.entry((method, result)).or_default() += 1;
        }
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
        render_pairs(
            &mut out,
            "xacthuc_logins_total",
            "Login steps by method and result",
            &self.logins,
        );
        render_pairs(
            &mut out,
            "xacthuc_registrations_total",
            "Registrations by method and result",
            &self.registrations,
        );
        let _ = writeln!(
            out,
            "# HELP xacthuc_tokens_total Token responses by grant\n# TYPE xacthuc_tokens_total counter"
        );
        for grant in Grant::ALL {
            let n = self.tokens_by_grant[grant as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "xacthuc_tokens_total{{grant=\"{}\"}} {n}",
                grant.name()
            );
        }
        Self::render_by(
            &mut out,
            "xacthuc_token_errors_by_code_total",
            "Token requests refused, by OAuth error code",
            "error",
            &self.token_errors_by_code,
        );
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
        self.requests.render(&mut out);
        self.upstream.render(&mut out);
        out
    }
}

/// A counter family with two labels, `method` and `result`.
fn render_pairs(
    out: &mut String,
    name: &str,
    help: &str,
    map: &Mutex<BTreeMap<(&'static str, &'static str), u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    if let Ok(map) = map.lock() {
        for ((method, result), n) in map.iter() {
            let _ = writeln!(out, "{name}{{method=\"{method}\",result=\"{result}\"}} {n}");
        }
    }
}

/// Upper bounds of the latency buckets, in seconds: 1 ms (a cached discovery document) to
/// 10 s (an upstream at its timeout). Fixed, so every node's series add up.
pub const BUCKETS: [f64; 14] = [
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    f64::INFINITY,
];

/// One latency histogram: a count per bucket (not cumulative; rendering adds them up), and the
/// sum in microseconds.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len() - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines; `labels` is `k="v",…` without braces.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let le = if bound.is_infinite() {
                "+Inf".to_string()
            } else {
                bound.to_string()
            };
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// The route label of requests no route matched (their paths are anyone's to invent).
pub const UNMATCHED: &str = "unmatched";

/// HTTP methods as a closed label set.
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "other"];
/// Status classes 1xx … 5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The histograms of one route template, made the first time a (method, status class) is seen.
#[derive(Default)]
struct RouteSlots([OnceLock<Histogram>; METHODS.len() * CLASSES.len()]);

/// Request latency per (route template, method, status class). Routes are a closed set (the
/// router's templates, plus [`UNMATCHED`]), so the map stops growing after warm-up; a request
/// then takes a read lock and atomics only.
#[derive(Default)]
pub struct RouteLatency {
    routes: RwLock<HashMap<Arc<str>, Arc<RouteSlots>>>,
}

impl RouteLatency {
    /// Records one request. `route` must be a route template (axum's `MatchedPath`) or
    /// [`UNMATCHED`], never a raw path.
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let m = METHODS
            .iter()
            .position(|x| *x == method)
            .unwrap_or(METHODS.len() - 1);
        let c = usize::from(status / 100)
            .clamp(1, CLASSES.len())
            .saturating_sub(1);
        self.slots(route).0[m * CLASSES.len() + c]
            .get_or_init(Histogram::default)
            .observe(elapsed);
    }

    fn slots(&self, route: &str) -> Arc<RouteSlots> {
        if let Some(s) = self.routes.read().ok().and_then(|m| m.get(route).cloned()) {
            return s;
        }
        match self.routes.write() {
            Ok(mut m) => m.entry(Arc::from(route)).or_default().clone(),
            // A poisoned lock loses this observation rather than the request.
            Err(_) => Arc::default(),
        }
    }

    fn render(&self, out: &mut String) {
        let name = "xacthuc_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Request latency by route template, method and status class\n# TYPE {name} histogram"
        );
        let Ok(routes) = self.routes.read() else {
            return;
        };
        let mut sorted: Vec<_> = routes.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (route, slots) in sorted {
            for (i, slot) in slots.0.iter().enumerate() {
                if let Some(h) = slot.get() {
                    let labels = format!(
                        "route=\"{}\",method=\"{}\",status=\"{}\"",
                        escape(route),
                        METHODS[i / CLASSES.len()],
                        CLASSES[i % CLASSES.len()]
                    );
                    h.render(out, name, &labels);
                }
            }
        }
    }
}

/// A label value in the exposition format: backslash, quote and newline escaped (route
/// templates are ours, but cost nothing to escape).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The external systems we call, a closed label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Carrier,
    Sms,
    Bhxh,
    Mail,
    MobileSignature,
    RemoteSignature,
    /// Upstream OpenID providers (VNeID): discovery, JWKS, token exchange.
    Federation,
}

impl Upstream {
    pub const ALL: [Upstream; 7] = [
        Upstream::Carrier,
        Upstream::Sms,
        Upstream::Bhxh,
        Upstream::Mail,
        Upstream::MobileSignature,
        Upstream::RemoteSignature,
        Upstream::Federation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Carrier => "carrier",
            Self::Sms => "sms",
            Self::Bhxh => "bhxh",
            Self::Mail => "mail",
            Self::MobileSignature => "mobile_signature",
            Self::RemoteSignature => "remote_signature",
            Self::Federation => "federation",
        }
    }
}

/// How one call to an upstream ended, as a closed label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// An answer we could read (whatever it said).
    Answered,
    /// Connection refused, timeout, 5xx, 408, 429.
    Unavailable,
    /// An answer we cannot use (unexpected status, too big, unreadable).
    Malformed,
}

/// Latency and failures of calls to each external system (one attempt is one call: a retried
/// lookup counts each attempt).
#[derive(Default)]
pub struct UpstreamCalls {
    latency: [Histogram; Upstream::ALL.len()],
    unavailable: [AtomicU64; Upstream::ALL.len()],
    malformed: [AtomicU64; Upstream::ALL.len()],
}

impl UpstreamCalls {
    pub fn observe(&self, system: Upstream, elapsed: Duration, outcome: CallOutcome) {
        let i = system as usize;
        self.latency[i].observe(elapsed);
        match outcome {
            CallOutcome::Answered => {}
            CallOutcome::Unavailable => Metrics::inc(&self.unavailable[i]),
            CallOutcome::Malformed => Metrics::inc(&self.malformed[i]),
        }
    }

    fn render(&self, out: &mut String) {
        let name = "xacthuc_upstream_call_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Calls to external systems, by system\n# TYPE {name} histogram"
        );
        for system in Upstream::ALL {
            let labels = format!("system=\"{}\"", system.name());
            self.latency[system as usize].render(out, name, &labels);
        }
        let name = "xacthuc_upstream_failures_total";
        let _ = writeln!(
            out,
            "# HELP {name} Calls to external systems that gave no usable answer, by system and reason\n# TYPE {name} counter"
        );
        for system in Upstream::ALL {
            for (reason, n) in [
                ("unavailable", &self.unavailable[system as usize]),
                ("malformed", &self.malformed[system as usize]),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{system=\"{}\",reason=\"{reason}\"}} {}",
                    system.name(),
                    n.load(Ordering::Relaxed)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let r = RouteLatency::default();
        r.observe("/token", "POST", 200, Duration::from_micros(700));
        r.observe("/token", "POST", 200, Duration::from_millis(30));
        r.observe("/token", "POST", 400, Duration::from_secs(60));
        r.observe("/token", "BREW", 200, Duration::from_millis(1));
        let mut out = String::new();
        r.render(&mut out);
        let ok = "route=\"/token\",method=\"POST\",status=\"2xx\"";
        assert!(
            out.contains(&format!("_bucket{{{ok},le=\"0.001\"}} 1\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("_bucket{{{ok},le=\"0.05\"}} 2\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("_bucket{{{ok},le=\"+Inf\"}} 2\n")),
            "{out}"
        );
        assert!(out.contains(&format!("_count{{{ok}}} 2\n")), "{out}");
        let slow = "route=\"/token\",method=\"POST\",status=\"4xx\"";
        assert!(
            out.contains(&format!("_bucket{{{slow},le=\"10\"}} 0\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("_bucket{{{slow},le=\"+Inf\"}} 1\n")),
            "{out}"
        );
        assert!(
            out.contains("method=\"other\""),
            "an unknown method is one label: {out}"
        );
    }
}
