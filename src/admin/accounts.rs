//! Accounts in the admin area: search by one key, the full view (audited: it is access to
//! personal data), lock and unlock (a compare-and-set on the status the admin saw), and
//! "revoke sessions and tokens". Plain functions over the app; `http::admin::accounts` is
//! the API and the console around them.
//!
//! **Complaints.** An account that a complaint holds locked (a complaint at
//! `account_locked`) is not unlocked here: the refusal names the ticket, and the complaint's
//! own outcome (rejected, or handed to the rightful owner at the counter) unlocks it. An admin
//! unlock would undo an in-person check and let the disputed holder back in.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::refusal::Refusal;
use super::{Actor, change_event};
use crate::app::App;
use crate::audit::Audit;
use crate::domain::{
    Account, AccountStatus, IdNumber, IdNumberError, PhoneNumber, PhoneNumberError, TaxCode,
    TaxCodeError,
};
use crate::message::{FieldErrors, Message};
use crate::oidc::{interaction, logout};
use crate::store::StatusChange;

/// The longest lock reason kept (characters).
pub const REASON_MAX: usize = 500;

/// What an admin typed to search with (each may be empty).
#[derive(Debug, Clone, Default)]
pub struct SearchInput {
    pub id_number: String,
    pub tax_code: String,
    pub phone: String,
}

impl SearchInput {
    /// Whether anything was typed at all.
    pub fn is_empty(&self) -> bool {
        [&self.id_number, &self.tax_code, &self.phone]
            .iter()
            .all(|v| v.trim().is_empty())
    }
}

/// The one key a search is by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// A citizen's CCCD/CMND, or an official's ID number (agency accounts).
    IdNumber(IdNumber),
    TaxCode(TaxCode),
    /// Any phone of an account, verified or not.
    Phone(PhoneNumber),
}

/// The search key of `input`: exactly one field filled, and valid.
pub fn search_key(input: &SearchInput) -> Result<SearchKey, Refusal> {
    let filled: Vec<&'static str> = [
        ("id_number", &input.id_number),
        ("tax_code", &input.tax_code),
        ("phone", &input.phone),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(name, _)| name)
    .collect();
    match filled.as_slice() {
        [] => Err(Refusal::BadRequest(Message::new(
            "admin_accounts_search_one",
        ))),
        ["id_number"] => IdNumber::parse(&input.id_number)
            .map(SearchKey::IdNumber)
            .map_err(|e| {
                let key = match e {
                    IdNumberError::UnknownProvince => "err_id_number_province",
                    _ => "err_id_number_malformed",
                };
                Refusal::field("id_number", key)
            }),
        ["tax_code"] => TaxCode::parse(&input.tax_code)
            .map(SearchKey::TaxCode)
            .map_err(|e| {
                let key = match e {
                    TaxCodeError::CheckDigit => "admin_accounts_tax_code_check",
                    _ => "admin_accounts_tax_code_malformed",
                };
                Refusal::field("tax_code", key)
            }),
        ["phone"] => PhoneNumber::parse(&input.phone)
            .map(SearchKey::Phone)
            .map_err(|e| {
                let key = match e {
                    PhoneNumberError::NotMobile => "err_phone_not_mobile",
                    _ => "err_phone_malformed",
                };
                Refusal::field("phone", key)
            }),
        several => Err(Refusal::Invalid(
            several
                .iter()
                .map(|name| (*name, Message::new("admin_accounts_search_one")))
                .collect(),
        )),
    }
}

/// One account in a list of results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountSummary {
    pub id: String,
    pub full_name: String,
    /// `citizen`, `enterprise` or `agency`.
    pub subject_type: String,
    /// 2 or 3.
    pub ial: i16,
    /// `active`, `locked` or `disabled`.
    pub status: String,
}

impl From<&Account> for AccountSummary {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.clone(),
            full_name: a.full_name.clone(),
            subject_type: a.subject_type.as_str().to_string(),
            ial: a.ial.level(),
            status: a.status.as_str().to_string(),
        }
    }
}

/// The accounts matching `key` (none: an empty list). Reading a list is not audited; opening
/// an account is ([`view`]).
pub async fn search(app: &App, key: &SearchKey) -> Result<Vec<AccountSummary>, Refusal> {
    let found: Vec<Account> = match key {
        SearchKey::IdNumber(id) => {
            // A citizen's account and, under the same number, an official's agency account.
            let mut found = Vec::new();
            found.extend(app.db.find_account_by_id_number(id.as_str()).await?);
            found.extend(app.db.find_account_by_official_id(id.as_str()).await?);
            found
        }
        SearchKey::TaxCode(code) => app
            .db
            .find_account_by_tax_code(code.as_str())
            .await?
            .into_iter()
            .collect(),
        SearchKey::Phone(phone) => app.db.find_accounts_by_phone(phone.e164()).await?,
    };
    Ok(found.iter().map(AccountSummary::from).collect())
}

