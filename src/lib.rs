//! qualifyd: qualifies sales leads by conversation. Crate map:
//! - `diagnostic`: located problems (`file:line:col: severity: message`).
//! - `yaml`: the single YAML parsing entry point, with positions.
//! - `channel`: the channel enum (sms, email, messenger).
//! - `text`: folding of what people write (case, accents, apostrophes) and its cut into words.
//! - `channels`: the provider drivers (Twilio SMS, SMTP email, Messenger Graph API), rate limits, reply routing.
//! - `schedule`: durations, days, hours and send windows.
//! - `settings`: the daemon's own config.yaml -> typed `Settings` (env-var secrets resolved).
//! - `catalog`: workflows and prompts -> compiled immutable `Catalog` + diagnostics (pure).
//! - `http`: the axum API: admin routes with role tokens, inbound webhook, health, metrics; one error shape.
//! - `privacy`: encryption of personal data at rest (data keys, master key), keyed hashing of contacts, request types.
//! - `ai`: AI providers; `rules_answer` is the deterministic offline one (keywords, small parsers).
//! - `simulate`: conversations on a virtual clock without a daemon: `qualifyd simulate` and `qualifyd test`.
//! - `eval`: `qualifyd eval`: a labelled corpus of replies scored through a provider (precision, recall, F1, intent accuracy).
//! - `ops`: operator commands beside a running daemon: CSV import, backup and restore, status.
//! - `bench`: `qualifyd bench`: the real daemon measured on this machine, each figure beside a same-run baseline.

pub mod ai;
pub mod app;
pub mod bench;
pub mod catalog;
pub mod channel;
pub mod channels;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod engine;
pub mod eval;
pub mod http;
pub mod machine;
pub mod ops;
pub mod privacy;
pub mod reload;
pub mod schedule;
pub mod settings;
pub mod simulate;
pub mod store;
pub mod text;
pub mod yaml;
