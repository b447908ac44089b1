//! The flow engine: a registration, login or recovery is a sequence of steps whose state lives
//! in the ephemeral store, so a flow started on one node can finish on another. The browser
//! holds a 256-bit secret in a cookie; the store key is its SHA-256.

pub mod login;
pub mod recovery;
pub mod registration;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::random;
use crate::store::ephemeral::EphemeralError;

pub const FLOW_COOKIE: &str = "xacthuc_flow";
/// How long a user may take over one flow.
const TTL: Duration = Duration::from_secs(1800);

fn key(kind: &str, secret: &str) -> String {
    format!("flow:{kind}:{}", random::sha256_hex(secret))
}

/// Starts a flow of `kind`; returns the cookie secret.
pub async fn start<S: Serialize>(
    app: &App,
    kind: &str,
    state: &S,
) -> Result<String, EphemeralError> {
    let secret = random::token();
    save(app, kind, &secret, state).await?;
    Ok(secret)
}

pub async fn save<S: Serialize>(
    app: &App,
    kind: &str,
    secret: &str,
    state: &S,
) -> Result<(), EphemeralError> {
    let bytes =
        serde_json::to_vec(state).map_err(|e| EphemeralError::Unavailable(e.to_string()))?;
    app.store.put(&key(kind, secret), &bytes, TTL).await
}

/// The flow's state, or `None` when unknown or expired (the user starts again).
pub async fn load<S: DeserializeOwned>(
    app: &App,
    kind: &str,
    secret: &str,
) -> Result<Option<S>, EphemeralError> {
    Ok(app
        .store
        .get(&key(kind, secret))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Ends the flow; its state can no longer be used (single completion).
pub async fn finish(app: &App, kind: &str, secret: &str) -> Result<bool, EphemeralError> {
    Ok(app.store.take(&key(kind, secret)).await?.is_some())
}
