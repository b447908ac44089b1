//! The counter (Vietnam Post, a public-service desk): an officer checks a citizen's identity
//! documents in person and acts for them; the citizen finishes on their own phone.
//!
//! - **Registration.** The officer enters the identity and the mobile phone; a one-time link
//!   goes to that phone by SMS. The citizen opens it, gets an SMS code ([`CounterFlow`], the
//!   one OTP step, purpose `Registration`), chooses a password, and the account is created by
//!   the one account-creation path (`registration::create_account_by`): registration method
//!   `counter`, IAL2, the phone verified, the officer as the audit row's actor with the office.
//! - **Assisted password reset.** The officer finds the account by ID number, sees its name,
//!   birth date and masked verified phones, and sends the link to the phone the person has with
//!   them (one of those phones: a new phone is out of scope here). Link → SMS code (purpose
//!   `Recovery`) → new password; the link is used up in the password's own transaction, then
//!   every session and refresh token of the account ends and the failed-login counters clear.
//!
//! Links: a 256-bit token (only its SHA-256 is stored), single use, valid
//! [`REGISTRATION_LINK_HOURS`] (the citizen may finish at home) or [`RESET_LINK_MINUTES`] (a
//! reset is finished at the counter). Every officer action is audited with the officer as
//! `actor` and the office in `detail`.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::notify::{self, Notice};
use super::recovery::clear_failures;
use super::registration::{self, FieldRules, RawForm, Registrar, check_new_password};
use super::{FlowState, WithOtp};
use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::otp::{OtpError, OtpStep, Purpose};
use crate::authenticators::{
    Attestation, Ctx, Evidence, IdentitySource, Subject, VerifiedIdentity, password,
};
use crate::domain::{Account, AccountStatus, Ial, IdKind, IdNumber, PhoneNumber, SubjectType};
use crate::hashing::HashError;
use crate::message::{FieldErrors, Message};
use crate::oidc::error::OAuthError;
use crate::oidc::logout;
use crate::random;
use crate::store::{CounterLink, LinkKind, NewCounterLink, Phone, StoreError};

/// How long a registration link may wait: the citizen may finish at home, the same day or
/// the next.
pub const REGISTRATION_LINK_HOURS: i64 = 24;
/// How long a reset link may wait: a reset is finished at the counter, phone in hand.
pub const RESET_LINK_MINUTES: i64 = 60;
/// The registration method recorded on the account and in its level's history.
pub const METHOD: &str = "counter";

/// The officer acting, as the flow needs them: who (the audit's actor) and where.
#[derive(Debug, Clone, Copy)]
pub struct Officer<'a> {
    pub account_id: &'a str,
    pub office: &'a str,
}

/// The counter registration form as typed.
#[derive(Debug, Clone, Default)]
pub struct RawRegistration {
    /// "Đã kiểm tra giấy tờ tùy thân bản gốc" was ticked.
    pub documents_checked: bool,
    pub form: RawForm,
}

/// The form once every field is valid.
#[derive(Debug, Clone)]
pub struct ValidRegistration {
    pub id_number: IdNumber,
    pub full_name: String,
    pub birthdate: NaiveDate,
    pub phone: PhoneNumber,
    pub email: Option<String>,
}

/// Why the counter cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("invalid fields")]
    Fields(FieldErrors),
    /// The ID number has an account already (at the counter: the reset is the way on).
    #[error("the ID number has an account")]
    Duplicate,
    /// No account has this ID number (a reset).
    #[error("no account for the ID number")]
    NoAccount,
    /// The account is locked (a dispute is open): no reset at the counter.
    #[error("the account is not active")]
    Inactive,
    /// The chosen phone is not a verified phone of the account.
    #[error("unknown phone")]
    UnknownPhone,
    /// The SMS gateway did not take the link.
    #[error("the SMS gateway failed")]
    Sms,
    /// The link is unknown, used or expired.
    #[error("the link cannot be used: {0:?}")]
    Link(LinkProblem),
    #[error(transparent)]
    Otp(#[from] OtpError),
    /// Password hashing is at capacity: nothing was written; the same form may be sent again.
    #[error("password hashing is busy")]
    Busy,
    #[error("the flow is not at this step")]
    OutOfOrder,
    #[error("ending the account's sessions failed: {0}")]
    Sessions(OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a link opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    Unknown,
    Used,
    Expired,
}

impl LinkProblem {
    /// The theme string that explains it.
    pub fn message_key(self) -> &'static str {
        match self {
            Self::Unknown => "counter_link_unknown",
            Self::Used => "counter_link_used",
            Self::Expired => "counter_link_expired",
        }
    }
}

