//! Revocation of issued tokens. Access tokens are JWTs, so revoking one means remembering its
//! `jti`, its family or its session until it would have expired anyway.

use std::time::Duration;

use serde_json::Value;

use crate::app::App;
use crate::oidc::session;
use crate::store::{RefreshGrant, StoreError};

fn ttl(app: &App) -> Duration {
    Duration::from_secs(app.config.tokens.access_token_ttl_seconds.max(1) as u64 + 60)
}

pub fn jti_key(jti: &str) -> String {
    format!("revoked:jti:{jti}")
}
pub fn family_key(family: &str) -> String {
    format!("revoked:fam:{family}")
}
pub fn sid_key(sid: &str) -> String {
    format!("revoked:sid:{sid}")
}

/// Revokes a grant family: its refresh tokens and every access token minted from it.
pub async fn revoke_family(app: &App, family_id: &str) -> Result<(), StoreError> {
    app.store
        .put(&family_key(family_id), b"1", ttl(app))
        .await?;
    app.db
        .revoke_refresh_family(family_id, app.clock.now())
        .await?;
    Ok(())
}

pub async fn revoke_access_token(app: &App, jti: &str) -> Result<(), StoreError> {
    app.store.put(&jti_key(jti), b"1", ttl(app)).await?;
    Ok(())
}

/// Ends everything issued within an SSO session.
pub async fn revoke_session_tokens(app: &App, sid: &str) -> Result<(), StoreError> {
    app.store.put(&sid_key(sid), b"1", ttl(app)).await?;
    app.db.revoke_refresh_by_sid(sid, app.clock.now()).await?;
    Ok(())
}

/// Whether a verified access token (its claims) has been revoked.
pub async fn is_revoked(app: &App, claims: &Value) -> Result<bool, StoreError> {
    let mut keys = Vec::with_capacity(3);
    if let Some(j) = claims.get("jti").and_then(Value::as_str) {
        keys.push(jti_key(j));
    }
    if let Some(f) = claims.get("fam").and_then(Value::as_str) {
        keys.push(family_key(f));
    }
    if let Some(s) = claims.get("sid").and_then(Value::as_str) {
        keys.push(sid_key(s));
    }
    Ok(app.store.exists_any(&keys).await?)
}

/// Whether a refresh grant's family has been ended since it was issued: a revocation marker
/// for the family or its session, or a later "end all sessions" of its account, read in one
/// round trip. The markers are written before the database rows are revoked (twice), so a
/// rotation that checks them before it replaces the token cannot extend a family that a
/// revocation has begun to end (ARCHITECTURE.md, *Request flow* 6).
pub async fn family_ended(app: &App, grant: &RefreshGrant) -> Result<bool, StoreError> {
    let mut keys = vec![
        family_key(&grant.family_id),
        session::not_before_key(&grant.account_id),
    ];
    if let Some(sid) = &grant.sid {
        keys.push(sid_key(sid));
    }
    let values = app.store.get_many(&keys).await?;
    if values.len() != keys.len() {
        return Err(StoreError::Corrupt(
            "the store answered for another number of keys".into(),
        ));
    }
    let (family, not_before, session_revoked) = (&values[0], &values[1], values.get(2));
    if family.is_some() || session_revoked.is_some_and(Option::is_some) {
        return Ok(true);
    }
    let not_before = not_before
        .as_deref()
        .and_then(session::NotBefore::from_bytes);
    let sid = grant.sid.as_deref().unwrap_or_default();
    Ok(not_before.is_some_and(|n| n.ends(sid, grant.auth_time.timestamp())))
}
