//! Who answers the cases: the provider code the daemon runs, not a copy. `rules` is
//! [`crate::ai::rules_answer`]; `openai` is [`crate::ai::OpenAiProvider::ask`] against the server
//! the settings name, or a replay file of its recorded answers (checked like a live answer), so
//! a comparison can be re-run offline, in CI. Opt-outs are recognised before any provider, as at
//! the daemon's intake.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::ai::OpenAiProvider;
use crate::catalog::Workflow;
use crate::engine::AiRequest;
use crate::eval::Error;
use crate::eval::corpus::{Case, Corpus};
use crate::machine::{AiAnswer, Contact, Direction, ProspectState, RecentMessage};
use crate::settings::{AiSettings, Settings};
use crate::simulate::Brain;

/// `--provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderChoice {
    #[default]
    Rules,
    OpenAi,
}

/// A provider ready to answer cases.
pub enum Answerer {
    Rules,
    Live { provider: Box<OpenAiProvider>, runtime: tokio::runtime::Runtime, public_url: String },
    Replay(Brain),
}

impl Answerer {
    /// The provider asked for: `openai` uses the settings' server, or `replay` when given.
    pub fn new(choice: ProviderChoice, settings: &Settings, replay: Option<&Path>) -> Result<Answerer, Error> {
        match (choice, replay) {
            (ProviderChoice::Rules, Some(_)) => {
                Err(Error::Usage("--replay holds a model's answers: use it with --provider openai".into()))
            }
            (ProviderChoice::Rules, None) => Ok(Answerer::Rules),
            (ProviderChoice::OpenAi, Some(file)) => {
                Brain::load_replay(file).map(Answerer::Replay).map_err(|d| Error::Diagnostics(vec![d]))
            }
            (ProviderChoice::OpenAi, None) => match &settings.ai {
                AiSettings::OpenAi(openai) => {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    let provider = Box::new(OpenAiProvider::new(openai));
                    Ok(Answerer::Live { provider, runtime, public_url: settings.public_url.clone() })
                }
                AiSettings::Rules => Err(Error::Usage(
                    "--provider openai needs an `ai:` section with `provider: openai` (base_url, model, api_key) \
                     in the settings file, or --replay FILE with recorded answers"
                        .into(),
                )),
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Answerer::Rules => "rules",
            Answerer::Live { .. } => "openai",
            Answerer::Replay(_) => "openai (replay)",
        }
    }

    /// The answer to one case. An opt-out is decided as the daemon decides it, at intake, by
    /// the one opt-out lexicon (`machine::intent`): such a reply never reaches a provider.
    pub fn answer(&mut self, corpus: &Corpus, case: &Case) -> Result<AiAnswer, Error> {
        if crate::machine::intent::is_opt_out(&case.reply) {
            return Ok(AiAnswer { intent: Some("opt_out".into()), ..AiAnswer::default() });
        }
        let state = case_state(&corpus.workflow, case);
        let step = corpus.ai_step();
        match self {
            Answerer::Rules => Ok(crate::ai::rules_answer(&corpus.workflow, step, &state)),
            Answerer::Replay(brain) => brain
                .answer(&corpus.workflow, &corpus.step, &state)
                .map_err(|err| Error::Provider(format!("{}:{}: {err}", corpus.file.display(), case.line))),
            Answerer::Live { provider, runtime, public_url } => {
                let context = crate::machine::render::template_context(&corpus.workflow, &state, public_url);
                let prompt = corpus.workflow.templates.render(&step.prompt, &context).map_err(|err| {
                    Error::Provider(format!(
                        "{}:{}: the prompt does not render: {err}",
                        corpus.file.display(),
                        case.line
                    ))
                })?;
                let request = AiRequest { workflow: &corpus.workflow, step, state: &state, prompt: &prompt };
                let asked = runtime.block_on(provider.ask(&request));
                asked.map(|(answer, _usage)| answer).map_err(|err| {
                    Error::Provider(format!("{}:{}: the model did not answer: {err}", corpus.file.display(), case.line))
                })
            }
        }
    }
}

/// The prospect as the case describes it: the known fields, the question last asked (the
/// field's `ask`, as the last message we sent) and the reply, as the last message received.
pub fn case_state(workflow: &Workflow, case: &Case) -> ProspectState {
    let now: DateTime<Utc> = DateTime::from_timestamp(1_767_607_200, 0).unwrap_or_default();
    let mut state =
        ProspectState::new("eval".into(), workflow, Contact::default(), case.known.clone(), "eval".into(), now);
    let asked = case.asked.as_deref().and_then(|name| workflow.field(name)).and_then(|f| f.ask.clone());
    if let Some(text) = asked {
        state.recent.push(RecentMessage { direction: Direction::Outbound, text, at: now });
    }
    state.recent.push(RecentMessage { direction: Direction::Inbound, text: case.reply.clone(), at: now });
    state.last_reply = Some(case.reply.clone());
    state.last_inbound_at = Some(now);
    state
}

/// Writes the answers given, in case order, as a replay file for `--replay`.
pub fn write_record(file: &PathBuf, answers: &[AiAnswer]) -> Result<(), Error> {
    let list: Vec<serde_json::Value> = answers
        .iter()
        .map(|a| serde_json::json!({ "fields": a.fields, "reply": a.reply, "next": a.next, "intent": a.intent }))
        .collect();
    let text = serde_json::to_string_pretty(&list).map_err(|err| Error::Provider(err.to_string()))?;
    std::fs::write(file, text + "\n")
        .map_err(|err| Error::Usage(format!("cannot write the record file {}: {err}", file.display())))
}
