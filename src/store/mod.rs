//! Durable storage behind a narrow [`Store`] trait: prospects, conversations, the timer index,
//! the outbox, the inbox, dedupe keys, workflow versions, the audit log, and the privacy records
//! (suppression list, processing log, request log, restrictions). Writes go in atomic
//! [`Batch`]es; durability comes from [`Store::flush`] (group-committed by the engine).
//! sled implements it today; a PostgreSQL backend must fit the same trait.
//!
//! Personal data is protected inside the store, so the engine never sees it done: records that
//! carry it (prospects, messages, inbox events, outbox entries, unmatched messages, the
//! processing log) are encrypted under their subject's data key, and contacts are indexed and
//! suppressed by keyed hash only. [`Store::erase`] removes a subject's records and destroys its
//! data key; afterwards every write about that subject is dropped.

pub mod compact;
mod keys;
mod records;
mod sled_store;
pub mod writer;

use chrono::{DateTime, Utc};

pub use records::{
    AuditRecord, ContactKey, DeliveryStatus, Erasure, Message, OptOutCause, OutboxEntry, PrivacyRequest,
    ProcessingRecord, RequestKind, RequestStatus, Suppression, UnmatchedMessage,
};
pub use sled_store::{DAMAGED_GAUGE, SledStore, SnapshotStats, SuppressionEntry};
pub use writer::{Health, Writer};

use crate::catalog::model::WorkflowSource;
use crate::machine::{Event, ProspectState};

/// The on-disk layout version this build reads and writes.
/// Version 2: encrypted records, contacts indexed by keyed hash, privacy records.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("corrupt record under key `{key}`: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(
        "the data key of `{subject}` is missing, so its records cannot be read (the other prospects are not \
         affected): restore the keys directory from a backup, or erase it with POST /v1/privacy/erase \
         {{\"prospect_id\": \"{subject}\"}}"
    )]
    Damaged { subject: String },
    #[error(
        "the data directory was written with schema version {found}, this build reads version {expected}; use a matching qualifyd release"
    )]
    SchemaMismatch { found: u32, expected: u32 },
    /// A write failed (disk full, IO error) or stalled: this process takes no more writes.
    #[error("{0}")]
    Unavailable(String),
}

/// One write. A [`Batch`] of them is applied atomically.
#[derive(Debug, Clone)]
pub enum Op {
    PutProspect(Box<ProspectState>),
    DeleteProspect {
        id: String,
    },
    /// Appends or replaces (same `seq`) a message of the prospect's conversation.
    PutMessage {
        prospect: String,
        message: Message,
    },
    DeleteMessage {
        prospect: String,
        seq: u64,
    },
    PutInbox {
        prospect: String,
        seq: u64,
        event: Event,
    },
    DeleteInbox {
        prospect: String,
        seq: u64,
    },
    PutTimer {
        at: DateTime<Utc>,
        prospect: String,
        seq: u64,
    },
    DeleteTimer {
        at: DateTime<Utc>,
        prospect: String,
        seq: u64,
    },
    PutOutbox(Box<OutboxEntry>),
    DeleteOutbox {
        action_id: String,
    },
    /// Remembers a provider message id (or any dedupe key) as applied, for the given prospect.
    PutSeen {
        key: String,
        prospect: String,
    },
    /// Remembers a dedupe key with a value about no prospect (an early delivery receipt, a
    /// provider's one-time token) until `until`; [`Store::expired`] lists it afterwards.
    PutExpiring {
        key: String,
        value: String,
        until: DateTime<Utc>,
    },
    /// Forgets a dedupe key (an early receipt once its send has taken it).
    DeleteSeen {
        key: String,
    },
    /// Forgets an expired key (as listed by [`Store::expired`]).
    DeleteExpired(Expiring),
    PutContact {
        key: ContactKey,
        prospect: String,
    },
    DeleteContact {
        key: ContactKey,
        prospect: String,
    },
    PutWorkflowSource {
        workflow: String,
        version: String,
        source: Box<WorkflowSource>,
    },
    PutAudit(Box<AuditRecord>),
    PutUnmatched(Box<UnmatchedMessage>),
    /// A small engine setting that must survive restarts (for example the paused workflows).
    PutMeta {
        key: String,
        value: String,
    },
    /// Indexes a prospect's one-click unsubscribe token.
    PutToken {
        token: String,
        prospect: String,
    },
    /// Appends to a prospect's processing log (AI calls); `seq` orders it.
    PutProcessing {
        prospect: String,
        seq: u64,
        record: ProcessingRecord,
    },
    /// Puts a contact on the suppression list (stored under its keyed hash).
    PutSuppression {
        key: ContactKey,
        record: Suppression,
    },
    DeleteSuppression {
        key: ContactKey,
    },
    /// Marks a prospect's processing as restricted (GDPR art. 18) since `at`.
    PutRestriction {
        prospect: String,
        at: DateTime<Utc>,
    },
    DeleteRestriction {
        prospect: String,
    },
    PutRequest(Box<PrivacyRequest>),
}

/// Writes applied together or not at all.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub ops: Vec<Op>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A due timer as stored in the due-time index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerEntry {
    pub at: DateTime<Utc>,
    pub prospect: String,
    pub seq: u64,
}

