//! The one error shape of the HTTP API, `{"error": {"code", "message"}}`, its status codes,
//! the translation of engine errors, and the fallbacks for unknown routes and methods.

use std::fmt;

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answer: a status, a stable snake_case code clients can match on, and a message for
/// a human saying what went wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// What a client is told about a 500: the details are in the server log, never in the answer.
const INTERNAL_MESSAGE: &str =
    "internal error: the details are in the server log; retry later or ask the operator to check it";

impl Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Error {
        Error { status, code, message: message.into() }
    }

    pub fn invalid_json(message: impl Into<String>) -> Error {
        Error::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Error {
        Error::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Error {
        Error::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn payload_too_large(limit: usize) -> Error {
        Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes: split it into smaller requests"),
        )
    }

    /// The store takes no more writes (full or failing disk): nothing was acknowledged; retry
    /// against the restarted daemon.
    pub fn store_unavailable(reason: impl Into<String>) -> Error {
        Error::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", reason)
    }

    /// Logs `cause` at ERROR with `context` (what was being done) and answers a 500 that does not
    /// leak it.
    pub fn internal(context: &str, cause: &dyn fmt::Display) -> Error {
        tracing::error!(error = %cause, "{context}");
        Error::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", INTERNAL_MESSAGE)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status.as_u16(), self.message)
    }
}

impl std::error::Error for Error {}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<engine::Error> for Error {
    fn from(err: engine::Error) -> Error {
        match err {
            engine::Error::Invalid(message) => Error::invalid_request(message),
            engine::Error::ShuttingDown => Error::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the daemon is shutting down: retry against the restarted daemon",
            ),
            engine::Error::Ambiguous(message) => Error::new(StatusCode::CONFLICT, "ambiguous_subject", message),
            engine::Error::Store(err @ crate::store::Error::Damaged { .. }) => {
                Error::new(StatusCode::INTERNAL_SERVER_ERROR, "damaged_prospect", err.to_string())
            }
            engine::Error::Store(crate::store::Error::Unavailable(reason)) => Error::store_unavailable(reason),
            engine::Error::Store(err) => Error::internal("the engine failed", &err),
        }
    }
}

/// The answer for a path no route matches.
pub async fn route_not_found(method: Method, uri: Uri) -> Error {
    Error::not_found(format!(
        "there is no route `{method} {}`: the admin API lives under /v1 (prospects, workflows, reload), \
         webhooks under /webhooks",
        uri.path()
    ))
}

/// The answer for a known path with a method it does not take (axum adds the `Allow` header).
pub async fn method_not_allowed(method: Method, uri: Uri) -> Error {
    Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("`{method}` is not allowed on `{}`: the `Allow` header lists the methods it takes", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn render(error: Error) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn renders_the_one_shape() {
        let (status, body) = render(Error::not_found("no prospect `p1`")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"error": {"code": "not_found", "message": "no prospect `p1`"}}));
    }

    #[tokio::test]
    async fn unauthorized_names_the_scheme() {
        let response = Error::unauthorized("no token").into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak() {
        let (status, body) = render(Error::internal("loading", &"sled: /var/lib/secret broke")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("sled"));
    }

    #[tokio::test]
    async fn engine_errors_map_to_statuses() {
        let invalid = Error::from(engine::Error::Invalid("unknown workflow `x`".into()));
        assert_eq!((invalid.status(), invalid.code()), (StatusCode::BAD_REQUEST, "invalid_request"));
        assert_eq!(invalid.message(), "unknown workflow `x`");
        let down = Error::from(engine::Error::ShuttingDown);
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        let full = Error::from(engine::Error::Store(crate::store::Error::Unavailable("disk full".into())));
        assert_eq!((full.status(), full.code()), (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"));
    }

    #[tokio::test]
    async fn too_large_says_the_limit() {
        let (status, body) = render(Error::payload_too_large(1024)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body["error"]["message"].as_str().unwrap().contains("1024 bytes"));
    }
}
