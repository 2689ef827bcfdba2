//! The daemon end to end over HTTP: import, greeting, reply, qualification, restart, timers,
//! pauses, unknown senders, errors. Real sled, real loopback HTTP, real clock.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Daemon, copy_shipped, write_definitions};

const FIXTURE_TEXT: &str =
    "Bonjour, oui je suis interesse. Budget autour de 1500 euros par mois, on veut demarrer tout de suite.";

#[tokio::test]
async fn import_greets_and_a_reply_is_qualified_by_the_rules_provider() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let id = daemon
        .import(
            json!({"workflow": "inbound-lead", "name": "Ada Lovelace", "phone": "06 12 34 56 78", "source": "website"}),
        )
        .await;
    let view = daemon.wait_for(&id, Duration::from_secs(5), |v| v["step"] == "first_reply").await;
    assert_eq!(view["status"], "waiting");
    assert!(view["next_wake_up"].is_string(), "{view}");
    let messages = daemon.wait_messages(&id, 1).await;
    assert_eq!(messages[0]["direction"], "outbound");
    assert_eq!(messages[0]["status"], "sent");
    assert!(messages[0]["text"].as_str().unwrap().starts_with("Bonjour Ada !"), "{messages:?}");

    let answer = daemon.inbound("sms", "+33612345678", FIXTURE_TEXT, "SM-1").await;
    assert_eq!(answer["status"], "recorded");
    assert_eq!(answer["prospect"], id.as_str());
    let view = daemon.wait_for(&id, Duration::from_secs(5), |v| v["fields"]["budget"] == 1500).await;
    assert_eq!(view["fields"]["timeline"], "now");
    assert!(view["fields"].get("decision_maker").is_none(), "{view}");
    assert_eq!(view["score"], 70);
    let messages = daemon.wait_messages(&id, 3).await;
    assert_eq!(messages[1]["direction"], "inbound");
    assert_eq!(messages[1]["text"], FIXTURE_TEXT);
    assert_eq!(messages[2]["text"], "Est-ce vous qui prendrez la décision ?");
    daemon.stop().await;
}

