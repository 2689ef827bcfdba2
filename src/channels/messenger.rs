//! Messenger through the Graph API Send endpoint: `POST {api_base}/me/messages?access_token=...`
//! with `{"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": ...}}`.
//! The answer's `message_id` (a `mid`) is the provider id that delivery webhooks name.
//!
//! Messenger is not a cold-outreach channel: a page may answer a person only within 24 hours of
//! that person's last message. Outside that window nothing is sent and the send fails for good.

use serde::Deserialize;
use serde_json::json;

use super::rate::RateLimiter;
use super::{redact, transport_failure};
use crate::engine::{BoxFuture, ChannelDriver, DriverError, Outbound};
use crate::settings::{GraphSettings, Secret};

pub use crate::machine::reach::OUTSIDE_MESSENGER_WINDOW as OUTSIDE_WINDOW;

pub struct MessengerDriver {
    http: reqwest::Client,
    send_url: String,
    page_access_token: Secret,
    limiter: RateLimiter,
}

#[derive(Debug, Deserialize)]
struct Sent {
    message_id: String,
}

/// `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
#[derive(Debug, Default, Deserialize)]
struct GraphErrorBody {
    #[serde(default)]
    error: GraphError,
}

#[derive(Debug, Default, Deserialize)]
struct GraphError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
}

impl MessengerDriver {
    pub fn new(settings: &GraphSettings, http: reqwest::Client) -> MessengerDriver {
        MessengerDriver {
            http,
            send_url: format!("{}/me/messages", settings.api_base),
            page_access_token: settings.page_access_token.clone(),
            limiter: RateLimiter::new(settings.rate_per_second),
        }
    }

    async fn deliver(&self, message: Outbound<'_>) -> Result<String, DriverError> {
        // No PSID, or outside the 24-hour window: refused by the shared send rules.
        let psid = message.address()?;
        let body = json!({
            "recipient": { "id": psid },
            "messaging_type": "RESPONSE",
            "message": { "text": message.text },
        });
        self.limiter.acquire().await;
        let response = self
            .http
            .post(&self.send_url)
            .query(&[("access_token", self.page_access_token.expose())])
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_failure("graph api", e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport_failure("graph api", e))?;
        if status.is_success() {
            return serde_json::from_slice::<Sent>(&bytes).map(|sent| sent.message_id).map_err(|_| {
                DriverError::Permanent(format!(
                    "the graph api answered {status} without a `message_id`; the message may have been sent"
                ))
            });
        }
        let error = serde_json::from_slice::<GraphErrorBody>(&bytes).unwrap_or_default().error;
        Err(classify(status, &error))
    }
}

/// Graph codes that mean "busy, try later": 1 unknown, 2 service unavailable, 4/17/32/613
/// rate limits, 80006 Messenger rate limit.
const RETRYABLE_CODES: [i64; 7] = [1, 2, 4, 17, 32, 613, 80006];

/// 429, 5xx and the retryable codes are transient; anything else (an expired token, a person who
/// blocked the page, a closed window: code 10 / subcode 2018278) is permanent.
fn classify(status: reqwest::StatusCode, error: &GraphError) -> DriverError {
    let code = error.code.map_or_else(|| "no code".to_string(), |c| c.to_string());
    let subcode = error.error_subcode.map(|s| format!("/{s}")).unwrap_or_default();
    let said = error.message.as_deref().map(redact).unwrap_or_default();
    let reason = format!("graph api answered {} (error {code}{subcode}): {said}", status.as_u16());
    let retryable = error.code.is_some_and(|c| RETRYABLE_CODES.contains(&c));
    if status.as_u16() == 429 || status.is_server_error() || retryable {
        return DriverError::Transient(reason);
    }
    if error.code == Some(10) && error.error_subcode == Some(2018278) {
        return DriverError::Permanent(format!("{OUTSIDE_WINDOW} ({reason})"));
    }
    DriverError::Permanent(reason)
}

impl ChannelDriver for MessengerDriver {
    fn send<'a>(&'a self, message: Outbound<'a>) -> BoxFuture<'a, Result<String, DriverError>> {
        Box::pin(self.deliver(message))
    }

    fn name(&self) -> &'static str {
        "messenger"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i64, subcode: Option<i64>) -> GraphError {
        GraphError { message: Some("(#10) outside of allowed window".into()), code: Some(code), error_subcode: subcode }
    }

    #[test]
    fn answers_are_classified() {
        let bad = reqwest::StatusCode::BAD_REQUEST;
        assert!(matches!(classify(bad, &error(10, Some(2018278))), DriverError::Permanent(r) if r.contains("24-hour")));
        assert!(matches!(classify(bad, &error(613, None)), DriverError::Transient(_)));
        assert!(matches!(classify(bad, &error(190, None)), DriverError::Permanent(r) if r.contains("190")));
        let busy = classify(reqwest::StatusCode::TOO_MANY_REQUESTS, &GraphError::default());
        assert!(matches!(busy, DriverError::Transient(_)));
        let down = classify(reqwest::StatusCode::SERVICE_UNAVAILABLE, &GraphError::default());
        assert!(matches!(down, DriverError::Transient(_)));
    }
}
