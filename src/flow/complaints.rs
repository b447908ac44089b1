//! Complaints ("khiếu nại") about an ID number registered by someone else (issue 9, item 5).
//!
//! - **Filing** (`file`): anyone, from the duplicate-account message. The complainant gets the
//!   same answer and the same SMS whether or not an account holds the number: nothing about the
//!   disputed account (its existence, name or phones) is ever told to them. The complaint keeps
//!   the account that held the number (internal), and gets a ticket `KN-` + eight characters
//!   drawn from an alphabet without look-alikes (`new_ticket`): random rather than a sequence,
//!   so a ticket neither reveals how many complaints there are nor lets anyone guess another's.
//! - **Handling** (`act`), by a counter officer or an admin in the staff area: lock the
//!   disputed account (its sessions and refresh tokens end), reject (unlocking it if this
//!   complaint locked it), or — after checking the complainant's original CCCD in person —
//!   transfer it to them (`store::Transfer`). The moves are `ComplaintStatus::after`, the one
//!   place they are decided; the store moves a complaint only from the status the officer saw,
//!   so of two officers acting at once the second is told it moved meanwhile.
//! - Every step is audited (`complaint.filed`, `complaint.lock`, `complaint.reject`,
//!   `complaint.transfer`, with the officer as actor and their office in the detail) and SMS'd
//!   to the complainant's contact phone in their language (`sms_complaint_*`).

use chrono::{Datelike, NaiveDate};
use serde_json::json;

use crate::app::App;
use crate::audit::{Audit, Event};
use crate::domain::{
    Account, Email, EmailError, IdNumber, IdNumberError, PhoneNumber, PhoneNumberError,
    normalize_name, valid_name,
};
use crate::message::{FieldErrors, Message};
use crate::oidc::error::OAuthError;
use crate::oidc::logout;
use crate::store::StoreError;
use crate::store::complaints::{AccountChange, Handler, NewComplaint, Transfer};

pub use crate::domain::{Complaint, ComplaintAction, ComplaintStatus};

/// The description's bounds, in characters: enough to say what happened, not a document.
pub const DESCRIPTION_MIN: usize = 20;
pub const DESCRIPTION_MAX: usize = 2000;

/// The ticket's alphabet: digits and capitals without 0/O, 1/I/L, so it is read out over the
/// phone and typed at the counter without mistakes.
const TICKET_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const TICKET_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ComplaintError {
    #[error("invalid fields")]
    Fields(FieldErrors),
    #[error("no such complaint")]
    NotFound,
    /// The action does not apply to the complaint's status (finished, or not yet locked).
    #[error("{action:?} does not apply to a complaint {status:?}")]
    NotAllowed {
        status: ComplaintStatus,
        action: ComplaintAction,
    },
    /// Another officer moved the complaint since this one looked at it.
    #[error("the complaint was moved meanwhile")]
    Conflict,
    /// Locking or transferring needs an account holding the number, and none does.
    #[error("no account holds the disputed number")]
    NoAccount,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ending the account's sessions failed: {0}")]
    Sessions(OAuthError),
}

/// The complaint form as posted.
#[derive(Debug, Clone, Default)]
pub struct RawComplaint {
    pub id_number: String,
    pub full_name: String,
    pub phone: String,
    pub email: String,
    pub description: String,
}

/// A validated complaint form.
#[derive(Debug, Clone)]
pub struct ValidComplaint {
    pub id_number: IdNumber,
    pub full_name: String,
    pub phone: PhoneNumber,
    pub email: Option<Email>,
    pub description: String,
}

