//! The pure settings compiler: located YAML -> environment expanded -> raw sections -> typed
//! [`Settings`], collecting every diagnostic instead of stopping at the first.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono_tz::Tz;

use super::context::{Cx, http_url, optional_secret, std_duration};
use super::{AdminToken, InboundWebhook, ReloadMode, ReloadSettings, RetentionSettings, Secret, Settings};
use super::{HttpSettings, Limits, LogFormat, StoreSettings, drivers, env, raw};
use crate::diagnostic::{Diagnostic, Position, did_you_mean_suffix, sort_diagnostics};
use crate::schedule::{self, SendWindow};
use crate::yaml;

pub const DEFAULT_CACHE_MB: u64 = 64;
pub const MEGABYTE: u64 = 1024 * 1024;
const DEFAULT_HOURS: &str = "08:00-20:00";
/// The HTTP layer's body limit: no text can be longer.
const MAX_TEXT_LIMIT: usize = 1024 * 1024;

const KEYS: [&str; 22] = [
    "listen",
    "public_url",
    "data_dir",
    "workflows_dir",
    "prompts_dir",
    "timezone",
    "send_window",
    "admin_token",
    "admin_tokens",
    "inbound_token",
    "mailgun_signing_key",
    "postmark_secret",
    "store",
    "http",
    "limits",
    "ai",
    "channels",
    "reload",
    "retention",
    "privacy",
    "webhooks",
    "log_format",
];

