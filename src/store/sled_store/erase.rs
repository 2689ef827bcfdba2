//! Erasure in the sled store: removing every record of a subject in one batch with its
//! tombstone, then, once that is durable, destroying its data key (`E/` markers finish an
//! erasure a crash interrupted, at the next start).

use std::collections::HashSet;

use chrono::Utc;

use super::{SledStore, backend, backend_at, encode};
use crate::machine::ProspectState;
use crate::privacy::Vault;
use crate::store::{ContactKey, Erasure, Error, Store, keys};

impl SledStore {
    /// Destroys the data keys of erasures a crash interrupted after their records were removed.
    pub(super) fn finish_erasures(&self) -> Result<(), Error> {
        let prefix = keys::PENDING_DESTRUCTION;
        let subjects: Vec<String> = self
            .parsed_keys(self.tree.scan_prefix(prefix), prefix, keys::parse_pending_destruction)
            .collect::<Result<_, _>>()?;
        if subjects.is_empty() {
            return Ok(());
        }
        tracing::info!(count = subjects.len(), "finishing interrupted erasures");
        self.destroy_keys(&subjects)
    }

    fn destroy_keys(&self, subjects: &[String]) -> Result<(), Error> {
        self.vault.destroy(subjects).map_err(|e| Error::Backend(format!("destroying data keys: {e}")))?;
        let mut done = sled::Batch::default();
        for subject in subjects {
            done.remove(keys::pending_destruction(subject));
        }
        self.tree.apply_batch(done).map_err(|e| backend("clearing erasure markers", e))
    }

    /// What [`Store::erase`] does.
    pub(super) fn erase_subjects(&self, prospects: &[String], unmatched: &[u64]) -> Result<Erasure, Error> {
        let mut erasure = Erasure::default();
        let mut subjects: Vec<String> = Vec::new();
        {
            let _writing = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            let mut writes = sled::Batch::default();
            let doomed: HashSet<&str> = prospects.iter().map(String::as_str).collect();
            for item in self.tree.scan_prefix(keys::OUTBOX) {
                let (key, value) = item.map_err(|e| backend_at("scanning", keys::OUTBOX, e))?;
                if Vault::subject(&value).is_some_and(|s| doomed.contains(s)) {
                    writes.remove(key);
                    erasure.outbox_entries += 1;
                }
            }
            for id in prospects {
                self.erase_prospect(&mut writes, id, &mut erasure)?;
                subjects.push(id.clone());
            }
            for seq in unmatched {
                erasure.unmatched_messages += self.remove_if_present(&mut writes, keys::unmatched(*seq))?;
                subjects.push(keys::unmatched_subject(*seq));
            }
            let at = encode(&Utc::now())?;
            for subject in &subjects {
                erasure.data_keys += usize::from(self.vault.has_key(subject));
                writes.insert(keys::erased(subject), at.clone());
                writes.insert(keys::pending_destruction(subject), &[][..]);
            }
            self.tree.apply_batch(writes).map_err(|e| backend("applying an erasure", e))?;
            self.vault.forget(&subjects);
        }
        self.flush()?;
        self.destroy_keys(&subjects)?;
        Ok(erasure)
    }

    /// Removes every key under `prefix`; returns how many.
    fn remove_prefix(&self, writes: &mut sled::Batch, prefix: &[u8]) -> Result<usize, Error> {
        let mut count = 0;
        for key in self.tree.scan_prefix(prefix).keys() {
            writes.remove(key.map_err(|e| backend_at("scanning", prefix, e))?);
            count += 1;
        }
        Ok(count)
    }

    fn remove_if_present(&self, writes: &mut sled::Batch, key: Vec<u8>) -> Result<usize, Error> {
        let present = self.tree.contains_key(&key).map_err(|e| backend_at("reading", &key, e))?;
        if present {
            writes.remove(key);
        }
        Ok(usize::from(present))
    }

    /// Adds the removal of every record of prospect `id` to `writes`.
    fn erase_prospect(&self, writes: &mut sled::Batch, id: &str, erasure: &mut Erasure) -> Result<(), Error> {
        // A state that no longer decodes must not stop its erasure: its indexes are found by scan.
        let state: Option<ProspectState> = self.get_sealed(&keys::prospect(id)).unwrap_or_else(|err| {
            tracing::warn!(prospect = %id, error = %err, "erasing a prospect whose state does not decode");
            None
        });
        erasure.prospects += self.remove_if_present(writes, keys::prospect(id))?;
        if let Some(state) = &state {
            for contact in ContactKey::of_state(state) {
                erasure.contact_index_entries += self.remove_if_present(writes, self.contact_key(&contact, id))?;
            }
            writes.remove(keys::token(&state.unsubscribe_token));
            if let Some(timer) = &state.timer {
                erasure.timers += self.remove_if_present(writes, keys::timer(timer.at, id, timer.seq))?;
            }
        }
        erasure.messages += self.remove_prefix(writes, &keys::messages_of(id))?;
        erasure.inbox_events += self.remove_prefix(writes, &keys::inbox_of(id))?;
        erasure.processing_records += self.remove_prefix(writes, &keys::processing_of(id))?;
        // Dedupe keys become tombstones (their keyed hash, owned by no one), kept: a provider
        // replaying an old signed message for this person is then a known duplicate, not a new
        // person to write to.
        let prefix = keys::seen_by_of(id);
        let tombstone = encode(&String::new())?;
        for entry in self.parsed_keys(self.tree.scan_prefix(&prefix), &prefix, keys::parse_seen_by) {
            let (_, dedupe) = entry?;
            if self.get::<String>(&keys::seen(&dedupe))?.as_deref() == Some(id) {
                // An entry from before hashing holds the plain key: replace it by its hash.
                let digest = if dedupe.contains(':') { self.seen_digest(&dedupe) } else { dedupe.clone() };
                writes.remove(keys::seen(&dedupe));
                writes.insert(keys::seen(&digest), tombstone.clone());
                erasure.dedupe_keys += 1;
            }
            writes.remove(keys::seen_by(id, &dedupe));
        }
        writes.remove(keys::restriction(id));
        Ok(())
    }
}
