//! The operator routes: `GET /v1/status` (what `qualifyd status` prints), `POST /v1/backup`
//! (the running daemon writes a consistent backup into a directory on its host), and
//! `GET|POST /v1/privacy/suppression` (the suppression list, keyed hashes only, exported and
//! merged back).

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{Error, Result};
use super::extract::JsonBody;
use super::{Shared, blocking};
use crate::machine::Status;
use crate::ops::Instance;
use crate::store::{Store, SuppressionEntry};

fn instance(state: &Shared) -> Result<Instance> {
    state.ops.clone().ok_or_else(|| Error::not_found("this daemon was started without its operator routes"))
}

/// `GET /v1/status` (viewer).
pub async fn status(State(state): State<Shared>) -> Result<Json<Value>> {
    let ops = instance(&state)?;
    let census = blocking(&state, "counting prospects", |engine| engine.census()).await??;
    let store = ops.store.clone();
    let now = chrono::Utc::now();
    let (outbox, due, next, pending, size) = tokio::task::spawn_blocking(move || {
        let outbox = store.outbox()?;
        let due = store.due_timers(now, 100_000)?.len();
        let next = store.next_timer()?.map(|t| t.at);
        let pending = store.count_timers()?;
        Ok::<_, crate::store::Error>((outbox, due, next, pending, crate::ops::disk_usage(&ops.data_dir)))
    })
    .await
    .map_err(|e| Error::internal("reading the status", &e))?
    .map_err(|e| Error::internal("reading the status", &e))?;
    let oldest = outbox.iter().map(|e| e.not_before).min().filter(|at| *at <= now);
    let mut per_workflow: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for ((workflow, status), count) in &census.by_workflow_status {
        per_workflow.entry(workflow.clone()).or_default().insert(status.clone(), *count);
    }
    let workflows: Vec<Value> = state
        .engine
        .workflows()
        .into_iter()
        .map(|w| {
            let prospects = per_workflow.remove(&w.id).unwrap_or_default();
            json!({ "id": w.id, "version": w.version, "paused": w.paused, "prospects": prospects })
        })
        .collect();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": ops.started_at,
        "uptime_seconds": (now - ops.started_at).num_seconds().max(0),
        "catalog_version": state.engine.catalog().version,
        "workflows": workflows,
        "prospects": census.by_status,
        "outbox": { "depth": outbox.len(), "oldest_seconds": oldest.map(|at| (now - at).num_seconds()) },
        "timers": { "pending": pending, "due": due, "next_at": next },
        // Prospects whose hand-off failed for good: a person must look (`POST .../retry`).
        "attention": census.count(Status::ATTENTION),
        "last_reload": state.reloader.as_ref().map(|r| r.last_report()),
        "store_bytes": size,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// An absolute directory on the daemon's host; must not exist or be empty.
    out: PathBuf,
}

/// `POST /v1/backup` (admin): `{"out": "/var/backups/qualifyd/2026-12-02"}`.
pub async fn backup(State(state): State<Shared>, JsonBody(request): JsonBody<BackupRequest>) -> Result<Json<Value>> {
    let ops = instance(&state)?;
    if !request.out.is_absolute() {
        return Err(Error::invalid_request(format!(
            "`out` is `{}`: give an absolute directory on the daemon's host",
            request.out.display()
        )));
    }
    let out = request.out.clone();
    let written = tokio::task::spawn_blocking(move || crate::ops::backup::write(&ops.store, &out, "online"))
        .await
        .map_err(|e| Error::internal("writing a backup", &e))?;
    match written {
        Ok(manifest) => Ok(Json(json!({ "out": request.out, "manifest": manifest }))),
        Err(crate::ops::backup::Error::Refused(message)) => Err(Error::invalid_request(message)),
        Err(err) => Err(Error::internal("writing a backup", &err)),
    }
}

/// `GET /v1/privacy/suppression` (admin): `{"entries": [{kind, digest, at, cause}]}`.
pub async fn export_suppression(State(state): State<Shared>) -> Result<Json<Value>> {
    let ops = instance(&state)?;
    let entries = tokio::task::spawn_blocking(move || ops.store.suppressions())
        .await
        .map_err(|e| Error::internal("reading the suppression list", &e))?
        .map_err(|e| Error::internal("reading the suppression list", &e))?;
    Ok(Json(json!({ "entries": entries })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionImport {
    entries: Vec<SuppressionEntry>,
}

/// `POST /v1/privacy/suppression` (admin): merges entries (one batch, flushed); answers how
/// many were new.
pub async fn import_suppression(
    State(state): State<Shared>,
    JsonBody(request): JsonBody<SuppressionImport>,
) -> Result<Json<Value>> {
    let ops = instance(&state)?;
    let total = request.entries.len();
    let added = tokio::task::spawn_blocking(move || ops.store.add_suppressions(&request.entries))
        .await
        .map_err(|e| Error::internal("adding to the suppression list", &e))?
        .map_err(|e| match e {
            crate::store::Error::Backend(message) if message.starts_with("suppression entry") => {
                Error::invalid_request(message)
            }
            other => Error::internal("adding to the suppression list", &other),
        })?;
    tracing::info!(added, total, "suppression list entries imported");
    Ok(Json(json!({ "added": added, "already_there": total - added })))
}
