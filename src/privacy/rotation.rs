//! Master-key rotation: every wrapped data key is re-wrapped with a new master key, crash-safe
//! and resumable (`qualifyd rotate-master-key`).
//!
//! The data keys themselves do not change, so nothing in the store is rewritten. The protocol,
//! in `keys/rotation/`:
//! 1. stage: each bucket re-wrapped with the new key, `index.key` (the contact-hashing secret
//!    in use, so keyed hashes and the suppression list keep matching) and a new `master.check`,
//!    each fsynced;
//! 2. commit: an empty `committed` file, fsynced with its directory. Before it, a crash leaves
//!    the old key in force (the staging is removed at the next open); after it, the new key is;
//! 3. apply: the staged files renamed over the live ones, `master.check` last, then the staging
//!    removed. [`finish`] does this step again, idempotently, at every open, so a crash during
//!    it only leaves work that the next start (with the new key) completes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Error;
use super::crypto::SecretKey;
use super::keystore::{self, CHECK_FILE, CHECK_TEXT, INDEX_FILE, KeyStore};

const STAGING: &str = "rotation";
const COMMITTED: &str = "committed";

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    /// Every data key is now wrapped by the new master key.
    Done { keys: usize, buckets: usize },
    /// A rotation to this new key had been committed and cut short: it is now complete.
    Resumed,
    /// The key directory already uses the new key: nothing was done.
    AlreadyDone,
}

/// Re-wraps every data key in `dir` (the daemon stopped) from `old` to `new`.
pub fn rotate(dir: &Path, old: &SecretKey, new: &SecretKey) -> Result<Rotated, Error> {
    if old == new {
        return Err(Error::SameMasterKey);
    }
    let new_wrap = keystore::wrap_key(new);
    if committed(dir) {
        finish(dir, &new_wrap)?;
        return Ok(Rotated::Resumed);
    }
    let store = match KeyStore::open(dir, old) {
        Ok(store) => store,
        Err(Error::WrongMasterKey { .. }) if KeyStore::open(dir, new).is_ok() => return Ok(Rotated::AlreadyDone),
        Err(e) => return Err(e),
    };
    let staging = dir.join(STAGING);
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| Error::io("removing an unfinished rotation", &staging, e))?;
    }
    fs::DirBuilder::new().mode(0o700).create(&staging).map_err(|e| Error::io("creating", &staging, e))?;
    let (mut keys, mut buckets) = (0, 0);
    for path in store.bucket_files()? {
        let text = fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        let mut lines = String::new();
        for (index, line) in text.lines().enumerate() {
            let key = store.unwrap_line(&path, index, line)?;
            let (id, _) = line.split_once(' ').unwrap_or_default();
            lines.push_str(&format!("{id} {}\n", STANDARD.encode(new_wrap.seal(&keystore::aad(id), key.as_bytes()))));
            keys += 1;
        }
        write_new(&staging.join(path.file_name().unwrap_or_default()), lines.as_bytes())?;
        buckets += 1;
    }
    let index = store.index_secret()?.unwrap_or_else(|| keystore::derived_index_secret(old));
    write_new(&staging.join(INDEX_FILE), &new_wrap.seal(INDEX_FILE.as_bytes(), index.as_bytes()))?;
    write_new(&staging.join(CHECK_FILE), &new_wrap.seal(CHECK_FILE.as_bytes(), CHECK_TEXT))?;
    sync_dir(&staging)?;
    drop(store);
    write_new(&staging.join(COMMITTED), b"")?;
    sync_dir(&staging)?;
    finish(dir, &new_wrap)?;
    Ok(Rotated::Done { keys, buckets })
}

fn committed(dir: &Path) -> bool {
    dir.join(STAGING).join(COMMITTED).exists()
}

/// Completes a committed rotation in `dir` when `wrap` (derived from the key given) is its new
/// key; refuses any other key without writing. An uncommitted staging is left to
/// [`remove_uncommitted`]. Returns whether there was a rotation to complete.
pub(super) fn finish(dir: &Path, wrap: &SecretKey) -> Result<bool, Error> {
    if !committed(dir) {
        return Ok(false);
    }
    let staging = dir.join(STAGING);
    let staged_check = staging.join(CHECK_FILE);
    let check = if staged_check.exists() { staged_check.clone() } else { dir.join(CHECK_FILE) };
    let sealed = fs::read(&check).map_err(|e| Error::io("reading", &check, e))?;
    if wrap.open(CHECK_FILE.as_bytes(), &sealed).as_deref() != Some(CHECK_TEXT) {
        return Err(Error::RotationPending { dir: dir.display().to_string() });
    }
    let mut staged: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(&staging).map_err(|e| Error::io("listing", &staging, e))? {
        let path = entry.map_err(|e| Error::io("listing", &staging, e))?.path();
        let name = path.file_name().unwrap_or_default();
        if name != COMMITTED && name != CHECK_FILE {
            staged.push(path);
        }
    }
    staged.sort();
    if staged_check.exists() {
        staged.push(staged_check);
    }
    for path in staged {
        let target = dir.join(path.file_name().unwrap_or_default());
        fs::rename(&path, &target).map_err(|e| Error::io("renaming over", &target, e))?;
    }
    sync_dir(dir)?;
    fs::remove_dir_all(&staging).map_err(|e| Error::io("removing", &staging, e))?;
    sync_dir(dir)?;
    tracing::info!("master-key rotation completed");
    Ok(true)
}

