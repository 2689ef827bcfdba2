//! `qualifyd status` as an operator runs it: the real binary against a real daemon.

use std::process::Command;

use serde_json::json;

use std::time::Duration;

use qualifyd::settings::{Secret, WebhookSettings};

use crate::harness::{ADMIN, Daemon, copy_shipped, settings_for, write_definitions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_summarises_a_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    daemon.import(json!({"workflow": "inbound-lead", "phone": "+33612345678"})).await;
    daemon.import(json!({"workflow": "inbound-lead", "phone": "+33612345679"})).await;
    daemon.post("/v1/workflows/reactivation/pause", &json!({})).await;
    let base = daemon.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_qualifyd"))
            .args(["status", "--server", &base])
            .env("QUALIFYD_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with(&format!("qualifyd {} at {}", env!("CARGO_PKG_VERSION"), daemon.base)), "{stdout}");
    assert!(stdout.contains("  up "), "{stdout}");
    let lead = stdout.lines().find(|l| l.trim_start().starts_with("inbound-lead")).unwrap();
    assert!(lead.contains("2 prospects ("), "{lead}");
    let reactivation = stdout.lines().find(|l| l.trim_start().starts_with("reactivation")).unwrap();
    assert!(reactivation.contains("PAUSED"), "{reactivation}");
    assert!(stdout.contains("outbox: ") && stdout.contains("timers: "), "{stdout}");
    assert!(stdout.contains("attention: 0 waiting for a person"), "{stdout}");
    assert!(stdout.contains("last reload: loaded at "), "{stdout}");

    // A wrong token: the daemon's error, with the request id to find its log lines.
    let base = daemon.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_qualifyd"))
            .args(["status", "--server", &base, "--token", "wrong"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("answered 401 to GET /v1/status: unauthorized") && stderr.contains("(request id "),
        "{stderr}"
    );
    daemon.stop().await;
}

fn status_of(base: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .args(["status", "--server", base])
        .env("QUALIFYD_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap()
}

/// A lead whose hand-off goes to a receiver that is down ends in `attention`: `/v1/status`
/// counts it and `qualifyd status` prints the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_the_prospects_waiting_in_attention() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: the receiver is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let receiver = format!("http://{dead}");
    let workflow = format!(
        "id: lead\nchannel: sms\nsteps:\n  - {{ id: handoff, webhook: {{ url: \"{receiver}/leads\" }} }}\n  - {{ id: done, end: qualified }}\n"
    );
    write_definitions(dir.path(), &[("lead", &workflow)], &[]);
    let mut settings = settings_for(dir.path());
    settings.webhooks =
        WebhookSettings { signing_secret: None, destinations: vec![(receiver, Secret::new("s"))], max_attempts: 1 };
    let daemon = Daemon::start_with(settings).await;
    let stuck = daemon.import(json!({"workflow": "lead", "phone": "+33612345678"})).await;
    daemon.wait_for(&stuck, Duration::from_secs(30), |v| v["status"] == "attention").await;

    let (_, status) = daemon.get("/v1/status").await;
    assert_eq!(status["attention"], 1, "{status}");
    let base = daemon.base.clone();
    let output = tokio::task::spawn_blocking(move || status_of(&base)).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("attention: 1 waiting for a person"), "{stdout}");

    daemon.stop().await;
}

#[test]
fn status_without_a_daemon_says_how_to_point_at_one() {
    let output = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .args(["status", "--server", "http://127.0.0.1:9"])
        .env("QUALIFYD_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("cannot reach the daemon at http://127.0.0.1:9"), "{stderr}");
    assert!(stderr.contains("give its address with --server"), "{stderr}");
}
