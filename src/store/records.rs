//! Stored records other than the prospect state: messages, outbox entries, contact keys,
//! audit records and unmatched inbound messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::machine::{Action, Direction};

/// Delivery status of a message. Ordered: a callback never moves a status backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Received,
    Queued,
    Sent,
    Delivered,
    Read,
    Undelivered,
    Failed,
    Cancelled,
}

/// One message of a conversation, in or out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Order within the conversation (a store-wide increasing id).
    pub seq: u64,
    pub direction: Direction,
    pub channel: Channel,
    pub text: String,
    pub status: DeliveryStatus,
    pub at: DateTime<Utc>,
    /// The provider's id (Twilio SID, Graph mid, Message-ID), once known.
    pub provider_id: Option<String>,
    /// For outbound: the outbox action that sends it (the idempotency key).
    pub action_id: Option<String>,
    /// Sent by a human operator rather than the automation.
    #[serde(default)]
    pub human: bool,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// A side effect committed with a transition and not yet performed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub prospect: String,
    pub action: Action,
    pub attempts: u32,
    /// Do not try again before this time (backoff).
    pub not_before: DateTime<Utc>,
    /// For sends: the conversation message it delivers.
    pub message_seq: Option<u64>,
}

/// How a person is found again: by phone, email or Messenger id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ContactKey {
    Phone(String),
    Email(String),
    MessengerPsid(String),
}

impl ContactKey {
    pub fn kind(&self) -> &'static str {
        match self {
            ContactKey::Phone(_) => "phone",
            ContactKey::Email(_) => "email",
            ContactKey::MessengerPsid(_) => "psid",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            ContactKey::Phone(v) | ContactKey::Email(v) | ContactKey::MessengerPsid(v) => v,
        }
    }
}

/// Who did what to which prospect, when. Never holds personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// Token name, or `system`.
    pub actor: String,
    pub action: String,
    pub prospect: Option<String>,
    pub detail: Option<String>,
}

/// An inbound message from a sender no workflow takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedMessage {
    pub seq: u64,
    pub channel: Channel,
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
    pub provider_id: Option<String>,
}
