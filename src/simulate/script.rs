//! Conversation scripts, the files `qualifyd test` runs: raw serde mirrors of the YAML (with
//! `deny_unknown_fields`), parsed through `crate::yaml`, then compiled (pure) against the
//! catalog into a [`Script`] whose every expectation keeps its `line:col`. Every problem of a
//! file is reported at once. The format is documented in `docs/testing-workflows.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::catalog::{Catalog, Workflow};
use crate::channel::Channel;
use crate::diagnostic::{Diagnostic, Position, did_you_mean_suffix};
use crate::machine::Contact;
use crate::simulate::conversation::{Entry, Prospect};
use crate::yaml::Node;

/// A compiled script: what to run and what to expect.
#[derive(Debug)]
pub struct Script {
    pub file: PathBuf,
    pub name: String,
    pub workflow: Arc<Workflow>,
    pub entry: Entry,
    pub start: Option<DateTime<Utc>>,
    pub prospect: Prospect,
    /// Recorded AI answers, resolved against the script's directory.
    pub replay: Option<PathBuf>,
    pub turns: Vec<Turn>,
}

#[derive(Debug)]
pub struct Turn {
    /// 1-based, for messages.
    pub number: usize,
    pub at: Position,
    pub act: Option<Act>,
    /// `handoff: fails` / `handoff: delivers`: whether hand-offs from this turn on reach the team.
    pub handoffs_fail: Option<bool>,
    pub expectations: Vec<Expectation>,
}

#[derive(Debug, Clone)]
pub enum Act {
    Say(String),
    /// The duration and how it was written.
    Wait(Duration, String),
    /// An operator acts on the prospect, as through the admin API.
    Operator(Operator),
}

/// What an operator does in a script (`operator: take_over`, `operator: hand_back`,
/// `operator: { say: "..." }`): the admin commands `take-over`, `resume` and `send`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// The automation pauses; the prospect's replies are kept for when it resumes.
    TakeOver,
    /// The automation resumes: what was said meanwhile is read (extracted) then.
    HandBack,
    /// The operator writes to the prospect (a human message); the automation pauses.
    Say(String),
}

impl Operator {
    /// The admin command the daemon would apply.
    pub fn command(&self) -> crate::machine::AdminCommand {
        use crate::machine::AdminCommand;
        match self {
            Operator::TakeOver => AdminCommand::TakeOver,
            Operator::HandBack => AdminCommand::Resume,
            Operator::Say(text) => AdminCommand::SendHuman { text: text.clone() },
        }
    }
}

#[derive(Debug)]
pub struct Expectation {
    pub at: Position,
    pub expect: Expect,
}

#[derive(Debug)]
pub enum Expect {
    /// Exactly these messages, in order, since the previous turn.
    Sent(Vec<MessageMatch>),
    /// Exactly these failed messages (refused by the send rules), in order, since the previous turn.
    Failed(Vec<MessageMatch>),
    /// Exactly these team notifications, in order, since the previous turn.
    Notified(Vec<MessageMatch>),
    /// These fields have these values (others are not looked at); `null`: not known.
    Fields(Vec<FieldMatch>),
    Score(u8),
    Step(String),
    Status(StatusName),
    Outcome(String),
}

#[derive(Debug)]
pub struct MessageMatch {
    pub at: Position,
    pub text: TextMatch,
    pub channel: Option<Channel>,
}

#[derive(Debug)]
pub enum TextMatch {
    Exact(String),
    Contains(String),
    Regex(regex::Regex),
}

#[derive(Debug)]
pub struct FieldMatch {
    pub at: Position,
    pub name: String,
    pub value: serde_json::Value,
}

/// The status names a script may expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    Active,
    Waiting,
    Paused,
    Completed,
    Unsubscribed,
    Failed,
    Attention,
}

