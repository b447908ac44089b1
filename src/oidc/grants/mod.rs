//! The token endpoint's grant types, one file each.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use serde::Serialize;

use super::error::OAuthError;
use crate::keys::KeyError;
use crate::store::StoreError;
use crate::store::ephemeral::EphemeralError;

/// Dispatches on `grant_type`.
pub async fn exchange(
    app: &crate::app::App,
    client: &super::client::Client,
    params: &super::params::Params,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params.require("grant_type")?;
    if !client.allows_grant(grant_type) {
        return Err(match grant_type {
            "authorization_code" | "refresh_token" | "client_credentials" => OAuthError::new(
                super::error::ErrorCode::UnauthorizedClient,
                "this client may not use this grant type",
            ),
            _ => unsupported(),
        });
    }
    match grant_type {
        "authorization_code" => authorization_code::exchange(app, client, params).await,
        "refresh_token" => refresh_token::exchange(app, client, params).await,
        "client_credentials" => client_credentials::exchange(app, client, params).await,
        _ => Err(unsupported()),
    }
}

fn unsupported() -> OAuthError {
    OAuthError::new(
        super::error::ErrorCode::UnsupportedGrantType,
        "unsupported grant_type",
    )
}

/// The standard successful token response body (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    /// An empty `scope` is not a scope (RFC 6749 §3.3: one or more); say nothing instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

fn token_response(
    access: &crate::oidc::tokens::AccessToken,
    scopes: &[String],
    id_token: Option<String>,
    refresh_token: Option<String>,
) -> TokenResponse {
    TokenResponse {
        access_token: access.token.clone(),
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        id_token,
        refresh_token,
    }
}

/// Internal failures become `server_error` / `temporarily_unavailable`; the cause is logged once.
pub(crate) fn internal(e: impl Into<InternalError>) -> OAuthError {
    match e.into() {
        InternalError::Unavailable(msg) => {
            tracing::error!(error = %msg, "backend unavailable");
            OAuthError::temporarily_unavailable()
        }
        InternalError::Other(msg) => {
            tracing::error!(error = %msg, "internal error");
            OAuthError::server_error()
        }
    }
}

pub(crate) enum InternalError {
    Unavailable(String),
    Other(String),
}

impl From<StoreError> for InternalError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Ephemeral(e) => Self::Unavailable(e.to_string()),
            StoreError::Db(e) => Self::Unavailable(e.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<EphemeralError> for InternalError {
    fn from(e: EphemeralError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<KeyError> for InternalError {
    fn from(e: KeyError) -> Self {
        Self::Other(e.to_string())
    }
}
