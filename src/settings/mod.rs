//! The daemon's own settings file (`config.yaml`) -> typed [`Settings`]: environment references
//! resolved, defaults applied, relative paths anchored, every problem reported at once.
//!
//! Loading is two-phase like the catalog: `env` expands `${VAR}` references in the located YAML
//! tree, `raw` mirrors each section with `deny_unknown_fields`, and `compile` (pure: the
//! environment is a parameter) validates and builds the typed value. [`load`] is the only IO.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::channel::Channel;
use crate::diagnostic::{Diagnostic, Position};
use crate::schedule::SendWindow;

mod compile;
mod context;
mod drivers;
mod env;
mod privacy;
mod raw;
#[cfg(test)]
mod tests;
mod webhooks;

pub use compile::{compile, default_retention};
pub use privacy::DEFAULT_HELP_TEXT;
pub use webhooks::{WEBHOOK_SECRET_ENV, WebhookSettings};

/// Reads `file` and compiles it against the process environment.
pub fn load(file: &Path) -> Result<Settings, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        let message = format!("cannot read settings file {}: {err}", file.display());
        vec![Diagnostic::error(file, Position::default(), message)]
    })?;
    compile(file, &text, &|name| std::env::var(name).ok())
}

/// A token, password or key. Its `Debug` prints `***` so that settings can be logged whole.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it (a header, a login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Everything the daemon reads from its settings file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Base URL providers call back on, without a trailing slash.
    pub public_url: String,
    /// `public_url` was not set: it follows `listen` (and a `--listen` override).
    pub public_url_follows_listen: bool,
    pub data_dir: PathBuf,
    pub workflows_dir: PathBuf,
    pub prompts_dir: PathBuf,
    pub timezone: Tz,
    /// The default send window, in `timezone`.
    pub send_window: SendWindow,
    /// `None` when unset or empty: the daemon then generates one at startup.
    pub admin_token: Option<Secret>,
    pub admin_tokens: Vec<AdminToken>,
    /// Who may call the generic `POST /webhooks/inbound` (key `inbound_token`): closed unless
    /// configured.
    pub inbound_webhook: InboundWebhook,
    /// Signing key of Mailgun's inbound route webhook (`POST /webhooks/email/mailgun`).
    pub mailgun_signing_key: Option<Secret>,
    /// Secret in the URL (or basic-auth password) of Postmark's inbound webhook.
    pub postmark_secret: Option<Secret>,
    pub store: StoreSettings,
    /// Connection hygiene of the HTTP server and who may read `/metrics`.
    pub http: HttpSettings,
    /// Size caps on what a message from outside may store.
    pub limits: Limits,
    pub ai: AiSettings,
    pub channels: ChannelSettings,
    pub reload: ReloadSettings,
    pub retention: RetentionSettings,
    pub privacy: PrivacySettings,
    pub webhooks: WebhookSettings,
    /// How the daemon writes its logs on stderr.
    pub log_format: LogFormat,
}

/// `log_format`: `text` for people, `json` (one object per line) for log shippers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The generic inbound webhook's guard. It can start a workflow for any number and carry STOP,
/// so it is closed unless the settings say otherwise (`inbound_token`).
#[derive(Debug, Clone)]
pub enum InboundWebhook {
    /// The key is absent: the route answers 404 `inbound_webhook_disabled`.
    Disabled,
    /// `inbound_token: none`: no token at all, allowed only when `listen` is a loopback address
    /// (demos); the daemon warns at every start.
    Open,
    /// Callers present this bearer token.
    Token(Secret),
}

/// An extra named admin API token.
#[derive(Debug, Clone)]
pub struct AdminToken {
    pub name: String,
    pub role: Role,
    pub token: Secret,
}

/// What an admin API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}

/// The HTTP server's defences against slow or numerous clients, and `/metrics` exposure.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// A client must send its request line and headers within this time.
    pub header_timeout: Duration,
    /// A client must send its whole body within this time once the headers are in.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Bearer token `GET /metrics` requires; `None`: no token (keep it on a private address).
    pub metrics_token: Option<Secret>,
    /// Serve `/metrics` (and `/healthz`) on this address instead of `listen`.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            metrics_token: None,
            metrics_listen: None,
        }
    }
}

/// Caps on inbound messages: text beyond `max_text_bytes` is cut (and the cut marked); an id or
/// sender longer than `max_id_bytes` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_text_bytes: usize,
    pub max_id_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_text_bytes: 8 * 1024, max_id_bytes: 256 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// sled's page cache; its own default (1 GiB) is far too large for a small daemon.
    pub cache_capacity_bytes: u64,
}

/// Which brain reads replies and extracts answers.
#[derive(Debug, Clone)]
pub enum AiSettings {
    /// Keyword rules only; no network.
    Rules,
    OpenAi(OpenAiSettings),
}

/// An OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, llama.cpp, vLLM, ...).
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// Without a trailing slash.
    pub base_url: String,
    pub model: String,
    pub api_key: Secret,
    pub timeout: Duration,
    pub max_concurrency: usize,
    pub max_retries: u32,
    /// Replace phone numbers and emails in prompts before they leave the machine.
    pub mask_contact_details: bool,
}

/// One driver per configured channel; `None` means the channel is not configured at all.
#[derive(Debug, Clone, Default)]
pub struct ChannelSettings {
    pub sms: Option<SmsDriver>,
    pub email: Option<EmailDriver>,
    pub messenger: Option<MessengerDriver>,
}

