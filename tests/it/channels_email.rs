//! Email, end to end: the daemon binary (its Mailgun and Postmark secrets come from the
//! environment) sends real SMTP through lettre to an in-process SMTP server, and takes replies
//! from the Mailgun and Postmark inbound webhooks.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels_support::{
    Api, DaemonProcess, MAILGUN_KEY, POSTMARK_SECRET, SmtpSink, error_code, fixture, form_of, inbound, mailgun_body,
    outbound,
};
use crate::harness::write_definitions;

const EMAIL: &str = "camille.martin@example.org";
const WORKFLOW: &str = "id: mail
channel: email
entry: { import: true, inbound: email }
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 1h, on_timeout: bye } }
  - { id: thanks, send: { template: thanks.j2 } }
  - { id: bye, end: done }
";
const HELLO: &str = "Subject: Your solar project\n\nHello {{ prospect.first_name }},\nHow many people are you?\n\nUnsubscribe: {{ unsubscribe_url }}";

async fn start(dir: &std::path::Path, sink: &SmtpSink) -> DaemonProcess {
    write_definitions(
        dir,
        &[("mail", WORKFLOW)],
        &[("hello.j2", HELLO), ("thanks.j2", "Thanks! You said: {{ last_reply }}")],
    );
    DaemonProcess::start(dir, sink.port).await
}

/// The Mailgun fixture's fields, re-signed now with a fresh token, with some fields replaced.
fn mailgun_reply(replace: &[(&str, &str)], token: &str, timestamp: i64) -> String {
    let mut fields = form_of(&fixture("mailgun-inbound.body"));
    fields.retain(|(name, _)| !replace.iter().any(|(r, _)| r == name));
    fields.extend(replace.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())));
    mailgun_body(&fields, timestamp, token, MAILGUN_KEY)
}

