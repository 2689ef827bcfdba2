//! Email replies from inbound-mail providers:
//! - `POST /webhooks/email/mailgun`: a Mailgun route forwarding a message (form-encoded). The
//!   form carries `timestamp`, `token` and `signature` = hex(HMAC-SHA256(signing key, timestamp +
//!   token)); a timestamp more than 15 minutes away from now is refused, and so is a token seen in
//!   the last 15 minutes with another body (a replayed signature). The same token with the same
//!   body is Mailgun retrying: acknowledged, applied once. Tokens are remembered in memory and in
//!   the store (`Engine::remember_token`, by hash), so a restart does not forget them.
//! - `POST /webhooks/email/postmark/{secret}` (or `/webhooks/email/postmark` with basic auth whose
//!   password is the secret): Postmark's inbound JSON. Postmark does not sign; the secret is.
//!
//! The prospect a reply belongs to, first match wins: the plus-address of a recipient
//! (`leads+p_…@`), the `In-Reply-To` header (our `Message-ID`s name the prospect), the sender's
//! address. Quoted text is stripped. The message is durable before the 200.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use chrono::Utc;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Shared;
use super::auth::token_matches;
use super::error::{Error, Result};
use super::extract::parse;
use super::providers::{MAILGUN_MAX_AGE_SECS, MAILGUN_SIGNING_KEY_ENV, POSTMARK_SECRET_ENV, Seen};
use super::signature::{RawBody, hmac_sha256_hex_matches, not_configured, rejected};
use super::webhooks::InboundAnswer;
use crate::channel::Channel;
use crate::channels::addressing::{bare_address, prospect_of_address, prospect_of_message_id, strip_quoted};
use crate::engine::api::{InboundMessage, SenderProof};

/// `POST /webhooks/email/mailgun`.
pub async fn mailgun(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<InboundAnswer>> {
    let Some(key) = &state.webhooks.mailgun_signing_key else {
        return Err(not_configured("mailgun", &format!("set {MAILGUN_SIGNING_KEY_ENV} to the webhook signing key")));
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "only form-encoded Mailgun posts are taken (multipart, sent for attachments, is not supported)",
        ));
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let now = Utc::now().timestamp();
    verify_mailgun(key.expose(), field("timestamp"), field("token"), field("signature"), now)
        .map_err(|why| rejected("mailgun", why))?;
    let digest: [u8; 32] = Sha256::digest(&body).into();
    let mut seen =
        state.webhooks.mailgun_tokens.lock().unwrap_or_else(|e| e.into_inner()).check(field("token"), digest, now);
    if seen == Seen::New {
        // Not seen by this process: maybe by the one before a restart (the store remembers).
        let expires = now + 2 * super::providers::MAILGUN_MAX_AGE_SECS; // timestamps may be ahead too
        seen = match state.engine.remember_token("mailgun", field("token"), digest, now, expires).await? {
            Some(earlier) => {
                state
                    .webhooks
                    .mailgun_tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .correct(field("token"), earlier);
                if earlier == digest { Seen::Retry } else { Seen::Replay }
            }
            None => Seen::New,
        };
    }
    if seen == Seen::Replay {
        return Err(rejected("mailgun", "this token was already used by another request (a replayed signature)"));
    }
    let sender = [field("from"), field("sender")].into_iter().map(bare_address).find(|a| !a.is_empty());
    let Some(sender) = sender else {
        return Err(Error::invalid_request("a Mailgun message without `from` or `sender`"));
    };
    let text = [field("stripped-text"), field("body-plain")].into_iter().find(|t| !t.trim().is_empty());
    let id = Some(field("Message-Id")).filter(|i| !i.is_empty()).unwrap_or(field("token"));
    let candidates = [prospect_of_address(field("recipient")), prospect_of_message_id(&in_reply_to(&form))];
    let message = InboundMessage {
        channel: Channel::Email,
        from: sender.to_string(),
        to: Some(field("recipient").to_string()).filter(|r| !r.is_empty()),
        text: strip_quoted(text.unwrap_or_default()),
        id: id.to_string(),
        prospect_hint: first_known(&state, candidates)?,
        proof: mailgun_verdict(&form),
    };
    let outcome = state.engine.inbound(message).await?;
    Ok(Json(outcome.into()))
}

