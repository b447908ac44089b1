//! Why an admin action of the accounts, audit and roles sections is refused: one enum for
//! the plain functions of `admin::{accounts, audit_trail, roles}`, which the API turns into
//! its JSON errors and the console into pages (`http::admin::accounts`).

use crate::message::{FieldErrors, Message};
use crate::oidc::error::OAuthError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum Refusal {
    /// No such account, grant or event.
    NotFound,
    /// The request as a whole cannot be understood (e.g. no search key at all).
    BadRequest(Message),
    /// Fields that do not pass validation, a message each.
    Invalid(FieldErrors),
    /// A stale edit, or a state that forbids the action (a complaint holds the account, the
    /// last admin): nothing was written.
    Conflict(Message),
    /// The database or the store did not answer; the cause, for the log.
    Unavailable(String),
}

impl Refusal {
    /// One field's message.
    pub fn field(name: &'static str, key: &'static str) -> Self {
        Self::Invalid(FieldErrors::from([(name, Message::new(key))]))
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        Self::Unavailable(format!("{e:?}"))
    }
}
