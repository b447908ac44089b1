//! Client authentication at the token, introspection and revocation endpoints:
//! client_secret_basic, client_secret_post, private_key_jwt (RFC 7523) and public clients.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, PS256, RS256};
use serde_json::Value;

use super::client::{Client, ClientAuthMethod};
use super::error::OAuthError;
use super::params::Params;
use crate::app::App;
use crate::random;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client presented itself, before any lookup.
enum Presented<'a> {
    Secret { client_id: String, secret: String },
    Assertion(&'a str),
    PublicId(&'a str),
}

/// Authenticates the calling client. `authorization` is the raw Authorization header.
pub async fn authenticate(
    app: &App,
    authorization: Option<&str>,
    params: &Params,
) -> Result<Arc<Client>, OAuthError> {
    let presented = presented(authorization, params)?;
    let client_id = match &presented {
        Presented::Secret { client_id, .. } => client_id.clone(),
        Presented::Assertion(jwt) => assertion_subject(jwt)?,
        Presented::PublicId(id) => id.to_string(),
    };
    let client = app
        .client(&client_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "client lookup failed");
            OAuthError::temporarily_unavailable()
        })?
        .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
    match presented {
        Presented::Secret { secret, .. } => {
            let ok = client.auth_method.uses_secret()
                && client.secret_hash.as_deref().is_some_and(|h| {
                    random::constant_time_eq(random::sha256_hex(&secret).as_bytes(), h.as_bytes())
                });
            if !ok {
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
        }
        Presented::Assertion(jwt) => verify_assertion(app, &client, jwt).await?,
        Presented::PublicId(_) => {
            if client.auth_method != ClientAuthMethod::None {
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
        }
    }
    Ok(client)
}

fn presented<'a>(
    authorization: Option<&str>,
    params: &'a Params,
) -> Result<Presented<'a>, OAuthError> {
    let basic = authorization
        .map(|h| {
            parse_basic(h).ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))
        })
        .transpose()?;
    let post_secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let methods = [basic.is_some(), post_secret.is_some(), assertion.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    let body_id = params.get("client_id");
    if let Some((id, secret)) = basic {
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the credentials",
            ));
        }
        return Ok(Presented::Secret {
            client_id: id,
            secret,
        });
    }
    if let Some(secret) = post_secret {
        let id = body_id.ok_or_else(|| OAuthError::invalid_request("client_id is required"))?;
        return Ok(Presented::Secret {
            client_id: id.to_string(),
            secret: secret.to_string(),
        });
    }
    if let Some(jwt) = assertion {
        if params.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        return Ok(Presented::Assertion(jwt));
    }
    match body_id {
        Some(id) => Ok(Presented::PublicId(id)),
        None => Err(OAuthError::invalid_client(
            "client authentication is required",
        )),
    }
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, b64) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| -> Option<String> {
        let plus_as_space = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_as_space)
            .decode_utf8()
            .ok()
            .map(|v| v.into_owned())
    };
    let (id, secret) = (decode(id)?, decode(secret)?);
    (!id.is_empty()).then_some((id, secret))
}

/// The `sub` (= client_id) of an assertion, read before verification only to find the key.
fn assertion_subject(jwt: &str) -> Result<String, OAuthError> {
    let bad = || OAuthError::invalid_client("malformed client assertion");
    let payload = jwt.split('.').nth(1).ok_or_else(bad)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| bad())?;
    let claims: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(bad)
}

async fn verify_assertion(app: &App, client: &Client, jwt: &str) -> Result<(), OAuthError> {
    let fail = |why: &'static str| {
        tracing::info!(client = %client.client_id, why, "client assertion refused");
        OAuthError::invalid_client("client authentication failed")
    };
    if client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        return Err(fail("client is not registered for private_key_jwt"));
    }
    let jwks = client
        .jwks
        .as_ref()
        .ok_or_else(|| fail("no registered keys"))?;
    let header = josekit::jwt::decode_header(jwt).map_err(|_| fail("bad header"))?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("no alg"))?;
    let kid = header.claim("kid").and_then(Value::as_str);
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| fail("bad jwks"))?;
    let mut payload = None;
    for key in keys {
        if kid.is_some() && key.get("kid").and_then(Value::as_str) != kid {
            continue;
        }
        let Some(verifier) = verifier(alg, key) else {
            continue;
        };
        if let Ok((p, _)) = josekit::jws::deserialize_compact(jwt, verifier.as_ref()) {
            payload = Some(p);
            break;
        }
    }
    let payload = payload.ok_or_else(|| fail("signature does not verify"))?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| fail("bad claims"))?;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if str_claim("iss") != Some(&client.client_id) || str_claim("sub") != Some(&client.client_id) {
        return Err(fail("iss and sub must be the client_id"));
    }
    let token_endpoint = app.url("/token");
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == token_endpoint || *a == app.issuer,
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| a == token_endpoint || a == app.issuer),
        _ => false,
    };
    if !audience_ok {
        return Err(fail("aud must be the token endpoint or the issuer"));
    }
    let now = app.clock.unix();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| fail("exp is required"))?;
    if exp <= now {
        return Err(fail("expired"));
    }
    if exp - now > app.config.tokens.client_assertion_max_lifetime_seconds {
        return Err(fail("exp is too far in the future"));
    }
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now + 30)
    {
        return Err(fail("not yet valid"));
    }
    let jti = str_claim("jti").ok_or_else(|| fail("jti is required"))?;
    let key = format!("jti:{}:{}", client.client_id, random::sha256_hex(jti));
    let fresh = app
        .store
        .put_if_absent(&key, b"1", Duration::from_secs((exp - now + 60) as u64))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "jti replay cache unavailable");
            OAuthError::temporarily_unavailable()
        })?;
    if !fresh {
        return Err(fail("jti was already used"));
    }
    Ok(())
}

fn verifier(alg: &str, key: &Value) -> Option<Box<dyn JwsVerifier>> {
    let jwk = Jwk::from_map(key.as_object()?.clone()).ok()?;
    if jwk.algorithm().is_some_and(|a| a != alg) {
        return None;
    }
    Some(match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).ok()?),
        "PS256" => Box::new(PS256.verifier_from_jwk(&jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_basic;

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "my%3Aid:s%2Bcret" → id "my:id", secret "s+cret"
        let h = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "my%3Aid:s%2Bcret"
            )
        );
        assert_eq!(parse_basic(&h), Some(("my:id".into(), "s+cret".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
