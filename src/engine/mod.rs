//! The engine: applies events one at a time per prospect (sharded workers), commits the new
//! state with its outbox and timers atomically, group-flushes, and only then performs side
//! effects. Handle: [`Engine`], cheap to clone; `shutdown` drains it.

pub mod api;
mod classifying;
mod drivers;
mod executor;
pub mod handoff;
mod intake;
mod journal;
pub mod limits;
pub mod operator;
mod privacy;
mod queries;
mod receipts;
mod timers;
mod versions;
mod worker;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::catalog::{Catalog, Workflow};
use crate::store::{Batch, Op, Store, Writer};

pub use drivers::{
    AiProvider, AiRequest, BoxFuture, ChannelDriver, DriverError, Drivers, Outbound, OutboxDriver, RulesProvider,
};
pub use intake::{normalise_email, normalise_phone};
pub use privacy::{DryRun, MatchedProspect, PrivacyConfig, SweepReport};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The identifiers of a data-subject request name several people.
    #[error("{0}")]
    Ambiguous(String),
}

/// Settings-level knobs of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub default_window: crate::schedule::SendWindow,
    pub public_url: String,
    pub compile_options: crate::catalog::CompileOptions,
    /// Parallel workers; one prospect always maps to the same one.
    pub shards: usize,
    /// Side effects performed at once.
    pub max_in_flight_actions: usize,
    /// HELP text, retention period and message history limit.
    pub privacy: PrivacyConfig,
    /// Size caps on inbound messages.
    pub limits: limits::InboundLimits,
    /// Where performed side effects are journaled when the store cannot record them (`None`: not).
    pub journal: Option<std::path::PathBuf>,
}

impl EngineConfig {
    pub fn new(default_window: crate::schedule::SendWindow, public_url: &str) -> EngineConfig {
        EngineConfig {
            default_window,
            public_url: public_url.trim_end_matches('/').to_string(),
            compile_options: crate::catalog::CompileOptions::default(),
            shards: 16,
            max_in_flight_actions: 64,
            privacy: PrivacyConfig::default(),
            limits: limits::InboundLimits::default(),
            journal: None,
        }
    }
}

const PAUSED_WORKFLOWS_KEY: &str = "paused_workflows";

pub(crate) struct Inner {
    me: std::sync::Weak<Inner>,
    pub store: Arc<dyn Store>,
    pub config: EngineConfig,
    catalog: RwLock<Arc<Catalog>>,
    pub versions: Mutex<HashMap<(String, String), Arc<Workflow>>>,
    paused: RwLock<HashSet<String>>,
    /// Every write and flush goes through it (a dedicated thread; see `store::writer`).
    pub writer: Writer,
    pub journal: Option<journal::Journal>,
    shards: Mutex<Vec<mpsc::UnboundedSender<String>>>,
    pub stopping: AtomicBool,
    /// Serializes imports and unknown-sender creation so one person is never entered twice.
    pub intake_lock: tokio::sync::Mutex<()>,
    pub actions: Arc<Semaphore>,
    pub drivers: Drivers,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Per-prospect locks: transitions, rectifications and erasures never interleave.
    pub(crate) locks: privacy::Locks,
    /// AI calls waiting for their first answer: the person's sends are held meanwhile.
    pub(crate) classifying: classifying::Classifying,
    /// Outbox entries dispatched and not yet finished: one action is never performed by two
    /// tasks at once (a worker and the start-up outbox scan can both hand over the same entry).
    pub(crate) in_flight: Mutex<HashSet<String>>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Inner {
    /// An owned handle for background tasks; `None` once the engine is gone.
    pub fn self_arc(&self) -> Option<Arc<Inner>> {
        self.me.upgrade()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_paused(&self, workflow: &str) -> bool {
        self.paused.read().unwrap_or_else(|e| e.into_inner()).contains(workflow)
    }

    /// Wakes the worker that owns `prospect`.
    pub fn notify(&self, prospect: &str) {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        if shards.is_empty() {
            return; // Shutting down: the inbox keeps the event for the next start.
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        prospect.hash(&mut hasher);
        let shard = (hasher.finish() as usize) % shards.len();
        let _ = shards[shard].send(prospect.to_string());
    }

    /// Applies `batch` and waits until it is durable.
    pub async fn commit(&self, batch: Batch) -> Result<(), Error> {
        Ok(self.writer.commit(batch).await?)
    }
}

impl Engine {
    /// Opens the engine on `store` with its first catalog, and resumes every prospect: pending
    /// inbox events are applied, outbox entries performed, overdue timers fired.
    pub async fn start(
        store: Arc<dyn Store>,
        config: EngineConfig,
        catalog: Catalog,
        drivers: Drivers,
    ) -> Result<Engine, Error> {
        let paused: HashSet<String> = match store.meta(PAUSED_WORKFLOWS_KEY)? {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => HashSet::new(),
        };
        let actions = Arc::new(Semaphore::new(config.max_in_flight_actions.max(1)));
        let (journal, journaled) = match &config.journal {
            Some(path) => {
                let (journal, entries) = journal::Journal::open(path)
                    .map_err(|e| Error::Store(crate::store::Error::Backend(e.to_string())))?;
                (Some(journal), entries)
            }
            None => (None, Vec::new()),
        };
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            writer: Writer::start(store.clone()),
            journal,
            store,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            versions: Mutex::new(HashMap::new()),
            paused: RwLock::new(paused),
            shards: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            intake_lock: tokio::sync::Mutex::new(()),
            actions,
            drivers,
            tasks: Mutex::new(Vec::new()),
            locks: privacy::Locks::new(),
            classifying: classifying::Classifying::default(),
            in_flight: Mutex::new(HashSet::new()),
            config,
        });
        let engine = Engine { inner: inner.clone() };
        engine.swap_catalog(catalog).await?;
        // The outbox as the last run left it, read before any worker can add to it.
        let outbox = inner.store.outbox()?;
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..inner.config.shards.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            tasks.push(tokio::spawn(worker::run(inner.clone(), rx)));
        }
        *inner.shards.lock().unwrap_or_else(|e| e.into_inner()) = senders;
        tasks.push(tokio::spawn(timers::run(inner.clone())));
        *inner.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        for prospect in inner.store.prospects_with_inbox()? {
            inner.notify(&prospect);
        }
        executor::recover(&inner, journaled).await?;
        for entry in outbox {
            executor::dispatch(&inner, entry.action.id().to_string());
        }
        engine.resume_erasures().await?;
        Ok(engine)
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog()
    }

