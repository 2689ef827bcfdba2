//! Privacy by design. This module holds what does not need the engine:
//! - `crypto`: keys, authenticated encryption (XChaCha20-Poly1305), keyed hashing (HMAC-SHA256);
//! - `keystore`: per-subject data keys in bucket files beside the store (destroyable, unlike
//!   anything written to sled);
//! - `vault`: what the store uses to encrypt records and hash contacts;
//! - `master`: where the master key comes from (and the refusal to start without one);
//! - `rotation`: `qualifyd rotate-master-key`, re-wrapping every data key, crash-safe;
//! - `subject`: the data-subject request and answer types of the HTTP API (export, receipts).
//!
//! The engine side (requests, opt-out everywhere, suppression checks, retention) is in
//! `engine::privacy`; the routes in `http::privacy` and `http::unsubscribe`. See docs/privacy.md.

pub mod crypto;
mod keystore;
pub mod master;
pub mod rotation;
pub mod subject;
mod vault;

use std::path::Path;

pub use crypto::{Blinder, SecretKey};
pub use master::{DEVELOPMENT_KEY_FILE, MASTER_KEY_ENV};
pub use vault::{Opened, Vault};

/// The pause reason of a prospect whose processing is restricted (GDPR art. 18). Only
/// `POST /v1/privacy/unrestrict` lifts it.
pub const RESTRICTED: &str = "restricted (GDPR art. 18)";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no master key is configured, and personal data is only stored encrypted: set {MASTER_KEY_ENV} to the \
         base64 of 32 random bytes (`openssl rand -base64 32`), or point `privacy.master_key_file` at a file \
         holding it; for development only, `privacy.development_key: true` creates one in the data directory"
    )]
    MissingMasterKey,
    #[error("the master key {origin} {reason}: it must be the base64 of 32 random bytes (`openssl rand -base64 32`)")]
    InvalidMasterKey { origin: String, reason: String },
    #[error(
        "the master key does not open the data keys in {dir}: it is not the key this data directory was \
         created with; restore the right key (data sealed with a lost key cannot be recovered)"
    )]
    WrongMasterKey { dir: String },
    #[error(
        "a rotation of the master key of {dir} was committed but not finished: start with the NEW master key \
         (the daemon or `qualifyd rotate-master-key` completes it); the old key no longer opens the data keys"
    )]
    RotationPending { dir: String },
    #[error("the new master key is the current one: generate another (`openssl rand -base64 32`)")]
    SameMasterKey,
    #[error("corrupt key file {path}, line {line}: {reason}; restore the keys directory from a backup")]
    CorruptKeyFile { path: String, line: usize, reason: String },
    #[error("`{id}` cannot name a data key (printable ASCII without spaces only)")]
    InvalidSubject { id: String },
    #[error("{doing} {path}: {source}")]
    Io { doing: String, path: String, source: std::io::Error },
}

impl Error {
    pub(crate) fn io(doing: &str, path: &Path, source: std::io::Error) -> Error {
        Error::Io { doing: doing.to_string(), path: path.display().to_string(), source }
    }
}

/// Makes `dir` (the data directory) private to the daemon's user: created 0700, every file the
/// process creates from now on 0600 (umask 077: sled's segments, the key files), and whatever an
/// older version left readable tightened (directories 0700, files 0600).
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    // SAFETY: umask only sets the process's file-mode creation mask; it cannot fail.
    unsafe { libc::umask(0o077) };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
            }
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        } else if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}
