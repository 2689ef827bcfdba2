//! Test harness: a real daemon (sled in a temp dir, HTTP on a loopback port) and a client.

use std::path::Path;
use std::time::{Duration, Instant};

use qualifyd::app::RunningApp;
use qualifyd::settings::{InboundWebhook, Secret, Settings};
use reqwest::StatusCode;
use serde_json::Value;

pub const ADMIN: &str = "test-admin-token";
/// The generic inbound webhook's token: the tests call it with [`ADMIN`] as their bearer.
pub const INBOUND: &str = ADMIN;

/// Writes workflow files and templates under `dir/workflows` and `dir/prompts`.
pub fn write_definitions(dir: &Path, workflows: &[(&str, &str)], templates: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("workflows")).unwrap();
    std::fs::create_dir_all(dir.join("prompts")).unwrap();
    for (name, text) in workflows {
        std::fs::write(dir.join("workflows").join(format!("{name}.yaml")), text).unwrap();
    }
    for (name, text) in templates {
        let path = dir.join("prompts").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Copies the shipped workflows and prompts, without their send windows so a test does not
/// depend on the hour it runs at.
pub fn copy_shipped(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("workflows")).unwrap();
    for entry in std::fs::read_dir(root.join("workflows")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text: Vec<&str> = text.lines().filter(|l| !l.starts_with("send_window:")).collect();
            std::fs::write(dir.join("workflows").join(path.file_name().unwrap()), text.join("\n")).unwrap();
        }
    }
    copy_dir(&root.join("prompts"), &dir.join("prompts"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

pub fn settings_for(dir: &Path) -> Settings {
    let mut settings = Settings::development(&dir.join("data"));
    settings.workflows_dir = dir.join("workflows");
    settings.prompts_dir = dir.join("prompts");
    settings.admin_token = Some(Secret::new(ADMIN));
    settings.inbound_webhook = InboundWebhook::Token(Secret::new(INBOUND));
    settings
}

pub struct Daemon {
    app: Option<RunningApp>,
    pub base: String,
    pub client: reqwest::Client,
}

impl Daemon {
    pub async fn start(dir: &Path) -> Daemon {
        Daemon::start_with(settings_for(dir)).await
    }

    /// Starts the daemon; right after a stop in this process, waits (bounded) for the old one to
    /// let go of the store: its last background tasks end shortly after `shutdown`.
    pub async fn start_with(settings: Settings) -> Daemon {
        let app = start_app(settings).await;
        let base = format!("http://{}", app.addr);
        Daemon { app: Some(app), base, client: reqwest::Client::new() }
    }

    pub fn reloader(&self) -> &qualifyd::reload::Reloader {
        &self.app.as_ref().unwrap().reloader
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(ADMIN).send().await.unwrap();
        read(response).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response =
            self.client.post(format!("{}{path}", self.base)).bearer_auth(ADMIN).json(body).send().await.unwrap();
        read(response).await
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
        let (status, answer) = self.get(&format!("/v1/prospects/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    pub async fn messages(&self, id: &str) -> Vec<Value> {
        let (status, answer) = self.get(&format!("/v1/prospects/{id}/messages")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["messages"].as_array().unwrap().clone()
    }

    /// Polls the prospect until `done` holds (at most `limit`); returns the last view.
    pub async fn wait_for(&self, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let view = self.prospect(id).await;
            if done(&view) {
                return view;
            }
            assert!(started.elapsed() < limit, "condition not reached within {limit:?}; last view: {view}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls the conversation until it has at least `count` messages.
    pub async fn wait_messages(&self, id: &str, count: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let messages = self.messages(id).await;
            if messages.len() >= count && messages.iter().all(|m| m["status"] != "queued") {
                return messages;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "expected {count} messages, have {messages:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// `app::start`, retried while a daemon stopped in this process still holds the store's lock.
pub async fn start_app(settings: Settings) -> RunningApp {
    let started = Instant::now();
    loop {
        match qualifyd::app::start(settings.clone()).await {
            Ok(app) => return app,
            Err(err)
                if (err.to_string().contains("could not acquire lock")
                    || err.to_string().contains("in use by another process"))
                    && started.elapsed() < Duration::from_secs(10) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("the daemon does not start: {err}"),
        }
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}
