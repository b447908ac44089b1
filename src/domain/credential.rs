//! What an account proves itself with. A credential has a kind; the kinds are a closed set so
//! that every place that lists or removes credentials decides for each kind explicitly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An Argon2id hash of the password ("CMT/CCCD" login).
    Password,
    /// A WebAuthn public-key credential (passkey or security key).
    Passkey,
    /// An X.509 certificate bound to the account (USB token, SIM or remote signature).
    Certificate,
    /// An account at an upstream identity provider (VNeID) linked to this one.
    FederatedLink,
}

impl CredentialKind {
    pub const ALL: [CredentialKind; 4] = [
        Self::Password,
        Self::Passkey,
        Self::Certificate,
        Self::FederatedLink,
    ];

    /// As stored in `credentials.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Passkey => "passkey",
            Self::Certificate => "certificate",
            Self::FederatedLink => "federated_link",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the user manages credentials of this kind in "Thông tin cá nhân" (adds, names,
    /// removes them). The password has its own page; links and certificates come with the
    /// methods that make them.
    pub fn user_managed(self) -> bool {
        match self {
            Self::Passkey => true,
            Self::Password | Self::Certificate | Self::FederatedLink => false,
        }
    }
}

/// A credential as listed to its owner (no verifier material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSummary {
    pub id: String,
    pub kind: CredentialKind,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}
