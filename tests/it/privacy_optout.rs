//! Opt-out everywhere on the real daemon: STOP on the signed Twilio fixture takes the person out
//! of every campaign at once and cancels what was waiting to go out; the one-click link's GET
//! changes nothing and its POST unsubscribes; an opt-out the AI reads has the same effect;
//! START signed by Twilio opts the channel back in; HELP is answered.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::channels_support::{TWILIO_SID, post_twilio_sms, replay, twilio};
use crate::harness::write_definitions;
use crate::privacy_support::{Node, settings_with_roles};

const SMS_FLOW: &str = "id: sms-flow
channel: sms
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: bye, end: done }
";

const MAIL_FLOW: &str = "id: mail-flow
channel: email
steps:
  - { id: hello, send: { template: mail.j2 } }
  - { id: later, wait: { duration: 1d } }
  - { id: again, send: { template: mail.j2 } }
  - { id: bye, end: done }
";

const AI_FLOW: &str = "id: ai-flow
channel: sms
intents: { opt_out: [ras le bol] }
fields:
  budget: { type: number, description: Monthly budget, ask: \"What budget?\" }
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: qualify, ai: { prompt: hello.j2, extract: [budget], reply: true } }
  - { id: again, wait_reply: { timeout: 30d, on_timeout: bye }, next: qualify }
  - { id: bye, end: done }
";

/// The `From` of the `twilio-inbound-stop` fixture.
const FIXTURE_PHONE: &str = "+33612345678";
const EMAIL: &str = "grace.optout@example.com";

fn definitions(dir: &std::path::Path) {
    write_definitions(
        dir,
        &[("sms-flow", SMS_FLOW), ("mail-flow", MAIL_FLOW), ("ai-flow", AI_FLOW)],
        &[("hello.j2", "Hello!"), ("mail.j2", "News for you. Unsubscribe: {{ unsubscribe_url }}")],
    );
}

async fn statuses(node: &Node, ids: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        out.push(node.prospect(id).await["status"].as_str().unwrap().to_string());
    }
    out
}

