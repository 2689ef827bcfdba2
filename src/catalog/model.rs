//! The compiled, immutable form of a workflow: every reference resolved to an index, every
//! duration parsed, every expression and template checked. Nothing here does IO.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;

use crate::catalog::templates::Templates;
use crate::channel::Channel;
use crate::schedule::{Holidays, SendWindow};

/// Index of a step in `Workflow::steps`.
pub type StepIndex = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// Prospects move to the newest version when their current step id still exists there.
    Follow,
    /// Prospects stay on the version they entered with.
    Pinned,
}

#[derive(Debug)]
pub struct Workflow {
    pub id: String,
    /// Content hash of the workflow file and every template it references.
    pub version: String,
    pub description: Option<String>,
    pub channel: Channel,
    pub entry_import: bool,
    pub entry_inbound: Vec<Channel>,
    /// `None`: the settings' default window applies.
    pub send_window: Option<SendWindow>,
    /// Public holidays the workflow's own window stays shut on (`send_window.holidays`).
    pub holidays: Holidays,
    pub messages_per_day: Option<u32>,
    pub fields: Vec<Field>,
    pub score: Option<String>,
    pub on_reply: Option<StepIndex>,
    pub versioning: Versioning,
    pub intents: Intents,
    pub context: serde_json::Value,
    pub steps: Vec<Step>,
    pub templates: Arc<Templates>,
    /// The sources this version was compiled from, stored by version hash.
    pub source: WorkflowSource,
    /// The legal basis of imports and the first-contact notice (`privacy:`).
    pub privacy: WorkflowPrivacy,
}

/// A workflow's `privacy:` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowPrivacy {
    /// The basis of the people it imports, unless an import gives its own.
    pub legal_basis: LegalBasis,
    /// Appended to the first message a prospect receives: who writes, where the privacy notice
    /// is, that the conversation is automated, how to stop (GDPR art. 14, EU AI Act art. 50).
    pub notice: Option<String>,
}

/// The legal basis of the processing (GDPR art. 6(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// Art. 6(1)(a): the person consented (a form, with its proof).
    Consent,
    /// Art. 6(1)(f): the controller's legitimate interest (B2B prospecting).
    #[default]
    LegitimateInterest,
    /// Art. 6(1)(b): steps the person asked for before a contract (they wrote to us first).
    Contract,
}

impl LegalBasis {
    pub const NAMES: [&'static str; 3] = ["consent", "legitimate_interest", "contract"];

    pub fn parse(name: &str) -> Option<LegalBasis> {
        match name {
            "consent" => Some(LegalBasis::Consent),
            "legitimate_interest" => Some(LegalBasis::LegitimateInterest),
            "contract" => Some(LegalBasis::Contract),
            _ => None,
        }
    }

    /// The article it rests on, for exports and the record of processing.
    pub fn article(self) -> &'static str {
        match self {
            LegalBasis::Consent => "GDPR art. 6(1)(a): consent",
            LegalBasis::LegitimateInterest => "GDPR art. 6(1)(f): legitimate interest",
            LegalBasis::Contract => "GDPR art. 6(1)(b): steps taken at the person's request before a contract",
        }
    }
}

