//! Hot reload with real files and the real watcher: template edits, broken and fixed workflows,
//! a burst of 50 files, saves by rename, and prospects in flight moving to the new version.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Daemon, write_definitions};

const WORKFLOW: &str = "id: chat
channel: sms
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 1h, on_timeout: bye } }
  - { id: answer, send: { template: answer.j2 }, next: listen }
  - { id: bye, end: unresponsive }
";

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    write_definitions(&path, &[("chat", WORKFLOW)], &[("hello.j2", "Hello v1"), ("answer.j2", "Answer v1")]);
    (dir, path)
}

async fn workflows(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/v1/workflows").await;
    assert!(status.is_success(), "{body}");
    body
}

/// Waits until a reload after `since` (a reload count) satisfies `done`; returns the answer.
async fn wait_reload(daemon: &Daemon, since: u64, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = workflows(daemon).await;
        if daemon.reloader().reload_count() > since && done(&body["last_reload"]) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "reload not seen; last: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_edited_template_is_live_for_the_next_message_within_a_second() {
    let (_keep, dir) = setup();
    let daemon = Daemon::start(&dir).await;
    let id = daemon.import(json!({"workflow": "chat", "phone": "+33612340001"})).await;
    daemon.wait_messages(&id, 1).await;
    let before = workflows(&daemon).await["catalog_version"].clone();
    let count = daemon.reloader().reload_count();
    let edited = Instant::now();
    std::fs::write(dir.join("prompts/answer.j2"), "Answer v2").unwrap();
    let body = wait_reload(&daemon, count, |r| r["outcome"] == "loaded" && r["trigger"] == "files").await;
    let latency = edited.elapsed();
    assert!(latency < Duration::from_secs(1), "reload took {latency:?}");
    assert_ne!(body["catalog_version"], before);
    daemon.inbound("sms", "+33612340001", "hi", "SM-r1").await;
    let messages = daemon.wait_messages(&id, 3).await;
    assert_eq!(messages[2]["text"], "Answer v2");
    let view = daemon.prospect(&id).await;
    let active = body["workflows"][0]["version"].clone();
    assert_eq!(view["workflow_version"], active, "the prospect in flight moved to the new version");
    daemon.stop().await;
}

#[tokio::test]
async fn a_broken_edit_changes_nothing_served_and_says_where_then_a_fix_goes_live() {
    let (_keep, dir) = setup();
    let daemon = Daemon::start(&dir).await;
    let before = workflows(&daemon).await;
    let count = daemon.reloader().reload_count();
    let broken = WORKFLOW.replace("on_timeout: bye", "on_timeout: by");
    std::fs::write(dir.join("workflows/chat.yaml"), broken).unwrap();
    let body = wait_reload(&daemon, count, |r| r["outcome"] == "rejected").await;
    assert_eq!(body["catalog_version"], before["catalog_version"], "the old catalog is still served");
    let diagnostic = &body["last_reload"]["diagnostics"][0];
    assert!(diagnostic["file"].as_str().unwrap().ends_with("workflows/chat.yaml"), "{diagnostic}");
    assert_eq!((diagnostic["line"].as_u64(), diagnostic["column"].as_u64()), (Some(5), Some(58)), "{diagnostic}");
    assert!(diagnostic["message"].as_str().unwrap().contains("did you mean `bye`"), "{diagnostic}");
    // The old version keeps running.
    let id = daemon.import(json!({"workflow": "chat", "phone": "+33612340002"})).await;
    assert_eq!(daemon.wait_messages(&id, 1).await[0]["text"], "Hello v1");
    let count = daemon.reloader().reload_count();
    std::fs::write(dir.join("workflows/chat.yaml"), format!("{WORKFLOW}  - {{ id: spare, end: done }}\n")).unwrap();
    let body = wait_reload(&daemon, count, |r| r["outcome"] == "loaded").await;
    assert_ne!(body["catalog_version"], before["catalog_version"]);
    daemon.stop().await;
}

#[tokio::test]
async fn fifty_files_changed_in_one_burst_make_one_reload() {
    let (_keep, dir) = setup();
    let daemon = Daemon::start(&dir).await;
    let count = daemon.reloader().reload_count();
    for i in 0..50 {
        std::fs::write(dir.join(format!("prompts/extra-{i}.j2")), format!("Extra {i}")).unwrap();
    }
    wait_reload(&daemon, count, |r| r["outcome"] == "unchanged" || r["outcome"] == "loaded").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(daemon.reloader().reload_count(), count + 1, "one reload for the whole burst");
    daemon.stop().await;
}

#[tokio::test]
async fn a_save_by_rename_is_seen_and_swap_files_are_ignored() {
    let (_keep, dir) = setup();
    let daemon = Daemon::start(&dir).await;
    let count = daemon.reloader().reload_count();
    std::fs::write(dir.join("prompts/.hello.j2.swp"), "editor state").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(daemon.reloader().reload_count(), count, "a swap file alone triggers nothing");
    let temp = dir.join("prompts/hello.j2.tmp~");
    std::fs::write(&temp, "Hello v2").unwrap();
    std::fs::rename(&temp, dir.join("prompts/hello.j2")).unwrap();
    wait_reload(&daemon, count, |r| r["outcome"] == "loaded").await;
    let id = daemon.import(json!({"workflow": "chat", "phone": "+33612340003"})).await;
    assert_eq!(daemon.wait_messages(&id, 1).await[0]["text"], "Hello v2");
    daemon.stop().await;
}

#[tokio::test]
async fn a_deleted_workflow_takes_no_one_while_its_prospects_finish() {
    let (_keep, dir) = setup();
    let daemon = Daemon::start(&dir).await;
    let id = daemon.import(json!({"workflow": "chat", "phone": "+33612340004"})).await;
    daemon.wait_for(&id, Duration::from_secs(5), |v| v["step"] == "listen").await;
    let count = daemon.reloader().reload_count();
    write_definitions(&dir, &[("other", &WORKFLOW.replace("id: chat", "id: other"))], &[]);
    std::fs::remove_file(dir.join("workflows/chat.yaml")).unwrap();
    // The write and the removal may land in one reload or two: wait for the state after both.
    let started = Instant::now();
    let body = loop {
        let body = wait_reload(&daemon, count, |r| r["outcome"] == "loaded").await;
        if body["deleted_workflows"][0]["id"] == "chat" {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the deletion was not seen: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(body["workflows"][0]["id"], "other", "{body}");
    let (_, rejected) = daemon.post("/v1/prospects", &json!({"workflow": "chat", "phone": "+33612340005"})).await;
    assert_eq!(rejected["status"], "rejected");
    daemon.inbound("sms", "+33612340004", "still here", "SM-r5").await;
    let messages = daemon.wait_messages(&id, 3).await;
    assert_eq!(messages[2]["text"], "Answer v1", "the stored version keeps running");
    let (status, _) = daemon.post("/v1/reload", &json!({})).await;
    assert_eq!(status.as_u16(), 202);
    daemon.stop().await;
}
