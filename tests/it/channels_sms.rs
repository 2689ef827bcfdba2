//! SMS through Twilio, end to end: the real daemon on loopback sends through the Twilio driver
//! to a wiremock stand-in (asserting the form fields and basic auth on the wire), and takes
//! Twilio's signed webhooks replayed byte for byte from the fixtures.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::channels_support::{
    Api, PUBLIC_URL, TWILIO_AUTH_TOKEN, TWILIO_SERVICE, TWILIO_SID, error_code, field, form_of, inbound, numbered,
    outbound, replay, settings, twilio,
};
use crate::harness::{Daemon, copy_shipped, write_definitions};

const PHONE: &str = "+33612345678";
/// The `MessageSid` the status fixture reports on.
const DELIVERED_SID: &str = "SMaaaabbbbccccddddeeeeffff00001111";
const TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
}

fn created(sid: String) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({ "sid": sid, "status": "queued", "account_sid": TWILIO_SID }))
}

/// A Twilio stand-in whose first message gets the sid the status fixture names.
async fn twilio_standin() -> MockServer {
    let server = MockServer::start().await;
    let sids = numbered(|n| created(if n == 1 { DELIVERED_SID.to_string() } else { format!("SM{n:032}") }));
    Mock::given(method("POST")).and(path(messages_path())).respond_with(sids).mount(&server).await;
    server
}

async fn start(dir: &std::path::Path, twilio_base: &str, shipped: bool) -> (Daemon, Api) {
    if shipped {
        copy_shipped(dir);
    } else {
        write_definitions(
            dir,
            &[(
                "hello",
                "id: hello\nchannel: sms\nsteps:\n  - { id: hi, send: { template: hi.j2 } }\n  - { id: bye, end: done }\n",
            )],
            &[("hi.j2", "Bonjour !")],
        );
    }
    let mut settings = settings(dir);
    settings.channels.sms = Some(twilio(twilio_base));
    let daemon = Daemon::start_with(settings).await;
    let api = Api::new(&daemon.base);
    (daemon, api)
}

async fn post_fixture(api: &Api, name: &str) -> (StatusCode, String, String) {
    let response = replay(&api.client, &api.base, "/webhooks/twilio", name, "body").await;
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    (status, content_type.unwrap_or_default(), response.text().await.unwrap())
}

#[tokio::test]
async fn an_sms_conversation_runs_through_twilio_with_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let server = twilio_standin().await;
    let (daemon, api) = start(dir.path(), &server.uri(), true).await;
    let id = api.import(json!({"workflow": "inbound-lead", "name": "Ada Lovelace", "phone": PHONE})).await;
    let messages = api.wait_messages(&id, "greeting sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let form = form_of(&requests[0].body);
    assert_eq!(field(&form, "To"), Some(PHONE));
    assert_eq!(field(&form, "MessagingServiceSid"), Some(TWILIO_SERVICE));
    assert_eq!(field(&form, "Body"), messages[0]["text"].as_str());
    assert_eq!(field(&form, "StatusCallback"), Some(format!("{PUBLIC_URL}/webhooks/twilio").as_str()));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_AUTH_TOKEN}"));
    assert_eq!(requests[0].headers["authorization"], format!("Basic {basic}").as_str());
    assert!(requests[0].headers["content-type"].to_str().unwrap().starts_with("application/x-www-form-urlencoded"));

    // Twilio reports the greeting delivered; a retry of the same callback changes nothing.
    for _ in 0..2 {
        let (status, content_type, body) = post_fixture(&api, "twilio-status-delivered").await;
        assert_eq!((status, content_type.as_str(), body.as_str()), (StatusCode::OK, "text/xml", TWIML));
    }
    let messages = api.messages(&id).await;
    assert_eq!(messages[0]["status"], "delivered", "{messages:#?}");

    // The prospect answers; Twilio delivers the webhook twice: it is applied once.
    for _ in 0..2 {
        let (status, _, body) = post_fixture(&api, "twilio-inbound-sms").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, TWIML));
    }
    let view = api.wait_prospect(&id, "budget extracted", |v| v["fields"]["budget"] == 1500).await;
    assert_eq!(view["fields"]["timeline"], "now");
    let messages =
        api.wait_messages(&id, "question sent", |m| outbound(m).len() == 2 && m[2]["status"] == "sent").await;
    assert_eq!(inbound(&messages).len(), 1, "{messages:#?}");
    assert!(inbound(&messages)[0]["text"].as_str().unwrap().starts_with("Bonjour, oui je suis interesse."));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(field(&form_of(&requests[1].body), "Body"), messages[2]["text"].as_str());
    daemon.stop().await;
}

