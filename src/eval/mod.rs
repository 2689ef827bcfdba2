//! `qualifyd eval`: measures extraction. Runs every case of a labelled corpus
//! (`<workflows_dir>/eval/*.yaml`, see [`corpus`]) through the chosen provider's real code path
//! ([`answer`]), scores fields and intents ([`score`]), prints per-field precision, recall and
//! F1, intent accuracy and every miss as `file:line: …` ([`report`]), and fails when a score is
//! below a threshold the corpus file declares.

pub mod answer;
pub mod corpus;
pub mod report;
pub mod score;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
pub use answer::{Answerer, ProviderChoice};
pub use corpus::{Case, Corpus, Thresholds, compile_corpus, load_corpus};
pub use score::{Miss, Score, Tally};

/// Why an evaluation could not run (a low score is not an error: see [`EvalRun::failed`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings, the workflows or a corpus file have problems; each on its own line.
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Diagnostics(Vec<Diagnostic>),
    #[error("{0}")]
    Provider(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
}

impl From<crate::simulate::Error> for Error {
    fn from(err: crate::simulate::Error) -> Error {
        match err {
            crate::simulate::Error::Diagnostics(d) => Error::Diagnostics(d),
            other => Error::Provider(other.to_string()),
        }
    }
}

/// What `qualifyd eval` was asked for.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    pub config: PathBuf,
    pub provider: ProviderChoice,
    /// Corpus files or directories; empty: `<workflows_dir>/eval/`.
    pub paths: Vec<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Recorded answers of the model, instead of calling it (`--provider openai`).
    pub replay: Option<PathBuf>,
    /// Write the answers given to this file, as a replay file.
    pub record: Option<PathBuf>,
}

/// One corpus file's result.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub file: PathBuf,
    pub workflow: String,
    pub score: Score,
    /// What fell below the file's thresholds: `(what, score, minimum)`.
    pub below: Vec<(String, f64, f64)>,
}

/// Every file's result.
#[derive(Debug, Clone, Default)]
pub struct EvalRun {
    pub provider: String,
    pub files: Vec<FileResult>,
}

impl EvalRun {
    pub fn failed(&self) -> bool {
        self.files.iter().any(|f| !f.below.is_empty())
    }
}

/// Runs every corpus file, printing the report on `out`.
pub fn run_eval(options: &EvalOptions, out: &mut dyn Write) -> Result<EvalRun, Error> {
    let (settings, catalog) = crate::simulate::load_catalog(&options.config)?;
    let paths = match options.paths.is_empty() {
        true => vec![settings.workflows_dir.join("eval")],
        false => options.paths.clone(),
    };
    let files = discover(&paths)?;
    let mut corpora = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        match load_corpus(file, &catalog) {
            Ok(corpus) => corpora.push(corpus),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if !problems.is_empty() {
        crate::diagnostic::sort_diagnostics(&mut problems);
        return Err(Error::Diagnostics(problems));
    }
    let mut answerer = Answerer::new(options.provider, &settings, options.replay.as_deref())?;
    let mut run = EvalRun { provider: answerer.name().to_string(), files: Vec::new() };
    let mut recorded = Vec::new();
    for corpus in &corpora {
        let mut score = Score::new(&corpus.ai_step().extract);
        for case in &corpus.cases {
            let answer = answerer.answer(corpus, case)?;
            score.add(case, &answer.fields, answer.intent.as_deref());
            recorded.push(answer);
        }
        let below = score.failures(&corpus.thresholds);
        let result = FileResult { file: corpus.file.clone(), workflow: corpus.workflow.id.clone(), score, below };
        report::write_file(out, &result, &corpus.thresholds)?;
        run.files.push(result);
    }
    writeln!(out, "{}", report::summary(&run))?;
    if let Some(file) = &options.record {
        answer::write_record(file, &recorded)?;
    }
    if let Some(file) = &options.junit {
        std::fs::write(file, report::junit_xml(&run))
            .map_err(|err| Error::Usage(format!("cannot write the JUnit report {}: {err}", file.display())))?;
    }
    Ok(run)
}

/// `*.yaml` / `*.yml` files under `paths` (files as given, directories recursively), sorted.
fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(Error::Usage(format!("no such corpus file or directory: {}", path.display())));
        }
    }
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Usage(format!("no corpus files (*.yaml) found in {}", shown.join(", "))));
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|err| Error::Usage(format!("cannot read {}: {err}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    Ok(())
}
