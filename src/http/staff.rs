//! The staff area's door: pages for counter officers (and, later, admins and auditors) open
//! only for a browser whose SSO session belongs to an account holding the role, and whose
//! login was strong — a passkey, a USB token, or a SIM or remote signature. A password + SMS
//! code login is not enough to act on other people's accounts: a phished officer would hand
//! over every citizen they can touch.
//!
//! Refusals: no session or a weak one → the staff login page (the strong methods that are
//! enabled; after logging in, home links back here); a strong session without the role →
//! 403, audited `staff.forbidden`.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::page::{self, PageRequest};
use super::request::SESSION_COOKIE;
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::Method;
use crate::domain::{Account, AccountStatus, Role, RoleGrant};
use crate::oidc::interaction;
use crate::oidc::params::Params;
use crate::oidc::session::SsoSession;

/// An account acting in the staff area, with the session that proves it.
pub struct Staff {
    pub session: SsoSession,
    pub account: Account,
    /// The grant that lets it act here (for a counter officer, it names the office).
    pub grant: RoleGrant,
}

impl Staff {
    /// The office the officer works at, recorded with what they do.
    pub fn office(&self) -> &str {
        self.grant.office.as_deref().unwrap_or_default()
    }
}

/// Why the staff area stays closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// No SSO session in this browser.
    NoSession,
    /// Logged in, but with a method too weak for the staff area.
    WeakLogin,
    /// Logged in strongly as this account, without the role (or the account is not active).
    NotPermitted { account_id: String },
    /// The store or the database did not answer.
    Unavailable,
}

/// Whether a session's login may act in the staff area: a phishing-resistant method (passkey,
/// USB token) or a signature with a key held by a provider under the holder's PIN (`mca`: SIM
/// or remote signature).
pub fn strong_login(session: &SsoSession) -> bool {
    session.phishing_resistant || session.amr.iter().any(|a| a == "mca")
}

/// An account logged in in this browser with a login `strong_enough`, and its roles.
pub struct Person {
    pub session: SsoSession,
    pub account: Account,
    pub grants: Vec<RoleGrant>,
}

/// The account of this browser's SSO session, if its login was `strong_enough` and the
/// account is active, with the roles it holds (maybe none), or why not.
pub async fn person(
    app: &App,
    headers: &HeaderMap,
    strong_enough: impl Fn(&SsoSession) -> bool,
) -> Result<Person, Closed> {
    let Some(secret) = app.cookies.get(headers, SESSION_COOKIE) else {
        return Err(Closed::NoSession);
    };
    let session = match interaction::load_session(app, secret).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Closed::NoSession),
        Err(_) => return Err(Closed::Unavailable),
    };
    if !strong_enough(&session) {
        return Err(Closed::WeakLogin);
    }
    let account = match app.db.find_account(&session.account_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(Closed::NoSession),
        Err(_) => return Err(Closed::Unavailable),
    };
    if account.status != AccountStatus::Active {
        return Err(Closed::NotPermitted {
            account_id: account.id,
        });
    }
    let grants = app
        .db
        .roles_of(&account.id)
        .await
        .map_err(|_| Closed::Unavailable)?;
    Ok(Person {
        session,
        account,
        grants,
    })
}

/// The staff member acting for `role` in this browser, or why not.
pub async fn staff(app: &App, headers: &HeaderMap, role: Role) -> Result<Staff, Closed> {
    let Person {
        session,
        account,
        grants,
    } = person(app, headers, strong_login).await?;
    // The role itself first (its office), else an admin's grant.
    let grant = grants
        .iter()
        .find(|g| g.role == role)
        .or_else(|| grants.iter().find(|g| g.role.covers(role)))
        .cloned();
    match grant {
        Some(grant) => Ok(Staff {
            session,
            account,
            grant,
        }),
        None => Err(Closed::NotPermitted {
            account_id: account.id,
        }),
    }
}

/// The staff member, or the page that answers instead (see [`Closed`]).
pub async fn require(
    app: &App,
    req: &PageRequest,
    headers: &HeaderMap,
    role: Role,
    ip: &str,
) -> Result<Staff, Response> {
    match staff(app, headers, role).await {
        Ok(s) => Ok(s),
        Err(closed) => {
            let detail = json!({ "role": role.name() });
            Err(closed_page(app, req, closed, detail, &STRONG_METHODS, ip).await)
        }
    }
}

/// A staff page: its request and the staff member acting for `role`, or the page that answers
/// instead.
pub async fn page_for(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    role: Role,
    ip: &str,
) -> Result<(Staff, PageRequest), Response> {
    let req = PageRequest::new(app, headers, uri, &[]);
    let staff = require(app, &req, headers, role, ip).await?;
    Ok((staff, req))
}

/// A form posted in the staff area (CSRF checked), by the staff member acting for `role`. The
/// answer's language link goes to `back`, the page the form is on: a post's URL would not show
/// it again.
pub async fn posted_by(
    app: &App,
    request: Request<Body>,
    role: Role,
    ip: &str,
    back: &str,
) -> Result<(Staff, PageRequest, Params), Response> {
    let (headers, req, params) = page::posted(app, request).await?;
    let req = req.with_language_link(back);
    let staff = require(app, &req, &headers, role, ip).await?;
    Ok((staff, req, params))
}

/// The page of a closed staff door: the staff login page offering `methods`, or 403 (audited
/// `staff.forbidden` with `detail`: what was asked for), or 503.
pub async fn closed_page(
    app: &App,
    req: &PageRequest,
    closed: Closed,
    detail: serde_json::Value,
    methods: &[Method],
    ip: &str,
) -> Response {
    match closed {
        Closed::NoSession | Closed::WeakLogin => login_page(app, req, &closed, methods),
        Closed::NotPermitted { account_id } => {
            // The account that tried is the actor: who knocks on staff doors.
            let event = Event::new("staff.forbidden")
                .actor(&account_id)
                .ip(Some(ip))
                .detail(detail);
            if let Err(e) = app.audit.record(event).await {
                tracing::error!(error = %e, "audit of a refused staff page failed");
            }
            page::error(app, req, StatusCode::FORBIDDEN, "staff_not_permitted", None)
        }
        Closed::Unavailable => page::unavailable(app, req, &"staff area: the store did not answer"),
    }
}

/// The methods strong enough for the staff area, in the order the page offers them.
pub const STRONG_METHODS: [Method; 4] = [
    Method::Passkey,
    Method::UsbToken,
    Method::SimSignature,
    Method::RemoteSignature,
];

/// "Khu vực cán bộ": log in with a strong method. A passkey is begun from the login page
/// (it needs the ID number typed); the others from their own step page.
fn login_page(app: &App, req: &PageRequest, closed: &Closed, methods: &[Method]) -> Response {
    let methods: Vec<_> = methods
        .iter()
        .copied()
        .filter(|m| app.config.login.enabled(*m))
        .map(|m| {
            let url = match m {
                Method::Passkey => app.url("/login"),
                _ => app.url(&format!("/login/{}", m.name())),
            };
            json!({
                "name": m.name(),
                "label": req.t(app, &format!("login_with_{}", m.name())),
                "url": url,
            })
        })
        .collect();
    let vars = json!({
        "methods": methods,
        "weak_login": *closed == Closed::WeakLogin,
    });
    page::render(
        app,
        req,
        StatusCode::UNAUTHORIZED,
        "staff_login",
        "title_staff_login",
        vars,
    )
}
