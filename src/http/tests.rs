//! Router-level tests that need no engine: small routers with the production layers
//! ([`super::finish`]), extractors and auth middleware, served on 127.0.0.1:0 and called with
//! reqwest. The routes with a real engine are tested in `tests/it`.

use axum::extract::Extension;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{self, Auth, Caller, Role};
use super::extract::JsonBody;
use super::{MAX_BODY_BYTES, finish};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    name: String,
}

async fn echo(JsonBody(probe): JsonBody<Probe>) -> Json<Value> {
    Json(json!({ "name": probe.name }))
}

async fn whoami(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(json!({ "name": caller.name, "role": caller.role.as_str() }))
}

/// Serves `router` on a free local port; returns its base URL and a client that ignores proxies.
async fn serve(router: Router) -> (String, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    (format!("http://{addr}"), client)
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("not our shape: {body}"));
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    (status, code.to_owned(), message)
}

async fn echo_server() -> (String, reqwest::Client) {
    serve(finish(Router::new().route("/echo", post(echo)))).await
}

#[tokio::test]
async fn json_bodies_parse() {
    let (base, client) = echo_server().await;
    let response = client.post(format!("{base}/echo")).json(&json!({"name": "ada"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"name": "ada"}));
}

#[tokio::test]
async fn json_rejections_use_the_shape() {
    let (base, client) = echo_server().await;
    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = client.post(format!("{base}/echo")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json = Some("application/json");
    let (status, code, message) = error_of(post("{\"name\":", json).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_json"));
    assert!(message.contains("line 1"), "{message}");

    let (status, code, message) = error_of(post(r#"{"name":"a","nick":"b"}"#, json).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(message.contains("unknown field `nick`"), "{message}");

    let (status, code, _) = error_of(post(r#"{"name":"a"}"#, Some("text/plain")).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    let (status, _, message) = error_of(post(r#"{"name":"a"}"#, None).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(message.contains("Content-Type: application/json"), "{message}");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let (base, client) = echo_server().await;
    let body = format!("{{\"name\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
    let request = client.post(format!("{base}/echo")).header("content-type", "application/json");
    let (status, code, _) = error_of(request.body(body).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_shape() {
    let (base, client) = echo_server().await;
    let (status, code, message) = error_of(client.get(format!("{base}/nope")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    assert!(message.contains("/nope"), "{message}");

    let response = client.delete(format!("{base}/echo")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}

async fn guarded_server() -> (String, reqwest::Client) {
    let auth = Auth::new(vec![
        ("root".into(), Role::Admin, "admin-token".into()),
        ("desk".into(), Role::Operator, "operator-token".into()),
        ("wall".into(), Role::Viewer, "viewer-token".into()),
    ]);
    let routes = Router::new()
        .route("/v1/prospects", get(whoami).post(whoami))
        .route("/v1/prospects/{id}/pause", post(whoami))
        .route_layer(middleware::from_fn_with_state(auth, auth::require_role));
    serve(finish(routes)).await
}

#[tokio::test]
async fn tokens_authenticate_and_roles_authorize() {
    let (base, client) = guarded_server().await;
    let call = |method: reqwest::Method, path: &str, token: Option<&str>| {
        let mut request = client.request(method, format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    use reqwest::Method as M;

    let response = call(M::GET, "/v1/prospects", None).await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_of(response).await.1, "unauthorized");
    let (status, code, _) = error_of(call(M::GET, "/v1/prospects", Some("guess")).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));

    let response = call(M::GET, "/v1/prospects", Some("viewer-token")).await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"name": "wall", "role": "viewer"}));
    let (status, code, message) =
        error_of(call(M::POST, "/v1/prospects/p1/pause", Some("viewer-token")).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    assert!(message.contains("wall") && message.contains("operator"), "{message}");

    let response = call(M::POST, "/v1/prospects/p1/pause", Some("operator-token")).await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"name": "desk", "role": "operator"}));
    let (status, _, _) = error_of(call(M::POST, "/v1/prospects", Some("operator-token")).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let response = call(M::POST, "/v1/prospects", Some("admin-token")).await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"name": "root", "role": "admin"}));
}
