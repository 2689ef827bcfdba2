//! `qualifyd compact`: rewrites the sled store into fresh files, so that nothing removed from it
//! survives on disk. sled appends: a removed or overwritten value (an erased person's contact
//! hashes, a value from before a rectification) stays in old log segments until sled reuses
//! them, for an unbounded time. Copying only the live key/value pairs into a new store and
//! swapping directories leaves no old segment behind.
//!
//! The daemon must be stopped (sled holds an exclusive lock on the store; a running daemon makes
//! this fail with a clear error). Crash-safe: the copy is built aside in `store.compacting`,
//! flushed, then swapped in by two renames; a run cut short is finished or discarded by the next.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Error;

/// What a compaction did.
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub entries: u64,
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    dir.with_file_name(name)
}

fn io(doing: &str, path: &Path, err: std::io::Error) -> Error {
    Error::Backend(format!("{doing} {}: {err}", path.display()))
}

/// Bytes of every file under `dir`.
pub fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else { continue };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => pending.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Finishes or discards what an earlier run left: a swapped-out old store is removed; a fully
/// built copy whose swap did not happen is moved in when the store itself is missing.
fn recover(dir: &Path, aside: &Path, old: &Path) -> Result<(), Error> {
    if !dir.exists() && old.exists() && aside.exists() {
        std::fs::rename(aside, dir).map_err(|e| io("moving in the compacted store", aside, e))?;
    }
    if old.exists() {
        std::fs::remove_dir_all(old).map_err(|e| io("removing the old store", old, e))?;
    }
    if aside.exists() {
        std::fs::remove_dir_all(aside).map_err(|e| io("removing an unfinished copy", aside, e))?;
    }
    Ok(())
}

/// Rewrites the store in `dir` (see the module docs).
pub fn compact(dir: &Path) -> Result<CompactReport, Error> {
    let (aside, old) = (sibling(dir, ".compacting"), sibling(dir, ".old"));
    recover(dir, &aside, &old)?;
    if !dir.exists() {
        return Err(Error::Backend(format!("there is no store in {}: check `data_dir`", dir.display())));
    }
    let bytes_before = disk_bytes(dir);
    let entries = {
        let source = sled::Config::new().path(dir).open().map_err(|e| {
            Error::Backend(format!(
                "opening the store in {} ({e}): stop the daemon first, compaction needs the store to itself",
                dir.display()
            ))
        })?;
        let target = sled::Config::new()
            .path(&aside)
            .create_new(true)
            .open()
            .map_err(|e| Error::Backend(format!("creating the copy in {}: {e}", aside.display())))?;
        let mut entries = 0;
        for name in source.tree_names() {
            let (from, to) = (
                source.open_tree(&name).map_err(|e| Error::Backend(format!("reading the store: {e}")))?,
                target.open_tree(&name).map_err(|e| Error::Backend(format!("writing the copy: {e}")))?,
            );
            for item in from.iter() {
                let (key, value) = item.map_err(|e| Error::Backend(format!("reading the store: {e}")))?;
                to.insert(key, value).map_err(|e| Error::Backend(format!("writing the copy: {e}")))?;
                entries += 1;
            }
        }
        target.flush().map_err(|e| Error::Backend(format!("flushing the copy: {e}")))?;
        entries
    };
    std::fs::rename(dir, &old).map_err(|e| io("moving aside the old store", dir, e))?;
    std::fs::rename(&aside, dir).map_err(|e| io("moving in the compacted store", &aside, e))?;
    std::fs::remove_dir_all(&old).map_err(|e| io("removing the old store", &old, e))?;
    Ok(CompactReport { bytes_before, bytes_after: disk_bytes(dir), entries })
}
