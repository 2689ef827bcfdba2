//! Side effects the state machine asks for. The engine commits them to the outbox with the new
//! state, and performs them only after the commit is durable.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Send a message to the prospect. `action_id` is the idempotency key.
    Send { action_id: String, channel: Channel, text: String, human: bool },
    /// Ask the AI provider about the current `ai` step.
    CallAi { action_id: String, step: String, prompt: String },
    /// Tell the sales team.
    Notify { action_id: String, email: Option<String>, webhook: Option<String>, text: String },
    /// POST the prospect as JSON to a URL.
    Webhook { action_id: String, url: String },
}

impl Action {
    pub fn id(&self) -> &str {
        match self {
            Action::Send { action_id, .. }
            | Action::CallAi { action_id, .. }
            | Action::Notify { action_id, .. }
            | Action::Webhook { action_id, .. } => action_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Action::Send { .. } => "send",
            Action::CallAi { .. } => "call_ai",
            Action::Notify { .. } => "notify",
            Action::Webhook { .. } => "webhook",
        }
    }
}
