//! The audit trail in the admin area: its filters (checked field by field), its pages
//! (newest first, a cursor), and the CSV export (RFC 4180, spreadsheet formulas
//! neutralised). Reading the trail is not audited; exporting it is (`admin.audit.exported`,
//! with the filter), since a file leaves the system.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::Actor;
use super::refusal::Refusal;
use crate::app::App;
use crate::audit::Event;
use crate::domain::IdNumber;
use crate::message::{FieldErrors, Message};
use crate::store::{AuditQuery, AuditRow, KindFilter};

/// A page holds at most this many events.
pub const LIMIT_MAX: u64 = 500;
pub const LIMIT_DEFAULT: u64 = 50;
/// An export holds at most this many rows (newest first): a narrower filter gets the rest.
pub const EXPORT_MAX: u64 = 100_000;
/// The export reads the database this many rows at a time.
pub const EXPORT_BATCH: u64 = 1_000;

/// The filter as typed (each may be empty).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RawFilter {
    /// An account id, or `client:<id>` for the admin API.
    pub actor: String,
    /// The console's way to name an actor: their ID number.
    pub actor_id_number: String,
    /// The account the events are about.
    pub account: String,
    /// A kind (`admin.account.locked`), or a prefix ending in `.` or `*` (`admin.`).
    pub kind: String,
    /// `dd/mm/yyyy` (a day in Vietnam time), `yyyy-mm-dd`, or RFC 3339.
    pub from: String,
    /// As `from`; a day means up to its end.
    pub to: String,
    pub limit: String,
    /// The `next_cursor` of the previous page.
    pub cursor: String,
}

/// A checked filter: the query and the page size; `query` is `None` when it can match
/// nothing (an actor ID number with no account).
#[derive(Debug, Clone)]
pub struct Filter {
    pub query: Option<AuditQuery>,
    pub limit: u64,
}

/// Checks `raw` field by field.
pub async fn filter(app: &App, raw: &RawFilter) -> Result<Filter, Refusal> {
    let mut errors = FieldErrors::new();
    let mut q = AuditQuery::default();
    let text = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    if let Some(actor) = text(&raw.actor) {
        if actor.len() > 100 || actor.chars().any(char::is_control) {
            errors.insert("actor", Message::new("admin_accounts_audit_actor_invalid"));
        }
        q.actor_id = Some(actor);
    }
    if let Some(account) = text(&raw.account) {
        if account.len() > 36 || account.chars().any(char::is_control) {
            errors.insert(
                "account",
                Message::new("admin_accounts_audit_account_invalid"),
            );
        }
        q.account_id = Some(account);
    }
    match text(&raw.kind).map(|k| kind_filter(&k)) {
        None => {}
        Some(Some(k)) => q.kind = Some(k),
        Some(None) => {
            errors.insert("kind", Message::new("admin_accounts_audit_kind_invalid"));
        }
    }
    match text(&raw.from).map(|v| instant(&v, false)) {
        None => {}
        Some(Some(at)) => q.from = Some(at),
        Some(None) => {
            errors.insert("from", Message::new("admin_accounts_audit_time_invalid"));
        }
    }
    match text(&raw.to).map(|v| instant(&v, true)) {
        None => {}
        Some(Some(at)) => q.to = Some(at),
        Some(None) => {
            errors.insert("to", Message::new("admin_accounts_audit_time_invalid"));
        }
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        errors.insert("to", Message::new("admin_accounts_audit_time_order"));
    }
    let limit = match text(&raw.limit) {
        None => LIMIT_DEFAULT,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=LIMIT_MAX).contains(&n) => n,
            _ => {
                errors.insert(
                    "limit",
                    Message::new("admin_accounts_audit_limit_invalid").with("max", LIMIT_MAX),
                );
                LIMIT_DEFAULT
            }
        },
    };
    match text(&raw.cursor).map(|v| v.parse::<i64>()) {
        None => {}
        Some(Ok(id)) if id > 0 => q.before_id = Some(id),
        Some(_) => {
            errors.insert(
                "cursor",
                Message::new("admin_accounts_audit_cursor_invalid"),
            );
        }
    }
    let by_number = match text(&raw.actor_id_number) {
        None => None,
        Some(n) => match IdNumber::parse(&n) {
            Ok(n) => Some(n),
            Err(_) => {
                errors.insert("actor_id_number", Message::new("err_id_number_malformed"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Refusal::Invalid(errors));
    }
    if let Some(number) = by_number {
        let account = match app.db.find_account_by_id_number(number.as_str()).await? {
            Some(a) => Some(a),
            None => app.db.find_account_by_official_id(number.as_str()).await?,
        };
        match account {
            // Both ways of naming the actor must agree.
            Some(a) if q.actor_id.as_deref().is_none_or(|id| id == a.id) => q.actor_id = Some(a.id),
            _ => return Ok(Filter { query: None, limit }),
        }
    }
    Ok(Filter {
        query: Some(q),
        limit,
    })
}

/// `admin.` or `admin.*` (a prefix) or an exact kind: lower-case letters, digits, `_` and `.`.
fn kind_filter(s: &str) -> Option<KindFilter> {
    let (body, prefix) = match s.strip_suffix('*') {
        Some(body) => (body, true),
        None => (s, s.ends_with('.')),
    };
    let valid = !body.is_empty()
        && body.len() <= 64
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    valid.then(|| {
        if prefix {
            KindFilter::Prefix(body.to_string())
        } else {
            KindFilter::Exact(body.to_string())
        }
    })
}

/// An instant typed in a filter: `dd/mm/yyyy` or `yyyy-mm-dd` (a day in Vietnam time, UTC+7:
/// its start, or with `end_of_day` the start of the next day, so that "to 05/12/2026"
/// includes that day), or an RFC 3339 date-time.
pub fn instant(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Some(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .ok()?;
    let day = if end_of_day {
        day.checked_add_signed(Duration::days(1))?
    } else {
        day
    };
    let vietnam = FixedOffset::east_opt(7 * 3600)?;
    vietnam
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// One event as the API and the console show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    /// The account the event is about.
    pub account_id: Option<String>,
    /// Who did it: an account id, or `client:<id>` for the admin API.
    pub actor_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    /// The event's details (never a secret).
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<AuditRow> for EventView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: r.record.at,
            kind: r.record.kind,
            account_id: r.record.account_id,
            actor_id: r.record.actor_id,
            client_id: r.record.client_id,
            ip: r.record.ip,
            detail: r.record.detail,
        }
    }
}

/// A page of the trail, and the cursor of the next one (none after the last).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    pub next_cursor: Option<String>,
}

