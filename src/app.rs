//! Composition root: opens the store, compiles the first catalog (start-up is the first
//! reload), starts the engine and the HTTP server, and owns the shutdown order:
//! stop accepting requests -> drain the engine -> flush -> exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::check::{build_catalog, compile_options};
use crate::engine::{Drivers, Engine, EngineConfig, PrivacyConfig};
use crate::http::serve::{ServeOptions, serve};
use crate::http::{AppState, Auth, Role};
use crate::reload::{Reloader, WatchGuard};
use crate::settings::{self, AiSettings, InboundWebhook, Settings};
use crate::store::SledStore;
use tower_http::timeout::RequestBodyTimeoutLayer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot create or secure (mode 0700) the data directory {path}: {source}; check that the daemon's user owns it"
    )]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Privacy(#[from] crate::privacy::Error),
    #[error(transparent)]
    Engine(#[from] crate::engine::Error),
    #[error("the workflows do not compile ({count} error(s)); nothing was started:\n{listing}")]
    Catalog { count: usize, listing: String },
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Watch(#[from] crate::reload::Error),
    #[error("cannot write the generated admin token to {path}: {source}")]
    TokenFile { path: String, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// A started daemon.
pub struct RunningApp {
    pub addr: SocketAddr,
    pub engine: Engine,
    /// Set when no admin token was configured and one was generated for this run.
    pub generated_admin_token: Option<String>,
    /// Where that generated token was written (mode 0600), so it is never printed to a log.
    pub generated_admin_token_file: Option<PathBuf>,
    pub admin_token: String,
    pub reloader: Reloader,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    _watch: WatchGuard,
    store_health: Arc<crate::store::Health>,
    data_dir: PathBuf,
}

/// The process-wide Prometheus recorder, installed on first use. Shared by every daemon started
/// in this process (tests, the bench), so `/metrics` always reads the recorder in force.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), crate::ops::metrics::SECONDS_BUCKETS);
            let recorder = builder.unwrap_or_else(|_| PrometheusBuilder::new()).build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|_| handle)
        })
        .as_ref()
}

fn drivers_for(settings: &Settings) -> Result<Drivers, Error> {
    let drivers = Drivers { webhooks: settings.webhooks.clone(), ..Drivers::embedded() };
    let drivers = match &settings.ai {
        AiSettings::Rules => drivers,
        AiSettings::OpenAi(openai) => Drivers { ai: Arc::new(crate::ai::OpenAiProvider::new(openai)), ..drivers },
    };
    let channels = crate::channels::build(&settings.channels, &settings.public_url)
        .map_err(|err| Error::Unsupported(format!("cannot set up the channel drivers: {err}")))?;
    Ok(Drivers { sms: channels.sms, email: channels.email, messenger: channels.messenger, ..drivers })
}

/// `qualifyd compact`: rewrites the (stopped) daemon's store so nothing removed survives on disk.
pub fn compact(settings: &Settings) -> Result<crate::store::compact::CompactReport, Error> {
    Ok(crate::store::compact::compact(&settings.data_dir.join("store"))?)
}

/// `qualifyd rotate-master-key`: re-wraps every data key of the stopped daemon with `new`
/// (see `privacy::rotation`). The old key is the one the settings name.
pub fn rotate_master_key(
    settings: &Settings,
    new: &crate::privacy::SecretKey,
) -> Result<crate::privacy::rotation::Rotated, Error> {
    if SledStore::in_use(&settings.data_dir.join("store")) {
        return Err(Error::Unsupported("the daemon is running on this data directory: stop it first".into()));
    }
    if matches!(settings.privacy.master_key, crate::settings::MasterKeySource::Development) {
        return Err(Error::Unsupported(
            "the settings use the development key (`privacy.development_key: true`): set a production key first".into(),
        ));
    }
    let old = crate::privacy::master::load(&settings.privacy.master_key, &settings.data_dir)?;
    Ok(crate::privacy::rotation::rotate(&settings.data_dir.join("keys"), &old, new)?)
}

/// Opens the store with its vault: the master key from the settings (refused when there is
/// none), data keys in `data_dir/keys`, records in `data_dir/store`.
pub fn open_store(settings: &Settings) -> Result<SledStore, Error> {
    let master = crate::privacy::master::load(&settings.privacy.master_key, &settings.data_dir)?;
    let secret = settings.privacy.suppression_secret.as_ref().map(|s| s.expose().as_bytes());
    let vault = crate::privacy::Vault::open(&settings.data_dir.join("keys"), &master, secret)?;
    Ok(SledStore::open_with(&settings.data_dir.join("store"), settings.store.cache_capacity_bytes, vault)?)
}

