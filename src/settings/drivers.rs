//! The tagged sections of the settings file: the AI provider (`ai.provider`) and one driver per
//! channel (`channels.<channel>.driver`). Each tag selects one raw struct; an absent channel
//! stays `None` (not configured), which the workflow compiler later checks workflows against.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::context::{Cx, http_url, optional_secret, std_duration};
use super::raw::{self, AiKind, EmailKind, MessengerKind, SmsKind};
use super::{AiSettings, ChannelSettings, EmailDriver, GraphSettings, MessengerDriver, OpenAiSettings, Secret};
use super::{SmsDriver, SmtpSettings, SmtpTls, TwilioSender, TwilioSettings};
use crate::diagnostic::did_you_mean;
use crate::yaml::{Node, NodeValue};

const RATE_PER_SECOND: u32 = 10;
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
const TWILIO_API_BASE: &str = "https://api.twilio.com";
const GRAPH_API_BASE: &str = "https://graph.facebook.com/v21.0";

pub fn ai(cx: &mut Cx<'_>) -> AiSettings {
    let Some((kind, leaf)) = tagged(cx, "ai", "provider", &["rules", "openai"], Some(AiKind::Rules)) else {
        return AiSettings::Rules;
    };
    match kind {
        AiKind::Rules => {
            cx.raw_from::<raw::Empty>("ai", leaf);
            AiSettings::Rules
        }
        AiKind::OpenAi => match cx.raw_from::<raw::OpenAi>("ai", leaf) {
            Some(raw) => AiSettings::OpenAi(openai(cx, raw)),
            None => AiSettings::Rules,
        },
    }
}

fn openai(cx: &mut Cx<'_>, raw: raw::OpenAi) -> OpenAiSettings {
    OpenAiSettings {
        base_url: cx.value("ai.base_url", raw.base_url.as_deref(), OPENAI_BASE_URL.to_string(), http_url),
        model: cx.required("ai.model", raw.model),
        api_key: Secret::new(cx.required("ai.api_key", raw.api_key)),
        timeout: cx.value("ai.timeout", raw.timeout.as_deref(), Duration::from_secs(30), std_duration),
        max_concurrency: cx.positive("ai.max_concurrency", raw.max_concurrency, 4),
        max_retries: raw.max_retries.unwrap_or(3),
        mask_contact_details: raw.mask_contact_details.unwrap_or(true),
    }
}

pub fn channels(cx: &mut Cx<'_>) -> ChannelSettings {
    cx.check_keys("channels", &["sms", "email", "messenger"]);
    ChannelSettings { sms: sms(cx), email: email(cx), messenger: messenger(cx) }
}

fn sms(cx: &mut Cx<'_>) -> Option<SmsDriver> {
    let path = "channels.sms";
    let (kind, leaf) = tagged(cx, path, "driver", &["outbox", "twilio"], None)?;
    match kind {
        SmsKind::Outbox => cx.raw_from::<raw::Empty>(path, leaf).map(|_| SmsDriver::Outbox),
        SmsKind::Twilio => {
            let raw = cx.raw_from::<raw::Twilio>(path, leaf)?;
            let sender = match (nonempty(raw.from), nonempty(raw.messaging_service_sid)) {
                (Some(from), None) => TwilioSender::From(from),
                (None, Some(sid)) => TwilioSender::MessagingService(sid),
                (Some(from), Some(_)) => {
                    let message = "set either `from` or `messaging_service_sid`, not both";
                    cx.error("channels.sms.messaging_service_sid", message);
                    TwilioSender::From(from)
                }
                (None, None) => {
                    let message = "twilio needs `from` (a phone number or sender id) or `messaging_service_sid`";
                    cx.key_error(path, message);
                    TwilioSender::From(String::new())
                }
            };
            Some(SmsDriver::Twilio(TwilioSettings {
                account_sid: cx.required("channels.sms.account_sid", raw.account_sid),
                auth_token: Secret::new(cx.required("channels.sms.auth_token", raw.auth_token)),
                sender,
                api_base: cx.value("channels.sms.api_base", raw.api_base.as_deref(), TWILIO_API_BASE.into(), http_url),
                rate_per_second: cx.positive("channels.sms.rate_per_second", raw.rate_per_second, RATE_PER_SECOND),
            }))
        }
    }
}

fn email(cx: &mut Cx<'_>) -> Option<EmailDriver> {
    let path = "channels.email";
    let (kind, leaf) = tagged(cx, path, "driver", &["outbox", "smtp"], None)?;
    match kind {
        EmailKind::Outbox => {
            let raw = cx.raw_from::<raw::EmailOutbox>(path, leaf)?;
            let from = raw.from.map(|from| sender(cx, from));
            Some(EmailDriver::Outbox { from })
        }
        EmailKind::Smtp => {
            let raw = cx.raw_from::<raw::Smtp>(path, leaf)?;
            Some(EmailDriver::Smtp(smtp(cx, raw)))
        }
    }
}

