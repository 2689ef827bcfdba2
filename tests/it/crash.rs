//! Crash test: hundreds of prospects mid-conversation, the daemon process killed with SIGKILL at
//! random moments and restarted. Afterwards every acknowledged inbound message is in its
//! conversation exactly once, each produced exactly one acknowledgement message (state agrees
//! with history), every outbound message was sent, and no timer was lost.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use crate::daemon_proc::{Proc, config, free_port, wait_healthy};

const TOKEN: &str = "crash-admin-token";
const PROSPECTS: usize = 200;
const ROUNDS: usize = 4;
const REPLIES_PER_ROUND: usize = 300;

const WORKFLOW: &str = "id: echo
channel: sms
steps:
  - { id: greet, send: { template: greet.j2 } }
  - { id: listen, wait_reply: { timeout: 3s, on_timeout: nudge } }
  - { id: ack, send: { template: ack.j2 }, next: listen }
  - { id: nudge, send: { template: nudge.j2 } }
  - { id: listen_again, wait_reply: { timeout: 1h, on_timeout: gave_up }, next: ack }
  - { id: gave_up, end: unresponsive }
";

async fn send_reply(client: &reqwest::Client, base: &str, phone: &str, text: &str) -> bool {
    let body = json!({ "channel": "sms", "from": phone, "text": text, "id": text });
    match client
        .post(format!("{base}/webhooks/inbound"))
        .bearer_auth(TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    }
}

async fn get(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = client.get(format!("{base}{path}")).bearer_auth(TOKEN).send().await.unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    crate::harness::write_definitions(
        dir,
        &[("echo", WORKFLOW)],
        &[("greet.j2", "hello"), ("ack.j2", "ack {{ last_reply }}"), ("nudge.j2", "nudge")],
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(dir.join("config.yaml"), config(port, "./data", TOKEN)).unwrap();
    let client = reqwest::Client::new();
    let mut daemon = Proc::spawn(dir);
    wait_healthy(&client, &base, dir).await;

    let phones: Vec<String> = (0..PROSPECTS).map(|i| format!("+336{:08}", 20_000_000 + i)).collect();
    let items: Vec<Value> = phones.iter().map(|p| json!({"workflow": "echo", "phone": p})).collect();
    let r = client.post(format!("{base}/v1/prospects")).bearer_auth(TOKEN).json(&items).send().await.unwrap();
    let imported: Value = r.json().await.unwrap();
    let ids: Vec<String> =
        imported["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), PROSPECTS);
    let by_phone: HashMap<String, String> = phones.iter().cloned().zip(ids.iter().cloned()).collect();

    let mut acknowledged: BTreeMap<String, String> = BTreeMap::new(); // text -> phone
    let mut unacknowledged: Vec<(String, String)> = Vec::new();
    let mut kills = 0;
    for round in 0..ROUNDS {
        let kill_after = Duration::from_millis(rand::rng().random_range(200..1200));
        let started = Instant::now();
        let mut killed = false;
        let mut pending: Vec<(String, String)> = std::mem::take(&mut unacknowledged);
        pending.extend(
            (0..REPLIES_PER_ROUND).map(|i| (phones[(i * 7 + round) % PROSPECTS].clone(), format!("r-{round}-{i}"))),
        );
        for chunk in pending.chunks(16) {
            if !killed && started.elapsed() >= kill_after {
                daemon.kill();
                kills += 1;
                killed = true;
            }
            let results = futures_join(chunk.iter().map(|(phone, text)| send_reply(&client, &base, phone, text))).await;
            for ((phone, text), ok) in chunk.iter().zip(results) {
                if ok {
                    acknowledged.insert(text.clone(), phone.clone());
                } else {
                    unacknowledged.push((phone.clone(), text.clone()));
                }
            }
        }
        if !killed {
            daemon.kill();
            kills += 1;
        }
        daemon = Proc::spawn(dir);
        wait_healthy(&client, &base, dir).await;
    }
    let retried = unacknowledged.len();
    // Provider retries: everything not acknowledged is sent again until it is.
    for (phone, text) in std::mem::take(&mut unacknowledged) {
        assert!(send_reply(&client, &base, &phone, &text).await, "retry of {text} failed");
        acknowledged.insert(text, phone);
    }
    assert!(kills >= ROUNDS);
    eprintln!(
        "crash test: {kills} SIGKILLs, {} replies acknowledged, {retried} retried after a kill",
        acknowledged.len()
    );

    // Quiescence, then long enough for every 3 s reply timeout to fire.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conversations: HashMap<String, Vec<Value>> = HashMap::new();
    for id in &ids {
        loop {
            let view = get(&client, &base, &format!("/v1/prospects/{id}")).await;
            let messages = get(&client, &base, &format!("/v1/prospects/{id}/messages")).await["messages"]
                .as_array()
                .unwrap()
                .clone();
            let settled = view["step"] == "listen_again" && messages.iter().all(|m| m["status"] != "queued");
            if settled {
                conversations.insert(id.clone(), messages);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prospect {id} never settled (a lost timer or event?): {view}\n{messages:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (text, phone) in &acknowledged {
        let messages = &conversations[&by_phone[phone]];
        let inbound = messages.iter().filter(|m| m["direction"] == "inbound" && m["text"] == text.as_str()).count();
        assert_eq!(inbound, 1, "inbound {text} recorded {inbound} times");
        let ack = format!("ack {text}");
        let acks = messages.iter().filter(|m| m["direction"] == "outbound" && m["text"] == ack.as_str()).count();
        assert_eq!(acks, 1, "reply {text} was acknowledged {acks} times");
    }
    for (id, messages) in &conversations {
        let greets = messages.iter().filter(|m| m["text"] == "hello").count();
        assert_eq!(greets, 1, "prospect {id} greeted {greets} times");
        assert!(
            messages.iter().filter(|m| m["direction"] == "outbound").all(|m| m["status"] == "sent"),
            "{messages:?}"
        );
        let inbound = messages.iter().filter(|m| m["direction"] == "inbound").count();
        let acked_here = acknowledged.values().filter(|p| by_phone[*p] == *id).count();
        assert_eq!(inbound, acked_here, "prospect {id} has unexpected inbound messages");
    }
    daemon.terminate();
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
}

/// Runs the futures concurrently and returns their results in order.
async fn futures_join<F: std::future::Future<Output = bool>>(futures: impl Iterator<Item = F>) -> Vec<bool> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    // Poll all concurrently by joining them one by one after they were all created and started.
    let results = join_all(&mut pinned).await;
    out.extend(results);
    out
}

async fn join_all<F: std::future::Future<Output = bool> + Unpin>(futures: &mut [F]) -> Vec<bool> {
    let mut results = vec![None; futures.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if results[i].is_none() {
                match std::pin::Pin::new(&mut *f).poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    results.into_iter().map(|r| r.unwrap_or(false)).collect()
}
