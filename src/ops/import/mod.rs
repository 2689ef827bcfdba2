//! `qualifyd import FILE.csv --workflow ID`: a spreadsheet of people into a workflow, through
//! the running daemon's `POST /v1/prospects` in batches.
//!
//! Every row is checked first ([`rows`], against the workflow's field declarations compiled
//! from the same settings the daemon runs on) and every problem printed as `FILE:LINE: message`;
//! then the valid rows go to the daemon in batches (one flush per batch on its side), with a
//! progress bar ([`progress`]) and a checkpoint after each batch ([`checkpoint`]) so a run cut
//! short resumes without duplicates. `--dry-run` stops after the checks.

mod checkpoint;
mod mapping;
mod progress;
pub(crate) mod rows;
mod table;

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use crate::ops::client::{self, Client};

pub use mapping::normalise;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{file}:{line}: {message}")]
    Csv { file: String, line: u64, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("{source}\n{done} of {total} rows were imported; run the same command again to go on from there")]
    Interrupted { source: client::Error, done: usize, total: usize },
}

/// What `qualifyd import` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub file: PathBuf,
    pub workflow: String,
    /// `Column=target` entries.
    pub maps: Vec<String>,
    pub dry_run: bool,
    /// Base URL of the daemon; default: its `listen` address.
    pub server: Option<String>,
    pub token: Option<String>,
    /// Rows per request (at most the API's 10,000).
    pub batch: usize,
    /// Draw a progress bar (stderr is a terminal) rather than plain lines.
    pub terminal: bool,
}

/// How an import went; `rejected` holds every row that was not imported, with its reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: usize,
    pub created: usize,
    pub existing: usize,
    /// Lines of people on the suppression list (they opted out): not imported, by design.
    pub suppressed: Vec<u64>,
    pub rejected: Vec<(u64, String)>,
    /// Valid rows an interrupted earlier run had already imported.
    pub resumed: usize,
    pub dry_run: bool,
}

impl Summary {
    /// The summary block printed at the end.
    pub fn render(&self, file: &str, workflow: &str) -> String {
        let mut out = String::new();
        let verb = if self.dry_run { "checked (dry run, nothing imported)" } else { "imported into" };
        out.push_str(&format!("{file}: {} row(s) {verb} workflow `{workflow}`\n", self.rows));
        if self.dry_run {
            out.push_str(&format!("  valid:      {}\n", self.rows - self.rejected.len()));
        } else {
            out.push_str(&format!("  created:    {}\n", self.created));
            out.push_str(&format!("  existing:   {} (already in the workflow)\n", self.existing));
            out.push_str(&format!("  suppressed: {} (opted out: never imported)\n", self.suppressed.len()));
        }
        out.push_str(&format!("  rejected:   {}\n", self.rejected.len()));
        for (line, reason) in &self.rejected {
            out.push_str(&format!("    {file}:{line}: {reason}\n"));
        }
        if self.resumed > 0 {
            out.push_str(&format!(
                "  (resumed: {} row(s) were imported by an interrupted earlier run)\n",
                self.resumed
            ));
        }
        out
    }
}

