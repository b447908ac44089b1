//! Runs an authorization request against the SSO session: the glue between the protocol rules
//! in `authorize` and the pages in `http`. Pending requests wait in the ephemeral store while
//! the user logs in or consents, under an opaque id.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::authorize::{AuthorizationRequest, Decision, LoginNeed, SessionFacts, decide};
use super::error::OAuthError;
use super::grants::{authorization_code, internal};
use super::session::{self, SsoSession, session_key};
use crate::app::App;
use crate::domain::AccountStatus;
use crate::random;

/// What just happened in the browser, beyond the session itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interaction {
    /// The user logged in during this request (satisfies prompt=login).
    pub fresh_login: bool,
    /// The user approved the consent page (with or without remembering it).
    pub consent_given: bool,
}

/// What the browser should see next.
pub enum Next {
    /// Show the login page for the pending request `ar`.
    Login { ar: String },
    /// Show the consent page for the pending request `ar`.
    Consent { ar: String },
    /// Offer the logged-in account the upgrade to the level the pending request `ar` asks for.
    Upgrade { ar: String },
    /// Send the code to the client.
    Code(String),
}

fn pending_key(ar: &str) -> String {
    format!("ar:{ar}")
}

/// A pending request and the browser that started it (the SHA-256 of its browser cookie). Only
/// that browser may go on with it: another one holding the same `ar` (a link passed on, a URL
/// seen over someone's shoulder or in a log) gets nothing.
#[derive(Serialize, Deserialize)]
struct Pending {
    browser: String,
    request: AuthorizationRequest,
}

/// Continues `req` for `session` (if any) in the browser whose browser cookie is `browser`.
/// `ar` is the pending id when resuming after login or consent; a fresh one is made when the
/// user must interact.
pub async fn advance(
    app: &App,
    req: &AuthorizationRequest,
    ar: Option<&str>,
    session: Option<&SsoSession>,
    how: Interaction,
    browser: &str,
) -> Result<Next, OAuthError> {
    let client = app
        .client(&req.client_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| OAuthError::invalid_request("the client no longer exists"))?;
    let account = match session {
        Some(s) => app.db.find_account(&s.account_id).await.map_err(internal)?,
        None => None,
    };
    let facts = session_facts(session, account.as_ref());
    let stored = match (&account, client.skip_consent) {
        (_, true) => true,
        (Some(a), false) => app
            .db
            .consented_scopes(&a.id, &client.client_id)
            .await
            .map_err(internal)?
            .is_some_and(|granted| req.scopes.iter().all(|s| granted.contains(s))),
        (None, false) => false,
    };
    let consented = how.consent_given || (stored && !req.has_prompt("consent"));
    let mut decision = decide(
        req,
        facts.as_ref(),
        consented,
        app.clock.unix(),
        how.fresh_login,
    )?;
    // No enabled method can upgrade this account: an essential level is unmet; a voluntary one
    // goes on at the account's level, as if declined.
    let mut req = std::borrow::Cow::Borrowed(req);
    if let Decision::Upgrade { essential } = decision
        && !can_upgrade(app, account.as_ref())
    {
        if essential {
            return Err(OAuthError::new(
                super::error::ErrorCode::UnmetAuthenticationRequirements,
                "the account's assurance level is below what this request requires",
            ));
        }
        req.to_mut().upgrade_declined = true;
        decision = decide(
            &req,
            facts.as_ref(),
            consented,
            app.clock.unix(),
            how.fresh_login,
        )?;
    }
    let req = req.as_ref();
    match (decision, session) {
        (Decision::IssueCode, Some(session)) => {
            remember_client(app, session, &client.client_id).await?;
            if let Some(ar) = ar {
                let _ = app.store.delete(&pending_key(ar)).await;
            }
            Ok(Next::Code(
                authorization_code::issue(app, req, session).await?,
            ))
        }
        (Decision::Consent, _) => {
            // The login just made satisfies prompt=login and max_age for the consent step.
            let mut req = req.clone();
            if how.fresh_login {
                req.prompt.retain(|p| p != "login");
                req.max_age = None;
            }
            Ok(Next::Consent {
                ar: keep_pending(app, &req, ar, how.fresh_login, browser).await?,
            })
        }
        (Decision::Login(need), _) => {
            // Not a login page without a method that could satisfy the request.
            if crate::authenticators::offered(&app.config.login, &need).is_empty() {
                return Err(OAuthError::new(
                    super::error::ErrorCode::UnmetAuthenticationRequirements,
                    "no enabled login method can meet this request",
                ));
            }
            Ok(Next::Login {
                ar: keep_pending(app, req, ar, false, browser).await?,
            })
        }
        (Decision::Upgrade { .. }, _) => {
            // Rewritten after a fresh login, like consent: the login satisfied prompt=login.
            let mut req = req.clone();
            if how.fresh_login {
                req.prompt.retain(|p| p != "login");
                req.max_age = None;
            }
            Ok(Next::Upgrade {
                ar: keep_pending(app, &req, ar, how.fresh_login, browser).await?,
            })
        }
        (Decision::IssueCode, None) => Err(OAuthError::invalid_request("no session")),
    }
}

