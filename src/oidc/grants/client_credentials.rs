//! `client_credentials` (RFC 6749 §4.4): a confidential client acting for itself.

use super::{TokenResponse, internal, token_response};
use crate::app::App;
use crate::oidc::client::Client;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::params::Params;
use crate::oidc::tokens;

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients may not use client_credentials",
        ));
    }
    // There is no user: user scopes such as openid are meaningless here and are refused.
    let scopes: Vec<String> = match params.get("scope") {
        None => Vec::new(),
        Some(s) => s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect(),
    };
    if scopes
        .iter()
        .any(|s| !client.allowed_scopes.contains(s) || s == "openid" || s == "offline_access")
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "a requested scope is not allowed for this client",
        ));
    }
    let access = tokens::access_token_for_client(app, client, &scopes).map_err(internal)?;
    Ok(token_response(&access, &scopes, None, None))
}
