//! "Quầy giao dịch": the counter officer's console (`/counter`: registration at the counter,
//! assisted password reset) and the citizen's side of its one-time links
//! (`/counter/complete/{token}`, then the one OTP step at `/counter/finish/otp`, then
//! `/counter/finish/password`). Every officer page goes through `staff::require` for
//! `Role::CounterOfficer`; every form is CSRF-checked. The logic is in `flow::counter`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::otp::OtpJourney;
use super::page::{self, PageRequest};
use super::registration::render_new_password;
use super::staff::{self, Staff};
use crate::app::App;
use crate::clock::Clock;
use crate::domain::{AccountStatus, IdNumber, IdNumberError, PhoneNumber, Role};
use crate::flow::counter::{self, CounterError, CounterFlow, Officer, RawRegistration};
use crate::flow::registration::RawForm;
use crate::message::{FieldErrors, Message};
use crate::oidc::params::Params;
use crate::store::{CounterLink, LinkKind};

pub fn router() -> Router<App> {
    Router::new()
        .route("/counter", get(console))
        .route(
            "/counter/register",
            get(register_form).post(register_submit),
        )
        .route("/counter/reset", get(reset_form).post(reset_lookup))
        .route("/counter/reset/send", post(reset_send))
        .route("/counter/complete/{token}", get(link_page).post(link_start))
        .route(
            "/counter/finish/password",
            get(password_page).post(password_submit),
        )
}

impl OtpJourney for CounterFlow {
    const PAGE: &'static str = "/counter/finish/otp";
    const AFTER: &'static str = "/counter/finish/password";
}

fn officer(staff: &Staff) -> Officer<'_> {
    Officer {
        account_id: &staff.account.id,
        office: staff.office(),
    }
}

/// The officer, or the staff area's refusal.
async fn page_for(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    ip: &str,
) -> Result<(Staff, PageRequest), Response> {
    staff::page_for(app, headers, uri, Role::CounterOfficer, ip).await
}

async fn posted_by(
    app: &App,
    request: Request<Body>,
    ip: &str,
    back: &str,
) -> Result<(Staff, PageRequest, Params), Response> {
    staff::posted_by(app, request, Role::CounterOfficer, ip, back).await
}

/// What every console page shows: who acts, and where.
fn officer_vars(staff: &Staff) -> Value {
    json!({ "officer_name": staff.account.full_name, "office": staff.office() })
}

fn render(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    staff: &Staff,
    template: &str,
    title: &str,
    vars: Value,
) -> Response {
    let mut all = officer_vars(staff);
    super::registration::merge(&mut all, vars);
    page::render(app, req, status, template, title, all)
}

/// "Quầy giao dịch": the officer's name and office, and the actions.
async fn console(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (staff, req) = match page_for(&app, &headers, &uri, &peer.ip().to_string()).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    render(
        &app,
        &req,
        StatusCode::OK,
        &staff,
        "counter",
        "title_counter",
        json!({}),
    )
}

// --- registration at the counter -----------------------------------------------------------

fn registration_page(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    staff: &Staff,
    vars: Value,
) -> Response {
    let mut all = json!({ "action": app.url("/counter/register"), "values": {}, "errors": {} });
    super::registration::merge(&mut all, vars);
    render(
        app,
        req,
        status,
        staff,
        "counter_register",
        "title_counter_register",
        all,
    )
}

async fn register_form(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (staff, req) = match page_for(&app, &headers, &uri, &peer.ip().to_string()).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    registration_page(&app, &req, StatusCode::OK, &staff, json!({}))
}

