//! Logs as production sees them, from the real binary with stderr in a file: no colour codes
//! off a terminal, `log_format: json` gives one JSON object per line, and an HTTP request's id
//! is on its log lines, in the `X-Request-Id` answer header and in an error body.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{ADMIN, copy_shipped};

/// A `qualifyd serve` child on a free loopback port, stderr into `dir/stderr.log`.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Served {
    pub fn start(dir: &std::path::Path, extra_settings: &str) -> Served {
        copy_shipped(dir);
        std::fs::write(
            dir.join("config.yaml"),
            format!(
                "listen: 127.0.0.1:0\ndata_dir: ./data\nchannels: {{ sms: {{ driver: outbox }}, email: {{ driver: outbox }}, \
                 messenger: {{ driver: outbox }} }}\nsend_window: {{ days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-24:00\" }}\nprivacy: {{ development_key: true }}\nadmin_token: ${{QUALIFYD_ADMIN_TOKEN}}\n{extra_settings}"
            ),
        )
        .unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
            .current_dir(dir)
            .args(["serve", "--config", "config.yaml"])
            .env("QUALIFYD_ADMIN_TOKEN", ADMIN)
            .env("QUALIFYD_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("the daemon printed its address").unwrap();
            if let Some(address) = line.strip_prefix("qualifyd listening on ") {
                break address.to_string();
            }
        };
        Served { child, base }
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_id_which_the_error_body_echoes() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), "log_format: json\n");
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}/v1/prospects", served.base))
        .bearer_auth(ADMIN)
        .header("x-request-id", "import-req-1")
        .json(&json!({"workflow": "inbound-lead", "phone": "+33612345678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.headers()["x-request-id"], "import-req-1");
    let answer = client.get(format!("{}/v1/nothing", served.base)).bearer_auth(ADMIN).send().await.unwrap();
    let id = answer.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 16, "an id is made when the caller sends none");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], id.as_str(), "{body}");
    served.stop();

    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!log.contains('\u{1b}'), "no colour codes in a file");
    let lines: Vec<Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let imported = lines.iter().find(|l| l["fields"]["message"] == "prospect imported").expect("the import is logged");
    assert_eq!(imported["span"]["request_id"], "import-req-1", "{imported}");
    assert_eq!(imported["span"]["route"], "/v1/prospects", "{imported}");
    assert!(!log.contains("+33612345678") && !log.contains("612345678"), "no phone numbers in logs");
}

#[tokio::test]
async fn text_logs_have_no_colour_codes_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), "");
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/prospects", served.base))
        .bearer_auth(ADMIN)
        .header("x-request-id", "text-req-7")
        .json(&json!({"workflow": "inbound-lead", "phone": "+33612345679"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    served.stop();
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("qualifyd started"), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a file:\n{log}");
    let imported = log.lines().find(|l| l.contains("prospect imported")).expect("the import is logged");
    assert!(imported.contains("request_id=text-req-7"), "{imported}");
}
