//! The OTP screen itself (template `otp`), shared by the OTP pages of every flow and by the
//! login's steps when the SMS code is refused.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, json};

use super::page::{self, PageRequest};
use crate::app::App;
use crate::authenticators::otp::OtpStep;
use crate::message::Message;

/// The login's OTP screen.
pub const LOGIN_PAGE: &str = "/login/otp";

/// One showing of the screen.
pub struct Screen<'a> {
    /// The screen's path; "Gửi lại OTP" posts to `{page}/resend`, another phone is chosen at
    /// `{page}/phones`.
    pub page: &'static str,
    pub otp: &'a OtpStep,
    pub other_phones: bool,
    pub error: Option<&'a Message>,
    pub notice: Option<&'static str>,
}

/// Masked number, resend countdown, the error under the field, a notice.
pub fn render(app: &App, req: &PageRequest, status: StatusCode, s: Screen<'_>) -> Response {
    let resend_in = s.otp.resend_in(app.clock.unix());
    let mut errors = Map::new();
    if let Some(m) = s.error {
        errors.insert("otp".into(), json!(page::text(app, req, m)));
    }
    let mut vars = json!({
        "action": app.url(s.page),
        "resend_action": app.url(&format!("{}/resend", s.page)),
        "masked_phone": s.otp.masked_phone(),
        "resend_in": resend_in,
        "resend_wait": resend_in > 0,
        "errors": errors,
    });
    if let Some(n) = s.notice {
        vars["notice"] = json!(req.t(app, n));
    }
    if s.other_phones {
        vars["other_methods"] = json!(app.url(&format!("{}/phones", s.page)));
    }
    let mut resp = page::render(app, req, status, "otp", "title_otp", vars);
    page::allow_own_scripts(&mut resp);
    resp
}
