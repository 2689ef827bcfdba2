//! Where the daemon's logs go and how they look: stderr, colours only on a terminal, plain
//! text for people or one JSON object per line (`log_format: json`) for log shippers. The
//! filter comes from `QUALIFYD_LOG`; async-openai is always off (it logs model replies, which
//! are messages to prospects).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// The filter: `QUALIFYD_LOG` (default `info`) with async-openai silenced.
pub fn filter(wanted: Option<&str>) -> EnvFilter {
    let wanted = wanted.unwrap_or("info");
    EnvFilter::try_new(format!("{wanted},async_openai=off")).unwrap_or_else(|_| EnvFilter::new("info,async_openai=off"))
}

/// Installs the global subscriber (once per process; later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = filter(std::env::var("QUALIFYD_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        // Span fields (the request id of an HTTP request) land in `span` / `spans`.
        LogFormat::Json => builder.json().with_ansi(false).with_current_span(true).with_span_list(true).try_init(),
    };
}
