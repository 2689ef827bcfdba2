//! Helpers of the privacy tests: an in-process daemon whose engine the test can reach (for the
//! audit log and retention sweeps), calls with any token, and a scan of every file under a
//! directory for plaintext.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qualifyd::app::RunningApp;
use qualifyd::engine::Engine;
use qualifyd::settings::{AdminToken, Role, Secret, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{ADMIN, settings_for, start_app};

pub const OPERATOR: &str = "privacy-operator-token";
pub const VIEWER: &str = "privacy-viewer-token";
pub const SECS_10: Duration = Duration::from_secs(10);

/// A workflow `id` on `channel` that greets (`hello.j2`), waits 30 days for a reply, and ends.
pub fn listening(id: &str, channel: &str) -> String {
    format!(
        "id: {id}
channel: {channel}
steps:
  - {{ id: hello, send: {{ template: hello.j2 }} }}
  - {{ id: wait, wait_reply: {{ timeout: 30d, on_timeout: bye }} }}
  - {{ id: bye, end: done }}
"
    )
}

/// Writes the SMS workflow `flow` ([`listening`], greeting "Bonjour !") into `dir` and returns
/// the settings with every role.
pub fn one_flow(dir: &Path) -> Settings {
    crate::harness::write_definitions(dir, &[("flow", &listening("flow", "sms"))], &[("hello.j2", "Bonjour !")]);
    settings_with_roles(dir)
}

/// The harness settings plus an operator and a viewer token.
pub fn settings_with_roles(dir: &Path) -> Settings {
    let mut settings = settings_for(dir);
    for (name, role, token) in [("desk", Role::Operator, OPERATOR), ("wall", Role::Viewer, VIEWER)] {
        settings.admin_tokens.push(AdminToken { name: name.into(), role, token: Secret::new(token) });
    }
    settings
}

pub struct Node {
    app: Option<RunningApp>,
    pub base: String,
    pub client: reqwest::Client,
}

impl Node {
    /// Starts the daemon; right after a stop in this process, waits for the old one to let go
    /// of the store (its last tasks end shortly after `shutdown`).
    pub async fn start(settings: Settings) -> Node {
        let app = start_app(settings).await;
        let base = format!("http://{}", app.addr);
        Node { app: Some(app), base, client: reqwest::Client::builder().no_proxy().build().unwrap() }
    }

    pub fn engine(&self) -> &Engine {
        &self.app.as_ref().unwrap().engine
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }

    pub async fn call(&self, method: Method, token: &str, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, ADMIN, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, ADMIN, path, None).await
    }

    pub async fn import(&self, body: Value) -> String {
        let (status, answer) = self.post("/v1/prospects", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    pub async fn inbound(&self, channel: &str, from: &str, text: &str, id: &str) -> Value {
        let body = serde_json::json!({ "channel": channel, "from": from, "text": text, "id": id });
        let (status, answer) = self.post("/webhooks/inbound", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    pub async fn prospect(&self, id: &str) -> Value {
        let (status, view) = self.get(&format!("/v1/prospects/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        view
    }

    pub async fn messages(&self, id: &str) -> Vec<Value> {
        let (status, answer) = self.get(&format!("/v1/prospects/{id}/messages")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["messages"].as_array().unwrap().clone()
    }

    /// Polls the prospect until `done` holds; returns that view.
    pub async fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let view = self.prospect(id).await;
            if done(&view) {
                return view;
            }
            assert!(started.elapsed() < SECS_10, "{what}: not reached; last view: {view}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls the conversation until `done` holds; returns it.
    pub async fn wait_messages(&self, id: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let messages = self.messages(id).await;
            if done(&messages) {
                return messages;
            }
            assert!(started.elapsed() < SECS_10, "{what}: not reached; messages: {messages:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The `(file, needle)` pairs where a needle occurs in a file under `dir`.
pub fn plaintext_in(dir: &Path, needles: &[&str]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for needle in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push((file.clone(), needle.to_string()));
            }
        }
    }
    found
}
