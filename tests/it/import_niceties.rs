//! Imports and the generic webhook over loopback HTTP: enum values given as declared synonyms
//! are stored as their value, a bad enum value lists the allowed ones, an unknown field gets a
//! did-you-mean, the generic webhook reads `"Name <email>"` in `from`, and `wake` (admin only,
//! audited) fires the pending timer.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Daemon, copy_shipped, write_definitions};

#[tokio::test]
async fn imports_accept_synonyms_and_explain_bad_enums_and_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    let (status, batch) = daemon
        .post(
            "/v1/prospects",
            &json!([
                {"workflow": "inbound-lead", "phone": "+33612345601", "fields": {"timeline": "ASAP"}},
                {"workflow": "inbound-lead", "phone": "+33612345602", "fields": {"timeline": "someday"}},
                {"workflow": "inbound-lead", "phone": "+33612345603", "fields": {"budgte": 1500}}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    let results = batch["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "created", "{}", results[0]);
    let id = results[0]["id"].as_str().unwrap();
    let view = daemon.wait_for(id, std::time::Duration::from_secs(5), |v| v["step"] == "first_reply").await;
    assert_eq!(view["fields"]["timeline"], "now", "a synonym is stored as its value");
    assert_eq!(view["score"], 30, "the imported fields are scored at once: {view}");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(
        results[1]["error"],
        "field `timeline`: `someday` is not one of its values; allowed: now, this_quarter, later"
    );
    assert_eq!(results[2]["status"], "rejected");
    assert_eq!(
        results[2]["error"],
        "field `budgte` is not declared by workflow `inbound-lead` (did you mean `budget`?); fields: budget, timeline, decision_maker"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn the_generic_webhook_reads_a_name_and_an_address_in_from() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = "id: mail_in\nchannel: email\nentry: { import: false, inbound: email }\nsteps:\n  - { id: hello, send: { template: hello.j2 } }\n  - { id: listen, wait_reply: { timeout: 2d, on_timeout: bye } }\n  - { id: bye, end: done }\n";
    write_definitions(
        dir.path(),
        &[("mail_in", workflow)],
        &[("hello.j2", "Bonjour {{ prospect.name | default('inconnu', true) }}")],
    );
    let daemon = Daemon::start(dir.path()).await;
    let answer =
        daemon.inbound("email", "Marie Dupont <Marie@Example.fr>", "Bonjour, je voudrais un devis", "m-1").await;
    assert_eq!(answer["status"], "recorded", "{answer}");
    let id = answer["prospect"].as_str().expect("a prospect is started").to_string();
    let messages = daemon.wait_messages(&id, 2).await;
    let outbound: Vec<&serde_json::Value> = messages.iter().filter(|m| m["direction"] == "outbound").collect();
    assert_eq!(outbound[0]["text"], "Bonjour Marie Dupont", "{messages:?}");
    assert_eq!(outbound[0]["status"], "sent", "the address was parsed: {messages:?}");
    // The same sender written as a bare address is the same person.
    let again = daemon.inbound("email", "marie@example.fr", "Vous avez reçu ?", "m-2").await;
    assert_eq!(again["prospect"], id.as_str());
    daemon.stop().await;
}

#[tokio::test]
async fn wake_fires_the_pending_timer_for_an_admin_only_and_is_audited() {
    use qualifyd::settings::{AdminToken, Role, Secret};
    let dir = tempfile::tempdir().unwrap();
    let workflow = "id: slow\nchannel: sms\nsteps:\n  - { id: hello, send: { template: hello.j2 } }\n  - { id: listen, wait_reply: { timeout: 2d, on_timeout: nudge } }\n  - { id: thanks, end: qualified }\n  - { id: nudge, send: { template: nudge.j2 } }\n  - { id: bye, end: unresponsive }\n";
    write_definitions(dir.path(), &[("slow", workflow)], &[("hello.j2", "Bonjour !"), ("nudge.j2", "Toujours là ?")]);
    let mut settings = crate::harness::settings_for(dir.path());
    settings.admin_tokens.push(AdminToken {
        name: "desk".into(),
        role: Role::Operator,
        token: Secret::new("operator-token"),
    });
    let daemon = Daemon::start_with(settings).await;
    let id = daemon.import(json!({"workflow": "slow", "phone": "+33612345604"})).await;
    let view = daemon.wait_for(&id, std::time::Duration::from_secs(5), |v| v["step"] == "listen").await;
    assert!(view["next_wake_up"].is_string(), "{view}");

    let url = format!("{}/v1/prospects/{id}/wake", daemon.base);
    let response = daemon.client.post(&url).bearer_auth("operator-token").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "an operator may not fast-forward");
    assert_eq!(daemon.prospect(&id).await["step"], "listen");

    let (status, answer) = daemon.post(&format!("/v1/prospects/{id}/wake"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let view = daemon.wait_for(&id, std::time::Duration::from_secs(5), |v| v["status"] == "completed").await;
    assert_eq!(view["status_detail"], "unresponsive", "{view}");
    let texts: Vec<String> =
        daemon.wait_messages(&id, 2).await.iter().map(|m| m["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts, ["Bonjour !", "Toujours là ?"]);
    let (status, again) = daemon.post(&format!("/v1/prospects/{id}/wake"), &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to fire: {again}");

    let (status, page) = daemon.get("/v1/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let wakes: Vec<&serde_json::Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "POST /v1/prospects/{id}/wake" && r["prospect"] == id.as_str())
        .collect();
    assert!(!wakes.is_empty(), "{page}");
    daemon.stop().await;
}
