//! A qualified lead's `webhook` hand-off end to end: it reaches a local receiver with the
//! contact details, signed (the test verifies the HMAC over the raw body) and with the action id
//! as `Idempotency-Key`. With the receiver failing, the prospect ends in `attention` (listed by
//! `GET /v1/prospects?status=attention`, counted in /metrics) instead of `completed`; once the
//! receiver is back, `POST /v1/prospects/{id}/retry` delivers it exactly once.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use qualifyd::settings::{Secret, WebhookSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{Daemon, settings_for, write_definitions};

const SECRET: &str = "crm-signing-secret";
const SECS_10: Duration = Duration::from_secs(10);

async fn start(dir: &std::path::Path, crm: &MockServer) -> Daemon {
    let workflow = format!(
        "id: lead\nchannel: sms\nfields:\n  budget: {{ type: number, ask: \"Budget ?\" }}\nsteps:\n  - {{ id: hello, send: {{ template: hello.j2 }} }}\n  - {{ id: listen, wait_reply: {{ timeout: 1d, on_timeout: bye }} }}\n  - {{ id: qualify, ai: {{ prompt: hello.j2, extract: [budget], reply: true }} }}\n  - id: route\n    branch:\n      - {{ if: \"fields.budget is number\", goto: handoff }}\n      - {{ else: listen }}\n  - {{ id: handoff, webhook: {{ url: \"{}/leads\" }} }}\n  - {{ id: done, end: qualified }}\n  - {{ id: bye, end: unresponsive }}\n",
        crm.uri()
    );
    write_definitions(dir, &[("lead", &workflow)], &[("hello.j2", "Bonjour ! Quel budget mensuel ?")]);
    let mut settings = settings_for(dir);
    settings.webhooks =
        WebhookSettings { signing_secret: None, destinations: vec![(crm.uri(), Secret::new(SECRET))], max_attempts: 2 };
    Daemon::start_with(settings).await
}

fn verify(request: &wiremock::Request) {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let timestamp = header("qualifyd-timestamp");
    let signature = header("qualifyd-signature");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signature, format!("t={timestamp},v1={expected}"), "the signature covers the raw body");
}

async fn qualified_lead(daemon: &Daemon, phone: &str) -> String {
    let id = daemon
        .import(json!({"workflow": "lead", "name": "Marie Dupont", "phone": phone, "email": "marie@example.com"}))
        .await;
    daemon.wait_for(&id, SECS_10, |v| v["step"] == "listen").await;
    daemon.inbound("sms", phone, "Environ 2000 euros par mois", &format!("SM-{phone}")).await;
    id
}

#[tokio::test]
async fn a_signed_hand_off_reaches_the_receiver_with_the_contact_details() {
    let dir = tempfile::tempdir().unwrap();
    let crm = MockServer::start().await;
    Mock::given(method("POST")).and(path("/leads")).respond_with(ResponseTemplate::new(200)).mount(&crm).await;
    let daemon = start(dir.path(), &crm).await;
    let id = qualified_lead(&daemon, "+33612345678").await;
    let view = daemon.wait_for(&id, SECS_10, |v| v["status"] == "completed").await;
    assert_eq!(view["status_detail"], "qualified");

    let received = crm.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    verify(&received[0]);
    let key = received[0].headers.get("idempotency-key").unwrap().to_str().unwrap();
    assert!(key.starts_with(&format!("{id}:")), "the action id: {key}");
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["prospect"]["name"], "Marie Dupont");
    assert_eq!(body["prospect"]["phone"], "+33612345678");
    assert_eq!(body["prospect"]["email"], "marie@example.com");
    assert_eq!(body["fields"]["budget"], 2000);
    assert_eq!((body["workflow"]["id"].as_str(), body["step"].as_str()), (Some("lead"), Some("handoff")));
    assert!(body["link"].as_str().unwrap().ends_with(&format!("/v1/prospects/{id}")), "{body}");
    let transcript = body["transcript"].as_array().unwrap();
    assert_eq!(transcript.last().unwrap()["text"], "Environ 2000 euros par mois");
    daemon.stop().await;
}

#[tokio::test]
async fn a_failing_receiver_leaves_the_lead_in_attention_until_a_retry_delivers_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let crm = MockServer::start().await;
    Mock::given(method("POST")).and(path("/leads")).respond_with(ResponseTemplate::new(503)).mount(&crm).await;
    let daemon = start(dir.path(), &crm).await;
    let id = qualified_lead(&daemon, "+33612345679").await;
    let view = daemon.wait_for(&id, Duration::from_secs(30), |v| v["status"] == "attention").await;
    assert!(view["status_detail"].as_str().unwrap().contains("hand-off `handoff` failed"), "{view}");
    assert_eq!(crm.received_requests().await.unwrap().len(), 2, "webhooks.max_attempts");

    let (status, page) = daemon.get("/v1/prospects?status=attention").await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> = page["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [id.as_str()]);
    let metrics = daemon.client.get(format!("{}/metrics", daemon.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("qualifyd_handoff_failures_total"), "{metrics}");

    // Nothing else to retry on a prospect that does not need attention.
    let (status, answer) = daemon.post("/v1/prospects/nope/retry", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    crm.reset().await;
    Mock::given(method("POST")).and(path("/leads")).respond_with(ResponseTemplate::new(200)).mount(&crm).await;
    let (status, answer) = daemon.post(&format!("/v1/prospects/{id}/retry"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    daemon.wait_for(&id, SECS_10, |v| v["status"] == "completed").await;
    let received = crm.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "delivered exactly once after the retry");
    verify(&received[0]);
    let (status, answer) = daemon.post(&format!("/v1/prospects/{id}/retry"), &json!({})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("nothing_to_retry")));
    daemon.stop().await;
}
