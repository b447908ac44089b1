//! The console's client pages: `/admin/clients` (the list), `/admin/clients/new`, a client's
//! page `/admin/clients/{id}` (its facts, and for those who may change it the edit form with
//! the version it was read at), and its actions `/admin/clients/{id}/{disable|enable|delete|
//! rotate}`. Disabling, deleting and rotating ask for a confirmation first (a page with a
//! required checkbox); a new secret is shown once, on the page that answers.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{By, Saved};
use crate::admin::clients::{
    AUTH_METHODS, ClientDraft, ClientView, GRANT_TYPES, draft_of, user_scopes,
};
use crate::admin::{Access, Resource};
use crate::app::App;
use crate::domain::{Ial, Role};
use crate::http::admin::api::ApiError;
use crate::http::admin::console::{Admin, page_for, posted_by};
use crate::http::page::{self, PageRequest};
use crate::message::{FieldErrors, Message};
use crate::oidc::client::Client;
use crate::oidc::params::Params;

const LIST: &str = "/admin/clients";

fn client_path(id: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("{LIST}/{id}")
}

pub fn console() -> Router<App> {
    Router::new()
        .route(LIST, get(index))
        .route("/admin/clients/new", get(new_form).post(create))
        .route("/admin/clients/{client_id}", get(show).post(edit))
        .route(
            "/admin/clients/{client_id}/{action}",
            get(confirm).post(act),
        )
}

/// The notice a finished action leaves (`?done=`).
fn notice(req: &PageRequest, app: &App, uri: &Uri) -> Option<String> {
    let done = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "done")
            .map(|(_, v)| v.into_owned())
    })?;
    let key = match done.as_str() {
        "updated" => "admin_clients_notice_updated",
        "disabled" => "admin_clients_notice_disabled",
        "enabled" => "admin_clients_notice_enabled",
        "deleted" => "admin_clients_notice_deleted",
        _ => return None,
    };
    Some(req.t(app, key))
}

/// The answer to an operation that failed, on a page.
fn failed(app: &App, req: &PageRequest, e: ApiError) -> Response {
    match e {
        ApiError::NotFound => {
            page::error(app, req, StatusCode::NOT_FOUND, "admin_api_not_found", None)
        }
        ApiError::BadRequest(m) | ApiError::Conflict(m) => {
            page::error(app, req, StatusCode::BAD_REQUEST, m.key, None)
        }
        ApiError::Forbidden | ApiError::Unauthorized => {
            page::error(app, req, StatusCode::FORBIDDEN, "admin_api_forbidden", None)
        }
        ApiError::Invalid(_) => {
            page::error(app, req, StatusCode::BAD_REQUEST, "admin_api_invalid", None)
        }
        ApiError::Unavailable => page::error(
            app,
            req,
            StatusCode::SERVICE_UNAVAILABLE,
            "error_temporarily_unavailable",
            None,
        ),
    }
}

fn ip_of(peer: SocketAddr) -> String {
    peer.ip().to_string()
}

/// "Các cổng dịch vụ": every client in a table.
async fn index(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (admin, req) = match page_for(
        &app,
        &headers,
        &uri,
        Resource::Clients,
        Access::Read,
        &ip_of(peer),
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let clients = match super::list(&app).await {
        Ok(c) => c,
        Err(e) => return failed(&app, &req, e),
    };
    let rows: Vec<Value> = clients
        .iter()
        .map(|c| {
            json!({
                "url": client_path(&c.client_id),
                "client_id": c.client_id,
                "name": c.name,
                "kind": req.t(&app, if c.is_public() { "admin_clients_kind_public" } else { "admin_clients_kind_confidential" }),
                "auth_method": c.auth_method.as_str(),
                "disabled": c.disabled,
                "status": req.t(&app, status_key(c)),
            })
        })
        .collect();
    let vars = json!({
        "clients": rows,
        "can_write": admin.actor.may(Resource::Clients, Access::Write),
        "new_url": "/admin/clients/new",
        "notice": notice(&req, &app, &uri),
    });
    page::render(
        &app,
        &req,
        StatusCode::OK,
        "admin_clients",
        "admin_section_clients",
        vars,
    )
}

fn status_key(c: &Client) -> &'static str {
    if c.disabled {
        "admin_clients_status_disabled"
    } else {
        "admin_clients_status_enabled"
    }
}

