//! The sled implementation of [`Store`]. Every record lives in one tree, so a [`Batch`] becomes a
//! single atomic `apply_batch` (sled batches are atomic within one tree only). Keys come from
//! [`super::keys`]; values are JSON. Writes are durable only once [`Store::flush`] returns (sled
//! also flushes in the background every 500 ms). A value that does not decode is reported as
//! [`Error::Corrupt`], never a panic.

use std::ops::Bound;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AuditRecord, Batch, ContactKey, Error, Message, Op, OutboxEntry, SCHEMA_VERSION, Store, TimerEntry,
    UnmatchedMessage, keys,
};
use crate::catalog::model::WorkflowSource;
use crate::machine::{Event, ProspectState};

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledStore {
    /// The sled tree that holds every record.
    pub const TREE: &'static str = "qualifyd";

    /// Opens (or creates) the store in `dir`. A fresh store records [`SCHEMA_VERSION`]; an
    /// existing one must carry the same version.
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<SledStore, Error> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| backend(&format!("opening the store in {}", dir.display()), e))?;
        let tree = db
            .open_tree(Self::TREE)
            .map_err(|e| backend(&format!("opening tree `{}` in {}", Self::TREE, dir.display()), e))?;
        let store = SledStore { db, tree };
        store.check_schema()?;
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

    /// Keys after `start` that still begin with `prefix`, in key order.
    fn range(&self, prefix: &[u8], start: Bound<Vec<u8>>) -> sled::Iter {
        let end = keys::successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        self.tree.range::<Vec<u8>, _>((start, end))
    }

    /// Decodes at most `limit` values, in key order.
    fn values<T: DeserializeOwned>(&self, iter: sled::Iter, limit: usize, prefix: &[u8]) -> Result<Vec<T>, Error> {
        iter.take(limit)
            .map(|item| {
                let (key, value) = item.map_err(|e| backend_at("scanning", prefix, e))?;
                decode(&key, &value)
            })
            .collect()
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
}

impl Store for SledStore {
    fn apply(&self, batch: Batch) -> Result<(), Error> {
        let count = batch.ops.len();
        let mut writes = sled::Batch::default();
        for op in batch.ops {
            add(&mut writes, op)?;
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
        self.get(&keys::prospect(id))
    }

    fn prospects(&self, after: Option<&str>, limit: usize) -> Result<Vec<ProspectState>, Error> {
        let start = match after {
            Some(id) => Bound::Excluded(keys::prospect(id)),
            None => Bound::Included(keys::PROSPECTS.to_vec()),
        };
        self.values(self.range(keys::PROSPECTS, start), limit, keys::PROSPECTS)
    }

    fn count_prospects(&self) -> Result<usize, Error> {
        self.count(keys::PROSPECTS)
    }

    fn prospects_by_contact(&self, key: &ContactKey) -> Result<Vec<String>, Error> {
        let prefix = keys::contacts_of(key);
        let parse = |k: &[u8]| keys::parse_contact(k).map(|(_, _, prospect)| prospect);
        self.parsed_keys(self.tree.scan_prefix(&prefix), &prefix, parse).collect()
    }

    fn messages(&self, prospect: &str) -> Result<Vec<Message>, Error> {
        let prefix = keys::messages_of(prospect);
        self.values(self.tree.scan_prefix(&prefix), usize::MAX, &prefix)
    }

    fn message(&self, prospect: &str, seq: u64) -> Result<Option<Message>, Error> {
        self.get(&keys::message(prospect, seq))
    }

    fn inbox(&self, prospect: &str) -> Result<Vec<(u64, Event)>, Error> {
        let prefix = keys::inbox_of(prospect);
        self.tree
            .scan_prefix(&prefix)
            .map(|item| {
                let (key, value) = item.map_err(|e| backend_at("scanning", &prefix, e))?;
                let (_, seq) = keys::parse_inbox(&key).ok_or_else(|| malformed(&key))?;
                Ok((seq, decode(&key, &value)?))
            })
            .collect()
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

    fn count_timers(&self) -> Result<usize, Error> {
        self.count(keys::TIMERS)
    }

    fn next_timer(&self) -> Result<Option<TimerEntry>, Error> {
        let iter = self.tree.scan_prefix(keys::TIMERS);
        self.parsed_keys(iter, keys::TIMERS, keys::parse_timer).next().transpose()
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>, Error> {
        self.values(self.tree.scan_prefix(keys::OUTBOX), usize::MAX, keys::OUTBOX)
    }

    fn outbox_entry(&self, action_id: &str) -> Result<Option<OutboxEntry>, Error> {
        self.get(&keys::outbox(action_id))
    }

    fn count_outbox(&self) -> Result<usize, Error> {
        self.count(keys::OUTBOX)
    }

    fn seen(&self, key: &str) -> Result<Option<String>, Error> {
        self.get(&keys::seen(key))
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
        self.values(self.tree.scan_prefix(keys::UNMATCHED), limit, keys::UNMATCHED)
    }
}

/// Adds one op to the sled batch. Index entries (timers, contacts) carry an empty value.
fn add(writes: &mut sled::Batch, op: Op) -> Result<(), Error> {
    match op {
        Op::PutProspect(state) => writes.insert(keys::prospect(&state.id), encode(&*state)?),
        Op::DeleteProspect { id } => writes.remove(keys::prospect(&id)),
        Op::PutMessage { prospect, message } => writes.insert(keys::message(&prospect, message.seq), encode(&message)?),
        Op::DeleteMessage { prospect, seq } => writes.remove(keys::message(&prospect, seq)),
        Op::PutInbox { prospect, seq, event } => writes.insert(keys::inbox(&prospect, seq), encode(&event)?),
        Op::DeleteInbox { prospect, seq } => writes.remove(keys::inbox(&prospect, seq)),
        Op::PutTimer { at, prospect, seq } => writes.insert(keys::timer(at, &prospect, seq), &[][..]),
        Op::DeleteTimer { at, prospect, seq } => writes.remove(keys::timer(at, &prospect, seq)),
        Op::PutOutbox(entry) => writes.insert(keys::outbox(entry.action.id()), encode(&*entry)?),
        Op::DeleteOutbox { action_id } => writes.remove(keys::outbox(&action_id)),
        Op::PutSeen { key, prospect } => writes.insert(keys::seen(&key), encode(&prospect)?),
        Op::PutContact { key, prospect } => writes.insert(keys::contact(&key, &prospect), &[][..]),
        Op::DeleteContact { key, prospect } => writes.remove(keys::contact(&key, &prospect)),
        Op::PutWorkflowSource { workflow, version, source } => {
            writes.insert(keys::workflow(&workflow, &version), encode(&*source)?)
        }
        Op::PutAudit(record) => writes.insert(keys::audit(record.seq), encode(&*record)?),
        Op::PutMeta { key, value } => writes.insert(keys::setting(&key), encode(&value)?),
        Op::PutUnmatched(message) => writes.insert(keys::unmatched(message.seq), encode(&*message)?),
    }
    Ok(())
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

fn backend(doing: &str, error: sled::Error) -> Error {
    Error::Backend(format!("{doing}: {error}"))
}

fn backend_at(doing: &str, key: &[u8], error: sled::Error) -> Error {
    backend(&format!("{doing} `{}`", keys::display(key)), error)
}
