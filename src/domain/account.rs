use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Identity assurance level of an account: the level of the method it was registered (or
/// later verified) with. Ordered: IAL3 satisfies a request for IAL2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ial {
    Ial2 = 2,
    Ial3 = 3,
}

impl Ial {
    pub fn from_level(level: i16) -> Option<Self> {
        match level {
            2 => Some(Self::Ial2),
            3 => Some(Self::Ial3),
            _ => None,
        }
    }

    pub fn level(self) -> i16 {
        self as i16
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    Citizen,
    Enterprise,
    Agency,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Enterprise => "enterprise",
            Self::Agency => "agency",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "citizen" => Some(Self::Citizen),
            "enterprise" => Some(Self::Enterprise),
            "agency" => Some(Self::Agency),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Disabled,
    /// Held while a complaint about it is open, or locked by an officer or admin: no login,
    /// no tokens, no refresh, until it is unlocked or handed to its rightful owner.
    Locked,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Locked => "locked",
        }
    }

    pub fn parse(s: &str) -> Self {
        // Anything unknown (a newer node's status) is treated as disabled: never as active.
        match s {
            "active" => Self::Active,
            "locked" => Self::Locked,
            _ => Self::Disabled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub subject_type: SubjectType,
    pub id_number: Option<String>,
    pub tax_code: Option<String>,
    pub full_name: String,
    pub birthdate: Option<NaiveDate>,
    pub email: Option<String>,
    /// The owner entered a code sent to `email` ("Thông tin cá nhân"); registration stores it
    /// unverified.
    pub email_verified: bool,
    pub ial: Ial,
    pub registration_method: String,
    pub status: AccountStatus,
    pub updated_at: DateTime<Utc>,
    /// The enterprise's name (enterprise accounts), or the official's agency (agency accounts).
    pub organization: Option<String>,
    /// An agency account's key: the official's ID number from the Government-CA certificate.
    /// Agency accounts have no `id_number`: that one belongs to the person's citizen account.
    pub official_id: Option<String>,
}

/// Serialised as its level number (2 or 3).
impl Serialize for Ial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i16(self.level())
    }
}

impl<'de> Deserialize<'de> for Ial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let level = i16::deserialize(d)?;
        Self::from_level(level).ok_or_else(|| serde::de::Error::custom("unknown IAL"))
    }
}