async fn register_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let ip = peer.ip().to_string();
    let (staff, req, params) = match posted_by(&app, request, &ip, "/counter/register").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let field = |name: &str| params.get(name).unwrap_or_default().to_string();
    let raw = RawRegistration {
        documents_checked: params.get("documents_checked") == Some("yes"),
        form: RawForm {
            id_number: field("id_number"),
            full_name: field("full_name"),
            birthdate: field("birthdate"),
            phone: field("phone"),
            email: field("email"),
            bhxh_code: String::new(),
        },
    };
    let values = json!({
        "id_number": raw.form.id_number, "full_name": raw.form.full_name,
        "birthdate": raw.form.birthdate, "phone": raw.form.phone, "email": raw.form.email,
        "documents_checked": raw.documents_checked,
    });
    let today = app.clock.now().date_naive();
    let form = match counter::validate(&raw, today) {
        Ok(f) => f,
        Err(errors) => {
            let errors = page::errors_json(&app, &req, &errors);
            let vars = json!({ "values": values, "errors": errors });
            return registration_page(&app, &req, StatusCode::BAD_REQUEST, &staff, vars);
        }
    };
    match counter::start_registration(&app, officer(&staff), &form, &ip, req.locale).await {
        Ok(link) => sent_page(&app, &req, &staff, &link),
        Err(CounterError::Duplicate) => {
            let vars = json!({
                "values": values,
                "duplicate": true,
                "reset_url": app.url("/counter/reset"),
            });
            registration_page(&app, &req, StatusCode::CONFLICT, &staff, vars)
        }
        Err(CounterError::Sms) => {
            let vars = json!({ "values": values, "error": req.t(&app, "err_counter_sms") });
            registration_page(&app, &req, StatusCode::SERVICE_UNAVAILABLE, &staff, vars)
        }
        Err(e) => page::unavailable(&app, &req, &e),
    }
}

/// "Đã gửi liên kết": where the link went and until when.
fn sent_page(app: &App, req: &PageRequest, staff: &Staff, link: &CounterLink) -> Response {
    let masked = PhoneNumber::parse(&link.phone)
        .map(|p| p.masked())
        .unwrap_or_default();
    let (heading, explain) = match link.kind {
        LinkKind::Registration => (
            "counter_sent_registration",
            "counter_sent_registration_explain",
        ),
        LinkKind::Reset => ("counter_sent_reset", "counter_sent_reset_explain"),
    };
    let text = page::text(
        app,
        req,
        &Message::new(explain)
            .with("phone", &masked)
            .with("until", Clock::vietnam_time(link.expires_at)),
    );
    let vars = json!({
        "heading": req.t(app, heading),
        "explain": text,
        "full_name": link.full_name,
    });
    render(
        app,
        req,
        StatusCode::OK,
        staff,
        "counter_sent",
        "title_counter",
        vars,
    )
}

// --- assisted password reset ------------------------------------------------------------------

fn reset_page(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    staff: &Staff,
    vars: Value,
) -> Response {
    let mut all = json!({
        "action": app.url("/counter/reset"),
        "send_action": app.url("/counter/reset/send"),
        "values": {},
        "errors": {},
    });
    super::registration::merge(&mut all, vars);
    render(
        app,
        req,
        status,
        staff,
        "counter_reset",
        "title_counter_reset",
        all,
    )
}

async fn reset_form(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (staff, req) = match page_for(&app, &headers, &uri, &peer.ip().to_string()).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    reset_page(&app, &req, StatusCode::OK, &staff, json!({}))
}

/// The ID number → the account's name, birth date and masked verified phones.
async fn reset_lookup(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let ip = peer.ip().to_string();
    let (staff, req, params) = match posted_by(&app, request, &ip, "/counter/reset").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let raw = params.get("id_number").unwrap_or_default();
    let values = json!({ "id_number": raw });
    let id_number = match IdNumber::parse(raw) {
        Ok(id) => id,
        Err(e) => {
            let key = match e {
                IdNumberError::Empty => "err_id_number_required",
                _ => "err_id_number_malformed",
            };
            let errors = json!({ "id_number": req.t(&app, key) });
            let vars = json!({ "values": values, "errors": errors });
            return reset_page(&app, &req, StatusCode::BAD_REQUEST, &staff, vars);
        }
    };
    match counter::look_up(&app, officer(&staff), &id_number, &ip).await {
        Ok((account, phones)) => account_page(
            &app,
            &req,
            StatusCode::OK,
            &staff,
            &account,
            &phones,
            json!({}),
        ),
        Err(CounterError::NoAccount) => {
            let vars = json!({ "values": values, "error": req.t(&app, "counter_no_account") });
            reset_page(&app, &req, StatusCode::NOT_FOUND, &staff, vars)
        }
        Err(e) => page::unavailable(&app, &req, &e),
    }
}

/// The account found, for the officer to match the person, with the phones to send to.
fn account_page(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    staff: &Staff,
    account: &crate::domain::Account,
    phones: &[crate::store::Phone],
    extra: Value,
) -> Response {
    let phones: Vec<Value> = phones
        .iter()
        .map(|p| {
            let masked = PhoneNumber::parse(&p.e164)
                .map(|n| n.masked())
                .unwrap_or_default();
            json!({ "id": p.id, "masked": masked, "is_default": p.is_default })
        })
        .collect();
    let mut vars = json!({
        "account": {
            "id": account.id,
            "full_name": account.full_name,
            "birthdate": account.birthdate.map(|d| d.format("%d/%m/%Y").to_string()),
            "id_number": account.id_number,
        },
        "phones": phones,
        "locked": account.status != AccountStatus::Active,
        "values": { "id_number": account.id_number },
        "errors": {},
    });
    super::registration::merge(&mut vars, extra);
    reset_page(app, req, status, staff, vars)
}

