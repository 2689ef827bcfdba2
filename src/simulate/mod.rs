//! Conversations without a daemon: `qualifyd simulate` (type the prospect's messages in a
//! terminal) and `qualifyd test` (run conversation scripts and check what happened). Both use the
//! real settings, the real compiler and the real state machine on a virtual clock, through one
//! [`Conversation`] type; nothing is stored and nothing is sent.
//!
//! Files: `conversation.rs` (the driving loop), `brain.rs` (who answers `ai` steps), `format.rs`
//! (how records and states print), `interactive.rs` (the `simulate` session), `script.rs` (the
//! script format, parsed and compiled), `expect.rs` (checking a turn's expectations), `suite.rs`
//! (finding and running scripts), `report.rs` (text and JUnit output).

mod brain;
mod conversation;
mod expect;
mod format;
mod interactive;
mod report;
mod script;
mod suite;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rules;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::catalog::{Catalog, Workflow};
use crate::diagnostic::Diagnostic;
use crate::settings::Settings;

pub use brain::{Brain, OPENAI_UNSUPPORTED};
pub use conversation::{Conversation, Entry, PROSPECT_ID, Prospect, Record, Stage};
pub use interactive::{SimulateOptions, simulate};
pub use report::{escape as xml_escape, junit_xml};
pub use script::{Script, compile_script};
pub use suite::{ScriptOutcome, TestOptions, TestRun, run_tests};

/// Why a simulation or a test run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings, the workflows or a script have problems; each is printed on its own line.
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Diagnostics(Vec<Diagnostic>),
    #[error("unknown workflow `{id}`{suggestion}; known: {known}")]
    UnknownWorkflow { id: String, suggestion: String, known: String },
    #[error("{0}")]
    Provider(String),
    #[error(
        "the replay file {} has no answer left for step `{step}` ({used} answer(s) used): record one more",
        file.display()
    )]
    ReplayExhausted { file: PathBuf, used: usize, step: String },
    #[error("more than {limit} events for one input: the workflow seems to spin")]
    Spinning { limit: usize },
    #[error("{0}")]
    Usage(String),
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
}

/// Loads the settings and compiles every workflow exactly as `qualifyd check` does.
pub fn load_catalog(config: &Path) -> Result<(Settings, Catalog), Error> {
    let settings = crate::settings::load(config).map_err(Error::Diagnostics)?;
    let outcome = crate::check::build_catalog(&settings);
    match outcome.catalog {
        Some(catalog) => Ok((settings, catalog)),
        None => Err(Error::Diagnostics(outcome.diagnostics.into_iter().filter(Diagnostic::is_error).collect())),
    }
}

/// The workflow `id` of the catalog, or an error that lists the known ones.
pub fn find_workflow(catalog: &Catalog, id: &str) -> Result<Arc<Workflow>, Error> {
    catalog.workflow(id).cloned().ok_or_else(|| {
        let ids = catalog.workflows.keys().map(String::as_str);
        Error::UnknownWorkflow {
            id: id.to_string(),
            suggestion: crate::diagnostic::did_you_mean_suffix(id, ids.clone()),
            known: ids.collect::<Vec<_>>().join(", "),
        }
    })
}

/// What a conversation in `workflow` runs against under these settings.
pub fn stage(settings: &Settings, workflow: Arc<Workflow>, brain: Brain) -> Stage {
    Stage { workflow, default_window: settings.send_window.clone(), public_url: settings.public_url.clone(), brain }
}

/// The instant every simulation starts at unless told otherwise: Monday 2026-01-05 10:00 in the
/// timezone of the workflow's send window (else the settings'). A weekday morning, inside every
/// shipped window, and the same on every run.
pub fn default_start(workflow: &Workflow, settings: &Settings) -> DateTime<Utc> {
    let timezone = workflow.send_window.as_ref().map_or(settings.send_window.timezone, |w| w.timezone);
    let local = timezone.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).earliest();
    // Every timezone has that hour (no DST change in January); UTC is only a formal fallback.
    local.map_or_else(
        || Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).earliest().unwrap_or_default(),
        |t| t.with_timezone(&Utc),
    )
}

/// Parses an RFC 3339 instant (`2026-01-05T10:00:00+01:00`).
pub fn parse_start(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&Utc)).map_err(|err| {
        format!("invalid start time `{text}`: {err}; write an RFC 3339 instant such as `2026-01-05T10:00:00+01:00`")
    })
}

/// How the prospect enters `workflow` when nothing says otherwise: imported when the workflow
/// takes imports, else by writing first.
pub fn default_entry(workflow: &Workflow) -> Entry {
    if workflow.entry_import { Entry::Import } else { Entry::Inbound }
}

/// Why `entry` is impossible in `workflow`, if it is.
pub fn entry_problem(workflow: &Workflow, entry: Entry) -> Option<String> {
    match entry {
        Entry::Import if !workflow.entry_import => {
            Some(format!("workflow `{}` does not take imports (entry.import is false): use inbound", workflow.id))
        }
        Entry::Inbound if workflow.entry_inbound.is_empty() => Some(format!(
            "workflow `{}` does not start on an inbound message (no entry.inbound): use import",
            workflow.id
        )),
        _ => None,
    }
}
