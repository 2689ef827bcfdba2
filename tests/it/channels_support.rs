//! Shared by the `channels_*` tests: the signed fixtures (replayed byte for byte), the provider
//! secrets they were signed with, settings pointing the drivers at local stand-ins (wiremock for
//! Twilio and the Graph API, an in-process SMTP server), signing helpers for requests the tests
//! build themselves, a daemon run as a process (for secrets read from the environment), and
//! polling with a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use qualifyd::settings::{GraphSettings, Secret, Settings, TwilioSender, TwilioSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::harness::{ADMIN, settings_for};

/// The URL the fixtures were signed for (see SECRETS.txt).
pub const PUBLIC_URL: &str = "https://leads.example.com";
pub const TWILIO_SID: &str = "AC11111111111111111111111111111111";
pub const TWILIO_AUTH_TOKEN: &str = "5f1a0e0c2d7b4f0aa1b2c3d4e5f60718";
pub const TWILIO_SERVICE: &str = "MG0123456789abcdef0123456789abcdef";
pub const APP_SECRET: &str = "9c3b1e7f5a2d4c6e8f0a1b2c3d4e5f60";
pub const VERIFY_TOKEN: &str = "qualifyd-verify-7d1f";
pub const PAGE_TOKEN: &str = "page-access-token-for-tests";
pub const MAILGUN_KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
pub const POSTMARK_SECRET: &str = "postmark-url-secret-for-tests";

/// How long a test waits for something the daemon does in the background.
pub const DEADLINE: Duration = Duration::from_secs(10);

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The raw bytes of `tests/fixtures/{name}`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The headers of `tests/fixtures/{name}.headers`.
pub fn fixture_headers(name: &str) -> Vec<(String, String)> {
    let text = String::from_utf8(fixture(&format!("{name}.headers"))).unwrap();
    text.lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_string(), value.trim().to_string()))
        .collect()
}

/// Posts the fixture `{name}.{ext}` with its headers to `{base}{path}`, byte for byte.
pub async fn replay(client: &reqwest::Client, base: &str, path: &str, name: &str, ext: &str) -> reqwest::Response {
    let mut request = client.post(format!("{base}{path}")).body(fixture(&format!("{name}.{ext}")));
    for (header, value) in fixture_headers(name) {
        request = request.header(header, value);
    }
    request.send().await.unwrap()
}

/// The in-process daemon's settings with `public_url` set to the one the fixtures were signed for.
pub fn settings(dir: &Path) -> Settings {
    let mut settings = settings_for(dir);
    settings.public_url = PUBLIC_URL.to_string();
    settings
}

pub fn twilio(api_base: &str) -> qualifyd::settings::SmsDriver {
    qualifyd::settings::SmsDriver::Twilio(TwilioSettings {
        account_sid: TWILIO_SID.into(),
        auth_token: Secret::new(TWILIO_AUTH_TOKEN),
        sender: TwilioSender::MessagingService(TWILIO_SERVICE.into()),
        api_base: api_base.into(),
        rate_per_second: 50,
    })
}

pub fn graph(api_base: &str) -> qualifyd::settings::MessengerDriver {
    qualifyd::settings::MessengerDriver::Graph(GraphSettings {
        page_access_token: Secret::new(PAGE_TOKEN),
        app_secret: Secret::new(APP_SECRET),
        verify_token: Secret::new(VERIFY_TOKEN),
        api_base: api_base.into(),
        rate_per_second: 50,
    })
}

/// A wiremock responder answering `make(n)` to its n-th call (from 1).
pub fn numbered(make: impl Fn(usize) -> ResponseTemplate + Send + Sync) -> impl Fn(&Request) -> ResponseTemplate {
    let calls = AtomicUsize::new(0);
    move |_: &Request| make(calls.fetch_add(1, Ordering::SeqCst) + 1)
}

