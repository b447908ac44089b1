//! What a method proves, in one shape for every method: who, how (RFC 8176 `amr`), up to which
//! assurance level, and with which credential.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{CredentialKind, Ial, SubjectType, TrustSet};

/// RFC 8176 authentication method reference values that our methods produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amr {
    /// Password.
    Pwd,
    /// A code sent by SMS to a phone of the account.
    Sms,
    /// Proof of possession of a hardware-bound key (a device-bound passkey, a security key).
    Hwk,
    /// Proof of possession of a software-secured key (a synced passkey).
    Swk,
    /// A user presence test (WebAuthn UP flag).
    User,
    /// A smart card / token holding a certificate (USB token, SIM signature).
    Sc,
    /// A PIN or pattern unlocked the key (a token's or a SIM's PIN).
    Pin,
    /// Multiple-channel authentication: the user confirmed on a second device (a SIM or a
    /// signing app answering a push).
    Mca,
    /// A one-time password (an upstream's own OTP, e.g. VNeID's).
    Otp,
    /// More than one authentication factor was used.
    Mfa,
}

impl Amr {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Sms => "sms",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
            Self::User => "user",
            Self::Sc => "sc",
            Self::Pin => "pin",
            Self::Mca => "mca",
            Self::Otp => "otp",
            Self::Mfa => "mfa",
        }
    }

    /// An RFC 8176 value an upstream sent (its `amr` is passed through); `None` for values we
    /// do not produce, which are dropped.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Pwd,
            Self::Sms,
            Self::Hwk,
            Self::Swk,
            Self::User,
            Self::Sc,
            Self::Pin,
            Self::Mca,
            Self::Otp,
            Self::Mfa,
        ]
        .into_iter()
        .find(|a| a.as_str() == value)
    }
}

/// The level a method can vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attestation {
    /// The account's own level: the method proves it is the account holder, nothing about the
    /// person (password, SMS code, passkey).
    AccountLevel,
    /// The method itself proves the person at this level, whatever the account had (a
    /// qualified signature certificate: IAL3; an upstream's mapped level).
    Proves(Ial),
}

impl Attestation {
    /// The level of a session made with this evidence for an account at `account`: never above
    /// the account's own level, never above what the method can vouch for.
    pub fn session_level(self, account: Ial) -> Ial {
        match self {
            Self::AccountLevel => account,
            Self::Proves(level) => level.min(account),
        }
    }

    /// What two steps of one login vouch for together: a step that proves the person lifts the
    /// whole login to its level (the stronger proof); steps that only prove the holder leave it
    /// at the account's level.
    pub fn and(self, other: Attestation) -> Attestation {
        match (self, other) {
            (Self::Proves(a), Self::Proves(b)) => Self::Proves(a.max(b)),
            (Self::Proves(a), Self::AccountLevel) | (Self::AccountLevel, Self::Proves(a)) => {
                Self::Proves(a)
            }
            (Self::AccountLevel, Self::AccountLevel) => Self::AccountLevel,
        }
    }

    /// Whether a login with this method can end at `need` for an account at `account` (`None`:
    /// the account is not known yet).
    pub fn can_reach(self, need: Ial, account: Option<Ial>) -> bool {
        match (self, account) {
            (Self::AccountLevel, None) => true,
            (Self::AccountLevel, Some(a)) => a >= need,
            (Self::Proves(level), _) => level >= need,
        }
    }
}

/// Where a verified identity comes from (registration evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentitySource {
    /// The carrier confirmed the SIM is registered to this person ("Thuê bao di động").
    Carrier,
    /// The BHXH registry's record matched ("Bảo hiểm xã hội").
    Bhxh,
    /// A signature certificate's subject (USB token, SIM signature, remote signature).
    Certificate,
    /// An upstream identity provider's claims (VNeID).
    Upstream(UpstreamIdentity),
    /// A counter officer checked the documents in person; the officer's account id.
    Officer(String),
}

/// Who an upstream identity provider says the person is, in its own terms (kept beside our
/// mapping: the link to the account, the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamIdentity {
    /// The upstream's configured id (`vneid`).
    pub upstream: String,
    /// Its configured name.
    pub name: String,
    /// Its `sub` for the person.
    pub subject: String,
    /// Its own level claim, as text (VNeID: `1` or `2`).
    pub level: String,
    /// Its `end_session_endpoint`, when its discovery has one (RP-initiated logout): our
    /// logout sends the browser there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// Its ID token of this login, the `id_token_hint` of that logout (left out when larger
    /// than `MAX_ID_TOKEN_HINT`: the session lives in the ephemeral store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The largest upstream ID token kept as a logout hint (bytes). VNeID's are about 1 KiB.
pub const MAX_ID_TOKEN_HINT: usize = 4096;