/// The form's fields, its options and their state, from `draft`.
fn form_vars(app: &App, draft: &ClientDraft, admin: &Admin) -> Value {
    let selected = |options: &[&str], value: &str| -> Vec<Value> {
        options
            .iter()
            .map(|o| json!({ "value": o, "selected": *o == value }))
            .collect()
    };
    let checked = |options: Vec<String>, values: &[String]| -> Vec<Value> {
        options
            .into_iter()
            .map(|o| {
                let on = values.contains(&o);
                json!({ "value": o, "checked": on })
            })
            .collect()
    };
    let may_give_admin_scopes = admin.actor.roles().contains(&Role::Admin);
    // Admin scopes are offered to admins, and shown to others only when the client has them.
    let scopes: Vec<String> = offered_scopes()
        .into_iter()
        .filter(|s| {
            Role::from_api_scope(s).is_none()
                || may_give_admin_scopes
                || draft.allowed_scopes.contains(s)
        })
        .collect();
    let acr_options = [
        String::new(),
        app.acr.acr(Ial::Ial2).to_string(),
        app.acr.acr(Ial::Ial3).to_string(),
    ];
    let min_acr = draft.min_acr.clone().unwrap_or_default();
    let jwks = match &draft.jwks {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
    };
    json!({
        "client_id": draft.client_id.clone().unwrap_or_default(),
        "name": draft.name,
        "redirect_uris": draft.redirect_uris.join("\n"),
        "post_logout_redirect_uris": draft.post_logout_redirect_uris.join("\n"),
        "backchannel_logout_uri": draft.backchannel_logout_uri.clone().unwrap_or_default(),
        "auth_methods": selected(&AUTH_METHODS, &draft.token_endpoint_auth_method),
        "grant_types": checked(GRANT_TYPES.map(String::from).to_vec(), &draft.grant_types),
        "scopes": checked(scopes, &draft.allowed_scopes),
        "jwks": jwks,
        "jwks_uri": draft.jwks_uri.clone().unwrap_or_default(),
        "min_acrs": acr_options.iter().map(|o| json!({ "value": o, "selected": *o == min_acr })).collect::<Vec<_>>(),
        "subject_types": selected(&["public", "pairwise"], draft.subject_type.as_deref().unwrap_or("public")),
        "sector_identifier_uri": draft.sector_identifier_uri.clone().unwrap_or_default(),
        "id_token_algs": selected(&crate::keys::ALGORITHMS, draft.id_token_alg.as_deref().unwrap_or(&app.config.keys.id_token_alg)),
        "theme": draft.theme.clone().unwrap_or_default(),
        "skip_consent": draft.skip_consent,
        "require_phishing_resistant": draft.require_phishing_resistant,
        "omit_iss_in_errors": draft.omit_iss_in_errors,
        "version": draft.version.map(|v| v.to_string()).unwrap_or_default(),
    })
}

/// Every scope the form may tick: the user scopes, then the admin scopes.
fn offered_scopes() -> Vec<String> {
    user_scopes()
        .map(String::from)
        .chain(Role::ALL.iter().map(|r| r.api_scope().to_string()))
        .collect()
}

