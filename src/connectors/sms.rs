//! The SMS gateway: delivers OTP messages.
//!
//! HTTP contract (defined by our sandbox; an adapter for a real gateway implements it, or
//! implements `SmsGateway` directly):
//!
//! ```text
//! POST {sms_url}/v1/messages
//! Content-Type: application/json
//! {"to": "+84823456088", "text": "Ma xac thuc cua ban la 123456"}
//!
//! 202 (or any 2xx): accepted for delivery
//! ```
//!
//! Sending is NOT retried. It is not idempotent: when an attempt times out, the gateway may
//! still have accepted it, and a retry would send (and bill) a second message with the same
//! code. The user has "Gửi lại OTP" for a message that did not arrive, and that path is rate
//! limited; an automatic retry here would bypass that limit.
//!
//! Mapping: 2xx → Ok; 5xx, 408, 429, timeout, connection failure → `Unavailable`; any other
//! status → `Malformed`.

use async_trait::async_trait;

use super::{ConnectorError, Endpoint};

#[async_trait]
pub trait SmsGateway: Send + Sync {
    /// Sends `text` to `to_e164` (`+84…`).
    async fn send(&self, to_e164: &str, text: &str) -> Result<(), ConnectorError>;
}

pub struct HttpSmsGateway {
    endpoint: Endpoint,
}

impl HttpSmsGateway {
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }
}

#[async_trait]
impl SmsGateway for HttpSmsGateway {
    async fn send(&self, to_e164: &str, text: &str) -> Result<(), ConnectorError> {
        // Never retried: see the module comment.
        let message = serde_json::json!({ "to": to_e164, "text": text });
        self.endpoint.deliver(&message).await
    }
}
