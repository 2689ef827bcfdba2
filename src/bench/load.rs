//! The load generator: `concurrency` clients sharing one keep-alive reqwest pool (one
//! connection each), each sending its next request as soon as the previous answer is read, for
//! a fixed time, over loopback only. Also the bare baseline: an axum server whose handlers read
//! the body and answer 200 with no other work, loaded by the same client the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use tokio::task::JoinHandle;

use super::Error;
use super::probe::{self, Samples};

/// Builds request `seq` of client `client`.
pub type MakeRequest = dyn Fn(&reqwest::Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync;

/// What one timed load produced.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// `(client, seq)` of every request answered 2xx.
    pub acknowledged: Vec<(usize, u64)>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latency of every 2xx answer, from sending to the end of its body.
    pub latency: Samples,
    /// Cores this process kept busy meanwhile (the client's share included).
    pub cores_busy: f64,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.acknowledged.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} ok, {} failed in {:.2} s; {:.2} cores busy (client included)",
            self.acknowledged.len(),
            self.errors,
            self.elapsed.as_secs_f64(),
            self.cores_busy
        );
        if let Some(error) = &self.first_error {
            text.push_str(&format!("; first failure: {error}"));
        }
        text
    }
}

/// A client with one idle keep-alive connection per concurrent caller.
pub fn client(concurrency: usize) -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Runs `concurrency` clients for `duration`; requests in flight at the end are awaited.
pub async fn run(
    client: &reqwest::Client,
    concurrency: usize,
    duration: Duration,
    make: Arc<MakeRequest>,
) -> LoadResult {
    let cpu_before = probe::cpu_time();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for index in 0..concurrency {
        let client = client.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move { one_client(&client, index, deadline, &*make).await }));
    }
    let mut result = LoadResult::default();
    let mut latencies = Vec::new();
    for task in tasks {
        let Ok(part) = task.await else {
            result.errors += 1;
            continue;
        };
        result.acknowledged.extend(part.acknowledged);
        result.errors += part.errors;
        result.first_error = result.first_error.or(part.first_error);
        latencies.extend(part.latencies);
    }
    result.elapsed = started.elapsed();
    result.cores_busy = probe::cores_busy(cpu_before, probe::cpu_time(), result.elapsed);
    result.latency = Samples::new(latencies);
    result
}

#[derive(Default)]
struct ClientPart {
    acknowledged: Vec<(usize, u64)>,
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

async fn one_client(client: &reqwest::Client, index: usize, deadline: Instant, make: &MakeRequest) -> ClientPart {
    let mut part = ClientPart::default();
    let mut seq = 0;
    while Instant::now() < deadline {
        let request = make(client, index, seq);
        let sent = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status.is_success() => Ok(()),
                    Ok(body) => Err(format!("{status}: {}", String::from_utf8_lossy(&body))),
                    Err(err) => Err(err.to_string()),
                }
            }
            Err(err) => Err(err.to_string()),
        };
        match outcome {
            Ok(()) => {
                part.latencies.push(sent.elapsed());
                part.acknowledged.push((index, seq));
            }
            Err(error) => {
                part.errors += 1;
                part.first_error.get_or_insert(error);
            }
        }
        seq += 1;
    }
    part
}

/// The bare baseline server: the same routes, answering 200 after reading the body (an import
/// batch gets an empty `results`).
pub struct Bare {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Bare {
    pub async fn start() -> Result<Bare, Error> {
        async fn ok(_body: Bytes) -> &'static str {
            ""
        }
        async fn no_results(_body: Bytes) -> axum::Json<serde_json::Value> {
            axum::Json(serde_json::json!({ "results": [] }))
        }
        let router = Router::new()
            .route("/webhooks/inbound", post(ok))
            .route("/webhooks/twilio", post(ok))
            .route("/v1/prospects", post(no_results));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::io("binding the bare server", std::path::Path::new("127.0.0.1:0"), e))?;
        let addr = listener.local_addr().map_err(|e| Error::io("reading", std::path::Path::new("local addr"), e))?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Bare { addr, task })
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        self.task.abort();
    }
}
