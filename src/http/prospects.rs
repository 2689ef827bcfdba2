//! `/v1/prospects`: import (one or a batch), read one, list with filters, read a conversation,
//! pause, resume, retry (a failed hand-off) and wake (fire the pending timer) one prospect.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Caller, Role};
use super::error::{Error, Result};
use super::extract::{JsonBody, QueryParams, located};
use super::{Shared, blocking};
use crate::engine::api::{ImportOutcome, ImportRequest, ImportStatus, ProspectFilter, ProspectPage, ProspectView};
use crate::machine::{AdminCommand, Status};

/// The most prospects one `POST /v1/prospects` may carry.
pub const MAX_IMPORT_ITEMS: usize = 10_000;
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 1000;
/// The names `status=` can filter on (`Status::name`).
const STATUSES: [&str; 7] = Status::NAMES;

/// `POST /v1/prospects`: one `ImportRequest` object (answered by its outcome: 201 created,
/// 200 existing, 422 rejected) or an array of them (200 with every outcome, in order; an item
/// that does not parse is rejected alone; the batch shares one flush).
pub async fn import(State(state): State<Shared>, JsonBody(body): JsonBody<Value>) -> Result<Response> {
    match body {
        Value::Array(items) => {
            if items.len() > MAX_IMPORT_ITEMS {
                return Err(Error::new(
                    StatusCode::BAD_REQUEST,
                    "too_many_items",
                    format!(
                        "the request has {} prospects, more than {MAX_IMPORT_ITEMS}: split it into several requests",
                        items.len()
                    ),
                ));
            }
            Ok(Json(json!({ "results": import_many(&state, items).await })).into_response())
        }
        Value::Object(_) => {
            let outcome = import_one(&state, body).await;
            let status = match outcome.status {
                ImportStatus::Created => StatusCode::CREATED,
                ImportStatus::Existing => StatusCode::OK,
                ImportStatus::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Ok((status, Json(outcome)).into_response())
        }
        other => Err(Error::invalid_request(format!(
            "the body is {}: send one prospect as a JSON object or several as an array of objects",
            kind(&other)
        ))),
    }
}

async fn import_one(state: &Shared, item: Value) -> ImportOutcome {
    match serde_path_to_error::deserialize::<_, ImportRequest>(item) {
        Ok(request) => state.engine.import(request).await,
        Err(err) => rejected(located(&err.path().to_string(), err.inner())),
    }
}

/// A batch: every item that parses is imported with one flush for all; the answers keep the
/// order of the items.
async fn import_many(state: &Shared, items: Vec<Value>) -> Vec<ImportOutcome> {
    let mut results: Vec<Option<ImportOutcome>> = Vec::with_capacity(items.len());
    let mut requests = Vec::new();
    for item in items {
        match serde_path_to_error::deserialize::<_, ImportRequest>(item) {
            Ok(request) => {
                requests.push(request);
                results.push(None);
            }
            Err(err) => results.push(Some(rejected(located(&err.path().to_string(), err.inner())))),
        }
    }
    let mut imported = state.engine.import_many(requests).await.into_iter();
    results
        .into_iter()
        .map(|r| r.or_else(|| imported.next()).unwrap_or_else(|| rejected("not imported".into())))
        .collect()
}

fn rejected(error: String) -> ImportOutcome {
    ImportOutcome { id: None, status: ImportStatus::Rejected, error: Some(error) }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The query of `GET /v1/prospects`; empty values mean "not given".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

impl ListQuery {
    fn into_filter(self) -> Result<ProspectFilter> {
        let given = |v: Option<String>| v.filter(|s| !s.is_empty());
        let limit = match given(self.limit) {
            None => DEFAULT_PAGE,
            Some(text) => parse_limit(&text)?,
        };
        let status = given(self.status);
        if let Some(status) = status.as_deref().filter(|s| !STATUSES.contains(s)) {
            return Err(Error::invalid_request(format!(
                "`status={status}` is not a status: give one of {}",
                STATUSES.join(", ")
            )));
        }
        Ok(ProspectFilter { workflow: given(self.workflow), status, limit: Some(limit), cursor: given(self.cursor) })
    }
}

fn parse_limit(text: &str) -> Result<usize> {
    match text.parse::<usize>() {
        Ok(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        _ => Err(Error::invalid_request(format!(
            "`limit={text}` is not a page size: give a whole number from 1 to {MAX_PAGE} (default {DEFAULT_PAGE})"
        ))),
    }
}

/// `GET /v1/prospects?workflow=&status=&limit=&cursor=`.
pub async fn list(
    State(state): State<Shared>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<ProspectPage>> {
    let filter = query.into_filter()?;
    let page = blocking(&state, "listing prospects failed", move |engine| engine.prospects(&filter)).await??;
    Ok(Json(page))
}

/// `GET /v1/prospects/{id}`.
pub async fn show(State(state): State<Shared>, Path(id): Path<String>) -> Result<Json<ProspectView>> {
    fetch(&state, &id).map(Json)
}

fn fetch(state: &Shared, id: &str) -> Result<ProspectView> {
    state.engine.prospect(id)?.ok_or_else(|| no_prospect(id))
}

fn no_prospect(id: &str) -> Error {
    Error::not_found(format!("there is no prospect `{id}`: list them with GET /v1/prospects"))
}

#[derive(Debug, Serialize)]
struct Messages<T> {
    messages: T,
}

/// `GET /v1/prospects/{id}/messages`: the conversation, oldest first. A viewer gets the
/// one-click unsubscribe tokens in the text masked (the token is the credential of `/u/{token}`).
pub async fn messages(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response> {
    let mut messages = state.engine.messages(&id)?.ok_or_else(|| no_prospect(&id))?;
    if !caller.role.allows(Role::Operator) {
        for message in &mut messages {
            message.text = mask_unsubscribe_tokens(&message.text);
        }
    }
    Ok(Json(Messages { messages }).into_response())
}

/// `text` with the token of every `/u/{token}` link replaced by `***`.
pub fn mask_unsubscribe_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/u/") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(after.len());
        if end > 0 {
            out.push_str("***");
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `POST /v1/prospects/{id}/pause`: stops the automation for this prospect, naming the token.
pub async fn pause(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ProspectView>> {
    let reason = format!("paused by {}", caller.name);
    command(&state, &caller, &id, AdminCommand::Pause { reason }).await
}

/// `POST /v1/prospects/{id}/resume`.
pub async fn resume(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ProspectView>> {
    command(&state, &caller, &id, AdminCommand::Resume).await
}

/// `POST /v1/prospects/{id}/retry`: tries the current step again, for a prospect whose
/// hand-off failed (`attention`) or that failed; 409 for any other status.
pub async fn retry(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ProspectView>> {
    let view = fetch(&state, &id)?;
    if !matches!(view.status.as_str(), "attention" | "failed") {
        return Err(Error::new(
            StatusCode::CONFLICT,
            "nothing_to_retry",
            format!(
                "prospect `{id}` is `{}`: only a prospect in `attention` (failed hand-off) or `failed` can be retried",
                view.status
            ),
        ));
    }
    command(&state, &caller, &id, AdminCommand::Retry).await
}

/// `POST /v1/prospects/{id}/wake`: fires the prospect's pending timer now (a staging
/// fast-forward; admin only, audited); 409 when no timer is pending.
pub async fn wake(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ProspectView>> {
    let view = fetch(&state, &id)?;
    if view.next_wake_up.is_none() || view.status == "paused" {
        return Err(Error::new(
            StatusCode::CONFLICT,
            "nothing_to_wake",
            format!("prospect `{id}` is `{}` with no pending timer: there is nothing to fire", view.status),
        ));
    }
    command(&state, &caller, &id, AdminCommand::Wake).await
}

async fn command(state: &Shared, caller: &Caller, id: &str, command: AdminCommand) -> Result<Json<ProspectView>> {
    let name = match &command {
        AdminCommand::Pause { .. } => "pause",
        AdminCommand::Resume => "resume",
        AdminCommand::Unsubscribe => "unsubscribe",
        AdminCommand::TakeOver => "take_over",
        AdminCommand::SendHuman { .. } => "send_human",
        AdminCommand::Retry => "retry",
        AdminCommand::Wake => "wake",
    };
    if !state.engine.command(id, command).await? {
        return Err(no_prospect(id));
    }
    tracing::info!(prospect = %id, token = %caller.name, command = name, "admin command");
    fetch(state, id).map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_tokens_are_masked_wherever_they_are() {
        let text = "Stop: https://q.example/u/ab12-CD_34. Or https://q.example/u/ and /u/x9";
        assert_eq!(mask_unsubscribe_tokens(text), "Stop: https://q.example/u/***. Or https://q.example/u/ and /u/***");
        assert_eq!(mask_unsubscribe_tokens("no link"), "no link");
    }

    fn query(limit: Option<&str>) -> ListQuery {
        ListQuery { workflow: Some(String::new()), limit: limit.map(str::to_owned), ..ListQuery::default() }
    }

    #[test]
    fn limits_pages() {
        assert_eq!(query(None).into_filter().unwrap().limit, Some(DEFAULT_PAGE));
        assert_eq!(query(Some("")).into_filter().unwrap().limit, Some(DEFAULT_PAGE));
        assert_eq!(query(Some("1000")).into_filter().unwrap().limit, Some(1000));
        for bad in ["0", "1001", "-1", "ten", "2.5"] {
            let err = query(Some(bad)).into_filter().unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{bad}");
            assert!(err.message().contains(bad));
        }
        assert_eq!(query(None).into_filter().unwrap().workflow, None);
    }

    #[test]
    fn statuses_are_checked() {
        use crate::machine::Status;
        let reason = String::new;
        let all = [
            Status::Active,
            Status::Waiting,
            Status::Paused { reason: reason() },
            Status::Completed { outcome: reason() },
            Status::Unsubscribed,
            Status::Failed { reason: reason() },
            Status::Attention { reason: reason() },
        ];
        assert_eq!(all.map(|s| s.name()), STATUSES);
        let filter = |status: &str| ListQuery { status: Some(status.into()), ..ListQuery::default() }.into_filter();
        assert_eq!(filter("paused").unwrap().status.as_deref(), Some("paused"));
        assert_eq!(filter("").unwrap().status, None);
        assert!(filter("Paused").unwrap_err().message().contains("active, waiting"));
    }

    #[test]
    fn unparsable_items_are_rejected_with_the_field() {
        let item = json!({"workflow": "w", "phone": 5});
        let err = serde_path_to_error::deserialize::<_, ImportRequest>(item).unwrap_err();
        let outcome = rejected(located(&err.path().to_string(), err.inner()));
        assert_eq!(outcome.status, ImportStatus::Rejected);
        assert!(outcome.error.unwrap().starts_with("phone: invalid type"));
        let err = serde_path_to_error::deserialize::<_, ImportRequest>(json!({"workflw": "w"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `workflw`"));
    }
}