/// Runs an import; problems with rows are in the summary, `Err` is for the run as a whole.
pub async fn run(options: &Options, diagnostics: &mut dyn Write) -> Result<Summary, Error> {
    let settings = crate::settings::load(&options.config).map_err(|diagnostics| {
        Error::Usage(diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
    })?;
    let outcome = crate::check::build_catalog(&settings);
    let Some(catalog) = outcome.catalog else {
        let listing: Vec<String> = outcome.diagnostics.iter().map(|d| d.to_string()).collect();
        return Err(Error::Usage(format!("the workflows do not compile:\n{}", listing.join("\n"))));
    };
    let Some(workflow) = catalog.workflow(&options.workflow) else {
        let known: Vec<&str> = catalog.workflows.keys().map(String::as_str).collect();
        return Err(Error::Usage(format!(
            "there is no workflow `{}`{}; the workflows are {}",
            options.workflow,
            crate::diagnostic::did_you_mean_suffix(&options.workflow, known.iter().copied()),
            known.join(", ")
        )));
    };
    if !workflow.entry_import {
        return Err(Error::Usage(format!("workflow `{}` does not take imports (entry.import is false)", workflow.id)));
    }
    let file = options.file.display().to_string();
    let bytes = std::fs::read(&options.file).map_err(|source| Error::Read { path: file.clone(), source })?;
    let table = table::parse(&options.file, &bytes)?;
    let mapping = mapping::build(&table.headers, &options.maps, workflow)?;
    let say = |out: &mut dyn Write, line: String| {
        let _ = writeln!(out, "{line}");
    };
    let separator = char::from(table.delimiter);
    say(diagnostics, format!("{file}: {} row(s), `{separator}` between fields", table.rows.len()));
    if table.windows_1252 {
        say(
            diagnostics,
            format!("{file}: not UTF-8: read as Windows-1252 (Excel's \"CSV (séparateur: point-virgule)\")"),
        );
    }
    for column in &mapping.unmapped {
        say(
            diagnostics,
            format!(
                "{file}:1: column `{column}` is not imported: map it with --map \"{column}=<field>\" or leave it out with --map \"{column}=-\""
            ),
        );
    }
    let (prepared, rejected) = rows::prepare(&table.rows, &mapping, workflow);
    for (line, reason) in &rejected {
        say(diagnostics, format!("{file}:{line}: {reason}"));
    }
    let mut summary = Summary { rows: table.rows.len(), rejected, dry_run: options.dry_run, ..Summary::default() };
    if options.dry_run || prepared.is_empty() {
        return Ok(summary);
    }
    let server = options.server.clone().unwrap_or_else(|| client::default_server(settings.listen));
    let client = Client::new(&server, options.token.clone());
    send(options, &client, &bytes, &prepared, &mut summary).await?;
    summary.rejected.sort_by_key(|(line, _)| *line);
    Ok(summary)
}

/// Sends the valid rows in batches, saving a checkpoint after each.
async fn send(
    options: &Options,
    client: &Client,
    bytes: &[u8],
    prepared: &[rows::Prepared],
    summary: &mut Summary,
) -> Result<(), Error> {
    let state_path = checkpoint::path_for(&options.file);
    let digest = checkpoint::digest(bytes);
    let mut state = checkpoint::load(&state_path, &digest, &options.workflow)?.unwrap_or_else(|| {
        checkpoint::Checkpoint { file_sha256: digest, workflow: options.workflow.clone(), ..Default::default() }
    });
    summary.resumed = state.done;
    let label = options.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut progress = progress::Progress::new(options.terminal, &label, prepared.len() as u64, state.done as u64);
    let batch = options.batch.clamp(1, 10_000);
    while state.done < prepared.len() {
        let chunk = &prepared[state.done..(state.done + batch).min(prepared.len())];
        let body = Value::Array(chunk.iter().map(|p| p.request.clone()).collect());
        let answer = client.post("/v1/prospects", &body).await.map_err(|source| {
            progress.finish();
            Error::Interrupted { source, done: state.done, total: prepared.len() }
        })?;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        for (row, result) in chunk.iter().zip(results.iter().chain(std::iter::repeat(&Value::Null))) {
            let reason = result["error"].as_str().unwrap_or("the daemon gave no answer for this row");
            match result["status"].as_str() {
                Some("created") => state.created += 1,
                Some("existing") => state.existing += 1,
                _ if reason.contains("opted out") => state.suppressed.push(row.line),
                _ => state.rejected.push((row.line, reason.to_string())),
            }
        }
        state.done += chunk.len();
        checkpoint::save(&state_path, &state)?;
        progress.advance(chunk.len() as u64);
    }
    progress.finish();
    checkpoint::remove(&state_path);
    summary.created = state.created;
    summary.existing = state.existing;
    summary.suppressed = state.suppressed;
    summary.rejected.extend(state.rejected);
    Ok(())
}
