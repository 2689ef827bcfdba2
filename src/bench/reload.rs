//! Scenario `reload`: with 200 workflow files in the watched directory, one file is saved in
//! place (truncated and rewritten, same inode, as most editors configured to do so and `echo >`
//! do) and the clock runs until `GET /v1/workflows` shows its new version. The real daemon
//! (`app::start`) with the default watcher settings: the 250 ms debounce and the reloader's
//! 150 ms settle time are part of the figure. Baseline: the rebuild alone (`reload_now`: load and
//! compile all 200 files, compare, swap), same run.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fixture::{self, ADMIN_TOKEN, Scratch};
use super::{Context, Error, Figure, Scenario, Target};

const GREET: &str = "Hello! We received your request; when would suit you for a short call?";
const THANKS: &str = "Thank you, {{ last_reply }} is noted. An advisor will call you.";
const EDITED: usize = 7;

/// Workflow `n`, in its `edit`-th revision.
fn workflow(n: usize, edit: usize) -> (String, String) {
    let id = format!("wf-{n:03}");
    let text = format!(
        "id: {id}
description: Bench workflow {n}, revision {edit}
channel: sms
fields:
  budget: {{ type: number, description: Monthly budget, ask: \"What budget do you have in mind?\" }}
score: \"(50 if fields.budget is number and fields.budget >= 1000 else 0)\"
steps:
  - {{ id: greet, send: {{ template: bench/greet.j2 }} }}
  - {{ id: listen, wait_reply: {{ timeout: 2d, on_timeout: gave_up }} }}
  - {{ id: thanks, send: {{ template: bench/thanks.j2 }} }}
  - {{ id: done, end: replied }}
  - {{ id: gave_up, end: unresponsive }}
"
    );
    (id, text)
}

pub fn run(cx: &mut Context) -> Result<Vec<Figure>, Error> {
    let files = cx.size(200, 50);
    let edits = cx.size(5, 2);
    let scratch = Scratch::new(&cx.dir, "reload")?;
    let workflows: Vec<(String, String)> = (0..files).map(|n| workflow(n, 0)).collect();
    fixture::write_definitions(scratch.path(), &workflows, &[("bench/greet.j2", GREET), ("bench/thanks.j2", THANKS)])?;
    let settings = fixture::settings(scratch.path());
    let runtime = fixture::runtime()?;
    let (times, rebuilds) = runtime.block_on(async {
        let app = crate::app::start(settings.clone()).await?;
        let base = format!("http://{}", app.addr);
        let client = reqwest::Client::new();
        let (id, _) = workflow(EDITED, 0);
        let mut version = served_version(&client, &base, &id).await?;
        let mut times = Vec::new();
        for edit in 1..=edits {
            let (_, text) = workflow(EDITED, edit);
            let started = Instant::now();
            save_in_place(&settings.workflows_dir.join(format!("{id}.yaml")), &text)?;
            loop {
                let now = served_version(&client, &base, &id).await?;
                if now != version {
                    version = now;
                    break;
                }
                if started.elapsed() > Duration::from_secs(60) {
                    return Err(Error::Check(format!("edit {edit} of {id} was not served within 60 s")));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            times.push(started.elapsed());
            // Let the watcher's debouncer forget this edit before the next one.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut rebuilds = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            app.reloader.reload_now("request").await;
            rebuilds.push(started.elapsed());
        }
        app.shutdown().await;
        Ok::<_, Error>((times, rebuilds))
    })?;
    let ms =
        |t: &[Duration]| t.iter().map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0)).collect::<Vec<_>>().join(", ");
    cx.note(
        Scenario::Reload,
        format!("{files} files; saved -> served (ms): [{}]; rebuild alone (ms): [{}]", ms(&times), ms(&rebuilds)),
    );
    Ok(vec![
        Figure::new(
            "reload",
            format!("saved in place -> served, {files} files (median of {edits})"),
            median(&times),
            "ms",
        )
        .baseline(median(&rebuilds))
        .target(Target::AtMost(1_000.0)),
        Figure::new("reload", format!("saved in place -> served, {files} files (slowest)"), slowest(&times), "ms")
            .baseline(slowest(&rebuilds)),
    ])
}

/// Truncates and rewrites the file (same inode), then syncs it.
fn save_in_place(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut file =
        std::fs::OpenOptions::new().write(true).truncate(true).open(path).map_err(|e| Error::io("opening", path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| Error::io("writing", path, e))?;
    file.sync_all().map_err(|e| Error::io("syncing", path, e))
}

/// The version of workflow `id` that `GET /v1/workflows` shows.
async fn served_version(client: &reqwest::Client, base: &str, id: &str) -> Result<String, Error> {
    let answer: Value = client
        .get(format!("{base}/v1/workflows"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["workflows"]
        .as_array()
        .and_then(|list| list.iter().find(|w| w["id"] == id))
        .and_then(|w| w["version"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Check(format!("GET /v1/workflows does not list `{id}`")))
}

fn median(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn slowest(times: &[Duration]) -> f64 {
    times.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
