//! Staff roles in the admin area: who holds which role, granting one (by the account's ID
//! number; a counter officer needs an office) and revoking one. Only admins change roles
//! (`permits`). The last admin grant is never revoked: the deployment would have nobody left
//! to grant roles but the command line. Audited `role.granted` / `role.revoked` with the
//! actor and the account's roles before and after, as the command line does (`cli/role.rs`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::refusal::Refusal;
use super::{Actor, change_event};
use crate::app::App;
use crate::audit::Audit;
use crate::domain::{Account, IdNumber, Role, RoleGrant};
use crate::message::{FieldErrors, Message};
use crate::store::{Revocation, StoreError};

/// The longest office name kept (characters; the column holds 200).
pub const OFFICE_MAX: usize = 200;

/// An account holding a role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Holder {
    pub account_id: String,
    pub full_name: String,
    /// The citizen's ID number, or an official's (agency accounts).
    pub id_number: Option<String>,
    pub role: String,
    /// A counter officer's post office or service desk.
    pub office: Option<String>,
    /// The account that granted it (none: the command line, or an API client — the audit
    /// trail names it).
    pub granted_by: Option<String>,
    pub granted_at: DateTime<Utc>,
}

/// The holders of one role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleHolders {
    pub role: String,
    pub holders: Vec<Holder>,
}

fn holder(a: &Account, g: &RoleGrant) -> Holder {
    Holder {
        account_id: a.id.clone(),
        full_name: a.full_name.clone(),
        id_number: a.id_number.clone().or_else(|| a.official_id.clone()),
        role: g.role.name().to_string(),
        office: g.office.clone(),
        granted_by: g.granted_by.clone(),
        granted_at: g.granted_at,
    }
}

/// Every role with its holders, oldest grant first.
pub async fn holders(app: &App) -> Result<Vec<RoleHolders>, Refusal> {
    let mut out = Vec::new();
    for role in Role::ALL {
        let holders = app
            .db
            .holders_of(role)
            .await?
            .iter()
            .map(|(a, g)| holder(a, g))
            .collect();
        out.push(RoleHolders {
            role: role.name().to_string(),
            holders,
        });
    }
    Ok(out)
}

/// A grant as typed.
#[derive(Debug, Clone, Default)]
pub struct GrantRequest {
    pub id_number: String,
    pub role: String,
    pub office: String,
}

/// A role by its stored name (`admin`, `client_manager`, `counter_officer`, `auditor`).
pub fn role_named(s: &str) -> Option<Role> {
    Role::parse(s.trim())
}

/// Gives the account with `req.id_number` the role. A role already held is a conflict.
pub async fn grant(
    app: &App,
    actor: &Actor,
    req: &GrantRequest,
    ip: &str,
) -> Result<Holder, Refusal> {
    let mut errors = FieldErrors::new();
    let number = IdNumber::parse(&req.id_number)
        .map_err(|_| errors.insert("id_number", Message::new("err_id_number_malformed")))
        .ok();
    let role = role_named(&req.role);
    if role.is_none() {
        errors.insert("role", Message::new("admin_accounts_roles_role_invalid"));
    }
    let office = Some(req.office.trim()).filter(|o| !o.is_empty());
    if office.is_some_and(|o| o.chars().count() > OFFICE_MAX || o.chars().any(char::is_control)) {
        errors.insert(
            "office",
            Message::new("admin_accounts_roles_office_too_long").with("max", OFFICE_MAX),
        );
    } else if role == Some(Role::CounterOfficer) && office.is_none() {
        errors.insert(
            "office",
            Message::new("admin_accounts_roles_office_required"),
        );
    }
    let (Some(number), Some(role)) = (number, role) else {
        return Err(Refusal::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Refusal::Invalid(errors));
    }
    let account = match app.db.find_account_by_id_number(number.as_str()).await? {
        Some(a) => a,
        None => app
            .db
            .find_account_by_official_id(number.as_str())
            .await?
            .ok_or_else(|| Refusal::field("id_number", "admin_accounts_roles_no_account"))?,
    };
    let before = role_names(&app.db.roles_of(&account.id).await?);
    if before.iter().any(|r| r == role.name()) {
        return Err(Refusal::Conflict(Message::new(
            "admin_accounts_roles_already_held",
        )));
    }
    let mut after = before.clone();
    after.push(role.name().to_string());
    after.sort();
    let actor_id = actor.audit_id();
    let mut event = change_event(
        "role.granted",
        &actor_id,
        actor.via(),
        json!({ "roles": before }),
        json!({ "roles": after }),
    )
    .account(&account.id)
    .ip(Some(ip));
    event.detail["role"] = json!(role.name());
    event.detail["office"] = json!(office);
    let row = app.audit.row(event);
    let granted_by = match actor {
        Actor::Staff { account_id, .. } => Some(account_id.as_str()),
        Actor::ApiClient { .. } => None,
    };
    let now = app.clock.now();
    match app
        .db
        .grant_role(&account.id, role, office, granted_by, now, &row)
        .await
    {
        Ok(true) => Audit::log(&row),
        // Granted meanwhile by someone else, or the account went away.
        Ok(false) | Err(StoreError::Conflict) => {
            return Err(Refusal::Conflict(Message::new(
                "admin_accounts_roles_already_held",
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let grant = RoleGrant {
        role,
        office: office.map(str::to_string),
        granted_by: granted_by.map(str::to_string),
        granted_at: now,
    };
    Ok(holder(&account, &grant))
}

/// Takes `role` from account `account_id`. Not held → not found; the last admin → conflict.
pub async fn revoke(
    app: &App,
    actor: &Actor,
    account_id: &str,
    role: Role,
    ip: &str,
) -> Result<(), Refusal> {
    if app.db.find_account(account_id).await?.is_none() {
        return Err(Refusal::NotFound);
    }
    let before = role_names(&app.db.roles_of(account_id).await?);
    let after: Vec<String> = before
        .iter()
        .filter(|r| *r != role.name())
        .cloned()
        .collect();
    let actor_id = actor.audit_id();
    let mut event = change_event(
        "role.revoked",
        &actor_id,
        actor.via(),
        json!({ "roles": before }),
        json!({ "roles": after }),
    )
    .account(account_id)
    .ip(Some(ip));
    event.detail["role"] = json!(role.name());
    let row = app.audit.row(event);
    match app
        .db
        .revoke_role_keeping_an_admin(account_id, role, &row)
        .await?
    {
        Revocation::Revoked => {
            Audit::log(&row);
            Ok(())
        }
        Revocation::NotHeld => Err(Refusal::NotFound),
        Revocation::LastAdmin => Err(Refusal::Conflict(Message::new(
            "admin_accounts_roles_last_admin",
        ))),
    }
}

fn role_names(grants: &[RoleGrant]) -> Vec<String> {
    let mut names: Vec<String> = grants.iter().map(|g| g.role.name().to_string()).collect();
    names.sort();
    names
}
