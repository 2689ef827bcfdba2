//! `qualifyd backup` and `qualifyd restore`: a consistent copy of a data directory, online
//! (the running daemon writes it, `POST /v1/backup`) or offline (the command opens the store
//! itself), and a new data directory made from one.
//!
//! A backup directory holds `store.records` (every record as stored: sealed personal data
//! stays sealed), `keys/` (the wrapped data keys and `master.check`, which tells whether a
//! master key is the right one) and `manifest.json`, written last: a directory without it is
//! an unfinished backup and is refused. The master key is never in a backup: keep it apart
//! (a secret store, an environment variable), since whoever has both can read the data.
//! Consistency: see `SledStore::snapshot` (the write lock is held while the records and the key
//! files are copied, so no batch is half in and every record has its key).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::settings::Settings;
use crate::store::{SledStore, Store};

const RECORDS: &str = "store.records";
const MANIFEST: &str = "manifest.json";
const KEYS: &str = "keys";
/// The layout of a backup directory this build writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{doing} {path}: {source}")]
    Io { doing: &'static str, path: String, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Privacy(#[from] crate::privacy::Error),
}

fn io<'a>(doing: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { doing, path: path.display().to_string(), source }
}

/// What a backup holds, written last into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub qualifyd_version: String,
    pub schema_version: u32,
    pub created_at: DateTime<Utc>,
    /// `online` (written by the running daemon) or `offline`.
    pub mode: String,
    pub records: u64,
    pub key_files: usize,
    /// SHA-256 of `store.records`.
    pub records_sha256: String,
}

