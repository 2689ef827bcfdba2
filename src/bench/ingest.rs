//! Scenario `ingest`: 16 and 64 concurrent clients POST inbound messages for a fixed time to the
//! real daemon (`app::start`, fresh data directory each run): JSON to `/webhooks/inbound`, and
//! signed Twilio forms (HMAC-SHA1 of URL + sorted parameters, as `http::twilio` checks) to
//! `/webhooks/twilio`. Each client writes as 8 people of its own, so the first message of each
//! starts a prospect and the others are replies the engine applies (a `wait_reply` loop: one
//! transition per message, nothing sent). Afterwards the store is reopened from disk and every
//! acknowledged provider id must be in a conversation. Baseline: a bare axum handler, same
//! client, same requests, same run.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::fixture::{self, Scratch, phone};
use super::load::{self, Bare, LoadResult, MakeRequest};
use super::probe;
use super::{Context, Error, Figure, Scenario, Target};
use crate::machine::Direction;
use crate::settings::{Secret, Settings, SmsDriver, TwilioSender, TwilioSettings};
use crate::store::Store;

const WORKFLOW: &str = "id: bench-ingest
channel: sms
entry: { import: false, inbound: sms }
steps:
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: gave_up }, next: listen }
  - { id: gave_up, end: unresponsive }
