//! `POST /webhooks/twilio`: Twilio's inbound SMS webhook and its message status callbacks (the
//! `StatusCallback` our sends name), on one URL.
//!
//! `X-Twilio-Signature` is base64(HMAC-SHA1(auth_token, URL + every POST parameter's name and
//! value, sorted by name)), where URL is the one Twilio called: `{public_url}/webhooks/twilio`
//! (plus the query string, if any). The parameters are only decoded to compute it; nothing is
//! read from them before it matches. Then:
//! - a message (`Body` present) goes to `Engine::inbound` (channel sms, id `MessageSid`);
//! - a status callback (`MessageStatus`, no `Body`) goes to `Engine::record_delivery`.
//!
//! Both are durable before the answer, an empty TwiML document. Twilio retries what it did not
//! get a 2xx for; a repeated `MessageSid` is acknowledged and not applied twice.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::{Error, Result};
use super::signature::{RawBody, hmac_sha1_base64_matches, not_configured, rejected};
use crate::channel::Channel;
use crate::engine::api::{InboundMessage, SenderProof};
use crate::store::DeliveryStatus;

/// The answer Twilio expects: do nothing more (no auto-reply).
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// The path Twilio is configured to call, after `public_url`.
pub const PATH: &str = "/webhooks/twilio";

/// `POST /webhooks/twilio`.
pub async fn webhook(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response> {
    let Some(auth_token) = &state.webhooks.twilio_auth_token else {
        return Err(not_configured("twilio", "configure `channels.sms` with `driver: twilio`"));
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let url = signed_url(&state.webhooks.public_url, uri.query());
    let presented = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if presented.is_empty() {
        return Err(rejected("twilio", "the request has no X-Twilio-Signature header"));
    }
    if !signature_matches(auth_token.expose(), &url, &params, presented) {
        return Err(rejected("twilio", "the X-Twilio-Signature header does not match the request"));
    }
    let params: HashMap<String, String> = params.into_iter().collect();
    if let Some(text) = params.get("Body") {
        inbound(&state, &params, text).await?;
    } else if let Some(status) = params.get("MessageStatus") {
        delivery(&state, &params, status).await?;
    } else {
        return Err(Error::invalid_request("a Twilio webhook without `Body` or `MessageStatus`: nothing to record"));
    }
    Ok(([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response())
}

/// The URL Twilio signed.
fn signed_url(public_url: &str, query: Option<&str>) -> String {
    match query {
        Some(query) if !query.is_empty() => format!("{public_url}{PATH}?{query}"),
        _ => format!("{public_url}{PATH}"),
    }
}

/// Twilio's scheme: the URL, then each parameter's name and value, sorted by name (then value,
/// for a repeated name), all concatenated.
pub fn signature_matches(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut parts: Vec<&[u8]> = vec![url.as_bytes()];
    for (name, value) in sorted {
        parts.push(name.as_bytes());
        parts.push(value.as_bytes());
    }
    hmac_sha1_base64_matches(auth_token.as_bytes(), &parts, signature)
}

async fn inbound(state: &Shared, params: &HashMap<String, String>, text: &str) -> Result<()> {
    let id = params.get("MessageSid").or_else(|| params.get("SmsSid"));
    let (Some(from), Some(id)) = (params.get("From"), id) else {
        return Err(Error::invalid_request("a Twilio message without `From` or `MessageSid`"));
    };
    let message = InboundMessage {
        channel: Channel::Sms,
        from: from.clone(),
        to: params.get("To").cloned(),
        text: text.to_string(),
        id: id.clone(),
        prospect_hint: None,
        proof: SenderProof::Verified,
    };
    let outcome = state.engine.inbound(message).await?;
    tracing::debug!(
        prospect = outcome.prospect.as_deref().unwrap_or("-"),
        duplicate = outcome.duplicate,
        "twilio message recorded"
    );
    Ok(())
}

async fn delivery(state: &Shared, params: &HashMap<String, String>, status: &str) -> Result<()> {
    let Some(sid) = params.get("MessageSid").or_else(|| params.get("SmsSid")) else {
        return Err(Error::invalid_request("a Twilio status callback without `MessageSid`"));
    };
    let Some(status) = delivery_status(status) else {
        tracing::debug!(status, "twilio status callback with a status we do not track");
        return Ok(());
    };
    let error = params
        .get("ErrorCode")
        .filter(|c| !c.is_empty())
        .map(|code| format!("twilio error {code}: see https://www.twilio.com/docs/api/errors/{code}"));
    let known = state.engine.record_delivery(None, sid, status, error).await?;
    if !known {
        tracing::debug!(?status, "twilio status callback for a message this daemon did not send");
    }
    Ok(())
}

/// Twilio's message statuses as ours; `None` for the ones about inbound messages.
pub fn delivery_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "accepted" | "scheduled" | "queued" | "sending" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" => DeliveryStatus::Failed,
        "canceled" => DeliveryStatus::Cancelled,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH_TOKEN: &str = "5f1a0e0c2d7b4f0aa1b2c3d4e5f60718";
    const URL: &str = "https://leads.example.com/webhooks/twilio";

    fn fixture(body: &[u8], headers: &str) -> (Vec<(String, String)>, String) {
        let params = form_urlencoded::parse(body).into_owned().collect();
        let signature = headers.lines().find_map(|l| l.strip_prefix("X-Twilio-Signature: ")).unwrap();
        (params, signature.trim().to_string())
    }

    #[test]
    fn the_fixtures_check_out_and_the_tampered_one_does_not() {
        let cases: [(&[u8], &str, bool); 4] = [
            (
                include_bytes!("../../tests/fixtures/twilio-inbound-sms.body"),
                include_str!("../../tests/fixtures/twilio-inbound-sms.headers"),
                true,
            ),
            (
                include_bytes!("../../tests/fixtures/twilio-inbound-stop.body"),
                include_str!("../../tests/fixtures/twilio-inbound-stop.headers"),
                true,
            ),
            (
                include_bytes!("../../tests/fixtures/twilio-status-delivered.body"),
                include_str!("../../tests/fixtures/twilio-status-delivered.headers"),
                true,
            ),
            (
                include_bytes!("../../tests/fixtures/twilio-inbound-tampered.body"),
                include_str!("../../tests/fixtures/twilio-inbound-tampered.headers"),
                false,
            ),
        ];
        for (index, (body, headers, valid)) in cases.into_iter().enumerate() {
            let (params, signature) = fixture(body, headers);
            assert_eq!(signature_matches(AUTH_TOKEN, URL, &params, &signature), valid, "case {index}");
            assert!(!signature_matches("another-token", URL, &params, &signature));
            assert!(!signature_matches(AUTH_TOKEN, "https://leads.example.com/webhooks/twilio/", &params, &signature));
        }
    }

    #[test]
    fn statuses_map_and_urls_keep_their_query() {
        assert_eq!(delivery_status("delivered"), Some(DeliveryStatus::Delivered));
        assert_eq!(delivery_status("undelivered"), Some(DeliveryStatus::Undelivered));
        assert_eq!(delivery_status("sending"), Some(DeliveryStatus::Queued));
        assert_eq!(delivery_status("received"), None);
        assert_eq!(signed_url("https://x.test", None), "https://x.test/webhooks/twilio");
        assert_eq!(signed_url("https://x.test", Some("a=1")), "https://x.test/webhooks/twilio?a=1");
    }
}