fn privacy_config(settings: &Settings) -> PrivacyConfig {
    PrivacyConfig {
        help_text: settings.privacy.help_text.clone(),
        retention_period: settings.retention.period,
        max_messages: settings.retention.max_messages,
    }
}

pub async fn start(settings: Settings) -> Result<RunningApp, Error> {
    crate::privacy::private_dir(&settings.data_dir)
        .map_err(|source| Error::DataDir { path: settings.data_dir.display().to_string(), source })?;
    check_inbound_webhook(&settings)?;
    let drivers = drivers_for(&settings)?;
    let outcome = build_catalog(&settings);
    for warning in outcome.diagnostics.iter().filter(|d| !d.is_error()) {
        tracing::warn!("{warning}");
    }
    let first_diagnostics = outcome.diagnostics.clone();
    let Some(catalog) = outcome.catalog else {
        let listing: Vec<String> = outcome.diagnostics.iter().map(|d| d.to_string()).collect();
        return Err(Error::Catalog { count: outcome.errors(), listing: listing.join("\n") });
    };
    let started_at = chrono::Utc::now();
    let store = Arc::new(open_store(&settings)?);
    crate::ops::metrics::register(drivers.ai.name(), started_at);
    metrics::gauge!(crate::store::DAMAGED_GAUGE).set(crate::store::Store::damaged(store.as_ref()).len() as f64);
    let mut config = EngineConfig::new(settings.send_window.clone(), &settings.public_url);
    config.compile_options = compile_options(&settings);
    config.privacy = privacy_config(&settings);
    config.limits = crate::engine::limits::InboundLimits {
        max_text_bytes: settings.limits.max_text_bytes,
        max_id_bytes: settings.limits.max_id_bytes,
    };
    config.journal = Some(settings.data_dir.join(JOURNAL_FILE));
    let workflows = catalog.workflows.len();
    let engine = Engine::start(store.clone(), config, catalog, drivers).await?;
    let store_health = engine.store_health();
    engine.start_retention(&settings.retention.sweep_cron, settings.timezone);
    tracing::info!(workflows, "catalog loaded");

    let (admin_token, generated) = match &settings.admin_token {
        Some(token) => (token.expose().to_string(), None),
        None => {
            let token = generate_token();
            (token.clone(), Some(token))
        }
    };
    let token_file = match &generated {
        Some(token) => Some(write_token_file(&settings.data_dir.join(ADMIN_TOKEN_FILE), token)?),
        None => None,
    };
    let mut tokens = vec![("admin".to_string(), Role::Admin, admin_token.clone())];
    for extra in &settings.admin_tokens {
        let role = match extra.role {
            settings::Role::Admin => Role::Admin,
            settings::Role::Operator => Role::Operator,
            settings::Role::Viewer => Role::Viewer,
        };
        tokens.push((extra.name.clone(), role, extra.token.expose().to_string()));
    }
    let reloader = Reloader::start(engine.clone(), settings.clone(), first_diagnostics);
    let watch = reloader.watch()?;
    let trigger = reloader.clone();
    let reload: Arc<dyn Fn() + Send + Sync> = Arc::new(move || trigger.request());
    let state = AppState {
        engine: engine.clone(),
        auth: Auth::new(tokens),
        inbound_webhook: settings.inbound_webhook.clone(),
        hosts: crate::http::host::AllowedHosts::new(&settings.public_url, settings.listen),
        webhooks: crate::http::ProviderWebhooks::from_settings(&settings, &|name| std::env::var(name).ok()),
        metrics: metrics_handle().cloned(),
        metrics_access: crate::http::health::MetricsAccess {
            token: settings.http.metrics_token.as_ref().map(|t| t.expose().to_string()),
            elsewhere: settings.http.metrics_listen.is_some(),
        },
        reload: Some(reload),
        reloader: Some(reloader.clone()),
        ops: Some(crate::ops::Instance { started_at, store, data_dir: settings.data_dir.clone() }),
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| Error::Listen { addr: settings.listen, source })?;
    let addr = listener.local_addr().map_err(|source| Error::Listen { addr: settings.listen, source })?;
    let metrics_listener = match settings.http.metrics_listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Listen { addr, source })?),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let options =
        ServeOptions { header_timeout: settings.http.header_timeout, max_connections: settings.http.max_connections };
    let body_timeout = RequestBodyTimeoutLayer::new(settings.http.body_timeout);
    let shared = std::sync::Arc::new(state);
    let router = crate::http::router(shared.clone()).layer(body_timeout.clone());
    let mut servers = vec![tokio::spawn(serve(listener, router, options, stopped_future(stopped.clone())))];
    if let Some(metrics_listener) = metrics_listener {
        let addr = metrics_listener.local_addr().ok();
        tracing::info!(addr = ?addr, "metrics served on their own address");
        let router = crate::http::metrics_router(shared).layer(body_timeout);
        servers.push(tokio::spawn(serve(metrics_listener, router, options, stopped_future(stopped))));
    }
    tracing::info!(%addr, "qualifyd started");
    Ok(RunningApp {
        addr,
        engine,
        reloader,
        generated_admin_token: generated,
        generated_admin_token_file: token_file,
        admin_token,
        stop,
        servers,
        _watch: watch,
        store_health,
        data_dir: settings.data_dir.clone(),
    })
}