/// "Gửi liên kết đặt lại mật khẩu": the chosen phone gets the link.
async fn reset_send(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let ip = peer.ip().to_string();
    let (staff, req, params) = match posted_by(&app, request, &ip, "/counter/reset").await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let account_id = params.get("account_id").unwrap_or_default();
    let phone_id = params.get("phone_id").unwrap_or_default();
    let checked = params.get("documents_checked") == Some("yes");
    let mut errors = FieldErrors::new();
    if !checked {
        errors.insert(
            "documents_checked",
            Message::new("err_counter_documents_unchecked"),
        );
    }
    if phone_id.is_empty() {
        errors.insert("phone_id", Message::new("err_counter_phone_required"));
    }
    let outcome = if errors.is_empty() {
        counter::start_reset(&app, officer(&staff), account_id, phone_id, &ip, req.locale).await
    } else {
        Err(CounterError::Fields(errors))
    };
    let (status, extra) = match outcome {
        Ok(link) => return sent_page(&app, &req, &staff, &link),
        Err(CounterError::Fields(errors)) => (
            StatusCode::BAD_REQUEST,
            json!({ "errors": page::errors_json(&app, &req, &errors) }),
        ),
        Err(CounterError::UnknownPhone) => (
            StatusCode::BAD_REQUEST,
            json!({ "errors": { "phone_id": req.t(&app, "err_counter_phone_required") } }),
        ),
        Err(CounterError::Inactive) => (
            StatusCode::CONFLICT,
            json!({ "error": req.t(&app, "counter_account_locked") }),
        ),
        Err(CounterError::Sms) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": req.t(&app, "err_counter_sms") }),
        ),
        Err(CounterError::NoAccount) => {
            let vars = json!({ "error": req.t(&app, "counter_no_account") });
            return reset_page(&app, &req, StatusCode::NOT_FOUND, &staff, vars);
        }
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    // The same account again, with what was wrong (no second `counter.account_viewed`: the
    // officer is on the page they were shown).
    let account = match app.db.find_account(account_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            let vars = json!({ "error": req.t(&app, "counter_no_account") });
            return reset_page(&app, &req, StatusCode::NOT_FOUND, &staff, vars);
        }
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    let phones = match app.db.verified_phones(&account.id).await {
        Ok(p) => p,
        Err(e) => return page::unavailable(&app, &req, &e),
    };
    account_page(&app, &req, status, &staff, &account, &phones, extra)
}

// --- the citizen's side of a link ---------------------------------------------------------------

/// A link that opens nothing: why, in words (nothing is created or changed).
fn link_refused(app: &App, req: &PageRequest, e: &CounterError) -> Response {
    match e {
        CounterError::Link(problem) => {
            let status = match problem {
                counter::LinkProblem::Unknown => StatusCode::NOT_FOUND,
                counter::LinkProblem::Used | counter::LinkProblem::Expired => StatusCode::GONE,
            };
            page::error(app, req, status, problem.message_key(), None)
        }
        CounterError::Duplicate => page::error(
            app,
            req,
            StatusCode::CONFLICT,
            "counter_link_duplicate",
            None,
        ),
        CounterError::Inactive => page::error(
            app,
            req,
            StatusCode::CONFLICT,
            "counter_account_locked",
            None,
        ),
        other => page::unavailable(app, req, other),
    }
}

/// The link's page: what it is for, and "Gửi mã xác thực" (a post, so that a link preview
/// fetching the URL sends no SMS).
async fn link_page(
    State(app): State<App>,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match counter::open(&app, &token).await {
        Ok(link) => render_link(&app, &req, StatusCode::OK, &token, &link, None),
        Err(e) => link_refused(&app, &req, &e),
    }
}

