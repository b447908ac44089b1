//! Simulators of the carrier subscriber check, the SMS gateway, the BHXH registry and the mail
//! gateway, serving the HTTP contracts documented in `connectors::{carrier, sms, bhxh, mail}`
//! from the sandbox seed.
//!
//! Routes, relative to where the router is nested (`/sandbox` in the embedded default):
//! - `POST /carrier/v1/subscriber-check` → `{"result": "match" | "mismatch" | "unknown_number"}`
//! - `POST /sms/v1/messages` `{"to","text"}` → 202; the message goes to the outbox
//! - `GET  /sms/outbox?to=PHONE` (⚓ contract) → `[{"to","text","sent_at"}, …]`, newest last,
//!   only messages to PHONE (any accepted form: `0…`, `+84…`, `84…`); all without `to`
//! - `GET  /bhxh/v1/insured/{code}` → the record, or 404
//! - `POST /mail/v1/messages` `{"to","subject","text"}` → 202; the message goes to the mail
//!   outbox
//! - `GET  /mail/outbox?to=ADDRESS` → `[{"to","subject","text","sent_at"}, …]`, newest last,
//!   only messages to ADDRESS (compared as stored: domain in lower case); all without `to`
//!
//! - `/mssp/…`: the mobile-signature service ("SIM ký số"), see `sandbox::mssp`
//! - `/csc/…`: the remote signature provider ("Chữ ký số cá nhân"), see `sandbox::csc`
//!
//! Seeded entries with a `fault` make the carrier or BHXH answer 500, answer too late, or send
//! a body that is not JSON. Bad input gets a 400, never a panic.
//!
//! The outbox is in this process's memory: with several nodes behind a load balancer, point
//! every node's `connectors.sms_url` at one sandbox (e.g. a standalone `xacthuc sandbox`), and
//! read the outbox there.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::seed::{Fault, SandboxSeed, SeedBhxh, SeedSubscriber, normalize_phone};
use super::signers::{Holder, IssueKey, Kind, SignerSandbox};
use crate::clock::Clock;

/// Messages kept in the outbox; older ones are dropped first.
pub const OUTBOX_CAPACITY: usize = 1000;
/// How long a `timeout` fault waits before answering: longer than any sane client timeout.
pub const DEFAULT_FAULT_DELAY: Duration = Duration::from_secs(30);
/// Longest SMS text accepted (ten concatenated segments).
const MAX_SMS_CHARS: usize = 1600;
/// Longest email subject and text accepted.
const MAX_SUBJECT_CHARS: usize = 200;
const MAX_MAIL_CHARS: usize = 10_000;
/// What a `malformed` fault sends: a 200 whose body is cut-off JSON.
const GARBAGE: &str = "{\"result\": 42";

/// A message the SMS simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsMessage {
    /// E.164.
    pub to: String,
    pub text: String,
    pub sent_at: DateTime<Utc>,
}

/// A message the mail simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub sent_at: DateTime<Utc>,
}

/// The last [`OUTBOX_CAPACITY`] messages of one simulated gateway, oldest first.
struct Outbox<M>(Mutex<VecDeque<M>>);

