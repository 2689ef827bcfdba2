//! Team handoff end to end: a `notify` step alerts the team on a Slack-compatible webhook, an
//! operator takes the conversation over through `POST /v1/prospects/{id}/messages` (sent as a
//! human message, automation paused), and `resume` hands it back to the workflow.

use std::time::{Duration, Instant};

use qualifyd::settings::{AdminToken, Role, Secret};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{Daemon, settings_for, write_definitions};

const OPERATOR: &str = "operator-token";
const VIEWER: &str = "viewer-token";
const SECS_5: Duration = Duration::from_secs(5);

async fn start(dir: &std::path::Path, hook: &MockServer) -> Daemon {
    let workflow = format!(
        "id: desk\nchannel: sms\nsteps:\n  - {{ id: hello, send: {{ template: hello.j2 }} }}\n  - {{ id: listen, wait_reply: {{ timeout: 1h, on_timeout: bye }} }}\n  - {{ id: alert, notify: {{ webhook: \"{}/hook\", template: alert.j2 }} }}\n  - {{ id: again, wait_reply: {{ timeout: 1h, on_timeout: bye }} }}\n  - {{ id: thanks, send: {{ template: thanks.j2 }} }}\n  - {{ id: bye, end: done }}\n",
        hook.uri()
    );
    write_definitions(
        dir,
        &[("desk", &workflow)],
        &[
            ("hello.j2", "Hello! What can we do for you?"),
            ("alert.j2", "A lead wants to talk: {{ last_reply }}"),
            ("thanks.j2", "Thanks: {{ last_reply }}"),
        ],
    );
    let mut settings = settings_for(dir);
    for (name, role, token) in [("desk", Role::Operator, OPERATOR), ("wall", Role::Viewer, VIEWER)] {
        settings.admin_tokens.push(AdminToken { name: name.into(), role, token: Secret::new(token) });
    }
    Daemon::start_with(settings).await
}

async fn say(daemon: &Daemon, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let url = format!("{}/v1/prospects/{id}/messages", daemon.base);
    let response = daemon.client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls until the prospect's `updated_at` differs from `before` (the last event was applied).
async fn wait_changed(daemon: &Daemon, id: &str, before: &Value) -> Value {
    let started = Instant::now();
    loop {
        let view = daemon.prospect(id).await;
        if view["updated_at"] != *before {
            return view;
        }
        assert!(started.elapsed() < SECS_5, "the prospect did not change: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_team_is_alerted_an_operator_takes_over_and_resume_hands_back() {
    let hook = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)).mount(&hook).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &hook).await;
    let phone = "+33612345690";
    let id = daemon.import(json!({ "workflow": "desk", "phone": phone })).await;
    daemon.wait_for(&id, SECS_5, |v| v["step"] == "listen").await;
    daemon.inbound("sms", phone, "I'd like to talk to someone", "SM-h1").await;
    daemon.wait_for(&id, SECS_5, |v| v["step"] == "again" && v["status"] == "waiting").await;
    let started = Instant::now();
    while hook.received_requests().await.unwrap_or_default().is_empty() {
        assert!(started.elapsed() < SECS_5, "the team webhook was not called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alert: Value = serde_json::from_slice(&hook.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(alert["text"], "A lead wants to talk: I'd like to talk to someone");
    assert_eq!(alert["prospect"]["phone"], "+33612345690", "the team gets the number to call: {alert}");

    let (status, view) = say(&daemon, VIEWER, &id, json!({ "text": "Hi" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{view}");
    let (status, view) = say(&daemon, OPERATOR, &id, json!({ "text": "Hi, Grace from the sales team here." })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{view}");
    assert_eq!(view["status"], "paused");
    assert_eq!(view["status_detail"], "an operator took over the conversation");
    let sent = daemon.wait_messages(&id, 3).await;
    let last = &sent[2];
    assert_eq!((last["direction"].as_str(), last["human"].as_bool()), (Some("outbound"), Some(true)));
    assert_eq!(
        (last["text"].as_str(), last["status"].as_str()),
        (Some("Hi, Grace from the sales team here."), Some("sent"))
    );

    daemon.inbound("sms", phone, "Great, call me tomorrow", "SM-h2").await;
    let view = wait_changed(&daemon, &id, &view["updated_at"]).await;
    assert_eq!(view["status"], "paused", "{view}");
    assert_eq!(daemon.messages(&id).await.len(), 4, "the automation says nothing while an operator talks");

    let (status, _) = daemon.post(&format!("/v1/prospects/{id}/resume"), &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let view = daemon.wait_for(&id, SECS_5, |v| v["status"] == "completed").await;
    assert_eq!(view["status_detail"], "done");
    let sent = daemon.wait_messages(&id, 5).await;
    assert_eq!(
        (sent[4]["text"].as_str(), sent[4]["human"].as_bool()),
        (Some("Thanks: Great, call me tomorrow"), Some(false))
    );
    daemon.stop().await;
}

#[tokio::test]
async fn operator_messages_are_checked_and_never_reach_the_unsubscribed() {
    let hook = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &hook).await;
    let phone = "+33612345691";
    let id = daemon.import(json!({ "workflow": "desk", "phone": phone })).await;
    daemon.wait_for(&id, SECS_5, |v| v["step"] == "listen").await;

    let (status, body) = say(&daemon, OPERATOR, &id, json!({ "text": "   " })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    let (status, body) = say(&daemon, OPERATOR, &id, json!({ "txt": "Hi" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = say(&daemon, OPERATOR, "p_nobody", json!({ "text": "Hi" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    daemon.inbound("sms", phone, "STOP", "SM-u1").await;
    daemon.wait_for(&id, SECS_5, |v| v["status"] == "unsubscribed").await;
    let (status, body) = say(&daemon, OPERATOR, &id, json!({ "text": "Are you sure?" })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("unsubscribed")), "{body}");
    let outbound = daemon.messages(&id).await.into_iter().filter(|m| m["direction"] == "outbound").count();
    assert_eq!(outbound, 1, "only the greeting");
    daemon.stop().await;
}