fn render_link(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    token: &str,
    link: &CounterLink,
    error: Option<String>,
) -> Response {
    let masked = PhoneNumber::parse(&link.phone)
        .map(|p| p.masked())
        .unwrap_or_default();
    let (heading, explain) = match link.kind {
        LinkKind::Registration => (
            "counter_link_registration",
            "counter_link_registration_explain",
        ),
        LinkKind::Reset => ("counter_link_reset", "counter_link_reset_explain"),
    };
    let mut vars = json!({
        "heading": req.t(app, heading),
        "explain": page::text(app, req, &Message::new(explain).with("phone", &masked)),
        "full_name": link.full_name,
        "action": app.url(&format!("/counter/complete/{token}")),
    });
    if let Some(error) = error {
        vars["error"] = json!(error);
    }
    // The token is in the URL; every page is `Referrer-Policy: no-referrer`, so it goes to no
    // other site.
    page::render(app, req, status, "counter_link", "title_counter_link", vars)
}

async fn link_start(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    request: Request<Body>,
) -> Response {
    let (_, req, _) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let link = match counter::open(&app, &token).await {
        Ok(l) => l,
        Err(e) => return link_refused(&app, &req, &e),
    };
    let ctx = app.ctx(req.locale, &peer.ip().to_string());
    match counter::begin(&ctx, &link).await {
        Ok(flow) => page::start_flow_at(&app, &req, &flow, CounterFlow::PAGE).await,
        Err(CounterError::Otp(e)) => {
            let error = page::text(&app, &req, &e.message());
            let status = page::status_for(e.kind());
            render_link(&app, &req, status, &token, &link, Some(error))
        }
        Err(e) => page::unavailable(&app, &req, &e),
    }
}

fn new_password_page(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    flow: &CounterFlow,
    errors: Value,
) -> Response {
    render_new_password(
        app,
        req,
        status,
        "/counter/finish/password",
        flow.kind == LinkKind::Reset,
        errors,
    )
}

async fn password_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    match page::flow_of::<CounterFlow>(&app, &headers).await {
        Some((_, flow)) if flow.otp.verified => {
            new_password_page(&app, &req, StatusCode::OK, &flow, json!({}))
        }
        Some(_) => Redirect::to(&app.url(CounterFlow::PAGE)).into_response(),
        None => page::flow_expired(&app, &req),
    }
}

async fn password_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, flow)) = page::flow_of::<CounterFlow>(&app, &headers).await else {
        return page::flow_expired(&app, &req);
    };
    if !flow.otp.verified {
        return Redirect::to(&app.url(CounterFlow::PAGE)).into_response();
    }
    finish(&app, &req, &secret, &flow, &params, &peer.ip().to_string()).await
}

async fn finish(
    app: &App,
    req: &PageRequest,
    secret: &str,
    flow: &CounterFlow,
    params: &Params,
    ip: &str,
) -> Response {
    let password = params.get("password").unwrap_or_default();
    let confirm = params.get("password_confirm").unwrap_or_default();
    let outcome = match flow.kind {
        LinkKind::Registration => {
            counter::complete_registration(app, flow, password, confirm, Some(ip))
                .await
                .map(|_| ())
        }
        LinkKind::Reset => {
            counter::complete_reset(app, flow, password, confirm, Some(ip), req.locale).await
        }
    };
    match outcome {
        Ok(()) => {
            let _ = crate::flow::finish::<CounterFlow>(app.store.as_ref(), secret).await;
            let (heading, message) = match flow.kind {
                LinkKind::Registration => ("register_done_heading", "register_done_message"),
                LinkKind::Reset => ("reset_done_heading", "reset_done_message"),
            };
            let mut resp = page::message(
                app,
                req,
                heading,
                message,
                Some((app.url("/login"), "register_continue")),
            );
            page::clear_flow_cookie::<CounterFlow>(app, &mut resp);
            if flow.kind == LinkKind::Reset {
                super::clear_session_cookie(app, resp.headers_mut());
            }
            resp
        }
        Err(CounterError::Fields(errors)) => {
            let errors = page::errors_json(app, req, &errors);
            new_password_page(app, req, StatusCode::BAD_REQUEST, flow, errors)
        }
        // The flow is kept: the same form can be sent again.
        Err(CounterError::Busy) => page::busy(app, req),
        Err(CounterError::OutOfOrder) => Redirect::to(&app.url(CounterFlow::PAGE)).into_response(),
        Err(e @ (CounterError::Link(_) | CounterError::Duplicate | CounterError::Inactive)) => {
            let _ = crate::flow::finish::<CounterFlow>(app.store.as_ref(), secret).await;
            let mut resp = link_refused(app, req, &e);
            page::clear_flow_cookie::<CounterFlow>(app, &mut resp);
            resp
        }
        Err(e) => page::unavailable(app, req, &e),
    }
}
