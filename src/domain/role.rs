//! Staff roles: what an account may do beyond its own profile. Granted by the command line
//! (`xacthuc account role grant`) until the admin console exists.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including the other roles.
    Admin,
    /// Relying parties (clients) only.
    ClientManager,
    /// A Vietnam Post counter or public-service desk: registers citizens in person, resets
    /// passwords after an in-person check, handles complaints about a taken ID number.
    CounterOfficer,
    /// Reads the audit trail; changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Self::Admin,
        Self::ClientManager,
        Self::CounterOfficer,
        Self::Auditor,
    ];

    /// As stored in `account_roles.role` and typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ClientManager => "client_manager",
            Self::CounterOfficer => "counter_officer",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The OAuth scope that gives a client-credentials token this role at the admin API
    /// (`/admin/api/v1`). Only an admin may allow these scopes to a client.
    pub fn api_scope(self) -> &'static str {
        match self {
            Self::Admin => "xacthuc:admin",
            Self::ClientManager => "xacthuc:client_manager",
            Self::CounterOfficer => "xacthuc:counter_officer",
            Self::Auditor => "xacthuc:auditor",
        }
    }

    /// The role an admin-API scope stands for.
    pub fn from_api_scope(scope: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.api_scope() == scope)
    }

    /// Whether holding `self` lets an account act as `needed` (an admin may do what every
    /// other role does).
    pub fn covers(self, needed: Role) -> bool {
        self == needed || self == Self::Admin
    }
}

/// A role an account holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: Role,
    /// A counter officer's post office or service desk, recorded with what they do.
    pub office: Option<String>,
    pub granted_by: Option<String>,
    pub granted_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.name()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None);
        for r in Role::ALL {
            assert_eq!(Role::from_api_scope(r.api_scope()), Some(r));
        }
        assert_eq!(Role::from_api_scope("admin"), None);
    }

    #[test]
    fn an_admin_covers_every_role_and_the_others_only_their_own() {
        for r in Role::ALL {
            assert!(Role::Admin.covers(r));
        }
        assert!(Role::CounterOfficer.covers(Role::CounterOfficer));
        assert!(!Role::CounterOfficer.covers(Role::Admin));
        assert!(!Role::Auditor.covers(Role::CounterOfficer));
    }
}
