//! Integration tests, one binary: the compiler over fixture files, and (later) the daemon over HTTP.

mod ai_openai;
mod ai_support;
mod catalog_examples;
mod catalog_invalid;
mod catalog_props;
mod conversation;
mod crash;
mod reload;
mod daemon;
mod handoff;
mod harness;
mod store;
