//! The `openai` provider in the real daemon against a wiremock Chat Completions server: valid
//! answers, validation retries, failure paths, rate limits, outages, and what the request carries
//! (strict JSON schema, no internal ids, masked contact details).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

use crate::ai_support::{
    answer, api_error, completion, full_answer, messages, openai_settings, respond, wait_requests, write_workflows,
};
use crate::harness::Daemon;

const SECS_5: Duration = Duration::from_secs(5);

/// Starts the daemon on `server`, imports a prospect into `workflow` and has them reply `text`:
/// the prospect is then at its `ai` step.
async fn start(server: &MockServer, dir: &std::path::Path, max_retries: u32) -> Daemon {
    write_workflows(dir);
    Daemon::start_with(openai_settings(dir, server, max_retries)).await
}

async fn reply_to_greeting(daemon: &Daemon, workflow: &str, phone: &str, text: &str) -> String {
    let id = daemon.import(json!({ "workflow": workflow, "name": "Ada Lovelace", "phone": phone })).await;
    daemon.wait_for(&id, SECS_5, |v| v["step"] == "listen").await;
    daemon.inbound("sms", phone, text, &format!("SM-{phone}")).await;
    id
}

#[tokio::test]
async fn a_valid_answer_is_stored_its_reply_sent_and_the_request_is_strict_and_masked() {
    let server = MockServer::start().await;
    let reply = "Merci ! Êtes-vous la personne qui décide ?";
    respond(&server, answer(full_answer(reply)), None).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&server, dir.path(), 3).await;
    let text = "Budget 1500 €/mois, tout de suite. Appelez-moi au 06 11 22 33 44 ou écrivez à ada.l@example.com";
    let id = reply_to_greeting(&daemon, "lead", "+33612345601", text).await;

    let view = daemon.wait_for(&id, SECS_5, |v| v["fields"]["budget"] == 1500).await;
    assert_eq!(view["fields"], json!({ "budget": 1500, "timeline": "now" }), "nulls are not stored");
    assert_eq!((view["step"].as_str(), view["status"].as_str()), (Some("ask_missing"), Some("waiting")));
    let sent = daemon.wait_messages(&id, 3).await;
    assert_eq!((sent[2]["text"].as_str(), sent[2]["human"].as_bool()), (Some(reply), Some(false)));

    let bodies = wait_requests(&server, 1, SECS_5).await;
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["response_format"]["type"], "json_schema");
    let format = &body["response_format"]["json_schema"];
    assert_eq!(format["strict"], true);
    assert_eq!(format["schema"]["additionalProperties"], false);
    assert_eq!(format["schema"]["properties"]["fields"]["properties"]["budget"]["type"], json!(["number", "null"]));
    assert_eq!(format["schema"]["properties"]["next"]["enum"], json!(["ask_missing", "qualified", null]));
    let said = messages(body);
    assert_eq!(said.iter().map(|(role, _)| role.as_str()).collect::<Vec<_>>(), ["system", "user"]);
    assert!(said[0].1.starts_with("You qualify solar leads."), "{}", said[0].1);
    assert!(said[1].1.contains("us: Hello Ada! Tell us about your project.\nprospect: Budget 1500"), "{}", said[1].1);
    assert!(said[1].1.contains("Appelez-moi au [phone] ou écrivez à [email]"), "{}", said[1].1);
    let raw = body.to_string();
    let version = view["workflow_version"].as_str().unwrap();
    for secret in [id.as_str(), version, "06 11 22 33 44", "ada.l@example.com", "+33612345601", "33612345601"] {
        assert!(!raw.contains(secret), "the request carries `{secret}`: {raw}");
    }
    let metrics = daemon.client.get(format!("{}/metrics", daemon.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("qualifyd_ai_tokens_total{kind=\"prompt\"}"), "{metrics}");
    assert!(metrics.contains("qualifyd_ai_tokens_total{kind=\"completion\"}"), "{metrics}");
    daemon.stop().await;
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_asked_again_once_with_the_problem_fed_back() {
    let server = MockServer::start().await;
    let chatty = "Sure! The budget is 1500 and they want to start now.";
    respond(&server, ResponseTemplate::new(200).set_body_json(completion(chatty)), Some(1)).await;
    respond(&server, answer(full_answer("Thanks!")), None).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&server, dir.path(), 3).await;
    let id = reply_to_greeting(&daemon, "lead", "+33612345602", "1500 a month, asap").await;

    daemon.wait_for(&id, SECS_5, |v| v["fields"]["budget"] == 1500).await;
    let bodies = wait_requests(&server, 2, SECS_5).await;
    assert_eq!(bodies.len(), 2, "asked again exactly once");
    let second = messages(&bodies[1]);
    assert_eq!(second.len(), 4, "{second:?}");
    assert_eq!(second[2], ("assistant".to_string(), chatty.to_string()));
    assert_eq!(second[3].0, "user");
    assert!(second[3].1.starts_with("Your answer was refused: the answer is not valid JSON"), "{}", second[3].1);
    assert_eq!(bodies[1]["response_format"], bodies[0]["response_format"]);
    daemon.stop().await;
}

