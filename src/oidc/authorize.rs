//! The authorization endpoint's rules: an ordered list of small named checks over the request,
//! then the decision (log in, ask consent, issue a code, or fail) given the SSO session.
//!
//! The checks are the rows of the `CHECKS` table, run in order by [`validate`]: each reads the
//! request and fills in the part of a draft it validates, and the first one to refuse is the
//! answer. A new feature (PAR, JAR, DPoP) is a new row in its place.
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
    /// The client accepts only phishing-resistant logins.
    #[serde(default)]
    pub phishing_resistant: bool,
    /// The level asked for voluntarily (`acr_values`: the lowest value we know). An account
    /// below it is offered the upgrade; declining continues at the account's level.
    #[serde(default)]
    pub requested_ial: Option<Ial>,
    /// The user declined the upgrade offered for this request ("Không, cảm ơn").
    #[serde(default)]
    pub upgrade_declined: bool,
    /// The client's compatibility switch: its error responses carry no `iss`.
    #[serde(default)]
    pub omit_iss_in_errors: bool,
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
    /// Leave `iss` off (the client's compatibility switch, `Client::omit_iss_in_errors`).
    pub omit_iss: bool,
}

impl ErrorTarget {
    /// Where the errors of a validated request go.
    pub fn of(req: &AuthorizationRequest) -> Self {
        Self {
            redirect_uri: req.redirect_uri.clone(),
            response_mode: req.response_mode,
            state: req.state.clone(),
            omit_iss: req.omit_iss_in_errors,
        }
    }
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
        omit_iss: client.omit_iss_in_errors,
    })
}

const PROMPTS: &[&str] = &["none", "login", "consent", "select_account"];
const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;
const MAX_HINT: usize = 256;
const MAX_SCOPE: usize = 1024;
/// `acr_values`, `ui_locales`: bytes, and values.
const MAX_LIST: usize = 256;
const MAX_LIST_VALUES: usize = 10;
/// The `claims` JSON object, in bytes.
const MAX_CLAIMS: usize = 4096;

/// A check has one job: it reads the request and fills in the part of the draft it validates.
type CheckFn = fn(&mut Check<'_>) -> Result<(), OAuthError>;

/// Second stage: every other check, run in this order. The first failure is the answer, so the
/// order is behaviour (tests assert which error wins). New features (PAR, JAR, DPoP) are new
/// rows.
const CHECKS: &[(&str, CheckFn)] = &[
    ("request_object", no_request_object),
    ("request_uri", no_request_uri),
    ("response_mode", response_mode),
    ("response_type", response_type),
    ("grant_allowed", grant_allowed),
    ("scope", scope),
    ("pkce", pkce),
    ("prompt", prompt),
    ("max_age", max_age),
    ("lengths", lengths),
    ("claims", claims),
];

/// What the checks read (the request, by reference) and what they fill in (the draft).
struct Check<'a> {
    params: &'a Params,
    client: &'a Client,
    target: &'a ErrorTarget,
    acr: &'a AcrPolicy,
    draft: Draft,
}

/// The validated parts of the request, as the checks leave them.
#[derive(Default)]
struct Draft {
    scopes: Vec<String>,
    code_challenge: Option<String>,
    prompt: Vec<String>,
    max_age: Option<i64>,
    claims: Option<Value>,
    required_ial: Option<Ial>,
}

/// Second stage: runs [`CHECKS`] in order, then builds the request from the draft.
pub fn validate(
    params: &Params,
    client: &Client,
    target: &ErrorTarget,
    acr: &AcrPolicy,
) -> Result<AuthorizationRequest, OAuthError> {
    let mut ctx = Check {
        params,
        client,
        target,
        acr,
        draft: Draft::default(),
    };
    for (name, check) in CHECKS {
        if let Err(e) = check(&mut ctx) {
            tracing::debug!(
                check = *name,
                code = e.code.as_str(),
                client = %client.client_id,
                "authorization request refused"
            );
            return Err(e);
        }
    }
    Ok(ctx.finish())
}

