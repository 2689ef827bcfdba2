//! Reads for the admin API, admin commands, and the gauges computed at scrape time.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::engine::api::{MessageView, ProspectFilter, ProspectPage, ProspectView, WorkflowView};
use crate::engine::privacy::held_by_restriction;
use crate::engine::{Engine, Error};
use crate::machine::{AdminCommand, Event, Status};
use crate::store::{Batch, Op};

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 1_000;

impl Engine {
    pub fn prospect(&self, id: &str) -> Result<Option<ProspectView>, Error> {
        Ok(self.inner.store.prospect(id)?.as_ref().map(ProspectView::from))
    }

    /// A page of prospects in id order, filtered by workflow and status.
    pub fn prospects(&self, filter: &ProspectFilter) -> Result<ProspectPage, Error> {
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let mut items = Vec::new();
        let mut after = filter.cursor.clone();
        let mut exhausted = false;
        while items.len() < limit {
            let chunk = self.inner.store.prospects(after.as_deref(), 512)?;
            if chunk.is_empty() {
                exhausted = true;
                break;
            }
            after = chunk.last().map(|s| s.id.clone());
            for state in chunk {
                let workflow_ok = filter.workflow.as_deref().is_none_or(|w| w == state.workflow);
                let status_ok = filter.status.as_deref().is_none_or(|s| s == state.status.name());
                if workflow_ok && status_ok {
                    items.push(ProspectView::from(&state));
                    if items.len() == limit {
                        break;
                    }
                }
            }
        }
        let next_cursor = if exhausted { None } else { items.last().map(|p| p.id.clone()) };
        Ok(ProspectPage { items, next_cursor, damaged: self.inner.store.damaged() })
    }

    pub fn messages(&self, id: &str) -> Result<Option<Vec<MessageView>>, Error> {
        if self.inner.store.prospect(id)?.is_none() {
            return Ok(None);
        }
        Ok(Some(self.inner.store.messages(id)?.iter().map(MessageView::from).collect()))
    }

    /// Queues an admin command for the prospect, durably, and waits until it is applied (or a
    /// second passes). Returns false when the prospect does not exist. `Error::Invalid` for a
    /// pause, resume or takeover of a restricted prospect (only `unrestrict` lifts it).
    pub async fn command(&self, id: &str, command: AdminCommand) -> Result<bool, Error> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        if self.inner.store.prospect(id)?.is_none() {
            return Ok(false);
        }
        let event = Event::Admin { command };
        if held_by_restriction(&event) && self.inner.is_restricted(id)? {
            return Err(Error::Invalid(format!(
                "prospect `{id}` is restricted (GDPR art. 18): nothing is sent to it and it cannot be paused, \
                 resumed or taken over until POST /v1/privacy/unrestrict lifts the restriction"
            )));
        }
        let mut batch = Batch::new();
        let seq = self.inner.store.next_id()?;
        batch.push(Op::PutInbox { prospect: id.to_string(), seq, event });
        self.inner.commit(batch).await?;
        self.inner.notify(id);
        self.wait_applied(id, seq).await?;
        Ok(true)
    }

    /// Waits (bounded) until the inbox event `seq` of `id` has been applied.
    async fn wait_applied(&self, id: &str, seq: u64) -> Result<(), Error> {
        for _ in 0..100 {
            if !self.inner.store.inbox(id)?.iter().any(|(s, _)| *s == seq) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok(())
    }

    pub fn workflows(&self) -> Vec<WorkflowView> {
        self.catalog()
            .workflows
            .values()
            .map(|w| WorkflowView {
                id: w.id.clone(),
                version: w.version.clone(),
                paused: self.inner.is_paused(&w.id),
                description: w.description.clone(),
            })
            .collect()
    }

    /// Prospects by status and by workflow version (a scan: meant for scrapes, not hot paths).
    pub fn census(&self) -> Result<Census, Error> {
        let mut census = Census::default();
        let mut after: Option<String> = None;
        loop {
            let chunk = self.inner.store.prospects(after.as_deref(), 1024)?;
            let Some(last) = chunk.last() else { break };
            after = Some(last.id.clone());
            for state in &chunk {
                *census.by_status.entry(state.status.name().to_string()).or_default() += 1;
                *census.by_version.entry((state.workflow.clone(), state.version.clone())).or_default() += 1;
                let status = (state.workflow.clone(), state.status.name().to_string());
                *census.by_workflow_status.entry(status).or_default() += 1;
            }
        }
        Ok(census)
    }

    /// Updates the Prometheus gauges that are computed at scrape time.
    pub fn update_gauges(&self) {
        match self.census() {
            Ok(census) => {
                for status in Status::NAMES {
                    let count = census.count(status);
                    metrics::gauge!("qualifyd_prospects", "status" => status).set(count as f64);
                }
            }
            Err(err) => tracing::error!(error = %err, "counting prospects for metrics failed"),
        }
        if let Ok(timers) = self.inner.store.count_timers() {
            metrics::gauge!("qualifyd_timers_pending").set(timers as f64);
        }
        let now = chrono::Utc::now();
        if let Ok(outbox) = self.inner.store.outbox() {
            metrics::gauge!("qualifyd_outbox_depth").set(outbox.len() as f64);
            let oldest = outbox.iter().map(|e| e.not_before).min().filter(|at| *at <= now);
            let waited = oldest.map(|at| (now - at).num_milliseconds() as f64 / 1000.0).unwrap_or(0.0);
            metrics::gauge!("qualifyd_outbox_oldest_seconds").set(waited);
        }
        if let Ok(due) = self.inner.store.due_timers(now, 100_000) {
            metrics::gauge!("qualifyd_timers_due").set(due.len() as f64);
        }
        metrics::gauge!(crate::store::DAMAGED_GAUGE).set(self.inner.store.damaged().len() as f64);
    }
}

/// Counts of prospects.
#[derive(Debug, Default, Clone)]
pub struct Census {
    pub by_status: BTreeMap<String, usize>,
    pub by_version: BTreeMap<(String, String), usize>,
    /// (workflow, status name) -> prospects.
    pub by_workflow_status: BTreeMap<(String, String), usize>,
}

impl Census {
    /// Prospects with this status name (`Status::name`), in every workflow.
    pub fn count(&self, status: &str) -> usize {
        self.by_status.get(status).copied().unwrap_or(0)
    }
}
