//! `POST /webhooks/inbound`: a message from a prospect, already normalized to
//! [`InboundMessage`]. Closed by default: disabled unless `inbound_token` is set; with a token,
//! the caller must present it; `inbound_token: none` (loopback demos only) opens it. Whatever the
//! caller, the sender is only its word: a START from here never lifts an opt-out.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;

use super::Shared;
use super::auth::{bearer, token_matches};
use super::error::{Error, Result};
use super::extract::JsonBody;
use crate::engine::api::{InboundMessage, InboundOutcome, SenderProof};
use crate::settings::InboundWebhook;

/// The answer: `recorded` (applied, or kept as an unmatched conversation when `prospect` is
/// null) or `duplicate` (the provider's message id was seen before; nothing applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundAnswer {
    pub status: &'static str,
    pub prospect: Option<String>,
}

impl From<InboundOutcome> for InboundAnswer {
    fn from(outcome: InboundOutcome) -> InboundAnswer {
        let status = if outcome.duplicate { "duplicate" } else { "recorded" };
        InboundAnswer { status, prospect: outcome.prospect }
    }
}

/// How the caller of the generic webhook got in. An extractor so that it runs before the body
/// is read: a stranger gets 401 (or 404 when the webhook is disabled), never a parse error.
pub struct InboundAuthorized(SenderProof);

impl FromRequestParts<Shared> for InboundAuthorized {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let expected = match &state.inbound_webhook {
            InboundWebhook::Disabled => {
                return Err(Error::new(
                    StatusCode::NOT_FOUND,
                    "inbound_webhook_disabled",
                    "POST /webhooks/inbound is disabled: set `inbound_token` in the settings to a secret and send \
                     it as `Authorization: Bearer <token>`",
                ));
            }
            // Open (a loopback demo): anyone on the machine, so nobody's consent can change.
            InboundWebhook::Open => return Ok(InboundAuthorized(SenderProof::Unverified)),
            InboundWebhook::Token(expected) => expected,
        };
        let presented = bearer(&parts.headers)?;
        if token_matches(presented, expected.expose()) {
            Ok(InboundAuthorized(SenderProof::Authenticated))
        } else {
            tracing::debug!("rejected an inbound webhook with a wrong token");
            Err(Error::unauthorized("the bearer token is not the inbound token: use `inbound_token` from the settings"))
        }
    }
}

/// `POST /webhooks/inbound`.
pub async fn inbound(
    InboundAuthorized(proof): InboundAuthorized,
    State(state): State<Shared>,
    JsonBody(mut message): JsonBody<InboundMessage>,
) -> Result<Json<InboundAnswer>> {
    message.proof = proof;
    let channel = message.channel;
    let outcome = state.engine.inbound(message).await?;
    tracing::debug!(
        %channel,
        prospect = outcome.prospect.as_deref().unwrap_or("-"),
        duplicate = outcome.duplicate,
        created = outcome.created,
        "inbound message"
    );
    Ok(Json(outcome.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_recorded_or_duplicate() {
        let outcome = |duplicate, prospect: Option<&str>| InboundOutcome {
            prospect: prospect.map(str::to_owned),
            duplicate,
            created: false,
        };
        let answer = |o| serde_json::to_value(InboundAnswer::from(o)).unwrap();
        assert_eq!(answer(outcome(false, Some("p1"))), serde_json::json!({"status": "recorded", "prospect": "p1"}));
        assert_eq!(answer(outcome(true, None)), serde_json::json!({"status": "duplicate", "prospect": null}));
    }
}
