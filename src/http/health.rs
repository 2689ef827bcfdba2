//! Unauthenticated probes: `GET /healthz` for liveness checks and `GET /metrics` for Prometheus.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{Error, Result};
use super::{Shared, blocking};

/// The Prometheus text exposition format.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics`: refreshes the scrape-time gauges, then renders every metric.
pub async fn metrics(State(state): State<Shared>) -> Result<Response> {
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
