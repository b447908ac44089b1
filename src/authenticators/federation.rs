//! The `federation` method: log in at an upstream OpenID provider ("Tài khoản Định danh điện tử
//! cấp bởi Bộ Công an", VNeID, or any configured `[[federation.upstreams]]`) and come back on
//! `/login/federation/callback` — the *redirect* shape.
//!
//! `start` picks the upstream (`upstream=` from the page's button), discovers it, and sends the
//! browser there with code + PKCE (S256), a `state` and a `nonce` bound to this login's flow,
//! and the portal's `acr_values`, `max_age`, `login_hint` and `ui_locales`. `submit` takes the
//! callback: the `state` must be this flow's (and is taken once), the code is exchanged, and the
//! ID token is checked with `openidconnect` against the upstream's JWKS, the *configured*
//! issuer, our client id as audience, the nonce and the expiry, accepting asymmetric
//! signatures only (never `none`, never HMAC). The evidence is the upstream's person
//! (`Subject::Identity`, source `Upstream`) at the level mapped from the upstream's level claim,
//! with the upstream's `amr`; `flow::federation` finds, links or creates the account.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IdTokenVerifier, IssuerUrl, Nonce,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{
    Amr, Attestation, Ctx, Evidence, IdentitySource, MAX_ID_TOKEN_HINT, Outcome, Prompt, Redirect,
    Refusal, RefusalKind, StepState, Subject, Traits, UpstreamIdentity, VerifiedIdentity,
};
use crate::connectors::federation::{UpstreamConfig, UpstreamError};
use crate::domain::{Ial, IdNumber, SubjectType};
use crate::message::Message;
use crate::oidc::params::Params;

pub const TRAITS: Traits = Traits {
    identifies: true,
    phishing_resistant: false,
    // An upstream can vouch up to IAL3 (VNeID level 2); what a login proves is the mapped
    // level of its token (`Evidence::level`).
    attests: Attestation::Proves(Ial::Ial3),
    enrols: None,
    from_typed_id: false,
};

/// The path of our callback; the upstream's `redirect_uri` is it under `server.public_url`.
pub const CALLBACK_PATH: &str = "/login/federation/callback";

/// How long the user may take at the upstream.
const TRIP_SECONDS: i64 = 600;

/// The trip to the upstream, kept in the login's flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    pub upstream: String,
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    pub expires_at: i64,
}

/// Everything beyond the standard claims, read by the configured claim names.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type UpstreamIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Asymmetric signatures only: `none` is unsigned, and an HMAC would be keyed with our client
/// secret, which the upstream's operators (or a leak) could use to mint tokens.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The upstream named by the page's button (`upstream=`), or the only one configured.
fn chosen<'c>(ctx: &'c Ctx<'_>, input: &Params) -> Option<&'c UpstreamConfig> {
    let upstreams = &ctx.config.federation.upstreams;
    match input.get("upstream") {
        Some(id) => ctx.config.federation.upstream(id),
        None if upstreams.len() == 1 => upstreams.first(),
        None => None,
    }
}

/// Sends the browser to the upstream.
pub async fn start(ctx: &Ctx<'_>, input: &Params) -> Outcome {
    let Some(upstream) = chosen(ctx, input) else {
        return Outcome::Failed(Refusal::invalid(
            "error_federation_unknown_upstream",
            "unknown_upstream",
        ));
    };
    let discovered = match ctx.upstreams.discover(upstream, ctx.clock.unix_ms()).await {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(upstream_failed(upstream, &e)),
    };
    let state = LoginState {
        upstream: upstream.id.clone(),
        state: crate::random::token(),
        nonce: crate::random::token(),
        code_verifier: crate::random::token(),
        expires_at: ctx.clock.unix() + TRIP_SECONDS,
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(state.code_verifier.as_bytes()));
    let mut url = discovered.metadata.authorization_endpoint().url().clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &upstream.client_id)
            .append_pair("redirect_uri", &callback_url(ctx))
            .append_pair("scope", &upstream.scopes.join(" "))
            .append_pair("state", &state.state)
            .append_pair("nonce", &state.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        // What the portal asked of the login, passed on for the upstream to honour.
        for name in ["acr_values", "max_age", "login_hint", "ui_locales"] {
            if let Some(value) = input.get(name) {
                q.append_pair(name, value);
            }
        }
    }
    let prompt = Prompt::Redirect(Redirect {
        url: url.to_string(),
    });
    Outcome::Prompt(StepState::Federation(state), prompt)
}

