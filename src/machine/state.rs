//! What is stored about one prospect: who they are, where they are in their workflow, what has
//! been learned, and the one pending timer and action the state machine is waiting on.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// Where a prospect stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Moving through steps, or waiting on a side effect (AI answer).
    Active,
    /// Waiting on a timer or a reply.
    Waiting,
    /// Held by an operator, a paused workflow or a restriction: nothing is sent.
    Paused {
        reason: String,
    },
    Completed {
        outcome: String,
    },
    Unsubscribed,
    Failed {
        reason: String,
    },
    /// A hand-off (`notify`, `webhook`) failed after every retry and the step has no
    /// `on_failure`: a human must look (`POST /v1/prospects/{id}/retry` tries it again).
    Attention {
        reason: String,
    },
}

impl Status {
    /// Every status name, as [`Status::name`] gives them (filters, gauges, the status page).
    pub const NAMES: [&'static str; 7] =
        ["active", "waiting", "paused", "completed", "unsubscribed", "failed", "attention"];
    /// The name of [`Status::Attention`]: prospects waiting for a person.
    pub const ATTENTION: &'static str = "attention";

    pub fn name(&self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Waiting => "waiting",
            Status::Paused { .. } => "paused",
            Status::Completed { .. } => "completed",
            Status::Unsubscribed => "unsubscribed",
            Status::Failed { .. } => "failed",
            Status::Attention { .. } => Status::ATTENTION,
        }
    }

    /// Finished prospects take no more steps (they still record inbound messages).
    pub fn is_finished(&self) -> bool {
        matches!(self, Status::Completed { .. } | Status::Unsubscribed)
    }
}

/// How to reach the person. Personal data: never logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub messenger_psid: Option<String>,
    /// IANA name, when known.
    pub timezone: Option<String>,
    pub source: Option<String>,
}

/// Why a timer was set; decides what its firing means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerPurpose {
    /// A `wait` step is over: go to its next step.
    Wait,
    /// A `wait_reply` timed out: go to its `on_timeout`.
    ReplyTimeout,
    /// A send was outside the window or over the daily cap: try the step again.
    SendWindow,
    /// A side effect failed transiently at the machine level: try the step again.
    Retry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Unique within the prospect; a firing whose seq is not the current timer's is stale.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub purpose: TimerPurpose,
}

/// A message kept in the state for templates and the AI (the full history is in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentMessage {
    pub direction: Direction,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A status change, kept for the prospect's history (GDPR access requests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub at: DateTime<Utc>,
    pub status: String,
    pub step: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProspectState {
    pub id: String,
    pub workflow: String,
    pub version: String,
    pub status: Status,
    /// The current step id; kept after the end for display.
    pub step: Option<String>,
    pub channel: Channel,
    pub contact: Contact,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub score: Option<u8>,
    /// The fields the score was computed from.
    pub score_fields: BTreeMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub timer: Option<Timer>,
    /// The timer fell due while the prospect was paused; it fires on resume.
    #[serde(default)]
    pub timer_held: bool,
    /// The action id of the side effect the current step waits for (an AI answer).
    pub pending_action: Option<String>,
    /// A reply arrived that no step has consumed yet.
    pub unanswered: bool,
    /// An `ai` step's reply, held until routing decides: sent when the route waits for the
    /// prospect's answer (`wait_reply`), dropped when it reaches a `send` (the route's own
    /// message), a `wait` or an `end`, so a lead is never left with an unanswered question.
    #[serde(default)]
    pub draft_reply: Option<String>,
    /// What the prospect wrote while paused (an operator's takeover): read together, as one
    /// reply, when the workflow resumes, so nothing they told the operator is asked again.
    #[serde(default)]
    pub held_replies: Vec<String>,
    pub last_reply: Option<String>,
    pub last_intent: Option<String>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The last message from the prospect on each channel (Messenger's 24-hour window is per channel).
    #[serde(default)]
    pub last_inbound_by_channel: BTreeMap<Channel, DateTime<Utc>>,
    pub recent: Vec<RecentMessage>,
    /// Day (in the send window's timezone) and number of messages sent that day.
    pub sent_on: Option<(NaiveDate, u32)>,
    /// Token of the one-click unsubscribe URL.
    pub unsubscribe_token: String,
    /// Source of ids for timers and actions; only grows.
    pub next_seq: u64,
    pub transitions: u64,
    /// AI tokens used for this prospect (prompt + completion).
    #[serde(default)]
    pub tokens_used: u64,
    pub history: Vec<StatusChange>,
    /// The legal basis and the first-contact notice (`None`: created before they were recorded).
    #[serde(default)]
    pub lawfulness: Option<super::lawfulness::Lawfulness>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How many recent messages the state keeps for templates and the AI.
pub const RECENT_MESSAGES: usize = 20;

impl ProspectState {
    pub fn new(
        id: String,
        workflow: &crate::catalog::Workflow,
        contact: Contact,
        fields: BTreeMap<String, serde_json::Value>,
        unsubscribe_token: String,
        now: DateTime<Utc>,
    ) -> ProspectState {
        ProspectState {
            id,
            workflow: workflow.id.clone(),
            version: workflow.version.clone(),
            status: Status::Active,
            step: workflow.steps.first().map(|s| s.id.clone()),
            channel: workflow.channel,
            contact,
            fields,
            score: None,
            score_fields: BTreeMap::new(),
            tags: Vec::new(),
            timer: None,
            timer_held: false,
            pending_action: None,
            unanswered: false,
            draft_reply: None,
            held_replies: Vec::new(),
            last_reply: None,
            last_intent: None,
            last_inbound_at: None,
            last_inbound_by_channel: BTreeMap::new(),
            recent: Vec::new(),
            sent_on: None,
            unsubscribe_token,
            next_seq: 1,
            transitions: 0,
            tokens_used: 0,
            history: Vec::new(),
            lawfulness: Some(super::lawfulness::Lawfulness::new(
                workflow.privacy.legal_basis,
                super::lawfulness::BasisSource::Import,
                now,
            )),
            created_at: now,
            updated_at: now,
        }
    }

    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub fn remember(&mut self, direction: Direction, text: &str, at: DateTime<Utc>) {
        self.recent.push(RecentMessage { direction, text: text.to_string(), at });
        if self.recent.len() > RECENT_MESSAGES {
            let excess = self.recent.len() - RECENT_MESSAGES;
            self.recent.drain(..excess);
        }
    }
}
