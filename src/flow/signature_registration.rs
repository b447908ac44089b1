//! Registration at IAL3 by a signature certificate ("USB ký số", "SIM ký số", "Chữ ký số cá
//! nhân"): citizens, enterprises and state officials.
//!
//! The signature itself is a login method run by the one chain of steps (`flow::login` with
//! `Purpose::Register`); no method knows it is registering someone. When the chain is done,
//! [`prepare`] checks that the certificate is of the class the person chose ("Công dân",
//! "Doanh nghiệp", "Cơ quan nhà nước") and that no account exists for it, and keeps the
//! evidence in a flow while the page shows the identity read from the certificate. [`complete`]
//! then creates the account in one transaction: the account, the certificate as its credential,
//! the first row of its level's history and the audit row. The caller logs the person in.
//!
//! Keys (the duplicate checks, also unique constraints): a citizen's ID number, an
//! enterprise's tax code (validated by `domain::TaxCode` and stored normalised), a state
//! official's ID number in `accounts.official_id` (their citizen account, if any, keeps its own
//! `id_number`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::FlowState;
use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::{
    Attestation, CertificateRef, Evidence, Method, Subject, VerifiedIdentity,
};
use crate::domain::{
    Account, Email, EmailError, Ial, SubjectType, TaxCode, TaxCodeError, TrustSet,
};
use crate::message::{FieldErrors, Message};
use crate::store::{CertificateCredential, Database, Extras, NewAccount, StoreError};

/// A verified identity waiting for "Đăng ký" (and, for an enterprise, its email).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureRegistrationFlow {
    pub subject: SubjectType,
    /// The signature method that proved the identity.
    pub method: Method,
    /// What it proved: a [`VerifiedIdentity`] with its certificate, at `Proves(level)`.
    pub evidence: Evidence,
    /// The pending authorization request, when a portal sent the person here.
    pub ar: Option<String>,
}

impl FlowState for SignatureRegistrationFlow {
    const KIND: &'static str = "signature_registration";
}

/// Why an IAL3 registration stops.
#[derive(Debug)]
pub enum Refusal {
    /// The certificate is not of the class the person chose (the message says which).
    WrongClass(&'static str),
    /// The enterprise certificate's tax code is not a valid one.
    TaxCode(TaxCodeError),
    /// An account exists for this identity (the seeds' message with its three ways out).
    Duplicate,
    /// The email field (required for an enterprise).
    Fields(FieldErrors),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Refusal {
    /// The message shown to a person registering as `subject`.
    pub fn message(&self, subject: SubjectType) -> Message {
        match self {
            Self::WrongClass(key) => Message::new(key),
            Self::TaxCode(_) => Message::new("err_certificate_tax_code"),
            Self::Duplicate => Message::new(match subject {
                SubjectType::Citizen => "err_duplicate_account",
                SubjectType::Enterprise => "err_duplicate_enterprise",
                SubjectType::Agency => "err_duplicate_agency",
            }),
            Self::Fields(_) | Self::Store(_) => Message::new("error_temporarily_unavailable"),
        }
    }

    /// A stable word for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::WrongClass(_) => "certificate_wrong_class",
            Self::TaxCode(_) => "certificate_tax_code_invalid",
            Self::Duplicate => "duplicate_account",
            Self::Fields(_) => "fields",
            Self::Store(_) => "store_unavailable",
        }
    }
}

