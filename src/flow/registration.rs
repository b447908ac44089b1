//! Citizen registration at IAL2: "Thuê bao di động" (the carrier confirms the SIM is the
//! person's own, then SMS OTP) and "Bảo hiểm xã hội" (the BHXH record matches what was
//! entered, then SMS OTP), then a password. The account is created only at the very end, in one
//! transaction; the duplicate check is the unique constraint on the ID number.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::audit::Event;
use crate::authenticators::otp::{self, OtpChallenge, OtpError};
use crate::authenticators::password;
use crate::connectors::carrier::{SubscriberCheck, SubscriberQuery};
use crate::domain::{
    Account, BhxhCode, BhxhCodeError, Ial, IdKind, IdNumber, IdNumberError, PasswordError,
    PasswordPolicy, PhoneNumber, PhoneNumberError, SubjectType, fold_name, normalize_name,
    valid_name,
};
use crate::store::{NewAccount, StoreError};

pub const KIND: &str = "registration";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    MobileSubscriber,
    Bhxh,
}

impl Method {
    /// As recorded on the account.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MobileSubscriber => "mobile_subscriber",
            Self::Bhxh => "bhxh",
        }
    }
}

/// A message key of the theme with its placeholders (e.g. `{min}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Message {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }
}

/// Per-field messages, keyed by the form field's name.
pub type FieldErrors = BTreeMap<&'static str, Message>;

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

/// Who is registering, as verified so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applicant {
    pub id_number: String,
    pub full_name: String,
    pub birthdate: NaiveDate,
    /// E.164.
    pub phone: String,
    pub email: Option<String>,
    pub bhxh_code: Option<String>,
}

/// The flow's state between steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationFlow {
    pub method: Method,
    pub applicant: Applicant,
    pub otp: OtpChallenge,
    pub otp_verified: bool,
    /// The pending authorization request, when a portal sent the user here.
    pub ar: Option<String>,
}

/// Why a registration cannot go on.
#[derive(Debug)]
pub enum Refusal {
    Fields(FieldErrors),
    /// An account with this ID number exists (the seeds' message with its three ways out).
    Duplicate,
    CarrierMismatch,
    BhxhNotFound,
    BhxhMismatch,
    Upstream(&'static str),
    Otp(OtpError),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

pub fn validate(method: Method, raw: &RawForm, today: NaiveDate) -> Result<ValidForm, FieldErrors> {
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
        Ok(id) if method == Method::MobileSubscriber && id.kind() == IdKind::Cmnd => {
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
    let email = match raw.email.trim() {
        "" => None,
        e if valid_email(e) => Some(e.to_string()),
        _ => {
            errors.insert("email", Message::new("err_email_invalid"));
            None
        }
    };
    let bhxh_code = match method {
        Method::MobileSubscriber => None,
        Method::Bhxh => match BhxhCode::parse(&raw.bhxh_code) {
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

/// A plausible address: one `@`, no spaces, a dot in the domain; at most 254 characters.
pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// Checks the applicant against the registry of the method, refuses duplicates, and sends the
/// first OTP. Nothing is written to the database.
pub async fn submit(
    app: &App,
    method: Method,
    form: ValidForm,
    ar: Option<String>,
    sms_text: impl Fn(&str, i64) -> String,
) -> Result<RegistrationFlow, Refusal> {
    let id_number = match method {
        Method::MobileSubscriber => {
            // The seeds' order: the duplicate check, then the carrier.
            if app
                .db
                .find_account_by_id_number(form.id_number.as_str())
                .await?
                .is_some()
            {
                return Err(Refusal::Duplicate);
            }
            let query = SubscriberQuery {
                msisdn: form.phone.e164().to_string(),
                id_number: form.id_number.as_str().to_string(),
                full_name: form.full_name.clone(),
                birthdate: form.birthdate,
            };
            match app.connectors.carrier.check_subscriber(&query).await {
                Ok(SubscriberCheck::Match) => {}
                Ok(SubscriberCheck::Mismatch | SubscriberCheck::UnknownNumber) => {
                    return Err(Refusal::CarrierMismatch);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "carrier check failed");
                    return Err(Refusal::Upstream("err_upstream_carrier"));
                }
            }
            form.id_number.as_str().to_string()
        }
        Method::Bhxh => {
            let code = form
                .bhxh_code
                .as_ref()
                .map(|c| c.as_str())
                .unwrap_or_default();
            let record = match app.connectors.bhxh.lookup(code).await {
                Ok(Some(r)) => r,
                Ok(None) => return Err(Refusal::BhxhNotFound),
                Err(e) => {
                    tracing::warn!(error = %e, "BHXH lookup failed");
                    return Err(Refusal::Upstream("err_upstream_bhxh"));
                }
            };
            let matches = record.id_number == form.id_number.as_str()
                && record.birthdate == form.birthdate
                && fold_name(&record.full_name) == fold_name(&form.full_name);
            if !matches {
                return Err(Refusal::BhxhMismatch);
            }
            // The seeds: the duplicate check uses the ID number from the BHXH record.
            if app
                .db
                .find_account_by_id_number(&record.id_number)
                .await?
                .is_some()
            {
                return Err(Refusal::Duplicate);
            }
            record.id_number
        }
    };
    let challenge = otp::send(app, form.phone.e164(), sms_text)
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
        applicant: Applicant {
            id_number,
            full_name: form.full_name,
            birthdate: form.birthdate,
            phone: form.phone.e164().to_string(),
            email: form.email,
            bhxh_code: form.bhxh_code.map(|c| c.as_str().to_string()),
        },
        otp: challenge,
        otp_verified: false,
        ar,
    })
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

/// Creates the account after the OTP was verified. Two concurrent completions for one ID
/// number create exactly one account (the unique constraint decides).
pub async fn complete(
    app: &App,
    flow: &RegistrationFlow,
    password: &str,
    confirm: &str,
    ip: Option<&str>,
) -> Result<Account, Refusal> {
    let a = &flow.applicant;
    let words = password::personal_words(Some(&a.id_number), &a.full_name, Some(&a.phone));
    check_new_password(app.password_policy(), password, confirm, &words)
        .map_err(Refusal::Fields)?;
    let hash = password::hash_blocking(&app.config.passwords, password)
        .await
        .map_err(|e| Refusal::Store(StoreError::Corrupt(e)))?;
    let account = app
        .db
        .create_account(
            &NewAccount {
                subject_type: SubjectType::Citizen,
                id_number: Some(a.id_number.clone()),
                tax_code: None,
                full_name: a.full_name.clone(),
                birthdate: Some(a.birthdate),
                email: a.email.clone(),
                ial: Ial::Ial2,
                registration_method: flow.method.as_str().to_string(),
                phones: vec![a.phone.clone()],
                password_hash: Some(hash),
            },
            app.clock.now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict => Refusal::Duplicate,
            other => Refusal::Store(other),
        })?;
    app.audit
        .record(
            Event::new("account.registered")
                .account(&account.id)
                .ip(ip)
                .detail(json!({ "method": flow.method.as_str(), "ial": 2 })),
        )
        .await?;
    Ok(account)
}
