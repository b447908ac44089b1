//! The sandbox's two signing providers, the mobile-signature service ("SIM ký số", `mssp.rs`)
//! and the remote signature provider ("Chữ ký số cá nhân", `csc.rs`), share one model: seeded
//! holders with a key and a certificate from the sandbox CA, and signature requests that wait
//! until the holder approves them with the PIN, rejects them, or lets them expire (by the app
//! clock, so tests advance time). This module holds that model and the routes a test or a
//! person uses to act as the holder; the protocol modules only shape the requests and answers.
//!
//! Routes, relative to where a provider is nested (`/sandbox/mssp`, `/sandbox/csc`):
//! - `GET  /pending?holder=…` → `[{"id","holder","display","expires_at"}, …]`, the outstanding
//!   requests (of one holder: a phone number in any accepted form, or a user id), oldest first
//! - `POST /requests/{id}/approve` `{"pin": "…"}` → 200 `{"status": "signed"}`; 403
//!   `{"error": "wrong_pin", "tries_left": n}`; 423 `{"error": "pin_blocked"}` (the third wrong
//!   PIN blocks the holder); 404 unknown; 409 `{"error": "not_outstanding"}`
//! - `POST /requests/{id}/reject` → 200 `{"status": "rejected"}` (404, 409 as above)
//! - `GET  /phone` (MSSP) or `/app` (CSC): a page showing the outstanding requests with their
//!   display text, a PIN field and "Approve" / "Reject" buttons (plain forms, no script), so a
//!   person can play the holder from a browser; its forms post to `/page/approve` and
//!   `/page/reject` and come back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::stack::Stack;
use openssl::x509::X509;
use serde::Deserialize;
use serde_json::json;

use super::seed::{Fault, SeedCertSubject, normalize_phone};
use crate::clock::Clock;

/// Wrong PINs in a row that block a holder (as a SIM blocks its PIN).
pub const MAX_WRONG_PINS: u32 = 3;
/// Longest display text kept.
const MAX_DISPLAY_CHARS: usize = 200;
/// Outstanding requests kept per provider; the oldest go first.
const MAX_REQUESTS: usize = 1000;

/// A holder's key and certificate, from the sandbox CA.
pub struct SigningKey {
    pub certificate: X509,
    /// The issuing CAs, nearest first (the root last, or left out).
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
}

/// Issues a key and certificate for a subject (the sandbox CA); called once per holder, when
/// the key is first needed, with the provider it is for.
pub type IssueKey = Arc<dyn Fn(&SeedCertSubject, Kind) -> Result<SigningKey, String> + Send + Sync>;

/// Keys and certificates from the sandbox CA (`sandbox::pki`, whose roots the server trusts):
/// RSA 2048 for a SIM (as SIMs carry), P-256 for the remote provider, so both signature
/// algorithms are exercised; a `revoked` subject's certificate is revoked at once (its OCSP
/// responder then says so).
pub fn sandbox_ca(ca: Arc<super::pki::SandboxPki>) -> IssueKey {
    use super::pki::{IssueRequest, KeyKind};
    Arc::new(move |subject, kind| {
        let request = IssueRequest {
            uids: subject.uids.clone(),
            cn: Some(subject.full_name.clone()),
            o: subject.organization.clone(),
            c: Some("VN".into()),
            email: subject.email.clone(),
            key: match kind {
                Kind::Sim => KeyKind::Rsa,
                Kind::Remote => KeyKind::EcP256,
            },
            ..IssueRequest::default()
        };
        let issued = ca.issue(&request).map_err(|e| e.to_string())?;
        if subject.revoked {
            ca.revoke(&issued.serial).map_err(|e| e.to_string())?;
        }
        let e = |e: openssl::error::ErrorStack| e.to_string();
        Ok(SigningKey {
            certificate: X509::from_der(&issued.certificate_der).map_err(e)?,
            chain: issued
                .chain_der
                .iter()
                .map(|der| X509::from_der(der))
                .collect::<Result<_, _>>()
                .map_err(e)?,
            key: PKey::private_key_from_pkcs8(&issued.private_key_pkcs8_der).map_err(e)?,
        })
    })
}

