//! Retention: [`Engine::sweep_retention`] erases the prospects whose last message to us (or
//! creation, if they never wrote) is older than the retention period, erases unmatched messages
//! older than it, and trims each conversation to the most recent `max_messages`. It takes `now`
//! so tests can run it at any date; [`Engine::start_retention`] runs it on the settings' cron
//! schedule. Every sweep is audited (counts only).
//!
//! Trimmed messages are removed from the store like any record; their bytes may stay in sled's
//! log segments, sealed under the prospect's data key, until sled reclaims the segment. Only
//! erasure destroys a key.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::{Engine, Error};
use crate::store::{Batch, Op};

/// Prospects erased per store call (one flush and one key-file rewrite per bucket each).
const ERASE_CHUNK: usize = 256;
const SCAN_CHUNK: usize = 512;
const TICK: Duration = Duration::from_millis(200);

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub prospects_erased: usize,
    pub unmatched_erased: usize,
    pub messages_trimmed: usize,
}

impl Engine {
    /// One retention sweep as of `now`.
    pub async fn sweep_retention(&self, now: DateTime<Utc>) -> Result<SweepReport, Error> {
        let config = &self.inner.config.privacy;
        let cutoff = now - config.retention_period;
        let mut report = SweepReport::default();
        let mut expired = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let chunk = self.inner.store.prospects(after.as_deref(), SCAN_CHUNK)?;
            let Some(last) = chunk.last() else { break };
            after = Some(last.id.clone());
            for state in &chunk {
                if state.last_inbound_at.unwrap_or(state.created_at) < cutoff {
                    expired.push(state.id.clone());
                } else {
                    report.messages_trimmed += self.trim(&state.id, config.max_messages).await?;
                }
            }
        }
        for ids in expired.chunks(ERASE_CHUNK) {
            report.prospects_erased += self.erase_records(ids, &[]).await?.prospects;
        }
        let old: Vec<u64> =
            self.inner.store.unmatched(usize::MAX)?.iter().filter(|m| m.at < cutoff).map(|m| m.seq).collect();
        if !old.is_empty() {
            report.unmatched_erased = self.erase_records(&[], &old).await?.unmatched_messages;
        }
        let detail = Some(format!(
            "as of {}: {} prospect(s) and {} unmatched message(s) erased, {} message(s) trimmed",
            now.to_rfc3339(),
            report.prospects_erased,
            report.unmatched_erased,
            report.messages_trimmed
        ));
        self.audit("system", "retention.sweep", &[], detail).await?;
        tracing::info!(
            erased = report.prospects_erased,
            unmatched = report.unmatched_erased,
            trimmed = report.messages_trimmed,
            "retention sweep done"
        );
        Ok(report)
    }

    /// Removes the oldest messages of a prospect beyond `keep`; returns how many.
    async fn trim(&self, prospect: &str, keep: usize) -> Result<usize, Error> {
        let seqs = self.inner.store.message_seqs(prospect)?;
        let excess = seqs.len().saturating_sub(keep);
        if excess == 0 {
            return Ok(0);
        }
        let mut batch = Batch::new();
        for seq in &seqs[..excess] {
            batch.push(Op::DeleteMessage { prospect: prospect.to_string(), seq: *seq });
        }
        self.inner.commit(batch).await?;
        Ok(excess)
    }

    /// Runs [`Engine::sweep_retention`] on `cron` (5-field crontab) in `timezone` until the
    /// engine shuts down. A pattern that does not parse is logged and no sweep runs.
    pub fn start_retention(&self, cron: &str, timezone: chrono_tz::Tz) {
        let cron = match cron.parse::<croner::Cron>() {
            Ok(cron) => cron,
            Err(err) => {
                tracing::error!(error = %err, "the retention sweep's cron pattern does not parse: no sweep will run");
                return;
            }
        };
        let engine = self.clone();
        let task = tokio::spawn(async move { engine.retention_loop(cron, timezone).await });
        self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }

    async fn retention_loop(&self, cron: croner::Cron, timezone: chrono_tz::Tz) {
        let stopping = || self.inner.stopping.load(Ordering::SeqCst);
        while !stopping() {
            let from = Utc::now().with_timezone(&timezone);
            let next = match cron.find_next_occurrence(&from, false) {
                Ok(next) => next.with_timezone(&Utc),
                Err(err) => {
                    tracing::error!(error = %err, "the retention sweep's cron pattern has no next time: no sweep will run");
                    return;
                }
            };
            while !stopping() && Utc::now() < next {
                tokio::time::sleep(TICK).await;
            }
            if stopping() {
                return;
            }
            if let Err(err) = self.sweep_retention(Utc::now()).await {
                tracing::error!(error = %err, "the retention sweep failed; it runs again at its next time");
            }
        }
    }
}
