//! A client registration as an admin (console or API) or an operator (CLI) writes it: one set
//! of rules, [`check`] (no network) then [`check_remote`] (the sector identifier and the
//! `jwks_uri` are fetched), so every door validates identically. Errors are per field: a
//! theme message for the console and the API, and an English sentence for the CLI.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::Role;
use crate::message::{FieldErrors, Message};
use crate::oidc::acr::AcrPolicy;
use crate::oidc::client::{
    ASSERTION_SIGNING_ALGS, Client, ClientAuthMethod, SubjectIdentifierType, is_loopback,
    redirect_uri_error,
};

/// The grant types a client may be given.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// The token endpoint authentication methods (`none`: a public client).
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// The editable fields of a client registration (create and full replacement).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClientDraft {
    /// `[A-Za-z0-9._-]{3,64}`; at creation only (none: generated). Ignored on an edit.
    pub client_id: Option<String>,
    /// Shown on the consent page (1–200 characters).
    pub name: String,
    /// Exact URIs: https, http only to a loopback host, no fragment; a reverse-domain custom
    /// scheme only for a public client.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// https (http only to a loopback host).
    pub backchannel_logout_uri: Option<String>,
    /// A subset of authorization_code, refresh_token, client_credentials (a public client: no
    /// client_credentials).
    pub grant_types: Vec<String>,
    /// client_secret_basic, client_secret_post, private_key_jwt or none (a public client).
    pub token_endpoint_auth_method: String,
    /// private_key_jwt: the client's public JWK set (exactly one of `jwks`, `jwks_uri`).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// private_key_jwt: an https URL serving the client's public JWK set.
    pub jwks_uri: Option<String>,
    /// Known user scopes (`openid`, `profile`, …, `offline_access`) and admin scopes
    /// (`xacthuc:*`, which only an admin may give).
    pub allowed_scopes: Vec<String>,
    /// The lowest accepted acr (the configured IAL2 or IAL3 value), or none.
    pub min_acr: Option<String>,
    pub skip_consent: bool,
    pub require_phishing_resistant: bool,
    pub omit_iss_in_errors: bool,
    /// `public` (default) or `pairwise`.
    pub subject_type: Option<String>,
    pub sector_identifier_uri: Option<String>,
    /// RS256 or ES256 (none: the configured default).
    pub id_token_alg: Option<String>,
    /// One of the deployment's client themes (`theme.clients_dir`), or none: the common theme.
    pub theme: Option<String>,
    /// An edit: the version it is based on (or `If-Match`); ignored at creation.
    pub version: Option<i32>,
}

/// What is wrong with a draft: per field a theme message (first problem of the field), and
/// every problem in English for the command line.
#[derive(Debug, Default)]
pub struct DraftErrors {
    pub fields: FieldErrors,
    english: Vec<String>,
}

impl DraftErrors {
    fn add(&mut self, field: &'static str, message: Message, english: impl Into<String>) {
        self.fields.entry(field).or_insert(message);
        self.english.push(english.into());
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every problem, in English, one after the other.
    pub fn english(&self) -> String {
        self.english.join("; ")
    }
}

impl std::fmt::Display for DraftErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.english())
    }
}

impl std::error::Error for DraftErrors {}

/// Who writes the draft, and what it replaces.
pub struct Context<'a> {
    pub acr: &'a AcrPolicy,
    /// The configured ID token algorithm, for a draft that names none.
    pub default_id_token_alg: &'a str,
    /// Admin scopes (`xacthuc:*`) open the admin API: only an admin (or the operator at the
    /// command line) may give them, or a client manager could make themselves an admin.
    pub may_give_admin_scopes: bool,
    /// The registration being replaced (none: a new client). Its secrets, id, version and
    /// state are kept.
    pub existing: Option<&'a Client>,
    /// The per-client themes this deployment has (`theme.clients_dir`): a client may name one.
    pub theme_names: Vec<&'a str>,
}

impl<'a> Context<'a> {
    /// Whether `roles` may give admin scopes.
    pub fn admin_scopes_allowed(roles: &[Role]) -> bool {
        roles.contains(&Role::Admin)
    }
}

