//! Key handling (issue #13, point 8): a missing data key damages only its prospect (listed,
//! reported by a metric, erasable, never failing the listing or the sweep for everyone), and a
//! master-key rotation keeps every prospect readable and every contact hash (index, suppression)
//! matching, while the old key is refused afterwards.

use std::time::{Duration, Instant};

use qualifyd::settings::{MasterKeySource, Secret, Settings};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::privacy_support::{Node, one_flow};

/// Removes `id`'s wrapped key from its bucket file, as a lost or partially restored file would.
fn lose_key(data: &std::path::Path, id: &str) {
    let bucket = data.join("keys").join(format!("{:02x}.keys", Sha256::digest(id.as_bytes())[0]));
    let text = std::fs::read_to_string(&bucket).unwrap();
    let kept: String = text.lines().filter(|l| !l.starts_with(&format!("{id} "))).map(|l| format!("{l}\n")).collect();
    assert_ne!(kept.len(), text.len(), "the key of {id} was in {}", bucket.display());
    std::fs::write(&bucket, kept).unwrap();
}

#[tokio::test]
async fn a_missing_data_key_damages_only_its_prospect_which_stays_erasable() {
    let dir = tempfile::tempdir().unwrap();
    let settings = one_flow(dir.path());
    let node = Node::start(settings.clone()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(node.import(json!({"workflow": "flow", "phone": format!("+3361100000{i}")})).await);
    }
    node.stop().await;
    lose_key(&settings.data_dir, &ids[1]);

    let node = Node::start(settings).await;
    let (status, page) = node.get("/v1/prospects").await;
    assert_eq!(status, StatusCode::OK, "the listing serves everyone else: {page}");
    let mut listed: Vec<&str> = page["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    let mut others = vec![ids[0].as_str(), ids[2].as_str()];
    listed.sort();
    others.sort();
    assert_eq!(listed, others);
    assert_eq!(page["damaged"], json!([ids[1]]));
    let (status, error) = node.get(&format!("/v1/prospects/{}", ids[1])).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error["error"]["code"], "damaged_prospect", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("restore the keys directory") && message.contains("prospect_id"), "{message}");
    node.prospect(&ids[0]).await;

    let metrics = node.client.get(format!("{}/metrics", node.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "qualifyd_damaged_prospects 1"), "the gauge counts it: {metrics}");
    let report = node.engine().sweep_retention(chrono::Utc::now()).await.expect("the sweep runs for the others");
    assert_eq!(report.prospects_erased, 0);

    let (status, receipt) = node.post("/v1/privacy/erase", &json!({"prospect_id": ids[1]})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["erased"], json!([ids[1]]));
    let (_, page) = node.get("/v1/prospects").await;
    assert!(page.get("damaged").is_none(), "{page}");
    let (status, _) = node.get(&format!("/v1/prospects/{}", ids[1])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.stop().await;
}

fn with_key(mut settings: Settings, key: &qualifyd::privacy::SecretKey) -> Settings {
    settings.privacy.master_key = MasterKeySource::Value(Secret::new(key.to_base64()));
    settings
}

#[tokio::test]
async fn a_rotated_master_key_keeps_every_prospect_and_suppression_and_refuses_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (qualifyd::privacy::SecretKey::generate(), qualifyd::privacy::SecretKey::generate());
    let base = one_flow(dir.path());
    let node = Node::start(with_key(base.clone(), &old)).await;
    let kept = node.import(json!({"workflow": "flow", "name": "Marie Dupont", "phone": "+33611000001"})).await;
    let (status, answer) = node.post("/v1/privacy/object", &json!({"phone": "+33611000002"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    node.stop().await;

    let started = Instant::now();
    let rotated = loop {
        match qualifyd::app::rotate_master_key(&with_key(base.clone(), &old), &new) {
            Err(e) if e.to_string().contains("stop it first") && started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => break other.unwrap(),
        }
    };
    assert!(matches!(rotated, qualifyd::privacy::rotation::Rotated::Done { keys, .. } if keys >= 1), "{rotated:?}");

    let refused = qualifyd::app::start(with_key(base.clone(), &old)).await.err().expect("the old key is refused");
    assert!(refused.to_string().contains("does not open the data keys"), "{refused}");

    let node = Node::start(with_key(base, &new)).await;
    node.prospect(&kept).await;
    let (status, export) = node.post("/v1/privacy/export", &json!({"phone": "+33611000001"})).await;
    assert_eq!(status, StatusCode::OK, "the contact index still matches: {export}");
    assert!(export.to_string().contains("Marie Dupont"), "the sealed state opens: {export}");
    let (status, answer) = node.post("/v1/prospects", &json!({"workflow": "flow", "phone": "+33611000002"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the suppression list still matches: {answer}");
    assert!(answer.to_string().contains("opted out"), "{answer}");
    node.stop().await;
}
