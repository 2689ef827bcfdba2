//! Who answers the `ai` steps of a simulation: the offline `rules` provider, or a replay of
//! recorded answers (so a workflow written for an OpenAI-compatible model can be tested offline).
//! A replay file is a YAML (or JSON) list of `{ fields, reply, next, intent }`, read in order;
//! each answer goes through the same checks as a model's (`crate::ai::validate::validate`), so a
//! recorded enum synonym is normalised and a wrong type is refused the same way.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog::Workflow;
use crate::catalog::model::StepKind;
use crate::diagnostic::{Diagnostic, Position};
use crate::machine::{AiAnswer, ProspectState};
use crate::settings::{AiSettings, Settings};
use crate::simulate::Error;

/// The answerer of `ai` steps.
#[derive(Debug, Clone)]
pub enum Brain {
    /// `crate::ai::rules_answer`: deterministic, offline.
    Rules,
    /// Recorded answers (JSON objects, as a model writes them), consumed in order.
    Replay { file: PathBuf, answers: VecDeque<serde_json::Value>, used: usize },
    /// No usable provider; the message says why. Fails at the first `ai` step only, so a
    /// conversation that never reaches one still runs.
    Unavailable(String),
}

/// Why the settings' provider cannot be used, and what to do about it.
pub const OPENAI_UNSUPPORTED: &str = "the settings use the `openai` AI provider: simulations support only the \
     offline `rules` provider for now; record the model's answers and replay them (`replay:` in a test script, \
     `--replay FILE` for `qualifyd simulate`)";

impl Brain {
    /// The settings' provider: `rules` runs as is; `openai` is not called from a simulation.
    pub fn from_settings(settings: &Settings) -> Brain {
        match settings.ai {
            AiSettings::Rules => Brain::Rules,
            AiSettings::OpenAi(_) => Brain::Unavailable(OPENAI_UNSUPPORTED.to_string()),
        }
    }

    /// Reads a replay file.
    pub fn load_replay(file: &Path) -> Result<Brain, Diagnostic> {
        let text = std::fs::read_to_string(file).map_err(|err| {
            Diagnostic::error(file, Position::default(), format!("cannot read replay file {}: {err}", file.display()))
        })?;
        Brain::parse_replay(file, &text)
    }

    /// Parses the text of a replay file (`file` is for diagnostics).
    pub fn parse_replay(file: &Path, text: &str) -> Result<Brain, Diagnostic> {
        let node = crate::yaml::parse(file, text)?;
        let raw: Vec<RawAnswer> = node.deserialize(file)?;
        let answers = raw.into_iter().map(RawAnswer::into_json).collect();
        Ok(Brain::Replay { file: file.to_path_buf(), answers, used: 0 })
    }

    /// The answer to the `ai` step `step` for the prospect as it is now.
    pub fn answer(&mut self, workflow: &Workflow, step: &str, state: &ProspectState) -> Result<AiAnswer, Error> {
        let index = workflow.step_index(step).ok_or_else(|| not_ai(step))?;
        let StepKind::Ai(ai) = &workflow.steps[index].kind else { return Err(not_ai(step)) };
        match self {
            Brain::Rules => Ok(crate::ai::rules_answer(workflow, ai, state)),
            Brain::Replay { file, answers, used } => {
                let Some(answer) = answers.pop_front() else {
                    return Err(Error::ReplayExhausted { file: file.clone(), used: *used, step: step.to_string() });
                };
                *used += 1;
                crate::ai::validate::validate(workflow, ai, &answer.to_string()).map_err(|problems| {
                    let at = file.display();
                    Error::Provider(format!(
                        "answer {used} of the replay file {at} is invalid for step `{step}`: {problems}"
                    ))
                })
            }
            Brain::Unavailable(why) => Err(Error::Provider(why.clone())),
        }
    }

    /// What the `rules` provider read each field from (field -> phrase), for the transcript;
    /// empty for other answerers.
    pub fn explain(&self, workflow: &Workflow, step: &str, state: &ProspectState) -> BTreeMap<String, String> {
        let ai = workflow.step_index(step).map(|i| &workflow.steps[i].kind);
        match (self, ai) {
            (Brain::Rules, Some(StepKind::Ai(ai))) => crate::ai::rules_reading(workflow, ai, state).1,
            _ => BTreeMap::new(),
        }
    }

    /// The provider's name, as shown to the user.
    pub fn name(&self) -> &'static str {
        match self {
            Brain::Rules => "rules",
            Brain::Replay { .. } => "replay",
            Brain::Unavailable(_) => "none",
        }
    }
}

fn not_ai(step: &str) -> Error {
    Error::Provider(format!("step `{step}` is not an `ai` step of this workflow"))
}

/// One recorded answer, as written in a replay file: the keys a model's answer has.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    #[serde(default)]
    fields: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    reply: Option<String>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    intent: Option<String>,
}

impl RawAnswer {
    /// The answer as the JSON object a model would have written (absent keys left out).
    fn into_json(self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("fields".into(), serde_json::to_value(self.fields).unwrap_or_default());
        for (key, value) in [("reply", self.reply), ("next", self.next), ("intent", self.intent)] {
            if let Some(value) = value {
                object.insert(key.into(), serde_json::Value::String(value));
            }
        }
        serde_json::Value::Object(object)
    }
}