impl<M: Clone> Outbox<M> {
    fn new() -> Self {
        Self(Mutex::new(VecDeque::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<M>> {
        // A panic elsewhere while holding the lock leaves a still-consistent queue; keep going.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, message: M) {
        let mut outbox = self.lock();
        while outbox.len() >= OUTBOX_CAPACITY {
            outbox.pop_front();
        }
        outbox.push_back(message);
    }

    fn matching(&self, keep: impl Fn(&M) -> bool) -> Vec<M> {
        self.lock().iter().filter(|m| keep(m)).cloned().collect()
    }
}

pub struct Simulators {
    subscribers: HashMap<String, SeedSubscriber>,
    bhxh: HashMap<String, SeedBhxh>,
    outbox: Outbox<SmsMessage>,
    mail_outbox: Outbox<MailMessage>,
    clock: Clock,
    fault_delay: Duration,
    carrier_calls: AtomicU64,
    sms_calls: AtomicU64,
    bhxh_calls: AtomicU64,
    /// The mobile-signature service ("SIM ký số").
    pub mssp: Arc<SignerSandbox>,
    /// The remote signature provider ("Chữ ký số cá nhân").
    pub csc: Arc<SignerSandbox>,
}

impl Simulators {
    pub fn new(seed: SandboxSeed, clock: Clock) -> Self {
        Self::with_key_issuer(seed, clock, no_sandbox_ca())
    }

    /// With `issue` making the signing providers' keys and certificates (the sandbox CA).
    pub fn with_key_issuer(seed: SandboxSeed, clock: Clock, issue: IssueKey) -> Self {
        let sim_holders = seed
            .sim_signature
            .iter()
            .map(|h| Holder {
                id: h.phone.clone(),
                subject: h.subject.clone(),
                pin: h.pin.clone(),
                fault: h.fault,
            })
            .collect();
        let remote_users = seed
            .remote_signature
            .iter()
            .map(|u| Holder {
                id: u.user_id.clone(),
                subject: u.subject.clone(),
                pin: u.pin.clone(),
                fault: u.fault,
            })
            .collect();
        Self {
            mssp: Arc::new(SignerSandbox::new(
                Kind::Sim,
                sim_holders,
                issue.clone(),
                clock.clone(),
                DEFAULT_FAULT_DELAY,
            )),
            csc: Arc::new(SignerSandbox::new(
                Kind::Remote,
                remote_users,
                issue,
                clock.clone(),
                DEFAULT_FAULT_DELAY,
            )),
            subscribers: seed
                .subscribers
                .into_iter()
                .map(|s| (s.phone.clone(), s))
                .collect(),
            bhxh: seed
                .bhxh
                .into_iter()
                .map(|b| (b.bhxh_code.clone(), b))
                .collect(),
            outbox: Outbox::new(),
            mail_outbox: Outbox::new(),
            clock,
            fault_delay: DEFAULT_FAULT_DELAY,
            carrier_calls: AtomicU64::new(0),
            sms_calls: AtomicU64::new(0),
            bhxh_calls: AtomicU64::new(0),
        }
    }

    /// How long `timeout` faults wait (tests use a couple of seconds).
    pub fn with_fault_delay(mut self, delay: Duration) -> Self {
        self.fault_delay = delay;
        for signer in [&mut self.mssp, &mut self.csc] {
            if let Some(s) = Arc::get_mut(signer) {
                s.fault_delay = delay;
            }
        }
        self
    }

    /// Messages sent to `phone` (any accepted form), oldest first; none for an invalid number.
    pub fn messages_to(&self, phone: &str) -> Vec<SmsMessage> {
        let Some(to) = normalize_phone(phone) else {
            return Vec::new();
        };
        self.outbox.matching(|m| m.to == to)
    }

    /// Puts a message in the SMS outbox, as the gateway does: another sandbox system's own
    /// SMS (the sandbox VNeID's OTP). `to` is E.164.
    pub fn deliver_sms(&self, to: &str, text: String) {
        self.outbox.push(SmsMessage {
            to: to.to_string(),
            text,
            sent_at: self.clock.now(),
        });
    }

    /// Every message in the outbox, oldest first.
    pub fn messages(&self) -> Vec<SmsMessage> {
        self.outbox.matching(|_| true)
    }

    /// Emails sent to `address` (as stored: see `domain::Email`), oldest first; every email
    /// without an address.
    pub fn mail_to(&self, address: Option<&str>) -> Vec<MailMessage> {
        self.mail_outbox
            .matching(|m| address.is_none_or(|a| m.to == a))
    }

    /// Requests the carrier simulator received (including refused and faulty ones).
    pub fn carrier_calls(&self) -> u64 {
        self.carrier_calls.load(Ordering::Relaxed)
    }

    /// Requests the SMS send endpoint received.
    pub fn sms_calls(&self) -> u64 {
        self.sms_calls.load(Ordering::Relaxed)
    }

    /// Requests the BHXH simulator received.
    pub fn bhxh_calls(&self) -> u64 {
        self.bhxh_calls.load(Ordering::Relaxed)
    }

    /// The response a faulty entry gets instead of its answer, if any.
    async fn fault_response(&self, fault: Fault) -> Option<Response> {
        match fault {
            Fault::None => None,
            Fault::Error => Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "simulated upstream failure",
            )),
            Fault::Timeout => {
                tokio::time::sleep(self.fault_delay).await;
                Some(error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "simulated slow upstream",
                ))
            }
            Fault::Malformed => Some(
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    GARBAGE,
                )
                    .into_response(),
            ),
        }
    }
}

