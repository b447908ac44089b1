//! Ending an SSO session: RP-initiated logout (OIDC RP-Initiated Logout 1.0) and back-channel
//! logout tokens to every client of the session (OIDC Back-Channel Logout 1.0).

use std::time::Duration;

use serde_json::json;

use super::error::OAuthError;
use super::grants::internal;
use super::interaction::{self, load_session_by_handle};
use super::revocation;
use super::session::{UpstreamLogout, session_key};
use super::tokens;
use crate::app::App;
use crate::audit::Event;
use crate::metrics::Metrics;

/// Ends the session of the browser holding `cookie`: forgets it, revokes its tokens, notifies
/// its clients. Back-channel deliveries run in the background so a slow client cannot hold the
/// user's logout.
pub async fn end_session(app: &App, cookie: &str, ip: Option<&str>) -> Result<(), OAuthError> {
    end_session_by_handle(app, &crate::random::sha256_hex(cookie), ip).await
}

/// After a password change or reset: ends every SSO session of the account except the one
/// whose `sid` is `keep` (the browser that changed the password), and revokes every refresh token
/// of the account (a stolen one too) and, through their families, their access tokens.
///
/// Each listed session ends as a logout, so its clients get back-channel logout tokens; then a
/// marker ends any session the list missed (`interaction::end_all_sessions`).
pub async fn end_account(
    app: &App,
    account_id: &str,
    keep: Option<&str>,
    ip: Option<&str>,
) -> Result<(), OAuthError> {
    for s in interaction::sessions_of(app, account_id).await? {
        if Some(s.sid.as_str()) != keep {
            end_session_by_handle(app, &s.handle, ip).await?;
        }
    }
    interaction::end_all_sessions(app, account_id, keep)
        .await
        .map_err(internal)?;
    let families = app
        .db
        .revoke_refresh_by_account(account_id, app.clock.now())
        .await
        .map_err(internal)?;
    for family in families {
        revocation::revoke_family(app, &family)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// Ends the session stored under `handle` (the profile's "Đăng xuất phiên này").
pub async fn end_session_by_handle(
    app: &App,
    handle: &str,
    ip: Option<&str>,
) -> Result<(), OAuthError> {
    let Some(session) = load_session_by_handle(app, handle).await? else {
        return Ok(());
    };
    let sid = session.sid.as_str();
    app.store
        .delete(&session_key(&session.handle))
        .await
        .map_err(internal)?;
    revocation::revoke_session_tokens(app, sid)
        .await
        .map_err(internal)?;
    app.audit
        .record(
            Event::new("session.ended")
                .account(&session.account_id)
                .ip(ip)
                .detail(json!({ "clients": session.clients })),
        )
        .await
        .map_err(internal)?;
    Metrics::inc(&app.metrics.logouts);
    for client_id in &session.clients {
        let Ok(Some(client)) = app.client(client_id).await else {
            continue;
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            continue;
        };
        let token =
            tokens::logout_token(app, &client, &session.account_id, sid).map_err(internal)?;
        let http = app.http.clone();
        let client_id = client_id.clone();
        tokio::spawn(async move {
            let result = http
                .post(&uri)
                .form(&[("logout_token", token.as_str())])
                .send()
                .await;
            match result {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(client = %client_id, "back-channel logout delivered")
                }
                Ok(r) => {
                    tracing::warn!(client = %client_id, status = %r.status(), "back-channel logout refused")
                }
                Err(e) => {
                    tracing::warn!(client = %client_id, error = %e, "back-channel logout failed")
                }
            }
        });
    }
    Ok(())
}

pub use crate::connectors::federation::UPSTREAM_DONE_PATH;

/// How long the browser may take at the upstream's end-session page.
const UPSTREAM_TRIP: Duration = Duration::from_secs(600);

fn upstream_trip_key(state: &str) -> String {
    format!("upstream_logout:{}", crate::random::sha256_hex(state))
}

/// The upstream's end-session URL for a session made through it (OIDC RP-Initiated Logout):
/// `id_token_hint` (its ID token of the login), our `client_id` there,
/// `post_logout_redirect_uri` = [`UPSTREAM_DONE_PATH`] and a fresh `state`, under which
/// `back` (where our logout goes next; `None`: the logged-out page) is kept for the return.
/// `None` when the upstream is no longer configured or the trip cannot be stored: our logout
/// then ends here, without the upstream. Nothing is asked of the upstream from the server, so
/// an upstream that is down never holds our logout.
pub async fn upstream_redirect(
    app: &App,
    up: &UpstreamLogout,
    back: Option<&str>,
) -> Option<String> {
    let upstream = app.config.federation.upstream(&up.upstream)?;
    let mut url = url::Url::parse(&up.end_session_endpoint).ok()?;
    let state = crate::random::token();
    let trip = serde_json::to_vec(&json!({ "back": back })).ok()?;
    if let Err(e) = app
        .store
        .put(&upstream_trip_key(&state), &trip, UPSTREAM_TRIP)
        .await
    {
        tracing::warn!(error = %e, "upstream logout skipped: the store is unavailable");
        return None;
    }
    {
        let mut q = url.query_pairs_mut();
        if let Some(hint) = &up.id_token_hint {
            q.append_pair("id_token_hint", hint);
        }
        q.append_pair("client_id", &upstream.client_id)
            .append_pair("post_logout_redirect_uri", &app.url(UPSTREAM_DONE_PATH))
            .append_pair("state", &state);
    }
    tracing::info!(upstream = %up.upstream, "logout continues at the upstream");
    Some(url.to_string())
}

/// The upstream sent the browser back with `state`: where our logout goes next, once
/// (`None` for an unknown or used state, or the logged-out page).
pub async fn upstream_returned(app: &App, state: &str) -> Option<String> {
    let trip = app.store.take(&upstream_trip_key(state)).await.ok()??;
    let trip: serde_json::Value = serde_json::from_slice(&trip).ok()?;
    trip.get("back")?.as_str().map(str::to_string)
}
