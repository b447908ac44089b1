//! Client authentication at the token, introspection and revocation endpoints:
//! client_secret_basic, client_secret_post (the current secret, or the previous one within a
//! rotation's overlap window), private_key_jwt (RFC 7523) and public clients.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, PS256, RS256};
use serde_json::Value;

use super::client::{ASSERTION_SIGNING_ALGS, Client, ClientAuthMethod, SecretMatch};
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
        Presented::Secret { secret, .. } => match client.match_secret(&secret, app.clock.now()) {
            SecretMatch::Current => {}
            // Logged so an operator sees which portals still send the secret they rotated.
            SecretMatch::Previous => {
                tracing::info!(client = %client.client_id, "client authenticated with its previous secret (rotation overlap)");
            }
            SecretMatch::None => {
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
        },
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

/// At most this many registered keys are tried for one assertion, so the work an unknown
/// caller can cause stays bounded whatever a client's JWK set holds.
const MAX_KEYS_TRIED: usize = 4;

async fn verify_assertion(app: &App, client: &Client, jwt: &str) -> Result<(), OAuthError> {
    let fail = |why: &'static str| {
        tracing::info!(client = %client.client_id, why, "client assertion refused");
        OAuthError::invalid_client("client authentication failed")
    };
    if client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        return Err(fail("client is not registered for private_key_jwt"));
    }
    let header = josekit::jwt::decode_header(jwt).map_err(|_| fail("bad header"))?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .filter(|a| ASSERTION_SIGNING_ALGS.contains(a))
        .ok_or_else(|| fail("unsupported alg"))?;
    let kid = header.claim("kid").and_then(Value::as_str);
    let verified = |set: &Value| {
        let keys = set.get("keys").and_then(Value::as_array)?;
        candidate_keys(keys, alg, kid)
            .take(MAX_KEYS_TRIED)
            .find_map(|key| {
                let verifier = verifier(alg, key)?;
                josekit::jws::deserialize_compact(jwt, verifier.as_ref())
                    .ok()
                    .map(|(payload, _)| payload)
            })
    };
    let payload = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => verified(jwks),
        (None, Some(uri)) => {
            let fetched = |refresh| async move {
                app.jwks_uris
                    .keys(&app.http, uri, app.clock.unix_ms(), refresh)
                    .await
                    .map_err(|e| {
                        tracing::warn!(client = %client.client_id, jwks_uri = %uri, error = %e, "client JWK set unavailable");
                        fail("jwks_uri could not be fetched")
                    })
            };
            let (set, fresh) = fetched(false).await?;
            match verified(set.as_ref()) {
                Some(p) => Some(p),
                // A kid the cached set lacks: the client may have rotated its keys.
                None if !fresh && kid.is_some_and(|k| !has_kid(set.as_ref(), k)) => {
                    verified(fetched(true).await?.0.as_ref())
                }
                None => None,
            }
        }
        (None, None) => return Err(fail("no registered keys")),
    }
    .ok_or_else(|| fail("signature does not verify"))?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| fail("bad claims"))?;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if str_claim("iss") != Some(&client.client_id) || str_claim("sub") != Some(&client.client_id) {
        return Err(fail("iss and sub must be the client_id"));
    }
    let token_endpoint = app
        .config
        .tokens
        .client_assertion_allow_token_endpoint_aud
        .then(|| app.url("/token"));
    if !audience_ok(claims.get("aud"), &app.issuer, token_endpoint.as_deref()) {
        return Err(fail("aud must be the issuer (or the token endpoint)"));
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

/// Whether the JWK set holds a key with this `kid`.
fn has_kid(set: &Value, kid: &str) -> bool {
    set.get("keys")
        .and_then(Value::as_array)
        .is_some_and(|keys| {
            keys.iter()
                .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        })
}

/// The registered keys that may have signed an assertion with header `alg` and `kid`: those
/// whose type, curve and declared `alg`/`use` fit `alg`; with a `kid`, only the key of that
/// `kid` (or keys without one). Without a `kid` every fitting key is a candidate: many client
/// libraries (Authlib by default) send none.
fn candidate_keys<'a>(
    keys: &'a [Value],
    alg: &'a str,
    kid: Option<&'a str>,
) -> impl Iterator<Item = &'a Value> {
    keys.iter().filter(move |key| {
        let field = |name: &str| key.get(name).and_then(Value::as_str);
        let kid_fits = match (kid, field("kid")) {
            (Some(wanted), Some(registered)) => wanted == registered,
            _ => true,
        };
        let type_fits = match alg {
            "RS256" | "PS256" => field("kty") == Some("RSA"),
            "ES256" => field("kty") == Some("EC") && field("crv") == Some("P-256"),
            _ => false,
        };
        kid_fits
            && type_fits
            && field("alg").is_none_or(|a| a == alg)
            && field("use").is_none_or(|u| u == "sig")
    })
}

