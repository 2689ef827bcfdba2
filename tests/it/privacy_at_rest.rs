//! Encryption at rest and crypto-shredding, on the real daemon: a person's phone (E.164 and
//! national forms), email, name and message text never appear in plaintext in any file under
//! `data_dir`, before or after erasure; erasure destroys the data key in the key files; the
//! daemon refuses to start without a master key, and the development default creates one.

use std::os::unix::fs::PermissionsExt;

use qualifyd::privacy::SecretKey;
use qualifyd::settings::{MasterKeySource, Secret};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{settings_for, write_definitions};
use crate::privacy_support::{Node, files_under, plaintext_in};

const WORKFLOW: &str = "id: keep
channel: sms
fields:
  project: { type: string, description: What they want to build }
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: thanks, send: { template: thanks.j2 } }
  - { id: later, wait_reply: { timeout: 30d, on_timeout: bye }, next: thanks }
  - { id: bye, end: done }
";

const PHONE_AS_GIVEN: &str = "+33 6 99 88 77 66";
const PHONE_E164: &str = "+33699887766";
const PHONE_NATIONAL: &str = "0699887766";
const PHONE_DIGITS: &str = "699887766";
const EMAIL: &str = "zelda.quokkafield@example.org";
const NAME: &str = "Zelda Quokkafield";
const TEXT: &str = "Our secret greenhouse is on Marmalade Lane";
const PROJECT: &str = "Quokka observatory";

fn needles() -> Vec<&'static str> {
    vec![
        PHONE_E164,
        PHONE_NATIONAL,
        PHONE_DIGITS,
        "06 99 88 77 66",
        EMAIL,
        "quokkafield",
        NAME,
        "Zelda",
        TEXT,
        "Marmalade",
        PROJECT,
    ]
}

fn definitions(dir: &std::path::Path) {
    write_definitions(
        dir,
        &[("keep", WORKFLOW)],
        &[("hello.j2", "Hello {{ prospect.first_name }}!"), ("thanks.j2", "Noted: {{ last_reply }}")],
    );
}

#[tokio::test]
async fn personal_data_is_never_on_disk_in_plaintext_and_erasure_shreds_the_key() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let settings = settings_for(dir.path());
    let data = settings.data_dir.clone();
    let node = Node::start(settings.clone()).await;
    let id = node
        .import(json!({"workflow": "keep", "name": NAME, "phone": PHONE_AS_GIVEN, "email": EMAIL,
                       "source": "website", "fields": {"project": PROJECT}}))
        .await;
    node.wait_messages(&id, "greeting sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;
    node.inbound("sms", PHONE_E164, TEXT, "SM-at-rest-1").await;
    let messages = node.wait_messages(&id, "reply echoed", |m| m.len() == 3 && m[2]["status"] == "sent").await;
    assert_eq!(messages[0]["text"], "Hello Zelda!", "the API still reads it back");
    assert_eq!(messages[2]["text"], format!("Noted: {TEXT}"));
    // An unmatched message from the same person by email, and one from a stranger.
    node.inbound("email", "stranger@example.net", "hello from a stranger", "mid-1").await;

    let found = plaintext_in(&data, &needles());
    assert!(found.is_empty(), "plaintext personal data on disk while running: {found:#?}");
    assert!(files_under(&data.join("keys")).iter().any(|f| f.extension().is_some_and(|e| e == "keys")));
    let key_line = |id: &str| {
        files_under(&data.join("keys"))
            .iter()
            .any(|f| std::fs::read_to_string(f).unwrap_or_default().lines().any(|l| l.starts_with(&format!("{id} "))))
    };
    assert!(key_line(&id), "the prospect has a data key");

    let (status, receipt) = node.post("/v1/privacy/erase", &json!({"email": EMAIL})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["erased"], json!([id]));
    assert_eq!(receipt["counts"]["messages"], 3);
    assert_eq!(receipt["suppression_kept"], false);
    assert!(!key_line(&id), "the data key is gone from every key file");
    node.stop().await;

    let found = plaintext_in(&data, &needles());
    assert!(found.is_empty(), "plaintext personal data on disk after erasure: {found:#?}");
    let leftovers: Vec<_> =
        files_under(&data).into_iter().filter(|f| f.extension().is_some_and(|e| e == "tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A restart reads the rest of the store and knows nothing of the person.
    let node = Node::start(settings).await;
    let (status, _) = node.get(&format!("/v1/prospects/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = node.post("/v1/privacy/export", &json!({"phone": PHONE_NATIONAL})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, page) = node.get("/v1/prospects").await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{page}");
    node.stop().await;
}

#[tokio::test]
async fn the_daemon_refuses_to_start_without_a_master_key_or_with_the_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = settings_for(dir.path());
    settings.privacy.master_key = MasterKeySource::Missing;
    let error = qualifyd::app::start(settings.clone()).await.err().expect("refused").to_string();
    assert!(error.contains("QUALIFYD_MASTER_KEY") && error.contains("master_key_file"), "{error}");
    assert!(!settings.data_dir.join("store").exists(), "nothing was written");

    let key = SecretKey::generate();
    settings.privacy.master_key = MasterKeySource::Value(Secret::new(key.to_base64()));
    let node = Node::start(settings.clone()).await;
    node.import(json!({"workflow": "keep", "phone": "+33699887700"})).await;
    node.stop().await;
    assert!(!settings.data_dir.join(qualifyd::privacy::DEVELOPMENT_KEY_FILE).exists(), "no key file beside the data");

    settings.privacy.master_key = MasterKeySource::Value(Secret::new(SecretKey::generate().to_base64()));
    let error = qualifyd::app::start(settings.clone()).await.err().expect("refused").to_string();
    assert!(error.contains("not the key this data directory was created with"), "{error}");

    let file = dir.path().join("master.key");
    std::fs::write(&file, format!("{}\n", key.to_base64())).unwrap();
    settings.privacy.master_key = MasterKeySource::File(file);
    let node = Node::start(settings).await;
    let (status, page) = node.get("/v1/prospects").await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{page}");
    node.stop().await;
}

#[tokio::test]
async fn the_development_default_creates_a_private_key_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let settings = settings_for(dir.path());
    assert!(matches!(settings.privacy.master_key, MasterKeySource::Development));
    let node = Node::start(settings.clone()).await;
    node.stop().await;
    let file = settings.data_dir.join(qualifyd::privacy::DEVELOPMENT_KEY_FILE);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = SecretKey::from_base64(&std::fs::read_to_string(&file).unwrap()).expect("32 bytes of base64");
    // The same key is used again at the next start.
    Node::start(settings.clone()).await.stop().await;
    assert_eq!(SecretKey::from_base64(&std::fs::read_to_string(&file).unwrap()).unwrap(), key);
}
