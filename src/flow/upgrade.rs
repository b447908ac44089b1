//! Upgrade from IAL2 to IAL3 ("Nâng cấp lên mức độ cao"): a logged-in citizen signs with a
//! certificate whose ID number is their own, and the account takes the level the signature
//! proves, with the certificate bound to it.
//!
//! The signature is a login method run by the one chain of steps (`flow::login` with
//! `Purpose::Upgrade(account)`); [`raise`] is what happens when the chain is done. The caller
//! then logs the person in with the same evidence (`flow::login::complete`), so the new session
//! is at the new level and a portal waiting for IAL3 gets it (`acr=IAL3`).

use serde_json::json;

use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::{Attestation, CertificateRef, Evidence, Method, Subject};
use crate::domain::{Account, AccountStatus, Ial, SubjectType, TrustSet};
use crate::message::Message;
use crate::store::{LevelRaise, StoreError};

/// Why an upgrade is refused.
#[derive(Debug)]
pub enum Refusal {
    /// The account cannot be upgraded this way (not a citizen's, or not active).
    NotEligible,
    /// The evidence is not a signature proving a higher level.
    NotASignature,
    /// The certificate is someone else's (its ID number is not the account's), or not a
    /// citizen's from a public CA.
    Mismatch,
    /// The certificate is already bound to another account.
    CertificateInUse,
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Refusal {
    pub fn message(&self) -> Message {
        Message::new(match self {
            Self::NotEligible => "err_upgrade_not_eligible",
            Self::NotASignature => "err_certificate_not_a_signature",
            Self::Mismatch => "err_upgrade_mismatch",
            Self::CertificateInUse => "err_upgrade_certificate_in_use",
            Self::Store(_) => "error_temporarily_unavailable",
        })
    }

    /// A stable word for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotEligible => "not_eligible",
            Self::NotASignature => "not_a_signature",
            Self::Mismatch => "id_number_mismatch",
            Self::CertificateInUse => "certificate_in_use",
            Self::Store(_) => "store_unavailable",
        }
    }
}

/// The certificate and level `evidence` lets `account` take, or why not. Pure.
pub fn check(account: &Account, evidence: &Evidence) -> Result<(CertificateRef, Ial), Refusal> {
    if account.subject_type != SubjectType::Citizen || account.status != AccountStatus::Active {
        return Err(Refusal::NotEligible);
    }
    let (Subject::Identity(identity), Attestation::Proves(level)) =
        (&evidence.subject, evidence.level)
    else {
        return Err(Refusal::NotASignature);
    };
    let Some(certificate) = &identity.certificate else {
        return Err(Refusal::NotASignature);
    };
    let same_person = identity.subject_type == SubjectType::Citizen
        && certificate.trust == TrustSet::Public
        && identity.id_number.is_some()
        && identity.id_number == account.id_number;
    if !same_person {
        return Err(Refusal::Mismatch);
    }
    Ok((certificate.clone(), level))
}

/// Raises `account_id` to the level `evidence` proves: the level, the certificate bound as its
/// credential, a history row and `account.level_raised`, in one transaction. An account
/// already at that level is left as it is. A refusal is audited (`account.level_raise_refused`).
pub async fn raise(
    app: &App,
    account_id: &str,
    method: Method,
    evidence: &Evidence,
    ip: &str,
) -> Result<(), Refusal> {
    let result = raise_inner(app, account_id, method, evidence, ip).await;
    if let Err(refusal) = &result {
        let mut detail = json!({ "method": method.name(), "reason": refusal.reason() });
        if let Subject::Identity(identity) = &evidence.subject
            && let Some(c) = &identity.certificate
        {
            detail["certificate"] = json!(c.sha256);
        }
        let event = Event::new("account.level_raise_refused")
            .account(account_id)
            .ip(Some(ip))
            .detail(detail);
        if let Err(e) = app.audit.record(event).await {
            tracing::error!(error = %e, "audit write failed");
        }
    }
    result
}

async fn raise_inner(
    app: &App,
    account_id: &str,
    method: Method,
    evidence: &Evidence,
    ip: &str,
) -> Result<(), Refusal> {
    let account = app
        .db
        .find_account(account_id)
        .await?
        .ok_or(Refusal::NotEligible)?;
    let (certificate, level) = check(&account, evidence)?;
    if account.ial >= level {
        return Ok(());
    }
    let audit = app.audit.row(
        Event::new("account.level_raised")
            .account(account_id)
            .ip(Some(ip))
            .detail(json!({
                "from": account.ial.level(),
                "to": level.level(),
                "method": method.name(),
                "certificate": certificate.sha256,
            })),
    );
    let credential = super::signature_registration::credential_of(&certificate);
    let raised = app
        .db
        .raise_level(
            account_id,
            level,
            method.name(),
            &credential,
            app.clock.now(),
            &audit,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict => Refusal::CertificateInUse,
            other => Refusal::Store(other),
        })?;
    if raised == LevelRaise::Raised {
        Audit::log(&audit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::VerifiedIdentity;
    use crate::flow::signature_registration::tests::{evidence, person};

    fn account(ial: Ial) -> Account {
        Account {
            id: "acc".into(),
            subject_type: SubjectType::Citizen,
            id_number: Some("001090012345".into()),
            tax_code: None,
            full_name: "Nguyễn Văn An".into(),
            birthdate: None,
            email: None,
            email_verified: false,
            ial,
            registration_method: "mobile_subscriber".into(),
            status: AccountStatus::Active,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            organization: None,
            official_id: None,
        }
    }

    #[test]
    fn only_the_account_holders_own_certificate_raises_it() {
        let mine = evidence(person(SubjectType::Citizen, TrustSet::Public));
        let (c, level) = check(&account(Ial::Ial2), &mine).ok().unwrap();
        assert_eq!(level, Ial::Ial3);
        assert_eq!(c.trust, TrustSet::Public);
        let someone_else = evidence(VerifiedIdentity {
            id_number: Some("079090054321".into()),
            ..person(SubjectType::Citizen, TrustSet::Public)
        });
        assert!(matches!(
            check(&account(Ial::Ial2), &someone_else),
            Err(Refusal::Mismatch)
        ));
        // A Government-CA certificate with the same number is an official's, not the citizen's.
        let official = evidence(person(SubjectType::Agency, TrustSet::Government));
        assert!(matches!(
            check(&account(Ial::Ial2), &official),
            Err(Refusal::Mismatch)
        ));
        let mut enterprise = account(Ial::Ial2);
        enterprise.subject_type = SubjectType::Enterprise;
        assert!(matches!(
            check(&enterprise, &mine),
            Err(Refusal::NotEligible)
        ));
        let password = Evidence::account("acc", vec![]);
        assert!(matches!(
            check(&account(Ial::Ial2), &password),
            Err(Refusal::NotASignature)
        ));
    }
}