#[tokio::test]
async fn tampered_or_unsigned_twilio_webhooks_are_refused_and_a_genuine_stop_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let server = twilio_standin().await;
    let (daemon, api) = start(dir.path(), &server.uri(), true).await;
    let id = api.import(json!({"workflow": "inbound-lead", "phone": PHONE})).await;
    api.wait_messages(&id, "greeting sent", |m| m.len() == 1 && m[0]["status"] == "sent").await;

    let response = replay(&api.client, &api.base, "/webhooks/twilio", "twilio-inbound-tampered", "body").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&response.json::<Value>().await.unwrap()), "invalid_signature");
    let unsigned = api
        .client
        .post(format!("{}/webhooks/twilio", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::channels_support::fixture("twilio-inbound-sms.body"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);

    let oversized = api
        .client
        .post(format!("{}/webhooks/twilio", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "AAAA")
        .body(vec![b'a'; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let messages = api.messages(&id).await;
    assert_eq!(messages.len(), 1, "nothing recorded: {messages:#?}");
    let view = api.get(&format!("/v1/prospects/{id}")).await;
    assert!(view["fields"].get("budget").is_none() && view["step"] == "first_reply", "{view}");
    assert_eq!(api.prospects().await.len(), 1);

    // The genuine STOP from the same number is taken.
    let (status, _, body) = post_fixture(&api, "twilio-inbound-stop").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, TWIML));
    api.wait_prospect(&id, "unsubscribed by STOP", |v| v["status"] == "unsubscribed").await;
    let messages = api.messages(&id).await;
    assert_eq!(inbound(&messages).len(), 1);
    assert_eq!(inbound(&messages)[0]["text"], "STOP");
    daemon.stop().await;
}

#[tokio::test]
async fn a_permanent_twilio_error_fails_the_message_without_retries() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    let refusal = json!({
        "code": 21211,
        "message": "The 'To' number +33612345678 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400
    });
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(refusal))
        .mount(&server)
        .await;
    let (daemon, api) = start(dir.path(), &server.uri(), false).await;
    let id = api.import(json!({"workflow": "hello", "phone": PHONE})).await;
    let messages = api.wait_messages(&id, "send failed", |m| m.len() == 1 && m[0]["status"] == "failed").await;
    let error = messages[0]["error"].as_str().unwrap();
    assert!(error.contains("21211") && error.contains("not a valid phone number"), "{error}");
    assert!(!error.contains("612345678"), "no phone number in the stored reason: {error}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "a permanent error is not retried");
    daemon.stop().await;
}

#[tokio::test]
async fn a_twilio_500_is_retried_until_the_message_goes_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"code": 20500, "message": "Internal Server Error"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(created("SM00000000000000000000000000000042".into()))
        .mount(&server)
        .await;
    let (daemon, api) = start(dir.path(), &server.uri(), false).await;
    let id = api.import(json!({"workflow": "hello", "phone": PHONE})).await;
    let messages = api.wait_messages(&id, "sent after a retry", |m| m.len() == 1 && m[0]["status"] == "sent").await;
    assert!(messages[0]["error"].is_null(), "{messages:#?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    daemon.stop().await;
}

#[tokio::test]
async fn a_receipt_that_overtakes_the_send_is_held_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    let slow = created(DELIVERED_SID.to_string()).set_delay(std::time::Duration::from_millis(700));
    Mock::given(method("POST")).and(path(messages_path())).respond_with(slow).mount(&server).await;
    let (daemon, api) = start(dir.path(), &server.uri(), false).await;
    let id = api.import(json!({"workflow": "hello", "phone": PHONE})).await;
    // Twilio's callback arrives while our send request is still waiting for its answer.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, _, _) = post_fixture(&api, "twilio-status-delivered").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.messages(&id).await[0]["status"], "queued");
    let messages = api.wait_messages(&id, "receipt applied", |m| m[0]["status"] == "delivered").await;
    assert_eq!(messages.len(), 1);
    daemon.stop().await;
}

#[tokio::test]
async fn twilio_21610_takes_the_person_out_of_every_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    let refusal = json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400});
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(refusal))
        .mount(&server)
        .await;
    let (daemon, api) = start(dir.path(), &server.uri(), false).await;
    let id = api.import(json!({"workflow": "hello", "phone": PHONE})).await;
    let view = api.wait_prospect(&id, "unsubscribed", |v| v["status"] == "unsubscribed").await;
    assert_eq!(view["status"], "unsubscribed");
    assert_eq!(api.messages(&id).await[0]["status"], "failed");
    let response = api
        .client
        .post(format!("{}/v1/prospects", api.base))
        .bearer_auth(crate::harness::ADMIN)
        .json(&json!({"workflow": "hello", "phone": PHONE}))
        .send()
        .await
        .unwrap();
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["status"], "rejected", "a suppressed person is not imported again: {again}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    daemon.stop().await;
}