impl Check<'_> {
    fn finish(self) -> AuthorizationRequest {
        let Check {
            params,
            client,
            target,
            draft,
            acr,
        } = self;
        AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: target.redirect_uri.clone(),
            response_mode: target.response_mode,
            scopes: draft.scopes,
            state: target.state.clone(),
            nonce: params.get("nonce").map(str::to_string),
            code_challenge: draft.code_challenge,
            prompt: draft.prompt,
            max_age: draft.max_age,
            acr_values: split(params.get("acr_values")),
            claims: draft.claims,
            login_hint: params.get("login_hint").map(str::to_string),
            ui_locales: split(params.get("ui_locales")),
            required_ial: draft.required_ial,
            phishing_resistant: client.require_phishing_resistant,
            requested_ial: acr.lowest_known(&split(params.get("acr_values"))),
            upgrade_declined: false,
            omit_iss_in_errors: client.omit_iss_in_errors,
        }
    }
}

fn no_request_object(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    if ctx.params.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    Ok(())
}

fn no_request_uri(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    if ctx.params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    Ok(())
}

fn response_mode(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    if let Some(mode) = ctx.params.get("response_mode")
        && mode != "query"
        && mode != "form_post"
    {
        return Err(OAuthError::invalid_request(
            "response_mode must be query or form_post",
        ));
    }
    Ok(())
}

fn response_type(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    match ctx.params.get("response_type") {
        None => Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => Ok(()),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        )),
    }
}

fn grant_allowed(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    if !ctx.client.allows_grant("authorization_code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    Ok(())
}

fn scope(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    ctx.draft.scopes = check_scope(ctx.params.get("scope"), ctx.client)?;
    Ok(())
}

fn pkce(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    ctx.draft.code_challenge = check_pkce(ctx.params, ctx.client)?;
    Ok(())
}

fn prompt(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    ctx.draft.prompt = check_prompt(ctx.params.get("prompt"))?;
    Ok(())
}

fn max_age(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    ctx.draft.max_age = match ctx.params.get("max_age") {
        None => None,
        Some(s) => Some(s.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a non-negative integer")
        })?),
    };
    Ok(())
}

/// What a pending request keeps for 30 minutes is bounded: each value's length in bytes and,
/// for lists, the number of values.
fn lengths(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    for (name, max) in [
        ("state", MAX_STATE),
        ("nonce", MAX_NONCE),
        ("login_hint", MAX_HINT),
        ("scope", MAX_SCOPE),
        ("acr_values", MAX_LIST),
        ("ui_locales", MAX_LIST),
        ("claims", MAX_CLAIMS),
    ] {
        if ctx.params.get(name).is_some_and(|v| v.len() > max) {
            return Err(OAuthError::invalid_request(format!("{name} is too long")));
        }
    }
    for name in ["acr_values", "ui_locales"] {
        if split(ctx.params.get(name)).len() > MAX_LIST_VALUES {
            return Err(OAuthError::invalid_request(format!(
                "{name} has too many values"
            )));
        }
    }
    Ok(())
}

/// The `claims` parameter, and the level it makes essential combined with the client's minimum.
fn claims(ctx: &mut Check<'_>) -> Result<(), OAuthError> {
    let claims = match ctx.params.get("claims") {
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
        .and_then(|c| essential_acr(c, ctx.acr))
        .transpose()?;
    ctx.draft.required_ial = match (essential, ctx.client.min_ial) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    ctx.draft.claims = claims;
    Ok(())
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
    Login(LoginNeed),
    /// The logged-in account is below the level asked for: offer the upgrade (bind a signature
    /// certificate of the same person). `essential`: an essential `acr` or the client's minimum,
    /// so declining is `unmet_authentication_requirements`; otherwise (`acr_values`) declining
    /// continues at the account's level.
    Upgrade {
        essential: bool,
    },
    Consent,
    IssueCode,
}

/// Why a login is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginReason {
    /// No SSO session in this browser.
    #[default]
    NoSession,
    /// The session's account has been disabled.
    AccountInactive,
    /// The portal asked for a fresh login (`prompt=login`).
    PromptLogin,
    /// The session is older than the portal's `max_age`.
    MaxAge,
    /// The session was made at a lower level than the portal requires.
    LevelTooLow,
    /// The portal accepts only phishing-resistant logins and the session was not one.
    NotPhishingResistant,
}

/// What a login must achieve for a request: the login page offers only the methods that can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginNeed {
    pub reason: LoginReason,
    /// The lowest level the new session must have.
    pub level: Option<Ial>,
    /// The level of the account of the browser's current session, when there is one: methods
    /// that vouch only for the account's own level cannot lift it.
    pub account_level: Option<Ial>,
    /// Only phishing-resistant methods will do.
    pub phishing_resistant: bool,
}

