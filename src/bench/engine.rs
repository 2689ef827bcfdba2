//! Scenario `engine`: N prospects (100,000; fewer with `--quick`) through greet -> wait for a
//! reply -> reply -> qualify (rules provider, which answers) -> end, on the real engine and the
//! real sled store (instrumented). Three transitions per prospect (entered, reply, AI answer),
//! three side effects (greeting, AI call, answer).
//!
//! The prospects are written as an import writes them, and the replies as `Engine::inbound`
//! writes them, straight through the `Store` API while the engine is stopped; the engine then
//! starts and works off its inboxes. This measures the workers, the executor and group commit
//! without the intake path, which is measured apart (`Engine::import` at concurrency 64, and
//! the `ingest` scenario). Baseline: raw sled writing the same number of keys in batches of
//! 1,000 with a flush per batch, same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::counting::{CountingStore, StoreStats, Tally};
use super::fixture::{self, Scratch, Seeder, prospect_id};
use super::probe;
use super::{Context, Error, Figure, Scenario, Target};
use crate::engine::api::{ImportRequest, ImportStatus};
use crate::machine::{Event, Status};
use crate::settings::Settings;
use crate::store::Store;

const WORKFLOW: &str = "id: bench-engine
channel: sms
fields:
  budget: { type: number, description: Monthly budget in euros, ask: \"What monthly budget do you have in mind?\" }
steps:
  - { id: greet, send: { template: bench/greet.j2 } }
  - { id: wait, wait_reply: { timeout: 30d, on_timeout: gave_up } }
  - { id: qualify, ai: { prompt: bench/qualify.j2, extract: [budget], reply: true } }
  - { id: thanks, send: { template: bench/greet.j2 } }
  - { id: done, end: qualified }
  - { id: gave_up, end: unresponsive }
";
const GREET: &str = "Hello! Thanks for your interest in our heat pumps. Could you tell us about your project?";
const QUALIFY: &str = "Read the budget in this reply: {{ last_reply }}";
const REPLY: &str = "Hello, my budget is about 2000 euros per month for the installation.";
const RAW_BATCH: u64 = 1_000;

pub fn run(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let n = cx.size(100_000, 300);
    let scratch = Scratch::new(&cx.dir, "engine")?;
    let templates = [("bench/greet.j2", GREET), ("bench/qualify.j2", QUALIFY)];
    fixture::write_definitions(scratch.path(), &[("bench-engine".into(), WORKFLOW.into())], &templates)?;
    let settings = fixture::settings(scratch.path());
    let workflow = fixture::workflow(&fixture::catalog(&settings)?, "bench-engine")?;
    let store = fixture::open_store(&settings)?;
    let seeding = Instant::now();
    let mut seeder = Seeder::new(&store.inner);
    let now = Utc::now();
    for i in 0..n {
        let state = fixture::new_prospect(&workflow, i, now);
        let id = state.id.clone();
        seeder.prospect(state)?;
        seeder.event(&id, Event::Entered)?;
    }
    seeder.finish()?;
    cx.note(
        Scenario::Engine,
        format!("{n} prospects written as imports in {:.1} s (not timed)", seeding.elapsed().as_secs_f64()),
    );

    let tally = Arc::new(Tally::default());
    let runtime = fixture::runtime()?;
    let (greet, greet_stats) = runtime.block_on(phase(cx, &settings, &store, &tally, n as u64, "greet"))?;
    let mut seeder = Seeder::new(&store.inner);
    for i in 0..n {
        seeder.inbound(&prospect_id(i), &format!("bench-reply-{i}"), REPLY, Utc::now())?;
    }
    seeder.finish()?;
    let (reply, reply_stats) = runtime.block_on(phase(cx, &settings, &store, &tally, 2 * n as u64, "reply"))?;
    let (completed, transitions, state_bytes) = census(&store)?;
    if completed != n {
        return Err(Error::Check(format!("{completed} of {n} prospects completed as `qualified`")));
    }
    let total = greet + reply;
    let keys = greet_stats.keys + reply_stats.keys;
    let flushes = (greet_stats.flushes + reply_stats.flushes).max(1);
    let import = runtime.block_on(import_rate(cx))?;
    drop(runtime);
    drop(store);
    let raw = raw_sled(cx, keys, state_bytes, RAW_BATCH)?;
    let raw_same_flushes = raw_sled(cx, keys, state_bytes, keys.div_ceil(flushes))?;
    cx.note(
        Scenario::Engine,
        format!(
            "{transitions} transitions, {completed} prospects `qualified`; raw sled baseline: {keys} keys of {state_bytes} bytes (an encoded prospect state) in batches of {RAW_BATCH}, flushed per batch: {:.2} s; the same keys with as many flushes as the engine did ({flushes}): {:.2} s",
            raw.as_secs_f64(),
            raw_same_flushes.as_secs_f64()
        ),
    );
    let per_second = |d: Duration| transitions as f64 / d.as_secs_f64().max(1e-9);
    Ok(vec![
        Figure::new("engine", "transitions/s", per_second(total), "/s")
            .baseline(per_second(raw))
            .target(Target::AtLeast(20_000.0)),
        Figure::new("engine", format!("time to finish {n} prospects"), total.as_secs_f64(), "s")
            .baseline(raw.as_secs_f64()),
        Figure::new("engine", "greet phase (entered -> greeted, waiting)", greet.as_secs_f64(), "s"),
        Figure::new("engine", "reply phase (reply -> AI -> answer -> end)", reply.as_secs_f64(), "s"),
        Figure::new("engine", "keys per flush (group commit)", keys as f64 / flushes as f64, "")
            .baseline(RAW_BATCH as f64),
        Figure::new("engine", "intake: Engine::import, 64 callers", import.0, "/s").baseline(import.1),
    ])
}

/// Starts the engine on the seeded store and waits until `sends` messages went out in total and
/// the outbox is empty. The engine is started inside the timed window (it scans the inboxes).
async fn phase(
    cx: &mut Context,
    settings: &Settings,
    store: &Arc<CountingStore>,
    tally: &Arc<Tally>,
    sends: u64,
    label: &str,
) -> Result<(Duration, StoreStats), Error> {
    let before = store.stats();
    let cpu = probe::cpu_time();
    let started = Instant::now();
    let engine = fixture::start_engine(settings, store, tally).await?;
    let limit = Duration::from_secs(3_600);
    let every = Duration::from_millis(20);
    fixture::wait_until(label, limit, every, || Ok(tally.sends() >= sends)).await?;
    fixture::wait_until(label, limit, every, || Ok(store.inner.count_outbox()? == 0)).await?;
    let elapsed = started.elapsed();
    let busy = probe::cores_busy(cpu, probe::cpu_time(), elapsed);
    engine.shutdown().await;
    let stats = store.stats().since(before);
    cx.note(
        Scenario::Engine,
        format!(
            "{label} phase: {:.2} s, {busy:.2} cores busy; store: {}",
            elapsed.as_secs_f64(),
            stats.describe(elapsed)
        ),
    );
    Ok((elapsed, stats))
}

/// Prospects completed as `qualified`, transitions in total, and the encoded size of one state.
fn census(store: &CountingStore) -> Result<(usize, u64, usize), Error> {
    let (mut completed, mut transitions, mut bytes) = (0, 0, 0);
    let mut after: Option<String> = None;
    loop {
        let page = store.inner.prospects(after.as_deref(), 1_000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        bytes = serde_json::to_vec(last).map_or(0, |v| v.len());
        for state in &page {
            transitions += state.transitions;
            if matches!(&state.status, Status::Completed { outcome } if outcome == "qualified") {
                completed += 1;
            }
        }
    }
    Ok((completed, transitions, bytes))
}

/// Imports through `Engine::import` from 64 tasks for a fixed time, on a fresh engine; returns
/// imports per second and, as its baseline, one import per mean flush time.
async fn import_rate(cx: &mut Context) -> Result<(f64, f64), Error> {
    let scratch = Scratch::new(&cx.dir, "import")?;
    let templates = [("bench/greet.j2", GREET), ("bench/qualify.j2", QUALIFY)];
    fixture::write_definitions(scratch.path(), &[("bench-engine".into(), WORKFLOW.into())], &templates)?;
    let settings = fixture::settings(scratch.path());
    let store = fixture::open_store(&settings)?;
    let tally = Arc::new(Tally::default());
    let engine = fixture::start_engine(&settings, &store, &tally).await?;
    let duration = if cx.quick { Duration::from_millis(300) } else { Duration::from_secs(3) };
    let before = store.stats();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..64 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut created = 0u64;
            let mut i = caller;
            while started.elapsed() < duration {
                let request = ImportRequest {
                    workflow: "bench-engine".into(),
                    phone: Some(fixture::phone(i)),
                    ..Default::default()
                };
                created += u64::from(engine.import(request).await.status == ImportStatus::Created);
                i += 64;
            }
            created
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += task.await.unwrap_or(0);
    }
    let elapsed = started.elapsed();
    let stats = store.stats().since(before);
    engine.shutdown().await;
    let mean_flush = stats.flush_time.as_secs_f64() / stats.flushes.max(1) as f64;
    cx.note(
        Scenario::Engine,
        format!(
            "intake: {created} imports in {:.2} s from 64 callers; store: {}",
            elapsed.as_secs_f64(),
            stats.describe(elapsed)
        ),
    );
    Ok((created as f64 / elapsed.as_secs_f64(), 1.0 / mean_flush.max(1e-9)))
}

/// Raw sled: `keys` inserts of `value_len` bytes, `per_flush` per batch, a flush after each.
fn raw_sled(cx: &Context, keys: u64, value_len: usize, per_flush: u64) -> Result<Duration, Error> {
    let scratch = Scratch::new(&cx.dir, "raw-sled")?;
    let backend = |e: sled::Error| Error::Store(crate::store::Error::Backend(e.to_string()));
    let db = sled::Config::new()
        .path(scratch.path())
        .cache_capacity(crate::settings::Settings::development(scratch.path()).store.cache_capacity_bytes)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(Some(500))
        .open()
        .map_err(backend)?;
    let tree = db.open_tree("qualifyd").map_err(backend)?;
    let value = vec![b'x'; value_len];
    let started = Instant::now();
    let mut written = 0;
    while written < keys {
        let mut batch = sled::Batch::default();
        for i in written..(written + per_flush.max(1)).min(keys) {
            batch.insert(prospect_id(i as usize).as_bytes(), value.as_slice());
        }
        written = (written + per_flush.max(1)).min(keys);
        tree.apply_batch(batch).map_err(backend)?;
        db.flush().map_err(backend)?;
    }
    Ok(started.elapsed())
}
