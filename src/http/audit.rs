//! The audit trail of the admin API, in one place: a middleware (around the auth layer, so a
//! request refused with 403 is recorded too) that
//! appends an audit record for every authenticated request that is not a read — imports,
//! pauses and resumes, workflow pauses, reloads, operator messages, rectifications and every
//! privacy request — whatever its outcome, and for every read of personal data (a prospect,
//! its conversation, the prospect list); and `GET /v1/audit` (admin) to page through it.
//!
//! A record holds the token's name, `METHOD route-pattern` as the action, the prospect (the
//! `{id}` of the path, or the prospects a handler names in an [`AuditNote`]), and a detail
//! with the status and ids: never a body, a contact detail or a message text. Imports are the
//! one route whose prospects come from the answer (the ids created), read here.

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::auth::Caller;

/// What a handler adds to its answer's extensions for the audit record.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub prospects: Vec<String>,
    pub detail: Option<String>,
}

/// Reads that show personal data (names, contacts, fields, conversations): each is audited.
const PERSONAL_READS: &[&str] = &["/v1/prospects", "/v1/prospects/{id}", "/v1/prospects/{id}/messages"];

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/audit?after=&limit=` (admin): the audit log, oldest first (100 by default), with
/// `next_cursor` to page on.
pub async fn list(
    State(state): State<Shared>,
    super::extract::QueryParams(query): super::extract::QueryParams<AuditQuery>,
) -> super::error::Result<Response> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(super::error::Error::invalid_request(format!(
            "`limit={limit}` must be from 1 to 1000 (default 100)"
        )));
    }
    let records = state.engine.audit_log(query.after, limit)?;
    let next_cursor = (records.len() == limit).then(|| records.last().map(|r| r.seq)).flatten();
    Ok(axum::Json(serde_json::json!({ "records": records, "next_cursor": next_cursor })).into_response())
}

/// The largest import answer read back for its ids (10,000 outcomes fit well below).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Middleware (`route_layer`, around `auth::require_role`: the caller comes back on the answer).
pub async fn record(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let route = route.unwrap_or_else(|| req.uri().path().to_owned());
    let read = method == Method::GET || method == Method::HEAD;
    if read && !PERSONAL_READS.contains(&route.as_str()) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let Some(caller) = response.extensions().get::<Caller>().cloned() else { return response };
    let (response, note) = note_of(&method, &route, response).await;
    let mut prospects = note.prospects;
    let id = path_id(&route, &path);
    if prospects.is_empty()
        && route.starts_with("/v1/prospects/")
        && let Some(id) = &id
    {
        prospects.push(id.clone());
    }
    let mut detail = format!("{}answered {}", if read { "read; " } else { "" }, response.status().as_u16());
    if route.starts_with("/v1/workflows/")
        && let Some(id) = &id
    {
        detail.push_str(&format!("; workflow {id}"));
    }
    if let Some(more) = note.detail {
        detail.push_str(&format!("; {more}"));
    }
    let action = format!("{method} {route}");
    if let Err(err) = state.engine.audit(&caller.name, &action, &prospects, Some(detail)).await {
        tracing::error!(error = %err, action = %action, token = %caller.name, "writing an audit record failed");
    }
    response
}

/// The handler's note, or for a successful import the ids it created (read from the answer,
/// which is passed on unchanged).
async fn note_of(method: &Method, route: &str, response: Response) -> (Response, AuditNote) {
    if let Some(note) = response.extensions().get::<AuditNote>().cloned() {
        return (response, note);
    }
    if !(method == Method::POST && route == "/v1/prospects" && response.status().is_success()) {
        return (response, AuditNote::default());
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ANSWER_BYTES).await else {
        tracing::error!("an import answer could not be read back for the audit record");
        return (Response::from_parts(parts, Body::empty()), AuditNote::default());
    };
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let outcomes = match answer.get("results").and_then(|r| r.as_array()) {
        Some(results) => results.clone(),
        None => vec![answer],
    };
    let created: Vec<String> = outcomes
        .iter()
        .filter(|o| o["status"] == "created")
        .filter_map(|o| o["id"].as_str().map(str::to_owned))
        .collect();
    let note =
        AuditNote { detail: Some(format!("{} of {} created", created.len(), outcomes.len())), prospects: created };
    (Response::from_parts(parts, Body::from(bytes)), note)
}

/// The value of the `{id}` segment of `route` in `path`.
fn path_id(route: &str, path: &str) -> Option<String> {
    let segments = route.split('/').zip(path.split('/'));
    segments.into_iter().find(|(pattern, _)| *pattern == "{id}").map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_matching_segment() {
        assert_eq!(path_id("/v1/prospects/{id}/pause", "/v1/prospects/p_12/pause"), Some("p_12".into()));
        assert_eq!(
            path_id("/v1/workflows/{id}/resume", "/v1/workflows/inbound-lead/resume"),
            Some("inbound-lead".into())
        );
        assert_eq!(path_id("/v1/reload", "/v1/reload"), None);
    }
}