/// The generic inbound webhook open without a token is for loopback demos only (`--listen` may
/// have moved the address since the settings were compiled); it is said loudly at every start.
fn check_inbound_webhook(settings: &Settings) -> Result<(), Error> {
    match &settings.inbound_webhook {
        InboundWebhook::Open if !settings.listen.ip().is_loopback() => Err(Error::Unsupported(format!(
            "`inbound_token: none` leaves POST /webhooks/inbound open, which is only allowed on a loopback \
             address, not {}: set `inbound_token` to a secret or remove it to disable that webhook",
            settings.listen
        ))),
        InboundWebhook::Open => {
            tracing::warn!(
                "POST /webhooks/inbound is OPEN (`inbound_token: none`): anyone on this machine can start \
                 workflows; for demos only, set a token before any real use"
            );
            Ok(())
        }
        InboundWebhook::Disabled => {
            tracing::info!("POST /webhooks/inbound is disabled (no `inbound_token`)");
            Ok(())
        }
        InboundWebhook::Token(_) => Ok(()),
    }
}

/// The file in `data_dir` that journals side effects performed whose results the store has not recorded yet.
pub const JOURNAL_FILE: &str = "performed.journal";

/// The file in `data_dir` a generated admin token is written to.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Writes `token` to `path` readable by the owner only, atomically (temp file, fsync, rename).
fn write_token_file(path: &Path, token: &str) -> Result<PathBuf, Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |source| Error::TokenFile { path: path.display().to_string(), source };
    let temporary = path.with_extension("token.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(failed)?;
    file.write_all(token.as_bytes()).and_then(|()| file.sync_all()).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)?;
    Ok(path.to_path_buf())
}

/// How the daemon ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// On a signal, everything flushed.
    Clean,
    /// A write failed (full or failing disk): nothing after it was acknowledged; the process must
    /// exit (status [`EXIT_STORE_FAILED`]) and be restarted to write again.
    StoreFailed(String),
}

/// The exit status after a failed write (EX_TEMPFAIL): restart me once the disk takes writes.
pub const EXIT_STORE_FAILED: u8 = 75;

/// Completes once `stop` is set.
async fn stopped_future(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

fn generate_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..24).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

impl RunningApp {
    /// Graceful stop: no new requests, in-flight transitions finish, everything is flushed.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        self.reloader.stop();
        drop(self._watch);
        self.engine.shutdown().await;
        tracing::info!("qualifyd stopped");
    }

    /// Serves until SIGINT or SIGTERM; SIGHUP reloads the definitions.
    pub async fn run_until_signal(self) -> std::io::Result<Stopped> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
                _ = self.store_health.space_back(&self.data_dir) => {
                    tracing::error!("space is back in the data directory, but this process cannot resume writing after the failed write: exiting so the supervisor restarts qualifyd");
                    break;
                }
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading workflows and prompts");
                    self.reloader.request();
                }
            }
        }
        tracing::info!("shutting down");
        let health = self.store_health.clone();
        self.shutdown().await;
        Ok(match health.failure() {
            Some(reason) => Stopped::StoreFailed(reason),
            None => Stopped::Clean,
        })
    }
}
