//! Long torture run, outside the default `cargo test` (it only runs when `QUALIFYD_TORTURE_SECS`
//! is set): the real daemon binary SIGKILLed every 2-5 s while 64 clients send replies, reply
//! timers fire (2 s) and every reply and every timeout hands off by webhook to a loopback
//! receiver that counts `Idempotency-Key`s. After each kill the store must open again (the
//! daemon turns healthy); at the end every acknowledged reply is in its conversation exactly
//! once and answered once, every hand-off was delivered at least once, never under two keys,
//! and every repeat of a key carries the same effect. Prints the kills survived.
//!
//! `QUALIFYD_TORTURE_SECS=180 cargo test --test torture` (`.ci/run` does this).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "it/daemon_proc.rs"]
mod daemon_proc;
use daemon_proc::{Proc, config, free_port, wait_healthy};

const TOKEN: &str = "torture-admin-token";
const CLIENTS: usize = 64;

fn main() {
    let Some(secs) = std::env::var("QUALIFYD_TORTURE_SECS").ok().and_then(|s| s.parse::<u64>().ok()) else {
        eprintln!("SKIP torture: set QUALIFYD_TORTURE_SECS (e.g. 180) to run it");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(torture(Duration::from_secs(secs)));
}

fn workflow(hook: &str) -> String {
    format!(
        "id: echo\nchannel: sms\nsteps:\n  - {{ id: greet, send: {{ template: greet.j2 }} }}\n  - {{ id: listen, wait_reply: {{ timeout: 2s, on_timeout: nudge }} }}\n  - {{ id: ack, send: {{ template: ack.j2 }} }}\n  - {{ id: hook, webhook: {{ url: \"{hook}\" }}, next: listen }}\n  - {{ id: nudge, send: {{ template: nudge.j2 }} }}\n  - {{ id: ping, webhook: {{ url: \"{hook}\" }} }}\n  - {{ id: listen_again, wait_reply: {{ timeout: 1h, on_timeout: bye }}, next: ack }}\n  - {{ id: bye, end: done }}\n"
    )
}

async fn get(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = client.get(format!("{base}{path}")).bearer_auth(TOKEN).send().await.unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.json().await.unwrap()
}

async fn send_reply(client: &reqwest::Client, base: &str, phone: &str, text: &str) -> bool {
    let body = json!({ "channel": "sms", "from": phone, "text": text, "id": text });
    let sent = client
        .post(format!("{base}/webhooks/inbound"))
        .bearer_auth(TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    matches!(sent, Ok(r) if r.status().is_success())
}

/// One client: its own prospect, replies in order, each retried until acknowledged (as a
/// provider retries a webhook).
async fn client_loop(
    client: reqwest::Client,
    base: String,
    phone: String,
    index: usize,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<BTreeMap<String, String>>>,
) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let text = format!("c{index}-{n}");
        while !send_reply(&client, &base, &phone, &text).await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        acknowledged.lock().unwrap().insert(text, phone.clone());
        n += 1;
        // Some clients pause long enough for their reply timer to fire.
        let pause = if rand::rng().random_range(0..10) == 0 { 2500 } else { 50 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

async fn torture(duration: Duration) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let hooks = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)).mount(&hooks).await;
    for sub in ["workflows", "prompts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("workflows/echo.yaml"), workflow(&format!("{}/hook", hooks.uri()))).unwrap();
    for (name, text) in [("greet.j2", "hello"), ("ack.j2", "ack {{ last_reply }}"), ("nudge.j2", "nudge")] {
        std::fs::write(dir.join("prompts").join(name), text).unwrap();
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(dir.join("config.yaml"), config(port, "./data", TOKEN)).unwrap();
    let client = reqwest::Client::new();
    let mut daemon = Proc::spawn(dir);
    wait_healthy(&client, &base, dir).await;
    let phones: Vec<String> = (0..CLIENTS).map(|i| format!("+336{:08}", 40_000_000 + i)).collect();
    let items: Vec<Value> = phones.iter().map(|p| json!({"workflow": "echo", "phone": p})).collect();
    let imported: Value = client
        .post(format!("{base}/v1/prospects"))
        .bearer_auth(TOKEN)
        .json(&items)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> =
        imported["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), CLIENTS, "{imported}");
    let by_phone: HashMap<String, String> = phones.iter().cloned().zip(ids.iter().cloned()).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(BTreeMap::new()));
    let clients: Vec<_> = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            tokio::spawn(client_loop(
                client.clone(),
                base.clone(),
                phone.clone(),
                i,
                stop.clone(),
                acknowledged.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(2000..5000))).await;
        daemon.kill();
        kills += 1;
        daemon = Proc::spawn(dir);
        wait_healthy(&client, &base, dir).await; // the store opens after every kill
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());

    // Quiescence: every prospect waiting for its next reply, nothing queued, the outbox empty.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut conversations: HashMap<String, Vec<Value>> = HashMap::new();
    loop {
        let status = get(&client, &base, "/v1/status").await;
        if status["outbox"]["depth"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox never emptied: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in &ids {
        loop {
            let view = get(&client, &base, &format!("/v1/prospects/{id}")).await;
            let messages = get(&client, &base, &format!("/v1/prospects/{id}/messages")).await["messages"]
                .as_array()
                .unwrap()
                .clone();
            if view["step"] == "listen_again" && messages.iter().all(|m| m["status"] != "queued") {
                conversations.insert(id.clone(), messages);
                break;
            }
            assert!(Instant::now() < deadline, "prospect {id} never settled: {view}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (text, phone) in &acknowledged {
        let messages = &conversations[&by_phone[phone]];
        let inbound = messages.iter().filter(|m| m["direction"] == "inbound" && m["text"] == text.as_str()).count();
        assert_eq!(inbound, 1, "acknowledged reply {text} recorded {inbound} times");
        let ack = format!("ack {text}");
        let acks = messages.iter().filter(|m| m["direction"] == "outbound" && m["text"] == ack.as_str()).count();
        assert_eq!(acks, 1, "reply {text} answered {acks} times");
    }
    let mut handoffs_expected = 0;
    for messages in conversations.values() {
        assert!(messages.iter().filter(|m| m["direction"] == "outbound").all(|m| m["status"] == "sent"));
        handoffs_expected += messages
            .iter()
            .filter(|m| m["direction"] == "outbound" && m["text"] != "hello") // an ack or a nudge: each hands off once
            .count();
    }
    // Hand-offs: one key per ack or nudge, delivered at least once; a repeat (a kill between the
    // POST and its record) carries the same key and the same body.
    let mut bodies: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for request in hooks.received_requests().await.unwrap_or_default() {
        let key = request.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(!key.is_empty(), "a hand-off without an Idempotency-Key");
        bodies.entry(key).or_default().push(request.body.clone());
    }
    let redelivered = bodies.values().filter(|b| b.len() > 1).count();
    for (key, copies) in &bodies {
        let prospect =
            |b: &Vec<u8>| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null)["prospect"]["id"].clone();
        let first = prospect(&copies[0]);
        assert!(first.is_string() && key.starts_with(first.as_str().unwrap_or("?")), "key {key}: body of {first}");
        assert!(copies.iter().all(|c| prospect(c) == first), "key {key} reused for another prospect");
    }
    assert_eq!(bodies.len(), handoffs_expected, "hand-offs delivered vs. acks and nudges in the conversations");
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    println!(
        "torture: {kills} SIGKILLs survived in {} s; {} replies acknowledged from {CLIENTS} clients, {} hand-offs, {redelivered} redelivered under their own key",
        started.elapsed().as_secs(),
        acknowledged.len(),
        bodies.len()
    );
}
