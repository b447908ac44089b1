//! `authorization_code` (RFC 6749 §4.1.3 with RFC 7636 PKCE). Codes are single use, short
//! lived, stored hashed; a replayed code revokes everything it issued.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{TokenResponse, internal, token_response};
use crate::app::App;
use crate::audit::Event;
use crate::domain::{AccountStatus, Ial};
use crate::oidc::authorize::AuthorizationRequest;
use crate::oidc::client::Client;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::oidc::revocation;
use crate::oidc::session::{self, SsoSession};
use crate::oidc::tokens::{self, Grant};
use crate::random;
use crate::store::RefreshGrant;

/// What a code stands for, kept in the ephemeral store under the code's hash.
#[derive(Serialize, Deserialize)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    account_id: String,
    sid: String,
    /// The store handle of the SSO session the code was issued in (empty in codes issued before
    /// it was recorded: those are refused).
    #[serde(default)]
    session_handle: String,
    ial: Ial,
    amr: Vec<String>,
    auth_time: i64,
    claims: Option<Value>,
    expires_at: i64,
    /// The session's upstream (`SsoSession::upstream`).
    #[serde(default)]
    upstream: Option<Value>,
}

/// Remembered after a code is redeemed, so a replay can revoke what the code issued.
#[derive(Serialize, Deserialize)]
struct Redeemed {
    family_id: String,
    jti: String,
}

fn code_key(hash: &str) -> String {
    format!("code:{hash}")
}
fn redeemed_key(hash: &str) -> String {
    format!("code_used:{hash}")
}

/// Mints a code for an approved request in `session`.
pub async fn issue(
    app: &App,
    req: &AuthorizationRequest,
    session: &SsoSession,
) -> Result<String, OAuthError> {
    let code = random::token();
    let ttl = app.config.tokens.code_ttl_seconds;
    let grant = CodeGrant {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scopes: req.scopes.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        account_id: session.account_id.clone(),
        sid: session.sid.clone(),
        session_handle: session.handle.clone(),
        ial: session.ial,
        amr: session.amr.clone(),
        auth_time: session.auth_time,
        claims: req.claims.clone(),
        expires_at: app.clock.unix() + ttl,
        upstream: session.upstream.clone(),
    };
    let bytes = serde_json::to_vec(&grant)
        .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
    app.store
        .put(
            &code_key(&random::sha256_hex(&code)),
            &bytes,
            Duration::from_secs(ttl as u64),
        )
        .await
        .map_err(internal)?;
    Ok(code)
}

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params.require("code")?;
    let hash = random::sha256_hex(code);
    let Some(bytes) = app.store.take(&code_key(&hash)).await.map_err(internal)? else {
        return Err(replay_or_unknown(app, &hash, client).await);
    };
    let grant: CodeGrant = serde_json::from_slice(&bytes)
        .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if grant.expires_at <= app.clock.unix() {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    check_verifier(grant.code_challenge.as_deref(), params.get("code_verifier"))?;

    if !session_stands(app, &grant).await? {
        return Err(session_ended());
    }
    let family_id = uuid::Uuid::now_v7().to_string();
    let refresh = client
        .allows_grant("refresh_token")
        .then(|| new_refresh_token(app, &grant, &family_id));
    // The account, and the refresh token stored with it if it is active: one round trip.
    let account = app
        .db
        .find_account_storing_refresh(&grant.account_id, refresh.as_ref().map(|(_, row)| row))
        .await
        .map_err(internal)?
        .filter(|a| a.status == AccountStatus::Active)
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer active"))?;
    let phone = if grant.scopes.iter().any(|s| s == "phone") {
        app.db.default_phone(&account.id).await.map_err(internal)?
    } else {
        None
    };
    let g = Grant {
        client,
        account: &account,
        scopes: &grant.scopes,
        sid: Some(&grant.sid),
        ial: grant.ial,
        amr: &grant.amr,
        auth_time: grant.auth_time,
        nonce: grant.nonce.as_deref(),
        claims: grant.claims.as_ref(),
        family_id: &family_id,
        upstream: grant.upstream.as_ref(),
    };
    let access = tokens::access_token_for_user(app, &g).map_err(internal)?;
    let id_token = tokens::id_token(app, &g, &access.token, phone.as_deref()).map_err(internal)?;
    let refresh = refresh.map(|(token, _)| token);
    let redeemed = serde_json::to_vec(&Redeemed {
        family_id: family_id.clone(),
        jti: access.jti.clone(),
    })
    .unwrap_or_default();
    let remember = app.config.tokens.access_token_ttl_seconds.max(600) as u64;
    app.store
        .put(
            &redeemed_key(&hash),
            &redeemed,
            Duration::from_secs(remember),
        )
        .await
        .map_err(internal)?;
    // Again after writing: a logout or password reset that ran meanwhile ends the session
    // before it revokes the session's refresh tokens, so either it revoked the one just stored,
    // or the session is seen ended here and this family is revoked now.
    if !session_stands(app, &grant).await? {
        let revoked = revocation::revoke_family(app, &family_id).await;
        let revoked_at = revocation::revoke_access_token(app, &access.jti).await;
        revoked.and(revoked_at).map_err(internal)?;
        return Err(session_ended());
    }
    Ok(token_response(
        &access,
        &grant.scopes,
        Some(id_token),
        refresh,
    ))
}