/// A remembered key whose time is up (its keyed hash: the key itself is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiring {
    pub until: DateTime<Utc>,
    pub digest: String,
}

pub trait Store: Send + Sync + 'static {
    /// Applies every op atomically. Not durable until [`Store::flush`] returns.
    fn apply(&self, batch: Batch) -> Result<(), Error>;
    /// Makes every applied batch durable. Blocking: call it off the async runtime.
    fn flush(&self) -> Result<(), Error>;
    /// A new id, unique and increasing across restarts.
    fn next_id(&self) -> Result<u64, Error>;

    fn prospect(&self, id: &str) -> Result<Option<ProspectState>, Error>;
    /// Prospects in id order, starting after `after`.
    fn prospects(&self, after: Option<&str>, limit: usize) -> Result<Vec<ProspectState>, Error>;
    fn count_prospects(&self) -> Result<usize, Error>;
    /// Ids of prospects reachable at this contact (several workflows may share a person).
    fn prospects_by_contact(&self, key: &ContactKey) -> Result<Vec<String>, Error>;

    /// The conversation, oldest first.
    fn messages(&self, prospect: &str) -> Result<Vec<Message>, Error>;
    fn message(&self, prospect: &str, seq: u64) -> Result<Option<Message>, Error>;

    /// Events waiting to be applied, oldest first.
    fn inbox(&self, prospect: &str) -> Result<Vec<(u64, Event)>, Error>;
    /// Prospects with a non-empty inbox (for recovery after a restart).
    fn prospects_with_inbox(&self) -> Result<Vec<String>, Error>;

    /// Timers due at or before `until`, earliest first, at most `limit`.
    fn due_timers(&self, until: DateTime<Utc>, limit: usize) -> Result<Vec<TimerEntry>, Error>;
    fn count_timers(&self) -> Result<usize, Error>;
    /// The earliest pending timer.
    fn next_timer(&self) -> Result<Option<TimerEntry>, Error>;

    fn outbox(&self) -> Result<Vec<OutboxEntry>, Error>;
    fn outbox_entry(&self, action_id: &str) -> Result<Option<OutboxEntry>, Error>;
    fn count_outbox(&self) -> Result<usize, Error>;

    /// The prospect recorded for a dedupe key, if the key was seen (or the value of a key
    /// remembered with [`Op::PutExpiring`], expired or not).
    fn seen(&self, key: &str) -> Result<Option<String>, Error>;
    /// Keys remembered with [`Op::PutExpiring`] whose time is at or before `now`, earliest first.
    fn expired(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Expiring>, Error>;

    fn meta(&self, key: &str) -> Result<Option<String>, Error>;

    fn workflow_source(&self, workflow: &str, version: &str) -> Result<Option<WorkflowSource>, Error>;

    /// Audit records, oldest first, starting after sequence `after`.
    fn audit(&self, after: Option<u64>, limit: usize) -> Result<Vec<AuditRecord>, Error>;
    fn unmatched(&self, limit: usize) -> Result<Vec<UnmatchedMessage>, Error>;

    // The privacy records. A backend must implement every one of these; the defaults only keep
    // wrappers that forward to another store (benchmarks) compiling, and answer "nothing".

    /// The outbox entries of one prospect (others are not decrypted).
    fn outbox_of(&self, prospect: &str) -> Result<Vec<OutboxEntry>, Error> {
        Ok(self.outbox()?.into_iter().filter(|e| e.prospect == prospect).collect())
    }
    /// The sequence numbers of a prospect's messages, oldest first (keys only: nothing decrypted).
    fn message_seqs(&self, prospect: &str) -> Result<Vec<u64>, Error> {
        Ok(self.messages(prospect)?.iter().map(|m| m.seq).collect())
    }
    /// The prospect a one-click unsubscribe token belongs to.
    fn prospect_by_token(&self, _token: &str) -> Result<Option<String>, Error> {
        Ok(None)
    }
    /// A prospect's processing log, oldest first.
    fn processing(&self, _prospect: &str) -> Result<Vec<ProcessingRecord>, Error> {
        Ok(Vec::new())
    }
    /// The suppression entry of a contact, if it is suppressed.
    fn suppression(&self, _key: &ContactKey) -> Result<Option<Suppression>, Error> {
        Ok(None)
    }
    /// Since when a prospect's processing is restricted, if it is.
    fn restriction(&self, _prospect: &str) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(None)
    }
    /// The data-subject request log, oldest first, starting after sequence `after`.
    fn requests(&self, _after: Option<u64>, _limit: usize) -> Result<Vec<PrivacyRequest>, Error> {
        Ok(Vec::new())
    }
    /// Removes every record of these prospects (state, messages, inbox, outbox, timer, contact
    /// index entries, token, dedupe keys, processing log, restriction) and of these unmatched
    /// messages, makes that durable, then destroys their data keys, so that what the backend
    /// keeps of removed values cannot be read. Later writes about them are dropped. Blocking.
    fn erase(&self, _prospects: &[String], _unmatched: &[u64]) -> Result<Erasure, Error> {
        Err(Error::Backend("this store cannot erase personal data".into()))
    }

    /// Prospects whose data key is missing (not erased): their records cannot be read, every
    /// other prospect is served as usual. Found at open and whenever a read meets one.
    fn damaged(&self) -> Vec<String> {
        Vec::new()
    }
}