/// Compiles the settings file `file` whose contents are `text`; `env` looks up the variables
/// that `${VAR}` references name. Pure: no IO, no process environment.
pub fn compile(file: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, Vec<Diagnostic>> {
    let mut root = yaml::parse(file, text).map_err(|d| vec![d])?;
    let expansion = env::expand_tree(file, &mut root, env);
    let mut cx = Cx::new(file, &root);
    let settings = settings(&mut cx, env);
    let mut diagnostics = cx.into_diagnostics();
    diagnostics.retain(|d| {
        let at = Position { line: d.line, column: d.column };
        d.message.starts_with("unknown key") || !expansion.unresolved.contains(&at)
    });
    diagnostics.extend(expansion.diagnostics);
    if diagnostics.is_empty() {
        return Ok(settings);
    }
    sort_diagnostics(&mut diagnostics);
    Err(diagnostics)
}

fn settings(cx: &mut Cx<'_>, env: &dyn Fn(&str) -> Option<String>) -> Settings {
    cx.check_keys("", &KEYS);
    let listen = cx.parse("listen", SocketAddr::from(([127, 0, 0, 1], 8080)), parse_listen);
    let public_url_follows_listen = cx.node("public_url").is_none();
    let public_url = cx.parse("public_url", default_public_url(listen), http_url);
    let timezone = cx.parse("timezone", Tz::UTC, parse_timezone);
    Settings {
        listen,
        public_url,
        public_url_follows_listen,
        data_dir: cx.dir("data_dir", "./data"),
        workflows_dir: cx.dir("workflows_dir", "./workflows"),
        prompts_dir: cx.dir("prompts_dir", "./prompts"),
        timezone,
        send_window: send_window(cx, timezone),
        admin_token: cx.text("admin_token").and_then(optional_secret),
        admin_tokens: admin_tokens(cx),
        inbound_webhook: inbound_webhook(cx, listen),
        mailgun_signing_key: cx.text("mailgun_signing_key").and_then(optional_secret),
        postmark_secret: cx.text("postmark_secret").and_then(optional_secret),
        store: store(cx),
        http: http(cx, listen),
        limits: limits(cx),
        ai: drivers::ai(cx),
        channels: drivers::channels(cx),
        reload: reload(cx),
        retention: retention(cx),
        privacy: super::privacy::privacy(cx, env),
        webhooks: super::webhooks::webhooks(cx, env),
        log_format: cx.parse("log_format", LogFormat::Text, parse_log_format),
    }
}

/// `public_url` when the settings leave it out: the local address the daemon listens on.
pub fn default_public_url(listen: SocketAddr) -> String {
    format!("http://localhost:{}", listen.port())
}

/// `inbound_token`: absent -> the generic webhook is disabled; `none` -> open, on a loopback
/// `listen` only; empty (an unset variable) -> refused, since the webhook would be open.
fn inbound_webhook(cx: &mut Cx<'_>, listen: SocketAddr) -> InboundWebhook {
    let Some(text) = cx.text("inbound_token") else {
        return InboundWebhook::Disabled;
    };
    match text.trim() {
        "" => {
            cx.error(
                "inbound_token",
                "empty, so `POST /webhooks/inbound` would be open to anyone: set a token (for example \
                 `${QUALIFYD_INBOUND_TOKEN}`), write `none` to open it on a loopback `listen` for a demo, or \
                 remove the key to disable that webhook",
            );
            InboundWebhook::Disabled
        }
        "none" if !listen.ip().is_loopback() => {
            cx.error(
                "inbound_token",
                format!(
                    "`none` (no token) is only allowed when `listen` is a loopback address, not `{listen}`: \
                     set a token, or remove the key to disable `POST /webhooks/inbound`"
                ),
            );
            InboundWebhook::Disabled
        }
        "none" => InboundWebhook::Open,
        _ => InboundWebhook::Token(Secret::new(text)),
    }
}

fn send_window(cx: &mut Cx<'_>, timezone: Tz) -> SendWindow {
    let raw = cx.raw::<raw::SendWindow>("send_window");
    let (days, hours) = raw.map_or((None, None), |r| (r.days, r.hours));
    let mut open = [days.is_none(); 7];
    if days.as_ref().is_some_and(Vec::is_empty) {
        cx.error("send_window.days", "list at least one day, for example `[mon, tue, wed, thu, fri]`");
    }
    for (index, day) in days.iter().flatten().enumerate() {
        if let Some(day) = cx.check(&format!("send_window.days.{index}"), schedule::parse_weekday(day)) {
            open[day.num_days_from_monday() as usize] = true;
        }
    }
    let fallback = schedule::parse_hours(DEFAULT_HOURS).unwrap_or_else(|_| {
        let always = SendWindow::always();
        (always.start, always.end)
    });
    let (start, end) = cx.value("send_window.hours", hours.as_deref(), fallback, schedule::parse_hours);
    SendWindow { timezone, days: open, start, end }
}

fn admin_tokens(cx: &mut Cx<'_>) -> Vec<AdminToken> {
    let Some(node) = cx.node("admin_tokens") else {
        return Vec::new();
    };
    let Some(items) = node.as_seq() else {
        cx.error("admin_tokens", "write a list of `{ name, role, token }` entries");
        return Vec::new();
    };
    let mut tokens: Vec<AdminToken> = Vec::new();
    for index in 0..items.len() {
        let path = format!("admin_tokens.{index}");
        let Some(raw) = cx.raw::<raw::AdminToken>(&path) else {
            continue;
        };
        let name = cx.required(&format!("{path}.name"), raw.name);
        let token = cx.required(&format!("{path}.token"), raw.token);
        if tokens.iter().any(|t| t.name == name) {
            cx.error(&format!("{path}.name"), format!("the name `{name}` is used by an earlier token"));
        }
        if !token.is_empty() && tokens.iter().any(|t| t.token.expose() == token) {
            cx.error(&format!("{path}.token"), "the same token is given to an earlier entry");
        }
        tokens.push(AdminToken { name, role: raw.role, token: Secret::new(token) });
    }
    tokens
}

fn store(cx: &mut Cx<'_>) -> StoreSettings {
    let megabytes = cx.raw::<raw::Store>("store").and_then(|s| s.cache_capacity_mb).unwrap_or(DEFAULT_CACHE_MB);
    let bytes = match megabytes.checked_mul(MEGABYTE) {
        Some(bytes) if bytes > 0 => bytes,
        _ => {
            cx.error("store.cache_capacity_mb", "write a size in megabytes, at least 1 (default 64)");
            DEFAULT_CACHE_MB * MEGABYTE
        }
    };
    StoreSettings { cache_capacity_bytes: bytes }
}

fn http(cx: &mut Cx<'_>, listen: SocketAddr) -> HttpSettings {
    let defaults = HttpSettings::default();
    let Some(raw) = cx.raw::<raw::Http>("http") else {
        return defaults;
    };
    let metrics_listen = raw.metrics_listen.as_deref().filter(|t| !t.trim().is_empty());
    let metrics_listen = cx.value("http.metrics_listen", metrics_listen, None, |t| parse_listen(t).map(Some));
    if metrics_listen.is_some_and(|m| m == listen) {
        cx.error("http.metrics_listen", "is the same address as `listen`: give another port, or leave it out");
    }
    HttpSettings {
        header_timeout: cx.value(
            "http.header_timeout",
            raw.header_timeout.as_deref(),
            defaults.header_timeout,
            std_duration,
        ),
        body_timeout: cx.value("http.body_timeout", raw.body_timeout.as_deref(), defaults.body_timeout, std_duration),
        max_connections: cx.positive("http.max_connections", raw.max_connections, defaults.max_connections),
        metrics_token: raw.metrics_token.and_then(optional_secret),
        metrics_listen,
    }
}

fn limits(cx: &mut Cx<'_>) -> Limits {
    let defaults = Limits::default();
    let Some(raw) = cx.raw::<raw::Limits>("limits") else {
        return defaults;
    };
    let limits = Limits {
        max_text_bytes: cx.positive("limits.max_text_bytes", raw.max_text_bytes, defaults.max_text_bytes),
        max_id_bytes: cx.positive("limits.max_id_bytes", raw.max_id_bytes, defaults.max_id_bytes),
    };
    if limits.max_text_bytes > MAX_TEXT_LIMIT {
        cx.error("limits.max_text_bytes", format!("must be at most {MAX_TEXT_LIMIT} (the HTTP body limit)"));
    }
    limits
}

pub fn default_reload() -> ReloadSettings {
    ReloadSettings {
        mode: ReloadMode::Watch,
        debounce: Duration::from_millis(250),
        poll_interval: Duration::from_secs(2),
    }
}

fn reload(cx: &mut Cx<'_>) -> ReloadSettings {
    let defaults = default_reload();
    let Some(raw) = cx.raw::<raw::Reload>("reload") else {
        return defaults;
    };
    ReloadSettings {
        mode: raw.mode.unwrap_or(defaults.mode),
        debounce: cx.value("reload.debounce", raw.debounce.as_deref(), defaults.debounce, std_duration),
        poll_interval: cx.value(
            "reload.poll_interval",
            raw.poll_interval.as_deref(),
            defaults.poll_interval,
            std_duration,
        ),
    }
}

pub fn default_retention() -> RetentionSettings {
    RetentionSettings { period: chrono::Duration::days(1095), sweep_cron: "0 3 * * *".to_string(), max_messages: 1000 }
}

fn retention(cx: &mut Cx<'_>) -> RetentionSettings {
    let defaults = default_retention();
    let Some(raw) = cx.raw::<raw::Retention>("retention") else {
        return defaults;
    };
    let sweep_cron = match raw.sweep_cron {
        Some(cron) => {
            let cron = cx.required("retention.sweep_cron", cron);
            cx.value("retention.sweep_cron", Some(&cron), (), super::privacy::check_cron);
            cron
        }
        None => defaults.sweep_cron,
    };
    RetentionSettings {
        period: cx.value("retention.period", raw.period.as_deref(), defaults.period, schedule::parse_duration),
        sweep_cron,
        max_messages: cx.positive("retention.max_messages", raw.max_messages, defaults.max_messages),
    }
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "invalid address `{text}`: write an IP address and a port, for example `127.0.0.1:8080` or `0.0.0.0:8080`"
        )
    })
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => {
            Err(format!("`{other}` is not a log format: write `text` (for people) or `json` (one object per line)"))
        }
    }
}

fn parse_timezone(text: &str) -> Result<Tz, String> {
    text.trim().parse().map_err(|_| {
        let suggestion = did_you_mean_suffix(text.trim(), chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()));
        format!("unknown timezone `{text}`{suggestion}: write an IANA name such as `Europe/Paris` or `UTC`")
    })
}