/// Everything the admin area shows of an account. Never a secret, a hash or a public key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub subject_type: String,
    pub full_name: String,
    pub birthdate: Option<NaiveDate>,
    pub id_number: Option<String>,
    pub tax_code: Option<String>,
    /// An agency account's key: the official's ID number.
    pub official_id: Option<String>,
    /// The enterprise, or the official's agency.
    pub organization: Option<String>,
    /// `active`, `locked` or `disabled`.
    pub status: String,
    /// The account's level now (2 or 3) and its history, oldest first.
    pub ial: i16,
    pub levels: Vec<LevelView>,
    /// How it was registered (`mobile_subscriber`, `bhxh`, `counter`, a signature method…).
    pub registration_method: String,
    pub created_at: Option<DateTime<Utc>>,
    pub email: Option<String>,
    pub email_verified: bool,
    /// Full numbers, the default first.
    pub phones: Vec<PhoneView>,
    pub credentials: Vec<CredentialView>,
    /// Live SSO sessions, oldest first.
    pub sessions: Vec<SessionView>,
    pub roles: Vec<RoleView>,
    /// The complaint that holds the account locked, if one does (its ticket).
    pub held_by_complaint: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LevelView {
    pub level: i16,
    pub method: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhoneView {
    /// E.164.
    pub number: String,
    /// As Vietnamese write it (`0912345678`).
    pub national: String,
    pub verified: bool,
    pub is_default: bool,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialView {
    pub id: String,
    /// `password`, `passkey`, `certificate`, `federated_link`.
    pub kind: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    /// The public session id (the `sid` claim).
    pub sid: String,
    pub auth_time: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// RFC 8176 methods of the login.
    pub amr: Vec<String>,
    /// The session's level (2 or 3).
    pub ial: i16,
    /// Clients that received tokens in it.
    pub clients: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleView {
    pub role: String,
    pub office: Option<String>,
    pub granted_by: Option<String>,
    pub granted_at: DateTime<Utc>,
}

/// The account `id` as the admin area shows it, after auditing `admin.account.viewed` (an
/// admin reading someone's personal data). The view is not shown if the audit row cannot be
/// written.
pub async fn view(app: &App, actor: &Actor, id: &str, ip: &str) -> Result<AccountView, Refusal> {
    let account = app.db.find_account(id).await?.ok_or(Refusal::NotFound)?;
    let view = gather(app, &account).await?;
    let actor_id = actor.audit_id();
    let event = crate::audit::Event::new("admin.account.viewed")
        .account(&account.id)
        .actor(&actor_id)
        .ip(Some(ip))
        .detail(json!({ "via": actor.via() }));
    app.audit.record(event).await?;
    Ok(view)
}

async fn gather(app: &App, a: &Account) -> Result<AccountView, Refusal> {
    let levels = app.db.account_levels(&a.id).await?;
    let phones = app.db.phones_of(&a.id).await?;
    let credentials = app.db.credential_summaries(&a.id).await?;
    let roles = app.db.roles_of(&a.id).await?;
    let created_at = app.db.account_created_at(&a.id).await?;
    let held_by_complaint = app.db.complaint_holding(&a.id).await?;
    let mut sessions = Vec::new();
    for r in interaction::sessions_of(app, &a.id).await? {
        if let Some(s) = interaction::load_session_by_handle(app, &r.handle).await? {
            sessions.push(SessionView {
                sid: s.sid,
                auth_time: DateTime::from_timestamp(s.auth_time, 0),
                expires_at: DateTime::from_timestamp(s.expires_at, 0),
                amr: s.amr,
                ial: s.ial.level(),
                clients: s.clients,
            });
        }
    }
    Ok(AccountView {
        id: a.id.clone(),
        subject_type: a.subject_type.as_str().to_string(),
        full_name: a.full_name.clone(),
        birthdate: a.birthdate,
        id_number: a.id_number.clone(),
        tax_code: a.tax_code.clone(),
        official_id: a.official_id.clone(),
        organization: a.organization.clone(),
        status: a.status.as_str().to_string(),
        ial: a.ial.level(),
        levels: levels
            .into_iter()
            .map(|l| LevelView {
                level: l.level.level(),
                method: l.method,
                at: l.at,
            })
            .collect(),
        registration_method: a.registration_method.clone(),
        created_at,
        email: a.email.clone(),
        email_verified: a.email_verified,
        phones: phones
            .into_iter()
            .map(|p| PhoneView {
                national: PhoneNumber::parse(&p.e164)
                    .map(|n| n.national())
                    .unwrap_or_else(|_| p.e164.clone()),
                number: p.e164,
                verified: p.verified,
                is_default: p.is_default,
                added_at: p.created_at,
            })
            .collect(),
        credentials: credentials
            .into_iter()
            .map(|c| CredentialView {
                id: c.id,
                kind: c.kind.as_str().to_string(),
                label: c.label,
                created_at: c.created_at,
                last_used_at: c.last_used_at,
            })
            .collect(),
        sessions,
        roles: roles
            .into_iter()
            .map(|g| RoleView {
                role: g.role.name().to_string(),
                office: g.office,
                granted_by: g.granted_by,
                granted_at: g.granted_at,
            })
            .collect(),
        held_by_complaint,
    })
}

/// A lock or an unlock as the admin asked for it.
#[derive(Debug, Clone, Default)]
pub struct StatusRequest {
    /// Why (required to lock; kept in the audit row).
    pub reason: String,
    /// The status the admin saw (`active`, `locked`): the change is made from it only.
    pub expected_status: String,
}

/// The status change `req` asks for, checked: the reason (required when `need_reason`) and
/// the status the admin saw, which must be `from`.
fn checked(req: &StatusRequest, from: AccountStatus, need_reason: bool) -> Result<String, Refusal> {
    let mut errors = FieldErrors::new();
    let reason = req.reason.trim().to_string();
    if need_reason && reason.is_empty() {
        errors.insert("reason", Message::new("admin_accounts_reason_required"));
    } else if reason.chars().count() > REASON_MAX {
        errors.insert(
            "reason",
            Message::new("admin_accounts_reason_too_long").with("max", REASON_MAX),
        );
    }
    match parse_status(&req.expected_status) {
        None => {
            errors.insert(
                "expected_status",
                Message::new("admin_accounts_expected_status"),
            );
        }
        Some(seen) if seen != from => {
            let key = match from {
                AccountStatus::Active => "admin_accounts_lock_needs_active",
                _ => "admin_accounts_unlock_needs_locked",
            };
            errors.insert("expected_status", Message::new(key));
        }
        Some(_) => {}
    }
    if errors.is_empty() {
        Ok(reason)
    } else {
        Err(Refusal::Invalid(errors))
    }
}

/// A status as the API spells it; nothing else (unlike `AccountStatus::parse`, which reads
/// stored values leniently).
fn parse_status(s: &str) -> Option<AccountStatus> {
    [
        AccountStatus::Active,
        AccountStatus::Locked,
        AccountStatus::Disabled,
    ]
    .into_iter()
    .find(|st| st.as_str() == s.trim())
}

/// Locks the account (from active, as the admin saw it), then ends every session of it (with
/// back-channel logout) and revokes every refresh token. Audited `admin.account.locked` with
/// the reason, in the same transaction as the change.
pub async fn lock(
    app: &App,
    actor: &Actor,
    id: &str,
    req: &StatusRequest,
    ip: &str,
) -> Result<AccountSummary, Refusal> {
    let reason = checked(req, AccountStatus::Active, true)?;
    let account = change(
        app,
        actor,
        id,
        (AccountStatus::Active, AccountStatus::Locked),
        "admin.account.locked",
        &reason,
        ip,
    )
    .await?;
    logout::end_account(app, id, None, Some(ip)).await?;
    Ok(AccountSummary::from(&account))
}

/// Unlocks the account (from locked, as the admin saw it), unless a complaint holds it.
/// Audited `admin.account.unlocked`.
pub async fn unlock(
    app: &App,
    actor: &Actor,
    id: &str,
    req: &StatusRequest,
    ip: &str,
) -> Result<AccountSummary, Refusal> {
    let reason = checked(req, AccountStatus::Locked, false)?;
    let account = change(
        app,
        actor,
        id,
        (AccountStatus::Locked, AccountStatus::Active),
        "admin.account.unlocked",
        &reason,
        ip,
    )
    .await?;
    Ok(AccountSummary::from(&account))
}

/// The compare-and-set of a status with its audit row; the account as it is now.
async fn change(
    app: &App,
    actor: &Actor,
    id: &str,
    (from, to): (AccountStatus, AccountStatus),
    kind: &'static str,
    reason: &str,
    ip: &str,
) -> Result<Account, Refusal> {
    if app.db.find_account(id).await?.is_none() {
        return Err(Refusal::NotFound);
    }
    let actor_id = actor.audit_id();
    let mut event = change_event(
        kind,
        &actor_id,
        actor.via(),
        json!({ "status": from.as_str() }),
        json!({ "status": to.as_str() }),
    )
    .account(id)
    .ip(Some(ip));
    if !reason.is_empty() {
        event.detail["reason"] = json!(reason);
    }
    let row = app.audit.row(event);
    match app
        .db
        .change_account_status(id, from, to, app.clock.now(), &row)
        .await?
    {
        StatusChange::Changed => Audit::log(&row),
        StatusChange::Stale => return Err(Refusal::Conflict(Message::new("admin_stale_edit"))),
        StatusChange::HeldByComplaint { ticket } => {
            return Err(Refusal::Conflict(
                Message::new("admin_accounts_held_by_complaint").with("ticket", ticket),
            ));
        }
    }
    app.db.find_account(id).await?.ok_or(Refusal::NotFound)
}

/// Ends every SSO session of the account (back-channel logout to their clients) and revokes
/// every refresh token (and, through their families, their access tokens). Audited
/// `admin.account.sessions_revoked` with the number of sessions before and after.
pub async fn revoke_sessions(
    app: &App,
    actor: &Actor,
    id: &str,
    ip: &str,
) -> Result<usize, Refusal> {
    let account = app.db.find_account(id).await?.ok_or(Refusal::NotFound)?;
    let before = interaction::sessions_of(app, id).await?.len();
    logout::end_account(app, id, None, Some(ip)).await?;
    let actor_id = actor.audit_id();
    let state = |sessions: usize| -> Value {
        json!({ "status": account.status.as_str(), "sessions": sessions })
    };
    let event = change_event(
        "admin.account.sessions_revoked",
        &actor_id,
        actor.via(),
        state(before),
        state(0),
    )
    .account(id)
    .ip(Some(ip));
    app.audit.record(event).await?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id_number: &str, tax_code: &str, phone: &str) -> SearchInput {
        SearchInput {
            id_number: id_number.into(),
            tax_code: tax_code.into(),
            phone: phone.into(),
        }
    }

    #[test]
    fn a_search_is_by_exactly_one_valid_key() {
        assert!(matches!(
            search_key(&input("001090000333", "", "")),
            Ok(SearchKey::IdNumber(_))
        ));
        assert!(matches!(
            search_key(&input("", "0100233488", "")),
            Ok(SearchKey::TaxCode(_))
        ));
        assert!(matches!(
            search_key(&input("", "", "0823 628 899")),
            Ok(SearchKey::Phone(_))
        ));
        assert!(matches!(
            search_key(&input(" ", "", "")),
            Err(Refusal::BadRequest(_))
        ));
        let Err(Refusal::Invalid(both)) = search_key(&input("001090000333", "", "0823628899"))
        else {
            panic!("two keys are refused");
        };
        assert_eq!(
            both.keys().copied().collect::<Vec<_>>(),
            ["id_number", "phone"]
        );
        let Err(Refusal::Invalid(bad)) = search_key(&input("", "0100233489", "")) else {
            panic!("a wrong check digit is refused");
        };
        assert_eq!(bad["tax_code"].key, "admin_accounts_tax_code_check");
    }

    #[test]
    fn a_lock_needs_a_reason_and_the_status_the_admin_saw() {
        let req = |reason: &str, seen: &str| StatusRequest {
            reason: reason.into(),
            expected_status: seen.into(),
        };
        assert_eq!(
            checked(&req(" giả mạo ", "active"), AccountStatus::Active, true).unwrap(),
            "giả mạo"
        );
        let Err(Refusal::Invalid(e)) = checked(&req("", "locked"), AccountStatus::Active, true)
        else {
            panic!("refused");
        };
        assert_eq!(e["reason"].key, "admin_accounts_reason_required");
        assert_eq!(e["expected_status"].key, "admin_accounts_lock_needs_active");
        let long = "x".repeat(REASON_MAX + 1);
        assert!(checked(&req(&long, "active"), AccountStatus::Active, true).is_err());
        assert!(checked(&req("", "Locked!"), AccountStatus::Locked, false).is_err());
        assert!(checked(&req("", "locked"), AccountStatus::Locked, false).is_ok());
    }
}
