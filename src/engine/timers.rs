//! The timer service: scans the due range of the timer index (never every prospect) a few
//! times a second, and turns each due timer into a `TimerFired` event in the prospect's inbox,
//! in the same atomic batch that removes it from the index. Once a minute it also forgets the
//! held receipts and tokens whose time is up (`receipts::sweep_expired`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;

use crate::engine::{Error, Inner};
use crate::machine::Event;
use crate::store::{Batch, Op};

const TICK: Duration = Duration::from_millis(200);
const BATCH: usize = 2_000;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut swept = std::time::Instant::now();
    while !inner.stopping.load(Ordering::SeqCst) {
        if swept.elapsed() >= SWEEP_EVERY {
            swept = std::time::Instant::now();
            match super::receipts::sweep_expired(&inner, Utc::now()).await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "expired receipts and tokens forgotten"),
                Err(err) => tracing::warn!(error = %err, "forgetting expired receipts and tokens failed; retrying"),
            }
        }
        match step(&inner).await {
            Ok(fired) if fired == BATCH => continue,
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "timer scan failed; retrying"),
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Moves every due timer (up to a batch) to its prospect's inbox. Returns how many fired.
pub(crate) async fn step(inner: &Inner) -> Result<usize, Error> {
    let due = inner.store.due_timers(Utc::now(), BATCH)?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut batch = Batch::new();
    for timer in &due {
        batch.push(Op::DeleteTimer { at: timer.at, prospect: timer.prospect.clone(), seq: timer.seq });
        let seq = inner.store.next_id()?;
        batch.push(Op::PutInbox { prospect: timer.prospect.clone(), seq, event: Event::TimerFired { seq: timer.seq } });
    }
    inner.writer.apply(batch).await?;
    let now = Utc::now();
    for timer in &due {
        let lag = (now - timer.at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("qualifyd_timer_lag_seconds").record(lag);
        inner.notify(&timer.prospect);
    }
    metrics::counter!("qualifyd_timers_fired_total").increment(due.len() as u64);
    Ok(due.len())
}