/// The audience of a client assertion: one value (a string, or an array holding just it) that
/// is the issuer, or the token endpoint URL when that is accepted. One value only, so an
/// assertion made for several servers cannot be replayed at this one.
fn audience_ok(aud: Option<&Value>, issuer: &str, token_endpoint: Option<&str>) -> bool {
    let one = match aud {
        Some(Value::String(a)) => Some(a.as_str()),
        Some(Value::Array(list)) if list.len() == 1 => list[0].as_str(),
        _ => None,
    };
    one.is_some_and(|a| a == issuer || Some(a) == token_endpoint)
}

/// A verifier for `alg` from a registered key. The key's `kid` is left out: it was matched
/// above, and josekit would otherwise require the same `kid` in the assertion's header.
fn verifier(alg: &str, key: &Value) -> Option<Box<dyn JwsVerifier>> {
    let mut map = key.as_object()?.clone();
    map.remove("kid");
    let jwk = Jwk::from_map(map).ok()?;
    Some(match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).ok()?),
        "PS256" => Box::new(PS256.verifier_from_jwk(&jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{audience_ok, candidate_keys, parse_basic};

    #[test]
    fn the_audience_is_one_value_the_issuer_or_the_token_endpoint() {
        let iss = "https://id.example.vn";
        let token = Some("https://id.example.vn/token");
        for aud in [json!(iss), json!([iss]), json!(token), json!([token])] {
            assert!(audience_ok(Some(&aud), iss, token), "{aud}");
        }
        assert!(!audience_ok(Some(&json!(token)), iss, None), "switched off");
        for aud in [
            json!([iss, "https://other.example"]),
            json!([]),
            json!("https://other.example"),
            json!(1),
        ] {
            assert!(!audience_ok(Some(&aud), iss, token), "{aud}");
        }
        assert!(!audience_ok(None, iss, token));
    }

    #[test]
    fn candidate_keys_fit_the_algorithm_and_the_kid() {
        let keys = [
            json!({ "kty": "EC", "crv": "P-256", "kid": "a" }),
            json!({ "kty": "EC", "crv": "P-384", "kid": "b" }),
            json!({ "kty": "RSA", "kid": "c" }),
            json!({ "kty": "EC", "crv": "P-256", "kid": "d", "use": "enc" }),
            json!({ "kty": "EC", "crv": "P-256", "alg": "ES256" }),
            json!({ "kty": "RSA", "alg": "PS256", "kid": "f" }),
        ];
        let kids = |alg, kid| {
            candidate_keys(&keys, alg, kid)
                .map(|k| k["kid"].as_str().unwrap_or("-").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(kids("ES256", None), ["a", "-"]);
        assert_eq!(kids("ES256", Some("a")), ["a", "-"]);
        assert_eq!(kids("ES256", Some("b")), ["-"]);
        assert_eq!(kids("RS256", None), ["c"]);
        assert_eq!(kids("PS256", None), ["c", "f"]);
        assert_eq!(kids("HS256", None), Vec::<String>::new());
    }

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
