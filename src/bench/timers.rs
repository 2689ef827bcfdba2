//! Scenario `timers`. Memory: the real binary's resident memory idle on a store holding
//! 1,000,000 waiting prospects with a pending timer each (ten years out), against the same
//! binary on an empty store; then once more after one `GET /metrics` (which counts every
//! prospect and timer). Lag: 10,000 timers due at the same instant, on the real engine; lag is
//! from the due time to the prospect's next state change (its `updated_at`).
//!
//! Both stores are written through the public `Store` API (see [`super::restart::seed`]): each
//! state is the real state machine's answer to `Entered` at a `wait_reply` step, so it holds
//! one timer. The big store is the one `restart` uses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};

use super::child::{self, Daemon};
use super::counting::Tally;
use super::fixture::{self, Scratch};
use super::probe::{self, Samples, mb};
use super::restart::{FAR, big_store, seed};
use super::{Context, Error, Figure, Scenario, Target};
use crate::machine::Status;
use crate::store::Store;

const DUE: &str = "id: bench-due
channel: sms
steps:
  - { id: listen, wait_reply: { timeout: 1h, on_timeout: gave_up } }
  - { id: replied, end: replied }
  - { id: gave_up, end: unresponsive }
";

pub fn run(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let mut figures = memory(cx)?;
    figures.extend(lag(cx)?);
    Ok(figures)
}

fn memory(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let settle = Duration::from_secs(if cx.quick { 1 } else { 2 });
    let empty = Scratch::new(&cx.dir, "empty")?;
    fixture::write_definitions(empty.path(), &[("bench-far".into(), FAR.into())], &[])?;
    let (before, _) = child::idle_memory(empty.path(), settle)?;
    let big = big_store(cx)?;
    let prospects = big.prospects;
    let daemon = Daemon::start(big.path())?;
    std::thread::sleep(settle);
    let after = daemon.memory();
    let (status, scrape) = daemon.get("/metrics")?;
    let scraped = daemon.memory();
    daemon.stop()?;
    if status != 200 {
        return Err(Error::Check(format!("GET /metrics answered {status}")));
    }
    cx.note(
        Scenario::Timers,
        format!(
            "resident memory of `qualifyd serve` {settle:?} after ready: {:.1} MB empty, {:.1} MB with {prospects} timers (peak {:.1} MB); {:.1} MB after one /metrics scrape, which took {:.2} s",
            mb(before.rss), mb(after.rss), mb(after.peak), mb(scraped.rss), scrape.as_secs_f64()
        ),
    );
    Ok(vec![
        Figure::new("timers", format!("resident memory, {prospects} pending timers"), mb(after.rss), "MB")
            .baseline(mb(before.rss))
            .target(Target::AtMost(300.0)),
        Figure::new("timers", "resident memory after one GET /metrics", mb(scraped.rss), "MB").baseline(mb(before.rss)),
        Figure::new("timers", format!("GET /metrics with {prospects} prospects"), scrape.as_secs_f64() * 1000.0, "ms"),
    ])
}

fn lag(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let count = cx.size(10_000, 300);
    let scratch = Scratch::new(&cx.dir, "due")?;
    let due = (Utc::now() + TimeDelta::seconds(3)).duration_trunc(TimeDelta::seconds(1)).unwrap_or_else(|_| Utc::now());
    // `Entered` one hour before `due` with a one-hour `wait_reply`: every timer falls due at `due`.
    seed(scratch.path(), "bench-due", DUE, count, |_| due - TimeDelta::hours(1))?;
    let settings = fixture::settings(scratch.path());
    let store = fixture::open_store(&settings)?;
    let runtime = fixture::runtime()?;
    let (early, stats, wall) = runtime.block_on(async {
        let engine = fixture::start_engine(&settings, &store, &Arc::new(Tally::default())).await?;
        let early = (due - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(early).await;
        let before = store.stats();
        let transitions = probe::metric("qualifyd_transitions_total");
        let started = Instant::now();
        // Polls a counter, not the store: a scan every few milliseconds would compete with the
        // engine for the same two cores and inflate the lag it measures.
        let every = Duration::from_millis(20);
        fixture::wait_until("timers", Duration::from_secs(600), every, || {
            Ok(probe::metrics().is_none() || probe::metric("qualifyd_transitions_total") - transitions >= count as f64)
        })
        .await?;
        fixture::wait_until("timers", Duration::from_secs(60), every, || {
            Ok(store.inner.count_timers()? == 0 && store.inner.prospects_with_inbox()?.is_empty())
        })
        .await?;
        let wall = started.elapsed();
        engine.shutdown().await;
        Ok::<_, Error>((early, store.stats().since(before), wall))
    })?;
    drop(runtime);
    if early.is_zero() {
        cx.note(Scenario::Timers, "the engine started after the timers fell due: the lag includes part of its start");
    }
    let mut lags = Vec::with_capacity(count);
    let mut after: Option<String> = None;
    loop {
        let page = store.inner.prospects(after.as_deref(), 1_000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for state in &page {
            if !matches!(&state.status, Status::Completed { outcome } if outcome == "unresponsive") {
                return Err(Error::Check(format!("prospect {} did not time out: {:?}", state.id, state.status)));
            }
            lags.push((state.updated_at - due).to_std().unwrap_or_default());
        }
    }
    let lags = Samples::new(lags);
    cx.note(
        Scenario::Timers,
        format!(
            "{count} timers due at {due}: all fired and applied in {:.2} s; store: {}",
            wall.as_secs_f64(),
            stats.describe(wall)
        ),
    );
    Ok(vec![
        Figure::new("timers", format!("{count} due at once: lag p50"), lags.quantile_ms(0.5), "ms"),
        Figure::new("timers", format!("{count} due at once: lag p99"), lags.quantile_ms(0.99), "ms"),
        Figure::new("timers", format!("{count} due at once: all fired within"), lags.max_ms(), "ms")
            .target(Target::AtMost(2_000.0)),
    ])
}
