//! Hot reload: watches the workflows and prompts directories (directories, recursively, so
//! editors that save by rename and `git pull` bursts are seen), debounces, rebuilds the whole
//! catalog aside, and swaps it in only when it compiles. Every outcome is kept for
//! `GET /v1/workflows`. Start-up is simply the first reload.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer, new_debouncer_opt};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::catalog::{BuildOutcome, Catalog, is_ignored_file};
use crate::check::build_catalog;
use crate::diagnostic::Diagnostic;
use crate::engine::Engine;
use crate::settings::{ReloadMode, Settings};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot watch {path}: {source}")]
    Watch { path: String, source: notify::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new catalog is served.
    Loaded,
    /// The files compile to what is already served.
    Unchanged,
    /// The files do not compile: the running catalog stays.
    Rejected,
}

/// The last reload, as `GET /v1/workflows` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    /// What was asked: `startup`, `files`, `request`.
    pub trigger: &'static str,
    pub catalog_version: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// Handle of the reload service; cheap to clone.
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    settings: Settings,
    tx: mpsc::UnboundedSender<&'static str>,
    report: RwLock<ReloadReport>,
    /// When each (workflow, version) was first served.
    loaded_at: Mutex<HashMap<(String, String), DateTime<Utc>>>,
    /// Serializes reloads (a request during a reload runs after it).
    running: tokio::sync::Mutex<()>,
    /// Ends the reload loop (shutdown).
    stop: tokio::sync::Notify,
    /// Reloads attempted since start (start-up excluded).
    count: std::sync::atomic::AtomicU64,
}

/// Keeps the file watcher alive; dropping it stops watching.
pub struct WatchGuard {
    _debouncer: Box<dyn Send>,
}

impl Reloader {
    /// Starts the reload loop after the start-up build (`first`, already served by `engine`).
    pub fn start(engine: Engine, settings: Settings, first_diagnostics: Vec<Diagnostic>) -> Reloader {
        let (tx, rx) = mpsc::unbounded_channel();
        let catalog = engine.catalog();
        let report = ReloadReport {
            at: Utc::now(),
            outcome: Outcome::Loaded,
            trigger: "startup",
            catalog_version: catalog.version.clone(),
            diagnostics: first_diagnostics,
        };
        let reloader = Reloader {
            inner: Arc::new(Shared {
                engine,
                settings,
                tx,
                report: RwLock::new(report),
                loaded_at: Mutex::new(HashMap::new()),
                running: tokio::sync::Mutex::new(()),
                count: std::sync::atomic::AtomicU64::new(0),
                stop: tokio::sync::Notify::new(),
            }),
        };
        reloader.remember_versions(&catalog);
        metrics::counter!("qualifyd_reloads_total", "outcome" => "loaded").increment(1);
        set_version_gauge(&catalog.version);
        tokio::spawn(run(reloader.clone(), rx));
        reloader
    }

    /// Watches the definition directories (or polls them, per the settings).
    pub fn watch(&self) -> Result<WatchGuard, Error> {
        let tx = self.inner.tx.clone();
        let handler = move |result: DebounceEventResult| match result {
            Ok(events) => {
                // Reading the files (our own reloads) produces access events: only changes count.
                let relevant = events
                    .iter()
                    .any(|e| e.need_rescan() || (!e.kind.is_access() && e.paths.iter().any(|p| !ignored(p))));
                if relevant {
                    let _ = tx.send("files");
                }
            }
            Err(errors) => {
                tracing::warn!(errors = errors.len(), "file watcher reported errors; reloading everything");
                let _ = tx.send("files");
            }
        };
        let settings = &self.inner.settings;
        let dirs = [settings.workflows_dir.clone(), settings.prompts_dir.clone()];
        let watch_err = |path: &Path, source| Error::Watch { path: path.display().to_string(), source };
        let debouncer: Box<dyn Send> = match settings.reload.mode {
            ReloadMode::Watch => {
                let mut debouncer = new_debouncer(settings.reload.debounce, None, handler)
                    .map_err(|e| watch_err(&settings.workflows_dir, e))?;
                for dir in &dirs {
                    debouncer.watch(dir, RecursiveMode::Recursive).map_err(|e| watch_err(dir, e))?;
                }
                Box::new(debouncer)
            }
            ReloadMode::Poll => {
                let config = notify::Config::default().with_poll_interval(settings.reload.poll_interval);
                let mut debouncer = new_debouncer_opt::<_, notify::PollWatcher, _>(
                    settings.reload.debounce,
                    None,
                    handler,
                    notify_debouncer_full::RecommendedCache::new(),
                    config,
                )
                .map_err(|e| watch_err(&settings.workflows_dir, e))?;
                for dir in &dirs {
                    debouncer.watch(dir, RecursiveMode::Recursive).map_err(|e| watch_err(dir, e))?;
                }
                Box::new(debouncer)
            }
        };
        tracing::info!(mode = ?settings.reload.mode, "watching workflows and prompts for changes");
        Ok(WatchGuard { _debouncer: debouncer })
    }

