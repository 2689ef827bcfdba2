//! Whole-store copies for backup and restore, and the suppression list on its own.
//!
//! A snapshot holds the write lock (`writes`) while it reads every record: no batch can be
//! applied meanwhile, and a batch is one atomic `apply_batch`, so the copy holds every batch
//! applied before it whole and nothing of the ones after (no half-applied batch). Under the
//! same lock the data-key files are copied: a record's key is made durable before its batch is
//! applied, so every record in the copy has its key. Records are copied as stored: sealed ones
//! stay sealed, and the master key is never part of it.

use std::path::Path;

use super::{SledStore, backend, decode, encode, keys};
use crate::store::{Error, Suppression};

/// How much a snapshot copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    pub records: u64,
    pub key_files: usize,
}

/// One suppression list entry as exported: the contact's kind and keyed hash, never the contact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuppressionEntry {
    pub kind: String,
    pub digest: String,
    #[serde(flatten)]
    pub record: Suppression,
}

impl SledStore {
    /// Whether a process holds the store in `dir` open (sled locks its `db` file), checked
    /// without opening anything else: a command then goes through that daemon.
    pub fn in_use(dir: &Path) -> bool {
        match std::fs::File::open(dir.join("db")) {
            Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// Hands every record (`key`, stored value) to `record` and copies the data-key files into
    /// `keys_to`, all under the write lock (see the module doc). Blocking.
    pub fn snapshot(
        &self,
        keys_to: &Path,
        mut record: impl FnMut(&[u8], &[u8]) -> Result<(), Error>,
    ) -> Result<SnapshotStats, Error> {
        let _writing = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = SnapshotStats::default();
        for entry in self.tree.iter() {
            let (key, value) = entry.map_err(|e| backend("reading the store for a snapshot", e))?;
            record(&key, &value)?;
            stats.records += 1;
        }
        stats.key_files = self
            .vault
            .copy_keys(keys_to)
            .map_err(|e| Error::Backend(format!("copying the data keys to {}: {e}", keys_to.display())))?;
        Ok(stats)
    }

    /// Creates a store in `dir` from the records of a snapshot (the directory must not hold a
    /// store yet) and flushes it. The records are written as they were stored; opening the store
    /// afterwards checks the schema version and, with the keys, the master key.
    pub fn restore(
        dir: &Path,
        cache_capacity_bytes: u64,
        records: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>>,
    ) -> Result<u64, Error> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            .open()
            .map_err(|e| backend(&format!("creating the store in {}", dir.display()), e))?;
        let tree = db.open_tree(Self::TREE).map_err(|e| backend("opening the store's tree", e))?;
        if !tree.is_empty() {
            return Err(Error::Backend(format!(
                "{} already holds a store: restore into a new, empty data directory",
                dir.display()
            )));
        }
        let (mut count, mut batch, mut pending) = (0u64, sled::Batch::default(), 0usize);
        for item in records {
            let (key, value) = item?;
            batch.insert(key, value);
            count += 1;
            pending += 1;
            if pending == 10_000 {
                tree.apply_batch(std::mem::take(&mut batch)).map_err(|e| backend("writing restored records", e))?;
                pending = 0;
            }
        }
        tree.apply_batch(batch).map_err(|e| backend("writing restored records", e))?;
        db.flush().map_err(|e| backend("flushing the restored store", e))?;
        Ok(count)
    }

    /// The whole suppression list, by keyed hash.
    pub fn suppressions(&self) -> Result<Vec<SuppressionEntry>, Error> {
        let mut entries = Vec::new();
        for entry in self.tree.scan_prefix(keys::SUPPRESSIONS) {
            let (key, value) = entry.map_err(|e| backend("reading the suppression list", e))?;
            let Some((kind, digest)) = keys::parse_suppression(&key) else { continue };
            entries.push(SuppressionEntry { kind, digest, record: decode(&key, &value)? });
        }
        Ok(entries)
    }

    /// Adds entries to the suppression list (one atomic batch, flushed); an entry already there
    /// keeps its date. Returns how many were new. Blocking.
    pub fn add_suppressions(&self, entries: &[SuppressionEntry]) -> Result<usize, Error> {
        const KINDS: [&str; 3] = ["phone", "email", "psid"];
        let _writing = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = sled::Batch::default();
        let mut added = 0;
        for entry in entries {
            if !KINDS.contains(&entry.kind.as_str()) || entry.digest.is_empty() {
                return Err(Error::Backend(format!(
                    "suppression entry of kind `{}`: the kind must be one of {} and the digest not empty",
                    entry.kind,
                    KINDS.join(", ")
                )));
            }
            let key = keys::suppression(&entry.kind, &entry.digest);
            if self.tree.contains_key(&key).map_err(|e| backend("reading the suppression list", e))? {
                continue;
            }
            batch.insert(key, encode(&entry.record)?);
            added += 1;
        }
        self.tree.apply_batch(batch).map_err(|e| backend("adding to the suppression list", e))?;
        drop(_writing);
        crate::store::Store::flush(self)?;
        Ok(added)
    }
}
