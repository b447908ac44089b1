//! `refresh_token` (RFC 6749 §6) with rotation: each use returns a new token; a reused
//! (already rotated) token revokes its whole family (OAuth 2.0 Security BCP §4.14). The
//! rotation is one transaction: claim the old token, check it, insert its successor.

use serde_json::{Value, json};

use super::{TokenResponse, internal, token_response};
use crate::app::App;
use crate::audit::Event;
use crate::domain::{AccountStatus, Ial};
use crate::oidc::client::Client;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::oidc::revocation;
use crate::oidc::tokens::{self, Grant};
use crate::random;
use crate::store::{RefreshGrant, Rotation};

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let token = params.require("refresh_token")?;
    let hash = random::sha256_hex(token);
    let requested: Option<Vec<String>> = params.get("scope").map(|s| {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    });
    let now = app.clock.now();
    let new_token = random::token();
    let ttl = chrono::Duration::seconds(app.config.tokens.refresh_token_ttl_seconds);

    let outcome = app
        .db
        .rotate_refresh_token(&hash, now, async |old: &RefreshGrant| {
            if old.client_id != client.client_id || old.expires_at <= now {
                return Err(invalid());
            }
            // Checked inside the transaction that holds the old token: a logout, a password
            // reset or a revocation that has begun (its marker is written first) ends the
            // family here, even if its database update has not reached these rows yet.
            if revocation::family_ended(app, old).await.map_err(internal)? {
                return Err(invalid());
            }
            let granted: Vec<&str> = old.scope.split(' ').filter(|s| !s.is_empty()).collect();
            let scope = match &requested {
                None => old.scope.clone(),
                Some(r) if r.iter().all(|s| granted.contains(&s.as_str())) => r.join(" "),
                Some(_) => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "the requested scope exceeds the original grant",
                    ));
                }
            };
            Ok(RefreshGrant {
                id: uuid::Uuid::now_v7().to_string(),
                token_hash: random::sha256_hex(&new_token),
                scope,
                expires_at: now + ttl,
                created_at: now,
                used_at: None,
                revoked_at: None,
                ..old.clone()
            })
        })
        .await
        .map_err(internal)?;
    let (old, new) = match outcome {
        Rotation::Rotated { old, new } => (old, new),
        Rotation::Refused(e) => return Err(e),
        Rotation::NotLive => {
            // Unknown, revoked, or already rotated: the last is reuse of a stolen or replayed
            // token, and the whole family goes.
            if let Some(g) = app.db.find_refresh_token(&hash).await.map_err(internal)?
                && g.client_id == client.client_id
                && g.used_at.is_some()
            {
                reuse_detected(app, client, &g.family_id).await?;
            }
            return Err(invalid());
        }
    };
    let account = app
        .db
        .find_account(&old.account_id)
        .await
        .map_err(internal)?
        .filter(|a| a.status == AccountStatus::Active)
        .ok_or_else(invalid)?;
    let ial = old
        .acr
        .parse::<i16>()
        .ok()
        .and_then(Ial::from_level)
        .ok_or_else(invalid)?;
    let scopes: Vec<String> = new
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let claims: Option<Value> = old
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
        sid: old.sid.as_deref(),
        ial,
        amr: &old.amr,
        auth_time: old.auth_time.timestamp(),
        nonce: None,
        claims: claims.as_ref(),
        family_id: &old.family_id,
        // Not kept with refresh tokens: the upstream's word belongs to the login's ID token.
        upstream: None,
    };
    let access = tokens::access_token_for_user(app, &g).map_err(internal)?;
    let id_token = if scopes.iter().any(|s| s == "openid") {
        Some(tokens::id_token(app, &g, &access.token, phone.as_deref()).map_err(internal)?)
    } else {
        None
    };
    Ok(token_response(&access, &scopes, id_token, Some(new_token)))
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
