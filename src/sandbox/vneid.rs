//! The sandbox VNeID: an OpenID provider at `/sandbox/vneid` shaped like VNeID's Keycloak, for
//! the federation method to log in against over real HTTP.
//!
//! - `GET  /.well-known/openid-configuration`, `GET /jwks` (its own RS256 key, kept in
//!   `sandbox.pki_dir/vneid-signing-key.pem`);
//! - `GET  /authorize` (code + PKCE S256 only) → its login page: ID number + password
//!   (`POST /login`), then an OTP sent by SMS to the citizen's phone (the sandbox SMS outbox;
//!   `POST /otp`), then back to the client with `code` and `state`;
//! - `POST /token` (client `xacthuc`, `client_secret_basic` or `_post`; the code once, its
//!   PKCE verifier), `GET /userinfo`;
//! - `GET /logout` (RP-initiated logout): `id_token_hint` must be one of its own ID tokens for
//!   our client (expired ones too), and it redirects only to the registered
//!   `post_logout_redirect_uri` (our `/logout/upstream-done`), with `state`; each call is
//!   recorded (`logouts`) for tests. It keeps no login session of its own (every `/authorize`
//!   asks for the password and the OTP), so there is none to end;
//! - `POST /faults` `{"fault": …}`: what the next token answers do, until set to `none`.
//!
//! ID tokens are Keycloak-shaped: `iss` is `sandbox.vneid_issuer` (an internal name, not this
//! URL), `sub` a stable opaque id, `preferred_username` the ID number, `name`, `birthdate`
//! (yyyy-mm-dd), `IAL` the e-ID level as an integer (1 or 2), `acr` the same as text, and
//! `amr` `["pwd", "otp"]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::seed::{SandboxSeed, SeedVneidCitizen};
use super::simulators::Simulators;
use crate::clock::Clock;
use crate::config::Config;
use crate::connectors::federation::{SANDBOX_VNEID_CLIENT_ID, SANDBOX_VNEID_CLIENT_SECRET};

const KEY_FILE: &str = "vneid-signing-key.pem";
const KID: &str = "vneid-sandbox-1";
/// Seconds an ID token lives.
const TOKEN_SECONDS: i64 = 300;

/// What the token endpoint does (`POST /faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VneidFault {
    None,
    /// HTTP 500.
    Error,
    /// Answers after 30 s (longer than any client's time budget).
    Timeout,
    /// HTTP 200 with an HTML page.
    Html,
    /// The ID token signed by another key (same `kid`).
    BadSignature,
    /// The ID token with another nonce than the client sent.
    WrongNonce,
    /// The ID token with another `iss`.
    WrongIssuer,
    /// An ID token that expired a minute ago.
    Expired,
    /// The ID token names another citizen's ID number (same `sub`).
    OtherIdNumber,
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 keyed with the client secret.
    Hmac,
}

pub struct SandboxVneid {
    issuer: String,
    base: String,
    /// The one `post_logout_redirect_uri` registered for our client.
    logout_return: String,
    key: PKey<Private>,
    /// The public half of `key` as its JWKS publishes it.
    jwk: Value,
    citizens: Vec<SeedVneidCitizen>,
    sim: Arc<Simulators>,
    clock: Clock,
    state: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Logins in progress at the login page, by their id.
    logins: HashMap<String, PendingLogin>,
    /// Issued codes.
    codes: HashMap<String, Grant>,
    /// Access tokens → ID number.
    tokens: HashMap<String, String>,
    fault: Option<VneidFault>,
    /// The last `/authorize` query, for tests of what the client forwarded.
    last_authorize: HashMap<String, String>,
    /// The accepted `/logout` calls, oldest first.
    logouts: Vec<LogoutCall>,
}

/// An accepted RP-initiated logout (tests: that our logout reached the upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutCall {
    /// The `sub` of the `id_token_hint`, when one was sent.
    pub hint_subject: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Clone)]
struct PendingLogin {
    params: HashMap<String, String>,
    /// The citizen who typed the right password, and the OTP sent.
    otp: Option<(String, String)>,
}

#[derive(Clone)]
struct Grant {
    id_number: String,
    redirect_uri: String,
    nonce: String,
    code_challenge: String,
    auth_time: i64,
}

