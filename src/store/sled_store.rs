//! The sled implementation of [`Store`]. Every record lives in one tree, so a [`Batch`] becomes a
//! single atomic `apply_batch` (sled batches are atomic within one tree only). Keys come from
//! [`super::keys`]; values are JSON, sealed by the [`Vault`] when they carry personal data.
//! Writes are durable only once [`Store::flush`] returns (sled also flushes in the background
//! every 500 ms). A value that does not decode is reported as [`Error::Corrupt`], never a panic.
//!
//! Erasure and writes are serialised (`writes`): an erasure removes a subject's records, leaves
//! a tombstone and drops the data key from memory in one step, and every write checks the
//! tombstone of its subject under the same lock, so a write racing it (an AI answer coming
//! back, a delivery receipt) is dropped instead of bringing a record back. Destroying the key in its file happens after the removal is durable; a crash in
//! between is finished at the next start (`E/` markers).

use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod damage;
mod erase;
mod snapshot;

pub use damage::DAMAGED_GAUGE;
pub use snapshot::{SnapshotStats, SuppressionEntry};

use super::{
    AuditRecord, Batch, ContactKey, Erasure, Error, Message, Op, OutboxEntry, PrivacyRequest, ProcessingRecord,
    SCHEMA_VERSION, Store, Suppression, TimerEntry, UnmatchedMessage, keys,
};
use crate::catalog::model::WorkflowSource;
use crate::machine::{Event, ProspectState};
use crate::privacy::{Opened, Vault};

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    vault: Vault,
    /// Held by every write and by the first step of an erasure.
    writes: Mutex<()>,
    /// Prospects whose data key is missing (see `damage`).
    damaged: Mutex<std::collections::BTreeSet<String>>,
}

impl SledStore {
    /// The sled tree that holds every record.
    pub const TREE: &'static str = "qualifyd";

    /// Opens (or creates) the store in `dir` with a development vault: a master key kept in
    /// `dir/master.key` (created on first use) and data keys in `dir/keys`. For tests and tools;
    /// the daemon opens its vault from the configured master key ([`SledStore::open_with`]).
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<SledStore, Error> {
        let vault = Vault::development(dir).map_err(|e| Error::Backend(format!("opening the data keys: {e}")))?;
        SledStore::open_with(dir, cache_capacity_bytes, vault)
    }

    /// Opens (or creates) the store in `dir`, sealing personal data with `vault`. A fresh store
    /// records [`SCHEMA_VERSION`]; an existing one must carry the same version.
    pub fn open_with(dir: &Path, cache_capacity_bytes: u64, vault: Vault) -> Result<SledStore, Error> {
        let db = open_db(dir, cache_capacity_bytes)?;
        let tree = db
            .open_tree(Self::TREE)
            .map_err(|e| backend(&format!("opening tree `{}` in {}", Self::TREE, dir.display()), e))?;
        let store = SledStore { db, tree, vault, writes: Mutex::new(()), damaged: Mutex::default() };
        store.check_schema()?;
        store.finish_erasures()?;
        store.find_damaged()?;
        Ok(store)
    }

