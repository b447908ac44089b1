//! The authorization endpoint's rules: an ordered list of small named checks over the request,
//! then the decision (log in, ask consent, issue a code, or fail) given the SSO session.
//!
//! Errors before the redirect URI is verified are shown on a page ([`PageError`]); after, they
//! go back to the client ([`OAuthError`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::acr::AcrPolicy;
use super::client::Client;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::domain::Ial;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// A validated authorization request, kept in the ephemeral store while the user logs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub acr_values: Vec<String>,
    /// The `claims` parameter, validated as a JSON object.
    pub claims: Option<Value>,
    pub login_hint: Option<String>,
    pub ui_locales: Vec<String>,
    /// Lowest level acceptable: an essential `acr` claim or the client's minimum.
    pub required_ial: Option<Ial>,
}

impl AuthorizationRequest {
    pub fn has_prompt(&self, p: &str) -> bool {
        self.prompt.iter().any(|x| x == p)
    }
}

/// Why an authorization request cannot even be answered by redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    MissingClientId,
    UnknownClient,
    MissingRedirectUri,
    UnregisteredRedirectUri,
}

/// Where to send an error once the redirect URI is known.
#[derive(Debug, Clone)]
pub struct ErrorTarget {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
}

/// First stage: the client and the redirect URI, exactly as registered.
pub fn check_redirect_uri(params: &Params, client: &Client) -> Result<ErrorTarget, PageError> {
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or(PageError::MissingRedirectUri)?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(PageError::UnregisteredRedirectUri);
    }
    let response_mode = match params.get("response_mode") {
        Some("form_post") => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    };
    Ok(ErrorTarget {
        redirect_uri: redirect_uri.to_string(),
        response_mode,
        state: params.get("state").map(str::to_string),
    })
}

const PROMPTS: &[&str] = &["none", "login", "consent", "select_account"];
const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;
const MAX_HINT: usize = 256;

/// Second stage: every other check, in order. The first failure is the answer.
pub fn validate(
    params: &Params,
    client: &Client,
    target: &ErrorTarget,
    acr: &AcrPolicy,
) -> Result<AuthorizationRequest, OAuthError> {
    if params.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    if let Some(mode) = params.get("response_mode")
        && mode != "query"
        && mode != "form_post"
    {
        return Err(OAuthError::invalid_request(
            "response_mode must be query or form_post",
        ));
    }
    match params.get("response_type") {
        None => return Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let scopes = check_scope(params.get("scope"), client)?;
    let code_challenge = check_pkce(params, client)?;
    let prompt = check_prompt(params.get("prompt"))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(s) => Some(s.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a non-negative integer")
        })?),
    };
    for (name, max) in [
        ("state", MAX_STATE),
        ("nonce", MAX_NONCE),
        ("login_hint", MAX_HINT),
    ] {
        if params.get(name).is_some_and(|v| v.len() > max) {
            return Err(OAuthError::invalid_request(format!("{name} is too long")));
        }
    }
    let claims = match params.get("claims") {
        None => None,
        Some(s) => Some(
            serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| OAuthError::invalid_request("claims must be a JSON object"))?,
        ),
    };
    let essential = claims
        .as_ref()
        .and_then(|c| essential_acr(c, acr))
        .transpose()?;
    let required_ial = match (essential, client.min_ial) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: target.redirect_uri.clone(),
        response_mode: target.response_mode,
        scopes,
        state: target.state.clone(),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        acr_values: split(params.get("acr_values")),
        claims,
        login_hint: params.get("login_hint").map(str::to_string),
        ui_locales: split(params.get("ui_locales")),
        required_ial,
    })
}

fn split(v: Option<&str>) -> Vec<String> {
    v.map(|s| {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// `openid` is required; scopes the client may not request are dropped (RFC 6749 §3.3 lets
/// the server grant less; the granted scope is returned with the tokens).
fn check_scope(scope: Option<&str>, client: &Client) -> Result<Vec<String>, OAuthError> {
    let requested = split(scope);
    if !requested.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "scope must include openid",
        ));
    }
    let mut granted: Vec<String> = Vec::new();
    for s in requested {
        if (s == "openid" || client.allowed_scopes.contains(&s)) && !granted.contains(&s) {
            granted.push(s);
        }
    }
    Ok(granted)
}

/// RFC 7636 with S256 only: `plain` is refused, public clients must send a challenge.
fn check_pkce(params: &Params, client: &Client) -> Result<Option<String>, OAuthError> {
    let challenge = params.get("code_challenge");
    let method = params.get("code_challenge_method");
    match (challenge, method) {
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        (None, None) if client.is_public() => Err(OAuthError::invalid_request(
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        )),
        (None, None) => Ok(None),
        (Some(_), method) if method != Some("S256") => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        )),
        (Some(c), _) => {
            let well_formed = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if well_formed {
                Ok(Some(c.to_string()))
            } else {
                Err(OAuthError::invalid_request(
                    "code_challenge must be the base64url SHA-256 of the verifier",
                ))
            }
        }
    }
}

