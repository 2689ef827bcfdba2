//! Setup shared by the scenarios: scratch directories removed on drop, workflow and template
//! files, settings that point at them, the real engine started on an instrumented store, and
//! seeding through the public `Store` API (states computed by the real state machine, keys
//! written as an import or an inbound message would write them, in large batches).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Error;
use super::counting::{CountingStore, Tally, drivers};
use crate::catalog::{Catalog, Workflow};
use crate::channel::Channel;
use crate::check::{build_catalog, compile_options};
use crate::engine::{Engine, EngineConfig};
use crate::machine::{Contact, Direction, Event, MachineEnv, ProspectState, apply};
use crate::settings::{Secret, Settings};
use crate::store::{Batch, ContactKey, DeliveryStatus, Message, Op, SledStore, Store};

pub const ADMIN_TOKEN: &str = "bench-admin-token";

/// A directory removed (with everything in it) when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(parent: &Path, name: &str) -> Result<Scratch, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = parent.join(format!("qualifyd-bench-{}-{unique}-{name}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|source| Error::io("creating a scratch directory", &path, source))?;
        Ok(Scratch { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes `workflows/<id>.yaml` and `prompts/<name>` under `dir`.
pub fn write_definitions(dir: &Path, workflows: &[(String, String)], templates: &[(&str, &str)]) -> Result<(), Error> {
    for (id, text) in workflows {
        write(&dir.join("workflows").join(format!("{id}.yaml")), text)?;
    }
    for (name, text) in templates {
        write(&dir.join("prompts").join(name), text)?;
    }
    std::fs::create_dir_all(dir.join("prompts")).map_err(|e| Error::io("creating", &dir.join("prompts"), e))?;
    Ok(())
}

pub fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io("writing", path, e))
}

/// `Settings::development` (port 0, outbox drivers, rules provider, an always-open send window)
/// with data in `dir/data` and definitions in `dir/workflows` and `dir/prompts`.
pub fn settings(dir: &Path) -> Settings {
    let mut settings = Settings::development(&dir.join("data"));
    settings.workflows_dir = dir.join("workflows");
    settings.prompts_dir = dir.join("prompts");
    settings.admin_token = Some(Secret::new(ADMIN_TOKEN));
    settings.inbound_webhook = crate::settings::InboundWebhook::Token(Secret::new(ADMIN_TOKEN));
    settings
}

/// The same settings as a `config.yaml`, for a daemon started as a child process (the same
/// development master key in `data/`, so both read what the other wrote).
pub fn config_file(dir: &Path) -> Result<PathBuf, Error> {
    let text = format!(
        "listen: 127.0.0.1:0\npublic_url: http://127.0.0.1\ndata_dir: ./data\nworkflows_dir: ./workflows\n\
         prompts_dir: ./prompts\ntimezone: UTC\n\
         send_window: {{ days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-24:00\" }}\n\
         admin_token: {ADMIN_TOKEN}\ninbound_token: {ADMIN_TOKEN}\nchannels: {{ sms: {{ driver: outbox }} }}\n\
         privacy: {{ development_key: true }}\n"
    );
    let path = dir.join("config.yaml");
    write(&path, &text)?;
    Ok(path)
}

pub fn catalog(settings: &Settings) -> Result<Catalog, Error> {
    let outcome = build_catalog(settings);
    match outcome.catalog {
        Some(catalog) => Ok(catalog),
        None => {
            let listing: Vec<String> = outcome.diagnostics.iter().map(|d| d.to_string()).collect();
            Err(Error::Setup(format!("the bench workflows do not compile:\n{}", listing.join("\n"))))
        }
    }
}

pub fn workflow(catalog: &Catalog, id: &str) -> Result<Arc<Workflow>, Error> {
    catalog.workflow(id).cloned().ok_or_else(|| Error::Setup(format!("no workflow `{id}` in the bench catalog")))
}

/// Opens the sled store the daemon would open for these settings, instrumented.
pub fn open_store(settings: &Settings) -> Result<Arc<CountingStore>, Error> {
    Ok(Arc::new(CountingStore::new(reopen(settings)?)))
}

/// The real engine (what `app::start` starts, without HTTP) on `store`, counting into `tally`.
pub async fn start_engine(
    settings: &Settings,
    store: &Arc<CountingStore>,
    tally: &Arc<Tally>,
) -> Result<Engine, Error> {
    let mut config = EngineConfig::new(settings.send_window.clone(), &settings.public_url);
    config.compile_options = compile_options(settings);
    let store: Arc<dyn Store> = store.clone();
    Ok(Engine::start(store, config, catalog(settings)?, drivers(tally)).await?)
}

/// A phone number, distinct for each `i` (French mobile range, valid for the phone parser).
pub fn phone(i: usize) -> String {
    format!("+336{:08}", 10_000_000 + i % 90_000_000)
}

/// A prospect id shaped like the engine's (`p_` and 16 hex digits), scattered like random ones.
pub fn prospect_id(i: usize) -> String {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("p_{:016x}", z ^ (z >> 31))
}

