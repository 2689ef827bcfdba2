//! The engine's request and response types, as the HTTP layer and the CLI see them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::machine::{ProspectState, Status};

/// One prospect to import (`POST /v1/prospects`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub workflow: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub messenger_psid: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// `consent`, `legitimate_interest` or `contract`; default: the workflow's `privacy.legal_basis`.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// The proof of a form's consent: `{"at": "<RFC 3339>", "text_version": "..."}`.
    #[serde(default)]
    pub consent: Option<crate::machine::lawfulness::Consent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Created,
    Existing,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    pub id: Option<String>,
    pub status: ImportStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A message received from a prospect on any channel, already authenticated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    pub channel: Channel,
    pub from: String,
    #[serde(default)]
    pub to: Option<String>,
    pub text: String,
    /// The provider's message id: a repeated id is acknowledged and not applied twice.
    pub id: String,
    /// The prospect this message answers, when the provider webhook could tell (email
    /// plus-address, `In-Reply-To`); never read from the generic JSON webhook.
    #[serde(skip)]
    pub prospect_hint: Option<String>,
    /// How far the sender is proven; decides whether a STOP or START may change consent. Never
    /// read from the generic JSON webhook: its handler sets it from how the caller authenticated.
    #[serde(skip)]
    pub proof: SenderProof,
}

/// How far the sender of an inbound message is proven. Consent (STOP, START) changes only on a
/// proof strong enough for it; otherwise the keyword is recorded for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SenderProof {
    /// A provider signed the request and vouches for the sender (Twilio, Messenger, an email with
    /// a passing SPF or DKIM verdict): STOP and START both apply.
    Verified,
    /// The caller holds a token (the generic webhook) but the sender is its word: STOP applies,
    /// START never lifts an opt-out.
    Authenticated,
    /// Nothing proves the sender (the open demo webhook, an email without a passing verdict):
    /// neither STOP nor START changes consent.
    #[default]
    Unverified,
}

impl SenderProof {
    /// Whether a STOP (`opt_in` false) or a START (`opt_in` true) from this sender may change
    /// consent.
    pub fn may_change_consent(self, opt_in: bool) -> bool {
        match self {
            SenderProof::Verified => true,
            SenderProof::Authenticated => !opt_in,
            SenderProof::Unverified => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SenderProof::Verified => "a verified sender",
            SenderProof::Authenticated => "an authenticated caller that cannot prove the sender",
            SenderProof::Unverified => "an unverified sender",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundOutcome {
    /// The prospect it was recorded for; `None` when kept as an unmatched conversation.
    pub prospect: Option<String>,
    /// The id was seen before: nothing was applied.
    pub duplicate: bool,
    /// A new prospect was created by this message.
    pub created: bool,
}

/// A prospect as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProspectView {
    pub id: String,
    pub workflow: String,
    pub workflow_version: String,
    pub status: String,
    /// The outcome of a completed prospect, or the reason it is paused or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    pub step: Option<String>,
    pub channel: Channel,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub score: Option<u8>,
    pub score_fields: BTreeMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    /// AI tokens used for this prospect so far.
    pub tokens_used: u64,
    pub next_wake_up: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&ProspectState> for ProspectView {
    fn from(state: &ProspectState) -> ProspectView {
        let status_detail = match &state.status {
            Status::Completed { outcome } => Some(outcome.clone()),
            Status::Paused { reason } | Status::Failed { reason } | Status::Attention { reason } => {
                Some(reason.clone())
            }
            _ => None,
        };
        ProspectView {
            id: state.id.clone(),
            workflow: state.workflow.clone(),
            workflow_version: state.version.clone(),
            status: state.status.name().to_string(),
            status_detail,
            step: state.step.clone(),
            channel: state.channel,
            fields: state.fields.clone(),
            score: state.score,
            score_fields: state.score_fields.clone(),
            tags: state.tags.clone(),
            tokens_used: state.tokens_used,
            next_wake_up: state.timer.as_ref().filter(|_| !state.timer_held).map(|t| t.at),
            created_at: state.created_at,
            updated_at: state.updated_at,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProspectFilter {
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProspectPage {
    pub items: Vec<ProspectView>,
    pub next_cursor: Option<String>,
    /// Prospects whose data key is missing: unreadable, left out of `items` (see `store::Error::Damaged`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<String>,
}

/// A message of a conversation as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub direction: crate::machine::Direction,
    pub channel: Channel,
    pub text: String,
    pub status: crate::store::DeliveryStatus,
    pub at: DateTime<Utc>,
    pub human: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&crate::store::Message> for MessageView {
    fn from(m: &crate::store::Message) -> MessageView {
        MessageView {
            direction: m.direction,
            channel: m.channel,
            text: m.text.clone(),
            status: m.status,
            at: m.at,
            human: m.human,
            error: m.error.clone(),
        }
    }
}

/// A workflow as `GET /v1/workflows` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowView {
    pub id: String,
    pub version: String,
    pub paused: bool,
    pub description: Option<String>,
}
