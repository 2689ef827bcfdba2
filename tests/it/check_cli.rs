//! `qualifyd check` as a user runs it: the real binary, exit codes and printed diagnostics.

use std::process::Command;

fn qualifyd(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    qualifyd_env(args, dir, &[])
}

fn qualifyd_env(args: &[&str], dir: &std::path::Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qualifyd"));
    command.args(args).current_dir(dir).env_remove("QUALIFYD_MASTER_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let code = output.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn the_shipped_configuration_checks_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = [("QUALIFYD_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")];
    let args = ["check", "--config", "config.example.yaml", "--deny-warnings"];
    let (code, stdout, stderr) = qualifyd_env(&args, root, &key);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("ok: 3 workflow(s)"), "{stdout}");
}

#[test]
fn the_development_master_key_is_flagged_where_it_is_set() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, stdout, stderr) = qualifyd(&["check", "--config", "config.example.yaml"], root);
    assert_eq!(code, 0, "a warning only: {stdout}{stderr}");
    let text = std::fs::read_to_string(root.join("config.example.yaml")).unwrap();
    let line = text.lines().position(|l| l.trim_start().starts_with("development_key")).unwrap() + 1;
    let warning = stderr.lines().find(|l| l.contains("development_key")).unwrap_or_default();
    assert!(warning.contains(&format!("config.example.yaml:{line}:")) && warning.contains("warning"), "{stderr}");
    assert!(warning.contains("QUALIFYD_MASTER_KEY"), "says how to fix it: {warning}");
    let (code, _, _) = qualifyd(&["check", "--config", "config.example.yaml", "--deny-warnings"], root);
    assert_eq!(code, 1, "--deny-warnings refuses it");
}

#[test]
fn a_workflow_broken_in_three_places_gives_three_located_errors_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::copy_shipped(dir.path());
    let path = dir.path().join("workflows/inbound-lead.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text
        .replace("template: inbound-lead/nudge.j2", "template: inbound-lead/nudg.j2")
        .replace("goto: too_small", "goto: too_smal")
        .replace("timeout: 3d", "timeout: 3 days");
    std::fs::write(&path, &broken).unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "channels: { sms: { driver: outbox }, email: { driver: outbox }, messenger: { driver: outbox } }\n",
    )
    .unwrap();
    let (code, _, stderr) = qualifyd(&["check", "--config", "config.yaml"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 3, "{stderr}");
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let column_of = |needle: &str| broken.lines().find(|l| l.contains(needle)).unwrap().find(needle).unwrap() + 1;
    let expect = [
        ("too_smal", "goto target `too_smal`"),
        ("inbound-lead/nudg.j2", "template `inbound-lead/nudg.j2`"),
        ("3 days", "invalid duration `3 days`"),
    ];
    for (needle, message) in expect {
        let location = format!("inbound-lead.yaml:{}:{}: error: ", line_of(needle), column_of(needle));
        assert!(
            errors.iter().any(|e| e.contains(&location) && e.contains(message)),
            "missing {location}{message} in\n{stderr}"
        );
    }
    assert!(stderr.contains("check failed: 3 error(s)"), "{stderr}");
}

#[test]
fn a_bad_settings_file_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), "listen: 127.0.0.1:8080\nlisten_adress: x\n").unwrap();
    let (code, _, stderr) = qualifyd(&["check", "--config", "config.yaml"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("config.yaml:2:1: error:"), "{stderr}");
}

#[test]
fn an_email_hand_off_without_an_email_channel_is_an_error_not_a_lost_lead() {
    let dir = tempfile::tempdir().unwrap();
    crate::harness::copy_shipped(dir.path());
    std::fs::write(
        dir.path().join("config.yaml"),
        "channels: { sms: { driver: outbox }, messenger: { driver: outbox } }\n",
    )
    .unwrap();
    let (code, _, stderr) = qualifyd(&["check", "--config", "config.yaml"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("`notify.email` needs an email channel")).collect();
    assert_eq!(errors.len(), 3, "one per shipped workflow: {stderr}");
    assert!(errors.iter().any(|e| e.contains("inbound-lead.yaml:")), "{stderr}");
}
