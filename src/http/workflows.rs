//! `/v1/workflows` and `/v1/reload`: list the loaded workflows, pause or resume a whole
//! workflow, and ask for the catalog to be reloaded from disk.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::error::{Error, Result};
use crate::engine::api::WorkflowView;

#[derive(Debug, Serialize)]
pub struct Workflows {
    pub workflows: Vec<WorkflowView>,
}

/// The answer of a workflow pause or resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowPaused {
    pub workflow: String,
    pub paused: bool,
}

/// `GET /v1/workflows`.
pub async fn list(State(state): State<Shared>) -> Json<Workflows> {
    Json(Workflows { workflows: state.engine.workflows() })
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
