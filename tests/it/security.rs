//! Security regressions on the real daemon (issue 14): the generic inbound webhook is closed by
//! default and never lifts an opt-out, `Host` must name the daemon, and consent changes only on
//! a sender a provider vouches for.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels_support::{PUBLIC_URL, post_twilio_sms};
use crate::harness::{INBOUND, write_definitions};
use crate::privacy_support::{Node, settings_with_roles};
use qualifyd::settings::{InboundWebhook, SmsDriver};

const SMS_FLOW: &str = "id: sms-flow
channel: sms
entry: { inbound: sms }
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: bye, end: done }
";

pub fn definitions(dir: &std::path::Path) {
    write_definitions(dir, &[("sms-flow", SMS_FLOW)], &[("hello.j2", "Hello!")]);
}

async fn post_inbound(node: &Node, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut request = node.client.post(format!("{}/webhooks/inbound", node.base)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn sms(from: &str, text: &str, id: &str) -> Value {
    json!({"channel": "sms", "from": from, "text": text, "id": id})
}

#[tokio::test]
async fn the_generic_inbound_webhook_is_closed_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = settings_with_roles(dir.path());
    settings.inbound_webhook = InboundWebhook::Disabled;
    let node = Node::start(settings.clone()).await;
    let (status, body) = post_inbound(&node, None, &sms("+33611110000", "hello", "SM-open-1")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("inbound_webhook_disabled")));
    assert!(body["error"]["message"].as_str().unwrap().contains("inbound_token"), "{body}");
    let (status, listing) = node.get("/v1/prospects").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["items"].as_array().map(Vec::len), Some(0), "nothing started: {listing}");
    node.stop().await;

    // Open without a token is refused on anything but loopback, whatever the settings said.
    settings.inbound_webhook = InboundWebhook::Open;
    settings.listen = "0.0.0.0:0".parse().unwrap();
    let refused = qualifyd::app::start(settings).await.err().expect("an open webhook on 0.0.0.0 must not start");
    assert!(refused.to_string().contains("loopback"), "{refused}");
}

#[tokio::test]
async fn a_host_that_does_not_name_the_daemon_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let node = Node::start(settings_with_roles(dir.path())).await;
    // A DNS-rebinding page: the browser sends the attacker's name.
    let response = node
        .client
        .post(format!("{}/webhooks/inbound", node.base))
        .header("host", "attacker.example:8080")
        .bearer_auth(INBOUND)
        .json(&sms("+33611110001", "hello", "SM-host-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_host", "{body}");
    for host in ["localhost", "127.0.0.1:1"] {
        let response = node.client.get(format!("{}/healthz", node.base)).header("host", host).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    node.stop().await;
}

#[tokio::test]
async fn start_from_the_generic_webhook_never_lifts_an_opt_out() {
    let twilio_api = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(201).set_body_json(json!({"sid": "SMsent", "status": "queued"})))
        .mount(&twilio_api)
        .await;
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = settings_with_roles(dir.path());
    settings.public_url = PUBLIC_URL.to_string();
    settings.channels.sms = Some(crate::channels_support::twilio(&twilio_api.uri()));
    assert!(matches!(settings.channels.sms, Some(SmsDriver::Twilio(_))));
    let node = Node::start(settings).await;
    let phone = "+33611112222";
    node.import(json!({"workflow": "sms-flow", "phone": phone})).await;
    // STOP through the token-guarded webhook applies (opting out is always safe).
    let (status, _) = post_inbound(&node, Some(INBOUND), &sms(phone, "STOP", "SM-stop-1")).await;
    assert_eq!(status, StatusCode::OK);
    let import = json!({"workflow": "sms-flow", "phone": phone});
    let (status, _) = node.post("/v1/prospects", &import).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "opted out");

    // A forged START, even with the token, is recorded for an operator and changes nothing.
    let (status, _) = post_inbound(&node, Some(INBOUND), &sms(phone, "START", "SM-start-forged")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = node.post("/v1/prospects", &import).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a forged START lifted the opt-out: {answer}");
    let log = node.engine().privacy_requests(None, 100).unwrap();
    let rejected = log.requests.iter().find(|r| format!("{:?}", r.request.kind) == "OptIn").expect("logged");
    assert_eq!(format!("{:?}", rejected.request.status), "Rejected");
    assert!(rejected.request.detail.as_deref().unwrap().contains("consent not changed"), "{rejected:?}");

    // The same word signed by Twilio is the person: it opts the number back in.
    let response = post_twilio_sms(&node.client, &node.base, phone, "START", "SM-start-signed").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, answer) = node.post("/v1/prospects", &import).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    node.stop().await;
}

const MAIL_FLOW: &str = "id: mail-flow
channel: email
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: bye } }
  - { id: bye, end: done }
";

