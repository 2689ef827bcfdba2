//! Exact identity on the real daemon: two people who share a company email stay two people
//! (import, access, erasure); a `prospect_id` scope touches that prospect only; a dry run lists
//! what a request would touch and why; an objection from someone with no prospect still puts
//! them on the suppression list; an erasure's request-log entry is written with its tombstones.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::write_definitions;
use crate::privacy_support::{Node, listening, settings_with_roles};

const SHARED: &str = "contact@acme-shared.fr";

fn definitions(dir: &std::path::Path) {
    write_definitions(
        dir,
        &[("sms", &listening("sms", "sms")), ("mail", &listening("mail", "email"))],
        &[("hello.j2", "Bonjour {{ prospect.first_name }} !")],
    );
}

async fn two_people_sharing_an_email(node: &Node) -> (String, String) {
    let marie = node
        .import(json!({"workflow": "mail", "name": "Marie Dupont", "phone": "+33611220001", "email": SHARED}))
        .await;
    let (status, answer) = node
        .post(
            "/v1/prospects",
            &json!({"workflow": "mail", "name": "Jean Martin", "phone": "+33611220002", "email": SHARED}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "the second person gets a prospect of their own: {answer}");
    assert_eq!(answer["status"], "created", "{answer}");
    let jean = answer["id"].as_str().unwrap().to_string();
    assert_ne!(marie, jean);
    node.wait_for(&jean, "greeted", |v| v["step"] == "wait").await;
    node.wait_for(&marie, "greeted", |v| v["step"] == "wait").await;
    (marie, jean)
}

fn ids(export: &Value) -> Vec<String> {
    export["prospects"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_shared_email_never_merges_two_people() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let (marie, jean) = two_people_sharing_an_email(&node).await;
    node.inbound("sms", "+33611220002", "Jean ici, c'est privé", "SM-jean-1").await;

    // Re-importing the same person stays idempotent.
    let (status, again) = node
        .post(
            "/v1/prospects",
            &json!({"workflow": "mail", "name": "Marie Dupont", "phone": "0611220001", "email": SHARED}),
        )
        .await;
    assert_eq!((status, again["id"].as_str()), (StatusCode::OK, Some(marie.as_str())), "{again}");

    // Marie's access request by her phone returns her prospect only.
    let (status, export) = node.post("/v1/privacy/export", &json!({"phone": "+33611220001"})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(ids(&export), vec![marie.clone()]);
    assert!(!export.to_string().contains("c'est privé"), "Jean's message leaked: {export}");

    // The shared email alone names two people: refused, and the dry run says why.
    let (status, answer) = node.post("/v1/privacy/export", &json!({"email": SHARED})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "ambiguous_subject", "{answer}");
    let before = node.prospect(&jean).await;
    let (status, dry) = node.post("/v1/privacy/erase", &json!({"email": SHARED, "dry_run": true})).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["ambiguous"], true, "{dry}");
    assert_eq!(dry["prospects"].as_array().unwrap().len(), 2, "{dry}");
    assert_eq!(dry["prospects"][0]["matched_by"], json!(["email"]), "{dry}");
    assert_eq!(node.prospect(&jean).await, before, "a dry run changes nothing");

    // Phone + shared email: Marie only. Her erasure leaves Jean whole.
    let (status, receipt) = node.post("/v1/privacy/erase", &json!({"phone": "+33611220001", "email": SHARED})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["erased"], json!([marie]), "{receipt}");
    assert_eq!(node.prospect(&jean).await, before, "Jean is untouched");
    assert_eq!(node.messages(&jean).await.len(), 2, "Jean's conversation is intact");
    node.stop().await;
}

#[tokio::test]
async fn a_prospect_id_scope_touches_that_prospect_only() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let phone = "+33611220003";
    let sms = node.import(json!({"workflow": "sms", "phone": phone, "email": "paul@example.org"})).await;
    let mail = node.import(json!({"workflow": "mail", "email": "paul@example.org"})).await;
    node.wait_for(&mail, "greeted", |v| v["step"] == "wait").await;
    let (status, receipt) = node.post("/v1/privacy/restrict", &json!({"prospect_id": sms})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let touched: Vec<&str> =
        receipt["prospects"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(touched, vec![sms.as_str()], "{receipt}");
    assert_eq!(node.prospect(&mail).await["status"], "waiting");
    node.stop().await;
}

#[tokio::test]
async fn an_objection_without_a_prospect_is_kept_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let email = "never.imported@example.org";
    node.inbound("email", email, "Qui êtes-vous ?", "mail-unknown-1").await;
    let (status, receipt) = node.post("/v1/privacy/object", &json!({"email": email})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert!(receipt["note"].as_str().unwrap().contains("suppression list"), "{receipt}");
    let (status, answer) = node.post("/v1/prospects", &json!({"workflow": "mail", "email": email})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "imported right after an objection: {answer}");

    let quiet = "only.suppressed@example.org";
    let (status, _) = node.post("/v1/privacy/object", &json!({"email": quiet})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, export) = node.post("/v1/privacy/export", &json!({"email": quiet})).await;
    assert_eq!(status, StatusCode::OK, "a suppressed-only person is told so: {export}");
    assert_eq!(export["suppressed_contacts"][0]["cause"], "objection", "{export}");
    assert_eq!(export["prospects"], json!([]));
    node.stop().await;
}

#[tokio::test]
async fn an_erasure_is_logged_received_then_completed() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let id = node.import(json!({"workflow": "sms", "phone": "+33611220004"})).await;
    node.wait_for(&id, "greeted", |v| v["step"] == "wait").await;
    let (status, receipt) = node.post("/v1/privacy/erase", &json!({"phone": "+33611220004"})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let log = node.engine().privacy_requests(None, 100).unwrap();
    let erasures: Vec<_> = log.requests.iter().filter(|r| format!("{:?}", r.request.kind) == "Erase").collect();
    assert_eq!(erasures.len(), 1, "one entry, updated in place: {log:?}");
    let entry = &erasures[0].request;
    assert_eq!(format!("{:?}", entry.status), "Completed");
    assert_eq!(entry.id, receipt["request"].as_str().unwrap());
    assert!(entry.completed_at.unwrap() >= entry.received_at);
    node.stop().await;
}

const ASK: &str = "id: ask
channel: sms
fields:
  email: { type: email, description: Work email, ask: \"Votre email ?\" }
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: wait, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: read, ai: { prompt: hello.j2, extract: [email], reply: false } }
  - { id: bye, end: done }
";

#[tokio::test]
async fn an_email_given_in_the_conversation_finds_the_person_and_is_erased_with_them() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(dir.path(), &[("ask", ASK)], &[("hello.j2", "Bonjour !")]);
    let node = Node::start(settings_with_roles(dir.path())).await;
    let phone = "+33611220005";
    let id = node.import(json!({"workflow": "ask", "phone": phone})).await;
    node.wait_for(&id, "asked", |v| v["step"] == "wait").await;
    node.inbound("sms", phone, "c'est lea.pro@example.org", "SM-given-1").await;
    node.wait_for(&id, "email extracted", |v| v["fields"]["email"] == "lea.pro@example.org").await;

    let (status, export) = node.post("/v1/privacy/export", &json!({"email": "Lea.Pro@example.org"})).await;
    assert_eq!(status, StatusCode::OK, "found by the email given in the conversation: {export}");
    assert_eq!(ids(&export), vec![id.clone()]);
    let (status, receipt) = node.post("/v1/privacy/erase", &json!({"email": "lea.pro@example.org"})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["counts"]["contact_index_entries"], 2, "phone and extracted email: {receipt}");
    let (status, _) = node.post("/v1/privacy/export", &json!({"email": "lea.pro@example.org"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.stop().await;
}
