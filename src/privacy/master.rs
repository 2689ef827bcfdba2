//! Where the master key comes from (see [`MasterKeySource`]): the settings or the
//! `QUALIFYD_MASTER_KEY` environment variable, a key file, or the development default that
//! creates `data_dir/master.key`. Without one the daemon refuses to start: the master key
//! wraps every data key, so losing it loses the data, and a key generated silently on a server
//! would sit beside the data it protects.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::Error;
use super::crypto::SecretKey;
use crate::settings::MasterKeySource;

/// The environment variable the settings read the master key from when the file sets none.
pub const MASTER_KEY_ENV: &str = "QUALIFYD_MASTER_KEY";
/// The development default's key file, in `data_dir`.
pub const DEVELOPMENT_KEY_FILE: &str = "master.key";

/// The master key the settings name. `data_dir` is where the development default lives.
pub fn load(source: &MasterKeySource, data_dir: &Path) -> Result<SecretKey, Error> {
    match source {
        MasterKeySource::Value(secret) => SecretKey::from_base64(secret.expose()).map_err(|reason| {
            Error::InvalidMasterKey { origin: format!("in `privacy.master_key` / {MASTER_KEY_ENV}"), reason }
        }),
        MasterKeySource::File(path) => {
            let text = fs::read_to_string(path).map_err(|e| Error::io("reading the master key file", path, e))?;
            warn_if_readable_by_others(path);
            SecretKey::from_base64(&text)
                .map_err(|reason| Error::InvalidMasterKey { origin: format!("in {}", path.display()), reason })
        }
        MasterKeySource::Development => development_key(&data_dir.join(DEVELOPMENT_KEY_FILE), true),
        MasterKeySource::Missing => Err(Error::MissingMasterKey),
    }
}

/// Reads the key file at `path`, creating it (mode 0600) with a fresh key when it is missing.
/// `warn`: say loudly that this is not how production should run.
pub(super) fn development_key(path: &Path, warn: bool) -> Result<SecretKey, Error> {
    let key = match fs::read_to_string(path) {
        Ok(text) => SecretKey::from_base64(&text)
            .map_err(|reason| Error::InvalidMasterKey { origin: format!("in {}", path.display()), reason })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
            }
            let key = SecretKey::generate();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::io("creating the development master key", path, e))?;
            file.write_all(format!("{}\n", key.to_base64()).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| Error::io("writing the development master key", path, e))?;
            key
        }
        Err(e) => return Err(Error::io("reading the development master key", path, e)),
    };
    if warn {
        tracing::warn!(
            file = %path.display(),
            "DEVELOPMENT MASTER KEY: personal data is encrypted with a key stored beside it, in the data \
             directory. Anyone who copies the data directory can read everything. In production set \
             QUALIFYD_MASTER_KEY or privacy.master_key_file, and keep a backup of the key elsewhere"
        );
    }
    Ok(key)
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), "the master key file can be read by other users: chmod 600 it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    #[test]
    fn the_development_default_creates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load(&MasterKeySource::Development, &data).unwrap();
        let file = data.join(DEVELOPMENT_KEY_FILE);
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&MasterKeySource::Development, &data).unwrap(), first, "read back, not replaced");
        assert_eq!(load(&MasterKeySource::File(file), Path::new("/nonexistent")).unwrap(), first);
    }

    #[test]
    fn without_a_key_nothing_starts() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(&MasterKeySource::Missing, dir.path()).unwrap_err();
        assert!(matches!(error, Error::MissingMasterKey));
        let message = error.to_string();
        assert!(message.contains(MASTER_KEY_ENV) && message.contains("master_key_file"), "{message}");
        assert!(fs::read_dir(dir.path()).unwrap().next().is_none(), "no key was created");
    }

    #[test]
    fn keys_from_the_environment_must_be_32_bytes_of_base64() {
        let key = SecretKey::generate();
        let data = Path::new("/nonexistent");
        assert_eq!(load(&MasterKeySource::Value(Secret::new(key.to_base64())), data).unwrap(), key);
        let error = load(&MasterKeySource::Value(Secret::new("c2hvcnQ=")), data).unwrap_err();
        assert!(error.to_string().contains("5 bytes instead of 32"), "{error}");
        let missing = load(&MasterKeySource::File("/nonexistent/master.key".into()), data).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/master.key"), "{missing}");
    }
}
