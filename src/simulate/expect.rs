//! Checking one turn's expectations against a conversation: each failed expectation becomes a
//! [`Failure`] that keeps the expectation's position and shows expected against actual.

use crate::diagnostic::Position;
use crate::machine::Status;
use crate::simulate::conversation::{Conversation, Record};
use crate::simulate::format;
use crate::simulate::script::{Act, Expect, FieldMatch, MessageMatch, TextMatch, Turn};

/// One expectation that did not hold (or a run that could not go on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: Position,
    /// `turn 3 (after say "1500 euros")`.
    pub context: String,
    /// What was checked: `step`, `sent[0]`, `fields.budget`.
    pub what: String,
    /// Either side may span several lines.
    pub expected: String,
    pub actual: String,
}

/// `turn 3 (after say "1500 euros")`.
pub fn context(turn: &Turn) -> String {
    match &turn.act {
        Some(Act::Say(text)) => format!("turn {} (after say {text:?})", turn.number),
        Some(Act::Wait(_, written)) => format!("turn {} (after wait {written})", turn.number),
        Some(Act::Operator(operator)) => format!("turn {} (after operator {operator:?})", turn.number),
        None => format!("turn {}", turn.number),
    }
}

/// Checks `turn` against the conversation; `since` is where the turn's records start.
pub fn check(turn: &Turn, conversation: &Conversation, since: usize) -> Vec<Failure> {
    let mut failures = Vec::new();
    let records = &conversation.transcript()[since..];
    let state = conversation.state();
    let context = context(turn);
    let mut fail = |at: Position, what: &str, expected: String, actual: String| {
        failures.push(Failure { at, context: context.clone(), what: what.to_string(), expected, actual });
    };
    for expectation in &turn.expectations {
        let at = expectation.at;
        match &expectation.expect {
            Expect::Sent(wanted) => {
                let sent: Vec<Message> = records
                    .iter()
                    .filter_map(|r| match r {
                        Record::Sent { channel, text, .. } => Some(Message { channel: Some(*channel), text }),
                        _ => None,
                    })
                    .collect();
                messages(at, "sent", wanted, &sent, &mut fail);
            }
            Expect::Failed(wanted) => {
                let failed: Vec<Message> = records
                    .iter()
                    .filter_map(|r| match r {
                        Record::Failed { channel, text, .. } => Some(Message { channel: Some(*channel), text }),
                        _ => None,
                    })
                    .collect();
                messages(at, "failed", wanted, &failed, &mut fail);
            }
            Expect::Notified(wanted) => {
                let notified: Vec<Message> = records
                    .iter()
                    .filter_map(|r| match r {
                        Record::Notified { text, .. } => Some(Message { channel: None, text }),
                        _ => None,
                    })
                    .collect();
                messages(at, "notified", wanted, &notified, &mut fail);
            }
            Expect::Fields(wanted) => {
                for field in wanted {
                    let actual = state.fields.get(&field.name).filter(|v| !v.is_null());
                    if !same_value(field, actual) {
                        let shown = actual.map_or_else(|| "(not known)".to_string(), |v| v.to_string());
                        let what = format!("fields.{}", field.name);
                        let actual = format!("{shown}\n(all fields: {})", format::fields(&state.fields));
                        fail(field.at, &what, field.value.to_string(), actual);
                    }
                }
            }
            Expect::Score(score) => {
                let actual = state.score.unwrap_or(0);
                if actual != *score {
                    fail(at, "score", score.to_string(), actual.to_string());
                }
            }
            Expect::Step(step) => {
                let actual = state.step.as_deref().unwrap_or("(none)");
                if actual != step {
                    fail(at, "step", step.clone(), actual.to_string());
                }
            }
            Expect::Status(status) => {
                if state.status.name() != status.as_str() {
                    fail(at, "status", status.as_str().to_string(), format::status(&state.status));
                }
            }
            Expect::Outcome(outcome) => match &state.status {
                Status::Completed { outcome: actual } if actual == outcome => {}
                Status::Completed { outcome: actual } => fail(at, "outcome", outcome.clone(), actual.clone()),
                other => {
                    let step = state.step.as_deref().unwrap_or("-");
                    fail(
                        at,
                        "outcome",
                        outcome.clone(),
                        format!("(not completed: {} at step {step})", format::status(other)),
                    )
                }
            },
        }
    }
    failures
}

struct Message<'a> {
    channel: Option<crate::channel::Channel>,
    text: &'a str,
}

impl Message<'_> {
    fn shown(&self) -> String {
        match self.channel {
            Some(channel) => format::message(channel, self.text),
            None => format!("{:?}", self.text),
        }
    }
}

/// The list must match one for one, in order.
fn messages(
    at: Position,
    key: &str,
    wanted: &[MessageMatch],
    actual: &[Message<'_>],
    fail: &mut impl FnMut(Position, &str, String, String),
) {
    if wanted.len() != actual.len() {
        let expected = list(wanted.iter().map(describe).collect());
        let got = list(actual.iter().map(Message::shown).collect());
        let what = format!("{key}: expected {}, got {}", count(wanted.len()), actual.len());
        fail(at, &what, expected, got);
        return;
    }
    for (i, (want, got)) in wanted.iter().zip(actual).enumerate() {
        if !matches(want, got) {
            fail(want.at, &format!("{key}[{i}]"), describe(want), got.shown());
        }
    }
}

fn matches(want: &MessageMatch, got: &Message<'_>) -> bool {
    let channel_ok = want.channel.is_none() || want.channel == got.channel;
    let text_ok = match &want.text {
        TextMatch::Exact(text) => got.text == text,
        TextMatch::Contains(part) => got.text.contains(part.as_str()),
        TextMatch::Regex(regex) => regex.is_match(got.text),
    };
    channel_ok && text_ok
}

fn describe(want: &MessageMatch) -> String {
    let text = match &want.text {
        TextMatch::Exact(text) => format!("text {text:?}"),
        TextMatch::Contains(part) => format!("contains {part:?}"),
        TextMatch::Regex(regex) => format!("regex /{}/", regex.as_str()),
    };
    match want.channel {
        Some(channel) => format!("{text} on {channel}"),
        None => text,
    }
}

fn count(n: usize) -> String {
    if n == 1 { "1 message".to_string() } else { format!("{n} messages") }
}

fn list(items: Vec<String>) -> String {
    if items.is_empty() {
        return "(nothing)".to_string();
    }
    items.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n")
}

/// Numbers compare by value (`1500` equals `1500.0`); `null` means "not known".
fn same_value(field: &FieldMatch, actual: Option<&serde_json::Value>) -> bool {
    match (&field.value, actual) {
        (serde_json::Value::Null, None) => true,
        (_, None) => false,
        (serde_json::Value::Number(a), Some(serde_json::Value::Number(b))) => a.as_f64() == b.as_f64(),
        (wanted, Some(actual)) => wanted == actual,
    }
}
