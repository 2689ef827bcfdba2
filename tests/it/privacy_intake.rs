//! Opt-out decided at intake, whatever the state of the sender's prospects: a free-text opt-out
//! ("Merci de ne plus me contacter") reaching a completed prospect, a prospect taken over by an
//! operator, a workflow without an `ai` step, a prospect whose AI provider is down, or nobody at
//! all is written in the same batch as the message (the suppression is there when the webhook
//! answers), every campaign of the person stops, and nothing is sent afterwards.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::ai_support::{answer, api_error, openai_settings, respond, wait_requests};
use crate::harness::write_definitions;
use crate::privacy_support::{Node, OPERATOR, settings_with_roles};

const ONE_SHOT: &str = "id: one-shot
channel: sms
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: bye, end: done }
";

const LISTEN: &str = "id: listen
channel: sms
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: wait, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: bye, end: done }
";

const DRIP: &str = "id: drip
channel: email
steps:
  - { id: first, send: { template: mail.j2 } }
  - { id: pause1, wait: { duration: 1d } }
  - { id: second, send: { template: mail.j2 } }
  - { id: pause2, wait: { duration: 1d } }
  - { id: third, send: { template: mail.j2 } }
  - { id: bye, end: done }
";

const QUALIFY: &str = "id: qualify
channel: sms
fields:
  budget: { type: number, description: Monthly budget, ask: \"Quel budget ?\" }
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: wait, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: read, ai: { prompt: hello.j2, extract: [budget], reply: true } }
  - { id: again, wait_reply: { timeout: 30d, on_timeout: bye }, next: read }
  - { id: bye, end: done }
";

fn definitions(dir: &std::path::Path) {
    write_definitions(
        dir,
        &[("one-shot", ONE_SHOT), ("listen", LISTEN), ("drip", DRIP), ("qualify", QUALIFY)],
        &[("hello.j2", "Bonjour !"), ("mail.j2", "Nouvelles. Se désabonner : {{ unsubscribe_url }}")],
    );
}

/// Asserts the person's contact is suppressed right when the inbound webhook answered: a new
/// import of it is refused as opted out.
async fn refused_at_once(node: &Node, body: Value) {
    let (status, answer) = node.post("/v1/prospects", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    assert!(answer["error"].to_string().contains("opted out"), "{answer}");
}

/// Asserts the conversation of `id` does not grow any more.
async fn nothing_more_sent(node: &Node, id: &str) {
    let before = node.messages(id).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = node.messages(id).await;
    assert_eq!(before.len(), after.len(), "messages after the opt-out: {after:#?}");
    assert!(
        after.iter().filter(|m| m["direction"] == "outbound").all(|m| m["status"] != "queued"),
        "a send still pending: {after:#?}"
    );
}

#[tokio::test]
async fn a_plain_words_opt_out_on_a_completed_prospect_stops_the_persons_other_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let (phone, email) = ("+33611110001", "marie.completed@example.com");
    let done = node.import(json!({"workflow": "one-shot", "phone": phone, "email": email})).await;
    let drip = node.import(json!({"workflow": "drip", "email": email})).await;
    node.wait_for(&done, "completed", |v| v["status"] == "completed").await;
    node.wait_for(&drip, "first email sent", |v| v["step"] == "pause1").await;

    node.inbound("sms", phone, "Merci de ne plus me contacter", "SM-completed-1").await;
    refused_at_once(&node, json!({"workflow": "drip", "email": email})).await;
    refused_at_once(&node, json!({"workflow": "listen", "phone": phone})).await;
    let view = node.wait_for(&drip, "the drip stops", |v| v["status"] == "unsubscribed").await;
    assert!(view["next_wake_up"].is_null(), "{view}");
    nothing_more_sent(&node, &drip).await;
    node.stop().await;
}

