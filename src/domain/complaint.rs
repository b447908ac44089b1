//! Complaints ("khiếu nại") about an ID number registered by someone else: what a complaint
//! is, and the closed set of its statuses and of the moves between them, checked here only.

use chrono::{DateTime, Utc};

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComplaintStatus {
    /// Filed; waiting for an officer.
    Open,
    /// An officer locked the disputed account while the complainant comes to a counter.
    AccountLocked,
    /// The account was handed to the complainant after the in-person check. Final.
    Resolved,
    /// Unfounded after the in-person check (or never backed up). Final.
    Rejected,
}

/// What an officer does to a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComplaintAction {
    /// Lock the disputed account and end its sessions.
    Lock,
    /// The complaint is unfounded: unlock the account if this complaint locked it.
    Reject,
    /// The complainant is the rightful owner: the account becomes theirs.
    Transfer,
}

impl ComplaintStatus {
    pub const ALL: [Self; 4] = [
        Self::Open,
        Self::AccountLocked,
        Self::Resolved,
        Self::Rejected,
    ];

    /// As stored in `complaints.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::AccountLocked => "account_locked",
            Self::Resolved => "resolved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Still in the officers' queue.
    pub fn pending(self) -> bool {
        matches!(self, Self::Open | Self::AccountLocked)
    }

    /// The status `action` leads to from this one, or `None` when it may not be taken here:
    /// open → account_locked → resolved | rejected, and open → rejected. A transfer needs the
    /// account locked first, so the impostor's sessions are already over while the owner is
    /// checked at the counter; a finished complaint takes no action at all.
    pub fn after(self, action: ComplaintAction) -> Option<Self> {
        use ComplaintAction::*;
        match (self, action) {
            (Self::Open, Lock) => Some(Self::AccountLocked),
            (Self::Open | Self::AccountLocked, Reject) => Some(Self::Rejected),
            (Self::AccountLocked, Transfer) => Some(Self::Resolved),
            (Self::Open, Transfer) | (Self::AccountLocked, Lock) => None,
            (Self::Resolved | Self::Rejected, _) => None,
        }
    }
}

impl ComplaintAction {
    pub const ALL: [Self; 3] = [Self::Lock, Self::Reject, Self::Transfer];

    /// In URLs (`/counter/complaints/{ticket}/{action}`) and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lock => "lock",
            Self::Reject => "reject",
            Self::Transfer => "transfer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// A complaint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    pub id: String,
    /// `KN-` and eight characters (see `flow::complaints::new_ticket`).
    pub ticket: String,
    /// The disputed ID number.
    pub id_number: String,
    /// The account that held the number when the complaint was filed. Never shown to the
    /// complainant.
    pub account_id: Option<String>,
    pub complainant_name: String,
    /// E.164: every step's SMS goes there.
    pub contact_phone: String,
    pub contact_email: Option<String>,
    pub description: String,
    /// The complainant's language, for the SMS of later steps.
    pub locale: String,
    pub status: ComplaintStatus,
    pub handled_by: Option<String>,
    pub office: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::ComplaintAction::*;
    use super::ComplaintStatus::*;
    use super::*;

    #[test]
    fn the_moves_are_the_closed_set_and_finished_complaints_take_none() {
        assert_eq!(Open.after(Lock), Some(AccountLocked));
        assert_eq!(Open.after(Reject), Some(Rejected));
        assert_eq!(Open.after(Transfer), None);
        assert_eq!(AccountLocked.after(Lock), None);
        assert_eq!(AccountLocked.after(Reject), Some(Rejected));
        assert_eq!(AccountLocked.after(Transfer), Some(Resolved));
        for done in [Resolved, Rejected] {
            assert!(!done.pending());
            for a in ComplaintAction::ALL {
                assert_eq!(done.after(a), None, "{done:?} {a:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ComplaintStatus::ALL {
            assert_eq!(ComplaintStatus::parse(s.as_str()), Some(s));
        }
        for a in ComplaintAction::ALL {
            assert_eq!(ComplaintAction::parse(a.name()), Some(a));
        }
        assert_eq!(ComplaintStatus::parse("closed"), None);
        assert_eq!(ComplaintAction::parse("delete"), None);
    }
}
