//! Access-token verification for resource endpoints (userinfo, introspection), and the
//! userinfo response (OIDC Core §5.3).

use std::sync::Arc;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::claims::personal_claims;
use super::error::{ErrorCode, OAuthError};
use super::grants::internal;
use super::revocation;
use super::subject::{self, SEALED_ACCOUNT_CLAIM};
use crate::app::App;
use crate::domain::AccountStatus;

/// The claims of a live access token we issued, or `None` (bad signature, expired, revoked).
pub async fn verify_access_token(app: &App, token: &str) -> Result<Option<Arc<Value>>, OAuthError> {
    let now_ms = app.clock.unix_ms();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let claims = match app.verified_tokens.get(&digest, now_ms) {
        Some(c) => c,
        None => {
            let Some((claims, typ)) = app.keys.verify(token) else {
                return Ok(None);
            };
            if typ.as_deref() != Some("at+jwt")
                || claims.get("iss").and_then(Value::as_str) != Some(app.issuer.as_str())
            {
                return Ok(None);
            }
            let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
                return Ok(None);
            };
            let claims = Arc::new(claims);
            app.verified_tokens
                .insert(digest, claims.clone(), exp * 1000);
            claims
        }
    };
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp * 1000 <= now_ms {
        return Ok(None);
    }
    if revocation::is_revoked(app, &claims)
        .await
        .map_err(internal)?
    {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// The userinfo response for a verified access token.
pub async fn userinfo(app: &App, token: &str) -> Result<Value, OAuthError> {
    let invalid = || {
        OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token is invalid or expired",
        )
    };
    let claims = verify_access_token(app, token).await?.ok_or_else(invalid)?;
    let scopes: Vec<String> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(' ')
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token was not issued for OpenID Connect",
        ));
    }
    let account_id = account_of(app, &claims).ok_or_else(invalid)?;
    let account = app
        .db
        .find_account(&account_id)
        .await
        .map_err(internal)?
        .filter(|a| a.status == AccountStatus::Active)
        .ok_or_else(invalid)?;
    let phone = if scopes.iter().any(|s| s == "phone") {
        app.db.default_phone(&account.id).await.map_err(internal)?
    } else {
        None
    };
    let requested: Option<Value> =
        claims
            .get("userinfo_claims")
            .and_then(Value::as_array)
            .map(|names| {
                Value::Object(
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|n| (n.to_string(), Value::Null))
                        .collect::<Map<String, Value>>(),
                )
            });
    let mut out = Map::new();
    // The token's `sub` is already the one its client sees (OIDC Core §5.3.2: they must agree).
    let sub = claims.get("sub").cloned().ok_or_else(invalid)?;
    out.insert("sub".into(), sub);
    out.extend(personal_claims(
        &account,
        phone.as_deref(),
        &scopes,
        requested.as_ref(),
    ));
    Ok(Value::Object(out))
}

/// The account of a verified access token: sealed in it when its `sub` is pairwise.
fn account_of(app: &App, claims: &Value) -> Option<String> {
    match claims.get(SEALED_ACCOUNT_CLAIM).and_then(Value::as_str) {
        Some(sealed) => app.subjects.open_account(sealed),
        None => claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// RFC 7662 response for `token` as seen by `client_id`. A client learns about its own tokens
/// only; a configured resource server (`introspection.resource_servers`) about every access
/// token. Anything else is `{"active": false}`, as for an unknown token (§2.2).
pub async fn introspect(app: &App, client_id: &str, token: &str) -> Result<Value, OAuthError> {
    let resource_server = app
        .config
        .introspection
        .resource_servers
        .iter()
        .any(|r| r == client_id);
    if let Some(claims) = verify_access_token(app, token).await? {
        let own = claims.get("client_id").and_then(Value::as_str) == Some(client_id);
        if !own && !resource_server {
            return Ok(json!({ "active": false }));
        }
        let mut out = json!({ "active": true, "token_type": "Bearer" });
        for name in [
            "scope",
            "client_id",
            "sub",
            "exp",
            "iat",
            "iss",
            "aud",
            "jti",
            "auth_time",
            "acr",
            "amr",
            "sid",
        ] {
            if let Some(v) = claims.get(name) {
                out[name] = v.clone();
            }
        }
        return Ok(out);
    }
    // Refresh tokens are only described to the client they were issued to.
    let hash = crate::random::sha256_hex(token);
    if let Some(g) = app.db.find_refresh_token(&hash).await.map_err(internal)?
        && g.client_id == client_id
        && g.revoked_at.is_none()
        && g.used_at.is_none()
        && g.expires_at > app.clock.now()
        && let Some(client) = app.client(client_id).await.map_err(internal)?
    {
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": g.scope,
            "client_id": g.client_id,
            "sub": subject::for_client(&client, &g.account_id, &app.subjects),
            "exp": g.expires_at.timestamp(),
            "iat": g.created_at.timestamp(),
            "iss": app.issuer,
            "acr": g.acr.parse::<i16>().ok().and_then(crate::domain::Ial::from_level).map(|i| app.acr.acr(i)),
        }));
    }
    Ok(json!({ "active": false }))
}
