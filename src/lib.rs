//! qualifyd: qualifies sales leads by conversation. Crate map:
//! - `diagnostic`: located problems (`file:line:col: severity: message`).
//! - `yaml`: the single YAML parsing entry point, with positions.
//! - `channel`: the channel enum (sms, email, messenger).
//! - `channels`: the provider drivers (Twilio SMS, SMTP email, Messenger Graph API), rate limits, reply routing.
//! - `schedule`: durations, days, hours and send windows.
//! - `settings`: the daemon's own config.yaml -> typed `Settings` (env-var secrets resolved).
//! - `catalog`: workflows and prompts -> compiled immutable `Catalog` + diagnostics (pure).
//! - `http`: the axum API: admin routes with role tokens, inbound webhook, health, metrics; one error shape.
//! - `ai`: AI providers; `rules_answer` is the deterministic offline one (keywords, small parsers).
//! - `simulate`: conversations on a virtual clock without a daemon: `qualifyd simulate` and `qualifyd test`.

pub mod ai;
pub mod app;
pub mod reload;
pub mod catalog;
pub mod channel;
pub mod channels;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod engine;
pub mod http;
pub mod machine;
pub mod schedule;
pub mod settings;
pub mod simulate;
pub mod store;
pub mod yaml;
