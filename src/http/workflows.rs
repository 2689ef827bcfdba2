//! `/v1/workflows` and `/v1/reload`: list the loaded workflows, pause or resume a whole
//! workflow, and ask for the catalog to be reloaded from disk.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::error::{Error, Result};
use crate::engine::api::WorkflowView;

/// `GET /v1/workflows`: what is served, how many prospects run on each version, and the outcome
/// of the last reload with its diagnostics.
#[derive(Debug, Serialize)]
pub struct Workflows {
    pub catalog_version: String,
    pub workflows: Vec<WorkflowEntry>,
    pub deleted_workflows: Vec<DeletedWorkflow>,
    pub last_reload: Option<crate::reload::ReloadReport>,
}

#[derive(Debug, Serialize)]
pub struct WorkflowEntry {
    #[serde(flatten)]
    pub view: WorkflowView,
    /// When the active version was first served by this process.
    pub loaded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Prospects per workflow version (older versions keep running until their prospects finish).
    pub prospects: BTreeMap<String, usize>,
}

/// A workflow that was deleted from disk but still has prospects running on a stored version.
#[derive(Debug, Serialize)]
pub struct DeletedWorkflow {
    pub id: String,
    pub prospects: BTreeMap<String, usize>,
}

/// The answer of a workflow pause or resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowPaused {
    pub workflow: String,
    pub paused: bool,
}

/// `GET /v1/workflows`.
pub async fn list(State(state): State<Shared>) -> Result<Json<Workflows>> {
    let engine = state.engine.clone();
    let census = tokio::task::spawn_blocking(move || engine.census())
        .await
        .map_err(|e| Error::internal("counting prospects", &e))??;
    let mut per_workflow: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for ((workflow, version), count) in census.by_version {
        per_workflow.entry(workflow).or_default().insert(version, count);
    }
    let reloader = state.reloader.as_ref();
    let mut workflows = Vec::new();
    for view in state.engine.workflows() {
        let prospects = per_workflow.remove(&view.id).unwrap_or_default();
        let loaded_at = reloader.and_then(|r| r.loaded_at(&view.id, &view.version));
        workflows.push(WorkflowEntry { view, loaded_at, prospects });
    }
    let deleted_workflows: Vec<DeletedWorkflow> =
        per_workflow.into_iter().map(|(id, prospects)| DeletedWorkflow { id, prospects }).collect();
    Ok(Json(Workflows {
        catalog_version: state.engine.catalog().version.clone(),
        workflows,
        deleted_workflows,
        last_reload: reloader.map(|r| r.last_report()),
    }))
}

/// `POST /v1/workflows/{id}/pause`: no prospect of this workflow acts until it is resumed.
pub async fn pause(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowPaused>> {
    let found = state.engine.pause_workflow(&id).await?;
    answer(&caller, id, found, true)
}

/// `POST /v1/workflows/{id}/resume`.
pub async fn resume(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowPaused>> {
    let found = state.engine.resume_workflow(&id).await?;
    answer(&caller, id, found, false)
}

fn answer(caller: &Caller, workflow: String, found: bool, paused: bool) -> Result<Json<WorkflowPaused>> {
    if !found {
        return Err(Error::not_found(format!("there is no workflow `{workflow}`: list them with GET /v1/workflows")));
    }
    tracing::info!(workflow = %workflow, token = %caller.name, paused, "workflow paused state changed");
    Ok(Json(WorkflowPaused { workflow, paused }))
}

/// `POST /v1/reload`: signals the reloader and answers at once; the outcome (new catalog or
/// every diagnostic) is in the log and in `GET /v1/workflows`.
pub async fn reload(State(state): State<Shared>, Extension(caller): Extension<Caller>) -> (StatusCode, Json<Value>) {
    match &state.reload {
        Some(reload) => {
            tracing::info!(token = %caller.name, "reload requested over HTTP");
            reload();
        }
        None => tracing::debug!("reload requested over HTTP but no reloader is wired"),
    }
    (StatusCode::ACCEPTED, Json(json!({ "status": "reload requested" })))
}