/// The simulators' routes with their state applied, to be nested by the caller:
/// `Router::<App>::new().nest("/sandbox", simulators::router(sim))` in the main app, or
/// `standalone_router` for `xacthuc sandbox`.
pub fn router<S>(sim: Arc<Simulators>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/carrier/v1/subscriber-check", post(carrier_check))
        .route("/sms/v1/messages", post(sms_send))
        .route("/sms/outbox", get(sms_outbox))
        .route("/bhxh/v1/insured/{code}", get(bhxh_lookup))
        .route("/mail/v1/messages", post(mail_send))
        .route("/mail/outbox", get(mail_outbox))
        .nest("/mssp", super::mssp::router(sim.mssp.clone()))
        .nest("/csc", super::csc::router(sim.csc.clone()))
        .with_state(sim)
}

/// Without a sandbox CA the signing providers cannot issue keys: their approvals fail.
fn no_sandbox_ca() -> IssueKey {
    Arc::new(|_, _| Err("no sandbox CA".to_string()))
}

/// The simulators alone under `/sandbox`, without the PKI: `sandbox::Standalone::router`
/// (what `xacthuc sandbox` serves) adds it.
pub fn standalone_router(sim: Arc<Simulators>) -> Router {
    Router::new().nest("/sandbox", router(sim))
}

fn error(status: StatusCode, detail: &str) -> Response {
    (status, axum::Json(json!({ "error": detail }))).into_response()
}

/// What a gateway simulator answers to a message it took.
fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "status": "accepted" })),
    )
        .into_response()
}

fn bad_request(detail: &str) -> Response {
    error(StatusCode::BAD_REQUEST, detail)
}

use crate::domain::{Email, fold_name};

#[derive(Deserialize)]
struct CarrierRequest {
    msisdn: String,
    id_number: String,
    full_name: String,
    birthdate: String,
}

async fn carrier_check(State(sim): State<Arc<Simulators>>, body: Bytes) -> Response {
    sim.carrier_calls.fetch_add(1, Ordering::Relaxed);
    let Ok(req) = serde_json::from_slice::<CarrierRequest>(&body) else {
        return bad_request(
            "body must be JSON {\"msisdn\", \"id_number\", \"full_name\", \"birthdate\"}",
        );
    };
    let Some(msisdn) = normalize_phone(&req.msisdn) else {
        return bad_request("msisdn is not a Vietnamese mobile number");
    };
    let Ok(birthdate) = NaiveDate::parse_from_str(req.birthdate.trim(), "%Y-%m-%d") else {
        return bad_request("birthdate must be YYYY-MM-DD");
    };
    let Some(sub) = sim.subscribers.get(&msisdn) else {
        return axum::Json(json!({ "result": "unknown_number" })).into_response();
    };
    if let Some(response) = sim.fault_response(sub.fault).await {
        return response;
    }
    let same_person = sub.id_number == req.id_number.trim()
        && sub.birthdate == birthdate
        && fold_name(&sub.full_name) == fold_name(&req.full_name);
    let result = if same_person { "match" } else { "mismatch" };
    axum::Json(json!({ "result": result })).into_response()
}

#[derive(Deserialize)]
struct SmsRequest {
    to: String,
    text: String,
}