impl Workflow {
    pub fn step_index(&self, id: &str) -> Option<StepIndex> {
        self.steps.iter().position(|s| s.id == id)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Everything needed to compile one workflow version again, later, alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkflowSource {
    pub file: String,
    pub text: String,
    /// Template name -> source text, for every template the workflow references.
    pub templates: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Intents {
    pub opt_out: Vec<String>,
    pub positive: Vec<String>,
    pub negative: Vec<String>,
    pub question: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Number,
    String,
    /// Allowed values, each with the words that also mean it.
    Enum {
        values: Vec<String>,
        synonyms: BTreeMap<String, Vec<String>>,
    },
    Bool,
    Email,
    Phone,
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Number => "number",
            FieldType::String => "string",
            FieldType::Enum { .. } => "enum",
            FieldType::Bool => "bool",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub kind: FieldType,
    pub description: String,
    /// The question to ask when the field is missing.
    pub ask: Option<String>,
    pub required: bool,
    /// Declared phrases the offline `rules` provider reads this field from (`phrases:`).
    pub phrases: Phrases,
    /// What a `number` field counts (`unit:`); `None` is an amount of money.
    pub unit: Option<Unit>,
}

/// A field's declared phrases, matched as whole words, accents and case ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Phrases {
    /// `bool`: phrases that mean true.
    pub yes: Vec<String>,
    /// `bool`: phrases that mean false.
    pub no: Vec<String>,
    /// `number` and `string`: words that introduce the value (`budget`, `code postal`).
    pub before: Vec<String>,
}

/// What a `number` field counts: a number followed by one of the unit's words is this field's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Euros,
    People,
    Months,
}

impl Unit {
    pub const NAMES: &[&str] = &["euros", "people", "months"];

    pub fn parse(name: &str) -> Option<Unit> {
        match name {
            "euros" => Some(Unit::Euros),
            "people" => Some(Unit::People),
            "months" => Some(Unit::Months),
            _ => None,
        }
    }

    /// Words right after a number that make it a count of this unit.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            Unit::Euros => &["eur", "euro", "euros", "€", "k€", "balles"],
            Unit::People => &[
                "people",
                "persons",
                "personnes",
                "person",
                "personne",
                "employees",
                "employes",
                "salaries",
                "collaborateurs",
                "staff",
                "users",
                "utilisateurs",
                "agents",
                "seats",
                "postes",
                "sites",
            ],
            Unit::Months => &["mois", "month", "months"],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Where the step goes when it is done (explicit `next`, else the following step).
    pub next: Option<StepIndex>,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Send { template: String, channel: Channel },
    Wait(WaitFor),
    WaitReply { timeout: Duration, on_timeout: StepIndex },
    Ai(AiStep),
    Branch { arms: Vec<(String, StepIndex)>, otherwise: Option<StepIndex> },
    Set { fields: Vec<(String, String)>, tags: Vec<String> },
    Notify { email: Option<String>, webhook: Option<String>, template: String, on_failure: Option<StepIndex> },
    Webhook { url: String, on_failure: Option<StepIndex> },
    End { outcome: String },
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Send { .. } => "send",
            StepKind::Wait(_) => "wait",
            StepKind::WaitReply { .. } => "wait_reply",
            StepKind::Ai(_) => "ai",
            StepKind::Branch { .. } => "branch",
            StepKind::Set { .. } => "set",
            StepKind::Notify { .. } => "notify",
            StepKind::Webhook { .. } => "webhook",
            StepKind::End { .. } => "end",
        }
    }
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Duration(Duration),
    /// A 5-field cron pattern, evaluated in the workflow's (else the settings') timezone.
    Cron(Arc<croner::Cron>),
}

#[derive(Debug, Clone)]
pub struct AiStep {
    pub prompt: String,
    pub extract: Vec<String>,
    pub reply: bool,
    /// Step ids the provider may choose as the next step (empty: no choice).
    pub choose: Vec<(String, StepIndex)>,
    pub on_failure: Option<StepIndex>,
}

/// Every workflow, compiled together from one consistent set of files.
#[derive(Debug, Default)]
pub struct Catalog {
    pub workflows: BTreeMap<String, Arc<Workflow>>,
    /// Hash over every workflow version: changes when anything served changes.
    pub version: String,
}

impl Catalog {
    pub fn workflow(&self, id: &str) -> Option<&Arc<Workflow>> {
        self.workflows.get(id)
    }

    /// Workflows whose entry accepts unknown senders on `channel`, in id order.
    pub fn inbound_entry(&self, channel: Channel) -> Option<&Arc<Workflow>> {
        self.workflows.values().find(|w| w.entry_inbound.contains(&channel))
    }
}
