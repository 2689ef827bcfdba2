//! `qualifyd test`: finds the conversation scripts (`*.yaml` under the given paths, default
//! `<workflows_dir>/tests/`, recursively), compiles each against the catalog, runs it through a
//! [`Conversation`] and checks its expectations turn by turn. Reports as it goes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::diagnostic::{Diagnostic, Position};
use crate::settings::Settings;
use crate::simulate::conversation::Conversation;
use crate::simulate::expect::{self, Failure};
use crate::simulate::script::{Act, Script, compile_script};
use crate::simulate::{Brain, Error, report};

/// What `qualifyd test` was asked for.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    pub config: PathBuf,
    /// Script files or directories; empty: `<workflows_dir>/tests/`.
    pub paths: Vec<PathBuf>,
    /// Also write a JUnit XML report here.
    pub junit: Option<PathBuf>,
}

/// The result of one script.
#[derive(Debug, Clone)]
pub struct ScriptOutcome {
    pub file: PathBuf,
    pub name: String,
    pub workflow: Option<String>,
    /// The script itself is broken (it did not run).
    pub problems: Vec<Diagnostic>,
    pub failures: Vec<Failure>,
}

impl ScriptOutcome {
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.failures.is_empty()
    }
}

/// Every script's result, in the order they ran.
#[derive(Debug, Clone, Default)]
pub struct TestRun {
    pub outcomes: Vec<ScriptOutcome>,
}

impl TestRun {
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }

    /// Scripts that could not be read or compiled (exit status 2).
    pub fn invalid(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.problems.is_empty()).count()
    }
}

/// Runs every script, printing `PASS`/`FAIL` lines, the failures and the summary on `out`.
pub fn run_tests(options: &TestOptions, out: &mut dyn Write) -> Result<TestRun, Error> {
    let (settings, catalog) = crate::simulate::load_catalog(&options.config)?;
    let paths = match options.paths.is_empty() {
        true => vec![settings.workflows_dir.join("tests")],
        false => options.paths.clone(),
    };
    let files = discover(&paths)?;
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Usage(format!("no conversation scripts (*.yaml) found in {}", shown.join(", "))));
    }
    let mut run = TestRun::default();
    for file in files {
        let outcome = run_file(&file, &settings, &catalog);
        report::write_outcome(out, &outcome)?;
        run.outcomes.push(outcome);
    }
    writeln!(out, "{}", report::summary(&run))?;
    if let Some(junit) = &options.junit {
        std::fs::write(junit, report::junit_xml(&run))
            .map_err(|err| Error::Usage(format!("cannot write the JUnit report {}: {err}", junit.display())))?;
    }
    Ok(run)
}

/// The script files under `paths`, sorted; a named file is taken whatever its extension.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
        } else if path.is_dir() {
            walk(path, &mut files)?;
        } else {
            return Err(Error::Usage(format!("{}: no such file or directory", path.display())));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Replay files (`*.replay.yaml`) and ignored names (editor leftovers) are not scripts.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries =
        std::fs::read_dir(dir).map_err(|err| Error::Usage(format!("cannot read {}: {err}", dir.display())))?;
    for entry in entries {
        let path = entry.map_err(|err| Error::Usage(format!("cannot read {}: {err}", dir.display())))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
        if crate::catalog::is_ignored_file(&name) {
            continue;
        }
        let script = (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".replay.");
        if path.is_dir() {
            walk(&path, files)?;
        } else if script && path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads, compiles and runs one script.
pub fn run_file(file: &Path, settings: &Settings, catalog: &Catalog) -> ScriptOutcome {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy().to_string();
    let mut outcome = ScriptOutcome {
        file: file.to_path_buf(),
        name: stem,
        workflow: None,
        problems: Vec::new(),
        failures: Vec::new(),
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) => {
            let message = format!("cannot read {}: {err}", file.display());
            outcome.problems.push(Diagnostic::error(file, Position::default(), message));
            return outcome;
        }
    };
    let script = match compile_script(file, &text, catalog) {
        Ok(script) => script,
        Err(problems) => {
            outcome.problems = problems;
            return outcome;
        }
    };
    outcome.name = script.name.clone();
    outcome.workflow = Some(script.workflow.id.clone());
    let brain = match &script.replay {
        Some(replay) => match Brain::load_replay(replay) {
            Ok(brain) => brain,
            Err(problem) => {
                outcome.problems.push(problem);
                return outcome;
            }
        },
        None => Brain::from_settings(settings),
    };
    outcome.failures = run_script(&script, settings, brain);
    outcome
}

/// Plays the script's turns and checks each turn's expectations; stops at the first turn that
/// cannot run (a provider error, an exhausted replay), reported as a failure of that turn.
pub fn run_script(script: &Script, settings: &Settings, brain: Brain) -> Vec<Failure> {
    let start = script.start.unwrap_or_else(|| crate::simulate::default_start(&script.workflow, settings));
    let stage = crate::simulate::stage(settings, script.workflow.clone(), brain);
    let mut conversation = Conversation::new(stage, script.prospect.clone(), script.entry, start);
    let mut failures = Vec::new();
    let mut since = 0;
    let mut outcome = conversation.start();
    for turn in &script.turns {
        if let Some(fail) = turn.handoffs_fail {
            conversation.set_handoffs_fail(fail);
        }
        if outcome.is_ok() {
            outcome = match &turn.act {
                Some(Act::Say(text)) => conversation.say(text),
                Some(Act::Wait(by, _)) => conversation.wait(*by),
                Some(Act::Operator(operator)) => conversation.operator(operator.command()),
                None => Ok(()),
            };
        }
        if let Err(err) = &outcome {
            let what = "the conversation stopped".to_string();
            let expected = "the turn to run".to_string();
            failures.push(Failure {
                at: turn.at,
                context: expect::context(turn),
                what,
                expected,
                actual: err.to_string(),
            });
            break;
        }
        failures.extend(expect::check(turn, &conversation, since));
        since = conversation.transcript().len();
    }
    failures
}