impl From<registration::Refusal> for CounterError {
    fn from(r: registration::Refusal) -> Self {
        match r {
            registration::Refusal::Fields(f) => Self::Fields(f),
            registration::Refusal::Duplicate => Self::Duplicate,
            registration::Refusal::Busy => Self::Busy,
            registration::Refusal::Store(e) => Self::Store(e),
            registration::Refusal::Otp(e) => Self::Otp(e),
            other => Self::Store(StoreError::Corrupt(format!("registration: {other:?}"))),
        }
    }
}

/// The citizen's flow from the link to the new password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterFlow {
    pub link_id: String,
    pub kind: LinkKind,
    pub otp: OtpStep,
}

impl FlowState for CounterFlow {
    const KIND: &'static str = "counter";
}

impl WithOtp for CounterFlow {
    fn otp(&self) -> Option<&OtpStep> {
        Some(&self.otp)
    }
    fn otp_mut(&mut self) -> Option<&mut OtpStep> {
        Some(&mut self.otp)
    }
}

/// Checks the counter registration form: the documents checkbox, then the fields as online
/// registration checks them (a 9-digit CMND is accepted: the officer saw the card).
pub fn validate(raw: &RawRegistration, today: NaiveDate) -> Result<ValidRegistration, FieldErrors> {
    let rules = FieldRules {
        cccd_only: false,
        bhxh_code: false,
    };
    let checked = registration::validate_with(rules, &raw.form, today);
    let mut errors = checked.as_ref().err().cloned().unwrap_or_default();
    if !raw.documents_checked {
        errors.insert(
            "documents_checked",
            Message::new("err_counter_documents_unchecked"),
        );
    }
    match checked {
        Ok(v) if errors.is_empty() => Ok(ValidRegistration {
            id_number: v.id_number,
            full_name: v.full_name,
            birthdate: v.birthdate,
            phone: v.phone,
            email: v.email,
        }),
        _ => Err(errors),
    }
}

/// A fresh token and the link that carries it.
fn new_token(app: &App) -> (String, String) {
    let token = random::token();
    let url = app.url(&format!("/counter/complete/{token}"));
    (token, url)
}

/// The link by SMS, in `locale` (unaccented Vietnamese or English, like the other SMS).
async fn send_link(
    app: &App,
    locale: &str,
    kind: LinkKind,
    phone: &str,
    url: &str,
) -> Result<(), CounterError> {
    let (key, purpose) = match kind {
        LinkKind::Registration => ("sms_counter_registration", "counter_registration"),
        LinkKind::Reset => ("sms_counter_reset", "counter_reset"),
    };
    let text = app.theme.t(locale, key).replace("{link}", url);
    match app.connectors.sms.send(phone, &text).await {
        Ok(()) => {
            app.metrics.sms_sent(purpose);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "counter link SMS not sent");
            Err(CounterError::Sms)
        }
    }
}

/// Registers a citizen at the counter: refuses an ID number that has an account, stores the
/// pending registration with the officer's audit row (`counter.registration_started`), and
/// sends the link to the phone. Returns the stored link.
pub async fn start_registration(
    app: &App,
    officer: Officer<'_>,
    form: &ValidRegistration,
    ip: &str,
    locale: &str,
) -> Result<CounterLink, CounterError> {
    if app
        .db
        .find_account_by_id_number(form.id_number.as_str())
        .await?
        .is_some()
    {
        return Err(CounterError::Duplicate);
    }
    let (token, url) = new_token(app);
    let now = app.clock.now();
    let new = NewCounterLink {
        kind: LinkKind::Registration,
        token_sha256: random::sha256_hex(&token),
        officer_id: officer.account_id.to_string(),
        office: officer.office.to_string(),
        account_id: None,
        phone: form.phone.e164().to_string(),
        id_number: Some(form.id_number.as_str().to_string()),
        full_name: Some(form.full_name.clone()),
        birthdate: Some(form.birthdate),
        email: form.email.clone(),
        expires_at: now + Duration::hours(REGISTRATION_LINK_HOURS),
    };
    let row = app.audit.row(
        Event::new("counter.registration_started")
            .actor(officer.account_id)
            .ip(Some(ip))
            .detail(json!({
                "office": officer.office,
                "phone": form.phone.masked(),
                "id_kind": match form.id_number.kind() {
                    IdKind::Cccd => "cccd",
                    IdKind::Cmnd => "cmnd",
                },
            })),
    );
    let link = app.db.insert_counter_link(&new, now, &row).await?;
    Audit::log(&row);
    send_link(app, locale, LinkKind::Registration, &link.phone, &url).await?;
    Ok(link)
}

