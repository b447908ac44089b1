//! The sandbox's identities: carrier subscribers and BHXH records, from a TOML seed file.
//!
//! The format is documented at the top of `config/sandbox-seed.toml`, which is also the
//! default seed, built into the binary so the sandbox works from any working directory. A
//! deployment passes its own with `xacthuc sandbox --seed FILE` (or the config).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

/// The default seed (`config/sandbox-seed.toml`), embedded.
pub const DEFAULT_SEED: &str = include_str!("../../config/sandbox-seed.toml");

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxSeed {
    pub subscribers: Vec<SeedSubscriber>,
    pub bhxh: Vec<SeedBhxh>,
    pub sim_signature: Vec<SeedSimHolder>,
    pub remote_signature: Vec<SeedRemoteUser>,
    pub vneid: Vec<SeedVneidCitizen>,
}

/// A citizen of the sandbox VNeID (`/sandbox/vneid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedVneidCitizen {
    pub id_number: String,
    /// Typed on the sandbox VNeID's login page.
    pub password: String,
    pub full_name: String,
    pub birthdate: NaiveDate,
    /// E.164: where the sandbox VNeID's OTP goes (the SMS outbox).
    pub phone: String,
    /// The e-ID level (1 or 2), the token's `IAL` claim.
    pub level: u8,
}

/// Who a sandbox signing certificate names (its subject), and whether the sandbox CA has
/// revoked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedCertSubject {
    /// `UID` attributes, with their prefixes: `CCCD:…`, `CMND:…`, `HC:…`, `MST:…`, `MNS:…`.
    pub uids: Vec<String>,
    /// CN: the person's or the enterprise's name.
    pub full_name: String,
    /// O: the organisation (the enterprise a representative acts for).
    pub organization: Option<String>,
    pub email: Option<String>,
    /// The CA's OCSP responder answers "revoked" for this certificate.
    pub revoked: bool,
}

/// A SIM with a signing key ("SIM ký số") at the sandbox mobile-signature service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSimHolder {
    /// E.164 (`+84…`).
    pub phone: String,
    pub subject: SeedCertSubject,
    /// The PIN the holder types on the phone to approve.
    pub pin: String,
    pub fault: Fault,
}

/// A user of the sandbox remote signature provider ("Chữ ký số cá nhân").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRemoteUser {
    /// The provider's user id (what the user types on our page; the ID number also finds them).
    pub user_id: String,
    pub subject: SeedCertSubject,
    /// The PIN the user types in the provider's app to approve.
    pub pin: String,
    pub fault: Fault,
}

/// A SIM registered to a person at the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSubscriber {
    /// E.164 (`+84…`).
    pub phone: String,
    pub id_number: String,
    pub full_name: String,
    pub birthdate: NaiveDate,
    pub fault: Fault,
}

/// A social-insurance record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedBhxh {
    pub bhxh_code: String,
    pub id_number: String,
    /// As the registry stores it (not normalised: the folding is what gets tested).
    pub full_name: String,
    pub birthdate: NaiveDate,
    /// The insured person's phone on file (E.164), when the record has one.
    pub phone: Option<String>,
    pub fault: Fault,
}

/// How the simulator misbehaves when asked about this entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fault {
    /// Answers normally.
    #[default]
    None,
    /// HTTP 500.
    Error,
    /// Answers only after the simulator's fault delay (longer than any client timeout).
    Timeout,
    /// HTTP 200 with a body that is not valid JSON.
    Malformed,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read sandbox seed {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `origin` is the file (or "built-in seed"); `message` names the entry and the field.
    #[error("sandbox seed {origin}: {message}")]
    Invalid { origin: String, message: String },
}

const BUILT_IN: &str = "built-in config/sandbox-seed.toml";

