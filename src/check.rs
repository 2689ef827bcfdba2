//! `qualifyd check`: the same compile as the daemon's start-up, with no sockets and no store.

use std::path::Path;

use crate::catalog::{self, BuildOutcome, CompileOptions};
use crate::diagnostic::Diagnostic;
use crate::settings::{self, Settings};

/// The compile options the settings imply for workflows.
pub fn compile_options(settings: &Settings) -> CompileOptions {
    CompileOptions {
        channels: settings.channels.configured(),
        timezone: settings.timezone,
        send_window: settings.send_window.clone(),
    }
}

/// Reads and compiles the definitions the settings point at.
pub fn build_catalog(settings: &Settings) -> BuildOutcome {
    match catalog::load(&settings.workflows_dir, &settings.prompts_dir) {
        Ok(sources) => catalog::build(&sources, &compile_options(settings)),
        Err(diagnostic) => BuildOutcome { catalog: None, diagnostics: vec![diagnostic] },
    }
}

/// The outcome of `qualifyd check`.
pub struct CheckReport {
    pub diagnostics: Vec<Diagnostic>,
    pub workflows: usize,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

pub fn check(config: &Path) -> CheckReport {
    let settings = match settings::load(config) {
        Ok(settings) => settings,
        Err(diagnostics) => return CheckReport { diagnostics, workflows: 0 },
    };
    let outcome = build_catalog(&settings);
    let workflows = outcome.catalog.as_ref().map_or(0, |c| c.workflows.len());
    let mut diagnostics = development_key_warning(config, &settings).into_iter().collect::<Vec<_>>();
    diagnostics.extend(outcome.diagnostics);
    CheckReport { diagnostics, workflows }
}

/// A warning when personal data would be sealed with the development master key: a key kept
/// next to the data it protects protects nothing.
fn development_key_warning(config: &Path, settings: &Settings) -> Option<Diagnostic> {
    if !matches!(settings.privacy.master_key, settings::MasterKeySource::Development) {
        return None;
    }
    let text = std::fs::read_to_string(config).unwrap_or_default();
    let line = text.lines().position(|l| l.trim_start().starts_with("development_key")).map_or(1, |i| i as u64 + 1);
    let column = text.lines().nth(line as usize - 1).map_or(1, |l| (l.len() - l.trim_start().len()) as u64 + 1);
    Some(Diagnostic::warning(
        config,
        crate::diagnostic::Position { line, column },
        "`privacy.development_key: true` with no master key: personal data is sealed with a key stored in \
         the data directory, next to the data (development only). In production set QUALIFYD_MASTER_KEY \
         (`openssl rand -base64 32`) or `privacy.master_key_file`",
    ))
}