/// The account behind an ID number, with its verified phones, for the officer to match the
/// person in front of them; audited `counter.account_viewed`.
pub async fn look_up(
    app: &App,
    officer: Officer<'_>,
    id_number: &IdNumber,
    ip: &str,
) -> Result<(Account, Vec<Phone>), CounterError> {
    let account = app
        .db
        .find_account_by_id_number(id_number.as_str())
        .await?
        .ok_or(CounterError::NoAccount)?;
    let phones = app.db.verified_phones(&account.id).await?;
    app.audit
        .record(
            Event::new("counter.account_viewed")
                .account(&account.id)
                .actor(officer.account_id)
                .ip(Some(ip))
                .detail(json!({ "office": officer.office })),
        )
        .await?;
    Ok((account, phones))
}

/// Sends a reset link to one of the account's verified phones (`phone_id`), with the
/// officer's audit row (`counter.reset_started`).
pub async fn start_reset(
    app: &App,
    officer: Officer<'_>,
    account_id: &str,
    phone_id: &str,
    ip: &str,
    locale: &str,
) -> Result<CounterLink, CounterError> {
    let account = app
        .db
        .find_account(account_id)
        .await?
        .ok_or(CounterError::NoAccount)?;
    if account.status != AccountStatus::Active {
        return Err(CounterError::Inactive);
    }
    let phone = app
        .db
        .verified_phones(&account.id)
        .await?
        .into_iter()
        .find(|p| p.id == phone_id)
        .ok_or(CounterError::UnknownPhone)?;
    let masked = PhoneNumber::parse(&phone.e164)
        .map(|p| p.masked())
        .unwrap_or_default();
    let (token, url) = new_token(app);
    let now = app.clock.now();
    let new = NewCounterLink {
        kind: LinkKind::Reset,
        token_sha256: random::sha256_hex(&token),
        officer_id: officer.account_id.to_string(),
        office: officer.office.to_string(),
        account_id: Some(account.id.clone()),
        phone: phone.e164.clone(),
        id_number: account.id_number.clone(),
        full_name: Some(account.full_name.clone()),
        birthdate: account.birthdate,
        email: None,
        expires_at: now + Duration::minutes(RESET_LINK_MINUTES),
    };
    let row = app.audit.row(
        Event::new("counter.reset_started")
            .account(&account.id)
            .actor(officer.account_id)
            .ip(Some(ip))
            .detail(json!({ "office": officer.office, "phone": masked })),
    );
    let link = app.db.insert_counter_link(&new, now, &row).await?;
    Audit::log(&row);
    send_link(app, locale, LinkKind::Reset, &link.phone, &url).await?;
    Ok(link)
}

/// The link of a token, if it can still be used now. A registration whose ID number got an
/// account meanwhile is [`CounterError::Duplicate`].
pub async fn open(app: &App, token: &str) -> Result<CounterLink, CounterError> {
    // Our tokens are 43 base64url characters; anything else is unknown without a lookup.
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(CounterError::Link(LinkProblem::Unknown));
    }
    let link = app
        .db
        .find_counter_link(&random::sha256_hex(token))
        .await?
        .ok_or(CounterError::Link(LinkProblem::Unknown))?;
    usable(app, link).await
}

/// `link` if it is unused, unexpired, and (a registration) its ID number still has no account.
async fn usable(app: &App, link: CounterLink) -> Result<CounterLink, CounterError> {
    if link.used_at.is_some() {
        return Err(CounterError::Link(LinkProblem::Used));
    }
    if link.expires_at <= app.clock.now() {
        return Err(CounterError::Link(LinkProblem::Expired));
    }
    if link.kind == LinkKind::Registration
        && let Some(id_number) = &link.id_number
        && app.db.find_account_by_id_number(id_number).await?.is_some()
    {
        return Err(CounterError::Duplicate);
    }
    Ok(link)
}

/// The citizen starts from the link: an SMS code goes to the link's phone.
pub async fn begin(ctx: &Ctx<'_>, link: &CounterLink) -> Result<CounterFlow, CounterError> {
    let (purpose, account) = match link.kind {
        LinkKind::Registration => (Purpose::Registration, None),
        LinkKind::Reset => (Purpose::Recovery, link.account_id.as_deref()),
    };
    let otp = OtpStep::send(ctx, purpose, account, &link.phone).await?;
    Ok(CounterFlow {
        link_id: link.id.clone(),
        kind: link.kind,
        otp,
    })
}

