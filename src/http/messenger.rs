//! `GET /webhooks/messenger` (Meta's subscription handshake) and `POST /webhooks/messenger`
//! (page events), for the Messenger Platform.
//!
//! Handshake: `hub.mode=subscribe` and `hub.verify_token` equal to the configured one -> the
//! `hub.challenge` echoed as text; anything else -> 403.
//!
//! Events: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, raw body)>` is checked on
//! the raw bytes before the JSON is parsed. A request may hold several entries, each several
//! messaging events:
//! - a text message -> `Engine::inbound` (channel messenger, from the sender's PSID, id `mid`);
//! - an echo (`is_echo`: a message the page itself sent) is not an inbound message: it only
//!   teaches us when the page sent which `mid` to whom, for read receipts;
//! - `delivery` (a list of `mids`) -> `Engine::record_delivery(.., Delivered)`;
//! - `read` (a watermark: everything sent before it was read) -> `Read` for the page's messages
//!   to that person sent up to the watermark, as the echoes told them.
//!
//! Everything is durable before the 200; Meta redelivers what it did not get a 200 for, and
//! repeated `mid`s and receipts are not applied twice.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Shared;
use super::auth::token_matches;
use super::error::{Error, Result};
use super::extract::{QueryParams, parse};
use super::signature::{RawBody, hmac_sha256_hex_matches, not_configured, rejected};
use crate::channel::Channel;
use crate::engine::api::{InboundMessage, SenderProof};
use crate::store::DeliveryStatus;

const HOW_TO_ENABLE: &str = "configure `channels.messenger` with `driver: messenger`";

#[derive(Debug, Default, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/messenger`.
pub async fn verify(State(state): State<Shared>, QueryParams(query): QueryParams<Handshake>) -> Result<Response> {
    let Some(secrets) = &state.webhooks.messenger else {
        return Err(not_configured("messenger", HOW_TO_ENABLE));
    };
    let subscribe = query.mode.as_deref() == Some("subscribe");
    let token_ok = query.verify_token.as_deref().is_some_and(|t| token_matches(t, secrets.verify_token.expose()));
    match query.challenge {
        Some(challenge) if subscribe && token_ok => {
            tracing::info!("messenger webhook subscription verified");
            Ok(([(header::CONTENT_TYPE, "text/plain")], challenge).into_response())
        }
        _ => {
            tracing::warn!("rejected a messenger subscription handshake");
            Err(Error::forbidden(
                "the subscription handshake needs `hub.mode=subscribe`, a `hub.challenge` and the `hub.verify_token` \
                 of `channels.messenger.verify_token`",
            ))
        }
    }
}

/// The envelope; entries and their events stay raw so that one malformed event cannot make the
/// whole batch fail (Meta would redeliver it, valid messages included, for ever).
#[derive(Debug, Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<serde_json::Value>,
}

/// The longest id (PSID, page id, `mid`) taken; Meta's are a few dozen characters.
const MAX_ID_BYTES: usize = 256;

/// The well-formed events of a batch, and how many were not (unparsable, or without a sender,
/// recipient or message id).
fn events(payload: &Payload) -> (Vec<Event>, usize) {
    let mut valid = Vec::new();
    let mut invalid = 0;
    for entry in &payload.entry {
        let Some(messaging) = entry.get("messaging") else {
            invalid += usize::from(!entry.is_object());
            continue;
        };
        let Some(items) = messaging.as_array() else {
            invalid += 1;
            continue;
        };
        for item in items {
            match serde_json::from_value::<Event>(item.clone()) {
                Ok(event) if event.is_well_formed() => valid.push(event),
                _ => invalid += 1,
            }
        }
    }
    (valid, invalid)
}

#[derive(Debug, Deserialize)]
struct Event {
    sender: Party,
    recipient: Party,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<MessagePart>,
    #[serde(default)]
    delivery: Option<Delivery>,
    #[serde(default)]
    read: Option<Read>,
}