impl SandboxVneid {
    /// Loads its key (made at the first start) and its citizens (`[[vneid]]` in the seed).
    pub fn open(config: &Config, sim: Arc<Simulators>, clock: Clock) -> Result<Self, String> {
        let dir = &config.sandbox.pki_dir;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(pem) => PKey::private_key_from_pem(&pem).map_err(|e| e.to_string())?,
            Err(_) => {
                let key = PKey::from_rsa(Rsa::generate(2048).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                let pem = key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?;
                super::pki::write_private(&path, &pem).map_err(|e| e.to_string())?;
                key
            }
        };
        // A key file replaced by hand with another kind of key is refused at start, not
        // discovered by the first JWKS request.
        let rsa = key
            .rsa()
            .map_err(|_| format!("{}: not an RSA key", path.display()))?;
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
            "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
            "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
        });
        let seed =
            SandboxSeed::load(config.sandbox.seed_file.as_deref()).map_err(|e| e.to_string())?;
        Ok(Self {
            issuer: config.sandbox.vneid_issuer.clone(),
            base: format!("{}/sandbox/vneid", config.issuer()),
            logout_return: format!(
                "{}{}",
                config.issuer(),
                crate::connectors::federation::UPSTREAM_DONE_PATH
            ),
            key,
            jwk,
            citizens: seed.vneid,
            sim,
            clock,
            state: Mutex::new(Inner::default()),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The query of the last `/authorize` (tests: what the broker forwarded).
    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.inner().last_authorize.clone()
    }

    /// The accepted `/logout` calls, oldest first.
    pub fn logouts(&self) -> Vec<LogoutCall> {
        self.inner().logouts.clone()
    }

    /// Its endpoints' base as the request reached it: a test can then reach it on another
    /// origin than ours (`127.0.0.1` beside `localhost`), as a real upstream is.
    fn base_for(&self, headers: &HeaderMap) -> String {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            });
        match host {
            Some(host) if self.base.starts_with("http://") => {
                format!("http://{host}/sandbox/vneid")
            }
            _ => self.base.clone(),
        }
    }

    /// The `sub` of one of its own ID tokens for our client (expired ones too).
    fn hint_subject(&self, token: &str) -> Option<String> {
        let (signed, sig) = token.rsplit_once('.')?;
        let (header_b64, claims) = signed.split_once('.')?;
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "RS256" {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &self.key).ok()?;
        verifier.update(signed.as_bytes()).ok()?;
        if !verifier.verify(&sig).ok()? {
            return None;
        }
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
        if claims.get("iss")?.as_str()? != self.issuer
            || claims.get("aud")?.as_str()? != SANDBOX_VNEID_CLIENT_ID
        {
            return None;
        }
        claims.get("sub")?.as_str().map(str::to_string)
    }

    pub fn set_fault(&self, fault: VneidFault) {
        self.inner().fault = Some(fault).filter(|f| *f != VneidFault::None);
    }

    fn citizen(&self, id_number: &str) -> Option<&SeedVneidCitizen> {
        self.citizens.iter().find(|c| c.id_number == id_number)
    }

    /// A compact JWS of `claims`, as `fault` says.
    fn sign(&self, claims: &Value, fault: Option<VneidFault>) -> Result<String, String> {
        let alg = match fault {
            Some(VneidFault::AlgNone) => "none",
            Some(VneidFault::Hmac) => "HS256",
            _ => "RS256",
        };
        let header = json!({ "alg": alg, "typ": "JWT", "kid": KID });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = match fault {
            Some(VneidFault::AlgNone) => return Ok(format!("{input}.")),
            Some(VneidFault::Hmac) => {
                PKey::hmac(SANDBOX_VNEID_CLIENT_SECRET.as_bytes()).map_err(|e| e.to_string())?
            }
            Some(VneidFault::BadSignature) => {
                PKey::from_rsa(Rsa::generate(2048).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?
                    .private_key_to_pem_pkcs8()
                    .and_then(|pem| PKey::private_key_from_pem(&pem))
                    .map_err(|e| e.to_string())?
            }
            _ => self.key.clone(),
        };
        let mut signer = Signer::new(MessageDigest::sha256(), &key).map_err(|e| e.to_string())?;
        signer.update(input.as_bytes()).map_err(|e| e.to_string())?;
        let sig = signer.sign_to_vec().map_err(|e| e.to_string())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// A stable opaque `sub` per citizen, as Keycloak's user ids.
    fn subject(id_number: &str) -> String {
        hex::encode(&Sha256::digest(format!("vneid-sandbox:{id_number}"))[..16])
    }

    fn claims_of(&self, c: &SeedVneidCitizen) -> Value {
        json!({
            "sub": Self::subject(&c.id_number),
            "preferred_username": c.id_number,
            "name": c.full_name,
            "birthdate": c.birthdate.format("%Y-%m-%d").to_string(),
            "IAL": c.level,
            "acr": c.level.to_string(),
        })
    }
}

pub fn router<S>(vneid: Arc<SandboxVneid>) -> Router<S> {
    Router::new()
        .route(
            "/sandbox/vneid/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/sandbox/vneid/jwks", get(jwks))
        .route("/sandbox/vneid/authorize", get(authorize))
        .route("/sandbox/vneid/login", post(login))
        .route("/sandbox/vneid/otp", post(otp))
        .route("/sandbox/vneid/token", post(token))
        .route("/sandbox/vneid/userinfo", get(userinfo))
        .route("/sandbox/vneid/logout", get(logout))
        .route("/sandbox/vneid/faults", post(faults))
        .with_state(vneid)
}

async fn discovery(State(v): State<Arc<SandboxVneid>>, headers: HeaderMap) -> Response {
    let b = &v.base_for(&headers);
    Json(json!({
        "issuer": v.issuer,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "userinfo_endpoint": format!("{b}/userinfo"),
        "jwks_uri": format!("{b}/jwks"),
        "end_session_endpoint": format!("{b}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile"],
        "acr_values_supported": ["1", "2"],
        "claims_supported": ["sub", "preferred_username", "name", "birthdate", "IAL", "acr", "amr"],
    }))
    .into_response()
}

async fn jwks(State(v): State<Arc<SandboxVneid>>) -> Response {
    Json(json!({ "keys": [v.jwk] })).into_response()
}

fn bad(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, text.to_string()).into_response()
}