impl ChannelSettings {
    /// The channels that have a driver, in [`Channel::ALL`] order.
    pub fn configured(&self) -> Vec<Channel> {
        let present = [self.sms.is_some(), self.email.is_some(), self.messenger.is_some()];
        Channel::ALL.into_iter().zip(present).filter(|(_, p)| *p).map(|(c, _)| c).collect()
    }
}

#[derive(Debug, Clone)]
pub enum SmsDriver {
    /// Records messages in the store instead of sending them.
    Outbox,
    Twilio(TwilioSettings),
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: Secret,
    pub sender: TwilioSender,
    /// Without a trailing slash.
    pub api_base: String,
    pub rate_per_second: u32,
}

/// Who a Twilio message comes from: exactly one of the two is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioSender {
    /// A phone number or alphanumeric sender id (`From`).
    From(String),
    /// A messaging service (`MessagingServiceSid`), which picks the number itself.
    MessagingService(String),
}

#[derive(Debug, Clone)]
pub enum EmailDriver {
    /// Records messages in the store instead of sending them.
    Outbox {
        from: Option<String>,
    },
    Smtp(SmtpSettings),
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// Set together with `password`, or not at all.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: SmtpTls,
    pub from: String,
    /// Domain of the per-prospect reply addresses, when replies come back by email.
    pub reply_domain: Option<String>,
    pub rate_per_second: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: local test sinks only.
    None,
}

#[derive(Debug, Clone)]
pub enum MessengerDriver {
    /// Records messages in the store instead of sending them.
    Outbox,
    /// `driver: messenger`: the Messenger Platform through the Graph API.
    Graph(GraphSettings),
}

#[derive(Debug, Clone)]
pub struct GraphSettings {
    pub page_access_token: Secret,
    /// Checks the `X-Hub-Signature-256` of incoming webhooks.
    pub app_secret: Secret,
    /// Echoed back during the webhook subscription handshake.
    pub verify_token: Secret,
    /// Without a trailing slash.
    pub api_base: String,
    pub rate_per_second: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadSettings {
    pub mode: ReloadMode,
    /// Quiet time after the last change before rebuilding (editors save in bursts).
    pub debounce: Duration,
    /// Only used in `poll` mode (network filesystems where notifications do not arrive).
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadMode {
    Watch,
    Poll,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// How long a prospect is kept after their last message to us (or their creation, if they
    /// never wrote): older ones are erased by the sweep.
    pub period: chrono::Duration,
    /// When the retention sweep runs (5-field crontab, in the settings' timezone).
    pub sweep_cron: String,
    /// The most messages kept per prospect; the sweep removes the oldest beyond it.
    pub max_messages: usize,
}

/// Where the master key (which wraps every data key) comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// `privacy.master_key`, or the `QUALIFYD_MASTER_KEY` environment variable: base64 of 32 bytes.
    Value(Secret),
    /// `privacy.master_key_file`: a file holding that base64.
    File(PathBuf),
    /// `privacy.development_key: true`: `data_dir/master.key`, created when missing. Development only.
    Development,
    /// Nothing configured: the daemon refuses to start.
    Missing,
}

/// Protection of personal data (see docs/privacy.md).
#[derive(Debug, Clone)]
pub struct PrivacySettings {
    pub master_key: MasterKeySource,
    /// Secret of the keyed hashes of contacts (suppression list, contact index); `None` derives
    /// one from the master key.
    pub suppression_secret: Option<Secret>,
    /// The answer to an inbound HELP, sent on the channel it came from.
    pub help_text: String,
}

impl Settings {
    /// Applies `--listen`: a `public_url` the file leaves out follows the new port, so
    /// unsubscribe links and callbacks point at the address the daemon really answers on.
    pub fn override_listen(&mut self, listen: SocketAddr) {
        self.listen = listen;
        if self.public_url_follows_listen {
            self.public_url = compile::default_public_url(listen);
        }
    }

    /// The built-in defaults with every channel on the outbox and the rules provider, data in
    /// `data_dir` and workflows/prompts beside it, and the development master key (created in
    /// `data_dir/master.key`). For tests, three values differ from an empty
    /// file: `listen` uses port 0, `public_url` has no port (set it once bound), and the send
    /// window is always open, so no test depends on a free port or on the hour it runs at.
    pub fn development(data_dir: &Path) -> Settings {
        let base = data_dir.parent().unwrap_or(Path::new("."));
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: "http://localhost".to_string(),
            public_url_follows_listen: false,
            data_dir: data_dir.to_path_buf(),
            workflows_dir: base.join("workflows"),
            prompts_dir: base.join("prompts"),
            timezone: Tz::UTC,
            send_window: SendWindow::always(),
            admin_token: None,
            admin_tokens: Vec::new(),
            inbound_webhook: InboundWebhook::Disabled,
            mailgun_signing_key: None,
            postmark_secret: None,
            store: StoreSettings { cache_capacity_bytes: compile::DEFAULT_CACHE_MB * compile::MEGABYTE },
            http: HttpSettings::default(),
            limits: Limits::default(),
            ai: AiSettings::Rules,
            channels: ChannelSettings {
                sms: Some(SmsDriver::Outbox),
                email: Some(EmailDriver::Outbox { from: Some("Qualifyd <leads@example.com>".to_string()) }),
                messenger: Some(MessengerDriver::Outbox),
            },
            reload: compile::default_reload(),
            retention: compile::default_retention(),
            privacy: PrivacySettings {
                master_key: MasterKeySource::Development,
                suppression_secret: None,
                help_text: privacy::DEFAULT_HELP_TEXT.to_string(),
            },
            webhooks: WebhookSettings::default(),
            log_format: LogFormat::Text,
        }
    }
}