/// The identity and level a registration for `subject` may use from `evidence`, or why not.
/// Pure: the rules of who may register as what.
///
/// - "Công dân": a citizen's certificate from a public CA (a person acting for an organisation
///   is a citizen too: the person registers, not the organisation).
/// - "Doanh nghiệp": an enterprise's own certificate (a tax code and no personal ID number)
///   from a public CA, with a valid tax code; a representative's certificate (tax code and
///   CCCD) is the person's, not the enterprise's.
/// - "Cơ quan nhà nước": a Government-CA certificate of an official, naming the agency.
pub fn check_identity(
    subject: SubjectType,
    evidence: &Evidence,
) -> Result<(VerifiedIdentity, Ial), Refusal> {
    let (Subject::Identity(identity), Attestation::Proves(level)) =
        (&evidence.subject, evidence.level)
    else {
        return Err(Refusal::WrongClass("err_certificate_not_a_signature"));
    };
    let Some(certificate) = &identity.certificate else {
        return Err(Refusal::WrongClass("err_certificate_not_a_signature"));
    };
    let mut identity = (**identity).clone();
    let wrong = |key| Err(Refusal::WrongClass(key));
    match subject {
        // The trust set first: a Government-CA certificate is always classed an official's,
        // so checked after the class its own message ("for Cơ quan nhà nước only") would
        // never be shown.
        SubjectType::Citizen => {
            if certificate.trust != TrustSet::Public {
                return wrong("err_certificate_not_public");
            }
            if identity.subject_type != SubjectType::Citizen || identity.id_number.is_none() {
                return wrong("err_certificate_not_citizen");
            }
        }
        SubjectType::Enterprise => {
            if certificate.trust != TrustSet::Public {
                return wrong("err_certificate_not_public");
            }
            if identity.subject_type != SubjectType::Enterprise || identity.id_number.is_some() {
                return wrong("err_certificate_not_enterprise");
            }
            let raw = identity.tax_code.as_deref().unwrap_or_default();
            let tax_code = TaxCode::parse(raw).map_err(Refusal::TaxCode)?;
            identity.tax_code = Some(tax_code.as_str().to_string());
            if identity.organization.is_none() {
                identity.organization = Some(identity.full_name.clone());
            }
        }
        SubjectType::Agency => {
            if certificate.trust != TrustSet::Government
                || identity.subject_type != SubjectType::Agency
                || identity.id_number.is_none()
                || identity.organization.is_none()
            {
                return wrong("err_certificate_not_government");
            }
        }
    }
    Ok((identity, level))
}

/// Checks the identity a signature proved for a registration as `subject`, and that no
/// account exists for it; the flow to keep while the page shows it. Writes nothing.
pub async fn prepare(
    db: &Database,
    subject: SubjectType,
    method: Method,
    evidence: Evidence,
    ar: Option<String>,
) -> Result<SignatureRegistrationFlow, Refusal> {
    let (identity, _) = check_identity(subject, &evidence)?;
    if existing(db, subject, &identity).await?.is_some() {
        return Err(Refusal::Duplicate);
    }
    let evidence = Evidence {
        subject: Subject::Identity(Box::new(identity)),
        ..evidence
    };
    Ok(SignatureRegistrationFlow {
        subject,
        method,
        evidence,
        ar,
    })
}

/// The account already registered for this identity, by the subject's key.
async fn existing(
    db: &Database,
    subject: SubjectType,
    identity: &VerifiedIdentity,
) -> Result<Option<Account>, StoreError> {
    match (subject, &identity.id_number, &identity.tax_code) {
        (SubjectType::Citizen, Some(id), _) => db.find_account_by_id_number(id).await,
        (SubjectType::Enterprise, _, Some(tax_code)) => db.find_account_by_tax_code(tax_code).await,
        (SubjectType::Agency, Some(id), _) => db.find_account_by_official_id(id).await,
        _ => Ok(None),
    }
}

/// What the page shows before "Đăng ký": the identity read from the certificate.
pub fn identity_of(flow: &SignatureRegistrationFlow) -> Option<&VerifiedIdentity> {
    match &flow.evidence.subject {
        Subject::Identity(identity) => Some(identity),
        Subject::Account(_) => None,
    }
}