pub async fn page(app: &App, f: &Filter) -> Result<EventPage, Refusal> {
    let Some(q) = &f.query else {
        return Ok(EventPage {
            events: Vec::new(),
            next_cursor: None,
        });
    };
    let events: Vec<EventView> = app
        .db
        .search_audit_events(q, f.limit)
        .await?
        .into_iter()
        .map(EventView::from)
        .collect();
    let next_cursor = (events.len() as u64 == f.limit)
        .then(|| events.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(EventPage {
        events,
        next_cursor,
    })
}

/// Records `admin.audit.exported` with the filter; the export starts only once it is written.
pub async fn record_export(
    app: &App,
    actor: &Actor,
    raw: &RawFilter,
    ip: &str,
) -> Result<(), Refusal> {
    let actor_id = actor.audit_id();
    let mut filter = serde_json::to_value(raw).unwrap_or_default();
    if let Value::Object(fields) = &mut filter {
        fields.retain(|_, v| v.as_str().is_some_and(|s| !s.trim().is_empty()));
    }
    let event = Event::new("admin.audit.exported")
        .actor(&actor_id)
        .ip(Some(ip))
        .detail(json!({ "via": actor.via(), "filter": filter, "max_rows": EXPORT_MAX }));
    app.audit.record(event).await?;
    Ok(())
}

/// The CSV header line.
pub const CSV_HEADER: &str = "id,at,kind,account_id,actor_id,client_id,ip,detail\r\n";

/// One event as a CSV line (CRLF-terminated).
pub fn csv_line(e: &EventView) -> String {
    let cells = [
        e.id.to_string(),
        e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        e.kind.clone(),
        e.account_id.clone().unwrap_or_default(),
        e.actor_id.clone().unwrap_or_default(),
        e.client_id.clone().unwrap_or_default(),
        e.ip.clone().unwrap_or_default(),
        e.detail.to_string(),
    ];
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// A CSV cell: a value a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return) gets a leading `'`; then quoted (RFC 4180) when it holds
/// a comma, a quote or a line break, quotes doubled.
pub fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("login.failed"), "login.failed");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("=a,b"), "\"'=a,b\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn kinds_are_exact_or_prefixes() {
        assert_eq!(
            kind_filter("admin."),
            Some(KindFilter::Prefix("admin.".into()))
        );
        assert_eq!(
            kind_filter("admin.account*"),
            Some(KindFilter::Prefix("admin.account".into()))
        );
        assert_eq!(
            kind_filter("login.failed"),
            Some(KindFilter::Exact("login.failed".into()))
        );
        assert_eq!(kind_filter("Login"), None);
        assert_eq!(kind_filter("a%"), None);
        assert_eq!(kind_filter("*"), None);
    }

    #[test]
    fn days_are_vietnam_days_and_to_includes_its_day() {
        let from = instant("05/12/2026", false).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-12-04T17:00:00+00:00");
        let to = instant("2026-12-05", true).unwrap();
        assert_eq!(to.to_rfc3339(), "2026-12-05T17:00:00+00:00");
        let exact = instant("2026-12-05T08:30:00Z", true).unwrap();
        assert_eq!(exact.to_rfc3339(), "2026-12-05T08:30:00+00:00");
        assert_eq!(instant("31/02/2026", false), None);
        assert_eq!(instant("yesterday", false), None);
    }
}
