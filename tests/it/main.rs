//! Integration tests, one binary: the compiler over fixture files, and (later) the daemon over HTTP.

mod ai_openai;
mod ai_support;
mod catalog_examples;
mod catalog_invalid;
mod catalog_props;
mod channels_email;
mod channels_messenger;
mod channels_sms;
mod channels_support;
mod conversation;
mod crash;
mod reload;
mod check_cli;
mod daemon;
mod handoff;
mod harness;
mod store;