#[tokio::test]
async fn a_repeated_provider_id_is_acknowledged_and_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let id = daemon.import(json!({"workflow": "inbound-lead", "phone": "+33612345679"})).await;
    daemon.wait_messages(&id, 1).await;
    let first = daemon.inbound("sms", "+33612345679", "hello", "SM-dup").await;
    let second = daemon.inbound("sms", "+33612345679", "hello", "SM-dup").await;
    assert_eq!(first["status"], "recorded");
    assert_eq!(second["status"], "duplicate");
    let messages = daemon.wait_messages(&id, 3).await;
    let inbound = messages.iter().filter(|m| m["direction"] == "inbound").count();
    assert_eq!(inbound, 1, "{messages:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn importing_the_same_person_twice_is_existing_and_bad_input_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let id = daemon.import(json!({"workflow": "inbound-lead", "phone": "+33612345670"})).await;
    let (status, batch) = daemon
        .post(
            "/v1/prospects",
            &json!([
                {"workflow": "inbound-lead", "phone": "0612345670"},
                {"workflow": "inbound-lead", "phone": "not a phone"},
                {"workflow": "nope", "phone": "+33612345671"},
                {"workflow": "inbound-lead"},
                {"workflow": "inbound-lead", "phone": "+33612345672", "fields": {"budget": "lots"}},
                {"workflow": "inbound-lead", "phone": "+33612345673", "colour": "red"}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    let results = batch["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "existing");
    assert_eq!(results[0]["id"], id.as_str());
    for (i, needle) in
        [(1, "phone number"), (2, "unknown workflow"), (3, "no sms contact"), (4, "budget"), (5, "colour")]
    {
        assert_eq!(results[i]["status"], "rejected", "{}", results[i]);
        assert!(results[i]["error"].as_str().unwrap().contains(needle), "{}", results[i]);
    }
    daemon.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart_and_a_timer_due_while_down_fires_after() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(
        dir.path(),
        &[(
            "quick",
            "id: quick\nchannel: sms\nsteps:\n  - { id: hello, send: { template: hello.j2 } }\n  - { id: listen, wait_reply: { timeout: 2s, on_timeout: nudge } }\n  - { id: thanks, end: qualified }\n  - { id: nudge, send: { template: nudge.j2 } }\n  - { id: bye, end: unresponsive }\n",
        )],
        &[("hello.j2", "Hello!"), ("nudge.j2", "Still there?")],
    );
    let daemon = Daemon::start(dir.path()).await;
    let id = daemon.import(json!({"workflow": "quick", "phone": "+33612345674"})).await;
    daemon.wait_for(&id, Duration::from_secs(5), |v| v["step"] == "listen").await;
    daemon.stop().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let daemon = Daemon::start(dir.path()).await;
    let view = daemon.wait_for(&id, Duration::from_secs(5), |v| v["status"] == "completed").await;
    assert_eq!(view["status_detail"], "unresponsive");
    let texts: Vec<String> =
        daemon.wait_messages(&id, 2).await.iter().map(|m| m["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts, ["Hello!", "Still there?"]);
    daemon.stop().await;
}

#[tokio::test]
async fn pausing_a_prospect_holds_it_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(
        dir.path(),
        &[(
            "quick",
            "id: quick\nchannel: sms\nsteps:\n  - { id: hello, send: { template: hello.j2 } }\n  - { id: listen, wait_reply: { timeout: 1h, on_timeout: bye } }\n  - { id: thanks, send: { template: thanks.j2 } }\n  - { id: bye, end: qualified }\n",
        )],
        &[("hello.j2", "Hello!"), ("thanks.j2", "Thanks {{ last_reply }}")],
    );
    let daemon = Daemon::start(dir.path()).await;
    let id = daemon.import(json!({"workflow": "quick", "phone": "+33612345675"})).await;
    daemon.wait_for(&id, Duration::from_secs(5), |v| v["step"] == "listen").await;
    let (status, view) = daemon.post(&format!("/v1/prospects/{id}/pause"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "paused");
    daemon.inbound("sms", "+33612345675", "Ok!", "SM-p1").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(daemon.prospect(&id).await["status"], "paused");
    assert_eq!(daemon.messages(&id).await.len(), 2, "nothing is sent while paused");
    let (status, _) = daemon.post(&format!("/v1/prospects/{id}/resume"), &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let view = daemon.wait_for(&id, Duration::from_secs(5), |v| v["status"] == "completed").await;
    assert_eq!(view["status_detail"], "qualified");
    let messages = daemon.wait_messages(&id, 3).await;
    assert_eq!(messages[2]["text"], "Thanks Ok!");
    daemon.stop().await;
}

#[tokio::test]
async fn a_paused_workflow_takes_no_one_and_holds_replies_until_resumed() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let id = daemon.import(json!({"workflow": "inbound-lead", "phone": "+33612345676"})).await;
    daemon.wait_for(&id, Duration::from_secs(5), |v| v["step"] == "first_reply").await;
    let (status, answer) = daemon.post("/v1/workflows/inbound-lead/pause", &json!({})).await;
    assert_eq!((status, answer["paused"].clone()), (StatusCode::OK, json!(true)));
    let (_, rejected) =
        daemon.post("/v1/prospects", &json!({"workflow": "inbound-lead", "phone": "+33612345677"})).await;
    assert_eq!(rejected["status"], "rejected");
    daemon.inbound("sms", "+33612345676", "1500 euros", "SM-w1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(daemon.prospect(&id).await["step"], "first_reply");
    daemon.post("/v1/workflows/inbound-lead/resume", &json!({})).await;
    daemon.wait_for(&id, Duration::from_secs(5), |v| v["fields"]["budget"] == 1500).await;
    let (status, missing) = daemon.post("/v1/workflows/nope/pause", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    daemon.stop().await;
}

#[tokio::test]
async fn an_unknown_sender_starts_the_inbound_workflow_or_is_kept_unmatched() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let answer = daemon.inbound("messenger", "psid-42", "Bonjour, je cherche des panneaux solaires", "m-1").await;
    let id = answer["prospect"].as_str().unwrap().to_string();
    let view = daemon.wait_for(&id, Duration::from_secs(5), |v| v["fields"]["need"] == "solar").await;
    assert_eq!(view["workflow"], "messenger-inbound");
    let messages = daemon.wait_messages(&id, 2).await;
    assert_eq!(messages[1]["text"], "Quel est le code postal du projet ?");
    let unmatched = daemon.inbound("email", "someone@example.org", "hello", "e-1").await;
    assert_eq!(unmatched["prospect"], serde_json::Value::Null);
    daemon.stop().await;
}

#[tokio::test]
async fn errors_have_one_json_shape() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let response = daemon.client.get(format!("{}/v1/prospects", daemon.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, body) = daemon.get("/v1/prospects/p_nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].is_string());
    let (status, _) = daemon.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, page) = daemon.get("/v1/prospects?limit=5").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["items"].is_array());
    let metrics = daemon.client.get(format!("{}/metrics", daemon.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("qualifyd_prospects"), "{metrics}");
    daemon.stop().await;
}