impl Event {
    fn is_well_formed(&self) -> bool {
        let id_ok = |id: &str| !id.trim().is_empty() && id.len() <= MAX_ID_BYTES;
        id_ok(&self.sender.id)
            && id_ok(&self.recipient.id)
            && self.message.as_ref().is_none_or(|m| id_ok(&m.mid))
            && self.delivery.as_ref().is_none_or(|d| d.mids.iter().all(|m| id_ok(m)))
    }
}

#[derive(Debug, Deserialize)]
struct Party {
    id: String,
}

#[derive(Debug, Deserialize)]
struct MessagePart {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
}

#[derive(Debug, Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
    #[serde(default)]
    watermark: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Read {
    watermark: i64,
}

/// `POST /webhooks/messenger`.
pub async fn webhook(State(state): State<Shared>, headers: HeaderMap, RawBody(body): RawBody) -> Result<Response> {
    let Some(secrets) = &state.webhooks.messenger else {
        return Err(not_configured("messenger", HOW_TO_ENABLE));
    };
    let presented = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(hex) = presented.strip_prefix("sha256=") else {
        return Err(rejected("messenger", "the request has no `X-Hub-Signature-256: sha256=...` header"));
    };
    if !hmac_sha256_hex_matches(secrets.app_secret.expose().as_bytes(), &[&body], hex) {
        return Err(rejected("messenger", "the X-Hub-Signature-256 header does not match the request body"));
    }
    let payload: Payload = parse(&body)?;
    if payload.object != "page" {
        tracing::debug!(object = %payload.object, "messenger webhook for another object type ignored");
        return Ok((StatusCode::OK, "EVENT_RECEIVED").into_response());
    }
    let (events, mut invalid) = events(&payload);
    for event in &events {
        match apply(&state, event).await {
            Ok(()) => {}
            // The event itself is wrong (the engine refused it): keep the others.
            Err(err) if err.status().is_client_error() => invalid += 1,
            // The daemon could not make it durable: no 200, Meta redelivers.
            Err(err) => return Err(err),
        }
    }
    if invalid > 0 {
        tracing::warn!(invalid, accepted = events.len(), "messenger batch with malformed events: those were skipped");
        metrics::counter!("qualifyd_webhook_invalid_events_total", "provider" => "messenger").increment(invalid as u64);
    }
    Ok((StatusCode::OK, "EVENT_RECEIVED").into_response())
}

async fn apply(state: &Shared, event: &Event) -> Result<()> {
    if let Some(message) = &event.message {
        if message.is_echo {
            if let Some(at) = event.timestamp {
                lock(state).remember(&event.recipient.id, &message.mid, at);
            }
            return Ok(());
        }
        let Some(text) = &message.text else {
            tracing::debug!("messenger message without text (attachment, sticker) not recorded");
            return Ok(());
        };
        let inbound = InboundMessage {
            channel: Channel::Messenger,
            from: event.sender.id.clone(),
            to: Some(event.recipient.id.clone()),
            text: text.clone(),
            id: message.mid.clone(),
            prospect_hint: None,
            proof: SenderProof::Verified,
        };
        let outcome = state.engine.inbound(inbound).await?;
        tracing::debug!(
            prospect = outcome.prospect.as_deref().unwrap_or("-"),
            duplicate = outcome.duplicate,
            "messenger message"
        );
    }
    if let Some(delivery) = &event.delivery {
        let mut mids = delivery.mids.clone();
        if mids.is_empty()
            && let Some(watermark) = delivery.watermark
        {
            mids = lock(state).until(&event.sender.id, watermark, false);
        }
        for mid in &mids {
            state.engine.record_delivery(None, mid, DeliveryStatus::Delivered, None).await?;
        }
        if delivery.mids.is_empty()
            && let Some(up_to) = delivery.watermark.and_then(chrono::DateTime::from_timestamp_millis)
        {
            let contact = crate::store::ContactKey::MessengerPsid(event.sender.id.clone());
            state
                .engine
                .record_up_to(crate::channel::Channel::Messenger, &contact, up_to, DeliveryStatus::Delivered)
                .await?;
        }
    }
    if let Some(read) = &event.read {
        let mids = lock(state).until(&event.sender.id, read.watermark, true);
        for mid in &mids {
            state.engine.record_delivery(None, mid, DeliveryStatus::Read, None).await?;
        }
        // Durable too (the echo index above lives in memory): everything we sent to this person
        // on Messenger up to the watermark was read.
        if let Some(up_to) = chrono::DateTime::from_timestamp_millis(read.watermark) {
            let contact = crate::store::ContactKey::MessengerPsid(event.sender.id.clone());
            state
                .engine
                .record_up_to(crate::channel::Channel::Messenger, &contact, up_to, DeliveryStatus::Read)
                .await?;
        }
    }
    Ok(())
}

