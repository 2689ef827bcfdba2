//! Integration tests, one binary: the compiler over fixture files, and (later) the daemon over HTTP.

mod ai_openai;
mod ai_support;
mod bench_smoke;
mod catalog_examples;
mod catalog_invalid;
mod catalog_props;
mod channels_email;
mod channels_messenger;
mod channels_sms;
mod channels_support;
mod check_cli;
mod conversation;
mod crash;
mod daemon;
mod fuzz;
mod handoff;
mod hardening;
mod harness;
mod privacy_at_rest;
mod privacy_optout;
mod privacy_retention;
mod privacy_rights;
mod privacy_support;
mod reload;
mod security;
mod store;
