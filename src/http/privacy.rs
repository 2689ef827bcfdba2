//! The data-subject rights over HTTP (admin only, see `auth::required_role`):
//! - `POST /v1/privacy/export` (GDPR arts. 15 and 20), `/erase` (art. 17), `/restrict` and
//!   `/unrestrict` (art. 18), `/object` (art. 21), each with a [`SubjectQuery`] body;
//! - `PATCH /v1/prospects/{id}`: rectification (art. 16);
//! - `GET /v1/privacy/requests`: the request log with each request's deadline.
//!
//! A request about nobody answers 404 (and is logged as `not_found`). Each answer names the
//! prospects concerned in an [`AuditNote`] for the audit record. docs/privacy.md has the JSON.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Shared;
use super::audit::AuditNote;
use super::auth::Caller;
use super::error::{Error, Result};
use super::extract::{JsonBody, QueryParams};
use crate::privacy::subject::{Receipt, Rectification, SubjectQuery};

fn nobody() -> Error {
    Error::not_found(
        "no data is held about this person: check the identifiers (phones in international form, such as +33612345678)",
    )
}

/// `body` as JSON, with the note the audit record reads.
fn noted(body: impl Serialize, prospects: Vec<String>, request: &str) -> Response {
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(AuditNote { prospects, detail: Some(format!("request {request}")) });
    response
}

/// `POST /v1/privacy/export`: everything held about the person, as one JSON document.
pub async fn export(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    JsonBody(query): JsonBody<SubjectQuery>,
) -> Result<Response> {
    if query.dry_run {
        return dry_run(&state, &query);
    }
    let export = state.engine.export_subject(&query, &caller.name).await?.ok_or_else(nobody)?;
    let ids = export.prospects.iter().map(|p| p.id.clone()).collect();
    let request = export.request.clone();
    Ok(noted(export, ids, &request))
}

/// `POST /v1/privacy/erase`: the erasure receipt.
pub async fn erase(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    JsonBody(query): JsonBody<SubjectQuery>,
) -> Result<Response> {
    if query.dry_run {
        return dry_run(&state, &query);
    }
    let receipt = state.engine.erase_subject(&query, &caller.name).await?.ok_or_else(nobody)?;
    let (ids, request) = (receipt.erased.clone(), receipt.request.clone());
    Ok(noted(receipt, ids, &request))
}

/// `POST /v1/privacy/restrict`.
pub async fn restrict(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    JsonBody(query): JsonBody<SubjectQuery>,
) -> Result<Response> {
    if query.dry_run {
        return dry_run(&state, &query);
    }
    receipt(state.engine.restrict(&query, &caller.name).await?)
}

/// `POST /v1/privacy/unrestrict`.
pub async fn unrestrict(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    JsonBody(query): JsonBody<SubjectQuery>,
) -> Result<Response> {
    if query.dry_run {
        return dry_run(&state, &query);
    }
    receipt(state.engine.unrestrict(&query, &caller.name).await?)
}

/// `POST /v1/privacy/object`.
pub async fn object(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    JsonBody(query): JsonBody<SubjectQuery>,
) -> Result<Response> {
    if query.dry_run {
        return dry_run(&state, &query);
    }
    receipt(state.engine.object(&query, &caller.name).await?)
}

/// `"dry_run": true`: what the request would touch, and why.
fn dry_run(state: &Shared, query: &SubjectQuery) -> Result<Response> {
    Ok(Json(state.engine.subject_dry_run(query)?).into_response())
}

fn receipt(receipt: Option<Receipt>) -> Result<Response> {
    let receipt = receipt.ok_or_else(nobody)?;
    let ids = receipt.prospects.iter().map(|p| p.id.clone()).collect();
    let request = receipt.request.clone();
    Ok(noted(receipt, ids, &request))
}

/// `PATCH /v1/prospects/{id}`: the prospect as corrected.
pub async fn rectify(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<serde_json::Value>,
) -> Result<Response> {
    // serde would take a struct from a JSON array, by position: only an object is a change.
    if !change.is_object() {
        return Err(Error::invalid_json(
            "the body must be a JSON object of the fields to change, for example {\"name\": \"Ada King\"}",
        ));
    }
    let change: Rectification = serde_json::from_value(change)
        .map_err(|err| Error::invalid_json(format!("the body does not describe a change: {err}")))?;
    match state.engine.rectify(&id, change, &caller.name).await? {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(Error::not_found(format!("there is no prospect `{id}`: list them with GET /v1/prospects"))),
    }
}

/// The query of `GET /v1/privacy/requests`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/privacy/requests?after=&limit=`: the request log, oldest first (100 by default).
pub async fn requests(State(state): State<Shared>, QueryParams(query): QueryParams<RequestsQuery>) -> Result<Response> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::invalid_request(format!("`limit={limit}` must be from 1 to 1000 (default 100)")));
    }
    let log = state.engine.privacy_requests(query.after, limit)?;
    Ok(Json(log).into_response())
}
