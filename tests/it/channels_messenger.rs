//! Messenger, end to end: the real daemon takes Meta's signed webhooks (the fixtures byte for
//! byte, and receipts signed here with the same app secret) and answers through the Graph API
//! Send endpoint of a wiremock stand-in, only inside the 24-hour window.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer};

use crate::channels_support::{
    Api, PAGE_TOKEN, VERIFY_TOKEN, error_code, fixture, graph, graph_sent, inbound, numbered, outbound, post_messenger,
    replay, settings,
};
use crate::harness::{Daemon, write_definitions};

const PSID: &str = "6543210987654321";
const PAGE: &str = "104857600000001";
const WORKFLOW: &str = "id: chat
channel: messenger
entry: { import: true, inbound: messenger }
steps:
  - { id: greet, send: { template: greet.j2 } }
  - { id: listen, wait_reply: { timeout: 1h, on_timeout: bye } }
  - { id: thanks, send: { template: thanks.j2 } }
  - { id: bye, end: done }
";

async fn start(dir: &std::path::Path, graph_base: &str) -> (Daemon, Api) {
    write_definitions(
        dir,
        &[("chat", WORKFLOW)],
        &[("greet.j2", "Bonjour ! Merci pour votre message."), ("thanks.j2", "Bien noté : {{ last_reply }}")],
    );
    let mut settings = settings(dir);
    settings.channels.messenger = Some(graph(graph_base));
    let daemon = Daemon::start_with(settings).await;
    let api = Api::new(&daemon.base);
    (daemon, api)
}

async fn graph_standin() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/me/messages"))
        .and(query_param("access_token", PAGE_TOKEN))
        .respond_with(numbered(graph_sent))
        .mount(&server)
        .await;
    server
}

fn event(kind: &str, body: Value, timestamp: i64, from_page: bool) -> Value {
    let (sender, recipient) = if from_page { (PAGE, PSID) } else { (PSID, PAGE) };
    let mut messaging = json!({ "sender": { "id": sender }, "recipient": { "id": recipient }, "timestamp": timestamp });
    messaging[kind] = body;
    json!({ "object": "page", "entry": [{ "id": PAGE, "time": timestamp, "messaging": [messaging] }] })
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_the_verify_token() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, api) = start(dir.path(), "http://127.0.0.1:9").await;
    let query = String::from_utf8(fixture("messenger-verify.query")).unwrap();
    let response = api.client.get(format!("{}/webhooks/messenger?{}", api.base, query.trim())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "1158201444");
    let wrong = query.replace(VERIFY_TOKEN, "guess");
    let response = api.client.get(format!("{}/webhooks/messenger?{}", api.base, wrong.trim())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&response.json::<Value>().await.unwrap()), "forbidden");
    daemon.stop().await;
}