async fn post_mailgun(api: &Api, body: String) -> (StatusCode, Value) {
    let response = api
        .client
        .post(format!("{}/webhooks/email/mailgun", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn an_email_conversation_carries_routing_and_unsubscribe_headers_and_replies_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start();
    let daemon = start(dir.path(), &sink).await;
    let api = &daemon.api;
    let id = api.import(json!({"workflow": "mail", "name": "Camille Martin", "email": EMAIL})).await;
    let emails = sink.wait(1).await;
    let first = &emails[0];
    assert!(first.to.iter().any(|to| to.contains(EMAIL)), "{first:?}");
    let message_id = first.header("Message-ID").unwrap();
    assert!(message_id.starts_with(&format!("<{id}.")) && message_id.ends_with("@example.com>"), "{message_id}");
    assert_eq!(first.header("Reply-To").as_deref(), Some(format!("leads+{id}@mail.example.com").as_str()));
    let unsubscribe = first.header("List-Unsubscribe").unwrap();
    assert!(unsubscribe.starts_with("<https://leads.example.com/u/") && unsubscribe.ends_with('>'), "{unsubscribe}");
    assert_eq!(first.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    assert_eq!(first.header("Subject").as_deref(), Some("Your solar project"));
    assert!(first.header("From").unwrap().contains("leads@example.com"));
    assert!(first.data.contains("Hello Camille,") && !first.data.contains("Subject: Your solar project\r\n\r\nHello"));
    api.wait_messages(&id, "greeting sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;

    // The reply comes through Mailgun from another address of hers, quoted text and all: the
    // plus-address routes it (no In-Reply-To here), and only the new text is kept.
    let recipient = format!("leads+{id}@mail.example.com");
    let replace = [
        ("recipient", recipient.as_str()),
        ("from", "Camille <camille@home.example.net>"),
        ("sender", "camille@home.example.net"),
        ("In-Reply-To", ""),
        ("message-headers", ""),
        ("stripped-text", ""),
    ];
    let reply = mailgun_reply(&replace, "token-conversation-1", chrono::Utc::now().timestamp());
    let (status, answer) = post_mailgun(api, reply).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"status": "recorded", "prospect": id}));
    let messages = api.wait_messages(&id, "thanks sent", |m| outbound(m).len() == 2 && m[2]["status"] == "sent").await;
    let text = inbound(&messages)[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Bonjour,") && text.ends_with("Camille") && !text.contains('>'), "{text}");
    let emails = sink.wait(2).await;
    assert_eq!(emails[1].header("Subject").as_deref(), Some("Thanks! You said: Bonjour,"));
    assert_ne!(emails[1].header("Message-ID"), Some(message_id));
}

#[tokio::test]
async fn mailgun_refuses_bad_signatures_stale_timestamps_and_replayed_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start();
    let daemon = start(dir.path(), &sink).await;
    let api = &daemon.api;
    let id = api.import(json!({"workflow": "mail", "email": "ada@example.org"})).await;
    api.wait_messages(&id, "greeting sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;
    let now = chrono::Utc::now().timestamp();
    // An unknown sender answering our email: routed by its In-Reply-To.
    let in_reply_to = format!("<{id}.1@example.com>");
    let reply = |token: &str, at: i64, message_id: &str| {
        mailgun_reply(&[("In-Reply-To", &in_reply_to), ("Message-Id", message_id)], token, at)
    };

    let forged = reply("token-a", now, "<m1@example.org>").replace("signature=", "signature=00");
    let (status, body) = post_mailgun(api, forged).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invalid_signature"));
    let (status, body) = post_mailgun(api, reply("token-b", now - 16 * 60, "<m1@example.org>")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invalid_signature"), "stale");
    let (status, _) = post_mailgun(api, String::from_utf8(fixture("mailgun-inbound.body")).unwrap()).await;
    let fixture_age = (now - 1_796_040_100).abs();
    let expected = if fixture_age > 15 * 60 { StatusCode::FORBIDDEN } else { StatusCode::OK };
    assert_eq!(status, expected, "the fixture replayed as is, signed at a fixed time");
    assert!(inbound(&api.messages(&id).await).is_empty(), "nothing recorded");

    let (status, answer) = post_mailgun(api, reply("token-c", now, "<m1@example.org>")).await;
    assert_eq!((status, answer.clone()), (StatusCode::OK, json!({"status": "recorded", "prospect": id})));
    // Mailgun retrying the same post: acknowledged, applied once.
    let (status, answer) = post_mailgun(api, reply("token-c", now, "<m1@example.org>")).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("duplicate")));
    // The same token and signature on another message: a replay.
    let (status, body) = post_mailgun(api, reply("token-c", now, "<m2@example.org>")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invalid_signature"));
    let messages = api.wait_messages(&id, "one reply applied", |m| outbound(m).len() == 2).await;
    assert_eq!(inbound(&messages).len(), 1, "{messages:#?}");
}

/// The replay guard outlives the process: a token seen before a restart, with another body
/// after it, is still a replay.
#[tokio::test]
async fn a_mailgun_token_is_still_known_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start();
    let daemon = start(dir.path(), &sink).await;
    let id = daemon.api.import(json!({"workflow": "mail", "email": "ada@example.org"})).await;
    daemon.api.wait_messages(&id, "greeting sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;
    let now = chrono::Utc::now().timestamp();
    let in_reply_to = format!("<{id}.1@example.com>");
    let reply =
        |message_id: &str| mailgun_reply(&[("In-Reply-To", &in_reply_to), ("Message-Id", message_id)], "token-r", now);
    let (status, _) = post_mailgun(&daemon.api, reply("<r1@example.org>")).await;
    assert_eq!(status, StatusCode::OK);
    drop(daemon); // SIGKILL
    let daemon = DaemonProcess::start(dir.path(), sink.port).await;
    let (status, body) = post_mailgun(&daemon.api, reply("<r2@example.org>")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invalid_signature"), "replayed after a restart");
    let (status, answer) = post_mailgun(&daemon.api, reply("<r1@example.org>")).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("duplicate")), "Mailgun's own retry");
}

#[tokio::test]
async fn postmark_replies_are_taken_with_the_url_secret_or_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start();
    let daemon = start(dir.path(), &sink).await;
    let api = &daemon.api;
    let id = api.import(json!({"workflow": "mail", "email": EMAIL})).await;
    api.wait_messages(&id, "greeting sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;
    let post = |path: &str| {
        api.client
            .post(format!("{}{path}", api.base))
            .header("content-type", "application/json")
            .body(fixture("postmark-inbound.json"))
    };

    let response = post("/webhooks/email/postmark/not-the-secret").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post("/webhooks/email/postmark").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no basic auth");
    assert!(api.messages(&id).await.len() == 1, "nothing recorded");

    let response = post(&format!("/webhooks/email/postmark/{POSTMARK_SECRET}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Routed by the sender: the fixture's MailboxHash and In-Reply-To name a prospect not here.
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "recorded", "prospect": id}));
    let response = post("/webhooks/email/postmark").basic_auth("postmark", Some(POSTMARK_SECRET)).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "duplicate");
    let messages = api.wait_messages(&id, "thanks sent", |m| outbound(m).len() == 2).await;
    assert_eq!(inbound(&messages).len(), 1);
    assert_eq!(inbound(&messages)[0]["text"], "Oui, nous sommes 40 personnes. Budget 3000 EUR/mois.");
}

#[tokio::test]
async fn an_smtp_refusal_fails_the_email_without_retries() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start();
    let daemon = start(dir.path(), &sink).await;
    let api = &daemon.api;
    let id = api.import(json!({"workflow": "mail", "email": "bounce@example.org"})).await;
    let messages = api.wait_messages(&id, "send failed", |m| m.len() == 1 && m[0]["status"] == "failed").await;
    let error = messages[0]["error"].as_str().unwrap();
    assert!(error.contains("550") && !error.contains("bounce@"), "{error}");
    assert_eq!(sink.refused(), 1, "a 5xx refusal is not retried");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_notify_step_emails_the_team_without_prospect_routing_headers() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start();
    let workflow = "id: alert
channel: email
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: tell_sales, notify: { email: sales@example.com, template: alert.j2 } }
  - { id: done, end: qualified }
";
    write_definitions(
        dir.path(),
        &[("alert", workflow)],
        &[("hello.j2", HELLO), ("alert.j2", "Subject: New lead\n\nLead {{ prospect.name }} is ready.")],
    );
    let daemon = DaemonProcess::start(dir.path(), sink.port).await;
    daemon.api.import(json!({"workflow": "alert", "name": "Camille Martin", "email": EMAIL})).await;
    let emails = sink.wait(2).await;
    let team = emails.iter().find(|e| e.to.iter().any(|to| to.contains("sales@example.com"))).expect("team email");
    assert_eq!(team.header("Subject").as_deref(), Some("New lead"));
    assert!(team.data.contains("Lead Camille Martin is ready."), "{team:?}");
    assert_eq!(team.header("List-Unsubscribe"), None);
    assert_eq!(team.header("Reply-To"), None);
}