    /// Stops the reload loop; the handle keeps answering `last_report`.
    pub fn stop(&self) {
        self.inner.stop.notify_one();
    }

    /// Asks for a reload (SIGHUP, `POST /v1/reload`); returns at once.
    pub fn request(&self) {
        let _ = self.inner.tx.send("request");
    }

    /// Reloads now and returns the outcome (used by the loop and by tests).
    pub async fn reload_now(&self, trigger: &'static str) -> ReloadReport {
        let _running = self.inner.running.lock().await;
        self.inner.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let settings = self.inner.settings.clone();
        let outcome = tokio::task::spawn_blocking(move || build_catalog(&settings))
            .await
            .unwrap_or_else(|e| BuildOutcome { catalog: None, diagnostics: vec![panic_diagnostic(&e.to_string())] });
        let current = self.inner.engine.catalog();
        let report = match outcome.catalog {
            Some(catalog) if catalog.version == current.version => {
                self.report(trigger, Outcome::Unchanged, &current.version, outcome.diagnostics)
            }
            Some(catalog) => {
                let version = catalog.version.clone();
                let ids: Vec<(String, String)> =
                    catalog.workflows.values().map(|w| (w.id.clone(), w.version.clone())).collect();
                match self.inner.engine.swap_catalog(catalog).await {
                    Ok(()) => {
                        let now = Utc::now();
                        let mut loaded = self.inner.loaded_at.lock().unwrap_or_else(|e| e.into_inner());
                        for key in ids {
                            loaded.entry(key).or_insert(now);
                        }
                        drop(loaded);
                        set_version_gauge(&version);
                        tracing::info!(catalog = %version, trigger, "reloaded workflows and prompts");
                        self.report(trigger, Outcome::Loaded, &version, outcome.diagnostics)
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "storing the new workflow versions failed; the running catalog stays");
                        let diagnostic = Diagnostic::error(Path::new("store"), Default::default(), err.to_string());
                        self.report(trigger, Outcome::Rejected, &current.version, vec![diagnostic])
                    }
                }
            }
            None => {
                for diagnostic in &outcome.diagnostics {
                    tracing::warn!("{diagnostic}");
                }
                tracing::warn!(
                    errors = outcome.errors(),
                    trigger,
                    "reload rejected; the running catalog stays in service"
                );
                self.report(trigger, Outcome::Rejected, &current.version, outcome.diagnostics)
            }
        };
        let label = match report.outcome {
            Outcome::Loaded => "loaded",
            Outcome::Unchanged => "unchanged",
            Outcome::Rejected => "rejected",
        };
        metrics::counter!("qualifyd_reloads_total", "outcome" => label).increment(1);
        *self.inner.report.write().unwrap_or_else(|e| e.into_inner()) = report.clone();
        report
    }

    fn report(
        &self,
        trigger: &'static str,
        outcome: Outcome,
        version: &str,
        diagnostics: Vec<Diagnostic>,
    ) -> ReloadReport {
        ReloadReport { at: Utc::now(), outcome, trigger, catalog_version: version.to_string(), diagnostics }
    }

    /// How many reloads ran since start-up (a burst of file changes counts once).
    pub fn reload_count(&self) -> u64 {
        self.inner.count.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn last_report(&self) -> ReloadReport {
        self.inner.report.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// When this workflow version was first served, if this process served it.
    pub fn loaded_at(&self, workflow: &str, version: &str) -> Option<DateTime<Utc>> {
        self.inner
            .loaded_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(workflow.to_string(), version.to_string()))
            .copied()
    }

    fn remember_versions(&self, catalog: &Catalog) {
        let now = Utc::now();
        let mut loaded = self.inner.loaded_at.lock().unwrap_or_else(|e| e.into_inner());
        for workflow in catalog.workflows.values() {
            loaded.entry((workflow.id.clone(), workflow.version.clone())).or_insert(now);
        }
    }
}

/// After the debouncer reports a change, how long more events may still join the same reload.
/// A `git checkout` of many files can span several debouncer ticks.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

async fn run(reloader: Reloader, mut rx: mpsc::UnboundedReceiver<&'static str>) {
    loop {
        let first = tokio::select! {
            received = rx.recv() => match received {
                Some(trigger) => trigger,
                None => return,
            },
            _ = reloader.inner.stop.notified() => return,
        };
        let mut trigger = first;
        if trigger == "files" {
            tokio::time::sleep(SETTLE).await;
        }
        while let Ok(more) = rx.try_recv() {
            if more == "request" {
                trigger = more;
            }
        }
        reloader.reload_now(trigger).await;
    }
}

fn ignored(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(is_ignored_file)
}

fn set_version_gauge(version: &str) {
    metrics::gauge!("qualifyd_catalog_info", "version" => version.to_string()).set(1.0);
}

fn panic_diagnostic(message: &str) -> Diagnostic {
    Diagnostic::error(Path::new("reload"), Default::default(), format!("the reload task failed: {message}"))
}
