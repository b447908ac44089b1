//! A sample provincial portal that logs in through this provider exactly as a real relying
//! party would: code flow + PKCE over real HTTP, ID token verified against the published JWKS.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::JwkSet;
use josekit::jws::{ES256, JwsVerifier, RS256};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::http::page::{self, PageRequest};
use crate::http::request::{SameSite, query_params};
use crate::oidc::client::{Client, ClientAuthMethod};
use crate::random;

pub const CLIENT_ID: &str = "sandbox-demo-portal";
const COOKIE: &str = "demo_portal_session";
const BASE: &str = "/sandbox/demo-portal";

pub fn router() -> Router<App> {
    Router::new()
        .route(BASE, get(index))
        .route("/sandbox/demo-portal/login", get(login))
        .route("/sandbox/demo-portal/callback", get(callback))
        .route("/sandbox/demo-portal/logout", get(logout))
}

/// (Re-)registers the demo portal as a public client with this server's URLs.
pub async fn register(app: &App) -> Result<(), crate::store::StoreError> {
    let client = Client {
        client_id: CLIENT_ID.into(),
        name: "Cổng dịch vụ công tỉnh (demo)".into(),
        secret_hash: None,
        auth_method: ClientAuthMethod::None,
        redirect_uris: vec![app.url("/sandbox/demo-portal/callback")],
        post_logout_redirect_uris: vec![app.url(BASE)],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        allowed_scopes: ["openid", "profile", "phone", "email", "id_number"]
            .map(String::from)
            .to_vec(),
        jwks: None,
        skip_consent: false,
        min_ial: None,
        id_token_alg: app.config.keys.id_token_alg.clone(),
        require_phishing_resistant: false,
        previous_secret: None,
        omit_iss_in_errors: false,
        subject_type: Default::default(),
        sector_identifier_uri: None,
        jwks_uri: None,
        disabled: false,
        theme: None,
        version: 1,
        updated_at: None,
    };
    app.db.upsert_client(&client, app.clock.now()).await?;
    app.client_changed(CLIENT_ID).await;
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Flow {
    nonce: String,
    verifier: String,
}

#[derive(Serialize, Deserialize)]
struct DemoSession {
    claims: Value,
    userinfo: Value,
    id_token: String,
}

async fn index(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let params = query_params(&uri).unwrap_or_default();
    let session = demo_session(&app, &headers).await;
    let mut vars = match &session {
        Some(s) => {
            json!({ "logged_in": true, "claims": rows(&s.claims), "userinfo": rows(&s.userinfo) })
        }
        None => json!({ "logged_in": false }),
    };
    if let Some(key) = params.get("error") {
        let key = match key {
            "state" => "demo_error_state",
            "denied" => "demo_error_denied",
            "unmet" => "demo_error_unmet",
            _ => "demo_error_token",
        };
        vars["error"] = json!(req.t(&app, key));
    }
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "demo_portal",
        "title_demo_portal",
        vars,
    )
}

fn rows(v: &Value) -> Vec<Value> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| json!({ "name": k, "value": match v { Value::String(s) => s.clone(), other => other.to_string() } }))
                .collect()
        })
        .unwrap_or_default()
}