/// Mailgun's check: the signature, then the age of the timestamp (either way: a clock far ahead
/// is as suspicious as a stale request).
pub fn verify_mailgun(key: &str, timestamp: &str, token: &str, signature: &str, now: i64) -> Result<(), &'static str> {
    if timestamp.is_empty() || token.is_empty() || signature.is_empty() {
        return Err("the form lacks `timestamp`, `token` or `signature`");
    }
    if !hmac_sha256_hex_matches(key.as_bytes(), &[timestamp.as_bytes(), token.as_bytes()], signature) {
        return Err("the signature does not match the timestamp and token");
    }
    let at: i64 = timestamp.trim().parse().map_err(|_| "the timestamp is not a number of seconds")?;
    if (now - at).abs() > MAILGUN_MAX_AGE_SECS {
        return Err("the timestamp is more than 15 minutes away from now (stale or replayed request)");
    }
    Ok(())
}

/// Whether Mailgun vouches for the sender: its `X-Mailgun-Spf` or `X-Mailgun-Dkim-Check-Result`
/// verdict is `Pass` (as a form field, or in the `message-headers` list). Without it, the email
/// is recorded but cannot change consent (STOP, START): `From` is trivial to forge.
fn mailgun_verdict(form: &[(String, String)]) -> SenderProof {
    const VERDICTS: [&str; 2] = ["X-Mailgun-Spf", "X-Mailgun-Dkim-Check-Result"];
    let passes = |name: &str, value: &str| {
        VERDICTS.iter().any(|v| v.eq_ignore_ascii_case(name)) && value.trim().eq_ignore_ascii_case("pass")
    };
    let in_fields = form.iter().any(|(name, value)| passes(name, value));
    let in_headers = form.iter().find(|(k, _)| k == "message-headers").is_some_and(|(_, headers)| {
        let pairs: Vec<(String, String)> = serde_json::from_str(headers).unwrap_or_default();
        pairs.iter().any(|(name, value)| passes(name, value))
    });
    if in_fields || in_headers { SenderProof::Verified } else { SenderProof::Unverified }
}

/// Whether Postmark vouches for the sender: its `Received-SPF` header says `Pass`, or an
/// `Authentication-Results` header it passes on says `dkim=pass` or `spf=pass`.
fn postmark_verdict(headers: &[PostmarkHeader]) -> SenderProof {
    let passes = |h: &PostmarkHeader| {
        let value = h.value.trim().to_ascii_lowercase();
        (h.name.eq_ignore_ascii_case("Received-SPF") && value.starts_with("pass"))
            || (h.name.eq_ignore_ascii_case("Authentication-Results")
                && (value.contains("dkim=pass") || value.contains("spf=pass")))
    };
    if headers.iter().any(passes) { SenderProof::Verified } else { SenderProof::Unverified }
}