#[tokio::test]
async fn a_wrong_type_twice_fails_the_prospect_or_takes_the_failure_path() {
    let server = MockServer::start().await;
    let wrong = json!({ "fields": { "budget": "lots", "timeline": null, "decision_maker": null },
                        "reply": "Great!", "next": null, "intent": null });
    respond(&server, answer(wrong), None).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&server, dir.path(), 3).await;
    let strict = reply_to_greeting(&daemon, "lead", "+33612345603", "lots of money").await;
    let lenient = reply_to_greeting(&daemon, "lead_fallback", "+33612345604", "lots of money").await;

    let view = daemon.wait_for(&strict, SECS_5, |v| v["status"] == "failed").await;
    let reason = view["status_detail"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "step `qualify` failed: the model's answer failed validation twice: `fields.budget` must be a JSON number"
        ),
        "{reason}"
    );
    assert!(!reason.contains("lots"), "the model's value stays out of the reason: {reason}");
    assert_eq!(view["fields"], json!({}), "a value of the wrong type is never stored");
    let view = daemon.wait_for(&lenient, SECS_5, |v| v["status"] == "completed").await;
    assert_eq!(view["status_detail"], "needs_review");
    assert_eq!(wait_requests(&server, 4, SECS_5).await.len(), 4, "two attempts per prospect");
    assert_eq!(daemon.messages(&strict).await.len(), 2, "no reply from a refused answer");
    daemon.stop().await;
}

#[tokio::test]
async fn an_unknown_enum_value_is_refused_and_a_synonym_maps_to_its_value() {
    let server = MockServer::start().await;
    let unknown = json!({ "fields": { "budget": 1200, "timeline": "someday", "decision_maker": true },
                          "reply": null, "next": null, "intent": "positive" });
    let synonym = json!({ "fields": { "budget": 1200, "timeline": "ASAP", "decision_maker": true },
                          "reply": null, "next": "qualified", "intent": "positive" });
    respond(&server, answer(unknown), Some(1)).await;
    respond(&server, answer(synonym), None).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&server, dir.path(), 3).await;
    let id = reply_to_greeting(&daemon, "lead", "+33612345605", "1200, someday soon, I decide").await;

    let view = daemon.wait_for(&id, SECS_5, |v| v["status"] == "completed").await;
    assert_eq!(view["fields"], json!({ "budget": 1200, "timeline": "now", "decision_maker": true }));
    assert_eq!(view["status_detail"], "qualified", "the chosen next step");
    let bodies = wait_requests(&server, 2, SECS_5).await;
    let feedback = &messages(&bodies[1])[3].1;
    assert!(feedback.contains("`fields.timeline` must be one of now, this_quarter, later, or null"), "{feedback}");
    daemon.stop().await;
}

#[tokio::test]
async fn a_429_is_retried_within_the_call_then_answered() {
    let server = MockServer::start().await;
    respond(&server, api_error(429, "rate_limit_error"), Some(1)).await;
    respond(&server, answer(full_answer("Thanks!")), None).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&server, dir.path(), 3).await;
    let id = reply_to_greeting(&daemon, "lead", "+33612345606", "1500, asap").await;

    let view = daemon.wait_for(&id, SECS_5, |v| v["fields"]["budget"] == 1500).await;
    assert_eq!(view["step"], "ask_missing");
    assert_eq!(wait_requests(&server, 2, SECS_5).await.len(), 2, "one 429, one success");
    daemon.stop().await;
}

#[tokio::test]
async fn a_client_error_fails_for_good_without_retrying() {
    let server = MockServer::start().await;
    respond(&server, api_error(400, "invalid_request_error"), None).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&server, dir.path(), 3).await;
    let id = reply_to_greeting(&daemon, "lead", "+33612345607", "1500").await;

    let view = daemon.wait_for(&id, SECS_5, |v| v["status"] == "failed").await;
    let reason = view["status_detail"].as_str().unwrap();
    assert!(reason.contains("the AI server refused the request (400 Bad Request)"), "{reason}");
    assert_eq!(wait_requests(&server, 1, SECS_5).await.len(), 1);
    daemon.stop().await;
}

#[tokio::test]
async fn server_errors_keep_the_prospect_on_its_ai_step_until_the_server_recovers() {
    let server = MockServer::start().await;
    respond(&server, ResponseTemplate::new(500).set_body_string("upstream is down"), None).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&server, dir.path(), 0).await;
    let id = reply_to_greeting(&daemon, "lead", "+33612345608", "1500, tout de suite").await;

    wait_requests(&server, 2, Duration::from_secs(10)).await;
    let view = daemon.prospect(&id).await;
    assert_eq!((view["status"].as_str(), view["step"].as_str()), (Some("active"), Some("qualify")), "{view}");
    assert_eq!(view["fields"], json!({}));

    server.reset().await;
    respond(&server, answer(full_answer("Merci !")), None).await;
    let view = daemon.wait_for(&id, Duration::from_secs(20), |v| v["fields"]["budget"] == 1500).await;
    assert_eq!(view["step"], "ask_missing");
    let sent: Vec<Value> = daemon.wait_messages(&id, 3).await;
    assert_eq!(sent[2]["text"], "Merci !");
    daemon.stop().await;
}
