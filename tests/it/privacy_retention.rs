//! The retention sweep run directly with an injected `now`: conversations are trimmed to the
//! configured length, prospects and unmatched messages older than the period are erased, and
//! every sweep is audited.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::write_definitions;
use crate::privacy_support::{Node, settings_with_roles};

const ECHO: &str = "id: echo
channel: sms
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: ack, send: { template: ack.j2 }, next: listen }
  - { id: bye, end: done }
";

#[tokio::test]
async fn the_sweep_trims_conversations_and_erases_what_is_past_the_retention_period() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(dir.path(), &[("echo", ECHO)], &[("hello.j2", "Hello"), ("ack.j2", "ack {{ last_reply }}")]);
    let mut settings = settings_with_roles(dir.path());
    settings.retention.period = Duration::days(30);
    settings.retention.max_messages = 3;
    let node = Node::start(settings).await;
    let talker = node.import(json!({"workflow": "echo", "phone": "+33611110001"})).await;
    let silent = node.import(json!({"workflow": "echo", "phone": "+33611110002"})).await;
    node.wait_messages(&talker, "greeted", |m| m.len() == 1 && m[0]["status"] == "sent").await;
    for (i, text) in ["one", "two"].iter().enumerate() {
        node.inbound("sms", "+33611110001", text, &format!("SM-ret-{i}")).await;
        node.wait_messages(&talker, "acknowledged", |m| {
            m.len() == 3 + 2 * i && m.iter().all(|m| m["status"] != "queued")
        })
        .await;
    }
    node.inbound("email", "someone@example.net", "no workflow takes email", "mid-ret-1").await;
    let engine = node.engine();
    let now = Utc::now();

    let report = engine.sweep_retention(now).await.unwrap();
    assert_eq!((report.prospects_erased, report.unmatched_erased, report.messages_trimmed), (0, 0, 2));
    let texts: Vec<String> =
        node.messages(&talker).await.iter().map(|m| m["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts, ["ack one", "two", "ack two"], "the oldest go first");
    assert_eq!(node.messages(&silent).await.len(), 1);

    // Just inside the period: nothing goes.
    let report = engine.sweep_retention(now + Duration::days(29)).await.unwrap();
    assert_eq!((report.prospects_erased, report.unmatched_erased, report.messages_trimmed), (0, 0, 0));

    // Past it: both prospects (the silent one counted from its creation) and the unmatched message.
    let report = engine.sweep_retention(now + Duration::days(31)).await.unwrap();
    assert_eq!((report.prospects_erased, report.unmatched_erased), (2, 1));
    for id in [&talker, &silent] {
        let (status, _) = node.get(&format!("/v1/prospects/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = node.post("/v1/privacy/export", &json!({"email": "someone@example.net"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // They had not opted out: they may be imported again.
    let (status, answer) = node.post("/v1/prospects", &json!({"workflow": "echo", "phone": "+33611110001"})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let sweeps: Vec<_> =
        engine.audit_log(None, 10_000).unwrap().into_iter().filter(|r| r.action == "retention.sweep").collect();
    assert_eq!(sweeps.len(), 3);
    assert!(sweeps.iter().all(|r| r.actor == "system" && r.prospect.is_none()));
    assert!(
        sweeps[2].detail.as_deref().unwrap().contains("2 prospect(s) and 1 unmatched message(s) erased"),
        "{sweeps:?}"
    );
    node.stop().await;
}