async fn authorize(
    State(v): State<Arc<SandboxVneid>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    v.inner().last_authorize = q.clone();
    let has = |k: &str| q.get(k).is_some_and(|s| !s.is_empty());
    if q.get("client_id").map(String::as_str) != Some(SANDBOX_VNEID_CLIENT_ID) {
        return bad("unknown client_id");
    }
    if q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || !has("redirect_uri")
        || !has("code_challenge")
        || !has("state")
        || !has("nonce")
    {
        return bad("response_type=code, redirect_uri, state, nonce and PKCE S256 are required");
    }
    let id = crate::random::token();
    let hint = q.get("login_hint").cloned().unwrap_or_default();
    v.inner().logins.insert(
        id.clone(),
        PendingLogin {
            params: q,
            otp: None,
        },
    );
    login_page(&id, &hint, None)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str, status: StatusCode) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>VNeID (sandbox)</h1><h2>{title}</h2>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn login_page(id: &str, id_number: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p role=\"alert\" id=\"vneid-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    let body = format!(
        "{error}<form method=\"post\" action=\"/sandbox/vneid/login\">\
         <input type=\"hidden\" name=\"login\" value=\"{id}\">\
         <label>Số định danh cá nhân <input name=\"id_number\" value=\"{}\"></label>\
         <label>Mật khẩu <input type=\"password\" name=\"password\"></label>\
         <button type=\"submit\">Đăng nhập</button></form>",
        esc(id_number)
    );
    page("Đăng nhập tài khoản định danh điện tử", &body, status)
}

fn otp_page(id: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p role=\"alert\" id=\"vneid-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "{error}<p>Mã OTP đã được gửi về số điện thoại đăng ký.</p>\
         <form method=\"post\" action=\"/sandbox/vneid/otp\">\
         <input type=\"hidden\" name=\"login\" value=\"{id}\">\
         <label>Mã OTP <input name=\"otp\" inputmode=\"numeric\"></label>\
         <button type=\"submit\">Xác nhận</button></form>"
    );
    page("Nhập mã OTP", &body, StatusCode::OK)
}

async fn login(
    State(v): State<Arc<SandboxVneid>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let id = f.get("login").cloned().unwrap_or_default();
    let typed = f
        .get("id_number")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    if !v.inner().logins.contains_key(&id) {
        return bad("unknown or finished login");
    }
    let Some(citizen) = v.citizen(&typed).filter(|c| c.password == password) else {
        return login_page(&id, &typed, Some("Số định danh hoặc mật khẩu không đúng."));
    };
    let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
    v.sim.deliver_sms(
        &citizen.phone,
        format!("VNeID: Ma OTP dang nhap cua ban la {code}. Khong chia se ma nay."),
    );
    if let Some(l) = v.inner().logins.get_mut(&id) {
        l.otp = Some((citizen.id_number.clone(), code));
    }
    otp_page(&id, None)
}

async fn otp(
    State(v): State<Arc<SandboxVneid>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let id = f.get("login").cloned().unwrap_or_default();
    let typed = f
        .get("otp")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let Some(pending) = v.inner().logins.get(&id).cloned() else {
        return bad("unknown or finished login");
    };
    let Some((id_number, expected)) = pending.otp else {
        return bad("log in first");
    };
    if typed != expected {
        return otp_page(&id, Some("Mã OTP không đúng."));
    }
    let p = &pending.params;
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let code = crate::random::token();
    let grant = Grant {
        id_number,
        redirect_uri: get("redirect_uri"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        auth_time: v.clock.unix(),
    };
    {
        let mut inner = v.inner();
        inner.logins.remove(&id);
        inner.codes.insert(code.clone(), grant);
    }
    let Ok(mut back) = url::Url::parse(&get("redirect_uri")) else {
        return bad("redirect_uri is not a URL");
    };
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"))
        .append_pair("session_state", &crate::random::token());
    Redirect::to(back.as_str()).into_response()
}

/// The client's id and secret, from Basic or the form.
fn client_of(headers: &HeaderMap, f: &HashMap<String, String>) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        return Some((id.to_string(), secret.to_string()));
    }
    Some((f.get("client_id")?.clone(), f.get("client_secret")?.clone()))
}

