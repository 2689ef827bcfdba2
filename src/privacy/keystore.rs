//! The data-key store: one 256-bit key per data subject (a prospect, an unmatched message),
//! wrapped by the master key, kept in 256 small bucket files under `keys/` — never in sled,
//! whose log segments keep removed values for an unbounded time.
//!
//! A subject's bucket is the first byte of SHA-256 of its id (`keys/3f.keys`). A bucket file is
//! lines of `<id> <base64(nonce || wrapped key || tag)>`, the id authenticated with the key.
//! - A new key is appended to its bucket and fsynced before any record sealed with it is
//!   written, so a durable record always has a durable key. Cheap: imports only append, the
//!   buckets a batch touched are synced several at once, and concurrent creators sync outside
//!   the file lock (their syncs share journal commits). An append or sync that fails (a full
//!   disk) is cut back off the file and its ids freed, so the bucket stays as it was and they
//!   can be created again.
//! - Destroying a key rewrites only its bucket without it (temporary file, fsync, rename, fsync
//!   of the directory), so the wrapped key's bytes are no longer in any file: records sealed
//!   with it, wherever sled left them, cannot be read again.
//! - `master.check` holds a value sealed with the master key, so a wrong key is refused at start
//!   instead of wrapping new keys with it.
//!
//! Every key is unwrapped into memory at start (about 100 bytes per subject).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::Error;
use super::crypto::{KEY_LEN, SecretKey};

pub(super) const CHECK_FILE: &str = "master.check";
pub(super) const CHECK_TEXT: &[u8] = b"qualifyd master key check v1";
/// The contact-hashing secret, wrapped, once a rotation has made it independent of the master
/// key (before, it is derived from the master key).
pub(super) const INDEX_FILE: &str = "index.key";
const WRAP_AAD: &[u8] = b"qualifyd/data-key/v1\0";

/// The key that wraps data keys, derived from the master key.
pub(super) fn wrap_key(master: &SecretKey) -> SecretKey {
    master.derive("qualifyd/wrap/v1")
}

/// The contact-hashing secret of a key directory that was never rotated.
pub(super) fn derived_index_secret(master: &SecretKey) -> SecretKey {
    master.derive("qualifyd/index/v1")
}

pub struct KeyStore {
    dir: PathBuf,
    /// Wraps and unwraps data keys (derived from the master key).
    wrap: SecretKey,
    keys: RwLock<HashMap<String, SecretKey>>,
    /// Serialises appends and rewrites of bucket files.
    files: Mutex<()>,
    /// Ids whose new key is written but not yet durable.
    creating: Mutex<HashSet<String>>,
}

