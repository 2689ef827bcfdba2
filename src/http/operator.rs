//! `POST /v1/prospects/{id}/messages` (operator role): a person takes over a conversation. The
//! body `{"text": "..."}` is sent on the prospect's channel as a human message through the
//! outbox, like any send, and the prospect's automation pauses with the reason "an operator
//! took over the conversation". `POST /v1/prospects/{id}/resume` hands it back to the workflow.
//!
//! Answers 202 Accepted with the prospect (delivery happens after the answer; the message shows
//! in `GET /v1/prospects/{id}/messages` with `human: true`), 404 for an unknown prospect, 409
//! for one who unsubscribed, 400 for an empty or too long text.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Shared;
use super::auth::Caller;
use super::error::{Error, Result};
use super::extract::JsonBody;
use crate::engine::operator::HumanSend;

/// The body of `POST /v1/prospects/{id}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HumanMessage {
    pub text: String,
}

/// `POST /v1/prospects/{id}/messages`.
pub async fn send(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<HumanMessage>,
) -> Result<Response> {
    match state.engine.send_human(&id, &body.text).await? {
        HumanSend::Queued(view) => {
            tracing::info!(prospect = %id, token = %caller.name, "operator message queued; automation paused");
            Ok((StatusCode::ACCEPTED, Json(*view)).into_response())
        }
        HumanSend::NotFound => {
            Err(Error::not_found(format!("there is no prospect `{id}`: list them with GET /v1/prospects")))
        }
        HumanSend::Unsubscribed => Err(Error::new(
            StatusCode::CONFLICT,
            "unsubscribed",
            format!("prospect `{id}` unsubscribed: nothing can be sent to them any more"),
        )),
    }
}