/// Whether some enabled method can raise this account: a citizen's, with a signature method
/// that registers citizens.
fn can_upgrade(app: &App, account: Option<&crate::domain::Account>) -> bool {
    account.is_some_and(|a| a.subject_type == crate::domain::SubjectType::Citizen)
        && !crate::authenticators::registering(
            &app.config.login,
            crate::domain::SubjectType::Citizen,
        )
        .is_empty()
}

/// Marks the pending request `ar` as declined by the user ("Không, cảm ơn"), and goes on: an
/// essential level is `unmet_authentication_requirements`, a voluntary one continues at the
/// account's level.
pub async fn decline_upgrade(
    app: &App,
    ar: &str,
    mut req: AuthorizationRequest,
    session: Option<&SsoSession>,
    browser: &str,
) -> Result<Next, OAuthError> {
    req.upgrade_declined = true;
    keep_pending(app, &req, Some(ar), true, browser).await?;
    advance(
        app,
        &req,
        Some(ar),
        session,
        Interaction::default(),
        browser,
    )
    .await
}

fn session_facts(
    session: Option<&SsoSession>,
    account: Option<&crate::domain::Account>,
) -> Option<SessionFacts> {
    session.zip(account).map(|(s, a)| SessionFacts {
        ial: s.ial,
        auth_time: s.auth_time,
        account_ial: a.ial,
        account_active: a.status == AccountStatus::Active,
        phishing_resistant: s.phishing_resistant,
    })
}

/// What a login for `req` must achieve, given the browser's session (the login page offers
/// only the methods that can).
pub async fn login_need(
    app: &App,
    req: &AuthorizationRequest,
    session: Option<&SsoSession>,
) -> LoginNeed {
    let account = match session {
        Some(s) => app.db.find_account(&s.account_id).await.ok().flatten(),
        None => None,
    };
    let facts = session_facts(session, account.as_ref());
    super::authorize::login_need(req, facts.as_ref(), app.clock.unix())
}

/// Stores `req` as pending for `browser` (under a new id unless resuming `ar`; rewritten when
/// `rewrite`).
async fn keep_pending(
    app: &App,
    req: &AuthorizationRequest,
    ar: Option<&str>,
    rewrite: bool,
    browser: &str,
) -> Result<String, OAuthError> {
    if let Some(ar) = ar
        && !rewrite
    {
        return Ok(ar.to_string());
    }
    let ar = ar.map(str::to_string).unwrap_or_else(random::token);
    let pending = Pending {
        browser: random::sha256_hex(browser),
        request: req.clone(),
    };
    let bytes = serde_json::to_vec(&pending)
        .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
    let ttl = Duration::from_secs(app.config.tokens.authorization_request_ttl_seconds as u64);
    app.store
        .put(&pending_key(&ar), &bytes, ttl)
        .await
        .map_err(internal)?;
    Ok(ar)
}

/// A pending request by id, for the browser whose browser cookie is `browser`; `None` when
/// unknown, expired, or started by another browser (or a browser without the cookie).
pub async fn pending(
    app: &App,
    ar: &str,
    browser: Option<&str>,
) -> Result<Option<AuthorizationRequest>, OAuthError> {
    let Some(browser) = browser else {
        return Ok(None);
    };
    let bytes = app.store.get(&pending_key(ar)).await.map_err(internal)?;
    let browser = random::sha256_hex(browser);
    Ok(bytes
        .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
        .filter(|p| random::constant_time_eq(p.browser.as_bytes(), browser.as_bytes()))
        .map(|p| p.request))
}

pub async fn forget_pending(app: &App, ar: &str) {
    let _ = app.store.delete(&pending_key(ar)).await;
}

/// How often `remember_client` rereads a session that changed under it before giving up.
const SESSION_UPDATE_TRIES: usize = 4;

/// Records that `client_id` took part in the session (a back-channel logout target). The
/// session is updated only while it still exists, unchanged since read (compare and swap): a
/// logout that deleted it meanwhile is not undone, and a concurrent authorization for another
/// client does not lose its entry. A session ended meanwhile gets no code.
async fn remember_client(
    app: &App,
    session: &SsoSession,
    client_id: &str,
) -> Result<(), OAuthError> {
    if session.clients.iter().any(|c| c == client_id) {
        return Ok(());
    }
    let key = session_key(&session.handle);
    for _ in 0..SESSION_UPDATE_TRIES {
        let Some(stored) = app.store.get(&key).await.map_err(internal)? else {
            return Err(session_ended());
        };
        let mut current: SsoSession = serde_json::from_slice(&stored)
            .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
        if current.clients.iter().any(|c| c == client_id) {
            return Ok(());
        }
        current.clients.push(client_id.to_string());
        let bytes = serde_json::to_vec(&current)
            .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
        let ttl = Duration::from_secs((current.expires_at - app.clock.unix()).max(1) as u64);
        if app
            .store
            .compare_and_swap(&key, &stored, &bytes, ttl)
            .await
            .map_err(internal)?
        {
            return Ok(());
        }
    }
    Err(OAuthError::temporarily_unavailable())
}

