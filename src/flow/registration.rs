//! Registration: the one account-creation path ([`create_account`], every registration method
//! ends there with its evidence), and the citizen journey at IAL2: "Thuê bao di động" (the
//! carrier confirms the SIM is the person's own) or "Bảo hiểm xã hội" (the BHXH record matches
//! what was entered), then the SMS code, then a password. The account is created only at the
//! very end, in one transaction; the duplicate check is the unique constraint on the ID number.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::Event;
use crate::authenticators::carrier_match::{self, Applicant};
use crate::authenticators::otp::{OtpError, OtpStep, Purpose};
use crate::authenticators::{self, Ctx, Evidence, Subject, bhxh_match, password};
use crate::config::Config;
use crate::domain::{
    Account, BhxhCode, BhxhCodeError, Email, EmailError, IdKind, IdNumber, IdNumberError,
    PasswordError, PasswordPolicy, PhoneNumber, PhoneNumberError, normalize_name, valid_name,
};
use crate::hashing::HashError;
use crate::message::{FieldErrors, Message};
use crate::store::{NewAccount, StoreError};

/// The online registration methods of citizens: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// "Thuê bao di động" (`authenticators::carrier_match`).
    MobileSubscriber,
    /// "Bảo hiểm xã hội" (`authenticators::bhxh_match`).
    Bhxh,
}

impl Method {
    /// As configured (`registration.methods`) and recorded on the account.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MobileSubscriber => "mobile_subscriber",
            Self::Bhxh => "bhxh",
        }
    }

    /// Whether it is offered (`registration.methods`).
    pub fn enabled(self, config: &Config) -> bool {
        config
            .registration
            .methods
            .iter()
            .any(|m| m == self.as_str())
    }
}

/// The registration form as typed.
#[derive(Debug, Clone, Default)]
pub struct RawForm {
    pub id_number: String,
    pub full_name: String,
    pub birthdate: String,
    pub phone: String,
    pub email: String,
    pub bhxh_code: String,
}

/// The form once every field is valid.
#[derive(Debug, Clone)]
pub struct ValidForm {
    pub id_number: IdNumber,
    pub full_name: String,
    pub birthdate: NaiveDate,
    pub phone: PhoneNumber,
    pub email: Option<String>,
    pub bhxh_code: Option<BhxhCode>,
}

/// The flow's state between steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationFlow {
    pub method: Method,
    /// What the method proved (a verified identity).
    pub evidence: Evidence,
    /// The SMS code to the identity's phone (`verified` once entered).
    pub otp: OtpStep,
    /// The pending authorization request, when a portal sent the user here.
    pub ar: Option<String>,
}

impl FlowState for RegistrationFlow {
    const KIND: &'static str = "registration";
}

impl WithOtp for RegistrationFlow {
    fn otp(&self) -> Option<&OtpStep> {
        Some(&self.otp)
    }
    fn otp_mut(&mut self) -> Option<&mut OtpStep> {
        Some(&mut self.otp)
    }
}

