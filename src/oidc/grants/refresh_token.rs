//! `refresh_token` (RFC 6749 §6) with rotation: each use returns a new token; a reused
//! (already rotated) token revokes its whole family (OAuth 2.0 Security BCP §4.14).

use serde_json::{Value, json};

use super::{internal, token_response};
use crate::app::App;
use crate::audit::Event;
use crate::domain::AccountStatus;
use crate::oidc::client::Client;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::oidc::revocation;
use crate::oidc::tokens::{self, Grant};
use crate::random;

pub async fn exchange(app: &App, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let token = params.require("refresh_token")?;
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let grant = app
        .db
        .find_refresh_token(&random::sha256_hex(token))
        .await
        .map_err(internal)?
        .ok_or_else(invalid)?;
    if grant.client_id != client.client_id || grant.revoked_at.is_some() {
        return Err(invalid());
    }
    let now = app.clock.now();
    if grant.used_at.is_some() {
        reuse_detected(app, client, &grant.family_id).await?;
        return Err(invalid());
    }
    if grant.expires_at <= now {
        return Err(invalid());
    }
    let granted: Vec<String> = grant
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let scopes = match params.get("scope") {
        None => granted,
        Some(requested) => {
            let requested: Vec<String> = requested
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if requested.iter().any(|s| !granted.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "the requested scope exceeds the original grant",
                ));
            }
            requested
        }
    };
    // Only a request that is going to succeed consumes the token; of two racing uses one
    // wins and the other counts as reuse.
    if !app
        .db
        .mark_refresh_token_used(&grant.id, now)
        .await
        .map_err(internal)?
    {
        reuse_detected(app, client, &grant.family_id).await?;
        return Err(invalid());
    }
    let account = app
        .db
        .find_account(&grant.account_id)
        .await
        .map_err(internal)?
        .filter(|a| a.status == AccountStatus::Active)
        .ok_or_else(invalid)?;
    let ial = grant
        .acr
        .parse::<i16>()
        .ok()
        .and_then(crate::domain::Ial::from_level)
        .ok_or_else(invalid)?;
    let claims: Option<Value> = grant
        .claims
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let phone = if scopes.iter().any(|s| s == "phone") {
        app.db.default_phone(&account.id).await.map_err(internal)?
    } else {
        None
    };
    let g = Grant {
        client,
        account: &account,
        scopes: &scopes,
        sid: grant.sid.as_deref(),
        ial,
        amr: &grant.amr,
        auth_time: grant.auth_time.timestamp(),
        nonce: None,
        claims: claims.as_ref(),
        family_id: &grant.family_id,
    };
    let access = tokens::access_token_for_user(app, &g).map_err(internal)?;
    let id_token = if scopes.iter().any(|s| s == "openid") {
        Some(tokens::id_token(app, &g, &access.token, phone.as_deref()).map_err(internal)?)
    } else {
        None
    };
    let refresh = tokens::refresh_token(app, &g).await.map_err(internal)?;
    Ok(token_response(&access, &scopes, id_token, Some(refresh)))
}

async fn reuse_detected(app: &App, client: &Client, family_id: &str) -> Result<(), OAuthError> {
    tracing::warn!(client = %client.client_id, "rotated refresh token reused; revoking its family");
    revocation::revoke_family(app, family_id)
        .await
        .map_err(internal)?;
    app.audit
        .record(
            Event::new("token.refresh_reused")
                .client(&client.client_id)
                .detail(json!({ "family_id": family_id })),
        )
        .await
        .map_err(internal)
}
