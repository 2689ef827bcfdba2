//! Reads are accounted for: every read of personal data through the API (a prospect, its
//! conversation, the list) leaves an audit record (who, what, when; no personal data), the
//! audit log pages through `GET /v1/audit` (admin only), and an opt-out that reaches a person's
//! other prospects is recorded there with its real cause.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::write_definitions;
use crate::privacy_support::{Node, VIEWER, listening, settings_with_roles};

async fn audit(node: &Node) -> Vec<Value> {
    let (status, page) = node.get("/v1/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_viewers_reads_are_audited_and_only_admins_read_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(
        dir.path(),
        &[("flow", &listening("flow", "sms")), ("mail", &listening("mail", "email"))],
        &[("hello.j2", "Bonjour !")],
    );
    let node = Node::start(settings_with_roles(dir.path())).await;
    let (phone, email) = ("+33611440001", "audit.person@example.org");
    let id = node.import(json!({"workflow": "flow", "name": "Zoé Audit", "phone": phone, "email": email})).await;
    let mail = node.import(json!({"workflow": "mail", "email": email})).await;
    node.wait_for(&mail, "greeted", |v| v["step"] == "wait").await;

    for path in [format!("/v1/prospects/{id}"), format!("/v1/prospects/{id}/messages"), "/v1/prospects".into()] {
        let (status, _) = node.call(Method::GET, VIEWER, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let records = audit(&node).await;
    let reads: Vec<&Value> = records.iter().filter(|r| r["actor"] == "wall").collect();
    let actions: Vec<&str> = reads.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["GET /v1/prospects/{id}", "GET /v1/prospects/{id}/messages", "GET /v1/prospects"],
        "{records:#?}"
    );
    assert_eq!(reads[0]["prospect"], id.as_str());
    assert!(reads[0]["detail"].as_str().unwrap().starts_with("read; answered 200"), "{:?}", reads[0]);
    let text = serde_json::to_string(&records).unwrap();
    for secret in [phone, email, "Zoé"] {
        assert!(!text.contains(secret), "personal data in the audit log: {secret}");
    }
    let (status, answer) = node.call(Method::GET, VIEWER, "/v1/audit", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = node.get("/v1/audit?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // An opt-out by SMS reaches the email campaign: recorded there as a STOP, not an operator's.
    node.inbound("sms", phone, "STOP", "SM-audit-stop").await;
    node.wait_for(&mail, "unsubscribed", |v| v["status"] == "unsubscribed").await;
    let records = audit(&node).await;
    let propagated = records
        .iter()
        .find(|r| r["actor"] == "system" && r["action"] == "privacy.opt_out" && r["prospect"] == mail.as_str())
        .unwrap_or_else(|| panic!("no opt-out record for the email prospect: {records:#?}"));
    assert!(propagated["detail"].as_str().unwrap().contains("StopWord"), "{propagated}");
    node.stop().await;
}

/// Every non-read request is audited, refused ones too: a viewer trying to import is on record.
#[tokio::test]
async fn a_forbidden_request_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(dir.path(), &[("flow", &listening("flow", "sms"))], &[("hello.j2", "Bonjour !")]);
    let node = Node::start(settings_with_roles(dir.path())).await;
    let body = json!({"workflow": "flow", "phone": "+33611440009"});
    let (status, answer) = node.call(Method::POST, VIEWER, "/v1/prospects", Some(&body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let records = audit(&node).await;
    let refused = records
        .iter()
        .find(|r| r["actor"] == "wall" && r["action"] == "POST /v1/prospects")
        .unwrap_or_else(|| panic!("the refused import is not in the audit log: {records:#?}"));
    assert!(refused["detail"].as_str().unwrap().contains("answered 403"), "{refused}");
    assert!(!serde_json::to_string(&records).unwrap().contains("+33611440009"));
}

/// A viewer reads conversations but cannot use the one-click unsubscribe links in them: the
/// token is masked for that role, shown to operators and admins.
#[tokio::test]
async fn viewers_see_unsubscribe_tokens_masked() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(
        dir.path(),
        &[("flow", &listening("flow", "sms"))],
        &[("hello.j2", "Bonjour ! Stop: {{ unsubscribe_url }}")],
    );
    let node = Node::start(settings_with_roles(dir.path())).await;
    let id = node.import(json!({"workflow": "flow", "phone": "+33611440010"})).await;
    node.wait_for(&id, "greeted", |v| v["step"] == "wait").await;
    let path = format!("/v1/prospects/{id}/messages");
    let (status, admin) = node.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let text = admin["messages"][0]["text"].as_str().unwrap().to_string();
    let token = text.rsplit("/u/").next().unwrap().to_string();
    assert!(token.len() >= 16 && token != "***", "{text}");
    let (status, viewer) = node.call(Method::GET, VIEWER, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let seen = viewer["messages"][0]["text"].as_str().unwrap();
    assert!(!seen.contains(&token), "a viewer sees the unsubscribe token: {seen}");
    assert!(seen.ends_with("/u/***"), "{seen}");
}