";
const PUBLIC_URL: &str = "http://127.0.0.1:8080";
const TWILIO_AUTH_TOKEN: &str = "bench-twilio-auth-token-0123456789";
const TEXT: &str = "Hi, I would like a quote for a heat pump, budget around 2000 euros a month.";
const PEOPLE_PER_CLIENT: u64 = 8;
const CONCURRENCY: [usize; 2] = [16, 64];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Json,
    Twilio,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Json => "json",
            Route::Twilio => "twilio",
        }
    }

    /// The provider's message id of request `seq` of `client`.
    fn message_id(self, client: usize, seq: u64) -> String {
        match self {
            Route::Json => format!("bench-{client}-{seq}"),
            Route::Twilio => format!("SM{client:08x}{seq:024x}"),
        }
    }

    fn maker(self, base: String) -> Arc<MakeRequest> {
        Arc::new(move |client: &reqwest::Client, index: usize, seq: u64| {
            let from = phone(index * PEOPLE_PER_CLIENT as usize + (seq % PEOPLE_PER_CLIENT) as usize);
            let id = self.message_id(index, seq);
            match self {
                Route::Json => client
                    .post(format!("{base}/webhooks/inbound"))
                    .bearer_auth(fixture::ADMIN_TOKEN)
                    .json(&serde_json::json!({ "channel": "sms", "from": from, "text": TEXT, "id": id })),
                Route::Twilio => {
                    let (body, signature) = twilio_form(&from, &id);
                    client
                        .post(format!("{base}/webhooks/twilio"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-twilio-signature", signature)
                        .body(body)
                }
            }
        })
    }
}

/// A Twilio inbound SMS form and its `X-Twilio-Signature`.
fn twilio_form(from: &str, sid: &str) -> (String, String) {
    let mut params = [
        ("AccountSid", "ACbench00000000000000000000000000"),
        ("Body", TEXT),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("To", "+33600000000"),
    ];
    params.sort();
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let mut mac = Hmac::<Sha1>::new_from_slice(TWILIO_AUTH_TOKEN.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{PUBLIC_URL}/webhooks/twilio").as_bytes());
    for (name, value) in params {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    (body, base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn settings(dir: &std::path::Path) -> Settings {
    let mut settings = fixture::settings(dir);
    settings.public_url = PUBLIC_URL.to_string();
    // Twilio is configured only so that its webhook checks signatures; nothing is sent.
    settings.channels.sms = Some(SmsDriver::Twilio(TwilioSettings {
        account_sid: "ACbench00000000000000000000000000".into(),
        auth_token: Secret::new(TWILIO_AUTH_TOKEN),
        sender: TwilioSender::From("+33600000000".into()),
        api_base: "http://127.0.0.1:9".into(),
        rate_per_second: 1,
    }));
    settings
}

pub fn run(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let duration = if cx.quick { Duration::from_millis(500) } else { Duration::from_secs(10) };
    let mut figures = Vec::new();
    for concurrency in CONCURRENCY {
        for route in [Route::Json, Route::Twilio] {
            let bare = bare_run(route, concurrency, duration)?;
            let (daemon, missing, flushes) = daemon_run(cx, route, concurrency, duration)?;
            let label = format!("{} c={concurrency}", route.name());
            cx.note(Scenario::Ingest, format!("{label}: daemon {}; {flushes}", daemon.describe()));
            cx.note(Scenario::Ingest, format!("{label}: bare handler {}", bare.describe()));
            figures.extend(figures_for(&label, concurrency, &daemon, &bare, missing));
        }
    }
    cx.note(Scenario::Ingest, format!("each run lasts {duration:?}; the client runs in the same process (same 2 cores) for the daemon and the baseline alike"));
    Ok(figures)
}

fn figures_for(label: &str, concurrency: usize, daemon: &LoadResult, bare: &LoadResult, missing: usize) -> Vec<Figure> {
    let s = "ingest";
    let mut rate =
        Figure::new(s, format!("{label} durable requests/s"), daemon.per_second(), "req/s").baseline(bare.per_second());
    let mut p99 = Figure::new(s, format!("{label} p99 latency"), daemon.latency.quantile_ms(0.99), "ms")
        .baseline(bare.latency.quantile_ms(0.99));
    if concurrency == 64 {
        rate = rate.target(Target::AtLeast(10_000.0)).ratio_target(Target::AtLeast(0.2));
        p99 = p99.target(Target::AtMost(25.0));
    }
    vec![
        rate,
        Figure::new(s, format!("{label} p50 latency"), daemon.latency.quantile_ms(0.5), "ms")
            .baseline(bare.latency.quantile_ms(0.5)),
        p99,
        Figure::new(s, format!("{label} max latency"), daemon.latency.max_ms(), "ms").baseline(bare.latency.max_ms()),
        Figure::new(s, format!("{label} acknowledged, not on disk"), missing as f64, "").target(Target::AtMost(0.0)),
    ]
}

fn bare_run(route: Route, concurrency: usize, duration: Duration) -> Result<LoadResult, Error> {
    let runtime = fixture::runtime()?;
    runtime.block_on(async {
        let bare = Bare::start().await?;
        let client = load::client(concurrency)?;
        Ok(load::run(&client, concurrency, duration, route.maker(format!("http://{}", bare.addr))).await)
    })
}

/// Loads a fresh daemon; returns the load, how many acknowledged messages are missing from the
/// store reopened from disk, and what the flusher did meanwhile.
fn daemon_run(
    cx: &Context,
    route: Route,
    concurrency: usize,
    duration: Duration,
) -> Result<(LoadResult, usize, String), Error> {
    let scratch = Scratch::new(&cx.dir, "ingest")?;
    fixture::write_definitions(scratch.path(), &[("bench-ingest".into(), WORKFLOW.into())], &[])?;
    let settings = settings(scratch.path());
    let runtime = fixture::runtime()?;
    let (result, flushes) = runtime.block_on(async {
        let app = crate::app::start(settings.clone()).await?;
        let client = load::client(concurrency)?;
        let (flushes, waiters) =
            (probe::metric("qualifyd_flushes_total"), probe::metric("qualifyd_flush_batch_size_sum"));
        let result = load::run(&client, concurrency, duration, route.maker(format!("http://{}", app.addr))).await;
        let flushes = probe::metric("qualifyd_flushes_total") - flushes;
        let waiters = probe::metric("qualifyd_flush_batch_size_sum") - waiters;
        app.shutdown().await;
        let text = format!(
            "{flushes:.0} group flushes ({:.2} waiters each, requests and worker commits together)",
            waiters / flushes.max(1.0)
        );
        Ok::<_, Error>((result, text))
    })?;
    drop(runtime); // Ends every task still holding the store, so it can be reopened.
    let missing = missing_on_disk(&settings, route, &result)?;
    Ok((result, missing, flushes))
}

/// Reopens the store from disk and counts acknowledged provider ids with no inbound message.
fn missing_on_disk(settings: &Settings, route: Route, result: &LoadResult) -> Result<usize, Error> {
    let store = fixture::reopen(settings)?;
    let mut stored = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.prospects(after.as_deref(), 1_000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for prospect in &page {
            for message in store.messages(&prospect.id)? {
                if message.direction == Direction::Inbound {
                    stored.extend(message.provider_id);
                }
            }
        }
    }
    Ok(result.acknowledged.iter().filter(|(c, s)| !stored.contains(&route.message_id(*c, *s))).count())
}
