//! Integration tests, one binary: the compiler over fixture files, and (later) the daemon over HTTP.

mod catalog_examples;
mod catalog_invalid;
mod catalog_props;
mod crash;
mod daemon;
mod harness;
mod store;