/// What a posted form says.
fn draft_from(params: &Params) -> ClientDraft {
    let one = |name: &str| params.get(name).map(str::to_string);
    // One checkbox per value (`grant_<type>`, `scope_<scope>`): a form may not repeat a name.
    let ticked = |prefix: &str, options: Vec<String>| -> Vec<String> {
        options
            .into_iter()
            .filter(|o| params.get(&format!("{prefix}{o}")).is_some())
            .collect()
    };
    let lines = |name: &str| -> Vec<String> {
        params
            .get(name)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let on = |name: &str| params.get(name).is_some();
    ClientDraft {
        client_id: one("client_id"),
        name: one("name").unwrap_or_default(),
        redirect_uris: lines("redirect_uris"),
        post_logout_redirect_uris: lines("post_logout_redirect_uris"),
        backchannel_logout_uri: one("backchannel_logout_uri"),
        grant_types: ticked("grant_", GRANT_TYPES.map(String::from).to_vec()),
        token_endpoint_auth_method: one("token_endpoint_auth_method").unwrap_or_default(),
        jwks: one("jwks").map(Value::String),
        jwks_uri: one("jwks_uri"),
        allowed_scopes: ticked("scope_", offered_scopes()),
        min_acr: one("min_acr"),
        skip_consent: on("skip_consent"),
        require_phishing_resistant: on("require_phishing_resistant"),
        omit_iss_in_errors: on("omit_iss_in_errors"),
        subject_type: one("subject_type"),
        sector_identifier_uri: one("sector_identifier_uri"),
        id_token_alg: one("id_token_alg"),
        theme: one("theme"),
        version: one("version").and_then(|v| v.trim().parse().ok()),
    }
}

/// A client's facts for its page.
fn facts(app: &App, req: &PageRequest, c: &Client) -> Value {
    let v = ClientView::of(c, &app.acr);
    json!({
        "client_id": v.client_id,
        "name": v.name,
        "kind": req.t(app, if v.public { "admin_clients_kind_public" } else { "admin_clients_kind_confidential" }),
        "auth_method": v.token_endpoint_auth_method,
        "disabled": v.disabled,
        "status": req.t(app, status_key(c)),
        "version": v.version,
        "redirect_uris": v.redirect_uris,
        "has_secret": v.has_secret,
        "previous_secret_expires_at": v.previous_secret_expires_at.unwrap_or_default(),
        "updated_at": v.updated_at.unwrap_or_default(),
    })
}

/// Renders the new-client form (no client) or a client's page.
#[allow(clippy::too_many_arguments)]
fn client_page(
    app: &App,
    req: &PageRequest,
    admin: &Admin,
    status: StatusCode,
    client: Option<&Client>,
    draft: &ClientDraft,
    errors: &FieldErrors,
    error: Option<String>,
    notice: Option<String>,
    secret: Option<String>,
) -> Response {
    let can_write = admin.actor.may(Resource::Clients, Access::Write);
    let base = client.map(|c| client_path(&c.client_id));
    let vars = json!({
        "client": client.map(|c| facts(app, req, c)),
        "is_new": client.is_none(),
        "can_write": can_write,
        "form": form_vars(app, draft, admin),
        "errors": page::errors_json(app, req, errors),
        "error": error,
        "notice": notice,
        "secret": secret,
        "list_url": LIST,
        "action": base.clone().unwrap_or_else(|| "/admin/clients/new".into()),
        "disable_url": base.as_ref().map(|b| format!("{b}/disable")),
        "enable_url": base.as_ref().map(|b| format!("{b}/enable")),
        "delete_url": base.as_ref().map(|b| format!("{b}/delete")),
        "rotate_url": base.as_ref().map(|b| format!("{b}/rotate")),
    });
    let title = if client.is_some() {
        "admin_clients_client_title"
    } else {
        "admin_clients_new_title"
    };
    page::render(app, req, status, "admin_client", title, vars)
}

fn new_draft(app: &App) -> ClientDraft {
    ClientDraft {
        token_endpoint_auth_method: "client_secret_basic".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        allowed_scopes: vec!["openid".into(), "profile".into()],
        subject_type: Some("public".into()),
        id_token_alg: Some(app.config.keys.id_token_alg.clone()),
        ..Default::default()
    }
}

async fn new_form(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (admin, req) = match page_for(
        &app,
        &headers,
        &uri,
        Resource::Clients,
        Access::Write,
        &ip_of(peer),
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let draft = new_draft(&app);
    client_page(
        &app,
        &req,
        &admin,
        StatusCode::OK,
        None,
        &draft,
        &FieldErrors::new(),
        None,
        None,
        None,
    )
}

async fn create(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let ip = ip_of(peer);
    let (admin, req, params) =
        match posted_by(&app, request, Resource::Clients, &ip, "/admin/clients/new").await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let draft = draft_from(&params);
    let by = By {
        actor: &admin.actor,
        ip: &ip,
    };
    match super::create(&app, &by, &draft).await {
        Ok(Saved { client, secret }) => {
            let req = req.with_language_link(&client_path(&client.client_id));
            let shown = draft_of(&client, &app.acr);
            let notice = Some(req.t(&app, "admin_clients_notice_created"));
            client_page(
                &app,
                &req,
                &admin,
                StatusCode::CREATED,
                Some(&client),
                &shown,
                &FieldErrors::new(),
                None,
                notice,
                secret,
            )
        }
        Err(ApiError::Invalid(errors)) => client_page(
            &app,
            &req,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            &draft,
            &errors,
            None,
            None,
            None,
        ),
        Err(ApiError::Conflict(m)) => {
            let mut errors = FieldErrors::new();
            errors.insert("client_id", m);
            client_page(
                &app,
                &req,
                &admin,
                StatusCode::CONFLICT,
                None,
                &draft,
                &errors,
                None,
                None,
                None,
            )
        }
        Err(e) => failed(&app, &req, e),
    }
}

async fn show(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (admin, req) = match page_for(
        &app,
        &headers,
        &uri,
        Resource::Clients,
        Access::Read,
        &ip_of(peer),
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let client = match super::find(&app, &client_id).await {
        Ok(c) => c,
        Err(e) => return failed(&app, &req, e),
    };
    let draft = draft_of(&client, &app.acr);
    let notice = notice(&req, &app, &uri);
    client_page(
        &app,
        &req,
        &admin,
        StatusCode::OK,
        Some(&client),
        &draft,
        &FieldErrors::new(),
        None,
        notice,
        None,
    )
}

async fn edit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    request: Request<Body>,
) -> Response {
    let ip = ip_of(peer);
    let back = client_path(&client_id);
    let (admin, req, params) = match posted_by(&app, request, Resource::Clients, &ip, &back).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let draft = draft_from(&params);
    let by = By {
        actor: &admin.actor,
        ip: &ip,
    };
    let result = match draft.version {
        Some(version) => super::update(&app, &by, &client_id, &draft, version).await,
        None => Err(ApiError::Conflict(Message::new("admin_stale_edit"))),
    };
    match result {
        Ok(Saved {
            client,
            secret: Some(secret),
        }) => {
            let shown = draft_of(&client, &app.acr);
            let notice = Some(req.t(&app, "admin_clients_notice_updated"));
            client_page(
                &app,
                &req,
                &admin,
                StatusCode::OK,
                Some(&client),
                &shown,
                &FieldErrors::new(),
                None,
                notice,
                Some(secret),
            )
        }
        Ok(_) => Redirect::to(&format!("{back}?done=updated")).into_response(),
        Err(ApiError::Invalid(errors)) => {
            let Ok(current) = super::find(&app, &client_id).await else {
                return failed(&app, &req, ApiError::NotFound);
            };
            client_page(
                &app,
                &req,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&current),
                &draft,
                &errors,
                None,
                None,
                None,
            )
        }
        Err(ApiError::Conflict(m)) => {
            // Nothing was written: the page shows the client as it is now, the admin's values
            // kept in the form with the version they were based on.
            let Ok(current) = super::find(&app, &client_id).await else {
                return failed(&app, &req, ApiError::NotFound);
            };
            let error = Some(page::text(&app, &req, &m));
            client_page(
                &app,
                &req,
                &admin,
                StatusCode::CONFLICT,
                Some(&current),
                &draft,
                &FieldErrors::new(),
                error,
                None,
                None,
            )
        }
        Err(e) => failed(&app, &req, e),
    }
}

/// The actions on a client, and whether each needs a confirmation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Disable,
    Enable,
    Delete,
    Rotate,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "disable" => Some(Self::Disable),
            "enable" => Some(Self::Enable),
            "delete" => Some(Self::Delete),
            "rotate" => Some(Self::Rotate),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::Delete => "delete",
            Self::Rotate => "rotate",
        }
    }
}

