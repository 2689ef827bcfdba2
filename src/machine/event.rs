//! What can happen to a prospect: the inputs of the state machine. Events are stored in the
//! prospect's inbox before they are applied, so they survive a crash.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The prospect was imported or started by an inbound message.
    Entered,
    /// A message from the prospect (already recorded in the conversation).
    Inbound { channel: Channel, text: String, at: DateTime<Utc> },
    /// The timer with this seq fell due.
    TimerFired { seq: u64 },
    /// A side effect finished.
    ActionCompleted { action_id: String, result: ActionResult },
    /// A side effect failed for good (transient failures are retried before this).
    ActionFailed { action_id: String, reason: String },
    /// An operator or the privacy layer acted.
    Admin { command: AdminCommand },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionResult {
    /// The answer of the AI provider, already validated against the field declarations.
    Ai(AiAnswer),
    /// A message, notification or webhook went out.
    Done,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AiAnswer {
    /// Extracted field values (only declared fields, with the right types).
    pub fields: BTreeMap<String, serde_json::Value>,
    pub reply: Option<String>,
    /// A step id among the step's `choose` list.
    pub next: Option<String>,
    /// `opt_out`, `positive`, `negative`, `question`, when detected.
    pub intent: Option<String>,
    /// Tokens the provider used for this answer: (prompt, completion).
    #[serde(default)]
    pub usage: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminCommand {
    Pause {
        reason: String,
    },
    Resume,
    /// Opt-out or objection: stop everything, never contact again.
    Unsubscribe,
    /// A human operator sent a message: the automation pauses for this prospect.
    TakeOver,
    /// An operator writes to the prospect on their channel: the text is sent as a human
    /// message, and the automation pauses (as `TakeOver`) until someone resumes it. A finished
    /// prospect stays finished; an unsubscribed one is never written to.
    SendHuman {
        text: String,
    },
    /// Try the current step again: a failed hand-off (`attention`) or a failed prospect.
    Retry,
    /// Fire the pending timer now (staging fast-forward).
    Wake,
}