/// Checks every field of the form; all the errors at once.
pub fn validate(raw: &RawComplaint) -> Result<ValidComplaint, FieldErrors> {
    let mut errors = FieldErrors::new();
    let id_number = id_number(&raw.id_number, &mut errors);
    let full_name = full_name(&raw.full_name, &mut errors);
    let phone = phone(&raw.phone, "phone", &mut errors);
    let email = match Email::parse(&raw.email) {
        Ok(e) => Some(e),
        Err(EmailError::Empty) => None,
        Err(EmailError::Invalid) => {
            errors.insert("email", Message::new("err_email_invalid"));
            None
        }
    };
    let description = raw.description.trim().to_string();
    let length = description.chars().count();
    if length == 0 {
        errors.insert("description", Message::new("err_required"));
    } else if !(DESCRIPTION_MIN..=DESCRIPTION_MAX).contains(&length) {
        errors.insert(
            "description",
            Message::new("err_complaint_description_length")
                .with("min", DESCRIPTION_MIN)
                .with("max", DESCRIPTION_MAX),
        );
    }
    match (id_number, full_name, phone) {
        (Some(id_number), Some(full_name), Some(phone)) if errors.is_empty() => {
            Ok(ValidComplaint {
                id_number,
                full_name,
                phone,
                email,
                description,
            })
        }
        _ => Err(errors),
    }
}

fn id_number(raw: &str, errors: &mut FieldErrors) -> Option<IdNumber> {
    match IdNumber::parse(raw) {
        Ok(id) => Some(id),
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
    }
}

fn full_name(raw: &str, errors: &mut FieldErrors) -> Option<String> {
    let name = normalize_name(raw);
    if name.is_empty() {
        errors.insert("full_name", Message::new("err_required"));
        None
    } else if !valid_name(&name) {
        errors.insert("full_name", Message::new("err_full_name_invalid"));
        None
    } else {
        Some(name)
    }
}

fn phone(raw: &str, field: &'static str, errors: &mut FieldErrors) -> Option<PhoneNumber> {
    match PhoneNumber::parse(raw) {
        Ok(p) => Some(p),
        Err(e) => {
            let key = match e {
                PhoneNumberError::Empty => "err_required",
                PhoneNumberError::NotMobile => "err_phone_not_mobile",
                PhoneNumberError::Malformed => "err_phone_malformed",
            };
            errors.insert(field, Message::new(key));
            None
        }
    }
}

/// A fresh ticket: `KN-` and eight characters of [`TICKET_ALPHABET`] (31⁸, about 40 bits),
/// each drawn without bias (a byte at or above the largest multiple of 31 is drawn again).
pub fn new_ticket() -> String {
    let n = TICKET_ALPHABET.len();
    let fair = 256 - 256 % n;
    let mut code = String::with_capacity(TICKET_LEN);
    while code.len() < TICKET_LEN {
        let [b] = crate::random::bytes::<1>();
        if (b as usize) < fair {
            code.push(TICKET_ALPHABET[b as usize % n] as char);
        }
    }
    format!("KN-{code}")
}

/// Whether `s` looks like a ticket (before any lookup: a path segment from the browser).
pub fn is_ticket(s: &str) -> bool {
    s.strip_prefix("KN-").is_some_and(|code| {
        code.len() == TICKET_LEN && code.bytes().all(|b| TICKET_ALPHABET.contains(&b))
    })
}

