//! Lawfulness and transparency (issue #13): every prospect records its legal basis and where it
//! comes from (an import, a form's consent with its proof, the person writing first); the first
//! message carries the workflow's notice, recorded with its version; the export tells the basis,
//! purposes, recipients, retention and the scoring logic; `qualifyd privacy-record` prints the
//! art. 30 record of what is configured.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::write_definitions;
use crate::privacy_support::{Node, settings_with_roles};

const NOTICE: &str = "Message automatisé d'Acme. Vos données : acme.example/rgpd. STOP pour arrêter.";

fn flow() -> String {
    format!(
        "id: flow
description: Qualifie les leads du salon
channel: sms
entry: {{ import: true, inbound: sms }}
privacy: {{ legal_basis: legitimate_interest, notice: \"{NOTICE}\" }}
fields:
  budget: {{ type: number, description: Budget }}
score: \"50 if fields.budget is number and fields.budget > 100 else 0\"
steps:
  - {{ id: hello, send: {{ template: hello.j2 }} }}
  - {{ id: wait, wait_reply: {{ timeout: 30d, on_timeout: bye }} }}
  - {{ id: again, send: {{ template: hello.j2 }} }}
  - {{ id: bye, end: done }}
"
    )
}

fn transparency(export: &Value) -> Value {
    export["prospects"][0]["transparency"].clone()
}

#[tokio::test]
async fn the_basis_the_notice_and_the_processing_are_recorded_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(dir.path(), &[("flow", &flow())], &[("hello.j2", "Bonjour !")]);
    let node = Node::start(settings_with_roles(dir.path())).await;

    let consent = json!({"at": "2026-11-30T10:00:00Z", "text_version": "salon-form-v2"});
    let id = node.import(json!({"workflow": "flow", "phone": "+33612350001", "consent": consent})).await;
    let view = node.wait_for(&id, "waiting", |v| v["step"] == "wait").await;
    assert_eq!(view["status"], "waiting");
    let first = node.messages(&id).await[0]["text"].as_str().unwrap().to_string();
    assert!(
        first.starts_with("Bonjour !") && first.ends_with(NOTICE),
        "the notice goes with the first message: {first}"
    );
    node.inbound("sms", "+33612350001", "Mon budget est de 300", "SM-law-1").await;
    let messages = node.wait_messages(&id, "the second message", |m| m.len() >= 3).await;
    assert_eq!(messages[2]["text"], "Bonjour !", "only the first message carries the notice");

    let (status, export) = node.post("/v1/privacy/export", &json!({"phone": "+33612350001"})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let t = transparency(&export);
    assert_eq!(t["lawfulness"]["basis"], "consent", "{t}");
    assert_eq!(t["lawfulness"]["source"], "form");
    assert_eq!(t["lawfulness"]["consent"]["text_version"], "salon-form-v2");
    assert!(t["lawfulness"]["notice_sent_at"].is_string() && t["lawfulness"]["notice_version"].is_string(), "{t}");
    assert!(t["legal_basis"].as_str().unwrap().contains("6(1)(a)"), "{t}");
    assert!(t["purposes"][0].as_str().unwrap().contains("Qualifie les leads du salon"), "{t}");
    let recipients = t["recipients"].as_array().unwrap();
    assert!(recipients.iter().any(|r| r["kind"] == "channel_provider" && r["name"] == "outbox"), "{t}");
    assert!(t["retention"].as_str().unwrap().contains("days after"), "{t}");
    assert!(t["scoring"].as_str().unwrap().contains("fields.budget"), "{t}");

    // A consent without its proof is refused, with what to add; a typo is named.
    for (body, says) in [
        (json!({"workflow": "flow", "phone": "+33612350002", "legal_basis": "consent"}), "art. 7(1)"),
        (json!({"workflow": "flow", "phone": "+33612350003", "legal_basis": "interest"}), "legitimate_interest"),
    ] {
        let (status, answer) = node.post("/v1/prospects", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer.to_string().contains(says), "{answer}");
    }

    // Someone who writes first is processed on the steps they asked for.
    node.inbound("sms", "+33612350004", "Bonjour, je voudrais un devis", "SM-law-2").await;
    let (status, export) = node.post("/v1/privacy/export", &json!({"phone": "+33612350004"})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let t = transparency(&export);
    assert_eq!(
        (t["lawfulness"]["basis"].clone(), t["lawfulness"]["source"].clone()),
        (json!("contract"), json!("inbound"))
    );
    node.stop().await;
}

#[test]
fn privacy_record_prints_the_art_30_record_of_the_shipped_configuration() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .args(["privacy-record", "--config", "config.example.yaml"])
        .current_dir(root)
        .env("QUALIFYD_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        "Record of processing activities (GDPR art. 30)",
        "`inbound-lead`",
        "`reactivation`",
        "6(1)(f)",
        "budget (number)",
        "[to fill]",
        "## Recipients",
        "## Retention",
    ] {
        assert!(stdout.contains(expected), "missing `{expected}`:\n{stdout}");
    }
    assert!(!stdout.contains("MDEyMzQ1"), "no secret in the record");
}