/// Which provider: it decides what a signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A detached CMS SignedData over the data to be signed (ETSI `MSS_Format` PKCS7).
    Sim,
    /// A raw signature over a SHA-256 hash (CSC `signHash`).
    Remote,
}

/// A seeded holder.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The phone (E.164) or the user id.
    pub id: String,
    pub subject: SeedCertSubject,
    pub pin: String,
    pub fault: Fault,
}

/// Where a signature request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestState {
    Outstanding,
    Signed(Vec<u8>),
    Rejected,
    Expired,
}

/// A signature request waiting for (or answered by) its holder.
#[derive(Debug, Clone)]
pub struct SignRequest {
    pub id: String,
    pub holder: String,
    pub display: String,
    /// What is signed: the data to be signed (SIM) or the hash (remote).
    pub payload: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: RequestState,
}

/// What approving (or rejecting) a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Signed (or rejected, for a rejection).
    Done,
    WrongPin {
        tries_left: u32,
    },
    Blocked,
    NotOutstanding,
    Unknown,
    /// The key could not be issued or could not sign.
    Failed,
}

/// One sandbox signing provider.
pub struct SignerSandbox {
    kind: Kind,
    holders: HashMap<String, Holder>,
    issue: IssueKey,
    keys: Mutex<HashMap<String, Arc<SigningKey>>>,
    requests: Mutex<Vec<SignRequest>>,
    wrong_pins: Mutex<HashMap<String, u32>>,
    pub(crate) clock: Clock,
    pub(crate) fault_delay: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves consistent data; keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SignerSandbox {
    /// `fault_delay`: how long a `timeout` fault waits (the simulators' setting).
    pub fn new(
        kind: Kind,
        holders: Vec<Holder>,
        issue: IssueKey,
        clock: Clock,
        fault_delay: Duration,
    ) -> Self {
        Self {
            kind,
            holders: holders.into_iter().map(|h| (h.id.clone(), h)).collect(),
            issue,
            keys: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            wrong_pins: Mutex::new(HashMap::new()),
            clock,
            fault_delay,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The holder under this id (a phone in any accepted form for the SIM provider).
    pub fn holder(&self, id: &str) -> Option<&Holder> {
        self.holders.get(&self.holder_key(id)?)
    }

    /// Holders whose certificate names this ID number (`CCCD:…`, `CMND:…`, …, without prefix).
    pub fn holders_with_id_number(&self, id_number: &str) -> Vec<&Holder> {
        let mut found: Vec<&Holder> = self
            .holders
            .values()
            .filter(|h| {
                h.subject
                    .uids
                    .iter()
                    .any(|uid| uid.split_once(':').is_some_and(|(_, v)| v == id_number))
            })
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }

    fn holder_key(&self, id: &str) -> Option<String> {
        match self.kind {
            Kind::Sim => normalize_phone(id),
            Kind::Remote => Some(id.trim().to_string()),
        }
    }

    /// The holder's key, issued on first use.
    pub fn key_of(&self, holder: &Holder) -> Result<Arc<SigningKey>, String> {
        if let Some(k) = lock(&self.keys).get(&holder.id) {
            return Ok(k.clone());
        }
        // Issued outside the lock: key generation takes a moment.
        let key = Arc::new((self.issue)(&holder.subject, self.kind)?);
        Ok(lock(&self.keys)
            .entry(holder.id.clone())
            .or_insert(key)
            .clone())
    }

    /// Whether three wrong PINs in a row blocked the holder.
    pub fn blocked(&self, holder: &str) -> bool {
        lock(&self.wrong_pins)
            .get(holder)
            .is_some_and(|n| *n >= MAX_WRONG_PINS)
    }

    /// Records a new outstanding request; answers its id.
    pub fn open(&self, holder: &str, display: &str, payload: Vec<u8>, ttl_seconds: u32) -> String {
        let now = self.clock.now();
        let id = crate::random::token();
        let request = SignRequest {
            id: id.clone(),
            holder: holder.to_string(),
            display: display.chars().take(MAX_DISPLAY_CHARS).collect(),
            payload,
            created_at: now,
            expires_at: now + chrono::Duration::seconds(i64::from(ttl_seconds.clamp(10, 600))),
            state: RequestState::Outstanding,
        };
        let mut requests = lock(&self.requests);
        if requests.len() >= MAX_REQUESTS {
            requests.remove(0);
        }
        requests.push(request);
        id
    }

    /// A request as it stands now (an outstanding one past its time has expired).
    pub fn request(&self, id: &str) -> Option<SignRequest> {
        let now = self.clock.now();
        let mut requests = lock(&self.requests);
        let r = requests.iter_mut().find(|r| r.id == id)?;
        if r.state == RequestState::Outstanding && now >= r.expires_at {
            r.state = RequestState::Expired;
        }
        Some(r.clone())
    }

    /// Outstanding requests, of one holder or of all, oldest first.
    pub fn pending(&self, holder: Option<&str>) -> Vec<SignRequest> {
        let holder = holder.and_then(|h| self.holder_key(h));
        let now = self.clock.now();
        lock(&self.requests)
            .iter()
            .filter(|r| r.state == RequestState::Outstanding && now < r.expires_at)
            .filter(|r| holder.as_ref().is_none_or(|h| &r.holder == h))
            .cloned()
            .collect()
    }

    /// The holder approves request `id` with `pin`.
    pub fn approve(&self, id: &str, pin: &str) -> Approval {
        let Some(request) = self.request(id) else {
            return Approval::Unknown;
        };
        if request.state != RequestState::Outstanding {
            return Approval::NotOutstanding;
        }
        let Some(holder) = self.holders.get(&request.holder) else {
            return Approval::Unknown;
        };
        if self.blocked(&holder.id) {
            return Approval::Blocked;
        }
        if pin.trim() != holder.pin {
            let mut wrong = lock(&self.wrong_pins);
            let n = wrong.entry(holder.id.clone()).or_insert(0);
            *n += 1;
            return if *n >= MAX_WRONG_PINS {
                Approval::Blocked
            } else {
                Approval::WrongPin {
                    tries_left: MAX_WRONG_PINS - *n,
                }
            };
        }
        lock(&self.wrong_pins).remove(&holder.id);
        let signature = self
            .key_of(holder)
            .and_then(|key| sign(self.kind, &key, &request.payload));
        let Ok(signature) = signature else {
            tracing::error!("sandbox signer: could not sign");
            return Approval::Failed;
        };
        self.set_state(id, RequestState::Signed(signature))
    }

    /// The holder rejects request `id`.
    pub fn reject(&self, id: &str) -> Approval {
        match self.request(id) {
            None => Approval::Unknown,
            Some(r) if r.state != RequestState::Outstanding => Approval::NotOutstanding,
            Some(_) => self.set_state(id, RequestState::Rejected),
        }
    }

    /// Moves an outstanding request to `state` (once: a concurrent answer wins).
    fn set_state(&self, id: &str, state: RequestState) -> Approval {
        let mut requests = lock(&self.requests);
        match requests.iter_mut().find(|r| r.id == id) {
            Some(r) if r.state == RequestState::Outstanding => {
                r.state = state;
                Approval::Done
            }
            Some(_) => Approval::NotOutstanding,
            None => Approval::Unknown,
        }
    }
}

/// A signature as the provider of `kind` makes it.
fn sign(kind: Kind, key: &SigningKey, payload: &[u8]) -> Result<Vec<u8>, String> {
    let e = |e: openssl::error::ErrorStack| e.to_string();
    match kind {
        Kind::Sim => {
            let mut certs = Stack::new().map_err(e)?;
            for c in &key.chain {
                certs.push(c.clone()).map_err(e)?;
            }
            let cms = CmsContentInfo::sign(
                Some(&key.certificate),
                Some(&key.key),
                Some(&certs),
                Some(payload),
                CMSOptions::DETACHED | CMSOptions::BINARY,
            )
            .map_err(e)?;
            cms.to_der().map_err(e)
        }
        Kind::Remote => sign_hash(&key.key, payload).map_err(e),
    }
}

/// A raw signature over a SHA-256 hash: RSA PKCS#1 v1.5 (over the DigestInfo) or ECDSA (DER).
pub fn sign_hash(key: &PKey<Private>, hash: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut ctx = PkeyCtx::new(key)?;
    ctx.sign_init()?;
    if key.rsa().is_ok() {
        ctx.set_rsa_padding(Padding::PKCS1)?;
    }
    ctx.set_signature_md(openssl::md::Md::sha256())?;
    let mut signature = Vec::new();
    ctx.sign_to_vec(hash, &mut signature)?;
    Ok(signature)
}

/// The routes every provider shares (see the module comment).
pub fn router<S>(sandbox: Arc<SignerSandbox>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let page = match sandbox.kind {
        Kind::Sim => "/phone",
        Kind::Remote => "/app",
    };
    Router::new()
        .route("/pending", get(pending))
        .route("/requests/{id}/approve", post(approve))
        .route("/requests/{id}/reject", post(reject))
        .route(page, get(holder_page))
        .route("/page/approve", post(page_approve))
        .route("/page/reject", post(page_reject))
        .with_state(sandbox)
}

#[derive(Deserialize)]
struct PendingQuery {
    holder: Option<String>,
}

async fn pending(
    State(sandbox): State<Arc<SignerSandbox>>,
    query: Result<Query<PendingQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("invalid query string");
    };
    let holder = query.holder.as_deref().filter(|h| !h.trim().is_empty());
    let list: Vec<_> = sandbox
        .pending(holder)
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "holder": r.holder,
                "display": r.display,
                "expires_at": r.expires_at,
            })
        })
        .collect();
    axum::Json(list).into_response()
}

