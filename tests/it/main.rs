//! Integration tests, one binary: the compiler over fixture files, and (later) the daemon over HTTP.

mod catalog_examples;