impl KeyStore {
    /// Opens (or creates) the key store in `dir` and unwraps every key with `master`.
    pub fn open(dir: &Path, master: &SecretKey) -> Result<KeyStore, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("creating the key directory", dir, e))?;
        let store = KeyStore {
            dir: dir.to_path_buf(),
            wrap: wrap_key(master),
            keys: RwLock::new(HashMap::new()),
            files: Mutex::new(()),
            creating: Mutex::new(HashSet::new()),
        };
        let mut buckets = Vec::new();
        let mut leftovers = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))? {
            let path = entry.map_err(|e| Error::io("listing", dir, e))?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("keys") => buckets.push(path),
                Some("tmp") => leftovers.push(path),
                _ => {}
            }
        }
        buckets.sort();
        // Nothing in the directory is written before the master key is known to be the right one.
        super::rotation::finish(dir, &store.wrap)?;
        store.check_master(&buckets)?;
        super::rotation::remove_uncommitted(dir)?;
        for path in leftovers {
            // A rewrite interrupted by a crash: the bucket itself is intact (rename is atomic).
            fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
        }
        let mut keys = HashMap::new();
        for path in buckets {
            store.load_bucket(&path, &mut keys)?;
        }
        *store.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(store)
    }

    /// Verifies the master key before anything is written: against `master.check`, or when that
    /// file is missing (an older store, a partial restore) against the wrapped keys themselves.
    /// The check file is recreated only once a wrapped key has opened with this key: a wrong key
    /// never changes the directory.
    fn check_master(&self, buckets: &[PathBuf]) -> Result<(), Error> {
        let path = self.dir.join(CHECK_FILE);
        match fs::read(&path) {
            Ok(sealed) => match self.wrap.open(CHECK_FILE.as_bytes(), &sealed) {
                Some(text) if text == CHECK_TEXT => Ok(()),
                _ => Err(Error::WrongMasterKey { dir: self.dir.display().to_string() }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some((id, wrapped)) = first_wrapped_key(buckets)? {
                    if self.wrap.open(&aad(&id), &wrapped).is_none() {
                        return Err(Error::WrongMasterKey { dir: self.dir.display().to_string() });
                    }
                    tracing::warn!(dir = %self.dir.display(), "the key directory had no master.check file: recreated it");
                }
                self.replace(&path, &self.wrap.seal(CHECK_FILE.as_bytes(), CHECK_TEXT))
            }
            Err(e) => Err(Error::io("reading", &path, e)),
        }
    }

    fn load_bucket(&self, path: &Path, keys: &mut HashMap<String, SecretKey>) -> Result<(), Error> {
        let mut text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        if !text.is_empty() && !text.ends_with('\n') {
            // An append cut short by a crash: that key was never acknowledged nor used.
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            text.truncate(keep);
            self.replace(path, text.as_bytes())?;
        }
        for (index, line) in text.lines().enumerate() {
            let key = self.unwrap_line(path, index, line)?;
            let (id, _) = line.split_once(' ').unwrap_or_default();
            keys.insert(id.to_string(), key);
        }
        Ok(())
    }

    /// The data key of line `index` (0-based) of the bucket `path`.
    pub(super) fn unwrap_line(&self, path: &Path, index: usize, line: &str) -> Result<SecretKey, Error> {
        let corrupt = |reason: &str| Error::CorruptKeyFile {
            path: path.display().to_string(),
            line: index + 1,
            reason: reason.to_string(),
        };
        let (id, wrapped) = line.split_once(' ').ok_or_else(|| corrupt("expected `<id> <wrapped key>`"))?;
        let wrapped = STANDARD.decode(wrapped).map_err(|_| corrupt("the wrapped key is not base64"))?;
        let bytes = self.wrap.open(&aad(id), &wrapped).ok_or_else(|| corrupt("the wrapped key does not open"))?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| corrupt("the key has the wrong length"))?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// The bucket files, in name order.
    pub(super) fn bucket_files(&self) -> Result<Vec<PathBuf>, Error> {
        let mut buckets = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io("listing", &self.dir, e))? {
            let path = entry.map_err(|e| Error::io("listing", &self.dir, e))?.path();
            if path.extension().is_some_and(|e| e == "keys") {
                buckets.push(path);
            }
        }
        buckets.sort();
        Ok(buckets)
    }

    /// The contact-hashing secret kept by a past rotation, if any.
    pub(super) fn index_secret(&self) -> Result<Option<SecretKey>, Error> {
        let path = self.dir.join(INDEX_FILE);
        let sealed = match fs::read(&path) {
            Ok(sealed) => sealed,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading", &path, e)),
        };
        let corrupt = || Error::CorruptKeyFile {
            path: path.display().to_string(),
            line: 1,
            reason: "the contact-hashing secret does not open".to_string(),
        };
        let bytes = self.wrap.open(INDEX_FILE.as_bytes(), &sealed).ok_or_else(corrupt)?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| corrupt())?;
        Ok(Some(SecretKey::from_bytes(bytes)))
    }

    pub fn get(&self, id: &str) -> Option<SecretKey> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Creates a key for each id that has none, durably: one append per bucket under the file
    /// lock, then the fsyncs outside it, so that concurrent creators share the disk's journal
    /// commits instead of queueing behind each other. A key is usable once it is durable.
    pub fn create(&self, ids: &[&str]) -> Result<(), Error> {
        let (fresh, others, files) = {
            let _files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            let mut fresh: BTreeMap<u8, Vec<(String, SecretKey)>> = BTreeMap::new();
            let mut others = Vec::new();
            for id in ids.iter().copied() {
                if self.contains(id) {
                    continue;
                }
                if creating.contains(id) {
                    others.push(id.to_string());
                    continue;
                }
                check_id(id)?;
                creating.insert(id.to_string());
                fresh.entry(bucket(id)).or_default().push((id.to_string(), SecretKey::generate()));
            }
            let mut files = Vec::new();
            for (bucket, entries) in &fresh {
                let mut lines = String::new();
                for (id, key) in entries {
                    let wrapped = self.wrap.seal(&aad(id), key.as_bytes());
                    lines.push_str(&format!("{id} {}\n", STANDARD.encode(wrapped)));
                }
                match self.append(&self.bucket_path(*bucket), lines.as_bytes()) {
                    Ok(appended) => files.push(appended),
                    Err(err) => {
                        self.abandon(&mut creating, &fresh, &files);
                        return Err(err);
                    }
                }
            }
            (fresh, others, files)
        };
        let mut synced = sync_all(&files);
        if synced.is_ok() && files.iter().any(|appended| appended.created) {
            synced = self.sync_dir();
        }
        if let Err(err) = synced {
            let _files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            self.abandon(&mut creating, &fresh, &files);
            return Err(err);
        }
        {
            // Lock order everywhere: `files`, then `creating`, then `keys`.
            let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
            for (id, key) in fresh.into_values().flatten() {
                creating.remove(&id);
                keys.insert(id, key);
            }
        }
        // Another caller is creating these: wait until theirs is durable.
        for id in others {
            let started = std::time::Instant::now();
            while !self.contains(&id) {
                if started.elapsed() > std::time::Duration::from_secs(10) {
                    return Err(Error::io(
                        "creating the data key of",
                        Path::new(&id),
                        std::io::ErrorKind::TimedOut.into(),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        Ok(())
    }

    /// Drops the keys from memory at once (nothing can be sealed or opened with them any more);
    /// [`KeyStore::destroy`] then removes them from the files.
    pub fn forget(&self, ids: &[String]) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            keys.remove(id);
        }
    }

    /// Removes the keys from memory and rewrites their buckets without them. Idempotent.
    pub fn destroy(&self, ids: &[String]) -> Result<(), Error> {
        self.forget(ids);
        let _files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_bucket: BTreeMap<u8, HashSet<&str>> = BTreeMap::new();
        for id in ids {
            by_bucket.entry(bucket(id)).or_default().insert(id);
        }
        for (bucket, doomed) in by_bucket {
            let path = self.bucket_path(bucket);
            let text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("reading", &path, e)),
            };
            let kept: String = text
                .lines()
                .filter(|line| !line.split_once(' ').is_some_and(|(id, _)| doomed.contains(id)))
                .map(|line| format!("{line}\n"))
                .collect();
            if kept.len() != text.len() {
                self.replace(&path, kept.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Copies every bucket file and `master.check` into `to` (created, private) under the file
    /// lock, so no append or rewrite is copied half-done. The master key is not in this
    /// directory and is never copied. Returns how many files were copied.
    pub fn copy_to(&self, to: &Path) -> Result<usize, Error> {
        let _files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        fs::DirBuilder::new().recursive(true).mode(0o700).create(to).map_err(|e| Error::io("creating", to, e))?;
        let mut copied = 0;
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io("listing", &self.dir, e))? {
            let path = entry.map_err(|e| Error::io("listing", &self.dir, e))?.path();
            let wanted = path.extension().is_some_and(|e| e == "keys")
                || path.file_name().is_some_and(|n| n == CHECK_FILE || n == INDEX_FILE);
            if !wanted {
                continue;
            }
            let target = to.join(path.file_name().unwrap_or_default());
            fs::copy(&path, &target).map_err(|e| Error::io("copying", &path, e))?;
            File::open(&target).and_then(|f| f.sync_all()).map_err(|e| Error::io("syncing", &target, e))?;
            copied += 1;
        }
        Ok(copied)
    }

    fn bucket_path(&self, bucket: u8) -> PathBuf {
        self.dir.join(format!("{bucket:02x}.keys"))
    }

    /// Appends `bytes` to `path` (created 0600 if missing), not yet synced. A failed write (a full
    /// disk) is rolled back: the file is cut back to its length before, so no torn line is left
    /// in front of later keys.
    fn append(&self, path: &Path, bytes: &[u8]) -> Result<Appended, Error> {
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io("opening", path, e))?;
        let before = file.metadata().map_err(|e| Error::io("reading the size of", path, e))?.len();
        if let Err(e) = file.write_all(bytes) {
            let _ = file.set_len(before).and_then(|()| file.sync_data());
            return Err(Error::io("appending to", path, e));
        }
        Ok(Appended { path: path.to_path_buf(), file, created: !existed, before })
    }

    /// Undoes a creation that failed: the appended lines are cut off again (their keys were never
    /// used) and the ids may be created anew. Called under the `files` and `creating` locks.
    fn abandon(
        &self,
        creating: &mut HashSet<String>,
        fresh: &BTreeMap<u8, Vec<(String, SecretKey)>>,
        files: &[Appended],
    ) {
        for appended in files {
            if let Err(e) = appended.file.set_len(appended.before).and_then(|()| appended.file.sync_data()) {
                tracing::warn!(file = %appended.path.display(), error = %e, "cutting back a failed key append; the next start drops the unused keys");
            }
        }
        for (id, _) in fresh.values().flatten() {
            creating.remove(id);
        }
    }

    /// Replaces `path` atomically and durably with `bytes`.
    fn replace(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let temporary = path.with_extension("tmp");
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| Error::io("creating", &temporary, e))?;
        file.write_all(bytes).map_err(|e| Error::io("writing", &temporary, e))?;
        file.sync_all().map_err(|e| Error::io("syncing", &temporary, e))?;
        fs::rename(&temporary, path).map_err(|e| Error::io("renaming over", path, e))?;
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<(), Error> {
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("syncing", &self.dir, e))
    }
}

/// The first complete `<id> <wrapped key>` line of the buckets, if any holds one.
fn first_wrapped_key(buckets: &[PathBuf]) -> Result<Option<(String, Vec<u8>)>, Error> {
    for path in buckets {
        let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.lines() {
            if let Some((id, wrapped)) = line.split_once(' ')
                && let Ok(bytes) = STANDARD.decode(wrapped)
            {
                return Ok(Some((id.to_string(), bytes)));
            }
        }
    }
    Ok(None)
}

/// Files synced at once by [`sync_all`].
const SYNC_THREADS: usize = 16;

/// Syncs every appended bucket file, several at once: a batch of new keys touches up to 256
/// buckets, and one `fdatasync` after another costs a journal commit each (an import of 1,000
/// people spent 0.1-0.5 s here per batch), while concurrent ones share the commits.
fn sync_all(files: &[Appended]) -> Result<(), Error> {
    let sync = |chunk: &[Appended]| -> Result<(), Error> {
        chunk.iter().try_for_each(|a| a.file.sync_data().map_err(|e| Error::io("syncing", &a.path, e)))
    };
    if files.len() <= 1 {
        return sync(files);
    }
    let per_thread = files.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|scope| {
        let syncing: Vec<_> = files.chunks(per_thread).map(|chunk| scope.spawn(move || sync(chunk))).collect();
        syncing.into_iter().try_for_each(|thread| match thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    })
}

/// A bucket file appended to and not yet synced.
struct Appended {
    path: PathBuf,
    file: File,
    created: bool,
    /// Its length before the append.
    before: u64,
}

fn bucket(id: &str) -> u8 {
    Sha256::digest(id.as_bytes())[0]
}

pub(super) fn aad(id: &str) -> Vec<u8> {
    [WRAP_AAD, id.as_bytes()].concat()
}

/// Ids are written in a line-oriented file: no spaces, no line breaks.
fn check_id(id: &str) -> Result<(), Error> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::InvalidSubject { id: id.escape_debug().to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                (path.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&path).unwrap())
            })
            .collect();
        all.sort();
        all
    }

    #[test]
    fn keys_survive_a_reopen_and_destroyed_ones_leave_no_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let master = SecretKey::generate();
        let store = KeyStore::open(dir.path(), &master).unwrap();
        store.create(&["p_1", "p_2", "p_1", "u_9"]).unwrap();
        assert_eq!(store.len(), 3);
        let (one, two) = (store.get("p_1").unwrap(), store.get("p_2").unwrap());
        drop(store);

        let store = KeyStore::open(dir.path(), &master).unwrap();
        assert_eq!((store.get("p_1"), store.get("p_2")), (Some(one.clone()), Some(two)));
        store.destroy(&["p_1".to_string(), "p_404".to_string()]).unwrap();
        assert!(!store.contains("p_1") && store.contains("p_2"));
        let wrapped_one = |bytes: &[u8]| String::from_utf8_lossy(bytes).contains("p_1 ");
        assert!(!files(dir.path()).iter().any(|(_, bytes)| wrapped_one(bytes)));
        drop(store);
        let store = KeyStore::open(dir.path(), &master).unwrap();
        assert_eq!(store.get("p_1"), None);
        assert!(store.contains("p_2") && store.contains("u_9"));
        assert!(files(dir.path()).iter().all(|(name, _)| !name.ends_with(".tmp")));
    }

    #[test]
    fn a_batch_of_keys_over_every_bucket_is_durable_whole() {
        let dir = tempfile::tempdir().unwrap();
        let master = SecretKey::generate();
        let store = KeyStore::open(dir.path(), &master).unwrap();
        let ids: Vec<String> = (0..2000).map(|i| format!("p_{i:04}")).collect();
        store.create(&ids.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        let buckets = files(dir.path()).iter().filter(|(name, _)| name.ends_with(".keys")).count();
        assert_eq!(buckets, 256, "2,000 ids land in every bucket");
        let keys: Vec<SecretKey> = ids.iter().map(|id| store.get(id).unwrap()).collect();
        drop(store);
        let store = KeyStore::open(dir.path(), &master).unwrap();
        assert_eq!(store.len(), ids.len());
        assert!(ids.iter().zip(&keys).all(|(id, key)| store.get(id).as_ref() == Some(key)));
    }

    #[test]
    fn a_wrong_master_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        KeyStore::open(dir.path(), &SecretKey::generate()).unwrap().create(&["p_1"]).unwrap();
        let error = KeyStore::open(dir.path(), &SecretKey::generate()).err().unwrap();
        assert!(matches!(error, Error::WrongMasterKey { .. }), "{error}");
    }

    #[test]
    fn without_its_check_file_a_wrong_key_changes_nothing_and_the_right_one_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let master = SecretKey::generate();
        KeyStore::open(dir.path(), &master).unwrap().create(&["p_1", "p_2"]).unwrap();
        fs::remove_file(dir.path().join(CHECK_FILE)).unwrap();
        fs::write(dir.path().join("00.tmp"), b"left by a crash").unwrap();
        let before = files(dir.path());
        let error = KeyStore::open(dir.path(), &SecretKey::generate()).err().unwrap();
        assert!(matches!(error, Error::WrongMasterKey { .. }), "{error}");
        assert!(!error.to_string().contains(".keys"), "the message names no bucket file: {error}");
        assert_eq!(files(dir.path()), before, "a wrong key wrote nothing");
        let store = KeyStore::open(dir.path(), &master).unwrap();
        assert!(store.contains("p_1") && dir.path().join(CHECK_FILE).exists());
        assert!(!dir.path().join("00.tmp").exists());
    }

    #[test]
    fn a_torn_append_is_dropped_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let master = SecretKey::generate();
        KeyStore::open(dir.path(), &master).unwrap().create(&["p_1"]).unwrap();
        let bucket = dir.path().join(format!("{:02x}.keys", bucket("p_1")));
        fs::OpenOptions::new().append(true).open(&bucket).unwrap().write_all(b"p_2 AAAA").unwrap();
        let store = KeyStore::open(dir.path(), &master).unwrap();
        assert!(store.contains("p_1") && !store.contains("p_2"));
        store.create(&["p_2"]).unwrap();
        assert!(KeyStore::open(dir.path(), &master).unwrap().contains("p_2"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&bucket).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(store.create(&["a b"]), Err(Error::InvalidSubject { .. })));
    }

    /// A full disk: appends fail part-way. The bucket must be left as it was (no torn line before
    /// later keys), the failed id creatable again once there is space, and the store must open.
    #[test]
    fn a_failed_append_leaves_the_bucket_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk");
        fs::create_dir_all(&disk).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&disk)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIP keystore full disk: cannot mount a tmpfs here");
            return;
        }
        let result = std::panic::catch_unwind(|| {
            let master = SecretKey::generate();
            let keys = disk.join("keys");
            let store = KeyStore::open(&keys, &master).unwrap();
            let target = bucket("p_0");
            let mut ids = (0..).map(|n| format!("p_{n}")).filter(|id| bucket(id) == target);
            let first = ids.next().unwrap();
            store.create(&[first.as_str()]).unwrap();
            let filler = disk.join("filler");
            let mut file = File::create(&filler).unwrap();
            while file.write_all(&[0u8; 512]).is_ok() {}
            while file.write_all(&[0u8; 1]).is_ok() {}
            let mut created = vec![first];
            let failed = loop {
                let id = ids.next().unwrap();
                match store.create(&[id.as_str()]) {
                    Ok(()) => created.push(id),
                    Err(_) => break id,
                }
                assert!(created.len() < 500, "appends never failed on a full disk");
            };
            drop(file);
            fs::remove_file(&filler).unwrap();
            store.create(&[failed.as_str()]).unwrap();
            let later = ids.next().unwrap();
            store.create(&[later.as_str()]).unwrap();
            drop(store);
            let store = KeyStore::open(&keys, &master).unwrap();
            for id in created.iter().chain([&failed, &later]) {
                assert!(store.contains(id), "{id} lost");
            }
        });
        let _ = std::process::Command::new("umount").arg("-l").arg(&disk).status();
        result.unwrap();
    }
}