/// A person (or organisation) as proven by a method: a registration method before an account
/// exists, or a method that identifies someone by who they are rather than by an account's
/// credential (a signature certificate, an upstream identity provider). The login completion
/// finds the account of such an identity ([`crate::flow::login::complete`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedIdentity {
    /// Citizen (also a person whose certificate names the organisation they act for),
    /// enterprise (a certificate of the enterprise itself: tax code only) or agency (a state
    /// official's Government-CA certificate).
    pub subject_type: SubjectType,
    pub id_number: Option<String>,
    pub tax_code: Option<String>,
    /// A person's name, or an enterprise's name for an enterprise.
    pub full_name: String,
    pub birthdate: Option<NaiveDate>,
    /// A phone the method proved the person holds (E.164), if any.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The organisation a certificate names (the enterprise a representative acts for, an
    /// official's agency).
    pub organization: Option<String>,
    /// The certificate that proved it (signature methods).
    pub certificate: Option<CertificateRef>,
    pub source: IdentitySource,
}

/// A signature certificate that proved an identity (USB token, SIM or remote signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRef {
    /// SHA-256 of the certificate's DER, lower-case hex: how it is recorded as a credential.
    pub sha256: String,
    /// The serial number, lower-case hex.
    pub serial: String,
    /// The issuer's distinguished name, for people (RFC 4514).
    pub issuer: String,
    pub not_after: DateTime<Utc>,
    /// Which set of trust anchors vouched for it.
    pub trust: TrustSet,
}

/// Who the evidence is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    /// An existing account (login).
    Account(String),
    /// A verified identity without an account yet (registration).
    Identity(Box<VerifiedIdentity>),
}

/// The credential a method used, for the audit log and "last used".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialUse {
    pub kind: CredentialKind,
    /// The credential's row id.
    pub id: String,
}

/// What a method (or a chain of steps) proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub subject: Subject,
    pub amr: Vec<Amr>,
    pub level: Attestation,
    pub credential: Option<CredentialUse>,
    /// Bound to our origin, so a look-alike site cannot relay it (WebAuthn; the signing agent's
    /// origin-bound signature).
    pub phishing_resistant: bool,
}

impl Evidence {
    /// Evidence about an existing account.
    pub fn account(account_id: &str, amr: Vec<Amr>) -> Self {
        Self {
            subject: Subject::Account(account_id.to_string()),
            amr,
            level: Attestation::AccountLevel,
            credential: None,
            phishing_resistant: false,
        }
    }

    pub fn account_id(&self) -> Option<&str> {
        match &self.subject {
            Subject::Account(id) => Some(id),
            Subject::Identity(_) => None,
        }
    }

    /// The evidence of two steps of one login run one after the other: the first step's
    /// subject, both steps' methods, the stronger proof of level ([`Attestation::and`]), the
    /// later credential. `mfa` is added when the steps used different factors.
    pub fn then(self, next: Evidence) -> Evidence {
        let mut amr: Vec<Amr> = self.amr.clone();
        for a in next.amr.iter().filter(|a| **a != Amr::Mfa) {
            if !amr.contains(a) {
                amr.push(*a);
            }
        }
        amr.retain(|a| *a != Amr::Mfa);
        let factors = amr.iter().filter(|a| !matches!(a, Amr::User)).count();
        if factors >= 2 || self.amr.contains(&Amr::Mfa) || next.amr.contains(&Amr::Mfa) {
            amr.push(Amr::Mfa);
        }
        let level = self.level.and(next.level);
        Evidence {
            subject: self.subject,
            amr,
            level,
            credential: next.credential.or(self.credential),
            phishing_resistant: self.phishing_resistant || next.phishing_resistant,
        }
    }

    pub fn amr_strings(&self) -> Vec<String> {
        self.amr.iter().map(|a| a.as_str().to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_then_sms_is_multi_factor_in_the_documented_order() {
        let e = Evidence::account("a", vec![Amr::Pwd]).then(Evidence::account("a", vec![Amr::Sms]));
        assert_eq!(e.amr_strings(), ["pwd", "sms", "mfa"]);
        assert_eq!(e.level, Attestation::AccountLevel);
    }

    #[test]
    fn a_session_never_exceeds_the_account_or_the_method() {
        assert_eq!(
            Attestation::AccountLevel.session_level(Ial::Ial3),
            Ial::Ial3
        );
        assert_eq!(
            Attestation::Proves(Ial::Ial2).session_level(Ial::Ial3),
            Ial::Ial2
        );
        assert_eq!(
            Attestation::Proves(Ial::Ial3).session_level(Ial::Ial2),
            Ial::Ial2
        );
        assert!(Attestation::AccountLevel.can_reach(Ial::Ial3, None));
        assert!(!Attestation::AccountLevel.can_reach(Ial::Ial3, Some(Ial::Ial2)));
        assert!(Attestation::Proves(Ial::Ial3).can_reach(Ial::Ial3, Some(Ial::Ial2)));
    }
}
