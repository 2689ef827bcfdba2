//! The data-subject rights over HTTP on the real daemon: export (arts. 15, 20), rectification
//! (16), erasure (17), restriction (18), objection (21) and the request log; admin only (viewer
//! and operator tokens get 403); every request and admin change audited without personal data.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN, write_definitions};
use crate::privacy_support::{Node, OPERATOR, VIEWER, settings_with_roles};

const SMS_FLOW: &str = "id: rights
channel: sms
fields:
  budget: { type: number, description: Monthly budget in euros, ask: \"What budget do you have in mind?\" }
score: \"(60 if fields.budget is number and fields.budget >= 1000 else 10)\"
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: qualify, ai: { prompt: qualify.j2, extract: [budget], reply: false } }
  - { id: again, wait_reply: { timeout: 30d, on_timeout: bye }, next: qualify }
  - { id: bye, end: done }
";

const EMAIL_FLOW: &str = "id: newsletter
channel: email
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: bye, end: done }
";

/// Sends after a short wait, so a restriction can hold a timer that falls due.
const TIMED_FLOW: &str = "id: timed
channel: sms
steps:
  - { id: pause, wait: { duration: 2s } }
  - { id: nudge, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: bye, end: done }
";

const PHONE: &str = "+33677001122";
const EMAIL: &str = "ada.rights@example.com";
const REPLY: &str = "Our budget is 2000 euros a month";

async fn start(dir: &std::path::Path) -> Node {
    write_definitions(
        dir,
        &[("rights", SMS_FLOW), ("newsletter", EMAIL_FLOW), ("timed", TIMED_FLOW)],
        &[("hello.j2", "Hello {{ prospect.first_name }}"), ("qualify.j2", "Extract the budget from: {{ last_reply }}")],
    );
    Node::start(settings_with_roles(dir)).await
}

/// One person in two campaigns (SMS and email), who replied once on SMS.
async fn person(node: &Node) -> (String, String) {
    let sms = node
        .import(json!({"workflow": "rights", "name": "Ada Lovelace", "phone": "06 77 00 11 22", "email": EMAIL,
                       "source": "website", "fields": {"budget": 500}}))
        .await;
    let email = node.import(json!({"workflow": "newsletter", "name": "Ada Lovelace", "email": EMAIL})).await;
    node.wait_for(&sms, "greeted", |v| v["step"] == "listen").await;
    node.inbound("sms", PHONE, REPLY, "SM-rights-1").await;
    node.wait_for(&sms, "qualified", |v| v["step"] == "again" && v["fields"]["budget"] == 2000).await;
    (sms, email)
}

