//! What the store needs to protect personal data at rest, behind one type: the data keys
//! ([`KeyStore`]), the envelope of an encrypted record, and the keyed hashing of contacts.
//!
//! An encrypted record (an envelope) is `0xE1 | subject length (1 byte) | subject id | sealed`,
//! where `sealed` is the record's JSON sealed under the subject's data key with the record's
//! store key as associated data. The subject id is in clear so that the store knows which key
//! opens it (and, for the outbox, whose entry it is) without trying keys.

use std::path::Path;

use super::Error;
use super::crypto::{Blinder, SecretKey};
use super::keystore::KeyStore;

/// First byte of an envelope. JSON never starts with it.
const ENVELOPE: u8 = 0xE1;

/// What opening an envelope found.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Plain(Vec<u8>),
    /// The subject's key does not exist (any more): the record cannot be read.
    NoKey(String),
}

#[derive(Debug)]
pub struct Vault {
    keys: KeyStore,
    blinder: Blinder,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("keys", &self.len()).finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the data keys in `dir` with `master`. Contacts are hashed with `index_secret`, or
    /// with a key derived from `master` when none is configured.
    pub fn open(dir: &Path, master: &SecretKey, index_secret: Option<&[u8]>) -> Result<Vault, Error> {
        let keys = KeyStore::open(dir, master)?;
        let blinder = match index_secret {
            Some(secret) => Blinder::new(secret),
            None => match keys.index_secret()? {
                Some(kept) => Blinder::new(kept.as_bytes()),
                None => Blinder::new(super::keystore::derived_index_secret(master).as_bytes()),
            },
        };
        Ok(Vault { keys, blinder })
    }

    /// For tests and tools: a master key kept in `dir/master.key` (created on first use), data
    /// keys in `dir/keys`. Never what the daemon uses without being told (see `privacy::master`).
    pub fn development(dir: &Path) -> Result<Vault, Error> {
        let master = super::master::development_key(&dir.join(super::master::DEVELOPMENT_KEY_FILE), false)?;
        Vault::open(&dir.join("keys"), &master, None)
    }

    /// Copies the data-key files and the master-key check into `to` (see [`KeyStore::copy_to`]).
    pub fn copy_keys(&self, to: &Path) -> Result<usize, Error> {
        self.keys.copy_to(to)
    }

    /// The keyed hash of a contact value of this kind (`phone`, `email`, `psid`).
    pub fn blind(&self, kind: &str, value: &str) -> String {
        self.blinder.blind(kind, value)
    }

    pub fn has_key(&self, subject: &str) -> bool {
        self.keys.contains(subject)
    }

    /// Creates (durably) the data keys of the subjects that have none.
    pub fn create_keys(&self, subjects: &[&str]) -> Result<(), Error> {
        self.keys.create(subjects)
    }

    /// Seals `plaintext` for `subject`; `None` when the subject has no key.
    pub fn seal(&self, subject: &str, aad: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
        let key = self.keys.get(subject)?;
        let id = subject.as_bytes();
        let length = u8::try_from(id.len()).ok()?;
        let sealed = key.seal(aad, plaintext);
        let mut out = Vec::with_capacity(2 + id.len() + sealed.len());
        out.push(ENVELOPE);
        out.push(length);
        out.extend_from_slice(id);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    /// The subject an envelope belongs to; `None` when `value` is not an envelope.
    pub fn subject(value: &[u8]) -> Option<&str> {
        let (&[marker, length], rest) = value.split_first_chunk::<2>()?;
        if marker != ENVELOPE {
            return None;
        }
        std::str::from_utf8(rest.get(..usize::from(length))?).ok()
    }

    /// Opens an envelope stored under `aad`. `Err` says why it is not a valid envelope.
    pub fn open_envelope(&self, aad: &[u8], value: &[u8]) -> Result<Opened, &'static str> {
        let subject = Vault::subject(value).ok_or("not an encrypted record")?;
        let Some(key) = self.keys.get(subject) else {
            return Ok(Opened::NoKey(subject.to_string()));
        };
        let sealed = &value[2 + subject.len()..];
        key.open(aad, sealed)
            .map(Opened::Plain)
            .ok_or("the record does not decrypt: altered, or moved under another key")
    }

    /// Drops the subjects' keys from memory: from now on nothing is sealed or opened with them.
    pub fn forget(&self, subjects: &[String]) {
        self.keys.forget(subjects)
    }

    /// Removes the subjects' keys from memory and from the key files, for good.
    pub fn destroy(&self, subjects: &[String]) -> Result<(), Error> {
        self.keys.destroy(subjects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_name_their_subject_and_die_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::development(dir.path()).unwrap();
        assert_eq!(vault.seal("p_1", b"p/p_1", b"{}"), None, "no key yet");
        vault.create_keys(&["p_1"]).unwrap();
        let sealed = vault.seal("p_1", b"p/p_1", b"{\"name\":\"Ada\"}").unwrap();
        assert_eq!(Vault::subject(&sealed), Some("p_1"));
        assert_eq!(Vault::subject(b"{\"json\":1}"), None);
        assert_eq!(vault.open_envelope(b"p/p_1", &sealed), Ok(Opened::Plain(b"{\"name\":\"Ada\"}".to_vec())));
        assert!(vault.open_envelope(b"p/p_2", &sealed).is_err());
        assert!(vault.open_envelope(b"p/p_1", b"{not json").is_err());
        drop(vault);
        let vault = Vault::development(dir.path()).unwrap();
        assert!(matches!(vault.open_envelope(b"p/p_1", &sealed), Ok(Opened::Plain(_))), "the key file persists");
        vault.destroy(&["p_1".to_string()]).unwrap();
        assert_eq!(vault.open_envelope(b"p/p_1", &sealed), Ok(Opened::NoKey("p_1".into())));
        let vault = Vault::development(dir.path()).unwrap();
        assert_eq!(vault.open_envelope(b"p/p_1", &sealed), Ok(Opened::NoKey("p_1".into())));
    }

    #[test]
    fn contact_digests_depend_on_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let derived = Vault::development(dir.path()).unwrap();
        let explicit = Vault::open(&dir.path().join("k2"), &SecretKey::generate(), Some(b"pepper")).unwrap();
        let digest = derived.blind("email", "ada@example.com");
        assert_eq!(digest, derived.blind("email", "ada@example.com"));
        assert_ne!(digest, explicit.blind("email", "ada@example.com"));
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()) && !digest.contains("example"));
    }
}
