//! Which personal data a relying party receives: by scope, and by the `claims` parameter
//! (only claims whose scope was also consented to — consent is per scope).

use serde_json::{Map, Value, json};

use crate::domain::Account;

/// Scopes this provider understands, with the claims each releases.
pub const SCOPES: &[(&str, &[&str])] = &[
    ("openid", &["sub"]),
    ("profile", &["name", "birthdate", "updated_at"]),
    ("phone", &["phone_number", "phone_number_verified"]),
    ("email", &["email", "email_verified"]),
    ("id_number", &["id_number", "subject_type"]),
    ("offline_access", &[]),
];

pub fn supported_claims() -> Vec<&'static str> {
    let mut out: Vec<&str> = SCOPES.iter().flat_map(|(_, c)| c.iter().copied()).collect();
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

fn claim_scope(claim: &str) -> Option<&'static str> {
    SCOPES
        .iter()
        .find(|(_, claims)| claims.contains(&claim))
        .map(|(scope, _)| *scope)
}

/// Personal claims of `account` released under `scopes`, plus those named in `requested`
/// (a member of the `claims` parameter: `id_token` or `userinfo`) when their scope is granted.
pub fn personal_claims(
    account: &Account,
    phone: Option<&str>,
    scopes: &[String],
    requested: Option<&Value>,
) -> Map<String, Value> {
    let granted =
        |claim: &str| claim_scope(claim).is_some_and(|scope| scopes.iter().any(|s| s == scope));
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
            "id_number" => match &account.id_number {
                Some(n) => json!(n),
                None => continue,
            },
            "subject_type" => json!(account.subject_type.as_str()),
            _ => continue,
        };
        out.insert(name.to_string(), value);
    }
    out
}
