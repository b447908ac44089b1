//! The console's door and its home page (`/admin`). A page opens for a browser whose SSO
//! session's login is strong enough for the admin area (`admin_login`: a digital signature,
//! or a passkey unless `admin.passkey_allowed` is false) and whose account's roles permit the
//! page's resource (`crate::admin::permits`). Otherwise the staff door's answers: the staff
//! login page (401) or 403 audited `staff.forbidden`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use crate::admin::{Access, Actor, Resource};
use crate::app::App;
use crate::authenticators::Method;
use crate::domain::{Account, Role};
use crate::http::page::{self, PageRequest};
use crate::http::staff::{self, Closed, Person};
use crate::oidc::params::Params;
use crate::oidc::session::SsoSession;

/// A person acting in the console.
pub struct Admin {
    pub actor: Actor,
    pub account: Account,
    pub session: SsoSession,
}

/// Whether a login opens the admin area: a signature (USB token `sc`; SIM or remote signature
/// `mca`: an IAL3 method) always; a passkey when the config allows it.
pub fn admin_login(session: &SsoSession, passkey_allowed: bool) -> bool {
    let signature = session.amr.iter().any(|a| a == "sc" || a == "mca");
    signature || (passkey_allowed && staff::strong_login(session))
}

/// The methods the admin login page offers.
fn admin_methods(app: &App) -> Vec<Method> {
    staff::STRONG_METHODS
        .into_iter()
        .filter(|m| *m != Method::Passkey || app.config.admin.passkey_allowed)
        .collect()
}

/// The admin acting in this browser, if it may `access` `resource`; else the page that
/// answers instead.
pub async fn require(
    app: &App,
    req: &PageRequest,
    headers: &HeaderMap,
    resource: Resource,
    access: Access,
    ip: &str,
) -> Result<Admin, Response> {
    let passkey_allowed = app.config.admin.passkey_allowed;
    let found = staff::person(app, headers, |s| admin_login(s, passkey_allowed)).await;
    let closed = match found {
        Ok(Person {
            session,
            account,
            grants,
        }) => {
            let actor = Actor::Staff {
                account_id: account.id.clone(),
                roles: grants.iter().map(|g| g.role).collect(),
            };
            if actor.may(resource, access) {
                return Ok(Admin {
                    actor,
                    account,
                    session,
                });
            }
            Closed::NotPermitted {
                account_id: account.id,
            }
        }
        Err(closed) => closed,
    };
    let detail = json!({ "via": "console", "resource": resource.name(), "access": access.name() });
    Err(staff::closed_page(app, req, closed, detail, &admin_methods(app), ip).await)
}

/// A console page: its request and the admin allowed to `access` `resource`.
pub async fn page_for(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    resource: Resource,
    access: Access,
    ip: &str,
) -> Result<(Admin, PageRequest), Response> {
    let req = PageRequest::new(app, headers, uri, &[]);
    let admin = require(app, &req, headers, resource, access, ip).await?;
    Ok((admin, req))
}

/// A form posted in the console (CSRF checked) by an admin allowed to write `resource`. The
/// answer's language link goes to `back`, the page the form is on.
pub async fn posted_by(
    app: &App,
    request: Request<Body>,
    resource: Resource,
    ip: &str,
    back: &str,
) -> Result<(Admin, PageRequest, Params), Response> {
    let (headers, req, params) = page::posted(app, request).await?;
    let req = req.with_language_link(back);
    let admin = require(app, &req, &headers, resource, Access::Write, ip).await?;
    Ok((admin, req, params))
}

/// The console's sections: path, resource, title string.
const SECTIONS: [(&str, Resource, &str); 7] = [
    ("/admin/clients", Resource::Clients, "admin_section_clients"),
    (
        "/admin/accounts",
        Resource::Accounts,
        "admin_section_accounts",
    ),
    (
        "/admin/trust-anchors",
        Resource::TrustAnchors,
        "admin_section_trust_anchors",
    ),
    ("/admin/keys", Resource::SigningKeys, "admin_section_keys"),
    ("/admin/audit", Resource::Audit, "admin_section_audit"),
    (
        "/admin/complaints",
        Resource::Complaints,
        "admin_section_complaints",
    ),
    ("/admin/roles", Resource::Roles, "admin_section_roles"),
];

/// "Quản trị hệ thống": the sections this admin may read. The door asks only for a strong
/// login and some role: each section checks its own.
async fn home(
    State(app): State<App>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = addr.ip().to_string();
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let passkey_allowed = app.config.admin.passkey_allowed;
    let person = match staff::person(&app, &headers, |s| admin_login(s, passkey_allowed)).await {
        Ok(p) => p,
        Err(closed) => {
            let detail = json!({ "via": "console", "resource": "home" });
            return staff::closed_page(&app, &req, closed, detail, &admin_methods(&app), &ip).await;
        }
    };
    let roles: Vec<Role> = person.grants.iter().map(|g| g.role).collect();
    let sections: Vec<_> = SECTIONS
        .iter()
        .filter(|(_, resource, _)| crate::admin::permits(&roles, *resource, Access::Read))
        .map(|(path, _, title)| json!({ "url": app.url(path), "title": req.t(&app, title) }))
        .collect();
    if sections.is_empty() {
        let closed = Closed::NotPermitted {
            account_id: person.account.id,
        };
        let detail = json!({ "via": "console", "resource": "home" });
        return staff::closed_page(&app, &req, closed, detail, &admin_methods(&app), &ip).await;
    }
    let vars = json!({
        "admin_name": person.account.full_name,
        "roles": roles.iter().map(|r| req.t(&app, &format!("role_{}", r.name()))).collect::<Vec<_>>(),
        "sections": sections,
    });
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "admin_home",
        "title_admin",
        vars,
    )
}

pub fn router() -> Router<App> {
    Router::new().route("/admin", get(home))
}
