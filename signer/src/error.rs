//! The agent's one error enum: each variant is a stable `error` code in the JSON answer (the
//! page picks its guidance by code) and an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the request has no Origin header")]
    OriginMissing,
    #[error("this origin may not use the agent (see --allow-origin)")]
    OriginNotAllowed,
    #[error("the origin in the body is not the page's Origin")]
    OriginMismatch,
    #[error("the body is not the expected JSON: {0}")]
    BadRequest(String),
    #[error("the body is too large")]
    TooLarge,
    #[error("the challenge must be 16 to 256 bytes in base64url without padding")]
    BadChallenge,
    #[error("no token is plugged in")]
    NoToken,
    #[error("the tokens hold no certificate with a usable key")]
    NoCertificate,
    #[error("no certificate on the tokens has this id")]
    UnknownCertificate,
    #[error("the PIN is incorrect")]
    PinIncorrect,
    #[error("the PIN is locked: unlock the token with its PUK or its vendor's tool")]
    PinLocked,
    #[error("no PIN was entered")]
    PinCancelled,
    #[error("the PIN could not be asked for: {0}")]
    PinUnavailable(String),
    #[error("the key type is not supported (EC P-256 and RSA are)")]
    UnsupportedKey,
    #[error("the token failed: {0}")]
    Token(String),
    #[error("the signature could not be built: {0}")]
    Cms(String),
}

impl AgentError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::OriginMissing => "origin_missing",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::OriginMismatch => "origin_mismatch",
            Self::BadRequest(_) => "bad_request",
            Self::TooLarge => "too_large",
            Self::BadChallenge => "bad_challenge",
            Self::NoToken => "no_token",
            Self::NoCertificate => "no_certificate",
            Self::UnknownCertificate => "unknown_certificate",
            Self::PinIncorrect => "pin_incorrect",
            Self::PinLocked => "pin_locked",
            Self::PinCancelled => "pin_cancelled",
            Self::PinUnavailable(_) => "pin_unavailable",
            Self::UnsupportedKey => "unsupported_key",
            Self::Token(_) => "token_error",
            Self::Cms(_) => "signing_failed",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::OriginMissing | Self::OriginNotAllowed | Self::OriginMismatch => {
                StatusCode::FORBIDDEN
            }
            Self::BadRequest(_) | Self::BadChallenge => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoToken | Self::NoCertificate | Self::UnknownCertificate => StatusCode::NOT_FOUND,
            Self::PinIncorrect => StatusCode::UNAUTHORIZED,
            Self::PinLocked => StatusCode::LOCKED,
            Self::PinCancelled => StatusCode::CONFLICT,
            Self::UnsupportedKey => StatusCode::UNPROCESSABLE_ENTITY,
            // Not the page's fault: the token or its driver.
            Self::PinUnavailable(_) | Self::Token(_) | Self::Cms(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
