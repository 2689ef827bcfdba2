//! The shipped workflows and prompts compile without any diagnostic.

use std::path::Path;

use qualifyd::catalog::{self, CompileOptions};

#[test]
fn shipped_workflows_compile_cleanly() {
    let sources = catalog::load(Path::new("workflows"), Path::new("prompts")).expect("readable");
    let outcome = catalog::build(&sources, &CompileOptions::default());
    let printed: Vec<String> = outcome.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(printed.is_empty(), "{}", printed.join("\n"));
    let catalog = outcome.catalog.expect("catalog");
    let ids: Vec<&str> = catalog.workflows.keys().map(String::as_str).collect();
    assert_eq!(ids, ["inbound-lead", "messenger-inbound", "reactivation"]);
}
