//! What every provider webhook shares: the raw body extractor (signatures are computed over the
//! bytes as they arrived, before anything is parsed), HMAC checks in constant time, and the one
//! way a request is turned away (403 `invalid_signature`, a WARN without the body, a counter).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::MAX_BODY_BYTES;
use super::error::Error;

/// The request body exactly as received, at most [`MAX_BODY_BYTES`].
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::payload_too_large(MAX_BODY_BYTES)
            } else {
                Error::invalid_request(format!("the request body could not be read: {}", rejection.body_text()))
            }
        })
    }
}

/// Whether `signature` (base64) is HMAC-SHA1(`key`, the concatenation of `parts`).
pub fn hmac_sha1_base64_matches(key: &[u8], parts: &[&[u8]], signature: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else { return false };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected).is_ok()
}

/// Whether `signature` (hex, either case) is HMAC-SHA256(`key`, the concatenation of `parts`).
pub fn hmac_sha256_hex_matches(key: &[u8], parts: &[&[u8]], signature: &str) -> bool {
    let Some(expected) = decode_hex(signature.trim()) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A request that does not prove it comes from `provider`: nothing of it is used or logged.
pub fn rejected(provider: &'static str, why: &str) -> Error {
    tracing::warn!(provider, reason = why, "rejected a provider webhook; nothing was recorded");
    metrics::counter!("qualifyd_webhook_rejections_total", "provider" => provider).increment(1);
    Error::new(
        StatusCode::FORBIDDEN,
        "invalid_signature",
        format!("{why}: the request was not recorded; check the {provider} secret in the daemon's settings"),
    )
}

/// A provider webhook whose secret is not configured: nothing can be verified, so nothing is taken.
pub fn not_configured(provider: &str, how: &str) -> Error {
    Error::not_found(format!("the {provider} webhook is not enabled in this daemon: {how}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_sha256(key: &[u8], data: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_hex_signatures() {
        let signature = sign_sha256(b"secret", b"hello world");
        assert!(hmac_sha256_hex_matches(b"secret", &[b"hello", b" world"], &signature));
        assert!(hmac_sha256_hex_matches(b"secret", &[b"hello world"], &signature.to_uppercase()));
        assert!(!hmac_sha256_hex_matches(b"secret", &[b"hello world!"], &signature));
        assert!(!hmac_sha256_hex_matches(b"other", &[b"hello world"], &signature));
        assert!(!hmac_sha256_hex_matches(b"secret", &[b"hello world"], &signature[1..]));
        assert!(!hmac_sha256_hex_matches(b"secret", &[b"hello world"], "zz"));
        assert!(!hmac_sha256_hex_matches(b"secret", &[b"hello world"], ""));
    }

    #[test]
    fn sha1_base64_signatures() {
        let mut mac = Hmac::<Sha1>::new_from_slice(b"token").unwrap();
        mac.update(b"https://x/webhooksA1");
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert!(hmac_sha1_base64_matches(b"token", &[b"https://x/webhooks", b"A", b"1"], &signature));
        assert!(!hmac_sha1_base64_matches(b"token", &[b"https://x/webhooks", b"A", b"2"], &signature));
        assert!(!hmac_sha1_base64_matches(b"token", &[b"https://x/webhooksA1"], "not base64!"));
    }
}