/// Whether the team's destinations answer, from this turn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawHandoff {
    Fails,
    Delivers,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    name: Option<String>,
    workflow: String,
    entry: Option<RawEntry>,
    start: Option<String>,
    prospect: Option<RawProspect>,
    replay: Option<String>,
    /// Compiled turn by turn, so that every broken turn is reported.
    #[allow(dead_code)]
    turns: IgnoredAny,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawEntry {
    Import,
    Inbound,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProspect {
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    psid: Option<String>,
    timezone: Option<String>,
    source: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    say: Option<String>,
    wait: Option<String>,
    operator: Option<Operator>,
    sent: Option<Vec<RawMessage>>,
    failed: Option<Vec<RawMessage>>,
    notified: Option<Vec<RawMessage>>,
    fields: Option<BTreeMap<String, serde_json::Value>>,
    score: Option<u8>,
    step: Option<String>,
    status: Option<StatusName>,
    outcome: Option<String>,
    handoff: Option<RawHandoff>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    text: Option<String>,
    contains: Option<String>,
    regex: Option<String>,
    channel: Option<Channel>,
}

/// Compiles the text of the script `file` against `catalog`. Pure.
pub fn compile_script(file: &Path, text: &str, catalog: &Catalog) -> Result<Script, Vec<Diagnostic>> {
    let root = crate::yaml::parse(file, text).map_err(|d| vec![d])?;
    let mut c = Compiler { file, problems: Vec::new() };
    let raw: Option<RawScript> = root.deserialize(file).map_err(|d| c.problems.push(d)).ok();
    let workflow = raw.as_ref().and_then(|r| c.workflow(&root, catalog, &r.workflow));
    let turns = match root.get("turns").and_then(Node::as_seq) {
        Some(nodes) if !nodes.is_empty() => {
            nodes.iter().enumerate().filter_map(|(i, n)| c.turn(i + 1, n, workflow.as_deref())).collect()
        }
        Some(_) => {
            c.error(root.key_position("turns"), "`turns` is empty: write at least one turn");
            Vec::new()
        }
        None if root.get("turns").is_some() => {
            c.error(root.key_position("turns"), "`turns` must be a list of turns");
            Vec::new()
        }
        None => Vec::new(), // Reported by the header: missing required key.
    };
    let (Some(raw), Some(workflow)) = (raw, workflow) else { return Err(c.problems) };
    let entry = match raw.entry {
        Some(RawEntry::Import) => Entry::Import,
        Some(RawEntry::Inbound) => Entry::Inbound,
        None => crate::simulate::default_entry(&workflow),
    };
    if let Some(problem) = crate::simulate::entry_problem(&workflow, entry) {
        let at = if raw.entry.is_some() { root.key_position("entry") } else { root.key_position("workflow") };
        c.error(at, problem);
    }
    let start =
        raw.start.as_deref().and_then(|s| crate::simulate::parse_start(s).map_err(|m| c.at(&root, "start", m)).ok());
    let prospect = c.prospect(&root, raw.prospect.unwrap_or_default(), &workflow);
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let name = raw.name.unwrap_or_else(|| file.file_stem().unwrap_or_default().to_string_lossy().to_string());
    let replay = raw.replay.map(|r| file.parent().unwrap_or(Path::new(".")).join(r));
    Ok(Script { file: file.to_path_buf(), name, workflow, entry, start, prospect, replay, turns })
}

struct Compiler<'f> {
    file: &'f Path,
    problems: Vec<Diagnostic>,
}