/// Files the complaint (audited `complaint.filed`, about the disputed account if one holds the
/// number) and tells the contact phone its ticket. The answer is the same either way.
pub async fn file(
    app: &App,
    form: &ValidComplaint,
    locale: &str,
    ip: Option<&str>,
) -> Result<Complaint, ComplaintError> {
    let disputed = app
        .db
        .find_account_by_id_number(form.id_number.as_str())
        .await?
        .map(|a| a.id);
    let mut tries = 0;
    let complaint = loop {
        let new = NewComplaint {
            ticket: new_ticket(),
            id_number: form.id_number.as_str().to_string(),
            account_id: disputed.clone(),
            complainant_name: form.full_name.clone(),
            contact_phone: form.phone.e164().to_string(),
            contact_email: form.email.as_ref().map(|e| e.as_str().to_string()),
            description: form.description.clone(),
            locale: locale.to_string(),
        };
        let mut event = Event::new("complaint.filed").ip(ip).detail(json!({
            "id_number": new.id_number,
            "contact_phone": form.phone.masked(),
        }));
        if let Some(id) = &disputed {
            event = event.account(id);
        }
        let row = app.audit.row(event);
        match app.db.file_complaint(&new, app.clock.now(), &row).await {
            Ok(c) => {
                Audit::log(&row);
                break c;
            }
            // A ticket drawn twice in 2^40: draw again.
            Err(StoreError::Conflict) if tries < 3 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    };
    notify(
        app,
        &complaint,
        "sms_complaint_filed",
        &complaint.contact_phone,
    )
    .await;
    Ok(complaint)
}

/// The officers' queue: open and in-progress complaints, oldest first.
pub async fn queue(app: &App) -> Result<Vec<Complaint>, ComplaintError> {
    Ok(app.db.complaint_queue().await?)
}

/// What the staff sees of the disputed account (never the complainant).
#[derive(Debug, Clone)]
pub struct Disputed {
    pub account: Account,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Masked ("082****899").
    pub phones: Vec<String>,
}

/// A complaint by its ticket, with the account that holds the disputed number now, if any.
pub async fn detail(
    app: &App,
    ticket: &str,
) -> Result<(Complaint, Option<Disputed>), ComplaintError> {
    let complaint = find(app, ticket).await?;
    let Some(account) = app
        .db
        .find_account_by_id_number(&complaint.id_number)
        .await?
    else {
        return Ok((complaint, None));
    };
    let phones = app
        .db
        .verified_phones(&account.id)
        .await?
        .iter()
        .map(|p| {
            PhoneNumber::parse(&p.e164)
                .map(|n| n.masked())
                .unwrap_or_else(|_| "****".into())
        })
        .collect();
    let created_at = app.db.account_created_at(&account.id).await?;
    Ok((
        complaint,
        Some(Disputed {
            account,
            created_at,
            phones,
        }),
    ))
}

async fn find(app: &App, ticket: &str) -> Result<Complaint, ComplaintError> {
    if !is_ticket(ticket) {
        return Err(ComplaintError::NotFound);
    }
    app.db
        .complaint_by_ticket(ticket)
        .await?
        .ok_or(ComplaintError::NotFound)
}

/// The officer (or admin) acting, from the staff area's door.
#[derive(Debug, Clone, Copy)]
pub struct Officer<'a> {
    pub account_id: &'a str,
    pub office: &'a str,
}

/// The transfer form as posted by the officer.
#[derive(Debug, Clone, Default)]
pub struct RawTransfer {
    /// "I checked the complainant's original CCCD in person and it matches the number."
    pub checked: bool,
    pub full_name: String,
    /// dd/mm/yyyy, from the CCCD.
    pub birthdate: String,
    pub phone: String,
}

/// What the officer's action carries.
#[derive(Debug, Clone)]
pub enum Act {
    Lock,
    Reject,
    Transfer(RawTransfer),
}

impl Act {
    pub fn action(&self) -> ComplaintAction {
        match self {
            Self::Lock => ComplaintAction::Lock,
            Self::Reject => ComplaintAction::Reject,
            Self::Transfer(_) => ComplaintAction::Transfer,
        }
    }
}