/// A refresh token opening the family `family_id` for what `grant` stands for, and its stored
/// form (the token itself is stored hashed).
fn new_refresh_token(app: &App, grant: &CodeGrant, family_id: &str) -> (String, RefreshGrant) {
    let token = random::token();
    let now = app.clock.now();
    let row = RefreshGrant {
        id: uuid::Uuid::now_v7().to_string(),
        family_id: family_id.to_string(),
        token_hash: random::sha256_hex(&token),
        client_id: grant.client_id.clone(),
        account_id: grant.account_id.clone(),
        sid: Some(grant.sid.clone()),
        scope: grant.scopes.join(" "),
        // The level, not the configurable acr string, so renaming acr values keeps grants valid.
        acr: grant.ial.level().to_string(),
        amr: grant.amr.clone(),
        auth_time: crate::clock::Clock::from_unix(grant.auth_time),
        claims: grant.claims.as_ref().map(Value::to_string),
        expires_at: now + chrono::Duration::seconds(app.config.tokens.refresh_token_ttl_seconds),
        created_at: now,
        used_at: None,
        revoked_at: None,
    };
    (token, row)
}

/// Whether the SSO session the code was issued in still stands: not logged out, not ended by
/// a password reset or change, not expired.
async fn session_stands(app: &App, grant: &CodeGrant) -> Result<bool, OAuthError> {
    let live = session::live_of(
        app.store.as_ref(),
        &grant.session_handle,
        &grant.account_id,
        app.clock.unix(),
    )
    .await
    .map_err(internal)?;
    Ok(live.is_some_and(|s| s.sid == grant.sid))
}

fn session_ended() -> OAuthError {
    OAuthError::invalid_grant("the login session of this code has ended")
}

/// An unknown code is either never issued/expired, or already redeemed: then it is being
/// replayed, and everything the first redemption issued is revoked (RFC 6749 §4.1.2).
async fn replay_or_unknown(app: &App, hash: &str, client: &Client) -> OAuthError {
    let redeemed = match app.store.take(&redeemed_key(hash)).await {
        Ok(Some(bytes)) => serde_json::from_slice::<Redeemed>(&bytes).ok(),
        Ok(None) => None,
        Err(e) => return internal(e),
    };
    if let Some(r) = redeemed {
        let revoked = revocation::revoke_family(app, &r.family_id).await;
        let revoked_at = revocation::revoke_access_token(app, &r.jti).await;
        if let Err(e) = revoked.and(revoked_at) {
            return internal(e);
        }
        let event = Event::new("token.code_replayed")
            .client(&client.client_id)
            .detail(json!({ "family_id": r.family_id }));
        if let Err(e) = app.audit.record(event).await {
            return internal(e);
        }
        tracing::warn!(client = %client.client_id, "authorization code replayed; its tokens are revoked");
    }
    OAuthError::invalid_grant("the code is invalid, expired or already used")
}

/// PKCE S256, verified whenever a challenge was sent; a verifier without a challenge fails.
fn check_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent but no code_challenge was",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if well_formed && random::constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("code_verifier does not match"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_verifier;

    #[test]
    fn pkce_s256() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_verifier(Some(challenge), Some(verifier)).is_ok());
        assert!(check_verifier(Some(challenge), Some(&verifier.replace('d', "e"))).is_err());
        assert!(check_verifier(Some(challenge), None).is_err());
        assert!(check_verifier(None, Some(verifier)).is_err());
        assert!(check_verifier(None, None).is_ok());
    }
}