/// Creates the account ("Đăng ký") with the email typed on the page (required for an
/// enterprise): the account, its certificate, its level's first history row and the audit row
/// `account.registered`, in one transaction. A concurrent registration of the same identity
/// is [`Refusal::Duplicate`] (the unique constraints decide), and nothing is written.
pub async fn complete(
    app: &App,
    flow: &SignatureRegistrationFlow,
    email: &str,
    ip: Option<&str>,
) -> Result<Account, Refusal> {
    let (identity, level) = check_identity(flow.subject, &flow.evidence)?;
    let email = match Email::parse(email) {
        Ok(e) => Some(e.as_str().to_string()),
        Err(EmailError::Empty) if flow.subject == SubjectType::Enterprise => {
            return Err(fields("email", "err_email_required_enterprise"));
        }
        Err(EmailError::Empty) => None,
        Err(EmailError::Invalid) => return Err(fields("email", "err_email_invalid")),
    };
    let Some(certificate) = &identity.certificate else {
        return Err(Refusal::WrongClass("err_certificate_not_a_signature"));
    };
    // An official's ID number is the agency account's key, not its `id_number`: that belongs
    // to the person's citizen account.
    let (id_number, official_id) = match flow.subject {
        SubjectType::Agency => (None, identity.id_number.clone()),
        SubjectType::Citizen | SubjectType::Enterprise => (identity.id_number.clone(), None),
    };
    let organization = match flow.subject {
        SubjectType::Citizen => None,
        SubjectType::Enterprise | SubjectType::Agency => identity.organization.clone(),
    };
    // Only the enterprise's own account is keyed by the tax code: a representative's
    // certificate names the enterprise, but the account is the person's.
    let tax_code = match flow.subject {
        SubjectType::Enterprise => identity.tax_code.clone(),
        SubjectType::Citizen | SubjectType::Agency => None,
    };
    let new = NewAccount {
        subject_type: flow.subject,
        id_number,
        tax_code,
        full_name: identity.full_name.clone(),
        birthdate: identity.birthdate,
        email,
        ial: level,
        registration_method: flow.method.name().to_string(),
        phones: identity.phone.clone().into_iter().collect(),
        password_hash: None,
    };
    let extras = Extras {
        organization,
        official_id,
        certificate_sha256: Some(certificate.sha256.clone()),
    };
    let audit = app
        .audit
        .row(Event::new("account.registered").ip(ip).detail(json!({
            "method": flow.method.name(),
            "ial": level.level(),
            "subject_type": flow.subject.as_str(),
            "certificate": certificate.sha256,
        })));
    let account = app
        .db
        .create_certified_account(
            &new,
            &extras,
            &credential_of(certificate),
            app.clock.now(),
            &audit,
        )
        .await;
    app.metrics.registration(
        flow.method.name(),
        super::registration::registration_result(&account),
    );
    let account = account.map_err(|e| match e {
        StoreError::Conflict => Refusal::Duplicate,
        other => Refusal::Store(other),
    })?;
    Audit::log(&audit);
    Ok(account)
}

fn fields(field: &'static str, key: &'static str) -> Refusal {
    let mut errors = FieldErrors::new();
    errors.insert(field, Message::new(key));
    Refusal::Fields(errors)
}