#[derive(Deserialize)]
struct PinBody {
    pin: String,
}

fn approval_response(approval: Approval) -> Response {
    let (status, body) = match approval {
        Approval::Done => (StatusCode::OK, json!({ "status": "done" })),
        Approval::WrongPin { tries_left } => (
            StatusCode::FORBIDDEN,
            json!({ "error": "wrong_pin", "tries_left": tries_left }),
        ),
        Approval::Blocked => (StatusCode::LOCKED, json!({ "error": "pin_blocked" })),
        Approval::NotOutstanding => (StatusCode::CONFLICT, json!({ "error": "not_outstanding" })),
        Approval::Unknown => (StatusCode::NOT_FOUND, json!({ "error": "no such request" })),
        Approval::Failed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": "could not sign" }),
        ),
    };
    (status, axum::Json(body)).into_response()
}

async fn approve(
    State(sandbox): State<Arc<SignerSandbox>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<PinBody>(&body) else {
        return bad_request("body must be JSON {\"pin\"}");
    };
    approval_response(sandbox.approve(&id, &body.pin))
}

async fn reject(State(sandbox): State<Arc<SignerSandbox>>, Path(id): Path<String>) -> Response {
    approval_response(sandbox.reject(&id))
}

fn bad_request(detail: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": detail })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    holder: Option<String>,
    notice: Option<String>,
}

