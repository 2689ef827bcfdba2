//! Probes: `GET /healthz` for liveness checks (no auth) and `GET /metrics` for Prometheus (a
//! bearer token when `http.metrics_token` is set, or its own address with `http.metrics_listen`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{bearer, token_matches};
use super::error::{Error, Result};
use super::{Shared, blocking};

/// The Prometheus text exposition format.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /healthz`: the process is up, serving HTTP, and its store takes writes (503
/// `store_unavailable` with the reason once a write failed, e.g. on a full disk).
pub async fn healthz(State(state): State<Shared>) -> Result<Json<Value>> {
    match state.engine.store_failure() {
        Some(reason) => Err(Error::store_unavailable(reason)),
        None => Ok(Json(json!({ "status": "ok" }))),
    }
}

/// Who may read `/metrics`.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// Bearer token the scrape must present; `None`: anyone who reaches the address.
    pub token: Option<String>,
    /// Served on `http.metrics_listen`: the main listener answers 404.
    pub elsewhere: bool,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("elsewhere", &self.elsewhere)
            .finish()
    }
}

/// `GET /metrics` on the main listener.
pub async fn metrics(state: State<Shared>, headers: HeaderMap) -> Result<Response> {
    if state.metrics_access.elsewhere {
        return Err(Error::not_found("metrics are served on `http.metrics_listen`, not on this address"));
    }
    metrics_here(state, headers).await
}

/// `GET /metrics` where it is served: checks the token, refreshes the scrape-time gauges,
/// renders every metric.
pub async fn metrics_here(State(state): State<Shared>, headers: HeaderMap) -> Result<Response> {
    if let Some(expected) = &state.metrics_access.token {
        let presented = bearer(&headers)?;
        if !token_matches(presented, expected) {
            return Err(Error::unauthorized("the bearer token is not `http.metrics_token`"));
        }
    }
    let Some(handle) = &state.metrics else {
        return Err(Error::not_found(
            "metrics are not enabled in this daemon: install the Prometheus recorder at startup to serve them",
        ));
    };
    let data_dir = state.ops.as_ref().map(|ops| ops.data_dir.clone());
    blocking(&state, "updating the gauges failed", move |engine| {
        engine.update_gauges();
        if let Some(dir) = data_dir {
            metrics::gauge!("qualifyd_store_size_bytes").set(crate::ops::disk_usage(&dir) as f64);
        }
    })
    .await?;
    let text = handle.render();
    Ok(([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response())
}
