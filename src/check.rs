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
    CheckReport { diagnostics: outcome.diagnostics, workflows }
}
