//! Scenario `import`: `qualifyd import` of a 100,000-row CSV file, run as the command runs it
//! (`ops::import::run`: read and check every row, then batches of 1,000 to `POST /v1/prospects`
//! with a checkpoint after each) against the real daemon (`app::start`, fresh data directory,
//! outbox driver). Each batch is one atomic, flushed write on the daemon's side (prospects,
//! contact index, sealed with new data keys made durable first). Timed from the command's start
//! to its summary, then until the engine has applied every imported prospect's first transition
//! (a greeting queued and recorded by the outbox driver). Every row must come back `created`.
//! Baseline: the same command, same file, same batches, against a bare handler that reads the
//! body and answers an empty result, in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

use super::fixture::{self, ADMIN_TOKEN, Scratch, phone};
use super::load::Bare;
use super::probe;
use super::{Context, Error, Figure, Scenario, Target};
use crate::ops::import::{Options, Summary};

const WORKFLOW: &str = "id: bench-import
channel: sms
entry: { import: true }
fields:
  budget: { type: number, unit: euros, description: Monthly budget, ask: \"What budget do you have in mind?\" }
steps:
  - { id: greet, send: { template: bench/greet.j2 } }
  - { id: listen, wait_reply: { timeout: 30d, on_timeout: gave_up } }
  - { id: gave_up, end: unresponsive }
";
const GREET: &str = "Hello! We received your request; what budget do you have in mind?";
const BATCH: usize = 1000;

pub fn run(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let rows = cx.size(100_000, 2_000);
    let scratch = Scratch::new(&cx.dir, "import")?;
    fixture::write_definitions(
        scratch.path(),
        &[("bench-import".into(), WORKFLOW.into())],
        &[("bench/greet.j2", GREET)],
    )?;
    let config = fixture::config_file(scratch.path())?;
    let file = scratch.path().join("leads.csv");
    write_csv(&file, rows)?;
    let options = |server: String| Options {
        config: config.clone(),
        file: file.clone(),
        workflow: "bench-import".into(),
        maps: Vec::new(),
        dry_run: false,
        server: Some(server),
        token: Some(ADMIN_TOKEN.into()),
        batch: BATCH,
        terminal: false,
    };
    let settings = fixture::settings(scratch.path());
    let runtime = fixture::runtime()?;
    let (bare, daemon, drained, flushes) = runtime.block_on(async {
        let server = Bare::start().await?;
        let (bare, _) = timed_import(&options(format!("http://{}", server.addr))).await?;
        drop(server);

        let app = crate::app::start(settings.clone()).await?;
        let (transitions, flushes) =
            (probe::metric("qualifyd_transitions_total"), probe::metric("qualifyd_flushes_total"));
        let started = Instant::now();
        let (daemon, summary) = timed_import(&options(format!("http://{}", app.addr))).await?;
        let flushes = probe::metric("qualifyd_flushes_total") - flushes;
        if summary.created != rows || !summary.rejected.is_empty() {
            return Err(Error::Check(format!(
                "{rows} rows: {} created, {} existing, {} rejected (first: {:?})",
                summary.created,
                summary.existing,
                summary.rejected.len(),
                summary.rejected.first()
            )));
        }
        let limit = Duration::from_secs(if cx.quick { 60 } else { 900 });
        while probe::metric("qualifyd_transitions_total") - transitions < rows as f64 {
            if started.elapsed() > limit {
                return Err(Error::Check(format!(
                    "the engine did not apply {rows} first transitions within {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drained = started.elapsed();
        app.shutdown().await;
        Ok::<_, Error>((bare, daemon, drained, flushes))
    })?;
    let per_second = |d: Duration| rows as f64 / d.as_secs_f64().max(1e-9);
    let s = "import";
    let mut total = Figure::new(s, format!("{rows} rows end to end (qualifyd import)"), daemon.as_secs_f64(), "s")
        .baseline(bare.as_secs_f64());
    if !cx.quick {
        total = total.target(Target::AtMost(60.0));
    }
    cx.note(
        Scenario::Import,
        format!(
            "{rows} rows in batches of {BATCH}, one request at a time as the command sends them; the daemon made \
             {flushes:.0} group flushes meanwhile (import batches and the engine's commits together); the command, \
             the daemon and the bare handler share this process and its cores"
        ),
    );
    Ok(vec![
        total,
        Figure::new(s, "rows/s end to end", per_second(daemon), "rows/s").baseline(per_second(bare)),
        Figure::new(s, "until every first transition is applied", drained.as_secs_f64(), "s"),
    ])
}

/// Runs the command's own code; returns how long it took and its summary.
async fn timed_import(options: &Options) -> Result<(Duration, Summary), Error> {
    let started = Instant::now();
    let summary = crate::ops::import::run(options, &mut std::io::sink())
        .await
        .map_err(|e| Error::Check(format!("qualifyd import: {e}")))?;
    Ok((started.elapsed(), summary))
}

/// `rows` people with distinct valid phone numbers, as the 100,000-row test writes them.
fn write_csv(path: &Path, rows: usize) -> Result<(), Error> {
    let mut text = String::from("nom,téléphone,budget\n");
    for i in 0..rows {
        text.push_str(&format!("Prospect {i},{},{}\n", phone(i), 500 + i % 1000));
    }
    fixture::write(path, &text)
}
