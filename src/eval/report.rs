//! How an evaluation prints: a table per corpus file (precision, recall, F1 and support per
//! field, intent accuracy, the declared minimums), every miss as `file:line: field: expected X,
//! got Y`, a one-line summary; and the same as JUnit XML for CI.

use std::io::Write;

use crate::eval::corpus::Thresholds;
use crate::eval::{EvalRun, FileResult};
use crate::simulate::xml_escape;

/// The table and the misses of one corpus file.
pub fn write_file(out: &mut dyn Write, result: &FileResult, thresholds: &Thresholds) -> std::io::Result<()> {
    let score = &result.score;
    let file = result.file.display();
    writeln!(out, "{} ({file}, {} cases)", result.workflow, score.cases)?;
    writeln!(out, "  {:<18} {:>9} {:>7} {:>6} {:>8} {:>5}", "field", "precision", "recall", "F1", "support", "min")?;
    for (name, tally) in &score.fields {
        let min = thresholds.for_field(name).map_or("-".to_string(), |m| format!("{m:.2}"));
        writeln!(
            out,
            "  {:<18} {:>9.2} {:>7.2} {:>6.2} {:>8} {:>5}",
            name,
            tally.precision(),
            tally.recall(),
            tally.f1(),
            tally.support(),
            min
        )?;
    }
    let min = thresholds.intent.map_or("-".to_string(), |m| format!("{m:.2}"));
    let right = format!("{}/{}", score.intents_right, score.cases);
    writeln!(out, "  {:<18} {:>9.2} {:>23} {:>5}", "intent accuracy", score.intent_accuracy(), right, min)?;
    for miss in &score.misses {
        writeln!(out, "{file}:{}: {}: expected {}, got {}", miss.line, miss.what, miss.expected, miss.got)?;
    }
    for (what, value, min) in &result.below {
        writeln!(out, "{file}: {what} {value:.2} is below the threshold {min:.2}")?;
    }
    writeln!(out)
}

/// `eval (rules): 3 file(s), 310 case(s), 12 miss(es): ok` or `...: FAILED (2 below threshold)`.
pub fn summary(run: &EvalRun) -> String {
    let cases: u32 = run.files.iter().map(|f| f.score.cases).sum();
    let misses: usize = run.files.iter().map(|f| f.score.misses.len()).sum();
    let below: usize = run.files.iter().map(|f| f.below.len()).sum();
    let verdict = if below == 0 { "ok".to_string() } else { format!("FAILED ({below} below threshold)") };
    format!("eval ({}): {} file(s), {cases} case(s), {misses} miss(es): {verdict}", run.provider, run.files.len())
}

/// One test suite per corpus file; one test case per field and one for the intents, failed
/// when below the file's threshold, with the misses in its body.
pub fn junit_xml(run: &EvalRun) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"qualifyd eval\">\n");
    for result in &run.files {
        let file = result.file.display().to_string();
        let names: Vec<String> =
            result.score.fields.keys().map(|f| format!("{f} F1")).chain(["intent accuracy".to_string()]).collect();
        let failed = names.iter().filter(|n| result.below.iter().any(|(w, _, _)| w == *n)).count();
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
            xml_escape(&file),
            names.len()
        ));
        for name in &names {
            let what = name.trim_end_matches(" F1").trim_end_matches(" accuracy");
            let misses: Vec<String> = result
                .score
                .misses
                .iter()
                .filter(|m| m.what == what)
                .map(|m| format!("{file}:{}: expected {}, got {}", m.line, m.expected, m.got))
                .collect();
            xml.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\">",
                xml_escape(&result.workflow),
                xml_escape(name)
            ));
            if let Some((_, value, min)) = result.below.iter().find(|(w, _, _)| w == name) {
                let message = format!("{name} {value:.2} is below the threshold {min:.2}");
                xml.push_str(&format!(
                    "<failure message=\"{}\" type=\"threshold\">{}</failure>",
                    xml_escape(&message),
                    xml_escape(&misses.join("\n"))
                ));
            } else if !misses.is_empty() {
                xml.push_str(&format!("<system-out>{}</system-out>", xml_escape(&misses.join("\n"))));
            }
            xml.push_str("</testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}