fn ids(receipt: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        receipt["prospects"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn privacy_routes_are_admin_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let (sms, _) = person(&node).await;
    let body = json!({"phone": PHONE});
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/v1/privacy/export".into(), Some(body.clone())),
        (Method::POST, "/v1/privacy/erase".into(), Some(body.clone())),
        (Method::POST, "/v1/privacy/restrict".into(), Some(body.clone())),
        (Method::POST, "/v1/privacy/unrestrict".into(), Some(body.clone())),
        (Method::POST, "/v1/privacy/object".into(), Some(body.clone())),
        (Method::GET, "/v1/privacy/requests".into(), None),
        (Method::PATCH, format!("/v1/prospects/{sms}"), Some(json!({"name": "Ada King"}))),
    ];
    for (method, path, body) in &routes {
        for token in [VIEWER, OPERATOR] {
            let (status, answer) = node.call(method.clone(), token, path, body.as_ref()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with {token}: {answer}");
            assert_eq!(answer["error"]["code"], "forbidden");
        }
        let (status, answer) = node.call(method.clone(), "nobody", path, body.as_ref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {answer}");
    }
    // Nothing happened: the person is untouched and no request was logged.
    assert_eq!(node.prospect(&sms).await["status"], "waiting");
    assert_eq!(node.engine().privacy_requests(None, 100).unwrap().requests.len(), 0);
    node.stop().await;
}

#[tokio::test]
async fn export_gathers_every_prospect_message_and_ai_call_and_rectification_corrects() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let (sms, email) = person(&node).await;

    // Identity is exact: the phone alone names the SMS prospect only; with the email too, both.
    let (status, export) = node.post("/v1/privacy/export", &json!({"phone": "0677001122"})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["prospects"].as_array().unwrap().len(), 1, "{export}");
    let (status, export) = node.post("/v1/privacy/export", &json!({"phone": "0677001122", "email": EMAIL})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["format"], "qualifyd.export/1");
    let prospects = export["prospects"].as_array().unwrap();
    let mut found: Vec<&str> = prospects.iter().map(|p| p["id"].as_str().unwrap()).collect();
    found.sort();
    let mut expected = vec![sms.as_str(), email.as_str()];
    expected.sort();
    assert_eq!(found, expected, "the phone's prospect, and the email campaign by its email");
    let one = prospects.iter().find(|p| p["id"] == sms.as_str()).unwrap();
    assert_eq!(one["contact"]["phone"], PHONE);
    assert_eq!(one["contact"]["email"], EMAIL);
    assert_eq!(one["contact"]["name"], "Ada Lovelace");
    assert_eq!(one["contact"]["source"], "website");
    assert_eq!((one["fields"]["budget"].as_i64(), one["score"].as_i64()), (Some(2000), Some(60)));
    assert_eq!(one["score_fields"]["budget"], 2000);
    assert!(one["history"].as_array().unwrap().len() >= 2, "{one}");
    let texts: Vec<&str> = one["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Hello Ada", REPLY]);
    let processing = one["processing"].as_array().unwrap();
    assert_eq!(processing.len(), 1, "{processing:?}");
    assert_eq!((processing[0]["kind"].as_str(), processing[0]["provider"].as_str()), (Some("ai_call"), Some("rules")));
    assert_eq!(processing[0]["step"], "qualify");
    assert_eq!(export["suppressed_contacts"], json!([]));

    let patch = |body: Value| {
        let path = format!("/v1/prospects/{sms}");
        let node = &node;
        async move { node.call(Method::PATCH, ADMIN, &path, Some(&body)).await }
    };
    for (bad, why) in [
        (json!({"phone": "not a phone"}), "phone"),
        (json!({"fields": {"colour": "red"}}), "colour"),
        (json!({"fields": {"budget": "lots"}}), "budget"),
        (json!({"phone": null}), "sms"),
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"emial": "x@y.z"}), "emial"),
    ] {
        let (status, answer) = patch(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(why), "{bad}: {answer}");
    }
    let (status, view) =
        patch(json!({"email": "Ada.King@Example.com ", "name": null, "fields": {"budget": 300}})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!((view["fields"]["budget"].as_i64(), view["score"].as_i64()), (Some(300), Some(10)));
    let (_, export) = node.post("/v1/privacy/export", &json!({"prospect_id": sms})).await;
    let one = &export["prospects"][0];
    assert_eq!(one["contact"]["email"], "ada.king@example.com");
    assert!(one["contact"]["name"].is_null());
    // The contact index follows: the old email finds only the email campaign now.
    let (_, export) = node.post("/v1/privacy/export", &json!({"email": EMAIL})).await;
    let found: Vec<&str> = export["prospects"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(found, [email.as_str()]);
    let (status, _) = node.call(Method::PATCH, ADMIN, "/v1/prospects/p_nobody", Some(&json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = node.post("/v1/privacy/export", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    let log = node.engine().privacy_requests(None, 100).unwrap();
    let kinds: Vec<String> = log.requests.iter().map(|r| format!("{:?}", r.request.kind)).collect();
    let want = ["Export", "Export", "Rectify", "Export", "Export"];
    assert_eq!(kinds, want, "failed validations change nothing and log nothing");
    node.stop().await;
}

#[tokio::test]
async fn restriction_holds_timers_and_sends_nothing_until_unrestricted() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let phone = "+33677001133";
    let id = node.import(json!({"workflow": "timed", "phone": phone})).await;
    node.wait_for(&id, "waiting", |v| v["step"] == "pause" && v["status"] == "waiting").await;

    let (status, receipt) = node.post("/v1/privacy/restrict", &json!({"phone": phone})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(ids(&receipt), std::slice::from_ref(&id));
    assert_eq!(receipt["prospects"][0]["status"], "paused");
    assert_eq!(receipt["prospects"][0]["status_detail"], "restricted (GDPR art. 18)");
    // An ordinary resume, pause or operator message does not lift it.
    let (status, answer) = node.post(&format!("/v1/prospects/{id}/resume"), &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("unrestrict"), "{answer}");
    let (status, _) = node.call(Method::POST, OPERATOR, &format!("/v1/prospects/{id}/pause"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        node.call(Method::POST, OPERATOR, &format!("/v1/prospects/{id}/messages"), Some(&json!({"text": "hi"}))).await;
    assert_ne!(status, StatusCode::ACCEPTED, "an operator cannot write to a restricted prospect");
    // The person cannot be imported into another campaign meanwhile.
    let (status, answer) = node.post("/v1/prospects", &json!({"workflow": "rights", "phone": phone})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["error"].as_str().unwrap().contains("restricted"), "{answer}");

    // The timer falls due while restricted: it is held, nothing is sent; replies are kept.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    node.inbound("sms", phone, "hello?", "SM-restricted-1").await;
    node.wait_messages(&id, "reply recorded", |m| m.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let view = node.prospect(&id).await;
    assert_eq!((view["status"].as_str(), view["step"].as_str()), (Some("paused"), Some("pause")), "{view}");
    assert!(view["next_wake_up"].is_null(), "the timer is held: {view}");
    let messages = node.messages(&id).await;
    assert!(messages.iter().all(|m| m["direction"] == "inbound"), "nothing sent: {messages:?}");
    let (_, export) = node.post("/v1/privacy/export", &json!({"phone": phone})).await;
    assert!(export["prospects"][0]["restricted_since"].is_string(), "{export}");

    let (status, receipt) = node.post("/v1/privacy/unrestrict", &json!({"prospect_id": id})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let messages = node.wait_messages(&id, "the held send goes out", |m| m.iter().any(|m| m["status"] == "sent")).await;
    assert_eq!(messages.iter().filter(|m| m["direction"] == "outbound").count(), 1, "{messages:?}");
    // The reply that came meanwhile answers the step after the send.
    node.wait_for(&id, "resumed and finished", |v| v["status"] == "completed").await;
    // Unrestricting twice is harmless.
    let (status, _) = node.post("/v1/privacy/unrestrict", &json!({"phone": phone})).await;
    assert_eq!(status, StatusCode::OK);
    node.stop().await;
}

#[tokio::test]
async fn objection_and_erasure_leave_only_a_suppression_entry_and_an_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let (sms, email) = person(&node).await;

    let (status, receipt) = node.post("/v1/privacy/object", &json!({"email": EMAIL})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let mut both = vec![sms.clone(), email.clone()];
    both.sort();
    assert_eq!(ids(&receipt), both);
    for id in &both {
        node.wait_for(id, "unsubscribed", |v| v["status"] == "unsubscribed").await;
    }
    let (status, answer) = node.post("/v1/prospects", &json!({"workflow": "newsletter", "email": EMAIL})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["error"].as_str().unwrap().contains("opted out"), "{answer}");

    let (status, receipt) = node.post("/v1/privacy/erase", &json!({"phone": PHONE, "email": EMAIL})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let mut erased: Vec<String> = serde_json::from_value(receipt["erased"].clone()).unwrap();
    erased.sort();
    assert_eq!(erased, both);
    assert_eq!(receipt["suppression_kept"], true);
    assert_eq!(receipt["counts"]["prospects"], 2);
    assert!(receipt["counts"]["messages"].as_u64().unwrap() >= 3, "{receipt}");
    assert_eq!(receipt["counts"]["data_keys"], 2);

    for id in &both {
        for path in [format!("/v1/prospects/{id}"), format!("/v1/prospects/{id}/messages")] {
            let (status, _) = node.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    // What is left is the suppression: an export says so, an objection keeps it; nothing else.
    for body in [json!({"phone": PHONE}), json!({"email": EMAIL}), json!({"prospect_id": sms})] {
        let by_contact = body.get("prospect_id").is_none();
        for route in ["export", "erase", "restrict", "object"] {
            let (status, answer) = node.post(&format!("/v1/privacy/{route}"), &body).await;
            let kept = by_contact && (route == "export" || route == "object");
            let want = if kept { StatusCode::OK } else { StatusCode::NOT_FOUND };
            assert_eq!(status, want, "{route} {body}: {answer}");
            if kept && route == "export" {
                assert_eq!(answer["prospects"], json!([]), "{answer}");
                assert_eq!(answer["suppressed_contacts"].as_array().unwrap().len(), 1, "{answer}");
            }
        }
    }
    let (_, page) = node.get("/v1/prospects").await;
    assert_eq!(page["items"], json!([]));
    // An erased person who had opted out cannot be imported again, by any of their contacts.
    for body in
        [json!({"workflow": "rights", "phone": "06 77 00 11 22"}), json!({"workflow": "newsletter", "email": EMAIL})]
    {
        let (status, answer) = node.post("/v1/prospects", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["status"], "rejected");
        assert!(answer["error"].as_str().unwrap().contains("this person opted out"), "{answer}");
    }

    let (status, log) = node.get("/v1/privacy/requests").await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let requests = log["requests"].as_array().unwrap();
    let kinds: Vec<&str> = requests.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..2], ["object", "erase"], "{log}");
    for request in requests {
        let received = chrono::DateTime::parse_from_rfc3339(request["received_at"].as_str().unwrap()).unwrap();
        let deadline = chrono::DateTime::parse_from_rfc3339(request["deadline"].as_str().unwrap()).unwrap();
        assert!((28..=31).contains(&(deadline - received).num_days()), "{request}");
        assert!(request["status"] == "completed" || request["status"] == "not_found", "{request}");
    }
    let text = log.to_string();
    for secret in [PHONE, "0677001122", EMAIL, "Ada", REPLY] {
        assert!(!text.contains(secret), "the request log holds `{secret}`: {text}");
    }

    let audit = node.engine().audit_log(None, 10_000).unwrap();
    let actions: Vec<String> = audit.iter().map(|r| format!("{} {}", r.actor, r.action)).collect();
    for expected in [
        "admin POST /v1/prospects",
        "admin POST /v1/privacy/object",
        "admin POST /v1/privacy/erase",
        "admin POST /v1/privacy/export",
        "system privacy.opt_out",
    ] {
        assert!(actions.iter().any(|a| a == expected), "no `{expected}` in {actions:#?}");
    }
    let erase = audit.iter().filter(|r| r.action == "POST /v1/privacy/erase").collect::<Vec<_>>();
    assert!(erase.iter().any(|r| r.prospect.as_deref() == Some(sms.as_str())), "{erase:?}");
    let imports = audit.iter().filter(|r| r.action == "POST /v1/prospects").filter_map(|r| r.prospect.clone());
    assert!(imports.collect::<Vec<_>>().contains(&sms), "imports name the prospects they created");
    let dump = format!("{audit:?}");
    for secret in [PHONE, "0677001122", EMAIL, "Ada", REPLY] {
        assert!(!dump.contains(secret), "the audit log holds `{secret}`");
    }
    node.stop().await;
}