/// The upstream sent the browser back: `state`, then `code` (or `error`).
pub async fn submit(state: LoginState, ctx: &Ctx<'_>, input: &Params) -> Outcome {
    let fail = |key: &'static str, reason: &'static str| {
        Outcome::Failed(Refusal::new(
            RefusalKind::Unauthorized,
            Message::new(key),
            reason,
        ))
    };
    let Some(upstream) = ctx.config.federation.upstream(&state.upstream) else {
        return fail("error_federation_unknown_upstream", "unknown_upstream");
    };
    let given = input.get("state").unwrap_or_default();
    if !crate::random::constant_time_eq(given.as_bytes(), state.state.as_bytes()) {
        return fail("error_federation_failed", "state_mismatch");
    }
    if ctx.clock.unix() > state.expires_at {
        return fail("err_flow_expired", "federation_expired");
    }
    // One answer per trip, across nodes: a replayed callback finds the state taken.
    let key = format!(
        "federation_state:{}",
        crate::random::sha256_hex(&state.state)
    );
    match ctx
        .store
        .put_if_absent(
            &key,
            b"1",
            std::time::Duration::from_secs(TRIP_SECONDS as u64),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => return fail("error_federation_failed", "state_replayed"),
        Err(_) => return Outcome::Failed(Refusal::unavailable("store_unavailable")),
    }
    if input.get("error").is_some() {
        // The user cancelled at the upstream, or it refused: nothing to check.
        return fail("error_federation_cancelled", "upstream_error");
    }
    let Some(code) = input.get("code") else {
        return fail("error_federation_failed", "no_code");
    };
    let discovered = match ctx.upstreams.discover(upstream, ctx.clock.unix_ms()).await {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(upstream_failed(upstream, &e)),
    };
    let Some(token_endpoint) = discovered.metadata.token_endpoint() else {
        let e = UpstreamError::Malformed("discovery", "no token_endpoint".into());
        return Outcome::Failed(upstream_failed(upstream, &e));
    };
    let answer = ctx
        .upstreams
        .exchange_code(
            upstream,
            token_endpoint.url().as_str(),
            code,
            &callback_url(ctx),
            &state.code_verifier,
        )
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(upstream_failed(upstream, &e)),
    };
    let Some(id_token) = answer.id_token else {
        let e = UpstreamError::Malformed("token", "no id_token".into());
        return Outcome::Failed(upstream_failed(upstream, &e));
    };
    match verify(ctx, upstream, &discovered.jwks, &id_token, &state.nonce) {
        Ok(mut evidence) => {
            // Kept for our logout to end the upstream's session too (`id_token_hint`).
            if let Subject::Identity(identity) = &mut evidence.subject
                && let IdentitySource::Upstream(u) = &mut identity.source
            {
                u.end_session_endpoint = discovered.end_session_endpoint.clone();
                u.id_token = (id_token.len() <= MAX_ID_TOKEN_HINT).then_some(id_token);
            }
            Outcome::Done(evidence)
        }
        Err(refusal) => {
            // The keys may have rotated: the next login discovers them again.
            ctx.upstreams.forget(upstream);
            Outcome::Failed(refusal)
        }
    }
}

