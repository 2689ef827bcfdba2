//! Request extractors whose rejections come out in the one error shape: a JSON body
//! ([`JsonBody`]) and a query string ([`QueryParams`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::MAX_BODY_BYTES;
use super::error::Error;

/// A JSON request body deserialized into `T`, like `axum::Json`, but every failure (wrong content
/// type, body too large, bad syntax, unknown or missing field) answers in the one error shape with
/// the path and position of the problem.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        require_json_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse(&bytes).map(JsonBody)
    }
}

/// Deserializes `bytes` into `T`, telling syntax errors (`invalid_json`) from well-formed JSON of
/// the wrong shape (`invalid_request`).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid_json("the request body is empty: send a JSON document"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let category = err.inner().classify();
        let message = located(&err.path().to_string(), err.inner());
        match category {
            Category::Syntax | Category::Eof | Category::Io => {
                Error::invalid_json(format!("the request body is not valid JSON: {message}"))
            }
            Category::Data => Error::invalid_request(format!("the request body does not fit: {message}")),
        }
    })?;
    deserializer.end().map_err(|err| Error::invalid_json(format!("the request body is not valid JSON: {err}")))?;
    Ok(value)
}

/// A serde message prefixed by the path of the field it is about (`fields.budget: invalid type`);
/// the root path `.` is left out.
pub fn located(path: &str, err: &dyn std::fmt::Display) -> String {
    if path.is_empty() || path == "." { err.to_string() } else { format!("{path}: {err}") }
}

fn require_json_content_type(headers: &HeaderMap) -> Result<(), Error> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("the request has no `Content-Type` header"));
    };
    let essence = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json { Ok(()) } else { Err(unsupported(&format!("the request has `Content-Type: {essence}`"))) }
}

fn unsupported(what: &str) -> Error {
    Error::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("{what}: send a JSON body with `Content-Type: application/json`"),
    )
}

fn body_error(rejection: BytesRejection) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::payload_too_large(MAX_BODY_BYTES)
    } else {
        Error::invalid_request(format!("the request body could not be read: {}", rejection.body_text()))
    }
}

/// A query string deserialized into `T` (give `T` `deny_unknown_fields` to catch typos); a
/// failure answers `invalid_request` with serde's message.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => {
                Err(Error::invalid_request(format!("the query string does not fit: {}", root_cause(&rejection))))
            }
        }
    }
}

/// The message of the innermost error of a chain (serde's, under axum's wrappers).
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        #[serde(default)]
        fields: BTreeMap<String, u32>,
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        let err = parse::<Probe>(br#"{"name": "#).unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        assert!(err.message().contains("line 1"), "{}", err.message());
        let err = parse::<Probe>(br#"{"name": "a"} trailing"#).unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        let err = parse::<Probe>(b"  ").unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        assert!(err.message().contains("empty"));
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = parse::<Probe>(br#"{"name": "a", "nmae": "b"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        assert!(err.message().contains("unknown field `nmae`"), "{}", err.message());
        let err = parse::<Probe>(br#"{"name": "a", "fields": {"budget": "lots"}}"#).unwrap_err();
        assert!(err.message().contains("fields.budget: invalid type"), "{}", err.message());
        let err = parse::<Probe>(br#"{}"#).unwrap_err();
        assert!(err.message().contains("missing field `name`"), "{}", err.message());
    }

    #[test]
    fn content_type_must_be_json() {
        let mut headers = HeaderMap::new();
        assert_eq!(require_json_content_type(&headers).unwrap_err().code(), "unsupported_media_type");
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(require_json_content_type(&headers).unwrap_err().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        headers.insert(header::CONTENT_TYPE, "Application/JSON; charset=utf-8".parse().unwrap());
        assert!(require_json_content_type(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, "application/merge-patch+json".parse().unwrap());
        assert!(require_json_content_type(&headers).is_ok());
    }
}