/// Why a registration cannot go on.
#[derive(Debug)]
pub enum Refusal {
    Fields(FieldErrors),
    /// An account with this ID number exists (the seeds' message with its three ways out).
    Duplicate,
    /// The method's registry did not vouch for the applicant (carrier or BHXH mismatch, no
    /// such record) or could not be asked: its refusal, with the message to show.
    Proofing(authenticators::Refusal),
    Upstream(&'static str),
    Otp(OtpError),
    /// Password hashing is at capacity: nothing was written; the same form may be sent again.
    Busy,
    Store(StoreError),
}

impl From<authenticators::Refusal> for Refusal {
    fn from(r: authenticators::Refusal) -> Self {
        Self::Proofing(r)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Which checks a registration form gets beyond the common ones.
#[derive(Debug, Clone, Copy)]
pub struct FieldRules {
    /// Only a 12-digit CCCD (the carrier keeps CCCDs, not CMNDs).
    pub cccd_only: bool,
    /// The BHXH code is required.
    pub bhxh_code: bool,
}

pub fn validate(method: Method, raw: &RawForm, today: NaiveDate) -> Result<ValidForm, FieldErrors> {
    let rules = FieldRules {
        cccd_only: method == Method::MobileSubscriber,
        bhxh_code: method == Method::Bhxh,
    };
    validate_with(rules, raw, today)
}

/// The form's fields checked one by one (every error at once, per field), with `rules`: the
/// online methods' forms and the counter's.
pub fn validate_with(
    rules: FieldRules,
    raw: &RawForm,
    today: NaiveDate,
) -> Result<ValidForm, FieldErrors> {
    let mut errors = FieldErrors::new();
    let birthdate = match raw.birthdate.trim() {
        "" => {
            errors.insert("birthdate", Message::new("err_required"));
            None
        }
        s => match NaiveDate::parse_from_str(s, "%d/%m/%Y") {
            Ok(d) if s.len() == 10 && d <= today && d.year() >= 1900 => Some(d),
            Ok(d) if d > today => {
                errors.insert("birthdate", Message::new("err_birthdate_future"));
                None
            }
            _ => {
                errors.insert("birthdate", Message::new("err_birthdate_format"));
                None
            }
        },
    };
    let id_number = match IdNumber::parse(&raw.id_number) {
        Ok(id) if rules.cccd_only && id.kind() == IdKind::Cmnd => {
            // A SIM registered to a 9-digit CMND cannot be matched: the carrier keeps CCCDs.
            errors.insert("id_number", Message::new("err_id_number_cccd_required"));
            None
        }
        Ok(id) => match birthdate.map(|d| id.check_birthdate(d)) {
            Some(Err(_)) => {
                errors.insert("id_number", Message::new("err_id_number_birth_year"));
                None
            }
            _ => Some(id),
        },
        Err(e) => {
            let key = match e {
                IdNumberError::Empty => "err_id_number_required",
                IdNumberError::UnknownProvince => "err_id_number_province",
                IdNumberError::BirthYearMismatch => "err_id_number_birth_year",
                IdNumberError::Malformed => "err_id_number_malformed",
            };
            errors.insert("id_number", Message::new(key));
            None
        }
    };
    let full_name = normalize_name(&raw.full_name);
    if full_name.is_empty() {
        errors.insert("full_name", Message::new("err_required"));
    } else if !valid_name(&full_name) {
        errors.insert("full_name", Message::new("err_full_name_invalid"));
    }
    let phone = match PhoneNumber::parse(&raw.phone) {
        Ok(p) => Some(p),
        Err(e) => {
            let key = match e {
                PhoneNumberError::Empty => "err_required",
                PhoneNumberError::NotMobile => "err_phone_not_mobile",
                PhoneNumberError::Malformed => "err_phone_malformed",
            };
            errors.insert("phone", Message::new(key));
            None
        }
    };
    let email = match Email::parse(&raw.email) {
        Ok(e) => Some(e.as_str().to_string()),
        Err(EmailError::Empty) => None,
        Err(EmailError::Invalid) => {
            errors.insert("email", Message::new("err_email_invalid"));
            None
        }
    };
    let bhxh_code = match rules.bhxh_code {
        false => None,
        true => match BhxhCode::parse(&raw.bhxh_code) {
            Ok(c) => Some(c),
            Err(BhxhCodeError::Empty) => {
                errors.insert("bhxh_code", Message::new("err_required"));
                None
            }
            Err(_) => {
                errors.insert("bhxh_code", Message::new("err_bhxh_malformed"));
                None
            }
        },
    };
    match (id_number, birthdate, phone) {
        (Some(id_number), Some(birthdate), Some(phone)) if errors.is_empty() => Ok(ValidForm {
            id_number,
            full_name,
            birthdate,
            phone,
            email,
            bhxh_code,
        }),
        _ => Err(errors),
    }
}

/// Checks the applicant with the method's registry, refuses duplicates, and sends the first
/// SMS code. Nothing is written to the database.
pub async fn submit(
    ctx: &Ctx<'_>,
    method: Method,
    form: ValidForm,
    ar: Option<String>,
) -> Result<RegistrationFlow, Refusal> {
    let applicant = Applicant {
        id_number: form.id_number.as_str(),
        full_name: &form.full_name,
        birthdate: form.birthdate,
        phone: form.phone.e164(),
        email: form.email.as_deref(),
    };
    let evidence = match method {
        Method::MobileSubscriber => {
            // The seeds' order: the duplicate check, then the carrier.
            refuse_duplicate(ctx, form.id_number.as_str()).await?;
            carrier_match::verify(ctx, &applicant).await?
        }
        Method::Bhxh => {
            let code = form
                .bhxh_code
                .as_ref()
                .map(|c| c.as_str())
                .unwrap_or_default();
            let evidence = bhxh_match::verify(ctx, &applicant, code).await?;
            // The seeds: the duplicate check uses the ID number from the BHXH record.
            if let Subject::Identity(identity) = &evidence.subject {
                refuse_duplicate(ctx, identity.id_number.as_deref().unwrap_or_default()).await?;
            }
            evidence
        }
    };
    let otp = OtpStep::send(ctx, Purpose::Registration, None, form.phone.e164())
        .await
        .map_err(|e| match e {
            OtpError::Sms(err) => {
                tracing::warn!(error = %err, "SMS gateway failed");
                Refusal::Upstream("err_upstream_sms")
            }
            other => Refusal::Otp(other),
        })?;
    Ok(RegistrationFlow {
        method,
        evidence,
        otp,
        ar,
    })
}

async fn refuse_duplicate(ctx: &Ctx<'_>, id_number: &str) -> Result<(), Refusal> {
    match ctx.db.find_account_by_id_number(id_number).await? {
        Some(_) => Err(Refusal::Duplicate),
        None => Ok(()),
    }
}

/// The messages for a password refused by the policy.
pub fn password_message(e: &PasswordError) -> Message {
    match e {
        PasswordError::TooShort { min } => Message::new("err_password_too_short").with("min", min),
        PasswordError::TooLong { max } => Message::new("err_password_too_long").with("max", max),
        PasswordError::MissingLower => Message::new("err_password_lower"),
        PasswordError::MissingUpper => Message::new("err_password_upper"),
        PasswordError::MissingDigit => Message::new("err_password_digit"),
        PasswordError::MissingSpecial => Message::new("err_password_special"),
        PasswordError::Common => Message::new("err_password_common"),
        PasswordError::ContainsPersonalInfo => Message::new("err_password_personal"),
        PasswordError::Repetitive => Message::new("err_password_repetitive"),
    }
}

/// Checks a new password and its confirmation against the configured policy.
/// `personal` are the user's own words ([`password::personal_words`]).
pub fn check_new_password(
    policy: PasswordPolicy,
    password: &str,
    confirm: &str,
    personal: &[String],
) -> Result<(), FieldErrors> {
    let context: Vec<&str> = personal
        .iter()
        .map(String::as_str)
        .filter(|w| !w.is_empty())
        .collect();
    let mut errors = FieldErrors::new();
    if let Err(e) = policy.check(password, &context) {
        errors.insert("password", password_message(&e));
    } else if password != confirm {
        errors.insert("password_confirm", Message::new("err_password_mismatch"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Creates the account after the SMS code was entered, with the password chosen now.
pub async fn complete(
    app: &App,
    flow: &RegistrationFlow,
    password: &str,
    confirm: &str,
    ip: Option<&str>,
) -> Result<Account, Refusal> {
    let Subject::Identity(identity) = &flow.evidence.subject else {
        return Err(Refusal::Store(StoreError::Corrupt(
            "registration without identity".into(),
        )));
    };
    let words = password::personal_words(
        identity.id_number.as_deref(),
        &identity.full_name,
        identity.phone.as_deref(),
    );
    check_new_password(app.password_policy(), password, confirm, &words)
        .map_err(Refusal::Fields)?;
    // Someone may have registered this ID number since the form: say so before the slow hash
    // (the unique constraint still settles a race).
    if let Some(id_number) = identity.id_number.as_deref()
        && app.db.find_account_by_id_number(id_number).await?.is_some()
    {
        return Err(Refusal::Duplicate);
    }
    let hash = app.hasher.hash(password).await.map_err(|e| match e {
        HashError::Busy => Refusal::Busy,
        HashError::Failed(e) => Refusal::Store(StoreError::Corrupt(e)),
    })?;
    create_account(app, &flow.evidence, flow.method.as_str(), Some(hash), ip).await
}

/// The one account-creation path: every registration method ends here with its evidence (a
/// verified identity and the level the method proves). Records the method and the level, and
/// the identity's phone as the first verified phone. Two concurrent registrations of one ID
/// number create exactly one account (the unique constraint decides).
pub async fn create_account(
    app: &App,
    evidence: &Evidence,
    method: &'static str,
    password_hash: Option<String>,
    ip: Option<&str>,
) -> Result<Account, Refusal> {
    create_account_by(app, evidence, method, password_hash, ip, None).await
}

/// A registration's end as a metrics label (`xacthuc_registrations_total{result}`): the
/// account was made, the identity had one already, or the store failed.
pub fn registration_result<T>(made: &Result<T, StoreError>) -> &'static str {
    match made {
        Ok(_) => "succeeded",
        Err(StoreError::Conflict) => "duplicate",
        Err(_) => "failed",
    }
}

/// Who registered the person when it was not themselves: a counter officer (the audit row's
/// actor) at an office (in its detail).
#[derive(Debug, Clone, Copy)]
pub struct Registrar<'a> {
    pub officer_id: &'a str,
    pub office: &'a str,
}

/// [`create_account`], recording the officer who registered the person, if any.
pub async fn create_account_by(
    app: &App,
    evidence: &Evidence,
    method: &'static str,
    password_hash: Option<String>,
    ip: Option<&str>,
    registrar: Option<Registrar<'_>>,
) -> Result<Account, Refusal> {
    let Subject::Identity(identity) = &evidence.subject else {
        return Err(Refusal::Store(StoreError::Corrupt(
            "registration without identity".into(),
        )));
    };
    let ial = match evidence.level {
        authenticators::Attestation::Proves(level) => level,
        // A method that proves no level of its own cannot register anyone.
        authenticators::Attestation::AccountLevel => {
            return Err(Refusal::Store(StoreError::Corrupt(
                "registration without level".into(),
            )));
        }
    };
    let made = app
        .db
        .create_account(
            &NewAccount {
                subject_type: identity.subject_type,
                id_number: identity.id_number.clone(),
                tax_code: identity.tax_code.clone(),
                full_name: identity.full_name.clone(),
                birthdate: identity.birthdate,
                email: identity.email.clone(),
                ial,
                registration_method: method.to_string(),
                phones: identity.phone.clone().into_iter().collect(),
                password_hash,
            },
            app.clock.now(),
        )
        .await;
    app.metrics.registration(method, registration_result(&made));
    let account = made.map_err(|e| match e {
        StoreError::Conflict => Refusal::Duplicate,
        other => Refusal::Store(other),
    })?;
    let mut event = Event::new("account.registered")
        .account(&account.id)
        .ip(ip)
        .detail(json!({ "method": method, "ial": ial.level() }));
    if let Some(r) = registrar {
        event = event.actor(r.officer_id);
        event.detail["office"] = json!(r.office);
    }
    app.audit.record(event).await?;
    Ok(account)
}
