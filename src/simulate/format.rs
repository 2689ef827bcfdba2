//! How a simulation shows itself: transcript records as `[Mon 2026-01-05 10:00 CET] sms -> text`,
//! the prospect's state as one summary line, and values (fields, status, timers) as short text.
//! Times print in the prospect's send-window timezone, which is where the window is read.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;

use crate::machine::{ProspectState, Status, TimerPurpose};
use crate::simulate::conversation::{Conversation, Record};

/// `Mon 2026-01-05 10:00 CET` (seconds only when there are some).
pub fn time(at: DateTime<Utc>, timezone: Tz) -> String {
    let local = at.with_timezone(&timezone);
    let pattern = if local.second() == 0 { "%a %Y-%m-%d %H:%M %Z" } else { "%a %Y-%m-%d %H:%M:%S %Z" };
    local.format(pattern).to_string()
}

/// One transcript record on one line (continuation lines of a long text are indented).
pub fn record(record: &Record, timezone: Tz) -> String {
    let at = format!("[{}]", time(record.at(), timezone));
    match record {
        Record::Received { text, .. } => format!("{at} prospect: {}", indent(text)),
        Record::Sent { channel, text, .. } => format!("{at} {channel} -> {}", indent(text)),
        Record::Failed { channel, text, reason, .. } => {
            format!("{at} {channel} FAILED ({reason}): {}", indent(text))
        }
        Record::Notified { email, webhook, text, .. } => {
            let to = email.iter().chain(webhook).cloned().collect::<Vec<_>>().join(", ");
            format!("{at} notify {to}: {}", indent(text))
        }
        Record::Webhook { url, .. } => format!("{at} webhook POST {url}"),
        Record::Answered { step, answer, because, .. } => {
            let mut line = format!("{at} ai ({step}): fields {}", fields(&answer.fields));
            let read: Vec<String> = because.iter().map(|(field, phrase)| format!("{field} from {phrase}")).collect();
            if !read.is_empty() {
                line.push_str(&format!(" (read: {})", read.join("; ")));
            }
            if let Some(intent) = &answer.intent {
                line.push_str(&format!(", intent {intent}"));
            }
            if let Some(next) = &answer.next {
                line.push_str(&format!(", next {next}"));
            }
            line
        }
        Record::TimerFired { purpose, step, .. } => {
            let step = step.as_deref().unwrap_or("?");
            format!("{at} timer: {} ({step})", purpose_text(*purpose))
        }
    }
}

/// Continuation lines indented by four spaces; blank lines stay blank.
fn indent(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 || l.is_empty() { l.to_string() } else { format!("    {l}") })
        .collect();
    lines.join("\n")
}

/// What a timer firing means, in words.
pub fn purpose_text(purpose: TimerPurpose) -> &'static str {
    match purpose {
        TimerPurpose::Wait => "wait is over",
        TimerPurpose::ReplyTimeout => "no reply in time",
        TimerPurpose::SendWindow => "send window open",
        TimerPurpose::Retry => "retry",
    }
}

/// `waiting`, `completed (qualified)`, `failed: <reason>`, `paused: <reason>`.
pub fn status(status: &Status) -> String {
    match status {
        Status::Completed { outcome } => format!("completed ({outcome})"),
        Status::Failed { reason } => format!("failed: {reason}"),
        Status::Attention { reason } => format!("attention: {reason}"),
        Status::Paused { reason } => format!("paused: {reason}"),
        other => other.name().to_string(),
    }
}

/// Compact JSON of a field map: `{"budget":1500,"timeline":"now"}`.
pub fn fields(fields: &BTreeMap<String, serde_json::Value>) -> String {
    serde_json::to_string(fields).unwrap_or_default()
}

/// The pending timer: `no reply in time at Wed 2026-01-07 10:00 CET (in 2d)`, or `none`.
pub fn timer(state: &ProspectState, now: DateTime<Utc>, timezone: Tz) -> String {
    match &state.timer {
        Some(timer) => {
            let purpose = match timer.purpose {
                TimerPurpose::Wait => "wait ends",
                TimerPurpose::ReplyTimeout => "reply timeout",
                TimerPurpose::SendWindow => "deferred send (window closed or daily cap)",
                TimerPurpose::Retry => "retry",
            };
            format!("{purpose} at {} (in {})", time(timer.at, timezone), span(timer.at - now))
        }
        None => "none".to_string(),
    }
}

/// A duration the way workflows write them, largest units first: `2d`, `1d 22h`, `45m`.
pub fn span(duration: chrono::Duration) -> String {
    let mut seconds = duration.num_seconds().max(0);
    if seconds == 0 {
        return "0s".to_string();
    }
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            parts.push(format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    parts.join(" ")
}

/// The state after a turn, on one line: step, status, score, fields, pending timer.
pub fn summary(conversation: &Conversation) -> String {
    let state = conversation.state();
    let timezone = conversation.timezone();
    format!(
        "  step {} | status {} | score {} | fields {} | timer: {}",
        state.step.as_deref().unwrap_or("-"),
        status(&state.status),
        state.score.unwrap_or(0),
        fields(&state.fields),
        timer(state, conversation.now(), timezone),
    )
}

/// A message as shown in a test diff: `sms "text"`.
pub fn message(channel: crate::channel::Channel, text: &str) -> String {
    format!("{channel} {text:?}")
}
