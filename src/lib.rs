//! qualifyd: qualifies sales leads by conversation. Crate map:
//! - `diagnostic`: located problems (`file:line:col: severity: message`).
//! - `yaml`: the single YAML parsing entry point, with positions.
//! - `channel`: the channel enum (sms, email, messenger).
//! - `schedule`: durations, days, hours and send windows.
//! - `settings`: the daemon's own config.yaml -> typed `Settings` (env-var secrets resolved).
//! - `catalog`: workflows and prompts -> compiled immutable `Catalog` + diagnostics (pure).
//! - `http`: the axum API: admin routes with role tokens, inbound webhook, health, metrics; one error shape.
//! - `ai`: AI providers; `rules_answer` is the deterministic offline one (keywords, small parsers).

pub mod ai;
pub mod app;
pub mod catalog;
pub mod channel;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod engine;
pub mod http;
pub mod machine;
pub mod schedule;
pub mod settings;
pub mod store;
pub mod yaml;