/// Checks the transfer form against the disputed number.
pub fn validate_transfer(
    raw: &RawTransfer,
    id_number: &str,
    today: NaiveDate,
) -> Result<(String, NaiveDate, PhoneNumber), FieldErrors> {
    let mut errors = FieldErrors::new();
    if !raw.checked {
        errors.insert("checked", Message::new("err_complaint_check_required"));
    }
    let full_name = full_name(&raw.full_name, &mut errors);
    let birthdate = match raw.birthdate.trim() {
        "" => {
            errors.insert("birthdate", Message::new("err_required"));
            None
        }
        s => match NaiveDate::parse_from_str(s, "%d/%m/%Y") {
            Ok(d) if s.len() == 10 && d <= today && d.year() >= 1900 => {
                // The CCCD's number encodes the century and year of birth.
                let fits = IdNumber::parse(id_number)
                    .map(|id| id.check_birthdate(d).is_ok())
                    .unwrap_or(true);
                if fits {
                    Some(d)
                } else {
                    errors.insert("birthdate", Message::new("err_id_number_birth_year"));
                    None
                }
            }
            Ok(_) => {
                errors.insert("birthdate", Message::new("err_birthdate_future"));
                None
            }
            Err(_) => {
                errors.insert("birthdate", Message::new("err_birthdate_format"));
                None
            }
        },
    };
    let phone = phone(&raw.phone, "phone", &mut errors);
    match (full_name, birthdate, phone) {
        (Some(n), Some(b), Some(p)) if errors.is_empty() => Ok((n, b, p)),
        _ => Err(errors),
    }
}

/// The officer's action on complaint `ticket`, seen by them at status `seen` (the form
/// carries it: the compare-and-set is against what the officer decided on). Returns the
/// complaint as it now stands.
pub async fn act(
    app: &App,
    ticket: &str,
    seen: Option<ComplaintStatus>,
    act: &Act,
    officer: Officer<'_>,
    ip: Option<&str>,
) -> Result<Complaint, ComplaintError> {
    let complaint = find(app, ticket).await?;
    let action = act.action();
    let from = seen.unwrap_or(complaint.status);
    if from != complaint.status {
        return Err(ComplaintError::Conflict);
    }
    let Some(to) = from.after(action) else {
        return Err(ComplaintError::NotAllowed {
            status: from,
            action,
        });
    };
    let account = app
        .db
        .find_account_by_id_number(&complaint.id_number)
        .await?;
    let mut detail = json!({
        "ticket": complaint.ticket,
        "office": officer.office,
        "from": from.as_str(),
        "to": to.as_str(),
    });
    let mut owner_phone = None;
    let change = match (act, &account) {
        (Act::Lock, Some(a)) => AccountChange::Lock {
            account_id: a.id.clone(),
        },
        (Act::Reject, Some(a)) if from == ComplaintStatus::AccountLocked => AccountChange::Unlock {
            account_id: a.id.clone(),
        },
        (Act::Reject, _) => AccountChange::None,
        (Act::Transfer(raw), Some(a)) => {
            let today = app.clock.now().date_naive();
            let (full_name, birthdate, phone) = validate_transfer(raw, &complaint.id_number, today)
                .map_err(ComplaintError::Fields)?;
            detail["owner_phone"] = json!(phone.masked());
            detail["previous_name"] = json!(a.full_name);
            owner_phone = Some(phone.e164().to_string());
            AccountChange::Transfer(Transfer {
                account_id: a.id.clone(),
                full_name,
                birthdate,
                phone: phone.e164().to_string(),
            })
        }
        (Act::Lock | Act::Transfer(_), None) => return Err(ComplaintError::NoAccount),
    };
    let kind = match action {
        ComplaintAction::Lock => "complaint.lock",
        ComplaintAction::Reject => "complaint.reject",
        ComplaintAction::Transfer => "complaint.transfer",
    };
    let mut event = Event::new(kind)
        .actor(officer.account_id)
        .ip(ip)
        .detail(detail);
    if let Some(a) = &account {
        event = event.account(&a.id);
    }
    let row = app.audit.row(event);
    let by = Handler {
        account_id: officer.account_id,
        office: officer.office,
    };
    let moved = app
        .db
        .move_complaint(&complaint.id, from, to, by, &change, app.clock.now(), &row)
        .await?;
    if !moved {
        return Err(ComplaintError::Conflict);
    }
    Audit::log(&row);
    // Locked or handed over: whoever was logged in to it is logged out everywhere, and every
    // refresh token of it is revoked (after a transfer again, in case one slipped in).
    if let (Act::Lock | Act::Transfer(_), Some(a)) = (act, &account) {
        logout::end_account(app, &a.id, None, ip)
            .await
            .map_err(ComplaintError::Sessions)?;
    }
    if let (Act::Transfer(_), Some(a)) = (act, &account) {
        // A stranger's failed guesses must not stand in the owner's way.
        if let Ok(Some(now)) = app.db.find_account(&a.id).await {
            crate::flow::recovery::clear_failures(app, &now).await?;
        }
    }
    let moved = find(app, ticket).await?;
    match action {
        ComplaintAction::Lock => {
            notify(app, &moved, "sms_complaint_locked", &moved.contact_phone).await
        }
        ComplaintAction::Reject => {
            notify(app, &moved, "sms_complaint_rejected", &moved.contact_phone).await
        }
        ComplaintAction::Transfer => {
            let owner = owner_phone.unwrap_or_else(|| moved.contact_phone.clone());
            notify(app, &moved, "sms_complaint_transferred", &owner).await;
            if owner != moved.contact_phone {
                notify(app, &moved, "sms_complaint_resolved", &moved.contact_phone).await;
            }
        }
    }
    Ok(moved)
}