/// What the decision needs to know about the current SSO session and account.
pub struct SessionFacts {
    pub ial: Ial,
    pub auth_time: i64,
    pub account_ial: Ial,
    pub account_active: bool,
    /// The session was made with a phishing-resistant method.
    pub phishing_resistant: bool,
}

/// Why `session` cannot serve `req` without a new login (`None`: it can). `fresh_login`: the
/// session was made during this very interaction (satisfies `prompt=login`).
fn login_reason(
    req: &AuthorizationRequest,
    session: Option<&SessionFacts>,
    now: i64,
    fresh_login: bool,
) -> Option<LoginReason> {
    let Some(s) = session else {
        return Some(LoginReason::NoSession);
    };
    if !s.account_active {
        Some(LoginReason::AccountInactive)
    } else if !fresh_login && req.has_prompt("login") {
        Some(LoginReason::PromptLogin)
    } else if !fresh_login && req.max_age.is_some_and(|max| now - s.auth_time > max) {
        Some(LoginReason::MaxAge)
    } else if req.required_ial.is_some_and(|need| s.ial < need) {
        // A session never satisfies a higher level than it was made with.
        Some(LoginReason::LevelTooLow)
    } else if req.phishing_resistant && !s.phishing_resistant {
        Some(LoginReason::NotPhishingResistant)
    } else {
        None
    }
}

/// What a login for `req` must achieve, given the browser's current session.
pub fn login_need(
    req: &AuthorizationRequest,
    session: Option<&SessionFacts>,
    now: i64,
) -> LoginNeed {
    LoginNeed {
        reason: login_reason(req, session, now, false).unwrap_or_default(),
        level: req.required_ial,
        account_level: session.filter(|s| s.account_active).map(|s| s.account_ial),
        phishing_resistant: req.phishing_resistant,
    }
}

