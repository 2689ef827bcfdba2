//! Every HTTP request gets an id: the caller's `X-Request-Id` when it is a short token,
//! otherwise a new random one. Everything logged while the request is handled carries it
//! (the `request` span, with the method and the route template — never the concrete path,
//! which may hold an unsubscribe token); the answer carries it in `X-Request-Id`, and an error
//! answer also in its body (`error.request_id`), so a user's report leads to the log lines.
//! The same layer counts requests and times them for Prometheus, by route and status.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The largest error body rewritten to carry the id (error bodies are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A caller's id is kept when it is 1-64 characters of letters, digits, `-`, `_`, `.`.
fn accepted(value: &str) -> bool {
    (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn new_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

pub async fn layer(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| accepted(v))
        .map(str::to_string)
        .unwrap_or_else(new_id);
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let seconds = started.elapsed().as_secs_f64();
    span.in_scope(|| tracing::debug!(status = status.as_u16(), seconds, "answered"));
    let labels = [("route", route), ("status", status.as_u16().to_string())];
    metrics::counter!("qualifyd_http_requests_total", &labels).increment(1);
    metrics::histogram!("qualifyd_http_request_duration_seconds", &labels[..1]).record(seconds);
    let mut response = if status.is_client_error() || status.is_server_error() {
        with_id_in_body(response, &id).await
    } else {
        response
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// Adds `request_id` to a JSON error body of the one error shape; other bodies pass unchanged.
async fn with_id_in_body(response: Response, id: &str) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let rewritten = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut value) if value["error"].is_object() => {
            value["error"]["request_id"] = serde_json::Value::String(id.to_string());
            serde_json::to_vec(&value).ok()
        }
        _ => None,
    };
    let bytes = rewritten.map(axum::body::Bytes::from).unwrap_or(bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_ids_are_kept_only_when_they_are_short_tokens() {
        assert!(accepted("req-42_a.b"));
        assert!(!accepted(""));
        assert!(!accepted(&"a".repeat(65)));
        assert!(!accepted("two words"));
        assert!(!accepted("x\ny"));
        assert_eq!(new_id().len(), 16);
    }
}