/// A form body's fields, decoded.
pub fn form_of(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub fn hex_hmac_sha256(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Posts a Messenger event body signed with the app secret.
pub async fn post_messenger(client: &reqwest::Client, base: &str, body: &Value) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = format!("sha256={}", hex_hmac_sha256(APP_SECRET, &bytes));
    let request = client.post(format!("{base}/webhooks/messenger")).header("content-type", "application/json");
    request.header("x-hub-signature-256", signature).body(bytes).send().await.unwrap()
}

/// Posts an inbound SMS from `from` as Twilio does: form-encoded, signed with the auth token over
/// [`PUBLIC_URL`] and the sorted parameters (the daemon's `public_url` must be [`PUBLIC_URL`]).
pub async fn post_twilio_sms(
    client: &reqwest::Client,
    base: &str,
    from: &str,
    text: &str,
    sid: &str,
) -> reqwest::Response {
    use base64::Engine as _;
    let mut params =
        vec![("AccountSid", TWILIO_SID), ("Body", text), ("From", from), ("MessageSid", sid), ("To", "+33644630000")];
    params.sort();
    let mut signed = format!("{PUBLIC_URL}/webhooks/twilio");
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params {
        signed.push_str(name);
        signed.push_str(value);
        form.append_pair(name, value);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_AUTH_TOKEN.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let request =
        client.post(format!("{base}/webhooks/twilio")).header("content-type", "application/x-www-form-urlencoded");
    request.header("x-twilio-signature", signature).body(form.finish()).send().await.unwrap()
}

/// A Mailgun form: `fields`, then `timestamp`, `token` and their signature under `key`.
pub fn mailgun_body(fields: &[(String, String)], timestamp: i64, token: &str, key: &str) -> String {
    let signature = hex_hmac_sha256(key, format!("{timestamp}{token}").as_bytes());
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields.iter().filter(|(k, _)| !["timestamp", "token", "signature"].contains(&k.as_str())) {
        form.append_pair(name, value);
    }
    form.append_pair("timestamp", &timestamp.to_string()).append_pair("token", token);
    form.append_pair("signature", &signature).finish()
}

/// The admin API of a daemon (in-process or not), with polling helpers.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api { base: base.to_string(), client: reqwest::Client::new() }
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(ADMIN).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn import(&self, body: Value) -> String {
        let url = format!("{}/v1/prospects", self.base);
        let response = self.client.post(url).bearer_auth(ADMIN).json(&body).send().await.unwrap();
        let (status, answer): (StatusCode, Value) = (response.status(), response.json().await.unwrap());
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    pub async fn messages(&self, id: &str) -> Vec<Value> {
        self.get(&format!("/v1/prospects/{id}/messages")).await["messages"].as_array().unwrap().clone()
    }

    pub async fn prospects(&self) -> Vec<Value> {
        self.get("/v1/prospects").await["items"].as_array().unwrap().clone()
    }

    /// Polls the conversation of `id` until `done` holds; `what` says what was awaited.
    pub async fn wait_messages(&self, id: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let messages = self.messages(id).await;
            if done(&messages) {
                return messages;
            }
            assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}; conversation: {messages:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_prospect(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let view = self.get(&format!("/v1/prospects/{id}")).await;
            if done(&view) {
                return view;
            }
            assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}; prospect: {view}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Polls `probe` until it returns something, at most [`DEADLINE`].
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The outbound messages of a conversation, in order.
pub fn outbound(messages: &[Value]) -> Vec<&Value> {
    messages.iter().filter(|m| m["direction"] == "outbound").collect()
}

pub fn inbound(messages: &[Value]) -> Vec<&Value> {
    messages.iter().filter(|m| m["direction"] == "inbound").collect()
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not the JSON error shape: {body}"))
}

/// One email the SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The value of header `name` (unfolded), from the message head.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n ", " ").replace("\r\n\t", " ");
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }
}

/// An SMTP server on a loopback port, in-process (its own threads), keeping what it receives.
/// Recipients containing `bounce` are refused with a 550.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    refused: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct SinkHandler {
    received: Arc<Mutex<Vec<Received>>>,
    refused: Arc<AtomicUsize>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for SinkHandler {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.contains("bounce") {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return response::NO_MAILBOX;
        }
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let data = String::from_utf8_lossy(&self.data).into_owned();
        self.received.lock().unwrap().push(Received { to: std::mem::take(&mut self.to), data });
        response::OK
    }
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = SmtpSink { port, received: Arc::default(), refused: Arc::default() };
        let handler = SinkHandler {
            received: sink.received.clone(),
            refused: sink.refused.clone(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(handler);
        server.with_name("sink.test").with_ssl(SslConfig::None).unwrap().with_tcp_listener(listener);
        // serve() blocks forever and its error is not Send: a plain thread, left to the process.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        sink
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` emails arrived.
    pub async fn wait(&self, count: usize) -> Vec<Received> {
        eventually(&format!("{count} email(s) in the SMTP sink"), || async {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }
}

/// The daemon binary run as a process, for what only the environment configures (the Mailgun
/// and Postmark secrets). Killed when dropped.
pub struct DaemonProcess {
    child: Child,
    pub api: Api,
    log: PathBuf,
}

impl DaemonProcess {
    /// Starts `qualifyd serve` in `dir` (workflows and prompts already there) with email over SMTP
    /// to `smtp_port`, and waits until it answers.
    pub async fn start(dir: &Path, smtp_port: u16) -> DaemonProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "listen: 127.0.0.1:{port}\npublic_url: {PUBLIC_URL}\ndata_dir: ./data\nworkflows_dir: ./workflows\n\
             prompts_dir: ./prompts\ntimezone: UTC\n\
             send_window: {{ days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-24:00\" }}\n\
             admin_token: {ADMIN}\nprivacy: {{ development_key: true }}\nchannels:\n  email: {{ driver: smtp, host: 127.0.0.1, port: {smtp_port}, \
             tls: none, from: \"Qualifyd <leads@example.com>\", reply_domain: mail.example.com }}\n"
        );
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        let log = dir.join("daemon.log");
        let child = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
            .args(["serve", "--config"])
            .arg(dir.join("config.yaml"))
            .env("QUALIFYD_LOG", "warn")
            .env("QUALIFYD_MAILGUN_SIGNING_KEY", MAILGUN_KEY)
            .env("QUALIFYD_POSTMARK_SECRET", POSTMARK_SECRET)
            .env_remove("QUALIFYD_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the qualifyd binary starts");
        let daemon = DaemonProcess { child, api: Api::new(&format!("http://127.0.0.1:{port}")), log };
        let started = Instant::now();
        loop {
            if let Ok(r) = daemon.api.client.get(format!("{}/healthz", daemon.api.base)).send().await
                && r.status().is_success()
            {
                return daemon;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the daemon did not start; log:\n{}", daemon.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `{"recipient_id": ..., "message_id": "m_out_{n}"}`, the Graph API's answer to a send.
pub fn graph_sent(n: usize) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({ "recipient_id": "6543210987654321", "message_id": format!("m_out_{n}") }))
}
