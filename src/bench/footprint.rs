//! Scenario `footprint`: bytes on disk and resident memory per prospect with a 10-message
//! conversation (5 replies, each acknowledged). The prospects and their replies are written as
//! an import and `Engine::inbound` write them; the real engine then applies the replies and
//! sends the 5 answers, so states, messages, dedupe keys and indexes are the engine's own.
//! Disk: the store directory after a clean close, less an empty store's, per prospect; baseline:
//! the records themselves (JSON state + messages). Memory: the real binary started on the store,
//! after one `GET /v1/workflows` (which reads every prospect), less the same binary on an empty
//! store, per prospect.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::child::{self, Daemon};
use super::counting::Tally;
use super::fixture::{self, Scratch, Seeder, prospect_id};
use super::probe::{self, mb};
use super::{Context, Error, Figure, Scenario};
use crate::machine::Event;
use crate::store::Store;

const WORKFLOW: &str = "id: bench-footprint
channel: sms
steps:
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: gave_up } }
  - { id: ack, send: { template: bench/ack.j2 }, next: listen }
  - { id: gave_up, end: unresponsive }
";
const ACK: &str = "Thanks, noted: \"{{ last_reply }}\". An advisor will call you back within a day.";
const REPLIES: [&str; 5] = [
    "Hello, I saw your ad for heat pumps and I would like a quote for my house.",
    "It is a 120 m2 house built in 1985, currently heated with oil.",
    "Our budget is around 15000 euros, we can get the state subsidy too.",
    "We would like the work done before next winter, ideally in September.",
    "You can call me on weekdays after 6 pm, my wife and I decide together.",
];

pub fn run(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let n = cx.size(10_000, 100);
    let empty = Scratch::new(&cx.dir, "footprint-empty")?;
    let full = Scratch::new(&cx.dir, "footprint")?;
    for dir in [&empty, &full] {
        fixture::write_definitions(
            dir.path(),
            &[("bench-footprint".into(), WORKFLOW.into())],
            &[("bench/ack.j2", ACK)],
        )?;
    }
    converse(&fixture::settings(empty.path()), 0)?;
    converse(&fixture::settings(full.path()), n)?;
    let (empty_disk, full_disk) =
        (probe::dir_size(&empty.path().join("data")), probe::dir_size(&full.path().join("data")));
    let logical = records(&fixture::settings(full.path()), n)?;
    let settle = Duration::from_secs(1);
    let (empty_memory, _) = child::idle_memory(empty.path(), settle)?;
    let daemon = Daemon::start(full.path())?;
    let (status, census) = daemon.get("/v1/workflows")?;
    let full_memory = daemon.memory();
    daemon.stop()?;
    if status != 200 {
        return Err(Error::Check(format!("GET /v1/workflows answered {status}")));
    }
    let per = |full: u64, empty: u64| full.saturating_sub(empty) as f64 / n as f64;
    cx.note(
        Scenario::Footprint,
        format!(
            "{n} prospects x 10 messages: store {:.1} MB (empty store {:.2} MB); daemon resident {:.1} MB after reading them all in {:.2} s (empty store {:.1} MB); sled's page cache is capped at 64 MB by default",
            mb(full_disk), mb(empty_disk), mb(full_memory.rss), census.as_secs_f64(), mb(empty_memory.rss)
        ),
    );
    Ok(vec![
        Figure::new("footprint", "disk per prospect (10 messages)", per(full_disk, empty_disk), "B").baseline(logical),
        Figure::new(
            "footprint",
            "resident memory per prospect (10 messages)",
            per(full_memory.rss, empty_memory.rss),
            "B",
        ),
    ])
}

/// Writes `n` prospects with 5 replies each, runs the engine until every answer is sent, and
/// closes the store cleanly.
fn converse(settings: &crate::settings::Settings, n: usize) -> Result<(), Error> {
    let workflow = fixture::workflow(&fixture::catalog(settings)?, "bench-footprint")?;
    let store = fixture::open_store(settings)?;
    let mut seeder = Seeder::new(&store.inner);
    let now = Utc::now();
    for i in 0..n {
        let state = fixture::new_prospect(&workflow, i, now);
        let id = state.id.clone();
        seeder.prospect(state)?;
        seeder.event(&id, Event::Entered)?;
        for (k, text) in REPLIES.iter().enumerate() {
            seeder.inbound(&id, &format!("SM{i:016x}{k:016x}"), text, now)?;
        }
    }
    seeder.finish()?;
    let tally = Arc::new(Tally::default());
    let runtime = fixture::runtime()?;
    runtime.block_on(async {
        let engine = fixture::start_engine(settings, &store, &tally).await?;
        let limit = Duration::from_secs(1_800);
        let every = Duration::from_millis(20);
        fixture::wait_until("footprint", limit, every, || Ok(tally.sends() >= 5 * n as u64)).await?;
        fixture::wait_until("footprint", limit, every, || Ok(store.inner.count_outbox()? == 0)).await?;
        engine.shutdown().await;
        Ok::<_, Error>(())
    })?;
    drop(runtime);
    drop(store);
    Ok(())
}

/// Mean bytes per prospect of its records, JSON-encoded as stored (keys not counted); checks
/// that each conversation has its 10 messages.
fn records(settings: &crate::settings::Settings, n: usize) -> Result<f64, Error> {
    let store = fixture::reopen(settings)?;
    let mut bytes = 0usize;
    for i in 0..n {
        let id = prospect_id(i);
        let state = store.prospect(&id)?.ok_or_else(|| Error::Check(format!("prospect {id} is missing")))?;
        let messages = store.messages(&id)?;
        if messages.len() != 10 {
            return Err(Error::Check(format!("prospect {id} has {} messages, not 10", messages.len())));
        }
        bytes += serde_json::to_vec(&state).map_or(0, |v| v.len());
        bytes += messages.iter().map(|m| serde_json::to_vec(m).map_or(0, |v| v.len())).sum::<usize>();
    }
    Ok(bytes as f64 / n.max(1) as f64)
}