/// The confirmation page of a destructive action.
#[allow(clippy::too_many_arguments)]
fn confirm_page(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    client: &Client,
    action: Action,
    overlap: &str,
    errors: &FieldErrors,
) -> Response {
    let vars = json!({
        "client": facts(app, req, client),
        "action": format!("{}/{}", client_path(&client.client_id), action.name()),
        "back_url": client_path(&client.client_id),
        "kind": action.name(),
        "question": req.t(app, &format!("admin_clients_confirm_{}", action.name())),
        "submit": req.t(app, &format!("admin_clients_{}_submit", action.name())),
        "rotate": action == Action::Rotate,
        "overlap_seconds": overlap,
        "errors": page::errors_json(app, req, errors),
    });
    page::render(
        app,
        req,
        status,
        "admin_client_confirm",
        "admin_clients_confirm_title",
        vars,
    )
}

async fn confirm(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((client_id, action)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (_, req) = match page_for(
        &app,
        &headers,
        &uri,
        Resource::Clients,
        Access::Write,
        &ip_of(peer),
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(action) = Action::parse(&action).filter(|a| *a != Action::Enable) else {
        return failed(&app, &req, ApiError::NotFound);
    };
    match super::find(&app, &client_id).await {
        Ok(client) => confirm_page(
            &app,
            &req,
            StatusCode::OK,
            &client,
            action,
            &super::DEFAULT_OVERLAP_SECONDS.to_string(),
            &FieldErrors::new(),
        ),
        Err(e) => failed(&app, &req, e),
    }
}

async fn act(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((client_id, action)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    let ip = ip_of(peer);
    let back = client_path(&client_id);
    let (admin, req, params) = match posted_by(&app, request, Resource::Clients, &ip, &back).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some(action) = Action::parse(&action) else {
        return failed(&app, &req, ApiError::NotFound);
    };
    let client = match super::find(&app, &client_id).await {
        Ok(c) => c,
        Err(e) => return failed(&app, &req, e),
    };
    let overlap_text = params
        .get("overlap_seconds")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut errors = FieldErrors::new();
    if action != Action::Enable && params.get("confirm").is_none() {
        errors.insert("confirm", Message::new("admin_confirm_required"));
    }
    let overlap = if action == Action::Rotate {
        let parsed = if overlap_text.is_empty() {
            Ok(super::DEFAULT_OVERLAP_SECONDS)
        } else {
            super::overlap(Some(overlap_text.parse().unwrap_or(-1)))
        };
        match parsed {
            Ok(o) => o,
            Err(e) => {
                errors.extend(e);
                0
            }
        }
    } else {
        0
    };
    if !errors.is_empty() {
        return confirm_page(
            &app,
            &req,
            StatusCode::UNPROCESSABLE_ENTITY,
            &client,
            action,
            &overlap_text,
            &errors,
        );
    }
    let by = By {
        actor: &admin.actor,
        ip: &ip,
    };
    // The version the confirmation was shown for: a client changed since is not touched.
    let version = params
        .get("version")
        .and_then(|v| v.trim().parse::<i32>().ok());
    if version.is_some_and(|v| v != client.version) {
        return stale_page(&app, &req, &admin, &client);
    }
    let result = match action {
        Action::Disable | Action::Enable => {
            super::set_disabled(&app, &by, &client_id, action == Action::Disable)
                .await
                .map(|_| action.name())
        }
        Action::Delete => super::delete(&app, &by, &client_id, version.unwrap_or(client.version))
            .await
            .map(|_| "deleted"),
        Action::Rotate => match super::rotate(&app, &by, &client_id, overlap).await {
            Ok(r) => {
                let Ok(client) = super::find(&app, &client_id).await else {
                    return failed(&app, &req, ApiError::NotFound);
                };
                let draft = draft_of(&client, &app.acr);
                let notice = Some(page::text(
                    &app,
                    &req,
                    &Message::new("admin_clients_notice_rotated").with(
                        "until",
                        r.previous_expires_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "—".into()),
                    ),
                ));
                return client_page(
                    &app,
                    &req,
                    &admin,
                    StatusCode::OK,
                    Some(&client),
                    &draft,
                    &FieldErrors::new(),
                    None,
                    notice,
                    Some(r.secret),
                );
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok("deleted") => Redirect::to(&format!("{LIST}?done=deleted")).into_response(),
        Ok("disable") => Redirect::to(&format!("{back}?done=disabled")).into_response(),
        Ok(_) => Redirect::to(&format!("{back}?done=enabled")).into_response(),
        Err(ApiError::Conflict(_)) => stale_page(&app, &req, &admin, &client),
        Err(e) => failed(&app, &req, e),
    }
}

/// The client's page, as it is now, saying that it changed meanwhile.
fn stale_page(app: &App, req: &PageRequest, admin: &Admin, client: &Client) -> Response {
    let draft = draft_of(client, &app.acr);
    let error = Some(req.t(app, "admin_stale_edit"));
    client_page(
        app,
        req,
        admin,
        StatusCode::CONFLICT,
        Some(client),
        &draft,
        &FieldErrors::new(),
        error,
        None,
        None,
    )
}