/// A certificate as an account's credential: found by its SHA-256; what is kept of it (the
/// certificate itself is the token's, re-presented at each login).
pub fn credential_of(c: &CertificateRef) -> CertificateCredential {
    CertificateCredential {
        sha256: c.sha256.clone(),
        data: json!({
            "serial": c.serial,
            "issuer": c.issuer,
            "not_after": c.not_after.to_rfc3339(),
            "trust": c.trust.as_str(),
        })
        .to_string(),
        label: c.issuer.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::authenticators::{Amr, IdentitySource};
    use chrono::TimeZone;

    pub fn certificate(trust: TrustSet) -> CertificateRef {
        CertificateRef {
            sha256: "ab".repeat(32),
            serial: "01".into(),
            issuer: "CN=Test CA".into(),
            not_after: chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
            trust,
        }
    }

    pub fn evidence(identity: VerifiedIdentity) -> Evidence {
        Evidence {
            subject: Subject::Identity(Box::new(identity)),
            amr: vec![Amr::Hwk, Amr::Pin, Amr::Mca],
            level: Attestation::Proves(Ial::Ial3),
            credential: None,
            phishing_resistant: false,
        }
    }

    pub fn person(subject_type: SubjectType, trust: TrustSet) -> VerifiedIdentity {
        VerifiedIdentity {
            subject_type,
            id_number: Some("001090012345".into()),
            tax_code: None,
            full_name: "Nguyễn Văn An".into(),
            birthdate: None,
            phone: None,
            email: None,
            organization: None,
            certificate: Some(certificate(trust)),
            source: IdentitySource::Certificate,
        }
    }

    fn enterprise(tax_code: &str) -> VerifiedIdentity {
        VerifiedIdentity {
            id_number: None,
            tax_code: Some(tax_code.into()),
            full_name: "Công ty TNHH Ví Dụ".into(),
            ..person(SubjectType::Enterprise, TrustSet::Public)
        }
    }

    fn class(subject: SubjectType, identity: VerifiedIdentity) -> Result<(), &'static str> {
        check_identity(subject, &evidence(identity))
            .map(|_| ())
            .map_err(|r| match r {
                Refusal::WrongClass(key) => key,
                other => other.reason(),
            })
    }

    #[test]
    fn each_subject_takes_only_its_own_class_of_certificate() {
        use SubjectType::*;
        let citizen = person(Citizen, TrustSet::Public);
        assert_eq!(class(Citizen, citizen.clone()), Ok(()));
        // A representative (tax code + CCCD) is a citizen: registers as a person, not as the
        // enterprise.
        let representative = VerifiedIdentity {
            tax_code: Some("0100233488".into()),
            organization: Some("Công ty TNHH Ví Dụ".into()),
            ..citizen.clone()
        };
        assert_eq!(class(Citizen, representative.clone()), Ok(()));
        assert_eq!(
            class(Enterprise, representative),
            Err("err_certificate_not_enterprise")
        );
        assert_eq!(class(Enterprise, enterprise("0100233488")), Ok(()));
        assert_eq!(
            class(Citizen, enterprise("0100233488")),
            Err("err_certificate_not_citizen")
        );
        assert_eq!(
            class(Enterprise, enterprise("0100233480")),
            Err("certificate_tax_code_invalid")
        );
        // A public-CA certificate for "Cơ quan nhà nước", and a Government one elsewhere.
        assert_eq!(
            class(Agency, citizen.clone()),
            Err("err_certificate_not_government")
        );
        let official = VerifiedIdentity {
            organization: Some("Bộ Tư pháp".into()),
            ..person(Agency, TrustSet::Government)
        };
        assert_eq!(class(Agency, official.clone()), Ok(()));
        // An official's Government-CA certificate is told apart by its CA, for both
        // public subjects.
        assert_eq!(
            class(Citizen, official.clone()),
            Err("err_certificate_not_public")
        );
        assert_eq!(
            class(Enterprise, official.clone()),
            Err("err_certificate_not_public")
        );
        let no_agency = VerifiedIdentity {
            organization: None,
            ..official
        };
        assert_eq!(
            class(Agency, no_agency),
            Err("err_certificate_not_government")
        );
    }

    #[test]
    fn an_enterprise_tax_code_is_kept_normalised_and_named() {
        let (identity, level) = check_identity(
            SubjectType::Enterprise,
            &evidence(enterprise("0314409058002")),
        )
        .ok()
        .unwrap();
        assert_eq!(identity.tax_code.as_deref(), Some("0314409058-002"));
        assert_eq!(identity.organization.as_deref(), Some("Công ty TNHH Ví Dụ"));
        assert_eq!(level, Ial::Ial3);
    }

    #[test]
    fn evidence_that_is_not_a_signature_registers_nobody() {
        let mut e = evidence(person(SubjectType::Citizen, TrustSet::Public));
        e.level = Attestation::AccountLevel;
        assert!(matches!(
            check_identity(SubjectType::Citizen, &e),
            Err(Refusal::WrongClass("err_certificate_not_a_signature"))
        ));
        let mut no_cert = person(SubjectType::Citizen, TrustSet::Public);
        no_cert.certificate = None;
        assert!(check_identity(SubjectType::Citizen, &evidence(no_cert)).is_err());
        let account = Evidence::account("a", vec![Amr::Pwd]);
        assert!(check_identity(SubjectType::Citizen, &account).is_err());
    }
}