    /// Swaps in a new catalog (hot reload) after storing every workflow version it holds.
    pub async fn swap_catalog(&self, catalog: Catalog) -> Result<(), Error> {
        let mut batch = Batch::new();
        for workflow in catalog.workflows.values() {
            if self.inner.store.workflow_source(&workflow.id, &workflow.version)?.is_none() {
                batch.push(Op::PutWorkflowSource {
                    workflow: workflow.id.clone(),
                    version: workflow.version.clone(),
                    source: Box::new(workflow.source.clone()),
                });
            }
        }
        if !batch.is_empty() {
            self.inner.commit(batch).await?;
        }
        {
            let mut versions = self.inner.versions.lock().unwrap_or_else(|e| e.into_inner());
            for workflow in catalog.workflows.values() {
                versions.insert((workflow.id.clone(), workflow.version.clone()), workflow.clone());
            }
        }
        *self.inner.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        Ok(())
    }

    /// Returns false when the workflow does not exist.
    pub async fn pause_workflow(&self, id: &str) -> Result<bool, Error> {
        self.set_workflow_paused(id, true).await
    }

    /// Resumes a paused workflow: events held meanwhile (timers, replies) are applied now.
    pub async fn resume_workflow(&self, id: &str) -> Result<bool, Error> {
        let found = self.set_workflow_paused(id, false).await?;
        if found {
            for prospect in self.inner.store.prospects_with_inbox()? {
                self.inner.notify(&prospect);
            }
        }
        Ok(found)
    }

    async fn set_workflow_paused(&self, id: &str, paused: bool) -> Result<bool, Error> {
        if self.catalog().workflow(id).is_none() {
            return Ok(false);
        }
        let list = {
            let mut set = self.inner.paused.write().unwrap_or_else(|e| e.into_inner());
            if paused {
                set.insert(id.to_string());
            } else {
                set.remove(id);
            }
            let mut list: Vec<&String> = set.iter().collect();
            list.sort();
            serde_json::to_string(&list).unwrap_or_default()
        };
        let mut batch = Batch::new();
        batch.push(Op::PutMeta { key: PAUSED_WORKFLOWS_KEY.into(), value: list });
        self.inner.commit(batch).await?;
        tracing::info!(workflow = %id, paused, "workflow pause state changed");
        Ok(true)
    }

    /// Why the store takes no more writes (a full or failing disk), if it does not.
    pub fn store_failure(&self) -> Option<String> {
        self.inner.writer.health().failure()
    }

    /// The store's health, shared: it changes when a write fails.
    pub fn store_health(&self) -> Arc<crate::store::Health> {
        self.inner.writer.health()
    }

    pub fn is_workflow_paused(&self, id: &str) -> bool {
        self.inner.is_paused(id)
    }

    /// Stops taking work, lets the workers finish what they hold, waits for in-flight side
    /// effects, and flushes.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.shards.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        let permits = self.inner.config.max_in_flight_actions.max(1) as u32;
        let _ = self.inner.actions.acquire_many(permits).await;
        if let Err(err) = self.inner.writer.flush().await {
            tracing::error!(error = %err, "final flush failed");
        }
    }
}