/// A Postmark inbound JSON from `from` saying `text`, with `headers` as Postmark passes them.
fn postmark(from: &str, text: &str, id: &str, headers: Value) -> Value {
    json!({"MessageID": id, "From": from, "FromFull": {"Email": from}, "To": "leads@example.com",
           "TextBody": text, "Headers": headers})
}

#[tokio::test]
async fn an_email_changes_consent_only_with_the_providers_verdict() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(dir.path(), &[("mail-flow", MAIL_FLOW)], &[("hello.j2", "Subject: Hi\n\nHello!")]);
    let mut settings = settings_with_roles(dir.path());
    settings.postmark_secret = Some(qualifyd::settings::Secret::new("pm-secret"));
    let node = Node::start(settings).await;
    let email = "camille.consent@example.org";
    let id = node.import(json!({"workflow": "mail-flow", "email": email})).await;
    node.wait_for(&id, "waiting for a reply", |v| v["step"] == "listen").await;
    let url = format!("{}/webhooks/email/postmark/pm-secret", node.base);

    // Anyone can write `From: camille…`: without SPF/DKIM passing, STOP is recorded, not applied.
    let forged = postmark(
        email,
        "STOP",
        "<forged-1@example.org>",
        json!([{"Name": "Received-SPF", "Value": "Fail (sender not authorized)"}]),
    );
    let response = node.client.post(&url).json(&forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let view = node.prospect(&id).await;
    assert_eq!(view["status"], "waiting", "a forged email unsubscribed someone: {view}");
    let log = node.engine().privacy_requests(None, 100).unwrap();
    let held =
        log.requests.iter().find(|r| format!("{:?}", r.request.kind) == "OptOut").expect("logged for an operator");
    assert_eq!(format!("{:?}", held.request.status), "Rejected");

    // The same STOP with Postmark's SPF pass is the person's.
    let genuine = postmark(
        email,
        "STOP",
        "<genuine-1@example.org>",
        json!([{"Name": "Received-SPF", "Value": "Pass (mailfrom) identity=mailfrom"}]),
    );
    let response = node.client.post(&url).json(&genuine).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    node.wait_for(&id, "unsubscribed", |v| v["status"] == "unsubscribed").await;
    node.stop().await;
}

#[tokio::test]
async fn a_replayed_provider_message_cannot_undo_an_erasure() {
    let twilio_api = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(201).set_body_json(json!({"sid": "SMsent", "status": "queued"})))
        .mount(&twilio_api)
        .await;
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = settings_with_roles(dir.path());
    settings.public_url = PUBLIC_URL.to_string();
    settings.channels.sms = Some(crate::channels_support::twilio(&twilio_api.uri()));
    let node = Node::start(settings).await;
    let phone = "+33611114444";
    let sid = "SMerase0000000000000000000000001";
    let response = post_twilio_sms(&node.client, &node.base, phone, "Bonjour, un devis ?", sid).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, page) = node.get("/v1/prospects").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let (status, receipt) = node.post("/v1/privacy/erase", &json!({"phone": phone})).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");

    // Twilio signatures never expire: the same signed request, replayed, is a known duplicate.
    let response = post_twilio_sms(&node.client, &node.base, phone, "Bonjour, un devis ?", sid).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, page) = node.get("/v1/prospects").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "the erased person came back: {page}");
    node.stop().await;
    // The tombstone is a keyed hash: the provider's id is nowhere on disk in clear.
    let found = crate::privacy_support::plaintext_in(dir.path(), &[sid]);
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test]
async fn header_schemes_are_case_insensitive_and_patch_takes_only_an_object() {
    let dir = tempfile::tempdir().unwrap();
    write_definitions(dir.path(), &[("mail-flow", MAIL_FLOW)], &[("hello.j2", "Subject: Hi\n\nHello!")]);
    let mut settings = settings_with_roles(dir.path());
    settings.postmark_secret = Some(qualifyd::settings::Secret::new("pm-secret"));
    let node = Node::start(settings).await;
    let id = node.import(json!({"workflow": "mail-flow", "email": "ada.case@example.org"})).await;
    let (status, answer) = node
        .call(reqwest::Method::PATCH, crate::harness::ADMIN, &format!("/v1/prospects/{id}"), Some(&json!(["Ada"])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an array is no change: {answer}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("postmark:pm-secret");
    let body = postmark("ada.case@example.org", "Bonjour", "<case-1@example.org>", json!([]));
    let response = node
        .client
        .post(format!("{}/webhooks/email/postmark", node.base))
        .header("authorization", format!("basic {basic}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "`basic` is `Basic`");
    node.stop().await;
}

#[tokio::test]
async fn a_generated_admin_token_goes_to_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    definitions(dir.path());
    let mut settings = settings_with_roles(dir.path());
    settings.admin_token = None;
    let app = crate::harness::start_app(settings.clone()).await;
    let file = app.generated_admin_token_file.clone().expect("the generated token is written to a file");
    assert_eq!(file, settings.data_dir.join("admin.token"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), app.admin_token);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    app.shutdown().await;
}
