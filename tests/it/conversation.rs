//! Conversation tests through the real binary: `qualifyd test` over the shipped scripts, a
//! failing script (exit 1, location and diff, JUnit report), a malformed one (exit 2), a
//! replay under the `openai` provider, and `qualifyd simulate` driven through a pipe.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn qualifyd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .args(args)
        .current_dir(dir)
        .env_remove("QUALIFYD_CONFIG")
        .output()
        .expect("the qualifyd binary runs")
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).to_string(), String::from_utf8_lossy(&output.stderr).to_string())
}

/// A temp dir with a config, the shipped `inbound-lead` workflow and its prompts.
fn project(ai: &str) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "timezone: Europe/Paris\nchannels: {{ sms: {{ driver: outbox }}, email: {{ driver: outbox }} }}\nai: {ai}\n"
    );
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    std::fs::create_dir_all(dir.path().join("workflows/tests")).unwrap();
    std::fs::create_dir_all(dir.path().join("prompts/inbound-lead")).unwrap();
    std::fs::copy(root.join("workflows/inbound-lead.yaml"), dir.path().join("workflows/inbound-lead.yaml")).unwrap();
    for entry in std::fs::read_dir(root.join("prompts/inbound-lead")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join("prompts/inbound-lead").join(path.file_name().unwrap())).unwrap();
    }
    dir
}

const FAILING: &str = "\
name: budget is asked first
workflow: inbound-lead
prospect: { name: Marie, phone: \"+33612345678\" }
turns:
  - say: 1500 euros par mois
    sent: [{ contains: budget }]
    fields: { budget: 1500 }
";

#[test]
fn shipped_conversation_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = qualifyd(root, &["test", "--config", "config.example.yaml"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    let passed: usize = summary.strip_suffix(" passed, 0 failed").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(passed >= 6, "summary line `{summary}`:\n{stdout}");
    for name in ["inbound-lead qualified", "reactivation reply during the wait", "messenger-inbound qualified"] {
        assert!(stdout.lines().any(|l| l == format!("PASS {name}")), "no PASS {name}:\n{stdout}");
    }
}

#[test]
fn a_failing_script_exits_1_with_the_line_and_the_diff() {
    let dir = project("{ provider: rules }");
    std::fs::write(dir.path().join("workflows/tests/budget.yaml"), FAILING).unwrap();
    let output = qualifyd(dir.path(), &["test", "--config", "config.yaml", "--junit", "report.xml"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("FAIL budget is asked first\n"), "{stdout}");
    let place =
        "workflows/tests/budget.yaml:6:5: turn 1 (after say \"1500 euros par mois\"): sent: expected 1 message, got 2";
    assert!(stdout.contains(place), "no `{place}` in:\n{stdout}");
    assert!(stdout.contains("    expected: - contains \"budget\"\n"), "{stdout}");
    assert!(stdout.contains("    actual:   - sms \"Bonjour Marie !"), "{stdout}");
    assert!(stdout.contains("              - sms \"Quand souhaitez-vous démarrer ?\"\n"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 passed, 1 failed"), "{stdout}");
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert!(xml.starts_with("<?xml") && xml.contains("<testsuite "), "{xml}");
    assert!(xml.contains("<testcase name=\"budget is asked first\" classname=\"inbound-lead\""), "{xml}");
    assert!(xml.contains("<failure message=\"1 expectation(s) failed\""), "{xml}");
    assert!(xml.contains("budget.yaml:6:5:") && xml.contains("contains &quot;budget&quot;"), "{xml}");
}

#[test]
fn a_malformed_script_exits_2_with_its_position() {
    let dir = project("{ provider: rules }");
    let broken = "workflow: inbound-lead\nturns:\n  - { say: hi, sent: [], stauts: waiting }\n";
    std::fs::write(dir.path().join("workflows/tests/broken.yaml"), broken).unwrap();
    let output = qualifyd(dir.path(), &["test", "--config", "config.yaml"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("broken.yaml:3:26: error: unknown key `stauts` (did you mean `status`?)"), "{stdout}");
}

#[test]
fn a_replay_keeps_openai_workflows_testable_offline() {
    let dir =
        project("{ provider: openai, model: test-model, api_key: not-used, base_url: \"http://127.0.0.1:9/v1\" }");
    let replay = "- { fields: { budget: 1500, timeline: ASAP, decision_maker: true }, reply: \"Super, et c'est vous qui décidez ?\" }\n";
    std::fs::write(dir.path().join("workflows/tests/answers.replay.yaml"), replay).unwrap();
    let script = "\
workflow: inbound-lead
replay: answers.replay.yaml
prospect: { phone: \"+33612345678\" }
turns:
  - sent: [{ contains: Bonjour ! }]
  - say: peu importe
    sent: [{ text: \"Merci ! Un conseiller vous appelle très vite.\" }]
    fields: { budget: 1500, timeline: now, decision_maker: true }
    outcome: qualified
";
    std::fs::write(dir.path().join("workflows/tests/replayed.yaml"), script).unwrap();
    let without = FAILING.replace("[{ contains: budget }]", "[{ contains: Bonjour }, { contains: When }]");
    std::fs::write(dir.path().join("workflows/tests/without.yaml"), without).unwrap();
    let output = qualifyd(dir.path(), &["test", "--config", "config.yaml"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("PASS replayed\n"), "{stdout}");
    assert!(stdout.contains("FAIL budget is asked first\n"), "{stdout}");
    assert!(stdout.contains("support only the offline `rules` provider"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 1 failed"), "{stdout}");
}

#[test]
fn simulate_through_a_pipe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .args([
            "simulate",
            "--config",
            "config.example.yaml",
            "--workflow",
            "inbound-lead",
            "--name",
            "Marie Dupont",
            "--phone",
            "06 12 34 56 78",
        ])
        .current_dir(root)
        .env_remove("QUALIFYD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the qualifyd binary starts");
    let input = "/wait 2d\nEnviron 1500€ par mois\n/state\n/quit\nnever read\n";
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let wanted = [
        "virtual clock: Mon 2026-01-05 10:00 CET",
        "[Mon 2026-01-05 10:00 CET] sms -> Bonjour Marie ! Merci pour votre intérêt.",
        "timer: reply timeout at Wed 2026-01-07 10:00 CET (in 2d)",
        "[Wed 2026-01-07 10:00 CET] timer: no reply in time (first_reply)",
        "[Wed 2026-01-07 10:00 CET] sms -> Bonjour Marie, je me permets de vous relancer",
        "[Wed 2026-01-07 10:00 CET] prospect: Environ 1500€ par mois",
        "[Wed 2026-01-07 10:00 CET] sms -> Quand souhaitez-vous démarrer ?",
        "step first_reply | status waiting | score 40 | fields {\"budget\":1500}",
        "\"workflow\": \"inbound-lead\"",
        "bye: Wed 2026-01-07 10:00 CET",
    ];
    for line in wanted {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    assert!(!stdout.contains("never read"), "{stdout}");
}