fn token_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code }))).into_response()
}

async fn token(
    State(v): State<Arc<SandboxVneid>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let fault = v.inner().fault;
    match fault {
        Some(VneidFault::Error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response();
        }
        Some(VneidFault::Timeout) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(VneidFault::Html) => {
            return page(
                "Bảo trì hệ thống",
                "<p>Hệ thống đang bảo trì.</p>",
                StatusCode::OK,
            );
        }
        _ => {}
    }
    let client = client_of(&headers, &f);
    if client
        != Some((
            SANDBOX_VNEID_CLIENT_ID.to_string(),
            SANDBOX_VNEID_CLIENT_SECRET.to_string(),
        ))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error("unsupported_grant_type");
    }
    let code = f.get("code").cloned().unwrap_or_default();
    let Some(grant) = v.inner().codes.remove(&code) else {
        return token_error("invalid_grant");
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if f.get("redirect_uri") != Some(&grant.redirect_uri) || challenge != grant.code_challenge {
        return token_error("invalid_grant");
    }
    let Some(citizen) = v.citizen(&grant.id_number) else {
        return token_error("invalid_grant");
    };
    let now = v.clock.unix();
    let mut claims = v.claims_of(citizen);
    let (iat, exp) = match fault {
        Some(VneidFault::Expired) => (now - TOKEN_SECONDS - 60, now - 60),
        _ => (now, now + TOKEN_SECONDS),
    };
    let issuer = match fault {
        Some(VneidFault::WrongIssuer) => "https://sso.vneid.example.invalid/realms/other".into(),
        _ => v.issuer.clone(),
    };
    let nonce = match fault {
        Some(VneidFault::WrongNonce) => crate::random::token(),
        _ => grant.nonce.clone(),
    };
    if fault == Some(VneidFault::OtherIdNumber)
        && let Some(other) = v.citizens.iter().find(|c| c.id_number != citizen.id_number)
    {
        claims["preferred_username"] = json!(other.id_number);
    }
    claims["iss"] = json!(issuer);
    claims["aud"] = json!(SANDBOX_VNEID_CLIENT_ID);
    claims["azp"] = json!(SANDBOX_VNEID_CLIENT_ID);
    claims["typ"] = json!("ID");
    claims["iat"] = json!(iat);
    claims["exp"] = json!(exp);
    claims["auth_time"] = json!(grant.auth_time);
    claims["nonce"] = json!(nonce);
    claims["amr"] = json!(["pwd", "otp"]);
    let id_token = match v.sign(&claims, fault) {
        Ok(t) => t,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let access_token = crate::random::token();
    v.inner()
        .tokens
        .insert(access_token.clone(), citizen.id_number.clone());
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_SECONDS,
        "id_token": id_token,
        "scope": "openid profile",
    }))
    .into_response()
}

async fn userinfo(State(v): State<Arc<SandboxVneid>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let id_number = v.inner().tokens.get(token).cloned();
    match id_number.as_deref().and_then(|n| v.citizen(n)) {
        Some(c) => Json(v.claims_of(c)).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn logout(
    State(v): State<Arc<SandboxVneid>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hint_subject = match q.get("id_token_hint") {
        Some(token) => match v.hint_subject(token) {
            Some(sub) => Some(sub),
            None => {
                return bad("id_token_hint is not an ID token of this provider for this client");
            }
        },
        None => None,
    };
    let back = q.get("post_logout_redirect_uri").cloned();
    if back.as_ref().is_some_and(|uri| *uri != v.logout_return) {
        return bad("post_logout_redirect_uri is not registered");
    }
    let state = q.get("state").cloned();
    v.inner().logouts.push(LogoutCall {
        hint_subject,
        post_logout_redirect_uri: back.clone(),
        state: state.clone(),
    });
    match back.and_then(|b| url::Url::parse(&b).ok()) {
        Some(mut url) => {
            if let Some(state) = state {
                url.query_pairs_mut().append_pair("state", &state);
            }
            Redirect::to(url.as_str()).into_response()
        }
        None => page(
            "Đã đăng xuất",
            "<p>Bạn đã đăng xuất khỏi VNeID.</p>",
            StatusCode::OK,
        ),
    }
}

#[derive(Deserialize)]
struct FaultBody {
    fault: VneidFault,
}

async fn faults(State(v): State<Arc<SandboxVneid>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<FaultBody>(&body) {
        Ok(b) => {
            v.set_fault(b.fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad(&format!("body must be {{\"fault\": …}}: {e}")),
    }
}
