//! Erasure and rectification that survive what happens to the process and the disk (issue #13,
//! points 6 and 7): an erasure cut short right after its request was logged `received` is
//! finished at the next start and its record completed; a rectification leaves nothing of the
//! old value on disk once the store is compacted.

use std::time::{Duration, Instant};

use qualifyd::settings::Settings;
use qualifyd::store::{Batch, Op, PrivacyRequest, RequestKind, RequestStatus, SledStore, Store};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::ADMIN;
use crate::privacy_support::{Node, files_under, one_flow};

/// The stopped daemon's store, opened offline once its last tasks let go of it.
async fn offline(settings: &Settings) -> SledStore {
    let started = Instant::now();
    loop {
        match qualifyd::app::open_store(settings) {
            Ok(store) => return store,
            Err(e) if e.to_string().contains("lock") && started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn holding(dir: &std::path::Path, needle: &[u8]) -> usize {
    files_under(dir)
        .iter()
        .filter(|f| std::fs::read(f).unwrap_or_default().windows(needle.len()).any(|w| w == needle))
        .count()
}

#[tokio::test]
async fn an_erasure_cut_short_after_its_record_is_finished_and_completed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let settings = one_flow(dir.path());
    let node = Node::start(settings.clone()).await;
    let id = node.import(json!({"workflow": "flow", "name": "Ada Crash", "phone": "+33612340001"})).await;
    node.stop().await;

    // The first batch of an erasure, then a crash: the request is logged `received`, nothing
    // else is done yet.
    let store = offline(&settings).await;
    let seq = store.next_id().unwrap();
    let now = chrono::Utc::now();
    let request = PrivacyRequest {
        seq,
        id: format!("r_{seq}"),
        kind: RequestKind::Erase,
        status: RequestStatus::Received,
        received_at: now,
        deadline: now + chrono::Duration::days(30),
        completed_at: None,
        actor: "admin".into(),
        identified_by: vec!["phone".into()],
        prospects: vec![id.clone()],
        detail: None,
    };
    let mut batch = Batch::new();
    batch.push(Op::PutRequest(Box::new(request)));
    store.apply(batch).unwrap();
    store.flush().unwrap();
    drop(store);

    let node = Node::start(settings.clone()).await;
    let (status, _) = node.get(&format!("/v1/prospects/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the erasure was finished at start");
    let (_, log) = node.get("/v1/privacy/requests").await;
    let record = log["requests"].as_array().unwrap().iter().find(|r| r["id"] == format!("r_{seq}")).cloned();
    let record = record.unwrap_or_else(|| panic!("the request record is kept: {log}"));
    assert_eq!(record["status"], "completed", "{record}");
    assert!(record["detail"].as_str().unwrap().contains("finished after a restart"), "{record}");
    assert!(record["completed_at"].is_string(), "{record}");
    node.stop().await;
    let keys = settings.data_dir.join("keys");
    assert_eq!(holding(&keys, format!("{id} ").as_bytes()), 0, "the data key is destroyed");
}

#[tokio::test]
async fn after_compaction_nothing_of_a_rectified_value_survives_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let settings = one_flow(dir.path());
    let (old, new) = ("ada.old@rectify.example.org", "ada.new@rectify.example.org");
    let node = Node::start(settings.clone()).await;
    let id = node.import(json!({"workflow": "flow", "name": "Ada", "phone": "+33612340002", "email": old})).await;
    node.wait_for(&id, "waiting", |v| v["step"] == "wait").await;
    node.stop().await;

    // The sealed state as it is before the rectification (ciphertext under a live key).
    let store = offline(&settings).await;
    let before: Vec<u8> = store
        .raw_tree()
        .iter()
        .filter_map(Result::ok)
        .find(|(key, value)| key.starts_with(b"p/") && qualifyd::privacy::Vault::subject(value) == Some(id.as_str()))
        .map(|(_, value)| value.to_vec())
        .expect("the prospect's record");
    drop(store);

    let node = Node::start(settings.clone()).await;
    let path = format!("/v1/prospects/{id}");
    let (status, answer) = node.call(Method::PATCH, ADMIN, &path, Some(&json!({"email": new}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    node.stop().await;

    let master = qualifyd::privacy::master::load(&settings.privacy.master_key, &settings.data_dir).unwrap();
    let vault = qualifyd::privacy::Vault::open(&settings.data_dir.join("keys"), &master, None).unwrap();
    let old_hash = vault.blind("email", old);
    drop(vault);
    let store_dir = settings.data_dir.join("store");
    let sealed = &before[before.len() - 48..];
    assert!(holding(&store_dir, sealed) > 0, "before compaction, sled's old segments still hold the old state");
    let started = Instant::now();
    loop {
        match qualifyd::app::compact(&settings) {
            Ok(_) => break,
            Err(e) if e.to_string().contains("stop the daemon first") && started.elapsed().as_secs() < 10 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(holding(&store_dir, old_hash.as_bytes()), 0, "the old email's index entry survives");
    assert_eq!(holding(&store_dir, sealed), 0, "the state sealed before the rectification survives");

    let node = Node::start(settings).await;
    let (status, export) = node.post("/v1/privacy/export", &json!({"email": new})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let (status, _) = node.post("/v1/privacy/export", &json!({"email": old})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.stop().await;
}