/// Writes a backup of `store` into `out`, which must not exist or be empty. Blocking.
pub fn write(store: &SledStore, out: &Path, mode: &str) -> Result<Manifest, Error> {
    if out.exists() && std::fs::read_dir(out).map_err(io("listing", out))?.next().is_some() {
        return Err(Error::Refused(format!(
            "{} is not empty: back up into a new directory (a backup never overwrites another)",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(io("creating", out))?;
    let path = out.join(RECORDS);
    let file = File::create(&path).map_err(io("creating", &path))?;
    let mut writer = Hashing { inner: BufWriter::new(file), hash: Sha256::new() };
    let stats = store.snapshot(&out.join(KEYS), |key, value| {
        let mut frame = |bytes: &[u8]| {
            writer.write_all(&(bytes.len() as u32).to_be_bytes())?;
            writer.write_all(bytes)
        };
        frame(key)
            .and_then(|_| frame(value))
            .map_err(|e| crate::store::Error::Backend(format!("writing {}: {e}", path.display())))
    })?;
    let file = writer.inner.into_inner().map_err(|e| Error::Io {
        doing: "writing",
        path: path.display().to_string(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io("syncing", &path))?;
    let manifest = Manifest {
        format: FORMAT,
        qualifyd_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: crate::store::SCHEMA_VERSION,
        created_at: Utc::now(),
        mode: mode.to_string(),
        records: stats.records,
        key_files: stats.key_files,
        records_sha256: hex(&writer.hash.finalize()),
    };
    let path = out.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    File::open(&path).and_then(|f| f.sync_all()).map_err(io("syncing", &path))?;
    tracing::info!(records = manifest.records, key_files = manifest.key_files, mode, "backup written");
    Ok(manifest)
}

/// Reads and checks a backup's manifest and the checksum of its records.
pub fn verify(backup: &Path) -> Result<Manifest, Error> {
    let path = backup.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Refused(format!(
            "{} has no {MANIFEST}: it is not a qualifyd backup, or the backup did not finish",
            backup.display()
        )),
        _ => Error::Io { doing: "reading", path: path.display().to_string(), source: e },
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::Refused(format!("{}: not a backup manifest this version reads: {e}", path.display())))?;
    if manifest.format != FORMAT || manifest.schema_version != crate::store::SCHEMA_VERSION {
        return Err(Error::Refused(format!(
            "{} is backup format {} of store schema {}; this build reads format {FORMAT}, schema {}: restore it with \
             qualifyd {}",
            backup.display(),
            manifest.format,
            manifest.schema_version,
            crate::store::SCHEMA_VERSION,
            manifest.qualifyd_version
        )));
    }
    let mut hash = Sha256::new();
    let path = backup.join(RECORDS);
    let mut file = File::open(&path).map_err(io("opening", &path))?;
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(io("reading", &path))?;
        if read == 0 {
            break;
        }
        hash.update(&buffer[..read]);
    }
    if hex(&hash.finalize()) != manifest.records_sha256 {
        return Err(Error::Refused(format!("{} does not match its checksum: the backup is damaged", path.display())));
    }
    Ok(manifest)
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub manifest: Manifest,
    pub data_dir: PathBuf,
    pub prospects: usize,
}

/// Makes `settings.data_dir` (new or empty) from `backup`: checks the backup, copies the keys
/// and checks the configured master key against them before writing any record, writes the
/// records, then opens the result as the daemon would. Blocking; nothing is left behind on
/// failure.
pub fn restore(backup: &Path, settings: &Settings) -> Result<Restored, Error> {
    let manifest = verify(backup)?;
    let data_dir = settings.data_dir.clone();
    let keys = data_dir.join(KEYS);
    let store_dir = data_dir.join("store");
    if keys.exists() || store_dir.exists() {
        return Err(Error::Refused(format!(
            "{} already holds a store or keys: restore into a new data directory, then point `data_dir` at it",
            data_dir.display()
        )));
    }
    let outcome = fill(backup, settings, &keys, &store_dir);
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(&keys);
        let _ = std::fs::remove_dir_all(&store_dir);
    }
    let prospects = outcome?;
    tracing::info!(records = manifest.records, prospects, "backup restored");
    Ok(Restored { manifest, data_dir, prospects })
}

fn fill(backup: &Path, settings: &Settings, keys: &Path, store_dir: &Path) -> Result<usize, Error> {
    std::fs::create_dir_all(keys).map_err(io("creating", keys))?;
    let from = backup.join(KEYS);
    for entry in std::fs::read_dir(&from).map_err(io("listing", &from))? {
        let path = entry.map_err(io("listing", &from))?.path();
        std::fs::copy(&path, keys.join(path.file_name().unwrap_or_default())).map_err(io("copying", &path))?;
    }
    let master = crate::privacy::master::load(&settings.privacy.master_key, &settings.data_dir)?;
    let secret = settings.privacy.suppression_secret.as_ref().map(|s| s.expose().as_bytes());
    crate::privacy::Vault::open(keys, &master, secret).map_err(|e| {
        Error::Refused(format!(
            "{e}: restore with the master key the backup was made with (QUALIFYD_MASTER_KEY, or for the development \
             key, copy master.key from the old data directory into the new one first)"
        ))
    })?;
    let path = backup.join(RECORDS);
    let reader = BufReader::new(File::open(&path).map_err(io("opening", &path))?);
    SledStore::restore(store_dir, settings.store.cache_capacity_bytes, Frames { reader, path: path.clone() })?;
    let vault = crate::privacy::Vault::open(keys, &master, secret)?;
    let store = SledStore::open_with(store_dir, settings.store.cache_capacity_bytes, vault)?;
    let prospects = store.count_prospects()?;
    store.flush()?;
    Ok(prospects)
}

/// The (key, value) pairs of `store.records`.
struct Frames {
    reader: BufReader<File>,
    path: PathBuf,
}

impl Frames {
    fn frame(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut length = [0u8; 4];
        match self.reader.read_exact(&mut length) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut bytes = vec![0; u32::from_be_bytes(length) as usize];
        self.reader.read_exact(&mut bytes)?;
        Ok(Some(bytes))
    }
}

impl Iterator for Frames {
    type Item = Result<(Vec<u8>, Vec<u8>), crate::store::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let path = self.path.display().to_string();
        let damaged = move |e: std::io::Error| crate::store::Error::Backend(format!("reading {path}: {e}"));
        let key = match self.frame() {
            Ok(Some(key)) => key,
            Ok(None) => return None,
            Err(e) => return Some(Err(damaged(e))),
        };
        Some(match self.frame() {
            Ok(Some(value)) => Ok((key, value)),
            Ok(None) => Err(damaged(std::io::ErrorKind::UnexpectedEof.into())),
            Err(e) => Err(damaged(e)),
        })
    }
}

struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hash.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_restores_into_a_new_directory_and_only_there() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::development(&dir.path().join("data"));
        std::fs::create_dir_all(&settings.data_dir).unwrap();
        let store = crate::ops::open_store(&settings).unwrap();
        let mut batch = crate::store::Batch::new();
        batch.push(crate::store::Op::PutMeta { key: "k".into(), value: "v".into() });
        store.apply(batch).unwrap();
        let out = dir.path().join("backup");
        let manifest = write(&store, &out, "offline").unwrap();
        assert!(manifest.records >= 2 && manifest.key_files >= 1, "{manifest:?}");
        assert!(!out.join("keys").join("master.key").exists() && !out.join("master.key").exists());
        assert!(write(&store, &out, "offline").unwrap_err().to_string().contains("is not empty"));
        drop(store);

        let mut target = Settings::development(&dir.path().join("restored"));
        std::fs::create_dir_all(&target.data_dir).unwrap();
        // The development master key of the first directory, as docs/operations.md says.
        std::fs::copy(settings.data_dir.join("master.key"), target.data_dir.join("master.key")).unwrap();
        let restored = restore(&out, &target).unwrap();
        assert_eq!(restored.manifest, manifest);
        let again = restore(&out, &target).unwrap_err().to_string();
        assert!(again.contains("already holds a store"), "{again}");
        let store = crate::ops::open_store(&target).unwrap();
        assert_eq!(store.meta("k").unwrap().as_deref(), Some("v"));
        drop(store);

        // Another master key: refused before anything is written, nothing left behind.
        target.data_dir = dir.path().join("wrong-key");
        std::fs::create_dir_all(&target.data_dir).unwrap();
        let err = restore(&out, &target).unwrap_err().to_string();
        assert!(err.contains("restore with the master key the backup was made with"), "{err}");
        assert!(!target.data_dir.join("store").exists() && !target.data_dir.join("keys").exists());

        std::fs::write(out.join(RECORDS), b"tampered").unwrap();
        assert!(verify(&out).unwrap_err().to_string().contains("damaged"));
    }
}
