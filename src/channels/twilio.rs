//! SMS through Twilio's Messages API: `POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json`,
//! form-encoded, basic auth `account_sid:auth_token`. The answer's `sid` is the provider id
//! that status callbacks (`POST /webhooks/twilio`) name later.
//!
//! Twilio has no idempotency header: a send whose answer is lost (timeout) is retried and may
//! reach the phone twice. Sends are at-least-once, like every side effect.

use serde::Deserialize;

use super::rate::RateLimiter;
use super::{redact, transport_failure};
use crate::engine::{BoxFuture, ChannelDriver, DriverError, Outbound};
use crate::settings::{TwilioSender, TwilioSettings};

pub struct TwilioDriver {
    http: reqwest::Client,
    account_sid: String,
    auth_token: crate::settings::Secret,
    sender: TwilioSender,
    messages_url: String,
    /// Where Twilio posts the message's status changes.
    status_callback: String,
    limiter: RateLimiter,
}

/// The part of Twilio's answer to a created message that we keep.
#[derive(Debug, Deserialize)]
struct Created {
    sid: String,
}

/// Twilio's error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Debug, Default, Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

impl TwilioDriver {
    pub fn new(settings: &TwilioSettings, public_url: &str, http: reqwest::Client) -> TwilioDriver {
        TwilioDriver {
            http,
            account_sid: settings.account_sid.clone(),
            auth_token: settings.auth_token.clone(),
            sender: settings.sender.clone(),
            messages_url: format!("{}/2010-04-01/Accounts/{}/Messages.json", settings.api_base, settings.account_sid),
            status_callback: format!("{}/webhooks/twilio", public_url.trim_end_matches('/')),
            limiter: RateLimiter::new(settings.rate_per_second),
        }
    }

    async fn deliver(&self, message: Outbound<'_>) -> Result<String, DriverError> {
        let to = message.address()?;
        let sender = match &self.sender {
            TwilioSender::From(from) => ("From", from.as_str()),
            TwilioSender::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        let form = [("To", to), sender, ("Body", message.text), ("StatusCallback", self.status_callback.as_str())];
        self.limiter.acquire().await;
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_failure("twilio", e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport_failure("twilio", e))?;
        if status.is_success() {
            return match serde_json::from_slice::<Created>(&body) {
                Ok(created) => Ok(created.sid),
                Err(_) => Err(DriverError::Permanent(format!(
                    "twilio answered {status} without a message `sid`; the message may have been sent"
                ))),
            };
        }
        let error: TwilioError = serde_json::from_slice(&body).unwrap_or_default();
        Err(classify(status, &error))
    }
}

/// 429 and 5xx are worth retrying; any other answer names a problem with this message.
fn classify(status: reqwest::StatusCode, error: &TwilioError) -> DriverError {
    let code = error.code.map_or_else(|| "no code".to_string(), |c| c.to_string());
    let said = error.message.as_deref().map(redact).unwrap_or_default();
    if status.as_u16() == 429 || status.is_server_error() {
        return DriverError::Transient(format!("twilio answered {status} (error {code}) {said}").trim_end().into());
    }
    let meaning = match error.code {
        Some(21610) => "the recipient has unsubscribed from this sender (replied STOP)",
        Some(21211) => "the `To` number is not a valid phone number",
        Some(21614) => "the `To` number cannot receive SMS (not a mobile number)",
        Some(21408) => "the account may not send to this country (geo permissions)",
        Some(20003) => "authentication failed: check `account_sid` and `auth_token`",
        _ => "the message was refused",
    };
    if error.code == Some(21610) {
        return DriverError::RecipientOptedOut(format!("twilio error {code}: {meaning}"));
    }
    DriverError::Permanent(format!("twilio error {code} (HTTP {}): {meaning}; twilio said: {said}", status.as_u16()))
}

impl ChannelDriver for TwilioDriver {
    fn send<'a>(&'a self, message: Outbound<'a>) -> BoxFuture<'a, Result<String, DriverError>> {
        Box::pin(self.deliver(message))
    }

    fn name(&self) -> &'static str {
        "twilio"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: u32, message: &str) -> TwilioError {
        TwilioError { code: Some(code), message: Some(message.into()) }
    }

    #[test]
    fn answers_are_classified() {
        let bad = reqwest::StatusCode::BAD_REQUEST;
        let invalid = classify(bad, &error(21211, "The 'To' number +33612345678 is not a valid phone number."));
        let DriverError::Permanent(reason) = invalid else { panic!("21211 is permanent") };
        assert!(reason.contains("21211") && reason.contains("not a valid phone number"), "{reason}");
        assert!(!reason.contains("612345678"), "the number is masked: {reason}");
        assert!(
            matches!(classify(bad, &error(21610, "unsubscribed")), DriverError::RecipientOptedOut(r) if r.contains("STOP"))
        );
        assert!(matches!(classify(bad, &error(21614, "x")), DriverError::Permanent(_)));
        assert!(matches!(classify(reqwest::StatusCode::NOT_FOUND, &TwilioError::default()), DriverError::Permanent(_)));
        let busy = classify(reqwest::StatusCode::TOO_MANY_REQUESTS, &error(20429, "Too Many Requests"));
        assert!(matches!(busy, DriverError::Transient(_)));
        assert!(matches!(
            classify(reqwest::StatusCode::BAD_GATEWAY, &TwilioError::default()),
            DriverError::Transient(_)
        ));
    }
}
