//! Token minting: ID tokens (OIDC Core §2), JWT access tokens (RFC 9068), refresh tokens
//! (opaque, stored hashed), logout tokens (OIDC Back-Channel Logout §2.4).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::claims::personal_claims;
use super::client::Client;
use super::subject;
use crate::app::App;
use crate::domain::{Account, Ial};
use crate::keys::KeyError;
use crate::random;

/// Who and how: everything a token says about the authentication behind it.
pub struct Grant<'a> {
    pub client: &'a Client,
    pub account: &'a Account,
    pub scopes: &'a [String],
    pub sid: Option<&'a str>,
    pub ial: Ial,
    pub amr: &'a [String],
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    /// The `claims` request parameter, if any.
    pub claims: Option<&'a Value>,
    /// Refresh-token family, so revoking the family also revokes its access tokens.
    pub family_id: &'a str,
    /// What an upstream identity provider said of the login (`SsoSession::upstream`).
    pub upstream: Option<&'a Value>,
}

pub struct AccessToken {
    pub token: String,
    pub jti: String,
    pub expires_in: i64,
}

pub fn access_token_for_user(app: &App, g: &Grant<'_>) -> Result<AccessToken, KeyError> {
    let now = app.clock.unix();
    let ttl = app.config.tokens.access_token_ttl_seconds;
    let jti = random::token();
    let sub = subject::for_client(g.client, &g.account.id, &app.subjects);
    let mut claims = json!({
        "iss": app.issuer,
        "sub": sub,
        "aud": g.client.client_id,
        "client_id": g.client.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": jti,
        "scope": g.scopes.join(" "),
        "auth_time": g.auth_time,
        "acr": app.acr.acr(g.ial),
        "amr": g.amr,
        "fam": g.family_id,
    });
    if let Some(sid) = g.sid {
        claims["sid"] = json!(sid);
    }
    if sub != g.account.id {
        // Userinfo finds the account by this; the portal reading the token learns nothing.
        let sealed = app.subjects.seal_account(&g.account.id)?;
        claims[subject::SEALED_ACCOUNT_CLAIM] = json!(sealed);
    }
    if let Some(userinfo) = g
        .claims
        .and_then(|c| c.get("userinfo"))
        .filter(|v| v.is_object())
    {
        // Names only: which extra claims userinfo should return.
        let names: Vec<&String> = userinfo
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        claims["userinfo_claims"] = json!(names);
    }
    let token = app
        .keys
        .sign(&app.config.keys.access_token_alg, "at+jwt", &claims)?;
    Ok(AccessToken {
        token,
        jti,
        expires_in: ttl,
    })
}

pub fn access_token_for_client(
    app: &App,
    client: &Client,
    scopes: &[String],
) -> Result<AccessToken, KeyError> {
    /// RFC 9068 §2.2 for a client acting for itself: the client is the subject. A struct
    /// rather than a JSON map: this is the hottest token (machine-to-machine calls).
    #[derive(serde::Serialize)]
    struct ClientClaims<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: &'a str,
        client_id: &'a str,
        iat: i64,
        exp: i64,
        jti: &'a str,
        scope: String,
    }
    let now = app.clock.unix();
    let ttl = app.config.tokens.access_token_ttl_seconds;
    let jti = random::token();
    let claims = ClientClaims {
        iss: &app.issuer,
        sub: &client.client_id,
        aud: &client.client_id,
        client_id: &client.client_id,
        iat: now,
        exp: now + ttl,
        jti: &jti,
        scope: scopes.join(" "),
    };
    let token = app
        .keys
        .sign(&app.config.keys.access_token_alg, "at+jwt", &claims)?;
    Ok(AccessToken {
        token,
        jti,
        expires_in: ttl,
    })
}

pub fn id_token(
    app: &App,
    g: &Grant<'_>,
    access_token: &str,
    phone: Option<&str>,
) -> Result<String, KeyError> {
    let now = app.clock.unix();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(app.issuer));
    claims.insert(
        "sub".into(),
        json!(subject::for_client(g.client, &g.account.id, &app.subjects)),
    );
    claims.insert("aud".into(), json!(g.client.client_id));
    claims.insert("azp".into(), json!(g.client.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "exp".into(),
        json!(now + app.config.tokens.id_token_ttl_seconds),
    );
    claims.insert("auth_time".into(), json!(g.auth_time));
    claims.insert("acr".into(), json!(app.acr.acr(g.ial)));
    claims.insert("amr".into(), json!(g.amr));
    claims.insert("at_hash".into(), json!(at_hash(access_token)));
    if let Some(nonce) = g.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(sid) = g.sid {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(upstream) = g.upstream {
        claims.insert(
            crate::oidc::session::UPSTREAM_CLAIM.into(),
            upstream.clone(),
        );
    }
    let requested = g.claims.and_then(|c| c.get("id_token"));
    claims.extend(personal_claims(g.account, phone, g.scopes, requested));
    app.keys
        .sign(&g.client.id_token_alg, "JWT", &Value::Object(claims))
}

/// The logout token for `client`: `sub` as that client knows the account.
pub fn logout_token(
    app: &App,
    client: &Client,
    account_id: &str,
    sid: &str,
) -> Result<String, KeyError> {
    let now = app.clock.unix();
    let claims = json!({
        "iss": app.issuer,
        "sub": subject::for_client(client, account_id, &app.subjects),
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": random::token(),
        "sid": sid,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    app.keys
        .sign(&app.config.keys.access_token_alg, "logout+jwt", &claims)
}

/// OIDC Core §3.1.3.6: left half of SHA-256 of the access token, base64url (RS256 and ES256
/// both hash with SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}
