//! Scenario `restart`: time from spawning `qualifyd serve` (the real binary, a child process) to
//! its first `200` from `/healthz`, on a store of 1,000,000 waiting prospects with a timer each,
//! against the same binary on an empty store. Each start follows a clean stop (SIGTERM). The
//! store's files are in the OS page cache (they were just written): a cold start after a reboot
//! reads them from disk instead.
//!
//! Also home of that big store ([`big_store`], shared with `timers`), written through the public
//! `Store` API: each state is the real state machine's answer to `Entered` (a `wait_reply` step
//! ten years long, so it holds one timer), stored with its contact index, unsubscribe token and
//! timer index entry, in batches of 40,000 keys.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use super::child::Daemon;
use super::fixture::{self, Scratch, Seeder};
use super::probe::{self, mb};
use super::{Context, Error, Figure, Scenario, Target};
use crate::catalog::Catalog;
use crate::store::Op;

pub(super) const FAR: &str = "id: bench-far
channel: sms
steps:
  - { id: listen, wait_reply: { timeout: 520w, on_timeout: gave_up } }
  - { id: replied, end: replied }
  - { id: gave_up, end: unresponsive }
";
/// A data directory with many waiting prospects, each with a far timer.
pub struct BigStore {
    scratch: Scratch,
    pub prospects: usize,
}

impl BigStore {
    pub fn path(&self) -> &Path {
        self.scratch.path()
    }
}

/// The shared big store, written on first use.
pub fn big_store(cx: &mut Context) -> Result<&BigStore, Error> {
    if cx.big_store.is_none() {
        let prospects = cx.size(1_000_000, 2_000);
        let scratch = Scratch::new(&cx.dir, "big")?;
        let started = Instant::now();
        seed(scratch.path(), "bench-far", FAR, prospects, |i| Utc::now() + TimeDelta::milliseconds(i as i64))?;
        let size = probe::dir_size(&scratch.path().join("data"));
        cx.notes.push(format!(
            "timers, restart: {prospects} waiting prospects, one timer each, written through the Store API in {:.1} s ({:.0} MB on disk)",
            started.elapsed().as_secs_f64(),
            mb(size)
        ));
        cx.big_store = Some(BigStore { scratch, prospects });
    }
    Ok(cx.big_store.as_ref().expect("just set"))
}

/// Writes the workflow and `count` prospects after `Entered` at `entered_at(i)`.
pub(super) fn seed(
    dir: &Path,
    id: &str,
    text: &str,
    count: usize,
    entered_at: impl Fn(usize) -> DateTime<Utc>,
) -> Result<Catalog, Error> {
    fixture::write_definitions(dir, &[(id.to_string(), text.to_string())], &[])?;
    let settings = fixture::settings(dir);
    let catalog = fixture::catalog(&settings)?;
    let workflow = fixture::workflow(&catalog, id)?;
    let store = fixture::open_store(&settings)?;
    let mut seeder = Seeder::new(&store.inner);
    seeder.push(Op::PutWorkflowSource {
        workflow: workflow.id.clone(),
        version: workflow.version.clone(),
        source: Box::new(workflow.source.clone()),
    })?;
    for i in 0..count {
        seeder.prospect(fixture::entered(&settings, &workflow, i, entered_at(i)))?;
    }
    seeder.finish()?;
    Ok(catalog)
}

pub fn run(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let repeats = cx.size(3, 1);
    let empty = Scratch::new(&cx.dir, "restart-empty")?;
    fixture::write_definitions(empty.path(), &[("bench-far".into(), FAR.into())], &[])?;
    // The first start creates the store; only restarts are timed.
    Daemon::start(empty.path())?.stop()?;
    let baseline = starts(empty.path(), repeats)?;
    let big = big_store(cx)?;
    let (path, prospects) = (big.path().to_path_buf(), big.prospects);
    let loaded = starts(&path, repeats)?;
    let list =
        |times: &[Duration]| times.iter().map(|t| format!("{:.3}", t.as_secs_f64())).collect::<Vec<_>>().join(", ");
    cx.note(
        Scenario::Restart,
        format!("ready after (s): empty store [{}], {prospects} prospects [{}]", list(&baseline), list(&loaded)),
    );
    Ok(vec![
        Figure::new(
            "restart",
            format!("start to ready, {prospects} prospects (median of {repeats})"),
            median(&loaded),
            "s",
        )
        .baseline(median(&baseline))
        .target(Target::AtMost(2.0)),
        Figure::new("restart", format!("start to ready, {prospects} prospects (slowest)"), slowest(&loaded), "s")
            .baseline(slowest(&baseline)),
    ])
}

/// Starts and stops the daemon `repeats` times; returns each time to ready.
fn starts(dir: &Path, repeats: usize) -> Result<Vec<Duration>, Error> {
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let daemon = Daemon::start(dir)?;
        times.push(daemon.ready);
        daemon.stop()?;
    }
    Ok(times)
}

fn median(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).map_or(0.0, Duration::as_secs_f64)
}

fn slowest(times: &[Duration]) -> f64 {
    times.iter().max().map_or(0.0, Duration::as_secs_f64)
}