/// What the fuzz harness drives: the JSON batch parsed and split into well-formed events.
#[cfg(test)]
pub(super) fn fuzz_entry(body: &[u8]) {
    if let Ok(payload) = parse::<Payload>(body) {
        let (events, _) = events(&payload);
        for event in &events {
            let _ = event.is_well_formed();
        }
    }
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, super::providers::SentIndex> {
    state.webhooks.messenger_sent.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP_SECRET: &[u8] = b"9c3b1e7f5a2d4c6e8f0a1b2c3d4e5f60";

    fn signature(headers: &str) -> &str {
        headers.lines().find_map(|l| l.strip_prefix("X-Hub-Signature-256: sha256=")).unwrap().trim()
    }

    #[test]
    fn the_fixtures_check_out_and_parse() {
        let body = include_bytes!("../../tests/fixtures/messenger-message.json");
        let headers = include_str!("../../tests/fixtures/messenger-message.headers");
        assert!(hmac_sha256_hex_matches(APP_SECRET, &[body], signature(headers)));
        let mut tampered = body.to_vec();
        tampered[20] ^= 1;
        assert!(!hmac_sha256_hex_matches(APP_SECRET, &[&tampered], signature(headers)));
        let payload: Payload = parse(body).unwrap();
        let event = &events(&payload).0[0];
        let message = event.message.as_ref().unwrap();
        assert!(!message.is_echo && message.text.as_deref().unwrap().contains("équipe de 12 personnes"));

        let body = include_bytes!("../../tests/fixtures/messenger-echo.json");
        let headers = include_str!("../../tests/fixtures/messenger-echo.headers");
        assert!(hmac_sha256_hex_matches(APP_SECRET, &[body], signature(headers)));
        let payload: Payload = parse(body).unwrap();
        assert!(events(&payload).0[0].message.as_ref().unwrap().is_echo);
    }

    #[test]
    fn receipts_parse() {
        let body = br#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[
            {"sender":{"id":"u"},"recipient":{"id":"p"},"delivery":{"mids":["m1"],"watermark":5}},
            {"sender":{"id":"u"},"recipient":{"id":"p"},"timestamp":6,"read":{"watermark":6}}]}]}"#;
        let payload: Payload = parse(body).unwrap();
        let (events, invalid) = events(&payload);
        assert_eq!(invalid, 0);
        assert_eq!(events[0].delivery.as_ref().unwrap().mids, ["m1"]);
        assert_eq!(events[1].read.as_ref().unwrap().watermark, 6);
    }

    #[test]
    fn a_malformed_event_is_set_aside_and_the_rest_of_the_batch_kept() {
        let body = br#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[
            {"sender":{"id":"u1"},"recipient":{"id":"p"},"message":{"mid":"m.1","text":"hello"}},
            {"sender":{"id":"u2"},"recipient":{"id":"p"},"message":{"text":"no mid"}},
            {"sender":{"id":""},"recipient":{"id":"p"},"message":{"mid":"m.3","text":"empty sender"}},
            {"sender":"u4","recipient":{"id":"p"}}]},
            {"id":"2","messaging":"not a list"},
            {"id":"3","time":2,"messaging":[{"sender":{"id":"u5"},"recipient":{"id":"p"},"message":{"mid":"m.5","text":"kept"}}]}]}"#;
        let payload: Payload = parse(body).unwrap();
        let (events, invalid) = events(&payload);
        let mids: Vec<&str> = events.iter().map(|e| e.message.as_ref().unwrap().mid.as_str()).collect();
        assert_eq!((mids, invalid), (vec!["m.1", "m.5"], 4));
    }
}
