//! "Nâng cấp lên mức độ cao (IAL3)": the offer page (from "Thông tin cá nhân", or inside a
//! portal's request that asks for IAL3), the signature methods that can upgrade, and "Không,
//! cảm ơn". The signature runs as the method's chain of steps for `Purpose::Upgrade` (the same
//! steps and pages as a login, `http::steps`), which raises the account and logs in again at
//! the new level.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::oidc::respond;
use super::page::{self, PageRequest};
use super::profile::{self, Me};
use super::request::query_params;
use super::steps;
use crate::app::App;
use crate::authenticators::{self, Method};
use crate::domain::{Ial, SubjectType};
use crate::flow::login::Purpose;
use crate::oidc::authorize::{AuthorizationRequest, LoginNeed};
use crate::oidc::interaction;
use crate::oidc::params::Params;

pub fn router() -> Router<App> {
    Router::new()
        .route("/upgrade", get(offer))
        .route("/upgrade/decline", post(decline))
        .route("/upgrade/{method}", get(begin).post(begin_posted))
}

/// The methods that can raise a citizen's account: enabled signature methods.
fn methods(app: &App) -> Vec<Method> {
    authenticators::registering(&app.config.login, SubjectType::Citizen)
}

/// The pending request `ar` of this browser, if any and if it is ours.
async fn pending_of(
    app: &App,
    req: &PageRequest,
    ar: Option<&str>,
) -> Option<AuthorizationRequest> {
    interaction::pending(app, ar?, req.browser())
        .await
        .ok()
        .flatten()
}

/// `GET /upgrade?ar=…`: the offer. Needs a session; an account already at IAL3 (or not a
/// citizen's) is told so.
async fn offer(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some(me) = profile::me(&app, &headers).await else {
        return profile::to_login(&app);
    };
    let params = query_params(&uri).unwrap_or_default();
    let ar = params.get("ar");
    let pending = pending_of(&app, &req, ar).await;
    if ar.is_some() && pending.is_none() {
        return page::flow_expired(&app, &req);
    }
    if me.account.ial >= Ial::Ial3 || me.account.subject_type != SubjectType::Citizen {
        return page::message(
            &app,
            &req,
            "upgrade_heading",
            "upgrade_not_needed",
            Some((app.url("/profile"), "upgrade_back_to_profile")),
        );
    }
    let query = ar.map(|a| format!("?ar={a}")).unwrap_or_default();
    let methods: Vec<_> = methods(&app)
        .into_iter()
        .map(|m| {
            json!({
                "name": m.name(),
                "label": req.t(&app, &format!("login_with_{}", m.name())),
                "url": app.url(&format!("/upgrade/{}{query}", m.name())),
            })
        })
        .collect();
    let mut vars = json!({
        "methods": methods,
        "ar": ar.unwrap_or_default(),
        "decline_action": app.url("/upgrade/decline"),
        "profile_url": app.url("/profile"),
    });
    if let Some(p) = &pending {
        vars["client_name"] = json!(
            app.client(&p.client_id)
                .await
                .ok()
                .flatten()
                .map(|c| c.name.clone())
                .unwrap_or_default()
        );
        vars["essential"] = json!(p.required_ial.is_some());
    }
    let mut resp = page::render(
        &app,
        &req,
        StatusCode::OK,
        "upgrade",
        "title_upgrade",
        vars,
        None,
    );
    // "Không, cảm ơn" answers with a redirect to the portal.
    if let Some(p) = &pending {
        page::allow_forms_to(&mut resp, &p.redirect_uri);
    }
    resp
}

/// `GET /upgrade/{method}?ar=…`: begins the signature (a method that needs nothing typed).
async fn begin(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some(me) = profile::me(&app, &headers).await else {
        return profile::to_login(&app);
    };
    let params = query_params(&uri).unwrap_or_default();
    start(&app, &req, &me, &name, &params, &peer.ip().to_string()).await
}

/// `POST /upgrade/{method}`: begins it with what the offer page's form sent (a SIM's phone).
async fn begin_posted(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Response {
    let (me, req, params) = match profile::posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    start(&app, &req, &me, &name, &params, &peer.ip().to_string()).await
}

async fn start(
    app: &App,
    req: &PageRequest,
    me: &Me,
    name: &str,
    params: &Params,
    ip: &str,
) -> Response {
    let Some(method) = Method::parse(name).filter(|m| methods(app).contains(m)) else {
        return page::error(app, req, StatusCode::NOT_FOUND, "error_not_found", None);
    };
    let ar = params.get("ar");
    if ar.is_some() && pending_of(app, req, ar).await.is_none() {
        return page::flow_expired(app, req);
    }
    let need = LoginNeed {
        level: Some(Ial::Ial3),
        ..LoginNeed::default()
    };
    let purpose = Purpose::Upgrade(me.account.id.clone());
    steps::begin_for(app, req, purpose, method, ar, &need, params, ip).await
}

/// `POST /upgrade/decline` ("Không, cảm ơn"): back to the portal, which gets
/// `unmet_authentication_requirements` if it required IAL3, or the login at the account's
/// level if it only asked; without a portal, back to the profile.
async fn decline(State(app): State<App>, request: Request<Body>) -> Response {
    let (me, req, params) = match profile::posted_by_me(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let ar = params.get("ar");
    let Some(ar) = ar else {
        return Redirect::to(&app.url("/profile")).into_response();
    };
    let Some(pending) = pending_of(&app, &req, Some(ar)).await else {
        return page::flow_expired(&app, &req);
    };
    let browser = req.browser().unwrap_or_default().to_string();
    let next =
        interaction::decline_upgrade(&app, ar, pending.clone(), Some(&me.session), &browser).await;
    respond(&app, &pending, next, &req)
}
