//! Delivers hand-offs to the team's HTTP destinations (`webhook` steps, `notify` webhooks): the
//! team-facing JSON body, signed with the destination's secret, with the action id as
//! `Idempotency-Key` so a receiver can drop the duplicates at-least-once delivery may cause.
//!
//! Signature: `Qualifyd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
//! the timestamp repeated in `Qualifyd-Timestamp`. A receiver recomputes the HMAC over the raw
//! bytes it received, compares in constant time, and rejects timestamps older than a few
//! minutes (replay). docs/workflows.md shows a receiver.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::engine::drivers::{DriverError, Drivers};

pub const SIGNATURE_HEADER: &str = "Qualifyd-Signature";
pub const TIMESTAMP_HEADER: &str = "Qualifyd-Timestamp";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The signature header value of `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// `url` as it may be logged: no userinfo (`user:password@`), no query string or fragment (they
/// often carry a token); the scheme, host, port and path stay so the operator knows where.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (path, hidden) = match path.find(['?', '#']) {
        Some(at) => (&path[..at], true),
        None => (path, false),
    };
    format!("{scheme}://{host}{path}{}", if hidden { "?***" } else { "" })
}

/// POSTs `body` to `url`, signed when a secret covers the URL. 2xx is delivered; 408, 429 and
/// 5xx (and network errors) are worth retrying; any other answer is a permanent failure.
pub async fn post(
    drivers: &Drivers,
    url: &str,
    action_id: &str,
    body: &serde_json::Value,
    timestamp: i64,
) -> Result<(), DriverError> {
    let bytes = serde_json::to_vec(body).map_err(|e| DriverError::Permanent(format!("webhook body: {e}")))?;
    let mut request = drivers
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, action_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string());
    if let Some(secret) = drivers.webhooks.secret_for(url) {
        request = request.header(SIGNATURE_HEADER, sign(secret.expose(), timestamp, &bytes));
    }
    // The reason is logged on retries: reqwest's own text would carry the whole URL.
    let response = request
        .body(bytes)
        .send()
        .await
        .map_err(|e| DriverError::Transient(format!("POST to {} failed: {}", redact_url(url), e.without_url())))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(DriverError::Transient(format!("webhook answered {status}")))
    } else {
        Err(DriverError::Permanent(format!("webhook answered {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_loses_its_userinfo_and_query_string() {
        assert_eq!(
            redact_url("https://user:hunter2@crm.example.com/hooks/q?token=abc#x"),
            "https://crm.example.com/hooks/q?***"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080/hook"), "http://127.0.0.1:8080/hook");
        assert_eq!(redact_url("https://crm.example.com/a@b?k=v"), "https://crm.example.com/a@b?***");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[tokio::test]
    async fn a_failed_post_says_where_without_the_secrets_in_its_url() {
        let drivers = Drivers::embedded();
        let url = "http://user:hunter2@127.0.0.1:9/hook?token=s3cr3t";
        let err = post(&drivers, url, "p_1:2", &serde_json::json!({}), 0).await.unwrap_err().to_string();
        assert!(err.contains("127.0.0.1:9/hook"), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_raw_body() {
        // Reference value: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let signature = sign("secret", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(signature, "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
        assert_ne!(signature, sign("secret", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(signature, sign("secret", 1_700_000_000, br#"{"a":2}"#));
        assert_ne!(signature, sign("other", 1_700_000_000, br#"{"a":1}"#));
    }
}