#[tokio::test]
async fn an_opt_out_during_an_operator_takeover_blocks_the_operators_next_message() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let phone = "+33611110002";
    let id = node.import(json!({"workflow": "listen", "phone": phone})).await;
    node.wait_for(&id, "waiting for a reply", |v| v["step"] == "wait").await;
    let path = format!("/v1/prospects/{id}/messages");
    let (status, answer) = node.call(Method::POST, OPERATOR, &path, Some(&json!({"text": "Je vous appelle ?"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    node.wait_for(&id, "taken over", |v| v["status"] == "paused").await;

    node.inbound("sms", phone, "Arrêtez de m'écrire", "SM-takeover-1").await;
    refused_at_once(&node, json!({"workflow": "one-shot", "phone": phone})).await;
    node.wait_for(&id, "unsubscribed", |v| v["status"] == "unsubscribed").await;
    let promo = json!({"text": "Dernière chance : -20 % cette semaine"});
    let (status, answer) = node.call(Method::POST, OPERATOR, &path, Some(&promo)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    nothing_more_sent(&node, &id).await;
    node.stop().await;
}

#[tokio::test]
async fn an_email_drip_without_an_ai_step_stops_on_a_plain_words_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let email = "paul.drip@example.com";
    let id = node.import(json!({"workflow": "drip", "email": email})).await;
    node.wait_for(&id, "first email sent", |v| v["step"] == "pause1").await;
    node.inbound("email", email, "Bonjour,\n\nDésabonnez-moi s'il vous plaît.\n\nPaul", "mail-drip-1").await;
    refused_at_once(&node, json!({"workflow": "drip", "email": email})).await;
    let view = node.wait_for(&id, "unsubscribed", |v| v["status"] == "unsubscribed").await;
    assert!(view["next_wake_up"].is_null(), "the next email's timer is gone: {view}");
    let sent = node.messages(&id).await.iter().filter(|m| m["direction"] == "outbound").count();
    assert_eq!(sent, 1, "only the first email went out");
    nothing_more_sent(&node, &id).await;
    node.stop().await;
}

#[tokio::test]
async fn an_opt_out_while_the_ai_provider_is_down_is_decided_by_the_lexicon() {
    let server = wiremock::MockServer::start().await;
    respond(&server, api_error(500, "server_error"), None).await;
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = openai_settings(dir.path(), &server, 0);
    settings.admin_tokens = settings_with_roles(dir.path()).admin_tokens;
    let node = Node::start(settings).await;
    let (phone, email) = ("+33611110003", "lea.aidown@example.com");
    let ai = node.import(json!({"workflow": "qualify", "phone": phone, "email": email})).await;
    let drip = node.import(json!({"workflow": "drip", "email": email})).await;
    node.wait_for(&ai, "waiting for a reply", |v| v["step"] == "wait").await;
    node.wait_for(&drip, "first email sent", |v| v["step"] == "pause1").await;

    node.inbound("sms", phone, "je ne souhaite plus être contactée", "SM-aidown-1").await;
    refused_at_once(&node, json!({"workflow": "drip", "email": email})).await;
    for id in [&ai, &drip] {
        node.wait_for(id, "unsubscribed everywhere", |v| v["status"] == "unsubscribed").await;
    }
    nothing_more_sent(&node, &drip).await;
    nothing_more_sent(&node, &ai).await;
    node.stop().await;
}

#[tokio::test]
async fn an_opt_out_from_someone_with_no_prospect_is_kept_and_blocks_a_later_import() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    let phone = "+33611110004";
    node.inbound("sms", phone, "Ne me contactez plus, merci", "SM-nobody-1").await;
    refused_at_once(&node, json!({"workflow": "listen", "phone": phone})).await;
    let (status, export) = node.post("/v1/privacy/export", &json!({"phone": phone})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["suppressed_contacts"][0]["cause"], "stop_word", "{export}");
    node.stop().await;
}

#[tokio::test]
async fn while_a_message_awaits_ai_classification_the_persons_other_sends_are_held() {
    let server = wiremock::MockServer::start().await;
    let opt_out = json!({"fields": {"budget": null}, "reply": null, "intent": "opt_out"});
    respond(&server, answer(opt_out).set_delay(Duration::from_millis(1500)), None).await;
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = openai_settings(dir.path(), &server, 0);
    settings.admin_tokens = settings_with_roles(dir.path()).admin_tokens;
    let node = Node::start(settings).await;
    let (phone, email) = ("+33611110004", "jean.pending@example.com");
    let ai = node.import(json!({"workflow": "qualify", "phone": phone, "email": email})).await;
    let drip = node.import(json!({"workflow": "drip", "email": email})).await;
    node.wait_for(&ai, "waiting for a reply", |v| v["step"] == "wait").await;
    node.wait_for(&drip, "first email sent", |v| v["step"] == "pause1").await;

    // Words the lexicon lets through; only the model reads them as an objection.
    node.inbound("sms", phone, "Vous êtes qui ? Je n'ai rien demandé, moi", "SM-pending-1").await;
    wait_requests(&server, 1, Duration::from_secs(10)).await;
    let path = format!("/v1/prospects/{drip}/messages");
    let (status, answer) =
        node.call(Method::POST, OPERATOR, &path, Some(&json!({"text": "Une offre pour vous"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let operator = |messages: &[Value]| messages.iter().find(|m| m["text"] == "Une offre pour vous").cloned();
    let held = operator(&node.messages(&drip).await).expect("the operator's message is recorded");
    assert_eq!(held["status"], "queued", "held while the model classifies the person's message: {held}");

    for id in [&ai, &drip] {
        node.wait_for(id, "the model's opt-out reaches every campaign", |v| v["status"] == "unsubscribed").await;
    }
    let after = operator(&node.messages(&drip).await).unwrap();
    assert_eq!(after["status"], "cancelled", "never sent: {after}");
    nothing_more_sent(&node, &drip).await;
    node.stop().await;
}
