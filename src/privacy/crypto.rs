//! The cryptographic primitives of personal-data protection, and nothing else: 256-bit keys,
//! authenticated encryption (XChaCha20-Poly1305, a random 192-bit nonce per record, so nonces
//! never need a counter), key derivation and keyed hashing (HMAC-SHA256).
//!
//! A sealed value is `nonce (24 bytes) || ciphertext || tag (16 bytes)`. The caller's associated
//! data (the store key of the record, the id a data key belongs to) is authenticated with it, so
//! a sealed value copied under another key does not open.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes in a key.
pub const KEY_LEN: usize = 32;
/// Bytes in a nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes a sealed value adds to its plaintext (nonce and tag).
pub const OVERHEAD: usize = NONCE_LEN + 16;

/// A 256-bit secret key (the master key, a prospect's data key). `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> SecretKey {
        SecretKey(Key::generate().into())
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey(bytes)
    }

    /// Reads the base64 (standard alphabet, padded or not) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<SecretKey, String> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| "is not base64".to_string())?;
        let bytes: [u8; KEY_LEN] =
            bytes.try_into().map_err(|b: Vec<u8>| format!("decodes to {} bytes instead of {KEY_LEN}", b.len()))?;
        Ok(SecretKey(bytes))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(self.0))
    }

    /// Encrypts and authenticates `plaintext` together with `aad`, under a fresh random nonce.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher()
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail"));
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of a value [`SecretKey::seal`]ed with the same key and `aad`; `None` when
    /// it was sealed with another key or aad, or was altered.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>()?;
        self.cipher().decrypt(&XNonce::from(*nonce), Payload { msg: ciphertext, aad }).ok()
    }

    /// A key derived from this one for one purpose (`label`): HMAC-SHA256(self, label).
    pub fn derive(&self, label: &str) -> SecretKey {
        SecretKey(hmac_sha256(&self.0, &[label.as_bytes()]))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Keyed hashing of contact values (the suppression list, the contact index): the same contact
/// always gives the same digest, and nobody without the secret can tell whose it is or test a
/// guess.
#[derive(Clone)]
pub struct Blinder {
    secret: Vec<u8>,
}

impl Blinder {
    pub fn new(secret: &[u8]) -> Blinder {
        Blinder { secret: secret.to_vec() }
    }

    /// Lower-case hex of HMAC-SHA256(secret, kind || 0x00 || value). The kind is part of the
    /// input so that the same text as a phone and as an email gives two digests.
    pub fn blind(&self, kind: &str, value: &str) -> String {
        let digest = hmac_sha256(&self.secret, &[kind.as_bytes(), &[0], value.as_bytes()]);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Blinder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Blinder(***)")
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_aad() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"p/p_1", b"+33699887766");
        assert_eq!(sealed.len(), 12 + OVERHEAD);
        assert!(!sealed.windows(12).any(|w| w == b"+33699887766"));
        assert_eq!(key.open(b"p/p_1", &sealed).as_deref(), Some(&b"+33699887766"[..]));
        assert_eq!(key.open(b"p/p_2", &sealed), None, "another aad");
        assert_eq!(SecretKey::generate().open(b"p/p_1", &sealed), None, "another key");
        let mut altered = sealed.clone();
        altered[30] ^= 1;
        assert_eq!(key.open(b"p/p_1", &altered), None);
        assert_eq!(key.open(b"p/p_1", &sealed[..10]), None);
        assert_ne!(key.seal(b"a", b"x"), key.seal(b"a", b"x"), "a fresh nonce every time");
    }

    #[test]
    fn keys_read_and_write_base64() {
        let key = SecretKey::generate();
        assert_eq!(SecretKey::from_base64(&key.to_base64()), Ok(key.clone()));
        assert_eq!(SecretKey::from_base64(&format!(" {}\n", key.to_base64())), Ok(key.clone()));
        assert_eq!(SecretKey::from_base64(key.to_base64().trim_end_matches('=')), Ok(key));
        assert!(SecretKey::from_base64("c2hvcnQ=").unwrap_err().contains("5 bytes instead of 32"));
        assert_eq!(SecretKey::from_base64("not base64!").unwrap_err(), "is not base64");
        assert_eq!(format!("{:?}", SecretKey::generate()), "SecretKey(***)");
    }

    #[test]
    fn derived_keys_and_digests_are_stable_and_distinct() {
        let key = SecretKey::from_bytes([7; 32]);
        assert_eq!(key.derive("a"), key.derive("a"));
        assert_ne!(key.derive("a"), key.derive("b"));
        let blinder = Blinder::new(b"secret");
        let digest = blinder.blind("phone", "+33699887766");
        assert_eq!(digest.len(), 64);
        assert_eq!(digest, blinder.blind("phone", "+33699887766"));
        assert_ne!(digest, blinder.blind("email", "+33699887766"));
        assert_ne!(digest, Blinder::new(b"other").blind("phone", "+33699887766"));
    }
}
