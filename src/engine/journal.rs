//! The journal of side effects performed whose result the store has not recorded yet: an entry
//! is noted the moment a side effect succeeds, before its result goes to the store, and
//! released once the store holds it durably. A process killed in between (SIGKILL, a crash) or
//! a store that fails (a full disk) leaves it noted, so the outbox entry, still durable, is
//! recorded at the next start instead of performed again. The file is preallocated (written
//! with zeros when created), so noting an entry overwrites blocks the filesystem already gave
//! it and needs no free space. Notes are not synced one by one (the page cache outlives the
//! process); the journal is synced when the store fails. Left: the instant between a provider
//! accepting a request and its answer reaching us, covered by the idempotency key.
//!
//! One entry per fixed-size slot: `action_id \t provider_id \n`, NUL-padded. Action and
//! provider ids only: no personal data.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// Bytes per entry.
const SLOT: usize = 256;
/// Entries the file holds (its size is `SLOT * SLOTS`).
const SLOTS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the journal of performed side effects {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the journal of performed side effects is full ({SLOTS} entries)")]
    Full,
    #[error("an id too long for the journal ({0} bytes)")]
    TooLong(usize),
}

/// A performed side effect: its action id and the provider's id for it (empty when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub action_id: String,
    pub provider_id: String,
}

pub struct Journal {
    path: String,
    file: File,
    /// Slots not holding an entry.
    free: Mutex<Vec<usize>>,
}

/// The slot an entry was noted in, to release once the store has recorded its result.
#[derive(Debug)]
pub struct Slot(usize);

impl Journal {
    /// Opens (creating and preallocating it if needed) the journal at `path`, with what it holds.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Entry>), Error> {
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut entries = Vec::new();
        let mut free = Vec::new();
        for (index, slot) in bytes.chunks(SLOT).enumerate().take(SLOTS) {
            match parse(slot) {
                Some(entry) => entries.push(entry),
                None => free.push(index),
            }
        }
        if bytes.len() != SLOT * SLOTS {
            file.set_len(0).map_err(io)?;
            file.write_all_at(&vec![0u8; SLOT * SLOTS], 0).map_err(io)?;
            file.sync_all().map_err(io)?;
            free = (0..SLOTS).filter(|i| *i >= entries.len()).collect();
            // Rewritten whole: what was read is written back in the first slots.
            for (index, entry) in entries.iter().enumerate() {
                file.write_all_at(&encode(entry)?, (index * SLOT) as u64).map_err(io)?;
            }
            file.sync_all().map_err(io)?;
        }
        free.reverse(); // lowest slots first
        Ok((Journal { path: path.display().to_string(), file, free: Mutex::new(free) }, entries))
    }

    /// Notes a performed side effect in space the file already has, before its result goes to
    /// the store: a process killed in between finds it at the next start. Not synced (the page
    /// cache outlives the process); [`Journal::sync`] makes it durable when the store fails.
    pub fn note(&self, entry: &Entry) -> Result<Slot, Error> {
        let bytes = encode(entry)?;
        let index = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().ok_or(Error::Full)?;
        if let Err(err) = self.file.write_all_at(&bytes, (index * SLOT) as u64) {
            self.free.lock().unwrap_or_else(|e| e.into_inner()).push(index);
            return Err(Error::Io { path: self.path.clone(), source: err });
        }
        Ok(Slot(index))
    }

    /// Forgets a noted entry once the store holds its result durably.
    pub fn release(&self, slot: Slot) -> Result<(), Error> {
        self.file
            .write_all_at(&[0u8; SLOT], (slot.0 * SLOT) as u64)
            .map_err(|source| Error::Io { path: self.path.clone(), source })?;
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(slot.0);
        Ok(())
    }

    /// Makes the noted entries durable (the store could not record their results).
    pub fn sync(&self) -> Result<(), Error> {
        self.file.sync_data().map_err(|source| Error::Io { path: self.path.clone(), source })
    }

    /// Empties the journal once its entries are recorded in the store (durably).
    pub fn clear(&self) -> Result<(), Error> {
        let io = |source| Error::Io { path: self.path.clone(), source };
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        self.file.write_all_at(&vec![0u8; SLOT * SLOTS], 0).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        *free = (0..SLOTS).rev().collect();
        Ok(())
    }
}

/// One slot's bytes: the line, NUL-padded.
fn encode(entry: &Entry) -> Result<Vec<u8>, Error> {
    let line = format!("{}\t{}\n", entry.action_id, entry.provider_id);
    if line.len() > SLOT {
        return Err(Error::TooLong(line.len()));
    }
    let mut slot = line.into_bytes();
    slot.resize(SLOT, 0);
    Ok(slot)
}

/// The entry a slot holds, if any.
fn parse(slot: &[u8]) -> Option<Entry> {
    let text = String::from_utf8_lossy(slot);
    let (line, _) = text.split_once('\n')?;
    let (action_id, provider_id) = line.split_once('\t')?;
    if action_id.is_empty() {
        return None;
    }
    Some(Entry { action_id: action_id.to_string(), provider_id: provider_id.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noted_entries_survive_a_reopen_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("performed.journal");
        let (journal, entries) = Journal::open(&path).unwrap();
        assert!(entries.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (SLOT * SLOTS) as u64);
        let sent = Entry { action_id: "p_1:3".into(), provider_id: "SM123".into() };
        let hook = Entry { action_id: "p_2:7".into(), provider_id: String::new() };
        let released = Entry { action_id: "p_3:1".into(), provider_id: String::new() };
        journal.note(&sent).unwrap();
        let slot = journal.note(&released).unwrap();
        journal.note(&hook).unwrap();
        journal.release(slot).unwrap(); // recorded by the store: forgotten
        drop(journal);
        let (journal, entries) = Journal::open(&path).unwrap();
        assert_eq!(entries, vec![sent, hook.clone()]);
        journal.note(&hook).unwrap(); // in the free slot, not over the two it found
        drop(journal);
        let (journal, entries) = Journal::open(&path).unwrap();
        assert_eq!(entries.len(), 3);
        journal.clear().unwrap();
        drop(journal);
        assert!(Journal::open(&path).unwrap().1.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (SLOT * SLOTS) as u64);
    }

    #[test]
    fn an_id_that_does_not_fit_a_slot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(&dir.path().join("j")).unwrap();
        let long = Entry { action_id: "x".repeat(SLOT), provider_id: String::new() };
        assert!(matches!(journal.note(&long), Err(Error::TooLong(_))));
    }
}
