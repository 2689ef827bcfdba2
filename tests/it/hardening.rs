//! Fault and abuse regressions on the real daemon (issue 14): a malformed Messenger event does
//! not sink its batch, inbound text and ids are capped, slow and numerous clients are cut off,
//! and `/metrics` can be guarded by a token or moved to its own address.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::channels_support::{graph, post_messenger, settings};
use crate::harness::{Daemon, write_definitions};

/// How long a test waits for the daemon to cut a connection that its deadlines should cut.
const LIVENESS: Duration = Duration::from_secs(15);

const CHAT: &str = "id: chat
channel: messenger
entry: { inbound: messenger }
steps:
  - { id: listen, wait_reply: { timeout: 1h, on_timeout: bye } }
  - { id: bye, end: done }
";

const SMS: &str = "id: sms-flow
channel: sms
entry: { inbound: sms }
steps:
  - { id: listen, wait_reply: { timeout: 1h, on_timeout: bye } }
  - { id: bye, end: done }
";

fn definitions(dir: &std::path::Path) {
    write_definitions(dir, &[("chat", CHAT), ("sms-flow", SMS)], &[]);
}

fn messaging(sender: Value, mid: Option<&str>, text: &str) -> Value {
    let mut message = json!({ "text": text });
    if let Some(mid) = mid {
        message["mid"] = json!(mid);
    }
    json!({ "sender": sender, "recipient": { "id": "104857600000001" }, "timestamp": 1, "message": message })
}

#[tokio::test]
async fn a_malformed_messenger_event_does_not_lose_the_valid_ones_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = settings(dir.path());
    settings.channels.messenger = Some(graph("http://127.0.0.1:9"));
    let daemon = Daemon::start_with(settings).await;
    let batch = json!({ "object": "page", "entry": [{ "id": "104857600000001", "time": 1, "messaging": [
        messaging(json!({ "id": "1111" }), Some("m.valid-1"), "bonjour"),
        messaging(json!({ "id": "2222" }), None, "no mid"),
        messaging(json!({ "id": "" }), Some("m.empty-sender"), "empty sender"),
        messaging(json!("3333"), Some("m.bad-sender"), "sender is not an object"),
        messaging(json!({ "id": "4444" }), Some("m.valid-2"), "salut"),
    ]}]});
    let response = post_messenger(&daemon.client, &daemon.base, &batch).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let (status, page) = daemon.get("/v1/prospects").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "the two valid messages started a prospect each: {page}");
    // Meta redelivers the same batch: nothing is applied twice.
    let response = post_messenger(&daemon.client, &daemon.base, &batch).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(daemon.get("/v1/prospects").await.1["items"].as_array().unwrap().len(), 2);
    daemon.stop().await;
}

#[tokio::test]
async fn inbound_text_is_capped_and_long_ids_refused() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let long = "Budget 1500 euros. ".repeat(5_000);
    let answer = daemon.inbound("sms", "+33611113333", &long, "SM-long-1").await;
    let id = answer["prospect"].as_str().unwrap().to_string();
    let messages = daemon.messages(&id).await;
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.len() < 8 * 1024 + 64, "stored {} bytes", text.len());
    assert!(text.starts_with("Budget 1500 euros.") && text.contains("[truncated:"), "{}", &text[text.len() - 40..]);

    let body = json!({"channel": "sms", "from": "+33611113334", "text": "hi", "id": "x".repeat(300)});
    let (status, answer) = daemon.post("/webhooks/inbound", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("max_id_bytes"), "{answer}");
    daemon.stop().await;
}

/// Reads until the daemon closes the connection; what it said before closing.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(LIVENESS, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the daemon kept a slow client's connection open: {}", String::from_utf8_lossy(&answer));
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = crate::harness::settings_for(dir.path());
    settings.http.header_timeout = Duration::from_millis(300);
    settings.http.body_timeout = Duration::from_millis(300);
    let daemon = Daemon::start_with(settings).await;
    let addr = daemon.base.trim_start_matches("http://").to_string();

    // Headers that never end.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    read_until_closed(&mut stream).await;

    // A body shorter than announced, then silence.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = "POST /webhooks/inbound HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Authorization: Bearer test-admin-token\r\nContent-Length: 100\r\n\r\n{\"channel\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "{answer}");
    daemon.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = crate::harness::settings_for(dir.path());
    settings.http.max_connections = 2;
    settings.http.header_timeout = Duration::from_secs(60);
    let daemon = Daemon::start_with(settings).await;
    let addr = daemon.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut buffer = [0u8; 512];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"), "served, kept alive");
        held.push(stream);
    }
    // A third client is not served while both slots are taken (it waits in the backlog)...
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut third =
        tokio::spawn(async move { client.get(format!("http://{addr}/healthz")).send().await.map(|r| r.status()) });
    // Served at once without the cap; with it, no answer can come while both slots are held.
    let early = tokio::time::timeout(Duration::from_millis(500), &mut third).await;
    assert!(early.is_err(), "a third connection was served beyond `http.max_connections`: {early:?}");
    // ...and is once one is released.
    drop(held.pop());
    let status = tokio::time::timeout(LIVENESS, third).await.expect("served once a slot is free").unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    daemon.stop().await;
}

#[tokio::test]
async fn metrics_need_their_token_or_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = crate::harness::settings_for(dir.path());
    settings.http.metrics_token = Some(qualifyd::settings::Secret::new("scrape-token"));
    let daemon = Daemon::start_with(settings.clone()).await;
    let url = format!("{}/metrics", daemon.base);
    let anonymous = daemon.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let admin = daemon.client.get(&url).bearer_auth(crate::harness::ADMIN).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::UNAUTHORIZED, "only the metrics token");
    let scrape = daemon.client.get(&url).bearer_auth("scrape-token").send().await.unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    daemon.stop().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    settings.http.metrics_token = None;
    settings.http.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    let daemon = Daemon::start_with(settings).await;
    let main = daemon.client.get(format!("{}/metrics", daemon.base)).send().await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND, "not on the public listener");
    let own = daemon.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let admin_there = daemon.client.get(format!("http://127.0.0.1:{port}/v1/prospects")).send().await.unwrap();
    assert_eq!(admin_there.status(), StatusCode::NOT_FOUND, "only probes on the metrics address");
    daemon.stop().await;
}