#[tokio::test]
async fn stop_on_the_twilio_fixture_leaves_every_campaign_and_cancels_pending_messages() {
    let twilio_api = MockServer::start().await;
    let messages_path = format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json");
    // Twilio is down: the SMS greeting stays in the outbox, retried with backoff.
    Mock::given(method("POST"))
        .and(path(messages_path.as_str()))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"code": 20503, "message": "unavailable"})))
        .mount(&twilio_api)
        .await;
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = settings_with_roles(dir.path());
    settings.public_url = crate::channels_support::PUBLIC_URL.to_string();
    settings.channels.sms = Some(twilio(&twilio_api.uri()));
    let node = Node::start(settings).await;

    let sms = node.import(json!({"workflow": "sms-flow", "phone": FIXTURE_PHONE, "email": EMAIL})).await;
    // Linked to the phone only through the SMS prospect's email.
    let mail = node.import(json!({"workflow": "mail-flow", "email": EMAIL})).await;
    node.wait_for(&mail, "first email sent, waiting a day", |v| v["step"] == "later" && v["status"] == "waiting").await;
    let started = Instant::now();
    while twilio_api.received_requests().await.unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "the SMS was never attempted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(node.messages(&sms).await[0]["status"], "queued", "pending, retried");

    let response = replay(&node.client, &node.base, "/webhooks/twilio", "twilio-inbound-stop", "body").await;
    assert_eq!(response.status(), StatusCode::OK);
    for id in [&sms, &mail] {
        node.wait_for(id, "unsubscribed everywhere", |v| v["status"] == "unsubscribed").await;
    }
    let greeting = node.wait_messages(&sms, "greeting cancelled", |m| m[0]["status"] == "cancelled").await;
    assert_eq!(greeting[1]["text"], "STOP");
    assert!(node.prospect(&mail).await["next_wake_up"].is_null(), "the email campaign's timer is gone");
    let attempts = twilio_api.received_requests().await.unwrap().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = twilio_api.received_requests().await.unwrap().len();
    assert!(later <= attempts + 1, "sends kept going after STOP: {attempts} then {later}");

    // Every contact of the person is suppressed: no campaign can take them in again.
    for body in [
        json!({"workflow": "sms-flow", "phone": "0612345678"}),
        json!({"workflow": "mail-flow", "email": "Grace.OptOut@example.com"}),
    ] {
        let (status, answer) = node.post("/v1/prospects", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("opted out"), "{answer}");
    }
    let log = node.engine().privacy_requests(None, 100).unwrap();
    let opt_outs: Vec<_> = log
        .requests
        .iter()
        .filter(|r| r.request.actor == "subject" && format!("{:?}", r.request.kind) == "OptOut")
        .collect();
    assert_eq!(opt_outs.len(), 1, "{log:?}");

    // START on SMS, signed by Twilio, opts that channel back in (the email stays suppressed);
    // HELP is answered.
    let response = post_twilio_sms(&node.client, &node.base, FIXTURE_PHONE, "Start", "SM-start-1").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, answer) = node.post("/v1/prospects", &json!({"workflow": "sms-flow", "phone": FIXTURE_PHONE})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let again = answer["id"].as_str().unwrap().to_string();
    let (status, _) = node.post("/v1/prospects", &json!({"workflow": "mail-flow", "email": EMAIL})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    node.wait_for(&again, "greeting pending", |v| v["step"] == "listen").await;
    node.inbound("sms", FIXTURE_PHONE, "HELP", "SM-help-1").await;
    let messages = node.wait_messages(&again, "help answered", |m| m.len() == 3).await;
    assert_eq!((messages[1]["direction"].as_str(), messages[1]["text"].as_str()), (Some("inbound"), Some("HELP")));
    assert_eq!(messages[2]["direction"], "outbound");
    assert_eq!(messages[2]["text"], qualifyd::settings::DEFAULT_HELP_TEXT);
    let view = node.prospect(&again).await;
    assert_eq!(
        (view["step"].as_str(), view["status"].as_str()),
        (Some("listen"), Some("waiting")),
        "HELP is no answer"
    );
    node.stop().await;
}

#[tokio::test]
async fn the_one_click_link_changes_nothing_on_get_and_unsubscribes_on_post() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let phone = "+33612349999";
    let sms = node.import(json!({"workflow": "sms-flow", "phone": phone, "email": EMAIL})).await;
    let mail = node.import(json!({"workflow": "mail-flow", "email": EMAIL})).await;
    let messages = node.wait_messages(&mail, "email sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;
    let text = messages[0]["text"].as_str().unwrap();
    let url = text.split("Unsubscribe: ").nth(1).unwrap().trim();
    let token = url.rsplit('/').next().unwrap();
    let link = format!("{}/u/{token}", node.base);
    node.wait_for(&sms, "waiting", |v| v["status"] == "waiting").await;

    for _ in 0..2 {
        let page = node.client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\">") && html.contains("Unsubscribe"), "{html}");
        assert!(!html.contains(EMAIL));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(statuses(&node, &[&sms, &mail]).await, ["waiting", "waiting"], "a GET changes nothing");
    assert!(node.engine().privacy_requests(None, 10).unwrap().requests.is_empty());
    let unknown = node.client.get(format!("{}/u/0123abcd", node.base)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let unknown = node.client.post(format!("{}/u/not-a-token", node.base)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    for _ in 0..2 {
        let done = node
            .client
            .post(&link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        assert!(done.text().await.unwrap().contains("You are unsubscribed"));
    }
    for id in [&sms, &mail] {
        node.wait_for(id, "unsubscribed", |v| v["status"] == "unsubscribed").await;
    }
    let (status, _) = node.post("/v1/prospects", &json!({"workflow": "sms-flow", "phone": phone})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    node.stop().await;
}

#[tokio::test]
async fn an_opt_out_read_by_the_ai_leaves_every_campaign_too() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let phone = "+33612340000";
    let ai = node.import(json!({"workflow": "ai-flow", "phone": phone, "email": EMAIL})).await;
    let mail = node.import(json!({"workflow": "mail-flow", "email": EMAIL})).await;
    node.wait_for(&ai, "waiting for a reply", |v| v["step"] == "listen").await;
    node.wait_for(&mail, "waiting a day", |v| v["step"] == "later").await;
    // Not in the lexicon (which would decide at intake): a phrase only this workflow's AI knows.
    node.inbound("sms", phone, "Merci mais ras le bol", "SM-ai-1").await;
    for id in [&ai, &mail] {
        node.wait_for(id, "unsubscribed everywhere", |v| v["status"] == "unsubscribed").await;
    }
    let (_, export) = node.post("/v1/privacy/export", &json!({"email": EMAIL})).await;
    let suppressed: Vec<&Value> = export["suppressed_contacts"].as_array().unwrap().iter().collect();
    assert_eq!(suppressed.len(), 2, "{export}");
    assert!(suppressed.iter().all(|s| s["cause"] == "ai_intent"), "{export}");
    node.stop().await;
}
