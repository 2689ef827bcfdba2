//! Stored records other than the prospect state: messages, outbox entries, contact keys,
//! audit records, unmatched inbound messages, and the privacy records (suppression entries,
//! the processing log, the data-subject request log, erasure receipts).

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

impl ContactKey {
    /// Every way to reach the person of `contact`: phone, email, Messenger id.
    pub fn of(contact: &crate::machine::Contact) -> Vec<ContactKey> {
        let mut keys = Vec::new();
        if let Some(phone) = &contact.phone {
            keys.push(ContactKey::Phone(phone.clone()));
        }
        if let Some(email) = &contact.email {
            keys.push(ContactKey::Email(email.clone()));
        }
        if let Some(psid) = &contact.messenger_psid {
            keys.push(ContactKey::MessengerPsid(psid.clone()));
        }
        keys
    }

    /// The channel this contact is reached on.
    pub fn channel(&self) -> Channel {
        match self {
            ContactKey::Phone(_) => Channel::Sms,
            ContactKey::Email(_) => Channel::Email,
            ContactKey::MessengerPsid(_) => Channel::Messenger,
        }
    }
}

/// Why a contact is on the suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutCause {
    /// An inbound opt-out: a STOP keyword or a phrase of the lexicon (`machine::intent`).
    StopWord,
    /// The one-click unsubscribe link (`/u/{token}`).
    Link,
    /// The AI provider read an opt-out in a reply.
    AiIntent,
    /// An objection to processing (GDPR art. 21) through the API.
    Objection,
    /// An operator unsubscribed the prospect.
    Operator,
    /// The person had opted out before; recorded when their data was erased.
    PriorOptOut,
}

/// A contact nothing may be sent to and that cannot be imported again. Stored under a keyed hash
/// of the contact, never the contact itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub at: DateTime<Utc>,
    pub cause: OptOutCause,
}

/// One processing of a prospect's data by a third party: an AI provider call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingRecord {
    pub at: DateTime<Utc>,
    /// `ai_call`.
    pub kind: String,
    /// The provider that received the data (`rules`, `openai`...).
    pub provider: String,
    pub step: Option<String>,
    pub action_id: String,
    /// `answered` or `failed`.
    pub outcome: String,
}

/// What a data-subject request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Access and portability (GDPR arts. 15 and 20).
    Export,
    /// Rectification (art. 16).
    Rectify,
    /// Erasure (art. 17).
    Erase,
    /// Restriction of processing (art. 18), and its lifting.
    Restrict,
    Unrestrict,
    /// Objection (art. 21).
    Object,
    /// An opt-out by the person (STOP keyword, unsubscribe link).
    OptOut,
    /// An opt-in again (START keyword).
    OptIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Completed,
    /// No data matched the request.
    NotFound,
    /// The request could not be carried out (the detail says why).
    Rejected,
}

/// One entry of the data-subject request log. Never holds personal data: the person is named
/// only by the kinds of identifiers given and the (random) ids of the prospects concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyRequest {
    pub seq: u64,
    /// `r_<seq>`.
    pub id: String,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub received_at: DateTime<Utc>,
    /// One month after receipt (GDPR art. 12(3)).
    pub deadline: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The API token's name, `subject` (the person themself) or `system`.
    pub actor: String,
    /// Which identifiers the request gave (`email`, `phone`, `messenger_psid`, `prospect_id`).
    pub identified_by: Vec<String>,
    pub prospects: Vec<String>,
    pub detail: Option<String>,
}

/// What an erasure removed, by kind of record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub prospects: usize,
    pub messages: usize,
    pub inbox_events: usize,
    pub outbox_entries: usize,
    pub timers: usize,
    pub contact_index_entries: usize,
    pub dedupe_keys: usize,
    pub processing_records: usize,
    pub unmatched_messages: usize,
    /// Data keys destroyed (one per prospect and per unmatched message).
    pub data_keys: usize,
}

impl Erasure {
    pub fn add(&mut self, other: &Erasure) {
        self.prospects += other.prospects;
        self.messages += other.messages;
        self.inbox_events += other.inbox_events;
        self.outbox_entries += other.outbox_entries;
        self.timers += other.timers;
        self.contact_index_entries += other.contact_index_entries;
        self.dedupe_keys += other.dedupe_keys;
        self.processing_records += other.processing_records;
        self.unmatched_messages += other.unmatched_messages;
        self.data_keys += other.data_keys;
    }
}