fn smtp(cx: &mut Cx<'_>, raw: raw::Smtp) -> SmtpSettings {
    let username = nonempty(raw.username);
    let password = raw.password.and_then(optional_secret);
    match (&username, &password) {
        (Some(_), None) => cx.error("channels.email.username", "set `password` too, or neither"),
        (None, Some(_)) => cx.error("channels.email.password", "set `username` too, or neither"),
        _ => {}
    }
    let reply_domain = nonempty(raw.reply_domain);
    if let Some(domain) = &reply_domain
        && (domain.contains('@') || domain.contains(char::is_whitespace))
    {
        cx.error(
            "channels.email.reply_domain",
            format!("`{domain}` is not a domain: write it like `replies.example.com`"),
        );
    }
    let from = sender(cx, raw.from);
    SmtpSettings {
        host: cx.required("channels.email.host", raw.host).trim().to_string(),
        port: cx.positive("channels.email.port", raw.port, 587),
        username,
        password,
        tls: raw.tls.unwrap_or(SmtpTls::StartTls),
        from,
        reply_domain,
        rate_per_second: cx.positive("channels.email.rate_per_second", raw.rate_per_second, RATE_PER_SECOND),
    }
}

fn messenger(cx: &mut Cx<'_>) -> Option<MessengerDriver> {
    let path = "channels.messenger";
    let (kind, leaf) = tagged(cx, path, "driver", &["outbox", "messenger"], None)?;
    match kind {
        MessengerKind::Outbox => cx.raw_from::<raw::Empty>(path, leaf).map(|_| MessengerDriver::Outbox),
        MessengerKind::Messenger => {
            let raw = cx.raw_from::<raw::Graph>(path, leaf)?;
            let mut secret = |key: &str, value: String| Secret::new(cx.required(&format!("{path}.{key}"), value));
            let page_access_token = secret("page_access_token", raw.page_access_token);
            let app_secret = secret("app_secret", raw.app_secret);
            let verify_token = secret("verify_token", raw.verify_token);
            Some(MessengerDriver::Graph(GraphSettings {
                page_access_token,
                app_secret,
                verify_token,
                api_base: cx.value(
                    "channels.messenger.api_base",
                    raw.api_base.as_deref(),
                    GRAPH_API_BASE.into(),
                    http_url,
                ),
                rate_per_second: cx.positive(
                    "channels.messenger.rate_per_second",
                    raw.rate_per_second,
                    RATE_PER_SECOND,
                ),
            }))
        }
    }
}

/// Reads the tag (`driver`, `provider`) of the section at `path` and returns it with the
/// section minus its tag; `None` when the section is absent or broken (then reported).
fn tagged<K: DeserializeOwned>(
    cx: &mut Cx<'_>,
    path: &str,
    tag: &str,
    names: &[&str],
    default: Option<K>,
) -> Option<(K, Node)> {
    let node = cx.node(path)?;
    let choices = names.iter().map(|n| format!("`{tag}: {n}`")).collect::<Vec<_>>().join(" or ");
    let Some(entries) = node.as_map() else {
        let example = format!("{{ {tag}: {} }}", names[0]);
        let message = format!("write a mapping such as `{example}` ({tag}s: {})", names.join(", "));
        cx.error(path, message);
        return None;
    };
    let tag_path = format!("{path}.{tag}");
    // The default applies to an empty section only: other keys belong to some explicit choice.
    let default = default.filter(|_| entries.iter().all(|(k, _)| k.name == tag));
    let kind = match (cx.node(&tag_path), default) {
        (Some(_), _) => cx.raw::<K>(&tag_path)?,
        (None, Some(default)) => default,
        (None, None) => {
            let typo = entries.iter().find(|(k, _)| did_you_mean(&k.name, [tag]).is_some());
            let hint = typo.map_or(String::new(), |(k, _)| format!(" (`{}` is not `{tag}`)", k.name));
            let message = format!("missing required key `{tag}`{hint}: write {choices}");
            cx.key_error(path, message);
            return None;
        }
    };
    let rest = entries.iter().filter(|(k, _)| k.name != tag).cloned().collect();
    Some((kind, Node { at: node.at, value: NodeValue::Map(rest) }))
}

/// `channels.email.from`, checked to look like an address.
fn sender(cx: &mut Cx<'_>, text: String) -> String {
    let path = "channels.email.from";
    let text = cx.required(path, text);
    if text.trim().is_empty() { text } else { cx.value(path, Some(&text), text.clone(), address) }
}

fn nonempty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// A sender address, bare (`leads@example.com`) or named (`Qualifyd <leads@example.com>`).
fn address(text: &str) -> Result<String, String> {
    let bare = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text.trim(),
    };
    match bare.split_once('@') {
        Some((user, domain)) if !user.is_empty() && !domain.is_empty() && !bare.contains(char::is_whitespace) => {
            Ok(text.trim().to_string())
        }
        _ => Err(format!("`{text}` is not an email address: write `leads@example.com` or `Name <leads@example.com>`")),
    }
}