    /// Bytes used on disk (0 if sled cannot tell).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot measure the store's size on disk");
            0
        })
    }

    /// The underlying tree, for tests that must write what the store never would.
    #[doc(hidden)]
    pub fn raw_tree(&self) -> &sled::Tree {
        &self.tree
    }

    fn check_schema(&self) -> Result<(), Error> {
        let key = keys::SCHEMA_VERSION;
        match self.get::<u32>(key)? {
            Some(found) if found == SCHEMA_VERSION => Ok(()),
            Some(found) => Err(Error::SchemaMismatch { found, expected: SCHEMA_VERSION }),
            None if self.tree.is_empty() => {
                let value = encode(&SCHEMA_VERSION)?;
                self.tree.insert(key, value).map_err(|e| backend_at("writing", key, e))?;
                self.flush()
            }
            None => Err(Error::Corrupt {
                key: keys::display(key),
                reason: "missing, although the store holds records".to_string(),
            }),
        }
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Error> {
        match self.tree.get(key) {
            Ok(Some(value)) => decode(key, &value).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(backend_at("reading", key, e)),
        }
    }

    /// Reads a sealed record; `None` also when it belongs to an erased subject.
    fn get_sealed<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Error> {
        match self.tree.get(key) {
            Ok(Some(value)) => self.unseal(key, &value),
            Ok(None) => Ok(None),
            Err(e) => Err(backend_at("reading", key, e)),
        }
    }

    fn unseal<T: DeserializeOwned>(&self, key: &[u8], value: &[u8]) -> Result<Option<T>, Error> {
        match self.vault.open_envelope(key, value) {
            Ok(Opened::Plain(bytes)) => decode(key, &bytes).map(Some),
            Ok(Opened::NoKey(subject)) if self.is_erased(&subject)? => Ok(None),
            Ok(Opened::NoKey(subject)) => {
                self.mark_damaged(&subject);
                Err(Error::Damaged { subject })
            }
            Err(reason) => Err(Error::Corrupt { key: keys::display(key), reason: reason.to_string() }),
        }
    }

    fn is_erased(&self, subject: &str) -> Result<bool, Error> {
        let key = keys::erased(subject);
        self.tree.contains_key(&key).map_err(|e| backend_at("reading", &key, e))
    }

    /// Whether a write about `subject` may be applied: not once it was erased.
    fn accepts(&self, subject: &str) -> Result<bool, Error> {
        Ok(!self.is_erased(subject)?)
    }

    /// Keys after `start` that still begin with `prefix`, in key order.
    fn range(&self, prefix: &[u8], start: Bound<Vec<u8>>) -> sled::Iter {
        let end = keys::successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        self.tree.range::<Vec<u8>, _>((start, end))
    }

    /// Decodes at most `limit` plain values, in key order.
    fn values<T: DeserializeOwned>(&self, iter: sled::Iter, limit: usize, prefix: &[u8]) -> Result<Vec<T>, Error> {
        iter.take(limit)
            .map(|item| {
                let (key, value) = item.map_err(|e| backend_at("scanning", prefix, e))?;
                decode(&key, &value)
            })
            .collect()
    }

    /// Opens at most `limit` sealed values, in key order, skipping those of erased subjects and
    /// of damaged ones (their key is missing: listed by [`Store::damaged`], never failing others).
    fn sealed_values<T: DeserializeOwned>(
        &self,
        iter: sled::Iter,
        limit: usize,
        prefix: &[u8],
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item.map_err(|e| backend_at("scanning", prefix, e))?;
            match self.unseal(&key, &value) {
                Ok(Some(record)) => out.push(record),
                Ok(None) | Err(Error::Damaged { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Parses the keys of `iter`, in key order; a key that does not parse is [`Error::Corrupt`].
    fn parsed_keys<T>(
        &self,
        iter: sled::Iter,
        prefix: &[u8],
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> impl Iterator<Item = Result<T, Error>> {
        iter.map(move |item| {
            let (key, _) = item.map_err(|e| backend_at("scanning", prefix, e))?;
            parse(&key).ok_or_else(|| malformed(&key))
        })
    }

    fn count(&self, prefix: &[u8]) -> Result<usize, Error> {
        self.tree
            .scan_prefix(prefix)
            .keys()
            .try_fold(0, |n, key| key.map(|_| n + 1))
            .map_err(|e| backend_at("counting", prefix, e))
    }

    fn contact_key(&self, contact: &ContactKey, prospect: &str) -> Vec<u8> {
        keys::contact(contact.kind(), &self.vault.blind(contact.kind(), contact.value()), prospect)
    }

    /// A dedupe key (`in:{channel}:{provider id}`) as stored: its keyed hash, so that neither
    /// the key nor an erasure's tombstone of it holds a provider's id in clear.
    pub(super) fn seen_digest(&self, dedupe: &str) -> String {
        self.vault.blind("dedupe", dedupe)
    }

    fn suppression_key(&self, contact: &ContactKey) -> Vec<u8> {
        keys::suppression(contact.kind(), &self.vault.blind(contact.kind(), contact.value()))
    }

    /// Creates the data keys the sealed records of `ops` need, unless their subject was erased.
    fn create_keys(&self, ops: &[Op]) -> Result<(), Error> {
        let mut missing: Vec<String> = Vec::new();
        for subject in ops.iter().filter_map(sealed_subject) {
            if !self.vault.has_key(&subject) && !missing.contains(&subject) && !self.is_erased(&subject)? {
                missing.push(subject);
            }
        }
        let subjects: Vec<&str> = missing.iter().map(String::as_str).collect();
        self.vault.create_keys(&subjects).map_err(|e| Error::Unavailable(format!("creating data keys: {e}")))
    }

    /// Adds one op to the sled batch. Index entries (timers, contacts) carry an empty value.
    /// Writes about an erased subject are dropped.
    fn add(&self, writes: &mut sled::Batch, op: Op) -> Result<(), Error> {
        match op {
            Op::PutProspect(state) => self.seal(writes, keys::prospect(&state.id), &state.id, &*state)?,
            Op::DeleteProspect { id } => writes.remove(keys::prospect(&id)),
            Op::PutMessage { prospect, message } => {
                self.seal(writes, keys::message(&prospect, message.seq), &prospect, &message)?
            }
            Op::DeleteMessage { prospect, seq } => writes.remove(keys::message(&prospect, seq)),
            Op::PutInbox { prospect, seq, event } => {
                self.seal(writes, keys::inbox(&prospect, seq), &prospect, &event)?
            }
            Op::DeleteInbox { prospect, seq } => writes.remove(keys::inbox(&prospect, seq)),
            Op::PutTimer { at, prospect, seq } => {
                if self.accepts(&prospect)? {
                    writes.insert(keys::timer(at, &prospect, seq), &[][..]);
                }
            }
            Op::DeleteTimer { at, prospect, seq } => writes.remove(keys::timer(at, &prospect, seq)),
            Op::PutOutbox(entry) => {
                let key = keys::outbox(entry.action.id());
                self.seal(writes, key, &entry.prospect, &*entry)?
            }
            Op::DeleteOutbox { action_id } => writes.remove(keys::outbox(&action_id)),
            Op::PutSeen { key, prospect } => {
                let digest = self.seen_digest(&key);
                if prospect.is_empty() {
                    writes.insert(keys::seen(&digest), encode(&prospect)?);
                } else if self.accepts(&prospect)? {
                    writes.insert(keys::seen(&digest), encode(&prospect)?);
                    writes.insert(keys::seen_by(&prospect, &digest), &[][..]);
                }
            }
            Op::PutExpiring { key, value, until } => {
                let digest = self.seen_digest(&key);
                writes.insert(keys::seen(&digest), encode(&value)?);
                writes.insert(keys::expiring(until, &digest), &[][..]);
            }
            Op::DeleteSeen { key } => writes.remove(keys::seen(&self.seen_digest(&key))),
            Op::DeleteExpired(expired) => {
                writes.remove(keys::seen(&expired.digest));
                writes.remove(keys::expiring(expired.until, &expired.digest));
            }
            Op::PutContact { key, prospect } => {
                if self.accepts(&prospect)? {
                    writes.insert(self.contact_key(&key, &prospect), &[][..]);
                }
            }
            Op::DeleteContact { key, prospect } => writes.remove(self.contact_key(&key, &prospect)),
            Op::PutWorkflowSource { workflow, version, source } => {
                writes.insert(keys::workflow(&workflow, &version), encode(&*source)?)
            }
            Op::PutAudit(record) => writes.insert(keys::audit(record.seq), encode(&*record)?),
            Op::PutMeta { key, value } => writes.insert(keys::setting(&key), encode(&value)?),
            Op::PutUnmatched(message) => {
                let subject = keys::unmatched_subject(message.seq);
                self.seal(writes, keys::unmatched(message.seq), &subject, &*message)?
            }
            Op::PutToken { token, prospect } => {
                if self.accepts(&prospect)? {
                    writes.insert(keys::token(&token), encode(&prospect)?);
                }
            }
            Op::PutProcessing { prospect, seq, record } => {
                self.seal(writes, keys::processing(&prospect, seq), &prospect, &record)?
            }
            Op::PutSuppression { key, record } => writes.insert(self.suppression_key(&key), encode(&record)?),
            Op::DeleteSuppression { key } => writes.remove(self.suppression_key(&key)),
            Op::PutRestriction { prospect, at } => {
                if self.accepts(&prospect)? {
                    writes.insert(keys::restriction(&prospect), encode(&at)?);
                }
            }
            Op::DeleteRestriction { prospect } => writes.remove(keys::restriction(&prospect)),
            Op::PutRequest(request) => writes.insert(keys::request(request.seq), encode(&*request)?),
        }
        Ok(())
    }

    /// Inserts `value` sealed for `subject`, or nothing when the subject was erased.
    fn seal<T: Serialize>(
        &self,
        writes: &mut sled::Batch,
        key: Vec<u8>,
        subject: &str,
        value: &T,
    ) -> Result<(), Error> {
        let sealed = if self.accepts(subject)? { self.vault.seal(subject, &key, &encode(value)?) } else { None };
        match sealed {
            Some(sealed) => writes.insert(key, sealed),
            None => tracing::debug!(key = %keys::display(&key), "a write about an erased subject was dropped"),
        }
        Ok(())
    }
}

/// How long opening waits for the store's file lock (a process that just stopped, or a handle
/// of this process whose background flush is ending, may still hold it).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the sled database in `dir`, waiting (bounded) for its file lock.
fn open_db(dir: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, Error> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(500))
            .open();
        match opened {
            Ok(db) => return Ok(db),
            Err(err) if err.to_string().contains("could not acquire lock") => {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(Error::Backend(format!(
                        "the store in {} is in use by another process (another qualifyd, or a backup) and was \
                         not released within {} s: stop it first",
                        dir.display(),
                        LOCK_WAIT.as_secs()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(err) => return Err(backend(&format!("opening the store in {}", dir.display()), err)),
        }
    }
}

/// The data-key subject of an op that writes a sealed record.
fn sealed_subject(op: &Op) -> Option<String> {
    match op {
        Op::PutProspect(state) => Some(state.id.clone()),
        Op::PutMessage { prospect, .. } | Op::PutInbox { prospect, .. } | Op::PutProcessing { prospect, .. } => {
            Some(prospect.clone())
        }
        Op::PutOutbox(entry) => Some(entry.prospect.clone()),
        Op::PutUnmatched(message) => Some(keys::unmatched_subject(message.seq)),
        _ => None,
    }
}

impl Store for SledStore {
    fn apply(&self, batch: Batch) -> Result<(), Error> {
        let count = batch.ops.len();
        // Outside the write lock: a new key's fsync does not hold up other writers. A subject
        // erased meanwhile is caught under the lock (its tombstone is checked per write).
        self.create_keys(&batch.ops)?;
        let _writing = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let mut writes = sled::Batch::default();
        for op in batch.ops {
            self.add(&mut writes, op)?;
        }
        self.tree.apply_batch(writes).map_err(|e| backend(&format!("applying a batch of {count} writes"), e))
    }

    fn flush(&self) -> Result<(), Error> {
        self.db.flush().map(|_| ()).map_err(|e| backend("flushing the store to disk", e))
    }

    fn next_id(&self) -> Result<u64, Error> {
        self.db.generate_id().map_err(|e| backend("generating an id", e))
    }

    fn prospect(&self, id: &str) -> Result<Option<ProspectState>, Error> {
        self.get_sealed(&keys::prospect(id))
    }

    fn prospects(&self, after: Option<&str>, limit: usize) -> Result<Vec<ProspectState>, Error> {
        let start = match after {
            Some(id) => Bound::Excluded(keys::prospect(id)),
            None => Bound::Included(keys::PROSPECTS.to_vec()),
        };
        self.sealed_values(self.range(keys::PROSPECTS, start), limit, keys::PROSPECTS)
    }

    fn count_prospects(&self) -> Result<usize, Error> {
        self.count(keys::PROSPECTS)
    }

    fn prospects_by_contact(&self, key: &ContactKey) -> Result<Vec<String>, Error> {
        let prefix = keys::contacts_of(key.kind(), &self.vault.blind(key.kind(), key.value()));
        let parse = |k: &[u8]| keys::parse_contact(k).map(|(_, _, prospect)| prospect);
        self.parsed_keys(self.tree.scan_prefix(&prefix), &prefix, parse).collect()
    }

    fn messages(&self, prospect: &str) -> Result<Vec<Message>, Error> {
        let prefix = keys::messages_of(prospect);
        self.sealed_values(self.tree.scan_prefix(&prefix), usize::MAX, &prefix)
    }

    fn message(&self, prospect: &str, seq: u64) -> Result<Option<Message>, Error> {
        self.get_sealed(&keys::message(prospect, seq))
    }

    fn inbox(&self, prospect: &str) -> Result<Vec<(u64, Event)>, Error> {
        let prefix = keys::inbox_of(prospect);
        let mut events = Vec::new();
        for item in self.tree.scan_prefix(&prefix) {
            let (key, value) = item.map_err(|e| backend_at("scanning", &prefix, e))?;
            let (_, seq) = keys::parse_inbox(&key).ok_or_else(|| malformed(&key))?;
            // `None`: left by an erasure; nothing to apply, and nobody to apply it to.
            if let Some(event) = self.unseal(&key, &value)? {
                events.push((seq, event));
            }
        }
        Ok(events)
    }

    /// Reads one key per prospect: after each hit, the scan jumps past that prospect's inbox.
    fn prospects_with_inbox(&self) -> Result<Vec<String>, Error> {
        let mut found = Vec::new();
        let mut start = Bound::Included(keys::INBOXES.to_vec());
        loop {
            let iter = self.range(keys::INBOXES, start);
            let Some(next) = self.parsed_keys(iter, keys::INBOXES, keys::parse_inbox).next() else {
                return Ok(found);
            };
            let (prospect, _) = next?;
            match keys::successor(&keys::inbox_of(&prospect)) {
                Some(end) => start = Bound::Included(end),
                None => return Ok(found),
            }
            found.push(prospect);
        }
    }

    fn due_timers(&self, until: DateTime<Utc>, limit: usize) -> Result<Vec<TimerEntry>, Error> {
        let iter = self.tree.scan_prefix(keys::TIMERS);
        let mut due = Vec::new();
        for entry in self.parsed_keys(iter, keys::TIMERS, keys::parse_timer).take(limit) {
            let entry = entry?;
            if entry.at > until {
                break;
            }
            due.push(entry);
        }
        Ok(due)
    }

    fn expired(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<super::Expiring>, Error> {
        let iter = self.tree.scan_prefix(keys::EXPIRING);
        let mut expired = Vec::new();
        for entry in self.parsed_keys(iter, keys::EXPIRING, keys::parse_expiring).take(limit) {
            let entry = entry?;
            if entry.until > now {
                break;
            }
            expired.push(entry);
        }
        Ok(expired)
    }

    fn count_timers(&self) -> Result<usize, Error> {
        self.count(keys::TIMERS)
    }

    fn next_timer(&self) -> Result<Option<TimerEntry>, Error> {
        let iter = self.tree.scan_prefix(keys::TIMERS);
        self.parsed_keys(iter, keys::TIMERS, keys::parse_timer).next().transpose()
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>, Error> {
        self.sealed_values(self.tree.scan_prefix(keys::OUTBOX), usize::MAX, keys::OUTBOX)
    }

    fn outbox_entry(&self, action_id: &str) -> Result<Option<OutboxEntry>, Error> {
        self.get_sealed(&keys::outbox(action_id))
    }

    fn count_outbox(&self) -> Result<usize, Error> {
        self.count(keys::OUTBOX)
    }

    fn seen(&self, key: &str) -> Result<Option<String>, Error> {
        match self.get(&keys::seen(&self.seen_digest(key)))? {
            Some(prospect) => Ok(Some(prospect)),
            // Written before dedupe keys were hashed.
            None => self.get(&keys::seen(key)),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.get(&keys::setting(key))
    }

    fn workflow_source(&self, workflow: &str, version: &str) -> Result<Option<WorkflowSource>, Error> {
        self.get(&keys::workflow(workflow, version))
    }

    fn audit(&self, after: Option<u64>, limit: usize) -> Result<Vec<AuditRecord>, Error> {
        let start = match after {
            Some(seq) => Bound::Excluded(keys::audit(seq)),
            None => Bound::Included(keys::AUDIT.to_vec()),
        };
        self.values(self.range(keys::AUDIT, start), limit, keys::AUDIT)
    }

    /// Oldest first.
    fn unmatched(&self, limit: usize) -> Result<Vec<UnmatchedMessage>, Error> {
        self.sealed_values(self.tree.scan_prefix(keys::UNMATCHED), limit, keys::UNMATCHED)
    }

    fn outbox_of(&self, prospect: &str) -> Result<Vec<OutboxEntry>, Error> {
        let mut entries = Vec::new();
        for item in self.tree.scan_prefix(keys::OUTBOX) {
            let (key, value) = item.map_err(|e| backend_at("scanning", keys::OUTBOX, e))?;
            if Vault::subject(&value) == Some(prospect)
                && let Some(entry) = self.unseal(&key, &value)?
            {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    fn message_seqs(&self, prospect: &str) -> Result<Vec<u64>, Error> {
        let prefix = keys::messages_of(prospect);
        let parse = |k: &[u8]| keys::parse_message(k).map(|(_, seq)| seq);
        self.parsed_keys(self.tree.scan_prefix(&prefix), &prefix, parse).collect()
    }

    fn prospect_by_token(&self, token: &str) -> Result<Option<String>, Error> {
        self.get(&keys::token(token))
    }

    fn processing(&self, prospect: &str) -> Result<Vec<ProcessingRecord>, Error> {
        let prefix = keys::processing_of(prospect);
        self.sealed_values(self.tree.scan_prefix(&prefix), usize::MAX, &prefix)
    }

    fn suppression(&self, key: &ContactKey) -> Result<Option<Suppression>, Error> {
        self.get(&self.suppression_key(key))
    }

    fn restriction(&self, prospect: &str) -> Result<Option<DateTime<Utc>>, Error> {
        self.get(&keys::restriction(prospect))
    }

    fn requests(&self, after: Option<u64>, limit: usize) -> Result<Vec<PrivacyRequest>, Error> {
        let start = match after {
            Some(seq) => Bound::Excluded(keys::request(seq)),
            None => Bound::Included(keys::REQUESTS.to_vec()),
        };
        self.values(self.range(keys::REQUESTS, start), limit, keys::REQUESTS)
    }

    fn erase(&self, prospects: &[String], unmatched: &[u64]) -> Result<Erasure, Error> {
        let erasure = self.erase_subjects(prospects, unmatched)?;
        self.forget_damaged(prospects);
        Ok(erasure)
    }

    fn damaged(&self) -> Vec<String> {
        self.damaged_ids()
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Backend(format!("encoding a record: {e}")))
}

fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(value).map_err(|e| Error::Corrupt { key: keys::display(key), reason: e.to_string() })
}

fn malformed(key: &[u8]) -> Error {
    Error::Corrupt { key: keys::display(key), reason: "malformed key".to_string() }
}

/// An IO error (full or failing disk; sled then refuses every later call) makes the store
/// unavailable; anything else is a backend error.
fn backend(doing: &str, error: sled::Error) -> Error {
    match error {
        sled::Error::Io(_) => Error::Unavailable(format!("{doing}: {error}")),
        _ => Error::Backend(format!("{doing}: {error}")),
    }
}

fn backend_at(doing: &str, key: &[u8], error: sled::Error) -> Error {
    backend(&format!("{doing} `{}`", keys::display(key)), error)
}