fn session_ended() -> OAuthError {
    OAuthError::new(
        super::error::ErrorCode::LoginRequired,
        "the session has ended",
    )
}

/// Stores a new session.
async fn store_new_session(app: &App, session: &SsoSession) -> Result<(), OAuthError> {
    let ttl = (session.expires_at - app.clock.unix()).max(1) as u64;
    let bytes = serde_json::to_vec(session)
        .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
    app.store
        .put(
            &session_key(&session.handle),
            &bytes,
            Duration::from_secs(ttl),
        )
        .await
        .map_err(internal)
}

/// The live session of a browser, by its cookie secret. Sessions older than the account's
/// last "end all sessions" (password reset) are gone.
pub async fn load_session(app: &App, cookie: &str) -> Result<Option<SsoSession>, OAuthError> {
    load_session_by_handle(app, &random::sha256_hex(cookie)).await
}

/// A live session by its store handle (the SHA-256 of its cookie secret).
pub async fn load_session_by_handle(
    app: &App,
    handle: &str,
) -> Result<Option<SsoSession>, OAuthError> {
    session::live(app.store.as_ref(), handle, app.clock.unix())
        .await
        .map_err(internal)
}

/// Ends every SSO session of an account made up to now (on every node), and what was issued in
/// them, except the session whose `sid` is `keep` (the browser that changed the password).
pub async fn end_all_sessions(
    app: &App,
    account_id: &str,
    keep: Option<&str>,
) -> Result<(), crate::store::StoreError> {
    let ttl = Duration::from_secs(app.config.tokens.sso_session_ttl_seconds.max(1) as u64);
    // Second granularity (auth_time is in seconds): a session begun in the very second of the
    // reset survives, so a login right after a reset works.
    let marker = session::NotBefore {
        at: app.clock.unix(),
        kept_sid: keep.map(str::to_string),
    };
    app.store
        .put(
            &session::not_before_key(account_id),
            &marker.to_bytes(),
            ttl,
        )
        .await?;
    Ok(())
}

/// Starts a new SSO session after a successful login; returns it with the cookie secret.
pub async fn start_session(
    app: &App,
    account_id: &str,
    ial: crate::domain::Ial,
    amr: Vec<String>,
    phishing_resistant: bool,
    upstream: Option<serde_json::Value>,
    upstream_logout: Option<super::session::UpstreamLogout>,
) -> Result<(SsoSession, String), OAuthError> {
    let now = app.clock.unix();
    let secret = random::token();
    let session = SsoSession {
        handle: random::sha256_hex(&secret),
        sid: random::token(),
        account_id: account_id.to_string(),
        ial,
        amr,
        phishing_resistant,
        auth_time: now,
        expires_at: now + app.config.tokens.sso_session_ttl_seconds,
        clients: Vec::new(),
        upstream,
        upstream_logout,
    };
    store_new_session(app, &session).await?;
    index_session(app, &session).await?;
    Ok((session, secret))
}

/// One entry of an account's session list ("Thông tin cá nhân" → active sessions).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionRef {
    pub handle: String,
    pub sid: String,
    pub started: i64,
    pub expires_at: i64,
}

fn index_key(account_id: &str) -> String {
    format!("account_sessions:{account_id}")
}

async fn read_index(app: &App, account_id: &str) -> Result<Vec<SessionRef>, OAuthError> {
    Ok(app
        .store
        .get(&index_key(account_id))
        .await
        .map_err(internal)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// Adds a session to its account's list (read-modify-write: two logins of one account in the
/// same instant may lose an entry from the list, never a session itself).
async fn index_session(app: &App, session: &SsoSession) -> Result<(), OAuthError> {
    let now = app.clock.unix();
    let mut list = read_index(app, &session.account_id).await?;
    list.retain(|r| r.expires_at > now);
    list.push(SessionRef {
        handle: session.handle.clone(),
        sid: session.sid.clone(),
        started: session.auth_time,
        expires_at: session.expires_at,
    });
    let ttl = Duration::from_secs(app.config.tokens.sso_session_ttl_seconds.max(1) as u64);
    let bytes = serde_json::to_vec(&list).unwrap_or_default();
    app.store
        .put(&index_key(&session.account_id), &bytes, ttl)
        .await
        .map_err(internal)
}

/// The account's live sessions, oldest first.
pub async fn sessions_of(app: &App, account_id: &str) -> Result<Vec<SessionRef>, OAuthError> {
    let mut live = Vec::new();
    for r in read_index(app, account_id).await? {
        if load_session_by_handle(app, &r.handle).await?.is_some() {
            live.push(r);
        }
    }
    Ok(live)
}
