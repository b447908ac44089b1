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
use crate::store::RefreshGrant;

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
    let Some((old, account)) = app
        .db
        .find_refresh_token_and_account(&hash)
        .await
        .map_err(internal)?
    else {
        return Err(invalid());
    };
    if old.client_id != client.client_id {
        return Err(invalid());
    }
    if old.used_at.is_some() {
        // Already rotated: reuse of a stolen or replayed token, and the whole family goes.
        return Err(reuse_detected(app, client, &old.family_id).await);
    }
    if old.revoked_at.is_some() || old.expires_at <= now {
        return Err(invalid());
    }
    // Checked before the token is replaced, and safe so: a logout, a password reset or a
    // revocation writes its marker first, then revokes the rows twice, so a successor that
    // `replace_refresh_token` commits after this check is revoked by its second pass (see
    // `revoke_refresh_rows`), and an old token already revoked is not replaced.
    if revocation::family_ended(app, &old)
        .await
        .map_err(internal)?
    {
        return Err(invalid());
    }
    let account = account
        .filter(|a| a.status == AccountStatus::Active)
        .ok_or_else(invalid)?;
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
    let new_token = random::token();
    let new = RefreshGrant {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash: random::sha256_hex(&new_token),
        scope,
        expires_at: now + chrono::Duration::seconds(app.config.tokens.refresh_token_ttl_seconds),
        created_at: now,
        used_at: None,
        revoked_at: None,
        ..old.clone()
    };
    if !app
        .db
        .replace_refresh_token(&hash, now, &new)
        .await
        .map_err(internal)?
    {
        // Used or revoked since it was read: a concurrent use of the same token won, and two
        // uses of one token are reuse.
        if let Some(g) = app.db.find_refresh_token(&hash).await.map_err(internal)?
            && g.used_at.is_some()
        {
            return Err(reuse_detected(app, client, &g.family_id).await);
        }
        return Err(invalid());
    }
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

/// Revokes the family of a reused token; answers the error the client gets.
async fn reuse_detected(app: &App, client: &Client, family_id: &str) -> OAuthError {
    tracing::warn!(client = %client.client_id, "rotated refresh token reused; revoking its family");
    if let Err(e) = revocation::revoke_family(app, family_id).await {
        return internal(e);
    }
    let event = Event::new("token.refresh_reused")
        .client(&client.client_id)
        .detail(json!({ "family_id": family_id }));
    match app.audit.record(event).await {
        Ok(()) => invalid(),
        Err(e) => internal(e),
    }
}