/// A client id of our own shape: `[A-Za-z0-9._-]{3,64}`, and not `new` (the console's
/// `/admin/clients/new` is the form that makes one).
pub fn valid_new_client_id(id: &str) -> bool {
    id != "new"
        && (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The user scopes a client may be allowed (every scope we know how to answer).
pub fn user_scopes() -> impl Iterator<Item = &'static str> {
    crate::oidc::claims::SCOPES.iter().map(|(s, _)| *s)
}

fn is_admin_scope(scope: &str) -> bool {
    Role::from_api_scope(scope).is_some()
}

fn blank_to_none(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The registration a draft describes, or what is wrong with it (every field checked). A new
/// secret client gets a secret, returned once (only its hash is kept); an edit keeps the
/// current secrets unless the auth method changes to one with a secret for the first time.
pub fn check(
    draft: &ClientDraft,
    ctx: &Context<'_>,
) -> Result<(Client, Option<String>), DraftErrors> {
    let mut errs = DraftErrors::default();

    let client_id = match (ctx.existing, blank_to_none(&draft.client_id)) {
        (Some(existing), _) => existing.client_id.clone(),
        (None, None) => uuid::Uuid::new_v4().to_string(),
        (None, Some(id)) => {
            if !valid_new_client_id(&id) {
                errs.add(
                    "client_id",
                    Message::new("admin_clients_id_invalid"),
                    "client_id must be 3 to 64 letters, digits, '.', '_' or '-'",
                );
            }
            id
        }
    };

    let name = draft.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        errs.add(
            "name",
            Message::new("admin_clients_name_invalid"),
            "name must be 1 to 200 characters",
        );
    }

    let auth_method = match ClientAuthMethod::parse(draft.token_endpoint_auth_method.trim()) {
        Some(m) => m,
        None => {
            errs.add(
                "token_endpoint_auth_method",
                Message::new("admin_clients_auth_method_invalid"),
                "token_endpoint_auth_method must be client_secret_basic, client_secret_post, \
                 private_key_jwt or none",
            );
            ClientAuthMethod::ClientSecretBasic
        }
    };
    let public = auth_method == ClientAuthMethod::None;

    let clean = |uris: &[String]| -> Vec<String> {
        uris.iter()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect()
    };
    let redirect_uris = clean(&draft.redirect_uris);
    let post_logout_redirect_uris = clean(&draft.post_logout_redirect_uris);
    for (field, uris) in [
        ("redirect_uris", &redirect_uris),
        ("post_logout_redirect_uris", &post_logout_redirect_uris),
    ] {
        for uri in uris {
            if let Some(e) = redirect_uri_error(uri, public) {
                errs.add(
                    field,
                    Message::new(e.key()).with("uri", uri),
                    format!("{uri}: {}", e.english()),
                );
            }
        }
    }

    // We call the back-channel URI ourselves: https (http to loopback), never an app's scheme.
    let backchannel_logout_uri = blank_to_none(&draft.backchannel_logout_uri);
    if let Some(uri) = &backchannel_logout_uri
        && !web_url(uri)
    {
        errs.add(
            "backchannel_logout_uri",
            Message::new("admin_clients_backchannel_invalid"),
            format!("{uri}: a back-channel logout URI must be https (plain http only to a loopback host)"),
        );
    }

    let grant_types: Vec<String> = {
        let mut g: Vec<String> = draft
            .grant_types
            .iter()
            .map(|g| g.trim().to_string())
            .collect();
        g.dedup();
        g
    };
    if let Some(bad) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        errs.add(
            "grant_types",
            Message::new("admin_clients_grant_unknown").with("grant", bad),
            format!("unknown grant type {bad}"),
        );
    } else if grant_types.is_empty() {
        errs.add(
            "grant_types",
            Message::new("admin_clients_grant_required"),
            "at least one grant type is required",
        );
    } else if public && grant_types.iter().any(|g| g == "client_credentials") {
        errs.add(
            "grant_types",
            Message::new("admin_clients_grant_public_credentials"),
            "a public client cannot use client_credentials",
        );
    }
    if grant_types.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        errs.add(
            "redirect_uris",
            Message::new("admin_clients_redirect_required"),
            "the authorization_code grant needs at least one redirect URI",
        );
    }

    let jwks_uri = blank_to_none(&draft.jwks_uri);
    let jwks = match &draft.jwks {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        // The console sends the set as text.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => Some(v),
            Err(_) => {
                errs.add(
                    "jwks",
                    Message::new("admin_clients_jwks_invalid"),
                    "jwks is not a JSON JWK set",
                );
                None
            }
        },
        Some(v) => Some(v.clone()),
    };
    if auth_method == ClientAuthMethod::PrivateKeyJwt {
        match (&jwks, &jwks_uri) {
            (Some(set), None) => {
                if let Err((key, english)) = check_public_jwk_set(set) {
                    errs.add("jwks", Message::new(key), english);
                }
            }
            (None, Some(uri)) => {
                if !web_url(uri) {
                    errs.add(
                        "jwks_uri",
                        Message::new("admin_clients_jwks_uri_not_https"),
                        format!("{uri}: a jwks_uri must be https"),
                    );
                }
            }
            _ if errs.fields.contains_key("jwks") => {}
            _ => errs.add(
                "jwks",
                Message::new("admin_clients_jwks_one_of"),
                "a private_key_jwt client needs exactly one of jwks and jwks_uri",
            ),
        }
    } else if jwks.is_some() || jwks_uri.is_some() {
        errs.add(
            if jwks.is_some() { "jwks" } else { "jwks_uri" },
            Message::new("admin_clients_jwks_not_for_method"),
            "jwks and jwks_uri are only for a private_key_jwt client",
        );
    }

    let mut allowed_scopes: Vec<String> = Vec::new();
    for scope in draft.allowed_scopes.iter().map(|s| s.trim()) {
        if scope.is_empty() || allowed_scopes.iter().any(|s| s == scope) {
            continue;
        }
        if is_admin_scope(scope) {
            if !ctx.may_give_admin_scopes {
                errs.add(
                    "allowed_scopes",
                    Message::new("admin_clients_scope_admin_only").with("scope", scope),
                    format!("only an admin may give the scope {scope}"),
                );
            }
        } else if !user_scopes().any(|s| s == scope) {
            errs.add(
                "allowed_scopes",
                Message::new("admin_clients_scope_unknown").with("scope", scope),
                format!("unknown scope {scope}"),
            );
        }
        allowed_scopes.push(scope.to_string());
    }

    let min_ial = match blank_to_none(&draft.min_acr) {
        None => None,
        Some(acr) => match ctx.acr.ial(&acr) {
            Some(ial) => Some(ial),
            None => {
                errs.add(
                    "min_acr",
                    Message::new("admin_clients_acr_unknown")
                        .with("ial2", ctx.acr.acr(crate::domain::Ial::Ial2))
                        .with("ial3", ctx.acr.acr(crate::domain::Ial::Ial3)),
                    format!("unknown acr {acr}"),
                );
                None
            }
        },
    };

    let subject_type = match blank_to_none(&draft.subject_type) {
        None => SubjectIdentifierType::Public,
        Some(s) => SubjectIdentifierType::parse(&s).unwrap_or_else(|| {
            errs.add(
                "subject_type",
                Message::new("admin_clients_subject_type_invalid"),
                "subject_type must be public or pairwise",
            );
            SubjectIdentifierType::Public
        }),
    };

    let id_token_alg =
        blank_to_none(&draft.id_token_alg).unwrap_or_else(|| ctx.default_id_token_alg.to_string());
    if !crate::keys::ALGORITHMS.contains(&id_token_alg.as_str()) {
        errs.add(
            "id_token_alg",
            Message::new("admin_clients_id_token_alg_invalid"),
            "id token algorithm must be RS256 or ES256",
        );
    }

    let theme = blank_to_none(&draft.theme);
    if let Some(name) = &theme
        && !ctx.theme_names.contains(&name.as_str())
    {
        let known = if ctx.theme_names.is_empty() {
            "-".to_string()
        } else {
            ctx.theme_names.join(", ")
        };
        errs.add(
            "theme",
            Message::new("admin_clients_theme_unknown").with("themes", &known),
            "the theme is not one of this deployment's client themes (theme.clients_dir)",
        );
    }

    // Secrets: an edit keeps them while the client still uses a secret; a client that comes
    // to use one (a new one, or a change of method) gets a fresh one, shown once.
    let keeps_secret = ctx
        .existing
        .is_some_and(|e| e.auth_method.uses_secret() && e.secret_hash.is_some());
    let secret = (auth_method.uses_secret() && !keeps_secret).then(crate::random::token);
    let (secret_hash, previous_secret) = match ctx.existing {
        Some(e) if auth_method.uses_secret() && keeps_secret => {
            (e.secret_hash.clone(), e.previous_secret.clone())
        }
        _ => (secret.as_deref().map(crate::random::sha256_hex), None),
    };

    let client = Client {
        client_id,
        name,
        secret_hash,
        auth_method,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        grant_types,
        allowed_scopes,
        jwks: jwks.filter(|_| auth_method == ClientAuthMethod::PrivateKeyJwt),
        skip_consent: draft.skip_consent,
        min_ial,
        id_token_alg,
        require_phishing_resistant: draft.require_phishing_resistant,
        previous_secret,
        omit_iss_in_errors: draft.omit_iss_in_errors,
        subject_type,
        sector_identifier_uri: blank_to_none(&draft.sector_identifier_uri),
        jwks_uri: jwks_uri.filter(|_| auth_method == ClientAuthMethod::PrivateKeyJwt),
        disabled: ctx.existing.is_some_and(|e| e.disabled),
        theme,
        version: ctx.existing.map_or(1, |e| e.version),
        updated_at: ctx.existing.and_then(|e| e.updated_at),
    };
    if !errs.fields.contains_key("redirect_uris")
        && let Err(english) = crate::oidc::subject::check_registration(&client)
    {
        errs.add(
            "sector_identifier_uri",
            Message::new("admin_clients_sector_invalid"),
            english,
        );
    }
    if errs.is_empty() {
        Ok((client, secret))
    } else {
        Err(errs)
    }
}