/// The flow's link, if it can still be used.
async fn link_of(app: &App, flow: &CounterFlow) -> Result<CounterLink, CounterError> {
    if !flow.otp.verified {
        return Err(CounterError::OutOfOrder);
    }
    let link = app
        .db
        .find_counter_link_by_id(&flow.link_id)
        .await?
        .ok_or(CounterError::Link(LinkProblem::Unknown))?;
    usable(app, link).await
}

async fn hash(app: &App, password: &str) -> Result<String, CounterError> {
    app.hasher.hash(password).await.map_err(|e| match e {
        HashError::Busy => CounterError::Busy,
        HashError::Failed(e) => CounterError::Store(StoreError::Corrupt(e)),
    })
}

/// Creates the account registered at the counter with the password chosen now; the link is
/// used up. The unique ID number makes a link create at most one account.
pub async fn complete_registration(
    app: &App,
    flow: &CounterFlow,
    password: &str,
    confirm: &str,
    ip: Option<&str>,
) -> Result<Account, CounterError> {
    let link = link_of(app, flow).await?;
    let (Some(id_number), Some(full_name)) = (&link.id_number, &link.full_name) else {
        return Err(CounterError::Store(StoreError::Corrupt(
            "counter registration without identity".into(),
        )));
    };
    let words = password::personal_words(Some(id_number), full_name, Some(&link.phone));
    check_new_password(app.password_policy(), password, confirm, &words)
        .map_err(CounterError::Fields)?;
    let hash = hash(app, password).await?;
    let evidence = Evidence {
        subject: Subject::Identity(Box::new(VerifiedIdentity {
            subject_type: SubjectType::Citizen,
            id_number: Some(id_number.clone()),
            tax_code: None,
            full_name: full_name.clone(),
            birthdate: link.birthdate,
            // Proven now by the SMS code.
            phone: Some(link.phone.clone()),
            email: link.email.clone(),
            organization: None,
            certificate: None,
            source: IdentitySource::Officer(link.officer_id.clone()),
        })),
        amr: Vec::new(),
        level: Attestation::Proves(Ial::Ial2),
        credential: None,
        phishing_resistant: false,
    };
    let registrar = Registrar {
        officer_id: &link.officer_id,
        office: &link.office,
    };
    let account =
        registration::create_account_by(app, &evidence, METHOD, Some(hash), ip, Some(registrar))
            .await?;
    if !app.db.use_counter_link(&link.id, app.clock.now()).await? {
        tracing::warn!(link = %link.id, "counter link expired while its account was created");
    }
    Ok(account)
}

/// Sets the new password of an assisted reset (the link used up in the same transaction, with
/// the audit row `account.password_reset`), ends every session and refresh token of the
/// account, clears its failed-login counters and tells its phones.
pub async fn complete_reset(
    app: &App,
    flow: &CounterFlow,
    new_password: &str,
    confirm: &str,
    ip: Option<&str>,
    locale: &str,
) -> Result<(), CounterError> {
    let link = link_of(app, flow).await?;
    let account_id = link.account_id.clone().ok_or(CounterError::OutOfOrder)?;
    let account = app
        .db
        .find_account(&account_id)
        .await?
        .ok_or(CounterError::Link(LinkProblem::Unknown))?;
    if account.status != AccountStatus::Active {
        return Err(CounterError::Inactive);
    }
    let words = password::personal_words(
        account.id_number.as_deref(),
        &account.full_name,
        Some(&link.phone),
    );
    check_new_password(app.password_policy(), new_password, confirm, &words)
        .map_err(CounterError::Fields)?;
    let hash = hash(app, new_password).await?;
    let row = app.audit.row(
        Event::new("account.password_reset")
            .account(&account_id)
            .actor(&link.officer_id)
            .ip(ip)
            .detail(json!({ "via": "counter", "office": link.office, "link": link.id })),
    );
    let now = app.clock.now();
    if !app
        .db
        .reset_password_by_link(&link.id, &account_id, &hash, now, &row)
        .await?
    {
        return Err(CounterError::Link(LinkProblem::Used));
    }
    Audit::log(&row);
    logout::end_account(app, &account_id, None, ip)
        .await
        .map_err(CounterError::Sessions)?;
    clear_failures(app, &account).await?;
    notify::account(app, locale, &account_id, Notice::PasswordResetAtCounter).await;
    Ok(())
}
