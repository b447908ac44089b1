//! What every request leaves behind for the operator: a request id (echoed in `X-Request-Id`
//! and carried by every log line of the request, through its span), one access log line, and
//! its latency in the route histogram.
//!
//! Applied with `Router::layer`, so it runs after routing and sees the route template
//! (`MatchedPath`); a request no route matched is labelled `unmatched`. The log line holds the
//! method, the route template, the status and the latency: never the path or query (a
//! `login_hint` or an ID number can sit there), cookies or `Authorization`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::app::App;
use crate::metrics::UNMATCHED;

pub const REQUEST_ID: &str = "x-request-id";
/// Longest incoming request id kept; a longer one is replaced (it would bloat every log line).
const MAX_REQUEST_ID: usize = 64;

/// A caller's request id when it is sane (1 to 64 characters of `A-Z a-z 0-9 - _ . : @`), so
/// a load balancer's id follows the request through our logs; a fresh one otherwise.
pub fn request_id(incoming: Option<&HeaderValue>) -> String {
    incoming
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=MAX_REQUEST_ID).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(req.headers().get(REQUEST_ID));
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let method = req.method().clone();
    // Handlers and the clients we call further along may read it.
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let span = tracing::info_span!("request", request_id = %id, method = %method, route);
    let mut resp = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    app.metrics
        .requests
        .observe(route, method.as_str(), status, elapsed);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    span.in_scope(|| {
        tracing::info!(
            target: "xacthuc::access",
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_incoming_id_is_kept_and_anything_else_replaced() {
        let keep = HeaderValue::from_static("lb-7f3a.2:node@a_b");
        assert_eq!(request_id(Some(&keep)), "lb-7f3a.2:node@a_b");
        for bad in ["", "has space", "quote\"", "{\"json\":1}"] {
            let v = HeaderValue::from_str(bad).unwrap();
            let fresh = request_id(Some(&v));
            assert_ne!(fresh, bad);
            assert_eq!(fresh.len(), 36, "a UUID");
        }
        let long = HeaderValue::from_str(&"a".repeat(65)).unwrap();
        assert_eq!(request_id(Some(&long)).len(), 36);
        assert_eq!(request_id(None).len(), 36);
    }
}