#[tokio::test]
async fn a_messenger_conversation_answers_in_the_window_with_delivery_and_read_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let server = graph_standin().await;
    let (daemon, api) = start(dir.path(), &server.uri()).await;

    // Meta delivers the person's message twice (a retry): one prospect, one inbound message.
    for _ in 0..2 {
        let response = replay(&api.client, &api.base, "/webhooks/messenger", "messenger-message", "json").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let prospects = api.prospects().await;
    assert_eq!(prospects.len(), 1, "{prospects:?}");
    let id = prospects[0]["id"].as_str().unwrap().to_string();
    let messages = api
        .wait_messages(&id, "greeting and answer sent", |m| {
            outbound(m).len() == 2 && outbound(m).iter().all(|o| o["status"] == "sent")
        })
        .await;
    assert_eq!(inbound(&messages).len(), 1);
    assert!(inbound(&messages)[0]["text"].as_str().unwrap().contains("équipe de 12 personnes"));

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let sent: Value = requests[0].body_json().unwrap();
    assert_eq!(
        sent,
        json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Bonjour ! Merci pour votre message."}})
    );
    assert!(
        requests[1].body_json::<Value>().unwrap()["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Bien noté : Salut !")
    );

    // The page's own echo (the fixture) is not a message from the person.
    let echo = replay(&api.client, &api.base, "/webhooks/messenger", "messenger-echo", "json").await;
    assert_eq!(echo.status(), StatusCode::OK);
    assert_eq!(api.prospects().await.len(), 1);

    // Delivery of the first message, then echoes of both and a read receipt past them.
    let now = chrono::Utc::now().timestamp_millis();
    let delivery = event("delivery", json!({"mids": ["m_out_1"], "watermark": now}), now, false);
    assert_eq!(post_messenger(&api.client, &api.base, &delivery).await.status(), StatusCode::OK);
    let messages = api.messages(&id).await;
    assert_eq!(outbound(&messages)[0]["status"], "delivered", "{messages:#?}");
    assert_eq!(outbound(&messages)[1]["status"], "sent");
    for (n, text) in [(1, "Bonjour"), (2, "Bien noté")] {
        let echo = event("message", json!({"is_echo": true, "mid": format!("m_out_{n}"), "text": text}), now + n, true);
        assert_eq!(post_messenger(&api.client, &api.base, &echo).await.status(), StatusCode::OK);
    }
    let read = event("read", json!({"watermark": now + 10}), now + 20, false);
    assert_eq!(post_messenger(&api.client, &api.base, &read).await.status(), StatusCode::OK);
    let messages = api.messages(&id).await;
    assert!(outbound(&messages).iter().all(|m| m["status"] == "read"), "{messages:#?}");
    assert_eq!(inbound(&messages).len(), 1, "echoes are not inbound messages");
    daemon.stop().await;
}

#[tokio::test]
async fn outside_the_24_hour_window_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = graph_standin().await;
    let (daemon, api) = start(dir.path(), &server.uri()).await;
    let id = api.import(json!({"workflow": "chat", "messenger_psid": PSID})).await;
    let messages = api.wait_messages(&id, "greeting refused", |m| m.len() == 1 && m[0]["status"] == "failed").await;
    assert_eq!(messages[0]["error"], "outside Messenger's 24-hour window: Messenger is not a cold-outreach channel");
    assert!(server.received_requests().await.unwrap().is_empty(), "the Graph API was not called");
    daemon.stop().await;
}

#[tokio::test]
async fn a_bad_messenger_signature_is_refused_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = graph_standin().await;
    let (daemon, api) = start(dir.path(), &server.uri()).await;
    let body = String::from_utf8(fixture("messenger-message.json")).unwrap().replace("12 personnes", "99 personnes");
    let mut request = api.client.post(format!("{}/webhooks/messenger", api.base)).body(body);
    for (name, value) in crate::channels_support::fixture_headers("messenger-message") {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&response.json::<Value>().await.unwrap()), "invalid_signature");
    let unsigned = api
        .client
        .post(format!("{}/webhooks/messenger", api.base))
        .header("content-type", "application/json")
        .body(fixture("messenger-message.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    assert!(api.prospects().await.is_empty(), "nothing recorded");
    assert!(server.received_requests().await.unwrap().is_empty());
    daemon.stop().await;
}

#[tokio::test]
async fn a_read_watermark_marks_messages_read_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = graph_standin().await;
    let (daemon, api) = start(dir.path(), &server.uri()).await;
    let response = replay(&api.client, &api.base, "/webhooks/messenger", "messenger-message", "json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = api.prospects().await[0]["id"].as_str().unwrap().to_string();
    api.wait_messages(&id, "answers sent", |m| {
        outbound(m).len() == 2 && outbound(m).iter().all(|o| o["status"] == "sent")
    })
    .await;
    // A restart forgets the echo index: the receipt must still land, from the store alone.
    daemon.stop().await;
    let (daemon, api) = start(dir.path(), &server.uri()).await;
    let now = chrono::Utc::now().timestamp_millis();
    let read = event("read", json!({"watermark": now}), now, false);
    assert_eq!(post_messenger(&api.client, &api.base, &read).await.status(), StatusCode::OK);
    let messages = api.messages(&id).await;
    assert!(outbound(&messages).iter().all(|m| m["status"] == "read"), "{messages:#?}");
    daemon.stop().await;
}
