//! `qualifyd bench`: measures the real daemon on this machine and prints each figure beside a
//! baseline measured in the same run (a bare axum handler, raw sled writes, an empty store).
//!
//! Each scenario gets a fresh runtime and fresh scratch directories (removed afterwards), starts
//! the real daemon in-process (`app::start`, port 0) or the real engine on an instrumented store,
//! or the real binary as a child process when memory or start-up time is measured, and loads it
//! over loopback only, for a bounded count and time. Sizes shrink with `--quick` (CI smoke).
//! Scenarios: [`ingest`], [`import`], [`engine`], [`timers`], [`restart`], [`reload`], [`footprint`].

mod child;
mod counting;
mod engine;
mod fixture;
mod footprint;
mod import;
mod ingest;
mod load;
mod probe;
mod reload;
mod report;
mod restart;
mod timers;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use report::{Figure, Machine, Report, Target};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown scenario `{0}`; known: ingest, import, engine, timers, restart, reload, footprint")]
    UnknownScenario(String),
    #[error("{what} {path}: {source}")]
    Io { what: String, path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Engine(#[from] crate::engine::Error),
    #[error(transparent)]
    App(#[from] crate::app::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("setting up the scenario: {0}")]
    Setup(String),
    #[error("the daemon started as a child process: {0}")]
    Child(String),
    #[error("check failed: {0}")]
    Check(String),
}

impl Error {
    fn io(what: &str, path: &Path, source: std::io::Error) -> Error {
        Error::Io { what: what.to_string(), path: path.display().to_string(), source }
    }
}

/// The measured scenarios, in the order a full run takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Ingest,
    Import,
    Engine,
    Timers,
    Restart,
    Reload,
    Footprint,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Ingest,
        Scenario::Import,
        Scenario::Engine,
        Scenario::Timers,
        Scenario::Restart,
        Scenario::Reload,
        Scenario::Footprint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ingest => "ingest",
            Scenario::Import => "import",
            Scenario::Engine => "engine",
            Scenario::Timers => "timers",
            Scenario::Restart => "restart",
            Scenario::Reload => "reload",
            Scenario::Footprint => "footprint",
        }
    }

    pub fn parse(name: &str) -> Result<Scenario, Error> {
        Scenario::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| Error::UnknownScenario(name.to_string()))
    }

    fn run(self, cx: &mut Context) -> Result<Vec<Figure>, Error> {
        match self {
            Scenario::Ingest => ingest::run(cx),
            Scenario::Import => import::run(cx),
            Scenario::Engine => engine::run(cx),
            Scenario::Timers => timers::run(cx),
            Scenario::Restart => restart::run(cx),
            Scenario::Reload => reload::run(cx),
            Scenario::Footprint => footprint::run(cx),
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Empty: every scenario.
    pub scenarios: Vec<String>,
    pub quick: bool,
    pub json: Option<PathBuf>,
    /// Where scratch directories go (default: the system's temporary directory).
    pub dir: Option<PathBuf>,
}

/// Shared by the scenarios of one run.
pub struct Context {
    pub quick: bool,
    pub dir: PathBuf,
    pub notes: Vec<String>,
    /// The store with many prospects and far timers, built once for `timers` and `restart`.
    big_store: Option<restart::BigStore>,
}

impl Context {
    pub fn note(&mut self, scenario: Scenario, text: impl AsRef<str>) {
        self.notes.push(format!("{}: {}", scenario.name(), text.as_ref()));
    }

    /// `full` normally, `quick` with `--quick`.
    pub fn size(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }
}

/// Runs the scenarios, printing progress to stderr; returns the report (not yet printed).
pub fn run(options: &Options) -> Result<Report, Error> {
    let scenarios: Vec<Scenario> = if options.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        options.scenarios.iter().map(|s| Scenario::parse(s)).collect::<Result<_, _>>()?
    };
    probe::metrics();
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let dir = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut cx = Context { quick: options.quick, dir, notes: Vec::new(), big_store: None };
    let mut figures = Vec::new();
    for scenario in &scenarios {
        eprintln!("bench: {} ...", scenario.name());
        let begun = Instant::now();
        figures.extend(scenario.run(&mut cx)?);
        eprintln!("bench: {} done in {:.1} s", scenario.name(), begun.elapsed().as_secs_f64());
    }
    let report = Report {
        machine: Machine::probe(),
        quick: options.quick,
        scenarios: scenarios.iter().map(|s| s.name()).collect(),
        started_at,
        seconds: started.elapsed().as_secs_f64(),
        figures,
        notes: cx.notes,
    };
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Setup(format!("encoding JSON: {e}")))?;
        std::fs::write(path, text).map_err(|e| Error::io("writing", path, e))?;
    }
    Ok(report)
}
