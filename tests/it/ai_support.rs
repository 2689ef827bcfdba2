//! Helpers for the tests of the `openai` provider: a wiremock server speaking Chat Completions
//! (bodies built from `tests/fixtures/openai-chat-completion.json`), the daemon's settings
//! pointing at it, a small qualification workflow, and readers of what the server received.

use std::path::Path;
use std::time::{Duration, Instant};

use qualifyd::settings::{AiSettings, OpenAiSettings, Secret, Settings};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{settings_for, write_definitions};

pub const COMPLETIONS: &str = "/v1/chat/completions";

/// The qualification workflow: `qualify` asks the AI; `lead` fails when the AI fails for good,
/// `lead_fallback` goes to its `on_failure` step instead.
pub fn write_workflows(dir: &Path) {
    let fields = r#"fields:
  budget: { type: number, description: Monthly budget in euros, ask: "What monthly budget?" }
  timeline:
    type: enum
    values: [now, this_quarter, later]
    synonyms: { now: [asap, "tout de suite"] }
    ask: "When would you like to start?"
  decision_maker: { type: bool, ask: "Will you be the one deciding?" }
"#;
    let steps = |id: &str, on_failure: &str| {
        format!(
            "id: {id}\nchannel: sms\n{fields}steps:\n  - {{ id: hello, send: {{ template: hello.j2 }} }}\n  - {{ id: listen, wait_reply: {{ timeout: 1h, on_timeout: gave_up }} }}\n  - {{ id: qualify, ai: {{ prompt: qualify.j2, extract: [budget, timeline, decision_maker], reply: true, choose: [ask_missing, qualified]{on_failure} }} }}\n  - {{ id: ask_missing, wait_reply: {{ timeout: 1h, on_timeout: gave_up }}, next: qualify }}\n  - {{ id: qualified, end: qualified }}\n  - {{ id: gave_up, end: unresponsive }}\n  - {{ id: review, end: needs_review }}\n"
        )
    };
    let lead = steps("lead", "");
    let fallback = steps("lead_fallback", ", on_failure: review");
    write_definitions(
        dir,
        &[("lead", &lead), ("lead_fallback", &fallback)],
        &[
            ("hello.j2", "Hello {{ prospect.first_name or 'there' }}! Tell us about your project."),
            (
                "qualify.j2",
                "You qualify solar leads. Known: {% for k, v in fields | items %}{{ k }}={{ v }} {% endfor %}",
            ),
        ],
    );
}

/// The daemon's settings with the `openai` provider on `server`.
pub fn openai_settings(dir: &Path, server: &MockServer, max_retries: u32) -> Settings {
    let mut settings = settings_for(dir);
    settings.ai = AiSettings::OpenAi(OpenAiSettings {
        base_url: format!("{}/v1", server.uri()),
        model: "gpt-4o-mini".into(),
        api_key: Secret::new("sk-test-key"),
        timeout: Duration::from_secs(5),
        max_concurrency: 2,
        max_retries,
        mask_contact_details: true,
    });
    settings
}

/// A real Chat Completions body (the fixture) whose answer is `content`.
pub fn completion(content: &str) -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai-chat-completion.json"),
    )
    .unwrap();
    let mut body: Value = serde_json::from_str(&text).unwrap();
    body["choices"][0]["message"]["content"] = Value::from(content);
    body
}

/// A completion whose answer is the JSON `answer`.
pub fn answer(answer: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(completion(&answer.to_string()))
}

/// An OpenAI-style error answer.
pub fn api_error(status: u16, kind: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(
        json!({ "error": { "message": format!("{kind} (test)"), "type": kind, "param": null, "code": null } }),
    )
}

/// Mounts `response` for the next `times` completion requests (after the mocks mounted before).
pub async fn respond(server: &MockServer, response: ResponseTemplate, times: Option<u64>) {
    let mock = Mock::given(method("POST")).and(path(COMPLETIONS)).respond_with(response);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

/// The JSON bodies of the completion requests received so far, oldest first.
pub async fn requests(server: &MockServer) -> Vec<Value> {
    let received = server.received_requests().await.unwrap_or_default();
    received.iter().filter(|r| r.url.path() == COMPLETIONS).map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

/// Polls until the server has received at least `count` completion requests.
pub async fn wait_requests(server: &MockServer, count: usize, limit: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let seen = requests(server).await;
        if seen.len() >= count {
            return seen;
        }
        assert!(started.elapsed() < limit, "expected {count} requests within {limit:?}, got {}", seen.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `content` of every message of a request body, with its role.
pub fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A complete, valid answer.
pub fn full_answer(reply: &str) -> Value {
    json!({
        "fields": { "budget": 1500, "timeline": "now", "decision_maker": null },
        "reply": reply,
        "next": "ask_missing",
        "intent": "positive"
    })
}
