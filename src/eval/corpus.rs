//! The labelled corpus format (`workflows/eval/*.yaml`): one file per workflow, a list of cases,
//! each the prospect's reply with what a good reader takes out of it. Parsed through the one
//! YAML entry point, then compiled against the catalog (workflow, step, field names, value types,
//! intents), every problem reported as `file:line:col` at once.
//!
//! ```yaml
//! workflow: inbound-lead          # the workflow the replies answer
//! step: qualify                   # optional: the `ai` step (default: the first one)
//! thresholds: { f1: 0.9, intent: 0.9, fields: { budget: 0.95 } }   # optional
//! cases:
//!   - reply: "budget 2k/mois, asap"
//!     expect: { budget: 2000, timeline: now }     # fields read from this reply (others: none)
//!     intent: positive                            # opt_out, negative, positive, question, none
//!   - { asked: decision_maker, known: { budget: 2000 }, reply: "oui c moi", expect: { decision_maker: true } }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::model::{AiStep, StepKind};
use crate::catalog::{Catalog, Workflow};
use crate::diagnostic::{Diagnostic, Position, did_you_mean_suffix};
use crate::yaml::Node;

/// The intents a case can expect; `none` is written as `none` or left out.
pub const INTENTS: &[&str] = &["opt_out", "negative", "positive", "question", "none"];

/// One compiled corpus file.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub file: PathBuf,
    pub workflow: Arc<Workflow>,
    /// The `ai` step's id.
    pub step: String,
    pub thresholds: Thresholds,
    pub cases: Vec<Case>,
}

impl Corpus {
    /// The `ai` step the cases are answered by (checked at compile time).
    pub fn ai_step(&self) -> &AiStep {
        let index = self.workflow.step_index(&self.step).unwrap_or_default();
        match &self.workflow.steps[index].kind {
            StepKind::Ai(ai) => ai,
            _ => unreachable!("compile_corpus keeps only ai steps"),
        }
    }
}

/// Minimum scores below which `qualifyd eval` fails. Absent: no minimum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds {
    /// Every field's F1, unless the field has its own.
    pub f1: Option<f64>,
    pub intent: Option<f64>,
    pub fields: BTreeMap<String, f64>,
}

impl Thresholds {
    pub fn for_field(&self, field: &str) -> Option<f64> {
        self.fields.get(field).copied().or(self.f1)
    }
}

/// One labelled reply.
#[derive(Debug, Clone)]
pub struct Case {
    pub line: u64,
    /// The field whose question was asked last, if any.
    pub asked: Option<String>,
    pub known: BTreeMap<String, Value>,
    pub reply: String,
    /// The fields this reply gives (new values or corrections); every other extracted field: none.
    pub expect: BTreeMap<String, Value>,
    /// `None` for "no intent".
    pub intent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorpus {
    workflow: String,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    thresholds: Option<RawThresholds>,
    /// Type-checked here, compiled case by case from the located tree.
    #[allow(dead_code)]
    cases: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    #[serde(default)]
    f1: Option<f64>,
    #[serde(default)]
    intent: Option<f64>,
    #[serde(default)]
    fields: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default)]
    asked: Option<String>,
    #[serde(default)]
    known: BTreeMap<String, Value>,
    reply: String,
    #[serde(default)]
    expect: BTreeMap<String, Value>,
    #[serde(default)]
    intent: Option<String>,
}

/// Reads and compiles one corpus file; every problem at once.
pub fn load_corpus(file: &Path, catalog: &Catalog) -> Result<Corpus, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        vec![Diagnostic::error(file, Position::default(), format!("cannot read corpus file {}: {err}", file.display()))]
    })?;
    compile_corpus(file, &text, catalog)
}

