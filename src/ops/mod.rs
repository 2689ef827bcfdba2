//! Running qualifyd in production: the operator commands that work beside a daemon, and what
//! the daemon exposes for them.
//! - `client`: the admin API as these commands reach it (base URL, token, the error shape).
//! - `import`: `qualifyd import FILE.csv`: spreadsheets into a workflow, in batches, resumable.
//! - `backup`: consistent backups (online through the daemon, or offline) and restores.
//! - `suppression`: the suppression list exported and imported on its own (keyed hashes only).
//! - `status`: `qualifyd status`, a terminal summary of a running daemon.
//! - `logging`: stderr logs, text or JSON, colours only on a terminal.
//! - `metrics`: every metric the daemon exports, registered at start so dashboards see them.
//! - `record`: `qualifyd privacy-record`, the art. 30 record of processing from the settings.

pub mod backup;
pub mod client;
pub mod commands;
pub mod import;
pub mod logging;
pub mod metrics;
pub mod record;
pub mod status;
pub mod suppression;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::settings::Settings;
use crate::store::SledStore;

/// What the operator routes need from a running daemon beyond its engine: when it started, its
/// store (snapshots, the suppression list) and its data directory (the size on disk).
#[derive(Clone)]
pub struct Instance {
    pub started_at: DateTime<Utc>,
    pub store: Arc<SledStore>,
    pub data_dir: std::path::PathBuf,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("started_at", &self.started_at).finish_non_exhaustive()
    }
}

/// Opens the store of `settings` with its vault, as the daemon does (refused while a daemon
/// holds it: sled locks its directory).
pub fn open_store(settings: &Settings) -> Result<SledStore, backup::Error> {
    let master = crate::privacy::master::load(&settings.privacy.master_key, &settings.data_dir)?;
    let secret = settings.privacy.suppression_secret.as_ref().map(|s| s.expose().as_bytes());
    let vault = crate::privacy::Vault::open(&settings.data_dir.join("keys"), &master, secret)?;
    Ok(SledStore::open_with(&settings.data_dir.join("store"), settings.store.cache_capacity_bytes, vault)?)
}

/// Bytes used by everything under `dir` (the store, the keys), 0 where unreadable.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_usage(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// How a data command reaches the store: directly when no daemon runs, else through the
/// running daemon's admin API (sled lets one process at a time open a store).
pub enum Access {
    Offline(Box<SledStore>),
    Online(client::Client),
}

/// Opens the store of `settings`, or, when a daemon holds it, a client of that daemon
/// (`server`, default its `listen` address).
pub fn access(settings: &Settings, server: Option<&str>, token: Option<String>) -> Result<Access, backup::Error> {
    // Checked before the vault is opened: opening it tidies the key directory, which belongs
    // to the running daemon.
    if SledStore::in_use(&settings.data_dir.join("store")) {
        let server = server.map(str::to_string).unwrap_or_else(|| client::default_server(settings.listen));
        return Ok(Access::Online(client::Client::new(&server, token)));
    }
    Ok(Access::Offline(Box::new(open_store(settings)?)))
}