async fn sms_send(State(sim): State<Arc<Simulators>>, body: Bytes) -> Response {
    sim.sms_calls.fetch_add(1, Ordering::Relaxed);
    let Ok(req) = serde_json::from_slice::<SmsRequest>(&body) else {
        return bad_request("body must be JSON {\"to\", \"text\"}");
    };
    let Some(to) = normalize_phone(&req.to) else {
        return bad_request("to is not a Vietnamese mobile number");
    };
    if req.text.trim().is_empty() || req.text.chars().count() > MAX_SMS_CHARS {
        return bad_request("text must be 1 to 1600 characters");
    }
    sim.outbox.push(SmsMessage {
        to,
        text: req.text,
        sent_at: sim.clock.now(),
    });
    accepted()
}

#[derive(Deserialize)]
struct OutboxQuery {
    to: Option<String>,
}

async fn sms_outbox(
    State(sim): State<Arc<Simulators>>,
    query: Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("invalid query string");
    };
    // `?to=+84…` unencoded arrives as " 84…" ('+' means space in a query); the normaliser's
    // "84…" form and its whitespace tolerance accept it, so callers need not encode the '+'.
    let messages = match query.to.as_deref().map(str::trim) {
        None | Some("") => sim.messages(),
        Some(to) => {
            if normalize_phone(to).is_none() {
                return bad_request("to is not a Vietnamese mobile number");
            }
            sim.messages_to(to)
        }
    };
    axum::Json(messages).into_response()
}

#[derive(Deserialize)]
struct MailRequest {
    to: String,
    subject: String,
    text: String,
}

async fn mail_send(State(sim): State<Arc<Simulators>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<MailRequest>(&body) else {
        return bad_request("body must be JSON {\"to\", \"subject\", \"text\"}");
    };
    let Ok(to) = Email::parse(&req.to) else {
        return bad_request("to is not an email address");
    };
    if req.subject.chars().count() > MAX_SUBJECT_CHARS
        || req.text.trim().is_empty()
        || req.text.chars().count() > MAX_MAIL_CHARS
    {
        return bad_request("subject must be at most 200 characters, text 1 to 10000");
    }
    sim.mail_outbox.push(MailMessage {
        to: to.as_str().to_string(),
        subject: req.subject,
        text: req.text,
        sent_at: sim.clock.now(),
    });
    accepted()
}

async fn mail_outbox(
    State(sim): State<Arc<Simulators>>,
    query: Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("invalid query string");
    };
    let messages = match query.to.as_deref().map(str::trim) {
        None | Some("") => sim.mail_to(None),
        Some(to) => match Email::parse(to) {
            Ok(to) => sim.mail_to(Some(to.as_str())),
            Err(_) => return bad_request("to is not an email address"),
        },
    };
    axum::Json(messages).into_response()
}

async fn bhxh_lookup(
    State(sim): State<Arc<Simulators>>,
    code: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    sim.bhxh_calls.fetch_add(1, Ordering::Relaxed);
    let Ok(Path(code)) = code else {
        return bad_request("invalid BHXH code");
    };
    let Some(record) = sim.bhxh.get(code.trim()) else {
        return error(StatusCode::NOT_FOUND, "no such insured person");
    };
    if let Some(response) = sim.fault_response(record.fault).await {
        return response;
    }
    let mut answer = json!({
        "bhxh_code": record.bhxh_code,
        "id_number": record.id_number,
        "full_name": record.full_name,
        "birthdate": record.birthdate.format("%Y-%m-%d").to_string(),
    });
    if let Some(phone) = &record.phone {
        answer["phone"] = json!(phone);
    }
    axum::Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::fold_name;

    #[test]
    fn folding_ignores_case_spacing_and_normal_form() {
        let nfd = "Nguye\u{0302}\u{0303}n Va\u{0306}n An";
        assert_eq!(fold_name("  NGUYỄN  văn\tan "), fold_name("Nguyễn Văn An"));
        assert_eq!(fold_name(nfd), fold_name("Nguyễn Văn An"));
        assert_ne!(fold_name("Lê Văn Hùng"), fold_name("Lê Văn Hưng"));
    }
}