/// Minimal HTML escaping for the page (display texts come from the relying party).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// "The phone" (SIM) or "the app" (remote): the outstanding requests, to approve or reject.
async fn holder_page(
    State(sandbox): State<Arc<SignerSandbox>>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("invalid query string");
    };
    let holder = query.holder.as_deref().filter(|h| !h.trim().is_empty());
    let (title, who) = match sandbox.kind {
        Kind::Sim => ("Sandbox: điện thoại (SIM ký số)", "Số điện thoại"),
        Kind::Remote => ("Sandbox: ứng dụng ký số từ xa", "Tài khoản"),
    };
    let mut html = format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1><form method=\"get\"><label>{who} <input name=\"holder\" value=\"{}\"></label> \
         <button type=\"submit\">Lọc</button></form>",
        escape(holder.unwrap_or_default())
    );
    if let Some(notice) = query.notice.as_deref() {
        html.push_str(&format!(
            "<p role=\"status\" id=\"notice\">{}</p>",
            escape(notice)
        ));
    }
    let pending = sandbox.pending(holder);
    if pending.is_empty() {
        html.push_str("<p id=\"empty\">Không có yêu cầu ký nào đang chờ.</p>");
    }
    let back = escape(holder.unwrap_or_default());
    for r in pending {
        let left = (r.expires_at - sandbox.clock.now()).num_seconds().max(0);
        html.push_str(&format!(
            "<section class=\"request\" data-id=\"{id}\"><h2>{holder}</h2><p class=\"display\">{display}</p>\
             <p>Còn {left} giây</p>\
             <form method=\"post\" action=\"page/approve\"><input type=\"hidden\" name=\"id\" value=\"{id}\">\
             <input type=\"hidden\" name=\"holder\" value=\"{back}\">\
             <label>PIN <input name=\"pin\" type=\"password\" inputmode=\"numeric\" autocomplete=\"off\"></label> \
             <button type=\"submit\" name=\"approve\">Đồng ý ký</button></form>\
             <form method=\"post\" action=\"page/reject\"><input type=\"hidden\" name=\"id\" value=\"{id}\">\
             <input type=\"hidden\" name=\"holder\" value=\"{back}\">\
             <button type=\"submit\" name=\"reject\">Từ chối</button></form></section>",
            id = escape(&r.id),
            holder = escape(&r.holder),
            display = escape(&r.display),
        ));
    }
    html.push_str("</body></html>");
    Html(html).into_response()
}