/// Removes the staging of a rotation that never committed (the old key stays in force).
pub(super) fn remove_uncommitted(dir: &Path) -> Result<(), Error> {
    let staging = dir.join(STAGING);
    if staging.exists() && !committed(dir) {
        fs::remove_dir_all(&staging).map_err(|e| Error::io("removing an unfinished rotation", &staging, e))?;
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("creating", path, e))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| Error::io("writing", path, e))
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("syncing", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::Vault;

    fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let bytes = if path.is_dir() { Vec::new() } else { fs::read(&path).unwrap() };
                (path.file_name().unwrap().to_string_lossy().into_owned(), bytes)
            })
            .collect();
        all.sort();
        all
    }

    #[test]
    fn a_rotation_rewraps_every_key_and_keeps_contact_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (SecretKey::generate(), SecretKey::generate());
        let vault = Vault::open(dir.path(), &old, None).unwrap();
        let ids: Vec<String> = (0..300).map(|i| format!("p_{i}")).collect();
        vault.create_keys(&ids.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        let sealed = vault.seal("p_7", b"k", b"Marie").unwrap();
        let hash = vault.blind("phone", "+33612345678");
        drop(vault);

        let Rotated::Done { keys, .. } = rotate(dir.path(), &old, &new).unwrap() else { panic!("rotated") };
        assert_eq!(keys, 300);
        assert!(matches!(Vault::open(dir.path(), &old, None), Err(Error::WrongMasterKey { .. })));
        let vault = Vault::open(dir.path(), &new, None).unwrap();
        assert_eq!(vault.open_envelope(b"k", &sealed).unwrap(), crate::privacy::Opened::Plain(b"Marie".to_vec()));
        assert_eq!(vault.blind("phone", "+33612345678"), hash, "the suppression list and indexes still match");
        drop(vault);
        assert_eq!(rotate(dir.path(), &old, &new).unwrap(), Rotated::AlreadyDone);
        assert!(!dir.path().join(STAGING).exists());
    }

    #[test]
    fn a_rotation_cut_short_is_resumed_and_a_wrong_key_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (SecretKey::generate(), SecretKey::generate());
        let vault = Vault::open(dir.path(), &old, None).unwrap();
        vault.create_keys(&["p_1", "p_2"]).unwrap();
        let sealed = vault.seal("p_1", b"k", b"x").unwrap();
        drop(vault);
        rotate(dir.path(), &old, &new).unwrap();
        // Replay a crash after the commit, before the renames: put a committed staging back.
        let staging = dir.path().join(STAGING);
        fs::create_dir(&staging).unwrap();
        for (name, bytes) in listing(dir.path()) {
            if name != STAGING {
                fs::write(staging.join(&name), bytes).unwrap();
            }
        }
        // The live files go back to the old key's state: only the staging holds the new one.
        let older = tempfile::tempdir().unwrap();
        let v = Vault::open(older.path(), &old, None).unwrap();
        drop(v);
        fs::write(dir.path().join(CHECK_FILE), fs::read(older.path().join(CHECK_FILE)).unwrap()).unwrap();
        fs::write(staging.join(COMMITTED), b"").unwrap();

        let before = listing(dir.path());
        let wrong = Vault::open(dir.path(), &SecretKey::generate(), None).unwrap_err();
        assert!(matches!(wrong, Error::RotationPending { .. }), "{wrong}");
        assert!(matches!(Vault::open(dir.path(), &old, None), Err(Error::RotationPending { .. })));
        assert_eq!(listing(dir.path()), before, "a refused key wrote nothing");

        let vault = Vault::open(dir.path(), &new, None).unwrap();
        assert_eq!(vault.open_envelope(b"k", &sealed).unwrap(), crate::privacy::Opened::Plain(b"x".to_vec()));
        assert!(!staging.exists(), "the start with the new key completed the rotation");
    }

    #[test]
    fn an_uncommitted_staging_is_dropped_and_the_old_key_stays() {
        let dir = tempfile::tempdir().unwrap();
        let old = SecretKey::generate();
        Vault::open(dir.path(), &old, None).unwrap().create_keys(&["p_1"]).unwrap();
        let staging = dir.path().join(STAGING);
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join("00.keys"), b"garbage\n").unwrap();
        assert!(Vault::open(dir.path(), &old, None).unwrap().has_key("p_1"));
        assert!(!staging.exists());
        assert!(matches!(rotate(dir.path(), &old, &old), Err(Error::SameMasterKey)));
    }
}