async fn demo_session(app: &App, headers: &HeaderMap) -> Option<DemoSession> {
    let id = app.cookies.get(headers, COOKIE)?;
    let bytes = app.store.get(&format!("demo_session:{id}")).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

async fn login(State(app): State<App>, uri: Uri) -> Response {
    let params = query_params(&uri).unwrap_or_default();
    let state = random::token();
    let flow = Flow {
        nonce: random::token(),
        verifier: random::token(),
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(flow.verifier.as_bytes()));
    let stored = app
        .store
        .put(
            &format!("demo_flow:{state}"),
            &serde_json::to_vec(&flow).unwrap_or_default(),
            Duration::from_secs(600),
        )
        .await;
    if stored.is_err() {
        return Redirect::to(&app.url("/sandbox/demo-portal?error=token")).into_response();
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &app.url("/sandbox/demo-portal/callback"))
        .append_pair("scope", "openid profile phone id_number")
        .append_pair("state", &state)
        .append_pair("nonce", &flow.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(acr) = params.get("acr").and_then(|a| app.acr.ial(a).map(|_| a)) {
        q.append_pair(
            "claims",
            &json!({ "id_token": { "acr": { "essential": true, "values": [acr] } } }).to_string(),
        );
    }
    Redirect::to(&app.url(&format!("/authorize?{}", q.finish()))).into_response()
}

async fn callback(State(app): State<App>, uri: Uri) -> Response {
    let params = query_params(&uri).unwrap_or_default();
    let flow = match params.get("state") {
        Some(state) => app
            .store
            .take(&format!("demo_flow:{state}"))
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let Some(flow) = flow.and_then(|b| serde_json::from_slice::<Flow>(&b).ok()) else {
        return Redirect::to(&app.url("/sandbox/demo-portal?error=state")).into_response();
    };
    if let Some(error) = params.get("error") {
        // A portal tells the two apart: the user declined to share, or could not reach the
        // level it required (e.g. "Không, cảm ơn" to the IAL3 upgrade).
        let shown = if error == "unmet_authentication_requirements" {
            "unmet"
        } else {
            "denied"
        };
        return Redirect::to(&app.url(&format!("/sandbox/demo-portal?error={shown}")))
            .into_response();
    }
    let Some(code) = params.get("code") else {
        return Redirect::to(&app.url("/sandbox/demo-portal?error=token")).into_response();
    };
    match complete(&app, code, &flow).await {
        Ok(session) => {
            let id = random::token();
            let stored = app
                .store
                .put(
                    &format!("demo_session:{id}"),
                    &serde_json::to_vec(&session).unwrap_or_default(),
                    Duration::from_secs(3600),
                )
                .await;
            if stored.is_err() {
                return Redirect::to(&app.url("/sandbox/demo-portal?error=token")).into_response();
            }
            let mut resp = Redirect::to(&app.url(BASE)).into_response();
            app.cookies
                .set(resp.headers_mut(), COOKIE, &id, SameSite::Lax, Some(3600));
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "demo portal: login failed");
            Redirect::to(&app.url("/sandbox/demo-portal?error=token")).into_response()
        }
    }
}

/// Redeems the code, verifies the ID token, fetches userinfo: all over HTTP, as an RP would.
async fn complete(app: &App, code: &str, flow: &Flow) -> Result<DemoSession, String> {
    let redirect_uri = app.url("/sandbox/demo-portal/callback");
    let token: Value = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("client_id", CLIENT_ID),
            ("code_verifier", &flow.verifier),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let id_token = token["id_token"].as_str().ok_or("no id_token")?.to_string();
    let access_token = token["access_token"].as_str().ok_or("no access_token")?;
    let jwks: Value = app
        .http
        .get(app.url("/jwks"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let claims = verify_id_token(app, &id_token, &jwks)?;
    if claims["nonce"].as_str() != Some(flow.nonce.as_str()) {
        return Err("nonce mismatch".into());
    }
    let userinfo: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(DemoSession {
        claims,
        userinfo,
        id_token,
    })
}

fn verify_id_token(app: &App, token: &str, jwks: &Value) -> Result<Value, String> {
    let set = JwkSet::from_bytes(jwks.to_string()).map_err(|e| e.to_string())?;
    let header = josekit::jwt::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or("no kid")?;
    let jwk = set.get(kid).first().copied().ok_or("unknown kid")?;
    let verifier: Box<dyn JwsVerifier> = match header.claim("alg").and_then(Value::as_str) {
        Some("RS256") => Box::new(RS256.verifier_from_jwk(jwk).map_err(|e| e.to_string())?),
        Some("ES256") => Box::new(ES256.verifier_from_jwk(jwk).map_err(|e| e.to_string())?),
        _ => return Err("unexpected alg".into()),
    };
    let (payload, _) =
        josekit::jws::deserialize_compact(token, verifier.as_ref()).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    if claims["iss"].as_str() != Some(app.issuer.as_str())
        || claims["aud"].as_str() != Some(CLIENT_ID)
    {
        return Err("iss/aud mismatch".into());
    }
    if claims["exp"].as_i64().unwrap_or(0) <= app.clock.unix() {
        return Err("expired".into());
    }
    Ok(claims)
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    let session = demo_session(&app, &headers).await;
    if let Some(id) = app.cookies.get(&headers, COOKIE) {
        let _ = app.store.delete(&format!("demo_session:{id}")).await;
    }
    let Some(session) = session else {
        return Redirect::to(&app.url(BASE)).into_response();
    };
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", &session.id_token)
        .append_pair("post_logout_redirect_uri", &app.url(BASE));
    let mut resp = Redirect::to(&app.url(&format!("/logout?{}", q.finish()))).into_response();
    app.cookies
        .set(resp.headers_mut(), COOKIE, "", SameSite::Lax, Some(0));
    resp
}