/// The page's form: `id`, and `holder` (to come back filtered), `pin` for an approval.
#[derive(Default)]
struct PageForm {
    id: String,
    holder: String,
    pin: String,
}

impl PageForm {
    fn parse(body: &[u8]) -> Option<Self> {
        let mut form = Self::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "id" => form.id = v.into_owned(),
                "holder" => form.holder = v.into_owned(),
                "pin" => form.pin = v.into_owned(),
                _ => {}
            }
        }
        (!form.id.is_empty()).then_some(form)
    }
}

fn back_to_page(sandbox: &SignerSandbox, holder: &str, notice: &str) -> Response {
    let page = match sandbox.kind {
        Kind::Sim => "../phone",
        Kind::Remote => "../app",
    };
    let mut url = format!("{page}?notice={}", urlencode(notice));
    if !holder.is_empty() {
        url.push_str(&format!("&holder={}", urlencode(holder)));
    }
    Redirect::to(&url).into_response()
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn notice_of(approval: &Approval, approved: bool) -> String {
    match approval {
        Approval::Done if approved => "Đã ký.".into(),
        Approval::Done => "Đã từ chối.".into(),
        Approval::WrongPin { tries_left } => format!("Sai mã PIN (còn {tries_left} lần thử)."),
        Approval::Blocked => "Mã PIN đã bị khóa.".into(),
        Approval::NotOutstanding => "Yêu cầu này đã kết thúc.".into(),
        Approval::Unknown => "Không tìm thấy yêu cầu.".into(),
        Approval::Failed => "Không ký được.".into(),
    }
}

async fn page_approve(State(sandbox): State<Arc<SignerSandbox>>, body: Bytes) -> Response {
    let Some(form) = PageForm::parse(&body) else {
        return bad_request("form must have id and pin");
    };
    let approval = sandbox.approve(&form.id, &form.pin);
    back_to_page(&sandbox, &form.holder, &notice_of(&approval, true))
}

async fn page_reject(State(sandbox): State<Arc<SignerSandbox>>, body: Bytes) -> Response {
    let Some(form) = PageForm::parse(&body) else {
        return bad_request("form must have id");
    };
    let approval = sandbox.reject(&form.id);
    back_to_page(&sandbox, &form.holder, &notice_of(&approval, false))
}