/// Whether the session's account is below the level `req` asks for, so binding a signature
/// certificate is the way on: `Some(true)` for an essential `acr` or the client's minimum,
/// `Some(false)` for `acr_values` (unless the user declined already), `None` otherwise.
fn upgrade_wanted(req: &AuthorizationRequest, s: &SessionFacts) -> Option<bool> {
    if !s.account_active {
        return None;
    }
    if req.required_ial.is_some_and(|need| s.account_ial < need) {
        return Some(true);
    }
    let voluntary = req.requested_ial.is_some_and(|want| s.account_ial < want);
    (voluntary && !req.upgrade_declined).then_some(false)
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
    let upgrade = session.and_then(|s| upgrade_wanted(req, s));
    // An account below the level asked for cannot reach it by logging in again; the upgrade
    // can lift it. Other reasons to log in (prompt=login, max_age, …) come first.
    let reason = login_reason(req, session, now, fresh_login)
        .filter(|r| !(upgrade.is_some() && *r == LoginReason::LevelTooLow));
    if let Some(reason) = reason {
        if req.has_prompt("none") {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user must log in",
            ));
        }
        // The user just logged in and still falls short: logging in again cannot help.
        if session.is_some() && fresh_login && reason == LoginReason::NotPhishingResistant {
            return Err(unmet());
        }
        let mut need = login_need(req, session, now);
        need.reason = reason;
        return Ok(Decision::Login(need));
    }
    match upgrade {
        // No page may be shown: an essential level is unmet, a voluntary one is let go.
        Some(true) if req.has_prompt("none") => return Err(unmet()),
        Some(true) if req.upgrade_declined => return Err(unmet()),
        Some(essential) if !req.has_prompt("none") => return Ok(Decision::Upgrade { essential }),
        _ => {}
    }
    let s = session.ok_or_else(unmet)?;
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
            phishing_resistant: false,
            requested_ial: None,
            upgrade_declined: false,
            omit_iss_in_errors: false,
        }
    }

    fn session(ial: Ial, account_ial: Ial) -> SessionFacts {
        SessionFacts {
            ial,
            auth_time: 1_000,
            account_ial,
            account_active: true,
            phishing_resistant: false,
        }
    }

    #[test]
    fn a_session_never_satisfies_more_than_it_was_made_with() {
        // The account was upgraded to IAL3 after this IAL2 session began: log in again.
        let s = session(Ial::Ial2, Ial::Ial3);
        let d = decide(&request(Some(Ial::Ial3), &[]), Some(&s), true, 1_010, false);
        assert!(
            matches!(d, Ok(Decision::Login(n)) if n.reason == LoginReason::LevelTooLow),
            "{d:?}"
        );
        // After that fresh login the session is IAL3 and the code is issued.
        let s = session(Ial::Ial3, Ial::Ial3);
        let d = decide(&request(Some(Ial::Ial3), &[]), Some(&s), true, 1_010, true);
        assert_eq!(d, Ok(Decision::IssueCode));
    }

    #[test]
    fn an_ial2_account_is_offered_the_upgrade_not_another_login() {
        let s = session(Ial::Ial2, Ial::Ial2);
        for fresh in [false, true] {
            let d = decide(&request(Some(Ial::Ial3), &[]), Some(&s), true, 1_010, fresh);
            assert_eq!(d, Ok(Decision::Upgrade { essential: true }));
        }
        // Declined while essential, or no page allowed: unmet.
        let mut declined = request(Some(Ial::Ial3), &[]);
        declined.upgrade_declined = true;
        let d = decide(&declined, Some(&s), true, 1_010, false);
        assert_eq!(
            d.unwrap_err().code,
            ErrorCode::UnmetAuthenticationRequirements
        );
        let d = decide(
            &request(Some(Ial::Ial3), &["none"]),
            Some(&s),
            true,
            1_010,
            false,
        );
        assert_eq!(
            d.unwrap_err().code,
            ErrorCode::UnmetAuthenticationRequirements
        );
    }

    #[test]
    fn a_voluntary_ial3_is_offered_once_and_declining_goes_on_at_ial2() {
        let s = session(Ial::Ial2, Ial::Ial2);
        let mut req = request(None, &[]);
        req.requested_ial = Some(Ial::Ial3);
        assert_eq!(
            decide(&req, Some(&s), true, 1_010, true),
            Ok(Decision::Upgrade { essential: false })
        );
        req.upgrade_declined = true;
        assert_eq!(
            decide(&req, Some(&s), true, 1_010, true),
            Ok(Decision::IssueCode)
        );
        // prompt=none lets a voluntary level go without a page.
        let mut none = request(None, &["none"]);
        none.requested_ial = Some(Ial::Ial3);
        assert_eq!(
            decide(&none, Some(&s), true, 1_010, false),
            Ok(Decision::IssueCode)
        );
        // An IAL3 account is not offered anything.
        let strong = session(Ial::Ial3, Ial::Ial3);
        req.upgrade_declined = false;
        assert_eq!(
            decide(&req, Some(&strong), true, 1_010, false),
            Ok(Decision::IssueCode)
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
    fn the_login_need_says_why_and_what_is_required() {
        let s = session(Ial::Ial2, Ial::Ial2);
        let mut req = request(Some(Ial::Ial2), &["login"]);
        req.max_age = Some(60);
        let need = |req: &AuthorizationRequest, s: Option<&SessionFacts>, now| match decide(
            req, s, true, now, false,
        ) {
            Ok(Decision::Login(need)) => need,
            other => panic!("{other:?}"),
        };
        assert_eq!(need(&req, None, 1_010).reason, LoginReason::NoSession);
        assert_eq!(need(&req, Some(&s), 1_010).reason, LoginReason::PromptLogin);
        req.prompt.clear();
        assert_eq!(need(&req, Some(&s), 1_100).reason, LoginReason::MaxAge);
        req.max_age = None;
        req.phishing_resistant = true;
        let n = need(&req, Some(&s), 1_010);
        assert_eq!(n.reason, LoginReason::NotPhishingResistant);
        assert!(n.phishing_resistant);
        assert_eq!(n.level, Some(Ial::Ial2));
        assert_eq!(n.account_level, Some(Ial::Ial2));
        // A passkey session serves it; after a fresh password login it is unmet, not a loop.
        let mut strong = session(Ial::Ial2, Ial::Ial2);
        strong.phishing_resistant = true;
        assert_eq!(
            decide(&req, Some(&strong), true, 1_010, false),
            Ok(Decision::IssueCode)
        );
        assert_eq!(
            decide(&req, Some(&s), true, 1_010, true).unwrap_err().code,
            ErrorCode::UnmetAuthenticationRequirements
        );
    }

    fn client() -> Client {
        Client {
            client_id: "c".into(),
            name: "C".into(),
            secret_hash: None,
            auth_method: super::super::client::ClientAuthMethod::None,
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            grant_types: vec!["authorization_code".into()],
            allowed_scopes: vec!["profile".into()],
            jwks: None,
            skip_consent: false,
            min_ial: None,
            id_token_alg: "RS256".into(),
            require_phishing_resistant: false,
            previous_secret: None,
            omit_iss_in_errors: false,
            subject_type: Default::default(),
            sector_identifier_uri: None,
            jwks_uri: None,
            disabled: false,
            theme: None,
            version: 1,
            updated_at: None,
        }
    }

    fn validate_query(query: &str) -> Result<AuthorizationRequest, OAuthError> {
        let params = Params::parse(query.as_bytes()).unwrap();
        let client = client();
        let target = check_redirect_uri(&params, &client).unwrap();
        let acr = AcrPolicy::new(&crate::config::AcrConfig::default());
        validate(&params, &client, &target, &acr)
    }

    #[test]
    fn checks_are_in_the_documented_order_and_unique() {
        let names: Vec<&str> = CHECKS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "request_object",
                "request_uri",
                "response_mode",
                "response_type",
                "grant_allowed",
                "scope",
                "pkce",
                "prompt",
                "max_age",
                "lengths",
                "claims",
            ]
        );
        let unique: std::collections::HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn the_first_failing_check_wins() {
        let both = "redirect_uri=https%3A%2F%2Frp.example%2Fcb&request=x&response_type=token";
        let e = validate_query(both).unwrap_err();
        assert_eq!(e.code, ErrorCode::RequestNotSupported);
        assert_eq!(e.description, "request objects are not supported");
        // Without the request object, the later check answers.
        let later = "redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=token";
        let e = validate_query(later).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedResponseType);
    }

    #[test]
    fn a_valid_request_is_built_from_the_draft() {
        let req = validate_query(
            "redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code\
             &scope=openid+profile+email+openid&state=s&nonce=n&prompt=login&max_age=60\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
             &claims=%7B%7D&acr_values=a+b",
        )
        .unwrap();
        assert_eq!(req.scopes, ["openid", "profile"]);
        assert_eq!(req.state.as_deref(), Some("s"));
        assert_eq!(req.nonce.as_deref(), Some("n"));
        assert_eq!(req.prompt, ["login"]);
        assert_eq!(req.max_age, Some(60));
        assert!(req.code_challenge.is_some());
        assert_eq!(req.claims, Some(serde_json::json!({})));
        assert_eq!(req.acr_values, ["a", "b"]);
        assert_eq!(req.required_ial, None);
    }

    /// A pending request is kept for 30 minutes: what it keeps is bounded.
    #[test]
    fn oversized_values_kept_in_a_pending_request_are_refused() {
        let base = "redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code\
                    &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
                    &code_challenge_method=S256";
        let claims = format!("%7B%22x%22%3A%22{}%22%7D", "a".repeat(MAX_CLAIMS));
        let scope = format!("openid+{}", "profile+".repeat(200));
        let acr = ["a"; MAX_LIST_VALUES + 1].join("+");
        let locales = "vi+".repeat(MAX_LIST / 3 + 1);
        for (extra, description) in [
            (
                format!("scope=openid&claims={claims}"),
                "claims is too long",
            ),
            (format!("scope={scope}"), "scope is too long"),
            (
                format!("scope=openid&acr_values={acr}"),
                "acr_values has too many values",
            ),
            (
                format!("scope=openid&ui_locales={locales}"),
                "ui_locales is too long",
            ),
        ] {
            let e = validate_query(&format!("{base}&{extra}")).unwrap_err();
            assert_eq!(
                (e.code, &*e.description),
                (ErrorCode::InvalidRequest, description)
            );
        }
        let fits = format!("{base}&scope=openid&acr_values=a+b&ui_locales=vi+en&claims=%7B%7D");
        assert!(validate_query(&fits).is_ok());
    }

    #[test]
    fn disabled_accounts_must_log_in_again() {
        let mut s = session(Ial::Ial2, Ial::Ial2);
        s.account_active = false;
        assert_eq!(
            decide(&request(None, &[]), Some(&s), true, 1_010, false),
            Ok(Decision::Login(LoginNeed {
                reason: LoginReason::AccountInactive,
                ..LoginNeed::default()
            }))
        );
    }
}
