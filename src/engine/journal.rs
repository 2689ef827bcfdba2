//! The journal of side effects performed whose result the store could not record (a full or
//! failing disk): without it the outbox entry, still durable, would be performed again at the
//! next start. The file is preallocated (written with zeros when created), so noting an entry
//! overwrites blocks the filesystem already gave it and needs no free space. At start the
//! engine records every journaled result as if it had just come back, then clears the journal.
//!
//! One entry per fixed-size slot: `action_id \t provider_id \n`, NUL-padded. Action and
//! provider ids only: no personal data.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
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
    /// The file and the next free slot.
    file: Mutex<(File, usize)>,
}

impl Journal {
    /// Opens (creating and preallocating it if needed) the journal at `path`, with what it holds.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Entry>), Error> {
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let entries = parse(&bytes);
        if bytes.len() != SLOT * SLOTS {
            file.set_len(0).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            file.write_all(&vec![0u8; SLOT * SLOTS]).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let journal = Journal { path: path.display().to_string(), file: Mutex::new((file, entries.len())) };
        Ok((journal, entries))
    }

    /// Notes a performed side effect durably, in space the file already has.
    pub fn note(&self, entry: &Entry) -> Result<(), Error> {
        let line = format!("{}\t{}\n", entry.action_id, entry.provider_id);
        if line.len() > SLOT {
            return Err(Error::TooLong(line.len()));
        }
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let (file, next) = &mut *guard;
        if *next >= SLOTS {
            return Err(Error::Full);
        }
        let mut slot = line.into_bytes();
        slot.resize(SLOT, 0);
        let io = |source| Error::Io { path: self.path.clone(), source };
        file.seek(SeekFrom::Start((*next * SLOT) as u64)).map_err(io)?;
        file.write_all(&slot).map_err(io)?;
        file.sync_data().map_err(io)?;
        *next += 1;
        Ok(())
    }

    /// Empties the journal once its entries are recorded in the store (durably).
    pub fn clear(&self) -> Result<(), Error> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let (file, next) = &mut *guard;
        let io = |source| Error::Io { path: self.path.clone(), source };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&vec![0u8; SLOT * SLOTS]).map_err(io)?;
        file.sync_data().map_err(io)?;
        *next = 0;
        Ok(())
    }
}

/// The entries of a journal file, in order, up to the first empty slot.
fn parse(bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for slot in bytes.chunks(SLOT) {
        let text = String::from_utf8_lossy(slot);
        let Some((line, _)) = text.split_once('\n') else { break };
        let Some((action_id, provider_id)) = line.split_once('\t') else { break };
        if action_id.is_empty() {
            break;
        }
        entries.push(Entry { action_id: action_id.to_string(), provider_id: provider_id.to_string() });
    }
    entries
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
        journal.note(&sent).unwrap();
        journal.note(&hook).unwrap();
        drop(journal);
        let (journal, entries) = Journal::open(&path).unwrap();
        assert_eq!(entries, vec![sent, hook.clone()]);
        journal.note(&hook).unwrap(); // appended after the two it found
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