/// Compiles the text of a corpus file (`file` is for diagnostics). Pure.
pub fn compile_corpus(file: &Path, text: &str, catalog: &Catalog) -> Result<Corpus, Vec<Diagnostic>> {
    let root = crate::yaml::parse(file, text).map_err(|d| vec![d])?;
    let raw: RawCorpus = root.deserialize(file).map_err(|d| vec![d])?;
    let mut problems = Vec::new();
    let Some(workflow) = catalog.workflow(&raw.workflow).cloned() else {
        let ids = catalog.workflows.keys().map(String::as_str);
        let hint = did_you_mean_suffix(&raw.workflow, ids);
        let at = root.get("workflow").map_or(root.at, |n| n.at);
        return Err(vec![Diagnostic::error(file, at, format!("unknown workflow `{}`{hint}", raw.workflow))]);
    };
    let ai_steps: Vec<&str> =
        workflow.steps.iter().filter(|s| matches!(s.kind, StepKind::Ai(_))).map(|s| s.id.as_str()).collect();
    let step = match &raw.step {
        Some(step) if ai_steps.contains(&step.as_str()) => step.clone(),
        Some(step) => {
            let hint = did_you_mean_suffix(step, ai_steps.iter().copied());
            let at = root.get("step").map_or(root.at, |n| n.at);
            let message = format!("`{step}` is not an `ai` step of workflow `{}`{hint}", workflow.id);
            return Err(vec![Diagnostic::error(file, at, message)]);
        }
        None => match ai_steps.first() {
            Some(step) => step.to_string(),
            None => {
                let at = root.get("workflow").map_or(root.at, |n| n.at);
                let message = format!("workflow `{}` has no `ai` step to evaluate", workflow.id);
                return Err(vec![Diagnostic::error(file, at, message)]);
            }
        },
    };
    let index = workflow.step_index(&step).unwrap_or_default();
    let StepKind::Ai(ai) = &workflow.steps[index].kind else { unreachable!("filtered above") };
    let thresholds = compile_thresholds(file, &root, raw.thresholds, ai, &mut problems);
    let nodes = root.get("cases").and_then(Node::as_seq).unwrap_or_default();
    let mut cases = Vec::new();
    for node in nodes {
        match compile_case(file, node, &workflow, ai) {
            Ok(case) => cases.push(case),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if cases.is_empty() && problems.is_empty() {
        problems.push(Diagnostic::error(file, root.key_position("cases"), "the corpus has no cases"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Corpus { file: file.to_path_buf(), workflow, step, thresholds, cases })
}

fn compile_thresholds(
    file: &Path,
    root: &Node,
    raw: Option<RawThresholds>,
    ai: &AiStep,
    problems: &mut Vec<Diagnostic>,
) -> Thresholds {
    let Some(raw) = raw else { return Thresholds::default() };
    let node = root.get("thresholds").unwrap_or(root);
    let fields_node = node.get("fields").unwrap_or(node);
    let top =
        [("f1", raw.f1), ("intent", raw.intent)].into_iter().filter_map(|(k, v)| Some((node.key_position(k), k, v?)));
    let per_field = raw.fields.iter().map(|(k, v)| (fields_node.key_position(k), k.as_str(), *v));
    for (at, what, value) in top.chain(per_field) {
        if !(0.0..=1.0).contains(&value) {
            problems.push(Diagnostic::error(
                file,
                at,
                format!("threshold `{what}` is {value}: write a number from 0 to 1"),
            ));
        }
    }
    for name in raw.fields.keys() {
        let at = fields_node.key_position(name);
        if !ai.extract.contains(name) {
            let hint = did_you_mean_suffix(name, ai.extract.iter().map(String::as_str));
            problems.push(Diagnostic::error(
                file,
                at,
                format!("threshold for `{name}`, which the step does not extract{hint}"),
            ));
        }
    }
    Thresholds { f1: raw.f1, intent: raw.intent, fields: raw.fields }
}

fn compile_case(file: &Path, node: &Node, workflow: &Workflow, ai: &AiStep) -> Result<Case, Vec<Diagnostic>> {
    let raw: RawCase = node.deserialize(file).map_err(|d| vec![d])?;
    let mut problems = Vec::new();
    let names: Vec<&str> = workflow.fields.iter().map(|f| f.name.as_str()).collect();
    if let Some(asked) = raw.asked.as_deref().filter(|a| !names.contains(a)) {
        let hint = did_you_mean_suffix(asked, names.iter().copied());
        let at = node.get("asked").map_or(node.at, |n| n.at);
        problems.push(Diagnostic::error(file, at, format!("`asked`: unknown field `{asked}`{hint}")));
    }
    let intent = match raw.intent.as_deref() {
        None | Some("none") => None,
        Some(intent) if INTENTS.contains(&intent) => Some(intent.to_string()),
        Some(intent) => {
            let hint = did_you_mean_suffix(intent, INTENTS.iter().copied());
            let at = node.get("intent").map_or(node.at, |n| n.at);
            problems.push(Diagnostic::error(
                file,
                at,
                format!("unknown intent `{intent}`{hint}; write one of {}", INTENTS.join(", ")),
            ));
            None
        }
    };
    let expect = typed(file, node, "expect", &raw.expect, workflow, ai, &mut problems);
    let everything = AiStep { extract: names.iter().map(|n| n.to_string()).collect(), ..ai.clone() };
    let known = typed(file, node, "known", &raw.known, workflow, &everything, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Case { line: node.at.line, asked: raw.asked, known, reply: raw.reply, expect, intent })
}

/// Checks `values` (under `key` of the case) as an answer of `ai` would be checked, so a case
/// holds exactly what a provider must produce: declared fields, right types, enum synonyms
/// normalised.
fn typed(
    file: &Path,
    node: &Node,
    key: &str,
    values: &BTreeMap<String, Value>,
    workflow: &Workflow,
    ai: &AiStep,
    problems: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    if values.is_empty() {
        return BTreeMap::new();
    }
    let at = node.get(key).map_or(node.at, |n| n.at);
    for name in values.keys().filter(|n| !ai.extract.contains(n)) {
        let hint = did_you_mean_suffix(name, ai.extract.iter().map(String::as_str));
        problems.push(Diagnostic::error(file, at, format!("`{key}`: `{name}` is not a field the step extracts{hint}")));
    }
    let wanted: BTreeMap<&String, &Value> = values.iter().filter(|(n, _)| ai.extract.contains(n)).collect();
    let answer = serde_json::json!({ "fields": wanted }).to_string();
    match crate::ai::validate::validate(workflow, &AiStep { choose: Vec::new(), reply: false, ..ai.clone() }, &answer) {
        Ok(answer) => answer.fields,
        Err(invalid) => {
            problems.push(Diagnostic::error(file, at, format!("`{key}`: {invalid}")));
            BTreeMap::new()
        }
    }
}
