//! Backup and restore as an operator runs them (the real binary): a backup taken through the
//! running daemon while inbound messages pour in, restored into a new data directory, served
//! by a new daemon and compared with the original; opt-outs recorded after the backup carried
//! over with `qualifyd suppression export|import`; an offline backup of a stopped store.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

use crate::harness::{ADMIN, Daemon, copy_shipped, settings_for};

const PEOPLE: usize = 20;

fn phone(i: usize) -> String {
    format!("+336123456{i:02}")
}

/// A settings file over `dir/data`, the development key, as the daemon of the test uses.
fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("config.yaml"),
        "data_dir: ./data\nchannels: { sms: { driver: outbox }, email: { driver: outbox }, messenger: { driver: outbox } }\n\
         privacy: { development_key: true }\n",
    )
    .unwrap();
}

fn qualifyd(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .current_dir(dir)
        .args(args)
        .env("QUALIFYD_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

async fn run(dir: &Path, args: Vec<String>) -> (bool, String, String) {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || qualifyd(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

fn texts(messages: &[Value]) -> Vec<(String, String)> {
    messages.iter().map(|m| (m["direction"].to_string(), m["text"].as_str().unwrap_or("").to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_inbound_load_restores_to_the_same_prospects() {
    let original = tempfile::tempdir().unwrap();
    copy_shipped(original.path());
    write_config(original.path());
    let daemon = Daemon::start(original.path()).await;
    let mut ids = Vec::new();
    for i in 0..PEOPLE {
        ids.push(daemon.import(json!({"workflow": "inbound-lead", "phone": phone(i), "name": "Zoé Lefèvre"})).await);
    }
    // Inbound load until the backup is done; every acknowledged message is remembered with when.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let load = {
        let (stop, acked) = (stop.clone(), acked.clone());
        let (client, url) = (daemon.client.clone(), format!("{}/webhooks/inbound", daemon.base));
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let text = format!("message {n}");
                let body =
                    json!({"channel": "sms", "from": phone(n % PEOPLE), "text": text, "id": format!("SM-load-{n}")});
                let answer = client.post(&url).bearer_auth(crate::harness::INBOUND).json(&body).send().await.unwrap();
                assert_eq!(answer.status(), 200);
                acked.lock().unwrap().push((text, Instant::now()));
                n += 1;
            }
        })
    };
    while acked.lock().unwrap().len() < 20 {
        assert!(!load.is_finished(), "the inbound load stopped before 20 messages were acknowledged");
        tokio::task::yield_now().await;
    }
    let backup_dir = original.path().join("backup-1");
    let started = Instant::now();
    let args = ["backup", "--config", "config.yaml", "--out", "backup-1", "--server", &daemon.base];
    let (ok, stdout, stderr) = run(original.path(), args.map(String::from).to_vec()).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("(online)"), "a running daemon writes the backup itself: {stdout}");
    let during = acked.lock().unwrap().len();
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    let before: Vec<String> =
        acked.lock().unwrap().iter().filter(|(_, at)| *at < started).map(|(t, _)| t.clone()).collect();
    assert!(during > before.len(), "messages kept arriving during the backup");
    assert!(!backup_dir.join("master.key").exists() && !backup_dir.join("keys/master.key").exists());

    // Someone opts out after the backup: their opt-out must survive the restore.
    daemon.inbound("sms", &phone(0), "STOP", "SM-after-backup").await;
    let args =
        ["suppression", "export", "--config", "config.yaml", "--out", "suppression.json", "--server", &daemon.base];
    let (ok, stdout, stderr) = run(original.path(), args.map(String::from).to_vec()).await;
    assert!(ok && stdout.contains("entries written"), "{stdout}{stderr}");
    let exported = std::fs::read_to_string(original.path().join("suppression.json")).unwrap();
    assert!(!exported.contains("612345600") && exported.contains("\"digest\""), "hashes only: {exported}");

    // Restore into a new directory, with the development master key copied over.
    let restored = tempfile::tempdir().unwrap();
    copy_shipped(restored.path());
    write_config(restored.path());
    std::fs::create_dir_all(restored.path().join("data")).unwrap();
    std::fs::copy(original.path().join("data/master.key"), restored.path().join("data/master.key")).unwrap();
    let backup = backup_dir.display().to_string();
    let args = ["restore", "--config", "config.yaml", &backup, "--data-dir", "data"];
    let (ok, stdout, stderr) = run(restored.path(), args.map(String::from).to_vec()).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("({PEOPLE} prospects)")), "{stdout}");

    let copy = Daemon::start_with(settings_for(restored.path())).await;
    let args = ["suppression", "import", "--config", "config.yaml", "suppression.json", "--server", &copy.base];
    let file = original.path().join("suppression.json");
    std::fs::copy(&file, restored.path().join("suppression.json")).unwrap();
    let (ok, stdout, stderr) = run(restored.path(), args.map(String::from).to_vec()).await;
    assert!(ok && stdout.contains("1 of 1 suppression list entries added"), "{stdout}{stderr}");

    let mut restored_texts = Vec::new();
    for id in &ids {
        let view = copy.prospect(id).await;
        assert_eq!(view["workflow"], "inbound-lead");
        let (_, answer) = copy.get(&format!("/v1/prospects/{id}/messages")).await;
        let there = texts(answer["messages"].as_array().unwrap());
        let (_, answer) = daemon.get(&format!("/v1/prospects/{id}/messages")).await;
        let now = texts(answer["messages"].as_array().unwrap());
        let inbound =
            |m: &Vec<(String, String)>| m.iter().filter(|(d, _)| d == "\"inbound\"").cloned().collect::<Vec<_>>();
        let (there_in, now_in) = (inbound(&there), inbound(&now));
        assert_eq!(there_in[..], now_in[..there_in.len()], "the restored conversation is the original's beginning");
        restored_texts.extend(there_in.into_iter().map(|(_, t)| t));
    }
    for text in &before {
        assert!(restored_texts.contains(text), "`{text}`, acknowledged before the backup, is restored");
    }
    // The opt-out recorded after the backup holds in the restored store.
    let (status, answer) = copy.post("/v1/prospects", &json!({"workflow": "inbound-lead", "phone": phone(0)})).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("opted out"), "{answer}");
    copy.stop().await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_backup_and_a_wrong_master_key() {
    let original = tempfile::tempdir().unwrap();
    copy_shipped(original.path());
    write_config(original.path());
    let daemon = Daemon::start(original.path()).await;
    let id = daemon.import(json!({"workflow": "inbound-lead", "phone": phone(1)})).await;
    daemon.stop().await;
    // The stopped in-process daemon's last tasks let go of the store shortly after `stop`: until
    // then a backup would (rightly) go to the running daemon instead of offline.
    let store = original.path().join("data").join("store");
    let started = std::time::Instant::now();
    while qualifyd::store::SledStore::in_use(&store) && started.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (ok, stdout, stderr) = qualifyd(original.path(), &["backup", "--config", "config.yaml", "--out", "b"]);
    assert!(ok && stdout.contains("(offline)"), "{stdout}{stderr}");
    let (ok, _, stderr) = qualifyd(original.path(), &["backup", "--config", "config.yaml", "--out", "b"]);
    assert!(!ok && stderr.contains("is not empty"), "{stderr}");

    let restored = tempfile::tempdir().unwrap();
    copy_shipped(restored.path());
    write_config(restored.path());
    let backup = original.path().join("b").display().to_string();
    let args = ["restore", "--config", "config.yaml", &backup, "--data-dir", "data"];
    let (ok, _, stderr) = qualifyd(restored.path(), &args);
    assert!(!ok && stderr.contains("restore with the master key the backup was made with"), "{stderr}");
    assert!(!restored.path().join("data/store").exists(), "nothing is left of a refused restore");
    std::fs::copy(original.path().join("data/master.key"), restored.path().join("data/master.key")).unwrap();
    let (ok, stdout, stderr) = qualifyd(restored.path(), &args);
    assert!(ok, "{stdout}{stderr}");
    let copy = Daemon::start_with(settings_for(restored.path())).await;
    assert_eq!(copy.prospect(&id).await["id"], id.as_str());
    copy.stop().await;
}