impl Compiler<'_> {
    fn error(&mut self, at: Position, message: impl Into<String>) {
        self.problems.push(Diagnostic::error(self.file, at, message));
    }

    /// Reports `message` at the value of `key` in `node`.
    fn at(&mut self, node: &Node, key: &str, message: String) {
        let at = node.get(key).map_or(node.at, |n| n.at);
        self.error(at, message);
    }

    fn workflow(&mut self, root: &Node, catalog: &Catalog, id: &str) -> Option<Arc<Workflow>> {
        let found = crate::simulate::find_workflow(catalog, id);
        found.map_err(|err| self.at(root, "workflow", err.to_string())).ok()
    }

    fn prospect(&mut self, root: &Node, raw: RawProspect, workflow: &Workflow) -> Prospect {
        let node = root.get("prospect").unwrap_or(root);
        if let Some(tz) = &raw.timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            self.at(node, "timezone", format!("unknown timezone `{tz}`: use an IANA name such as `Europe/Paris`"));
        }
        let fields_node = node.get("fields").unwrap_or(node);
        for name in raw.fields.keys() {
            self.check_field(fields_node.key_position(name), name, workflow);
        }
        let (phone, email) = (raw.phone.clone(), raw.email.clone());
        let contact = Contact {
            name: raw.name,
            phone: raw.phone,
            email: raw.email,
            messenger_psid: raw.psid,
            timezone: raw.timezone.filter(|tz| tz.parse::<chrono_tz::Tz>().is_ok()),
            source: raw.source,
        };
        // Stored as the daemon stores an import: E.164 phone, so the window is the daemon's.
        let contact = match crate::machine::reach::normalise_contact(contact.clone()) {
            Ok(contact) => contact,
            Err(message) => {
                let key = if phone.as_deref().is_some_and(|p| crate::machine::reach::normalise_phone(p).is_err()) {
                    "phone"
                } else if email.is_some() {
                    "email"
                } else {
                    "prospect"
                };
                self.at(node, key, message);
                contact
            }
        };
        Prospect { contact, fields: raw.fields }
    }

    fn check_field(&mut self, at: Position, name: &str, workflow: &Workflow) {
        if workflow.field(name).is_none() {
            let names = workflow.fields.iter().map(|f| f.name.as_str());
            let suggestion = did_you_mean_suffix(name, names.clone());
            let known = names.collect::<Vec<_>>().join(", ");
            self.error(at, format!("workflow `{}` has no field `{name}`{suggestion}; fields: {known}", workflow.id));
        }
    }

    fn turn(&mut self, number: usize, node: &Node, workflow: Option<&Workflow>) -> Option<Turn> {
        let raw: RawTurn = node.deserialize(self.file).map_err(|d| self.problems.push(d)).ok()?;
        let problems_before = self.problems.len();
        let acts = [raw.say.is_some(), raw.wait.is_some(), raw.operator.is_some()];
        let act = match (raw.say, raw.wait) {
            _ if acts.iter().filter(|a| **a).count() > 1 => {
                self.error(node.at, "a turn does one thing: `say`, `wait` or `operator`; split them in several turns");
                None
            }
            (None, None) => raw.operator.map(Act::Operator),
            (Some(text), None) => Some(Act::Say(text)),
            (None, Some(text)) => match crate::schedule::parse_duration(&text) {
                Ok(d) => Some(Act::Wait(d, text)),
                Err(message) => {
                    self.at(node, "wait", message);
                    None
                }
            },
            _ => None,
        };
        let mut expectations = Vec::new();
        let mut expect =
            |key: &str, expect: Expect| expectations.push(Expectation { at: node.key_position(key), expect });
        if let Some(list) = raw.sent {
            expect("sent", Expect::Sent(self.messages(node, "sent", list)));
        }
        if let Some(list) = raw.failed {
            expect("failed", Expect::Failed(self.messages(node, "failed", list)));
        }
        if let Some(list) = raw.notified {
            expect("notified", Expect::Notified(self.messages(node, "notified", list)));
        }
        if let Some(fields) = raw.fields {
            expect("fields", Expect::Fields(self.fields(node, fields, workflow)));
        }
        if let Some(score) = raw.score {
            if score > 100 {
                self.at(node, "score", format!("a score is 0 to 100, not {score}"));
            }
            expect("score", Expect::Score(score));
        }
        if let Some(step) = raw.step {
            if let Some(workflow) = workflow.filter(|w| w.step_index(&step).is_none()) {
                let ids = workflow.steps.iter().map(|s| s.id.as_str());
                let suggestion = did_you_mean_suffix(&step, ids);
                self.at(node, "step", format!("workflow `{}` has no step `{step}`{suggestion}", workflow.id));
            }
            expect("step", Expect::Step(step));
        }
        if let Some(status) = raw.status {
            expect("status", Expect::Status(status));
        }
        if let Some(outcome) = raw.outcome {
            expect("outcome", Expect::Outcome(outcome));
        }
        if act.is_none() && expectations.is_empty() && self.problems.len() == problems_before {
            let keys = "say, wait, operator, sent, failed, notified, fields, score, step, status, outcome";
            self.error(node.at, format!("empty turn: write `say`, `wait` or an expectation ({keys})"));
        }
        let handoffs_fail = raw.handoff.map(|h| h == RawHandoff::Fails);
        Some(Turn { number, at: node.at, act, handoffs_fail, expectations })
    }

    fn messages(&mut self, turn: &Node, key: &str, list: Vec<RawMessage>) -> Vec<MessageMatch> {
        let items = turn.get(key).and_then(Node::as_seq).unwrap_or_default();
        let mut out = Vec::new();
        for (i, raw) in list.into_iter().enumerate() {
            let node = items.get(i).unwrap_or(turn);
            if key == "notified" && raw.channel.is_some() {
                self.at(node, "channel", "a notification goes to the team: `channel` does not apply".to_string());
            }
            let text = match (raw.text, raw.contains, raw.regex) {
                (Some(t), None, None) => TextMatch::Exact(t),
                (None, Some(t), None) => TextMatch::Contains(t),
                (None, None, Some(pattern)) => match regex::Regex::new(&pattern) {
                    Ok(regex) => TextMatch::Regex(regex),
                    Err(err) => {
                        let last = err.to_string().lines().last().unwrap_or_default().trim().to_string();
                        let reason = last.strip_prefix("error: ").unwrap_or(&last).to_string();
                        self.at(node, "regex", format!("invalid regex `{pattern}`: {reason}"));
                        continue;
                    }
                },
                _ => {
                    self.error(node.at, "a message expectation has exactly one of `text`, `contains` or `regex`");
                    continue;
                }
            };
            out.push(MessageMatch { at: node.at, text, channel: raw.channel });
        }
        out
    }

    fn fields(
        &mut self,
        turn: &Node,
        fields: BTreeMap<String, serde_json::Value>,
        workflow: Option<&Workflow>,
    ) -> Vec<FieldMatch> {
        let node = turn.get("fields").unwrap_or(turn);
        let mut out = Vec::new();
        // In file order, so that failures come out in the order they are written.
        for key in node.as_map().unwrap_or_default() {
            let Some(value) = fields.get(&key.0.name) else { continue };
            if let Some(workflow) = workflow {
                self.check_field(key.0.at, &key.0.name, workflow);
            }
            out.push(FieldMatch { at: key.0.at, name: key.0.name.clone(), value: value.clone() });
        }
        out
    }
}

impl StatusName {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusName::Active => "active",
            StatusName::Waiting => "waiting",
            StatusName::Paused => "paused",
            StatusName::Completed => "completed",
            StatusName::Unsubscribed => "unsubscribed",
            StatusName::Failed => "failed",
            StatusName::Attention => "attention",
        }
    }
}