/// What the fuzz harness drives: Postmark's JSON and verdict, Mailgun's form, verdict,
/// `In-Reply-To` and signature check.
#[cfg(test)]
pub(super) fn fuzz_entry(json: &[u8], form: &[u8]) {
    if let Ok(email) = parse::<PostmarkInbound>(json) {
        let _ = postmark_verdict(&email.headers);
        let _ = bare_address(&email.from);
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(form).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let _ = mailgun_verdict(&form);
    let _ = prospect_of_message_id(&in_reply_to(&form));
    let _ = prospect_of_address(field("recipient"));
    let _ = strip_quoted(field("body-plain"));
    let _ = verify_mailgun("key", field("timestamp"), field("token"), field("signature"), 0);
}

/// `In-Reply-To` from its own form field, else from the `message-headers` JSON list.
fn in_reply_to(form: &[(String, String)]) -> String {
    if let Some((_, value)) = form.iter().find(|(k, _)| k.eq_ignore_ascii_case("In-Reply-To")) {
        return value.clone();
    }
    let Some((_, headers)) = form.iter().find(|(k, _)| k == "message-headers") else { return String::new() };
    let pairs: Vec<(String, String)> = serde_json::from_str(headers).unwrap_or_default();
    pairs.into_iter().find(|(name, _)| name.eq_ignore_ascii_case("In-Reply-To")).map(|(_, v)| v).unwrap_or_default()
}

/// The first candidate prospect that exists; `None` leaves the engine to match the sender.
fn first_known<const N: usize>(state: &Shared, candidates: [Option<String>; N]) -> Result<Option<String>> {
    for id in candidates.into_iter().flatten() {
        if state.engine.prospect(&id)?.is_some() {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The part of Postmark's inbound JSON that we read (it sends much more).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkInbound {
    #[serde(rename = "MessageID")]
    message_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    from_full: Option<PostmarkAddress>,
    #[serde(default)]
    original_recipient: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    mailbox_hash: String,
    #[serde(default)]
    headers: Vec<PostmarkHeader>,
    #[serde(default)]
    text_body: String,
    #[serde(default)]
    stripped_text_reply: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkAddress {
    email: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkHeader {
    name: String,
    value: String,
}

/// `POST /webhooks/email/postmark/{secret}`.
pub async fn postmark_with_secret(
    State(state): State<Shared>,
    Path(secret): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<InboundAnswer>> {
    let expected = postmark_secret(&state)?;
    if !token_matches(&secret, expected) {
        return Err(rejected("postmark", "the secret in the URL is not the configured one"));
    }
    postmark(&state, &body).await
}

/// `POST /webhooks/email/postmark`, with `Authorization: Basic` whose password is the secret.
pub async fn postmark_with_basic_auth(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<InboundAnswer>> {
    let expected = postmark_secret(&state)?;
    let password = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .and_then(|(scheme, b64)| scheme.eq_ignore_ascii_case("basic").then_some(b64))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, password)| password.to_string()))
        .unwrap_or_default();
    if !token_matches(&password, expected) {
        return Err(rejected("postmark", "no basic auth, or its password is not the configured secret"));
    }
    postmark(&state, &body).await
}

fn postmark_secret(state: &Shared) -> Result<&str> {
    match &state.webhooks.postmark_secret {
        Some(secret) => Ok(secret.expose()),
        None => Err(not_configured("postmark", &format!("set {POSTMARK_SECRET_ENV} to a long random secret"))),
    }
}

async fn postmark(state: &Shared, body: &[u8]) -> Result<Json<InboundAnswer>> {
    let email: PostmarkInbound = parse(body)?;
    let sender = email.from_full.as_ref().map(|f| f.email.as_str()).filter(|e| !e.is_empty());
    let sender = bare_address(sender.unwrap_or(&email.from)).to_string();
    if sender.is_empty() || email.message_id.is_empty() {
        return Err(Error::invalid_request("a Postmark message without `From` or `MessageID`"));
    }
    let in_reply_to =
        email.headers.iter().find(|h| h.name.eq_ignore_ascii_case("In-Reply-To")).map(|h| h.value.as_str());
    let recipient = if email.original_recipient.is_empty() { &email.to } else { &email.original_recipient };
    let hash = Some(email.mailbox_hash.clone()).filter(|h| crate::channels::addressing::is_prospect_id(h));
    let candidates = [hash, prospect_of_address(recipient), in_reply_to.and_then(prospect_of_message_id)];
    let text = if email.stripped_text_reply.trim().is_empty() { &email.text_body } else { &email.stripped_text_reply };
    let message = InboundMessage {
        channel: Channel::Email,
        from: sender,
        to: Some(recipient.clone()).filter(|r| !r.is_empty()),
        text: strip_quoted(text),
        id: email.message_id.clone(),
        prospect_hint: first_known(state, candidates)?,
        proof: postmark_verdict(&email.headers),
    };
    let outcome = state.engine.inbound(message).await?;
    Ok(Json(outcome.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/mailgun-inbound.body");

    fn fixture_fields() -> Vec<(String, String)> {
        form_urlencoded::parse(FIXTURE).into_owned().collect()
    }

    fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
        form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap()
    }

    #[test]
    fn the_mailgun_fixture_checks_out_only_while_fresh() {
        let form = fixture_fields();
        let (timestamp, token, signature) =
            (field(&form, "timestamp"), field(&form, "token"), field(&form, "signature"));
        let signed_at: i64 = timestamp.parse().unwrap();
        assert_eq!(verify_mailgun(KEY, timestamp, token, signature, signed_at + 60), Ok(()));
        assert_eq!(verify_mailgun(KEY, timestamp, token, signature, signed_at - 60), Ok(()));
        let stale = verify_mailgun(KEY, timestamp, token, signature, signed_at + 16 * 60).unwrap_err();
        assert!(stale.contains("15 minutes"), "{stale}");
        let forged = verify_mailgun(KEY, &(signed_at + 1).to_string(), token, signature, signed_at).unwrap_err();
        assert!(forged.contains("signature"), "{forged}");
        assert!(verify_mailgun("another-key", timestamp, token, signature, signed_at).is_err());
        assert!(verify_mailgun(KEY, timestamp, "", signature, signed_at).is_err());
    }

    #[test]
    fn the_mailgun_fixture_routes_by_plus_address_and_in_reply_to() {
        let form = fixture_fields();
        assert_eq!(prospect_of_address(field(&form, "recipient")).as_deref(), Some("p_01JDXK8V3Q"));
        assert_eq!(prospect_of_message_id(&in_reply_to(&form)).as_deref(), Some("p_01JDXK8V3Q"));
        let only_headers: Vec<(String, String)> = form.iter().filter(|(k, _)| k != "In-Reply-To").cloned().collect();
        assert_eq!(in_reply_to(&only_headers), "<p_01JDXK8V3Q.3@leads.example.com>");
        let text = strip_quoted(field(&form, "body-plain"));
        assert!(text.ends_with("opérations.\n\nCamille") && !text.contains('>'), "{text}");
    }

    #[test]
    fn the_postmark_fixture_parses() {
        let email: PostmarkInbound = parse(include_bytes!("../../tests/fixtures/postmark-inbound.json")).unwrap();
        assert_eq!(email.mailbox_hash, "p_01JDXK8V3Q");
        assert_eq!(email.from_full.unwrap().email, "camille.martin@example.org");
        assert_eq!(email.stripped_text_reply, "Oui, nous sommes 40 personnes. Budget 3000 EUR/mois.");
        assert_eq!(email.headers[0].value, "<p_01JDXK8V3Q.3@leads.example.com>");
    }

    #[test]
    fn only_a_passing_verdict_vouches_for_the_sender() {
        let form =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(mailgun_verdict(&fixture_fields()), SenderProof::Unverified, "the fixture carries no verdict");
        assert_eq!(mailgun_verdict(&form(&[("X-Mailgun-Spf", "Pass")])), SenderProof::Verified);
        assert_eq!(mailgun_verdict(&form(&[("X-Mailgun-Dkim-Check-Result", "Pass")])), SenderProof::Verified);
        assert_eq!(mailgun_verdict(&form(&[("X-Mailgun-Spf", "SoftFail")])), SenderProof::Unverified);
        let headers = r#"[["X-Mailgun-Spf", "Neutral"], ["X-Mailgun-Dkim-Check-Result", "Pass"]]"#;
        assert_eq!(mailgun_verdict(&form(&[("message-headers", headers)])), SenderProof::Verified);
        let header = |name: &str, value: &str| PostmarkHeader { name: name.into(), value: value.into() };
        assert_eq!(postmark_verdict(&[header("Received-SPF", "Pass (sender authorized)")]), SenderProof::Verified);
        assert_eq!(postmark_verdict(&[header("Received-SPF", "Fail")]), SenderProof::Unverified);
        assert_eq!(
            postmark_verdict(&[header("Authentication-Results", "mx; dkim=pass header.d=x")]),
            SenderProof::Verified
        );
        assert_eq!(postmark_verdict(&[header("X-Spam-Status", "No")]), SenderProof::Unverified);
    }
}