impl SandboxSeed {
    /// Reads and validates `path`, or the built-in default seed when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, SeedError> {
        match path {
            None => Self::parse_named(DEFAULT_SEED, BUILT_IN),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::parse_named(&text, &path.display().to_string())
            }
        }
    }

    /// Parses and validates seed text.
    pub fn parse(text: &str) -> Result<Self, SeedError> {
        Self::parse_named(text, "(text)")
    }

    fn parse_named(text: &str, origin: &str) -> Result<Self, SeedError> {
        let invalid = |message: String| SeedError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let raw: RawSeed = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        // Every problem at once: fixing a seed file one error per run is tedious.
        let mut problems = Vec::new();
        let mut seed = SandboxSeed::default();
        let mut phones: HashMap<String, usize> = HashMap::new();
        for (i, s) in raw.subscribers.iter().enumerate() {
            let entry = format!("subscribers[{i}] (phone {:?})", s.phone);
            let phone = normalize_phone(&s.phone);
            if phone.is_none() {
                problems.push(format!(
                    "{entry}: phone is not a Vietnamese mobile number (0xxxxxxxxx, +84xxxxxxxxx or 84xxxxxxxxx)"
                ));
            }
            if let Some(p) = &phone
                && let Some(first) = phones.insert(p.clone(), i)
            {
                problems.push(format!("{entry}: the same number as subscribers[{first}]"));
            }
            let id_number = check_id_number(&entry, &s.id_number, &mut problems);
            let full_name = check_name(&entry, &s.full_name, &mut problems);
            let birthdate = check_birthdate(&entry, &s.birthdate, &mut problems);
            let fault = check_fault(&entry, s.fault.as_deref(), &mut problems);
            if let (Some(phone), Some(id_number), Some(full_name), Some(birthdate), Some(fault)) =
                (phone, id_number, full_name, birthdate, fault)
            {
                seed.subscribers.push(SeedSubscriber {
                    phone,
                    id_number,
                    full_name,
                    birthdate,
                    fault,
                });
            }
        }
        let mut codes: HashMap<String, usize> = HashMap::new();
        for (i, b) in raw.bhxh.iter().enumerate() {
            let entry = format!("bhxh[{i}] (bhxh_code {:?})", b.bhxh_code);
            let code = b.bhxh_code.trim();
            let bhxh_code = if code.len() == 10 && code.bytes().all(|c| c.is_ascii_digit()) {
                Some(code.to_string())
            } else {
                problems.push(format!("{entry}: bhxh_code must be 10 digits"));
                None
            };
            if let Some(c) = &bhxh_code
                && let Some(first) = codes.insert(c.clone(), i)
            {
                problems.push(format!("{entry}: the same code as bhxh[{first}]"));
            }
            let id_number = check_id_number(&entry, &b.id_number, &mut problems);
            let full_name = check_name(&entry, &b.full_name, &mut problems);
            let birthdate = check_birthdate(&entry, &b.birthdate, &mut problems);
            let fault = check_fault(&entry, b.fault.as_deref(), &mut problems);
            let phone = match b.phone.as_deref().map(normalize_phone) {
                None => Some(None),
                Some(Some(p)) => Some(Some(p)),
                Some(None) => {
                    problems.push(format!(
                        "{entry}: phone is not a Vietnamese mobile number (0xxxxxxxxx, +84xxxxxxxxx or 84xxxxxxxxx)"
                    ));
                    None
                }
            };
            if let (
                Some(bhxh_code),
                Some(id_number),
                Some(full_name),
                Some(birthdate),
                Some(phone),
                Some(fault),
            ) = (bhxh_code, id_number, full_name, birthdate, phone, fault)
            {
                seed.bhxh.push(SeedBhxh {
                    bhxh_code,
                    id_number,
                    full_name,
                    birthdate,
                    phone,
                    fault,
                });
            }
        }
        for (i, h) in raw.sim_signature.iter().enumerate() {
            let entry = format!("sim_signature[{i}] (phone {:?})", h.phone);
            let phone = normalize_phone(&h.phone);
            if phone.is_none() {
                problems.push(format!(
                    "{entry}: phone is not a Vietnamese mobile number (0xxxxxxxxx, +84xxxxxxxxx or 84xxxxxxxxx)"
                ));
            }
            if let Some(p) = &phone
                && seed.sim_signature.iter().any(|s| &s.phone == p)
            {
                problems.push(format!("{entry}: the same number as an earlier holder"));
            }
            let raw_subject = RawSubject {
                uids: &h.uids,
                full_name: &h.full_name,
                organization: h.organization.as_ref(),
                email: h.email.as_ref(),
                revoked: h.revoked,
            };
            let subject = check_subject(&entry, raw_subject, &mut problems);
            let pin = check_pin(&entry, &h.pin, &mut problems);
            let fault = check_fault(&entry, h.fault.as_deref(), &mut problems);
            if let (Some(phone), Some(subject), Some(pin), Some(fault)) =
                (phone, subject, pin, fault)
            {
                seed.sim_signature.push(SeedSimHolder {
                    phone,
                    subject,
                    pin,
                    fault,
                });
            }
        }
        for (i, u) in raw.remote_signature.iter().enumerate() {
            let entry = format!("remote_signature[{i}] (user_id {:?})", u.user_id);
            let user_id = u.user_id.trim();
            let valid_id = (1..=64).contains(&user_id.len())
                && user_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
            if !valid_id {
                problems.push(format!(
                    "{entry}: user_id must be 1 to 64 letters, digits or - _ . @"
                ));
            }
            if seed.remote_signature.iter().any(|r| r.user_id == user_id) {
                problems.push(format!("{entry}: the same user_id as an earlier user"));
            }
            let raw_subject = RawSubject {
                uids: &u.uids,
                full_name: &u.full_name,
                organization: u.organization.as_ref(),
                email: u.email.as_ref(),
                revoked: u.revoked,
            };
            let subject = check_subject(&entry, raw_subject, &mut problems);
            let pin = check_pin(&entry, &u.pin, &mut problems);
            let fault = check_fault(&entry, u.fault.as_deref(), &mut problems);
            if let (true, Some(subject), Some(pin), Some(fault)) = (valid_id, subject, pin, fault) {
                seed.remote_signature.push(SeedRemoteUser {
                    user_id: user_id.to_string(),
                    subject,
                    pin,
                    fault,
                });
            }
        }
        for (i, v) in raw.vneid.iter().enumerate() {
            let entry = format!("vneid[{i}] (id_number {:?})", v.id_number);
            let id_number = check_id_number(&entry, &v.id_number, &mut problems);
            if let Some(id) = &id_number
                && seed.vneid.iter().any(|c| &c.id_number == id)
            {
                problems.push(format!("{entry}: the same ID number as an earlier citizen"));
            }
            let full_name = check_name(&entry, &v.full_name, &mut problems);
            let birthdate = check_birthdate(&entry, &v.birthdate, &mut problems);
            let phone = normalize_phone(&v.phone);
            if phone.is_none() {
                problems.push(format!(
                    "{entry}: phone is not a Vietnamese mobile number (0xxxxxxxxx, +84xxxxxxxxx or 84xxxxxxxxx)"
                ));
            }
            if !(1..=2).contains(&v.level) {
                problems.push(format!("{entry}: level must be 1 or 2"));
            }
            if v.password.is_empty() {
                problems.push(format!("{entry}: password must not be empty"));
            }
            if let (Some(id_number), Some(full_name), Some(birthdate), Some(phone), true) = (
                id_number,
                full_name,
                birthdate,
                phone,
                (1..=2).contains(&v.level) && !v.password.is_empty(),
            ) {
                seed.vneid.push(SeedVneidCitizen {
                    id_number,
                    password: v.password.clone(),
                    full_name,
                    birthdate,
                    phone,
                    level: v.level,
                });
            }
        }
        if problems.is_empty() {
            Ok(seed)
        } else {
            Err(invalid(problems.join("; ")))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    #[serde(default)]
    subscribers: Vec<RawSubscriber>,
    #[serde(default)]
    bhxh: Vec<RawBhxh>,
    #[serde(default)]
    sim_signature: Vec<RawSimHolder>,
    #[serde(default)]
    remote_signature: Vec<RawRemoteUser>,
    #[serde(default)]
    vneid: Vec<RawVneidCitizen>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVneidCitizen {
    id_number: String,
    password: String,
    full_name: String,
    birthdate: String,
    phone: String,
    level: u8,
}

/// The certificate fields the two signing providers share (serde's `flatten` would lose
/// `deny_unknown_fields`, so each entry repeats them).
struct RawSubject<'a> {
    uids: &'a [String],
    full_name: &'a str,
    organization: Option<&'a String>,
    email: Option<&'a String>,
    revoked: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimHolder {
    phone: String,
    pin: String,
    uids: Vec<String>,
    full_name: String,
    organization: Option<String>,
    email: Option<String>,
    #[serde(default)]
    revoked: bool,
    fault: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteUser {
    user_id: String,
    pin: String,
    uids: Vec<String>,
    full_name: String,
    organization: Option<String>,
    email: Option<String>,
    #[serde(default)]
    revoked: bool,
    fault: Option<String>,
}

/// The `UID` prefixes of Vietnamese signature certificates, and the digits each takes.
const UID_PREFIXES: [(&str, &[usize]); 5] = [
    ("CCCD:", &[12]),
    ("CMND:", &[9]),
    ("HC:", &[]),
    ("MST:", &[10, 13]),
    ("MNS:", &[]),
];

fn check_subject(
    entry: &str,
    raw: RawSubject<'_>,
    problems: &mut Vec<String>,
) -> Option<SeedCertSubject> {
    let before = problems.len();
    if raw.uids.is_empty() {
        problems.push(format!("{entry}: uids must name at least one ID"));
    }
    for uid in raw.uids {
        let known = UID_PREFIXES
            .iter()
            .find_map(|(prefix, lengths)| uid.strip_prefix(*prefix).map(|rest| (rest, *lengths)));
        let ok = match known {
            Some((rest, [])) => !rest.trim().is_empty(),
            Some((rest, lengths)) => {
                let digits: String = rest.chars().filter(|c| *c != '-').collect();
                lengths.contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
            }
            None => false,
        };
        if !ok {
            problems.push(format!(
                "{entry}: uid {uid:?} must be CCCD:<12 digits>, CMND:<9 digits>, MST:<10 digits or 10-3>, HC:… or MNS:…"
            ));
        }
    }
    let full_name = check_name(entry, raw.full_name, problems);
    (problems.len() == before).then(|| SeedCertSubject {
        uids: raw.uids.to_vec(),
        full_name: full_name.unwrap_or_default(),
        organization: raw.organization.filter(|o| !o.trim().is_empty()).cloned(),
        email: raw.email.filter(|e| !e.trim().is_empty()).cloned(),
        revoked: raw.revoked,
    })
}

fn check_pin(entry: &str, value: &str, problems: &mut Vec<String>) -> Option<String> {
    if (4..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Some(value.to_string())
    } else {
        problems.push(format!("{entry}: pin must be 4 to 8 digits"));
        None
    }
}

// Everything is read as text and validated by hand, so each message can name the entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscriber {
    phone: String,
    id_number: String,
    full_name: String,
    birthdate: String,
    fault: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBhxh {
    bhxh_code: String,
    id_number: String,
    full_name: String,
    birthdate: String,
    phone: Option<String>,
    fault: Option<String>,
}

fn check_id_number(entry: &str, value: &str, problems: &mut Vec<String>) -> Option<String> {
    let v = value.trim();
    if (v.len() == 12 || v.len() == 9) && v.bytes().all(|b| b.is_ascii_digit()) {
        Some(v.to_string())
    } else {
        problems.push(format!(
            "{entry}: id_number {value:?} must be 12 digits (CCCD) or 9 digits (CMND)"
        ));
        None
    }
}

fn check_name(entry: &str, value: &str, problems: &mut Vec<String>) -> Option<String> {
    if value.trim().is_empty() {
        problems.push(format!("{entry}: full_name is empty"));
        None
    } else {
        // Kept as written: the seed may deliberately store odd spacing, case or NFD.
        Some(value.to_string())
    }
}

fn check_birthdate(entry: &str, value: &str, problems: &mut Vec<String>) -> Option<NaiveDate> {
    let date = parse_dd_mm_yyyy(value);
    if date.is_none() {
        problems.push(format!(
            "{entry}: birthdate {value:?} is not a date in dd/mm/yyyy form"
        ));
    }
    date
}

fn check_fault(entry: &str, value: Option<&str>, problems: &mut Vec<String>) -> Option<Fault> {
    match value.map(str::trim) {
        None | Some("none") => Some(Fault::None),
        Some("error") => Some(Fault::Error),
        Some("timeout") => Some(Fault::Timeout),
        Some("malformed") => Some(Fault::Malformed),
        Some(other) => {
            problems.push(format!(
                "{entry}: fault {other:?} is not one of none, error, timeout, malformed"
            ));
            None
        }
    }
}

/// `dd/mm/yyyy` exactly (chrono's `%d/%m/%Y` would also take `1/6/90` as the year 90).
pub(crate) fn parse_dd_mm_yyyy(value: &str) -> Option<NaiveDate> {
    let mut parts = value.trim().split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || d.len() != 2 || m.len() != 2 || y.len() != 4 {
        return None;
    }
    if ![d, m, y]
        .iter()
        .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// A Vietnamese mobile number in E.164 (`+84` + 9 digits) from `0xxxxxxxxx`, `+84xxxxxxxxx`
/// or `84xxxxxxxxx`, ignoring spaces, dots and dashes. Deliberately minimal (the domain's
/// `PhoneNumber` is the real one); the sandbox only needs one key per number.
pub(crate) fn normalize_phone(input: &str) -> Option<String> {
    let compact: String = input
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '.' || *c == '-'))
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+84") {
        rest
    } else if compact.len() == 10
        && let Some(rest) = compact.strip_prefix('0')
    {
        rest
    } else {
        compact.strip_prefix("84")?
    };
    let first = national.bytes().next()?;
    if national.len() != 9 || !national.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Mobile ranges since the 2018 renumbering start with 3, 5, 7, 8 or 9.
    if !b"35789".contains(&first) {
        return None;
    }
    Some(format!("+84{national}"))
}