/// Writes through the `Store` API in batches of [`BATCH`] keys; flushes once at the end.
pub struct Seeder<'a> {
    store: &'a dyn Store,
    batch: Batch,
}

/// Large: each batch that enters new prospects appends their data keys, one fsync per key file.
const BATCH: usize = 40_000;

impl<'a> Seeder<'a> {
    pub fn new(store: &'a dyn Store) -> Seeder<'a> {
        Seeder { store, batch: Batch::new() }
    }

    pub fn push(&mut self, op: Op) -> Result<(), Error> {
        self.batch.push(op);
        if self.batch.ops.len() >= BATCH {
            self.store.apply(std::mem::take(&mut self.batch))?;
        }
        Ok(())
    }

    /// What an import writes: the contact index, the unsubscribe token, the new state (and its
    /// timer index entry, if it has a timer).
    pub fn prospect(&mut self, state: ProspectState) -> Result<(), Error> {
        if let Some(phone) = &state.contact.phone {
            self.push(Op::PutContact { key: ContactKey::Phone(phone.clone()), prospect: state.id.clone() })?;
        }
        self.push(Op::PutToken { token: state.unsubscribe_token.clone(), prospect: state.id.clone() })?;
        if let Some(timer) = state.timer.clone() {
            self.push(Op::PutTimer { at: timer.at, prospect: state.id.clone(), seq: timer.seq })?;
        }
        self.push(Op::PutProspect(Box::new(state)))
    }

    /// An event in the prospect's inbox, applied when the engine (re)starts.
    pub fn event(&mut self, prospect: &str, event: Event) -> Result<(), Error> {
        let seq = self.store.next_id()?;
        self.push(Op::PutInbox { prospect: prospect.to_string(), seq, event })
    }

    /// What `Engine::inbound` writes for a reply from a known prospect: the conversation
    /// message, the inbox event (same seq) and the dedupe key.
    pub fn inbound(&mut self, prospect: &str, provider_id: &str, text: &str, at: DateTime<Utc>) -> Result<(), Error> {
        let seq = self.store.next_id()?;
        let message = Message {
            seq,
            direction: Direction::Inbound,
            channel: Channel::Sms,
            text: text.to_string(),
            status: DeliveryStatus::Received,
            at,
            provider_id: Some(provider_id.to_string()),
            action_id: None,
            human: false,
            error: None,
        };
        self.push(Op::PutMessage { prospect: prospect.to_string(), message })?;
        let event = Event::Inbound { channel: Channel::Sms, text: text.to_string(), at };
        self.push(Op::PutInbox { prospect: prospect.to_string(), seq, event })?;
        self.push(Op::PutSeen { key: format!("in:sms:{provider_id}"), prospect: prospect.to_string() })
    }

    pub fn finish(mut self) -> Result<(), Error> {
        if !self.batch.is_empty() {
            self.store.apply(std::mem::take(&mut self.batch))?;
        }
        self.store.flush()?;
        Ok(())
    }
}

/// A new prospect `i` of `workflow`, as an import creates it (before its first event).
pub fn new_prospect(workflow: &Workflow, i: usize, now: DateTime<Utc>) -> ProspectState {
    let contact = Contact { phone: Some(phone(i)), timezone: Some("Europe/Paris".into()), ..Contact::default() };
    let token = format!("{:032x}", i as u128 * 0x9E37_79B9_7F4A_7C15);
    ProspectState::new(prospect_id(i), workflow, contact, Default::default(), token, now)
}

/// Prospect `i` after its `Entered` event, computed by the real state machine at `now`.
pub fn entered(settings: &Settings, workflow: &Workflow, i: usize, now: DateTime<Utc>) -> ProspectState {
    let env = MachineEnv { workflow, default_window: &settings.send_window, public_url: &settings.public_url };
    apply(&env, &new_prospect(workflow, i, now), &Event::Entered, now).state
}

/// Polls `done` every `every` until it holds or `limit` passes; returns the time it took.
pub async fn wait_until(
    what: &str,
    limit: Duration,
    every: Duration,
    mut done: impl FnMut() -> Result<bool, Error>,
) -> Result<Duration, Error> {
    let started = Instant::now();
    loop {
        if done()? {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(Error::Check(format!("{what}: not done within {limit:?}")));
        }
        tokio::time::sleep(every).await;
    }
}

/// Opens the store of `settings` as the daemon does (`app::open_store`: same vault, same keys).
/// sled releases its lock when its last handle drops, which its background threads may delay.
pub fn reopen(settings: &Settings) -> Result<SledStore, Error> {
    let started = Instant::now();
    loop {
        match crate::app::open_store(settings) {
            Ok(store) => return Ok(store),
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(100)),
            Err(err) => return Err(err.into()),
        }
    }
}

/// A multi-threaded runtime with one worker per core, as `qualifyd serve` uses.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::io("starting the async runtime", Path::new("-"), source))
}
