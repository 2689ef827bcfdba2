//! The compiler over deliberately broken workflows (`tests/fixtures/invalid/`): every diagnostic,
//! printed as `qualifyd check` prints it, must match `expected.txt` line for line.

use std::path::{Path, PathBuf};

use qualifyd::catalog::{self, BuildOutcome, CompileOptions, Sources};
use qualifyd::diagnostic::{Diagnostic, Severity};

const WORKFLOWS: &str = "tests/fixtures/invalid/workflows";
const PROMPTS: &str = "tests/fixtures/invalid/prompts";
const EXPECTED: &str = "tests/fixtures/invalid/expected.txt";

fn sources() -> Sources {
    catalog::load(Path::new(WORKFLOWS), Path::new(PROMPTS)).expect("fixture dirs are readable")
}

fn build_fixtures() -> BuildOutcome {
    catalog::build(&sources(), &CompileOptions::default())
}

fn printed(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(|d| format!("{d}\n")).collect()
}

#[test]
fn invalid_fixtures_report_exactly_the_expected_diagnostics() {
    let outcome = build_fixtures();
    assert!(outcome.catalog.is_none(), "a catalog with errors must not be built");
    let actual = printed(&outcome.diagnostics);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(EXPECTED, &actual).expect("write expected.txt");
        return;
    }
    let expected = std::fs::read_to_string(EXPECTED).unwrap_or_default();
    if actual != expected {
        let expected_lines: Vec<&str> = expected.lines().collect();
        let first_difference = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected_lines.len()));
        panic!(
            "diagnostics differ from {EXPECTED} (first difference on line {}).\n\
             --- actual ---\n{actual}--- end ---\n\
             run with UPDATE_EXPECT=1 to rewrite expected.txt",
            first_difference + 1
        );
    }
}

#[test]
fn every_invalid_fixture_yields_a_diagnostic_in_its_own_file() {
    let sources = sources();
    let outcome = catalog::build(&sources, &CompileOptions::default());
    let silent: Vec<&PathBuf> =
        sources.workflows.keys().filter(|file| !outcome.diagnostics.iter().any(|d| &d.file == *file)).collect();
    assert!(silent.is_empty(), "fixtures that compile without any diagnostic: {silent:?}");
    assert!(sources.workflows.len() >= 28, "only {} fixtures", sources.workflows.len());
}

#[test]
fn every_invalid_fixture_but_the_warning_ones_is_rejected() {
    let sources = sources();
    let outcome = catalog::build(&sources, &CompileOptions::default());
    // These two only deserve a warning; every other fixture must carry at least one error.
    let warning_only = ["unreachable-step.yaml", "extract-without-ask.yaml"];
    for file in sources.workflows.keys() {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let mine: Vec<Diagnostic> = outcome.diagnostics.iter().filter(|d| &d.file == file).cloned().collect();
        let has_error = mine.iter().any(Diagnostic::is_error);
        if warning_only.contains(&name) {
            assert!(!has_error, "{name} should only warn:\n{}", printed(&mine));
        } else {
            assert!(has_error, "{name} is not rejected");
        }
    }
}

#[test]
fn three_mistakes_in_three_steps_give_exactly_three_located_errors() {
    let sources = sources();
    let file = Path::new(WORKFLOWS).join("three-errors-at-once.yaml");
    let outcome = catalog::build(&sources, &CompileOptions::default());
    let found: Vec<(u64, u64, Severity, &str)> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.file == file)
        .map(|d| (d.line, d.column, d.severity, d.message.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    // `template: greet.j2` on line 5: the value starts at column 36.
    assert_eq!((found[0].0, found[0].1, found[0].2), (5, 36, Severity::Error));
    assert!(found[0].3.starts_with("template `greet.j2` not found"), "{}", found[0].3);
    // `duration: 3 days` on line 6: the value starts at column 36.
    assert_eq!((found[1].0, found[1].1, found[1].2), (6, 36, Severity::Error));
    assert!(found[1].3.starts_with("invalid duration `3 days`"), "{}", found[1].3);
    // `goto: handof` on line 9: the value starts at column 36.
    assert_eq!((found[2].0, found[2].1, found[2].2), (9, 36, Severity::Error));
    assert!(
        found[2].3.contains("`handof` is not a step") && found[2].3.contains("did you mean `handoff`"),
        "{}",
        found[2].3
    );
}