/// Sends the theme's text `key` (its `{ticket}` filled) to `phone`, in the complainant's
/// language. A failure is logged: the step is done and audited whether or not the SMS went.
async fn notify(app: &App, complaint: &Complaint, key: &str, phone: &str) {
    let text = app
        .theme
        .t(&complaint.locale, key)
        .replace("{ticket}", &complaint.ticket);
    if let Err(e) = app.connectors.sms.send(phone, &text).await {
        tracing::warn!(error = %e, key, ticket = %complaint.ticket, "complaint SMS not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawComplaint {
        RawComplaint {
            id_number: "001090012345".into(),
            full_name: "Nguyễn Văn An".into(),
            phone: "0823456088".into(),
            email: String::new(),
            description: "Tôi chưa từng đăng ký tài khoản này.".into(),
        }
    }

    #[test]
    fn a_good_form_passes_and_each_bad_field_has_its_error() {
        assert!(validate(&raw()).is_ok());
        let bad = RawComplaint {
            id_number: "12".into(),
            full_name: String::new(),
            phone: "123".into(),
            email: "not an email".into(),
            description: "ngắn".into(),
        };
        let errors = validate(&bad).unwrap_err();
        let fields: Vec<_> = errors.keys().copied().collect();
        assert_eq!(
            fields,
            ["description", "email", "full_name", "id_number", "phone"]
        );
        let long = RawComplaint {
            description: "a".repeat(DESCRIPTION_MAX + 1),
            ..raw()
        };
        assert!(validate(&long).unwrap_err().contains_key("description"));
    }

    #[test]
    fn tickets_are_well_formed_and_nothing_else_is_one() {
        for _ in 0..100 {
            let t = new_ticket();
            assert!(is_ticket(&t), "{t}");
        }
        for not in [
            "",
            "KN-",
            "KN-0000000O",
            "KN-ABCDEFG",
            "kn-ABCDEFGH",
            "../etc",
            "KN-ABCDEFGHJ",
        ] {
            assert!(!is_ticket(not), "{not}");
        }
    }

    #[test]
    fn a_transfer_needs_the_in_person_check_and_a_birth_date_that_fits_the_number() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let good = RawTransfer {
            checked: true,
            full_name: "Nguyễn Văn An".into(),
            birthdate: "12/06/1990".into(),
            phone: "0823456088".into(),
        };
        assert!(validate_transfer(&good, "001090012345", today).is_ok());
        let unchecked = RawTransfer {
            checked: false,
            ..good.clone()
        };
        assert!(
            validate_transfer(&unchecked, "001090012345", today)
                .unwrap_err()
                .contains_key("checked")
        );
        let other_year = RawTransfer {
            birthdate: "12/06/1985".into(),
            ..good
        };
        assert!(
            validate_transfer(&other_year, "001090012345", today)
                .unwrap_err()
                .contains_key("birthdate")
        );
    }
}
