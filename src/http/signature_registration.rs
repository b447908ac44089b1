//! "Đăng ký" at IAL3 by a signature: `/register/{subject}/{method}` begins the method's chain of
//! steps for a registration (the same steps and pages as a login, `http::steps`); when it is
//! done, `http::steps` checks the certificate and sends the browser to `/register/confirm`,
//! which shows the identity read from the certificate with the email field, and on "Đăng ký"
//! creates the account and logs the person in (on to the portal, if one sent them).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::page::{self, PageRequest};
use super::request::query_params;
use super::steps;
use crate::app::App;
use crate::authenticators::{self, Method};
use crate::clock::Clock;
use crate::domain::SubjectType;
use crate::flow::login::{self, Purpose};
use crate::flow::signature_registration::{self, Refusal, SignatureRegistrationFlow};
use crate::oidc::authorize::LoginNeed;
use crate::oidc::params::Params;

pub fn router() -> Router<App> {
    Router::new()
        .route("/register/confirm", get(confirm_page).post(confirm_submit))
        .route(
            "/register/{subject}/{method}",
            get(begin).post(begin_posted),
        )
}

/// The subject and method of the URL, if that method is enabled and registers that subject.
fn chosen(app: &App, subject: &str, method: &str) -> Option<(SubjectType, Method)> {
    let subject = SubjectType::parse(subject)?;
    let method = Method::parse(method)?;
    authenticators::registering(&app.config.login, subject)
        .contains(&method)
        .then_some((subject, method))
}

/// Pending-request ids are our own 43-character tokens; anything else is dropped.
fn token(s: Option<&str>) -> Option<&str> {
    s.filter(|a| {
        a.len() == 43
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// `GET /register/{subject}/{method}?ar=…`: begins the signature (a method that needs nothing
/// typed first).
async fn begin(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((subject, method)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let params = query_params(&uri).unwrap_or_default();
    start(
        &app,
        &req,
        &subject,
        &method,
        &params,
        &peer.ip().to_string(),
    )
    .await
}

/// `POST /register/{subject}/{method}`: begins it with what the registration page's form sent
/// (e.g. the SIM's phone number).
async fn begin_posted(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((subject, method)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    let (_, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    start(
        &app,
        &req,
        &subject,
        &method,
        &params,
        &peer.ip().to_string(),
    )
    .await
}

async fn start(
    app: &App,
    req: &PageRequest,
    subject: &str,
    method: &str,
    params: &Params,
    ip: &str,
) -> Response {
    let Some((subject, method)) = chosen(app, subject, method) else {
        return page::error(app, req, StatusCode::NOT_FOUND, "error_not_found", None);
    };
    let ar = token(params.get("ar"));
    let purpose = Purpose::Register(subject);
    let need = LoginNeed::default();
    steps::begin_for(app, req, purpose, method, ar, &need, params, ip).await
}

/// What the confirmation page shows of the identity, in the page's words.
fn identity_vars(flow: &SignatureRegistrationFlow) -> Value {
    let Some(identity) = signature_registration::identity_of(flow) else {
        return json!({});
    };
    let mut vars = json!({
        "full_name": identity.full_name,
        "subject": flow.subject.as_str(),
        "is_enterprise": flow.subject == SubjectType::Enterprise,
    });
    if let Some(id) = &identity.id_number {
        vars["id_number"] = json!(id);
    }
    if let Some(t) = &identity.tax_code {
        vars["tax_code"] = json!(t);
    }
    if let Some(o) = &identity.organization {
        vars["organization"] = json!(o);
    }
    if let Some(c) = &identity.certificate {
        vars["issuer"] = json!(c.issuer);
        vars["valid_until"] = json!(Clock::vietnam_time(c.not_after));
    }
    vars
}

async fn render_confirm(
    app: &App,
    req: &PageRequest,
    status: StatusCode,
    flow: &SignatureRegistrationFlow,
    email: &str,
    errors: Value,
) -> Response {
    let vars = json!({
        "action": app.url("/register/confirm"),
        "identity": identity_vars(flow),
        "values": { "email": email },
        "errors": errors,
    });
    let mut resp = page::render(
        app,
        req,
        status,
        "register_signature",
        "title_register_signature",
        vars,
        None,
    );
    // "Đăng ký" logs the person in and is answered with a redirect to the portal.
    page::allow_forms_to_portal(app, req, &mut resp, flow.ar.as_deref()).await;
    resp
}

/// `GET /register/confirm`: the identity read from the certificate, the email field and
/// "Đăng ký".
async fn confirm_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    let req = PageRequest::new(&app, &headers, &uri, &[]);
    let Some((_, flow)) = page::flow_of::<SignatureRegistrationFlow>(&app, &headers).await else {
        return page::flow_expired(&app, &req);
    };
    let email = signature_registration::identity_of(&flow)
        .and_then(|i| i.email.clone())
        .unwrap_or_default();
    render_confirm(&app, &req, StatusCode::OK, &flow, &email, json!({})).await
}

/// `POST /register/confirm`: creates the account and logs the person in.
async fn confirm_submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (headers, req, params) = match page::posted(&app, request).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let Some((secret, flow)) = page::flow_of::<SignatureRegistrationFlow>(&app, &headers).await
    else {
        return page::flow_expired(&app, &req);
    };
    let email = params.get("email").unwrap_or_default();
    let ip = peer.ip().to_string();
    let created = signature_registration::complete(&app, &flow, email, Some(&ip)).await;
    let mut resp = match created {
        Ok(_) => {
            let _ =
                crate::flow::finish::<SignatureRegistrationFlow>(app.store.as_ref(), &secret).await;
            let completion = login::complete(
                &app,
                flow.method,
                &flow.evidence,
                flow.ar.as_deref(),
                req.browser(),
                &ip,
            )
            .await;
            match completion {
                Ok(completion) => steps::respond_completion(&app, &req, completion),
                // The account exists; only the login failed: the login page says why.
                Err(_) => page::message(
                    &app,
                    &req,
                    "register_done_heading",
                    "register_signature_done_message",
                    Some((app.url("/login"), "register_continue")),
                ),
            }
        }
        // The flow is kept: the same page can be sent again.
        Err(Refusal::Fields(errors)) => {
            let errors = page::errors_json(&app, &req, &errors);
            return render_confirm(&app, &req, StatusCode::BAD_REQUEST, &flow, email, errors).await;
        }
        Err(Refusal::Store(e)) => return page::unavailable(&app, &req, &e),
        Err(refusal) => {
            let _ =
                crate::flow::finish::<SignatureRegistrationFlow>(app.store.as_ref(), &secret).await;
            steps::registration_refused(&app, &req, flow.subject, &refusal, flow.ar.as_deref())
        }
    };
    page::clear_flow_cookie::<SignatureRegistrationFlow>(&app, &mut resp);
    resp
}
