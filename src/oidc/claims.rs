//! Which personal data a relying party receives: by scope, and by the `claims` parameter
//! (only claims whose scope was also consented to — consent is per scope).

use serde_json::{Map, Value, json};

use crate::domain::Account;

/// Scopes this provider understands, with the claims each releases.
pub const SCOPES: &[(&str, &[&str])] = &[
    ("openid", &["sub"]),
    (
        "profile",
        &["name", "birthdate", "updated_at", "subject_type"],
    ),
    ("phone", &["phone_number", "phone_number_verified"]),
    ("email", &["email", "email_verified"]),
    ("id_number", &["id_number", "subject_type"]),
    ("offline_access", &[]),
    // Enterprise and agency accounts: the tax code (enterprises) and the organisation's name
    // (the enterprise, or the official's agency); nothing for citizens.
    (
        "organization",
        &["tax_code", "organization", "subject_type"],
    ),
];

pub fn supported_claims() -> Vec<&'static str> {
    let mut out: Vec<&str> = Vec::new();
    for claim in SCOPES.iter().flat_map(|(_, c)| c.iter().copied()) {
        if !out.contains(&claim) {
            out.push(claim);
        }
    }
    out.extend([
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "sid",
    ]);
    out
}

/// Whether one of `scopes` releases `claim` (a claim may belong to several: `subject_type`).
fn released_by(claim: &str, scopes: &[String]) -> bool {
    SCOPES
        .iter()
        .any(|(scope, claims)| claims.contains(&claim) && scopes.iter().any(|s| s == scope))
}

/// Personal claims of `account` released under `scopes`, plus those named in `requested`
/// (a member of the `claims` parameter: `id_token` or `userinfo`) when their scope is granted.
pub fn personal_claims(
    account: &Account,
    phone: Option<&str>,
    scopes: &[String],
    requested: Option<&Value>,
) -> Map<String, Value> {
    let granted = |claim: &str| released_by(claim, scopes);
    let mut names: Vec<&str> = SCOPES
        .iter()
        .filter(|(scope, _)| scopes.iter().any(|s| s == scope))
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    if let Some(Value::Object(req)) = requested {
        names.extend(req.keys().map(String::as_str).filter(|c| granted(c)));
    }
    let mut out = Map::new();
    for name in names {
        if name == "sub" || out.contains_key(name) {
            continue;
        }
        let value = match name {
            "name" => json!(account.full_name),
            "birthdate" => match account.birthdate {
                Some(d) => json!(d.format("%Y-%m-%d").to_string()),
                None => continue,
            },
            "updated_at" => json!(account.updated_at.timestamp()),
            "phone_number" => match phone {
                Some(p) => json!(p),
                None => continue,
            },
            "phone_number_verified" => match phone {
                Some(_) => json!(true),
                None => continue,
            },
            "email" => match &account.email {
                Some(e) => json!(e),
                None => continue,
            },
            // Only an address whose code the owner entered in the profile is verified.
            "email_verified" => match &account.email {
                Some(_) => json!(account.email_verified),
                None => continue,
            },
            // An agency account's person is the official: their number is its key.
            "id_number" => match account.id_number.as_ref().or(account.official_id.as_ref()) {
                Some(n) => json!(n),
                None => continue,
            },
            "subject_type" => json!(account.subject_type.as_str()),
            "tax_code" => match &account.tax_code {
                Some(t) => json!(t),
                None => continue,
            },
            "organization" => match &account.organization {
                Some(o) => json!(o),
                None => continue,
            },
            _ => continue,
        };
        out.insert(name.to_string(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountStatus, Ial, SubjectType};

    fn account(subject_type: SubjectType) -> Account {
        Account {
            id: "a".into(),
            subject_type,
            id_number: None,
            tax_code: None,
            full_name: "Công ty TNHH Ví Dụ".into(),
            birthdate: None,
            email: None,
            email_verified: false,
            ial: Ial::Ial3,
            registration_method: "usb_token".into(),
            status: AccountStatus::Active,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            organization: None,
            official_id: None,
        }
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_enterprise_releases_its_tax_code_and_name_under_organization_only() {
        let enterprise = Account {
            tax_code: Some("0100233488".into()),
            organization: Some("Công ty TNHH Ví Dụ".into()),
            ..account(SubjectType::Enterprise)
        };
        let c = personal_claims(
            &enterprise,
            None,
            &scopes(&["openid", "organization"]),
            None,
        );
        assert_eq!(c["tax_code"], "0100233488");
        assert_eq!(c["organization"], "Công ty TNHH Ví Dụ");
        assert_eq!(c["subject_type"], "enterprise");
        let c = personal_claims(&enterprise, None, &scopes(&["openid", "profile"]), None);
        assert!(c.get("tax_code").is_none() && c.get("organization").is_none());
        assert_eq!(c["subject_type"], "enterprise");
        // Asked for by name, a claim still needs its scope.
        let asked = serde_json::json!({ "tax_code": null });
        let c = personal_claims(&enterprise, None, &scopes(&["openid"]), Some(&asked));
        assert!(c.get("tax_code").is_none());
    }

    #[test]
    fn an_agency_account_names_its_agency_and_its_official() {
        let agency = Account {
            official_id: Some("001090012345".into()),
            organization: Some("Bộ Tư pháp".into()),
            ..account(SubjectType::Agency)
        };
        let all = scopes(&["openid", "organization", "id_number"]);
        let c = personal_claims(&agency, None, &all, None);
        assert_eq!(c["organization"], "Bộ Tư pháp");
        assert_eq!(c["id_number"], "001090012345");
        assert_eq!(c["subject_type"], "agency");
        assert!(c.get("tax_code").is_none());
        let citizen = personal_claims(&account(SubjectType::Citizen), None, &all, None);
        assert!(citizen.get("organization").is_none());
        assert_eq!(citizen["subject_type"], "citizen");
        assert!(
            supported_claims()
                .iter()
                .filter(|c| **c == "subject_type")
                .count()
                == 1
        );
    }
}
