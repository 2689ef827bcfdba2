//! `qualifyd eval` with the `openai` provider against a wiremock Chat Completions server (the
//! real provider code: request, strict schema, validation), recorded to a replay file and scored
//! again offline from it; and the real binary's exit status and miss lines.

use std::path::Path;
use std::process::Command;

use qualifyd::eval::{EvalOptions, ProviderChoice, run_eval};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::ai_support::{COMPLETIONS, answer, messages};

const CORPUS: &str = "workflow: inbound-lead\nthresholds: { f1: 0.5 }\ncases:\n\
  - { reply: \"environ 1500 par mois\", expect: { budget: 1500 }, intent: positive }\n\
  - { asked: budget, reply: \"on verra\", expect: { budget: 2000 } }\n";

fn write_setup(dir: &Path, server: &MockServer) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = format!(
        "workflows_dir: {}\nprompts_dir: {}\ndata_dir: {}\n\
         channels: {{ sms: {{ driver: outbox }}, email: {{ driver: outbox }}, messenger: {{ driver: outbox }} }}\n\
         ai: {{ provider: openai, base_url: \"{}/v1\", model: gpt-4o-mini, api_key: sk-test-key, max_retries: 0 }}\n",
        root.join("workflows").display(),
        root.join("prompts").display(),
        dir.join("data").display(),
        server.uri()
    );
    std::fs::write(dir.join("corpus.yaml"), CORPUS).unwrap();
    let file = dir.join("config.yaml");
    std::fs::write(&file, config).unwrap();
    file
}

#[test]
fn a_model_is_scored_through_the_real_provider_then_replayed_offline() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = runtime.block_on(MockServer::start());
    let said = json!({ "fields": { "budget": 1500, "timeline": null, "decision_maker": null }, "reply": "Merci !", "intent": "positive" });
    runtime.block_on(Mock::given(method("POST")).and(path(COMPLETIONS)).respond_with(answer(said)).mount(&server));
    let dir = tempfile::tempdir().unwrap();
    let config = write_setup(dir.path(), &server);
    let record = dir.path().join("answers.json");
    let mut options = EvalOptions {
        config,
        provider: ProviderChoice::OpenAi,
        paths: vec![dir.path().join("corpus.yaml")],
        record: Some(record.clone()),
        ..EvalOptions::default()
    };
    let mut out = Vec::new();
    let live = run_eval(&options, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let budget = live.files[0].score.fields["budget"];
    assert_eq!((budget.true_positive, budget.false_positive, budget.false_negative), (1, 1, 1), "{text}");
    assert!(text.contains("corpus.yaml:5: budget: expected 2000, got 1500"), "{text}");
    assert!(text.contains("corpus.yaml:5: intent: expected none, got positive"), "{text}");
    let requests = runtime.block_on(server.received_requests()).unwrap();
    assert_eq!(requests.len(), 2);
    let body: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    let sent = messages(&body);
    assert!(sent.iter().any(|(role, text)| role == "user" && text.contains("prospect: on verra")), "{sent:?}");
    assert!(sent.iter().any(|(_, text)| text.contains("us: Quel budget mensuel envisagez-vous ?")), "{sent:?}");

    options.record = None;
    options.replay = Some(record);
    let replayed = run_eval(&options, &mut Vec::new()).unwrap();
    assert_eq!(replayed.files[0].score, live.files[0].score);
    assert_eq!(replayed.provider, "openai (replay)");
    assert_eq!(runtime.block_on(server.received_requests()).unwrap().len(), 2, "the replay calls no server");
}

#[test]
fn the_binary_exits_1_below_a_threshold_and_prints_each_miss_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.yaml");
    std::fs::write(&corpus, CORPUS.replace("f1: 0.5", "f1: 0.9")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .args(["eval", "--config", "config.example.yaml"])
        .arg(&corpus)
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("{}:5: budget: expected 2000, got nothing", corpus.display())), "{stdout}");
    assert!(stdout.contains("eval (rules): 1 file(s), 2 case(s)"), "{stdout}");
}
