//! "Thuê bao di động" registration proofing: the carrier confirms that the phone's SIM is
//! registered to the person ("chính chủ"). Evidence: a verified identity at IAL2 whose phone is
//! the SIM's (still to be proven held, by the SMS code that follows).

use super::{
    Attestation, Ctx, Evidence, IdentitySource, Refusal, RefusalKind, Subject, VerifiedIdentity,
};
use crate::connectors::{SubscriberCheck, SubscriberQuery};
use crate::domain::{Ial, SubjectType};
use crate::message::Message;

/// What the applicant entered (already validated).
#[derive(Clone, Copy)]
pub struct Applicant<'a> {
    pub id_number: &'a str,
    pub full_name: &'a str,
    pub birthdate: chrono::NaiveDate,
    /// E.164.
    pub phone: &'a str,
    pub email: Option<&'a str>,
}

pub async fn verify(ctx: &Ctx<'_>, a: &Applicant<'_>) -> Result<Evidence, Refusal> {
    let query = SubscriberQuery {
        msisdn: a.phone.to_string(),
        id_number: a.id_number.to_string(),
        full_name: a.full_name.to_string(),
        birthdate: a.birthdate,
    };
    match ctx.connectors.carrier.check_subscriber(&query).await {
        Ok(SubscriberCheck::Match) => {}
        Ok(SubscriberCheck::Mismatch | SubscriberCheck::UnknownNumber) => {
            return Err(Refusal::new(
                RefusalKind::Unauthorized,
                Message::new("err_carrier_mismatch"),
                "carrier_mismatch",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "carrier check failed");
            return Err(Refusal::new(
                RefusalKind::Unavailable,
                Message::new("err_upstream_carrier"),
                "carrier_unavailable",
            ));
        }
    }
    Ok(Evidence {
        subject: Subject::Identity(Box::new(VerifiedIdentity {
            subject_type: SubjectType::Citizen,
            id_number: Some(a.id_number.to_string()),
            tax_code: None,
            full_name: a.full_name.to_string(),
            birthdate: Some(a.birthdate),
            phone: Some(a.phone.to_string()),
            email: a.email.map(str::to_string),
            organization: None,
            certificate: None,
            source: IdentitySource::Carrier,
        })),
        amr: Vec::new(),
        level: Attestation::Proves(Ial::Ial2),
        credential: None,
        phishing_resistant: false,
    })
}