/// A client as the admin area shows it (and as its audit events record it): everything but
/// the secrets, of which only whether there is one and when the previous one stops.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub token_endpoint_auth_method: String,
    /// A public client (no secret, PKCE).
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub allowed_scopes: Vec<String>,
    pub min_acr: Option<String>,
    pub skip_consent: bool,
    pub require_phishing_resistant: bool,
    pub omit_iss_in_errors: bool,
    pub subject_type: String,
    pub sector_identifier_uri: Option<String>,
    pub id_token_alg: String,
    pub theme: Option<String>,
    pub disabled: bool,
    /// Name it when editing (`version` in the body, or `If-Match`).
    pub version: i32,
    pub has_secret: bool,
    /// Until when the secret replaced by the last rotation still works.
    pub previous_secret_expires_at: Option<String>,
    pub updated_at: Option<String>,
}

impl ClientView {
    pub fn of(c: &Client, acr: &AcrPolicy) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            token_endpoint_auth_method: c.auth_method.as_str().to_string(),
            public: c.is_public(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            grant_types: c.grant_types.clone(),
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            allowed_scopes: c.allowed_scopes.clone(),
            min_acr: c.min_ial.map(|i| acr.acr(i).to_string()),
            skip_consent: c.skip_consent,
            require_phishing_resistant: c.require_phishing_resistant,
            omit_iss_in_errors: c.omit_iss_in_errors,
            subject_type: c.subject_type.as_str().to_string(),
            sector_identifier_uri: c.sector_identifier_uri.clone(),
            id_token_alg: c.id_token_alg.clone(),
            theme: c.theme.clone(),
            disabled: c.disabled,
            version: c.version,
            has_secret: c.auth_method.uses_secret() && c.secret_hash.is_some(),
            previous_secret_expires_at: c
                .previous_secret
                .as_ref()
                .map(|p| p.expires_at.to_rfc3339()),
            updated_at: c.updated_at.map(|t| t.to_rfc3339()),
        }
    }

    /// As an audit event's before or after.
    pub fn audit_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The draft that re-saves `c` unchanged (the console's edit form starts from it).
pub fn draft_of(c: &Client, acr: &AcrPolicy) -> ClientDraft {
    ClientDraft {
        client_id: Some(c.client_id.clone()),
        name: c.name.clone(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        grant_types: c.grant_types.clone(),
        token_endpoint_auth_method: c.auth_method.as_str().to_string(),
        jwks: c.jwks.clone(),
        jwks_uri: c.jwks_uri.clone(),
        allowed_scopes: c.allowed_scopes.clone(),
        min_acr: c.min_ial.map(|i| acr.acr(i).to_string()),
        skip_consent: c.skip_consent,
        require_phishing_resistant: c.require_phishing_resistant,
        omit_iss_in_errors: c.omit_iss_in_errors,
        subject_type: Some(c.subject_type.as_str().to_string()),
        sector_identifier_uri: c.sector_identifier_uri.clone(),
        id_token_alg: Some(c.id_token_alg.clone()),
        theme: c.theme.clone(),
        version: Some(c.version),
    }
}

/// The checks that go out to the network, after [`check`]: a pairwise client's sector
/// identifier lists its redirect URIs (OIDC Core §8.1); a `jwks_uri` answers a public JWK set.
pub async fn check_remote(http: &reqwest::Client, client: &Client) -> Result<(), DraftErrors> {
    let mut errs = DraftErrors::default();
    if let Err(english) = crate::oidc::subject::check_sector_identifier(http, client).await {
        errs.add(
            "sector_identifier_uri",
            Message::new("admin_clients_sector_unusable"),
            english,
        );
    }
    if let Some(uri) = &client.jwks_uri {
        let checked = crate::oidc::jwks_uri::fetch(http, uri)
            .await
            .and_then(|set| check_public_jwk_set(&set).map_err(|(_, english)| english));
        if let Err(english) = checked {
            errs.add(
                "jwks_uri",
                Message::new("admin_clients_jwks_uri_unusable"),
                format!("{uri}: {english}"),
            );
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// https with a host, or plain http to a loopback host (development and tests).
fn web_url(uri: &str) -> bool {
    match url::Url::parse(uri) {
        Ok(u) if u.fragment().is_none() => match u.scheme() {
            "https" => u.has_host(),
            "http" => is_loopback(&u),
            _ => false,
        },
        _ => false,
    }
}

/// A JWK set of public signing keys we can verify client assertions with: `{"keys": [...]}`,
/// at least one key, each RSA or EC P-256, any `alg` one we accept, and no private member (a
/// client that pasted its private key must not have it stored). The error: a theme key and
/// the English reason.
pub fn check_public_jwk_set(set: &Value) -> Result<(), (&'static str, String)> {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or((
            "admin_clients_jwks_invalid",
            "not a JWK set with keys".to_string(),
        ))?;
    for key in keys {
        let map = key.as_object().ok_or((
            "admin_clients_jwks_invalid",
            "a key is not a JSON object".to_string(),
        ))?;
        let field = |name: &str| map.get(name).and_then(Value::as_str);
        if field("kty") == Some("oct") || PRIVATE_MEMBERS.iter().any(|m| map.contains_key(*m)) {
            return Err((
                "admin_clients_jwks_private_key",
                "the JWK set holds a private or symmetric key; register public keys only"
                    .to_string(),
            ));
        }
        let type_ok = match field("kty") {
            Some("RSA") => field("alg").is_none_or(|a| a == "RS256" || a == "PS256"),
            Some("EC") => {
                field("crv") == Some("P-256") && field("alg").is_none_or(|a| a == "ES256")
            }
            _ => false,
        };
        if !type_ok || field("alg").is_some_and(|a| !ASSERTION_SIGNING_ALGS.contains(&a)) {
            return Err((
                "admin_clients_jwks_alg",
                format!(
                    "each key must be RSA or EC P-256 for {}",
                    ASSERTION_SIGNING_ALGS.join(", ")
                ),
            ));
        }
        if josekit::jwk::Jwk::from_map(map.clone()).is_err() {
            return Err((
                "admin_clients_jwks_invalid",
                "a key does not parse as a JWK".to_string(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx(acr: &AcrPolicy, admin: bool) -> Context<'_> {
        Context {
            acr,
            default_id_token_alg: "RS256",
            may_give_admin_scopes: admin,
            existing: None,
            theme_names: vec!["khanh-hoa"],
        }
    }

    fn draft() -> ClientDraft {
        ClientDraft {
            name: "Cổng".into(),
            redirect_uris: vec!["https://portal.example.vn/cb".into()],
            grant_types: vec!["authorization_code".into()],
            token_endpoint_auth_method: "client_secret_basic".into(),
            allowed_scopes: vec!["openid".into(), "profile".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_draft_makes_a_secret_client_and_shows_the_secret_once() {
        let acr = AcrPolicy::new(&Default::default());
        let (client, secret) = check(&draft(), &ctx(&acr, false)).unwrap();
        let secret = secret.expect("a secret");
        assert_eq!(
            client.secret_hash.as_deref(),
            Some(crate::random::sha256_hex(&secret).as_str())
        );
        assert!(valid_new_client_id(&client.client_id));
    }

    #[test]
    fn admin_scopes_only_from_an_admin() {
        let acr = AcrPolicy::new(&Default::default());
        let mut d = draft();
        d.allowed_scopes.push("xacthuc:admin".into());
        let errs = check(&d, &ctx(&acr, false)).unwrap_err();
        assert_eq!(
            errs.fields["allowed_scopes"].key,
            "admin_clients_scope_admin_only"
        );
        assert!(check(&d, &ctx(&acr, true)).is_ok());
    }

    #[test]
    fn a_jwk_set_holds_public_signing_keys_only() {
        let public = json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert_eq!(check_public_jwk_set(&json!({ "keys": [public] })), Ok(()));
        let mut private = public.clone();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        let key = |v| check_public_jwk_set(&v).unwrap_err().0;
        assert_eq!(
            key(json!({ "keys": [private] })),
            "admin_clients_jwks_private_key"
        );
        assert_eq!(
            key(json!({ "keys": [{"kty": "oct", "k": "AAAA"}] })),
            "admin_clients_jwks_private_key"
        );
        let mut hs = public.clone();
        hs["alg"] = json!("HS256");
        assert_eq!(key(json!({ "keys": [hs] })), "admin_clients_jwks_alg");
        assert_eq!(key(json!({ "keys": [] })), "admin_clients_jwks_invalid");
    }
}
