//! How `qualifyd test` reports: one `PASS name` / `FAIL name` line per script, each failed
//! expectation as `file:line:col: turn N (...): what` with expected and actual below it, a final
//! `N passed, M failed` line; and the same results as JUnit XML for CI dashboards.

use std::io::Write;

use crate::simulate::expect::Failure;
use crate::simulate::suite::{ScriptOutcome, TestRun};

/// The lines of one script's result.
pub fn write_outcome(out: &mut dyn Write, outcome: &ScriptOutcome) -> std::io::Result<()> {
    let verdict = if outcome.passed() { "PASS" } else { "FAIL" };
    writeln!(out, "{verdict} {}", outcome.name)?;
    for problem in &outcome.problems {
        writeln!(out, "  {problem}")?;
    }
    for failure in &outcome.failures {
        writeln!(out, "{}", failure_text(outcome, failure, "  "))?;
    }
    Ok(())
}

/// `file:line:col: turn 3 (after say "x"): step` then `expected:` and `actual:` lines.
pub fn failure_text(outcome: &ScriptOutcome, failure: &Failure, indent: &str) -> String {
    let place = format!("{}:{}:{}", outcome.file.display(), failure.at.line, failure.at.column);
    let mut text = format!("{indent}{place}: {}: {}\n", failure.context, failure.what);
    text.push_str(&labelled(indent, "expected:", &failure.expected));
    text.push('\n');
    text.push_str(&labelled(indent, "actual:  ", &failure.actual));
    text
}

/// `    expected: first line` with the next lines aligned under the first.
fn labelled(indent: &str, label: &str, value: &str) -> String {
    let pad = " ".repeat(indent.len() + 2 + label.len() + 1);
    let mut lines = value.lines();
    let mut text = format!("{indent}  {label} {}", lines.next().unwrap_or_default());
    for line in lines {
        text.push('\n');
        text.push_str(&pad);
        text.push_str(line);
    }
    text
}

/// `N passed, M failed`.
pub fn summary(run: &TestRun) -> String {
    format!("{} passed, {} failed", run.passed(), run.failed())
}

/// The whole run as JUnit XML: one `testsuite`, one `testcase` per script, a `failure` per
/// script with failed expectations and an `error` per script that could not run.
pub fn junit_xml(run: &TestRun) -> String {
    let (tests, errors) = (run.outcomes.len(), run.invalid());
    let failures = run.failed() - errors;
    let counts = format!(r#"tests="{tests}" failures="{failures}" errors="{errors}""#);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!("<testsuites name=\"qualifyd test\" {counts}>\n"));
    xml.push_str(&format!("  <testsuite name=\"qualifyd\" {counts} skipped=\"0\">\n"));
    for outcome in &run.outcomes {
        let classname = outcome.workflow.as_deref().unwrap_or("qualifyd");
        xml.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\"",
            escape(&outcome.name),
            escape(classname),
            escape(&outcome.file.display().to_string())
        ));
        if outcome.passed() {
            xml.push_str("/>\n");
            continue;
        }
        xml.push_str(">\n");
        if !outcome.problems.is_empty() {
            let body: Vec<String> = outcome.problems.iter().map(|p| p.to_string()).collect();
            let message = format!("the script is invalid: {}", outcome.problems[0].message);
            xml.push_str(&element("error", &message, "invalid_script", &body.join("\n")));
        } else {
            let body: Vec<String> = outcome.failures.iter().map(|f| failure_text(outcome, f, "")).collect();
            let message = format!("{} expectation(s) failed", outcome.failures.len());
            xml.push_str(&element("failure", &message, "expectation", &body.join("\n")));
        }
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn element(name: &str, message: &str, kind: &str, body: &str) -> String {
    format!("      <{name} message=\"{}\" type=\"{kind}\">{}</{name}>\n", escape(message), escape(body))
}

/// Escapes text for XML content and attribute values; drops the control characters XML 1.0
/// cannot carry at all.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
