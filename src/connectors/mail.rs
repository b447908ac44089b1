//! The mail gateway: delivers email verification codes.
//!
//! HTTP contract (defined by our sandbox; an adapter for a real mail service implements it, or
//! implements `MailGateway` directly):
//!
//! ```text
//! POST {mail_url}/v1/messages
//! Content-Type: application/json
//! {"to": "an.nguyen@example.vn", "subject": "…", "text": "…"}
//!
//! 202 (or any 2xx): accepted for delivery
//! ```
//!
//! Sending is NOT retried, for the same reason as SMS (`connectors::sms`): a timed-out attempt
//! may still have been accepted. The user asks for a new code instead, which is rate limited.
//!
//! Mapping: 2xx → Ok; 5xx, 408, 429, timeout, connection failure → `Unavailable`; any other
//! status → `Malformed`.

use async_trait::async_trait;

use super::{ConnectorError, Endpoint};

#[async_trait]
pub trait MailGateway: Send + Sync {
    /// Sends a plain-text message to `to` (an address already validated by `domain::Email`).
    async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), ConnectorError>;
}

pub struct HttpMailGateway {
    endpoint: Endpoint,
}

impl HttpMailGateway {
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }
}

#[async_trait]
impl MailGateway for HttpMailGateway {
    async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), ConnectorError> {
        // Never retried: see the module comment.
        let message = serde_json::json!({ "to": to, "subject": subject, "text": text });
        self.endpoint.deliver(&message).await
    }
}
