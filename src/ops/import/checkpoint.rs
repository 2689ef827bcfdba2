//! Resuming an interrupted import: after every batch the daemon acknowledged, how far the run
//! got is written beside the CSV file (`FILE.csv.import-state`, replaced atomically). A new run
//! of the same file (same bytes, same workflow) starts after the last acknowledged batch; the
//! batch in flight at the interruption is sent again and the daemon answers `existing` for the
//! people it had already taken, so nobody is imported twice. The file is removed at the end.
//! It holds counts, line numbers and the daemon's rejection messages, no cell values.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Error;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// SHA-256 of the CSV file's bytes.
    pub file_sha256: String,
    pub workflow: String,
    /// Valid rows the daemon answered, in file order.
    pub done: usize,
    pub created: usize,
    pub existing: usize,
    pub suppressed: Vec<u64>,
    /// (line, the daemon's reason).
    pub rejected: Vec<(u64, String)>,
}

pub fn path_for(csv: &Path) -> PathBuf {
    let mut name = csv.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".import-state");
    csv.with_file_name(name)
}

pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The checkpoint of an earlier run of this file into this workflow, if any.
pub fn load(path: &Path, file_sha256: &str, workflow: &str) -> Result<Option<Checkpoint>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Read { path: path.display().to_string(), source }),
    };
    let checkpoint: Checkpoint = serde_json::from_str(&text).map_err(|err| {
        Error::Usage(format!(
            "{}: the progress file of an earlier run does not read ({err}); delete it to import from the start",
            path.display()
        ))
    })?;
    if checkpoint.file_sha256 != file_sha256 || checkpoint.workflow != workflow {
        return Err(Error::Usage(format!(
            "{}: an earlier import of a different version of this file (or into another workflow) was interrupted; \
             delete it to import this file from the start (people already imported answer `existing`)",
            path.display()
        )));
    }
    Ok(Some(checkpoint))
}

/// Writes the checkpoint (temporary file, then rename: never half-written).
pub fn save(path: &Path, checkpoint: &Checkpoint) -> Result<(), Error> {
    let temporary = path.with_extension("import-state.tmp");
    let text = serde_json::to_string(checkpoint).unwrap_or_default();
    let write = |source| Error::Write { path: path.display().to_string(), source };
    std::fs::write(&temporary, text).map_err(write)?;
    std::fs::rename(&temporary, path).map_err(write)
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_resumes_only_the_same_file_and_workflow() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("leads.csv");
        let path = path_for(&csv);
        assert_eq!(path.file_name().unwrap(), "leads.csv.import-state");
        assert_eq!(load(&path, "abc", "w").unwrap(), None);
        let checkpoint = Checkpoint { file_sha256: "abc".into(), workflow: "w".into(), done: 3, ..Default::default() };
        save(&path, &checkpoint).unwrap();
        assert_eq!(load(&path, "abc", "w").unwrap(), Some(checkpoint));
        assert!(load(&path, "abd", "w").unwrap_err().to_string().contains("delete it"));
        remove(&path);
        assert_eq!(load(&path, "abc", "w").unwrap(), None);
    }
}