fn check_prompt(prompt: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let values = split(prompt);
    if values.iter().any(|p| !PROMPTS.contains(&p.as_str())) {
        return Err(OAuthError::invalid_request("unsupported prompt value"));
    }
    if values.len() > 1 && values.iter().any(|p| p == "none") {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(values)
}

/// The level demanded by `{"id_token": {"acr": {"essential": true, "value(s)": …}}}`: the
/// lowest of the requested values we know. Essential values we cannot produce at all fail.
fn essential_acr(claims: &Value, acr: &AcrPolicy) -> Option<Result<Ial, OAuthError>> {
    let req = claims.get("id_token")?.get("acr")?;
    if req.get("essential").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let mut values: Vec<String> = Vec::new();
    if let Some(v) = req.get("value").and_then(Value::as_str) {
        values.push(v.to_string());
    }
    if let Some(vs) = req.get("values").and_then(Value::as_array) {
        values.extend(vs.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if values.is_empty() {
        return None;
    }
    Some(acr.lowest_known(&values).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnmetAuthenticationRequirements,
            "none of the requested acr values can be met",
        )
    }))
}

/// The authorization server's answer once the request is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Login,
    Consent,
    IssueCode,
}

/// What the decision needs to know about the current SSO session and account.
pub struct SessionFacts {
    pub ial: Ial,
    pub auth_time: i64,
    pub account_ial: Ial,
    pub account_active: bool,
}

/// Decides the next step. `consented` is whether consent is settled for this request: given
/// just now, or stored/skipped and not re-asked by prompt=consent.
pub fn decide(
    req: &AuthorizationRequest,
    session: Option<&SessionFacts>,
    consented: bool,
    now: i64,
    fresh_login: bool,
) -> Result<Decision, OAuthError> {
    let usable = session.filter(|s| {
        s.account_active
            && (fresh_login || !req.has_prompt("login"))
            && req.max_age.is_none_or(|max| now - s.auth_time <= max)
            // A session never satisfies a higher level than it was made with.
            && req.required_ial.is_none_or(|need| s.ial >= need)
    });
    let Some(s) = usable else {
        if req.has_prompt("none") {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user must log in",
            ));
        }
        if let Some(s) = session
            && fresh_login
            && req.required_ial.is_some_and(|need| s.account_ial < need)
        {
            return Err(unmet());
        }
        return Ok(Decision::Login);
    };
    if req.required_ial.is_some_and(|need| s.account_ial < need) {
        return Err(unmet());
    }
    if consented {
        return Ok(Decision::IssueCode);
    }
    if req.has_prompt("none") {
        return Err(OAuthError::new(
            ErrorCode::ConsentRequired,
            "the user must consent",
        ));
    }
    Ok(Decision::Consent)
}

fn unmet() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnmetAuthenticationRequirements,
        "the account's assurance level is below what this request requires",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(required: Option<Ial>, prompt: &[&str]) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "https://rp.example/cb".into(),
            response_mode: ResponseMode::Query,
            scopes: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: prompt.iter().map(|p| p.to_string()).collect(),
            max_age: None,
            acr_values: vec![],
            claims: None,
            login_hint: None,
            ui_locales: vec![],
            required_ial: required,
        }
    }

    fn session(ial: Ial, account_ial: Ial) -> SessionFacts {
        SessionFacts {
            ial,
            auth_time: 1_000,
            account_ial,
            account_active: true,
        }
    }

    #[test]
    fn a_session_never_satisfies_more_than_it_was_made_with() {
        // The account was upgraded to IAL3 after this IAL2 session began: log in again.
        let s = session(Ial::Ial2, Ial::Ial3);
        let d = decide(&request(Some(Ial::Ial3), &[]), Some(&s), true, 1_010, false);
        assert_eq!(d, Ok(Decision::Login));
        // After that fresh login the session is IAL3 and the code is issued.
        let s = session(Ial::Ial3, Ial::Ial3);
        let d = decide(&request(Some(Ial::Ial3), &[]), Some(&s), true, 1_010, true);
        assert_eq!(d, Ok(Decision::IssueCode));
    }

    #[test]
    fn an_ial2_account_cannot_reach_ial3_by_logging_in_again() {
        let s = session(Ial::Ial2, Ial::Ial2);
        let d = decide(&request(Some(Ial::Ial3), &[]), Some(&s), true, 1_010, true);
        assert_eq!(
            d.unwrap_err().code,
            ErrorCode::UnmetAuthenticationRequirements
        );
    }

    #[test]
    fn prompt_none_never_shows_a_page() {
        let s = session(Ial::Ial2, Ial::Ial2);
        let none = request(None, &["none"]);
        assert_eq!(
            decide(&none, None, true, 0, false).unwrap_err().code,
            ErrorCode::LoginRequired
        );
        assert_eq!(
            decide(&none, Some(&s), false, 1_010, false)
                .unwrap_err()
                .code,
            ErrorCode::ConsentRequired
        );
    }

    #[test]
    fn disabled_accounts_must_log_in_again() {
        let mut s = session(Ial::Ial2, Ial::Ial2);
        s.account_active = false;
        assert_eq!(
            decide(&request(None, &[]), Some(&s), true, 1_010, false),
            Ok(Decision::Login)
        );
    }
}
