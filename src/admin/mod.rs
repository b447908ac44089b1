//! The admin area's rules, shared by the console (`/admin`, pages) and the API
//! (`/admin/api/v1`, JSON): who may do what ([`permits`], one table), who is acting
//! ([`Actor`]), and how a change is recorded ([`change_event`]: every admin action is an audit
//! event with the state before and after).
//!
//! No axum and no SQL here: `http::admin` turns requests into an [`Actor`] and answers;
//! the store does the writes.

pub mod accounts;
pub mod audit_trail;
pub mod clients;
pub mod refusal;
pub mod roles;
pub mod signing_keys;
pub mod trust_anchors;

use serde_json::{Value, json};

use crate::audit::Event;
use crate::domain::Role;

/// What an admin action touches. One variant per resource of the console and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Relying parties.
    Clients,
    /// Citizens', enterprises' and officials' accounts.
    Accounts,
    /// The CA certificates trusted for signature logins (public and government sets).
    TrustAnchors,
    /// Our token-signing keys.
    SigningKeys,
    /// The audit trail.
    Audit,
    /// The complaints queue.
    Complaints,
    /// Staff roles: who is an admin, a client manager, a counter officer, an auditor.
    Roles,
}

impl Resource {
    /// A stable word for audit details and error bodies.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clients => "clients",
            Self::Accounts => "accounts",
            Self::TrustAnchors => "trust_anchors",
            Self::SigningKeys => "signing_keys",
            Self::Audit => "audit",
            Self::Complaints => "complaints",
            Self::Roles => "roles",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// The roles that may `access` a `resource`, besides `admin` (who may do everything). The
/// auditor reads everything and changes nothing; the audit trail itself is never written
/// through the admin area.
fn roles_for(resource: Resource, access: Access) -> &'static [Role] {
    use Role::*;
    match (resource, access) {
        (Resource::Clients, Access::Read) => &[ClientManager, Auditor],
        (Resource::Clients, Access::Write) => &[ClientManager],
        (Resource::Complaints, Access::Read) => &[CounterOfficer, Auditor],
        (Resource::Complaints, Access::Write) => &[CounterOfficer],
        (
            Resource::Accounts | Resource::TrustAnchors | Resource::SigningKeys | Resource::Roles,
            Access::Read,
        ) => &[Auditor],
        (Resource::Audit, Access::Read) => &[Auditor],
        (
            Resource::Accounts
            | Resource::TrustAnchors
            | Resource::SigningKeys
            | Resource::Roles
            | Resource::Audit,
            Access::Write,
        ) => &[],
    }
}

/// Whether an actor holding `roles` may `access` `resource`.
pub fn permits(roles: &[Role], resource: Resource, access: Access) -> bool {
    roles
        .iter()
        .any(|held| *held == Role::Admin || roles_for(resource, access).contains(held))
}

/// Who is acting in the admin area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person in the console: an account with roles, logged in strongly.
    Staff {
        account_id: String,
        roles: Vec<Role>,
    },
    /// A program at the API: a client-credentials token whose scopes name the roles.
    ApiClient { client_id: String, roles: Vec<Role> },
}

impl Actor {
    pub fn roles(&self) -> &[Role] {
        match self {
            Self::Staff { roles, .. } | Self::ApiClient { roles, .. } => roles,
        }
    }

    pub fn may(&self, resource: Resource, access: Access) -> bool {
        permits(self.roles(), resource, access)
    }

    /// `audit_events.actor_id`: the account, or `client:<client_id>` for the API (account ids
    /// are UUIDs, so the two never collide), so "filter by actor" finds both.
    pub fn audit_id(&self) -> String {
        match self {
            Self::Staff { account_id, .. } => account_id.clone(),
            Self::ApiClient { client_id, .. } => format!("client:{client_id}"),
        }
    }

    /// How the action came in, for the audit detail.
    pub fn via(&self) -> &'static str {
        match self {
            Self::Staff { .. } => "console",
            Self::ApiClient { .. } => "api",
        }
    }
}

/// The audit event of an admin change: `kind` (e.g. `admin.client.updated`), the actor, and
/// the state before and after (`Value::Null` for a creation's before or a deletion's after).
/// Neither side may hold a secret: callers pass the redacted views the API shows.
pub fn change_event<'a>(
    kind: &'a str,
    actor_id: &'a str,
    via: &'static str,
    before: Value,
    after: Value,
) -> Event<'a> {
    Event::new(kind).actor(actor_id).detail(json!({
        "via": via,
        "before": before,
        "after": after,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCES: [Resource; 7] = [
        Resource::Clients,
        Resource::Accounts,
        Resource::TrustAnchors,
        Resource::SigningKeys,
        Resource::Audit,
        Resource::Complaints,
        Resource::Roles,
    ];

    #[test]
    fn an_admin_may_do_everything_but_write_the_audit_trail_which_nobody_may() {
        for r in RESOURCES {
            assert!(permits(&[Role::Admin], r, Access::Read), "{r:?}");
        }
        // The admin's blanket permission covers writes too; the audit trail has no write
        // route at all, so the table's empty list is the only thing that can refuse it.
        assert!(roles_for(Resource::Audit, Access::Write).is_empty());
    }

    #[test]
    fn an_auditor_reads_everything_and_changes_nothing() {
        for r in RESOURCES {
            assert!(permits(&[Role::Auditor], r, Access::Read), "{r:?}");
            assert!(!permits(&[Role::Auditor], r, Access::Write), "{r:?}");
        }
    }

    #[test]
    fn a_client_manager_touches_only_clients() {
        assert!(permits(
            &[Role::ClientManager],
            Resource::Clients,
            Access::Write
        ));
        for r in RESOURCES.into_iter().filter(|r| *r != Resource::Clients) {
            assert!(!permits(&[Role::ClientManager], r, Access::Read), "{r:?}");
        }
    }

    #[test]
    fn a_counter_officer_handles_complaints_only() {
        assert!(permits(
            &[Role::CounterOfficer],
            Resource::Complaints,
            Access::Write
        ));
        assert!(!permits(
            &[Role::CounterOfficer],
            Resource::Accounts,
            Access::Read
        ));
        assert!(!permits(&[], Resource::Clients, Access::Read));
    }

    #[test]
    fn api_actors_are_recorded_apart_from_accounts() {
        let api = Actor::ApiClient {
            client_id: "ops-bot".into(),
            roles: vec![Role::Auditor],
        };
        assert_eq!(api.audit_id(), "client:ops-bot");
        assert_eq!(api.via(), "api");
    }
}