/// Checks the ID token and reads the person from it.
fn verify(
    ctx: &Ctx<'_>,
    upstream: &UpstreamConfig,
    jwks: &openidconnect::core::CoreJsonWebKeySet,
    id_token: &str,
    nonce: &str,
) -> Result<Evidence, Refusal> {
    let refused = |reason: &'static str| {
        Refusal::new(
            RefusalKind::Unauthorized,
            Message::new("error_federation_token_refused").with("upstream", &upstream.name),
            reason,
        )
    };
    // Named in the audit log before the verifier refuses them too (`ALLOWED_ALGS`).
    match header_alg(id_token).as_deref() {
        None => return Err(refused("id_token_malformed")),
        Some("none") => return Err(refused("alg_none")),
        Some(alg) if alg.starts_with("HS") => return Err(refused("alg_hmac")),
        Some(_) => {}
    }
    let token: UpstreamIdToken = id_token
        .parse()
        .map_err(|_| refused("id_token_malformed"))?;
    let issuer = IssuerUrl::new(upstream.issuer.clone()).map_err(|_| refused("issuer_config"))?;
    let now = ctx.clock.now();
    let verifier = IdTokenVerifier::new_public_client(
        ClientId::new(upstream.client_id.clone()),
        issuer,
        jwks.clone(),
    )
    .set_allowed_algs(ALLOWED_ALGS)
    .set_time_fn(move || now);
    let claims = token
        .claims(&verifier, &Nonce::new(nonce.to_string()))
        .map_err(|e| refused(reason_of(&e)))?;
    let all = serde_json::to_value(claims).map_err(|_| refused("id_token_malformed"))?;
    let text = |name: &str| match all.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let id_number = text(&upstream.id_number_claim)
        .and_then(|raw| IdNumber::parse(&raw).ok())
        .ok_or_else(|| refused("no_id_number"))?;
    let level_raw = text(&upstream.level_claim).ok_or_else(|| refused("no_level"))?;
    let ial = upstream
        .levels
        .get(&level_raw)
        .and_then(|l| Ial::from_level(*l))
        .ok_or_else(|| refused("unknown_level"))?;
    let full_name = text("name").unwrap_or_default();
    if !crate::domain::valid_name(&full_name) {
        return Err(refused("no_name"));
    }
    let birthdate = text("birthdate").and_then(|b| NaiveDate::parse_from_str(&b, "%Y-%m-%d").ok());
    let amr = match all.get("amr") {
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(Value::as_str)
            .filter_map(Amr::parse)
            .collect(),
        _ => Vec::new(),
    };
    let identity = VerifiedIdentity {
        subject_type: SubjectType::Citizen,
        id_number: Some(id_number.as_str().to_string()),
        tax_code: None,
        full_name: crate::domain::normalize_name(&full_name),
        birthdate,
        phone: None,
        email: None,
        organization: None,
        certificate: None,
        source: IdentitySource::Upstream(UpstreamIdentity {
            upstream: upstream.id.clone(),
            name: upstream.name.clone(),
            subject: claims.subject().as_str().to_string(),
            level: level_raw,
            end_session_endpoint: None,
            id_token: None,
        }),
    };
    Ok(Evidence {
        subject: Subject::Identity(Box::new(identity)),
        amr,
        level: Attestation::Proves(ial),
        credential: None,
        phishing_resistant: false,
    })
}

/// The `alg` of a compact JWS's header.
fn header_alg(jws: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(jws.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_string)
}

/// A stable word for the audit log.
fn reason_of(e: &ClaimsVerificationError) -> &'static str {
    match e {
        ClaimsVerificationError::Expired(_) => "id_token_expired",
        ClaimsVerificationError::InvalidIssuer(_) => "wrong_issuer",
        ClaimsVerificationError::InvalidAudience(_) => "wrong_audience",
        ClaimsVerificationError::InvalidNonce(_) => "wrong_nonce",
        ClaimsVerificationError::SignatureVerification(_) => "bad_signature",
        _ => "id_token_refused",
    }
}

fn callback_url(ctx: &Ctx<'_>) -> String {
    format!("{}{CALLBACK_PATH}", ctx.config.issuer())
}

/// An upstream that could not be asked, or answered nonsense: a message naming it (the other
/// login methods stay on the page), the cause in the log.
fn upstream_failed(upstream: &UpstreamConfig, e: &UpstreamError) -> Refusal {
    tracing::warn!(upstream = %upstream.id, error = %e, "upstream identity provider failed");
    let reason = match e {
        UpstreamError::Unavailable(_) => "upstream_unavailable",
        UpstreamError::Malformed(..) => "upstream_malformed",
        UpstreamError::Refused(..) => "upstream_refused",
    };
    Refusal::new(
        RefusalKind::Unavailable,
        Message::new("error_federation_unavailable").with("upstream", &upstream.name),
        reason,
    )
}
