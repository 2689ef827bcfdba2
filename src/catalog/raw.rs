//! Raw serde mirrors of a workflow file. They accept exactly the documented keys
//! (`deny_unknown_fields`) and nothing is resolved here: that is `compile`'s job.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::channel::Channel;

/// The top level of a workflow file. `fields` and `steps` stay untyped here so each field and
/// each step is deserialized on its own and reports its own problems.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkflow {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub channel: Channel,
    #[serde(default)]
    pub entry: Option<RawEntry>,
    #[serde(default)]
    pub send_window: Option<RawSendWindow>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    /// Type-checked here, compiled entry by entry from the located tree.
    #[serde(default)]
    #[allow(dead_code)]
    pub fields: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub score: Option<String>,
    #[serde(default)]
    pub on_reply: Option<String>,
    #[serde(default)]
    pub versioning: Option<RawVersioning>,
    #[serde(default)]
    pub intents: Option<RawIntents>,
    /// Free-form data handed to every template as `workflow.context`.
    #[serde(default)]
    pub context: Option<serde_json::Value>,
    /// The legal basis of imports and the first-contact notice.
    #[serde(default)]
    pub privacy: Option<RawPrivacy>,
    /// Type-checked here, compiled step by step from the located tree.
    #[allow(dead_code)]
    pub steps: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrivacy {
    #[serde(default)]
    pub legal_basis: Option<String>,
    #[serde(default)]
    pub notice: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntry {
    #[serde(default = "yes")]
    pub import: bool,
    #[serde(default)]
    pub inbound: Option<OneOrMany<Channel>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSendWindow {
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub days: Option<Vec<String>>,
    #[serde(default)]
    pub hours: Option<String>,
    /// A country code (`fr`): no sends on its public holidays.
    #[serde(default)]
    pub holidays: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    #[serde(default)]
    pub messages_per_day: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawVersioning {
    Follow,
    Pinned,
}

/// Extra keywords for the rules provider's intent detection, added to the built-in lists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntents {
    #[serde(default)]
    pub opt_out: Vec<String>,
    #[serde(default)]
    pub positive: Vec<String>,
    #[serde(default)]
    pub negative: Vec<String>,
    #[serde(default)]
    pub question: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawFieldType {
    Number,
    String,
    Enum,
    Bool,
    Email,
    Phone,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawField {
    #[serde(rename = "type")]
    pub kind: RawFieldType,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub ask: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
    #[serde(default)]
    pub synonyms: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub required: Option<bool>,
    /// `bool`: `{ yes: [...], no: [...] }`; `number`, `string`: a list of lead-in words.
    #[serde(default)]
    pub phrases: Option<RawPhrases>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// The two shapes of `phrases:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawPhrases {
    Before(Vec<String>),
    YesNo(RawYesNo),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawYesNo {
    #[serde(default)]
    pub yes: Vec<String>,
    #[serde(default)]
    pub no: Vec<String>,
}

/// One step: an `id`, exactly one kind key, and an optional `next` overriding fall-through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub id: String,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub send: Option<RawSend>,
    #[serde(default)]
    pub wait: Option<RawWait>,
    #[serde(default)]
    pub wait_reply: Option<RawWaitReply>,
    #[serde(default)]
    pub ai: Option<RawAi>,
    #[serde(default)]
    pub branch: Option<Vec<RawArm>>,
    #[serde(default)]
    pub set: Option<RawSet>,
    #[serde(default)]
    pub notify: Option<RawNotify>,
    #[serde(default)]
    pub webhook: Option<RawWebhook>,
    #[serde(default)]
    pub end: Option<String>,
}

/// The kind keys of a step, in the order they are documented.
pub(crate) const STEP_KINDS: [&str; 9] =
    ["send", "wait", "wait_reply", "ai", "branch", "set", "notify", "webhook", "end"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSend {
    pub template: String,
    #[serde(default)]
    pub channel: Option<Channel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWait {
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub cron: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWaitReply {
    pub timeout: String,
    pub on_timeout: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAi {
    pub prompt: String,
    #[serde(default)]
    pub extract: Vec<String>,
    #[serde(default)]
    pub reply: bool,
    #[serde(default)]
    pub choose: Option<Vec<String>>,
    #[serde(default)]
    pub on_failure: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawArm {
    #[serde(default, rename = "if")]
    pub condition: Option<String>,
    #[serde(default)]
    pub goto: Option<String>,
    #[serde(default, rename = "else")]
    pub otherwise: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSet {
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub webhook: Option<String>,
    pub template: String,
    #[serde(default)]
    pub on_failure: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub url: String,
    #[serde(default)]
    pub on_failure: Option<String>,
}
