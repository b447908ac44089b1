//! "Bảo hiểm xã hội" registration proofing: the BHXH registry's record for the code entered
//! matches the ID number, name (folded) and birth date entered. Evidence: a verified identity at
//! IAL2 with the record's ID number (the seeds: the duplicate check uses the record's number).
//!
//! Those facts are not secret, so the phone must be the person's too
//! (`registration.bhxh_phone_check`, on by default): when the record has a phone on file, the
//! entered phone must be that one (the code goes only there); when it has none, the carrier
//! must confirm the entered phone is registered to the record's person ("chính chủ").

use super::carrier_match::{self, Applicant};
use super::{
    Attestation, Ctx, Evidence, IdentitySource, Refusal, RefusalKind, Subject, VerifiedIdentity,
};
use crate::domain::{Ial, SubjectType, fold_name};
use crate::message::Message;

pub async fn verify(
    ctx: &Ctx<'_>,
    a: &Applicant<'_>,
    bhxh_code: &str,
) -> Result<Evidence, Refusal> {
    let refuse = |key: &'static str, reason: &'static str| {
        Refusal::new(RefusalKind::Unauthorized, Message::new(key), reason)
    };
    let record = match ctx.connectors.bhxh.lookup(bhxh_code).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(refuse("err_bhxh_not_found", "bhxh_not_found")),
        Err(e) => {
            tracing::warn!(error = %e, "BHXH lookup failed");
            return Err(Refusal::new(
                RefusalKind::Unavailable,
                Message::new("err_upstream_bhxh"),
                "bhxh_unavailable",
            ));
        }
    };
    let matches = record.id_number == a.id_number
        && record.birthdate == a.birthdate
        && fold_name(&record.full_name) == fold_name(a.full_name);
    if !matches {
        return Err(refuse("err_bhxh_mismatch", "bhxh_mismatch"));
    }
    if ctx.config.registration.bhxh_phone_check {
        match &record.phone {
            Some(on_file) if on_file != a.phone => {
                return Err(refuse("err_bhxh_mismatch", "bhxh_phone_mismatch"));
            }
            Some(_) => {}
            None => {
                let person = Applicant {
                    id_number: &record.id_number,
                    ..*a
                };
                carrier_match::verify(ctx, &person).await?;
            }
        }
    }
    Ok(Evidence {
        subject: Subject::Identity(Box::new(VerifiedIdentity {
            subject_type: SubjectType::Citizen,
            id_number: Some(record.id_number),
            tax_code: None,
            full_name: a.full_name.to_string(),
            birthdate: Some(a.birthdate),
            phone: Some(a.phone.to_string()),
            email: a.email.map(str::to_string),
            organization: None,
            certificate: None,
            source: IdentitySource::Bhxh,
        })),
        amr: Vec::new(),
        level: Attestation::Proves(Ial::Ial2),
        credential: None,
        phishing_resistant: false,
    })
}
