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

    /// Applies a provider's delivery receipt to the outbound message with this provider id.
    /// Receipts arrive out of order: a status never moves backwards. Returns false when no
    /// message has that id.
    pub async fn record_delivery(
        &self,
        prospect_hint: Option<&str>,
        provider_id: &str,
        status: crate::store::DeliveryStatus,
        error: Option<String>,
    ) -> Result<bool, Error> {
        let prospect = match prospect_hint {
            Some(id) => Some(id.to_string()),
            None => self.inner.store.seen(&format!("out:{provider_id}"))?,
        };
        let _guard = self.inner.intake_lock.lock().await;
        let found = match &prospect {
            Some(prospect) => {
                self.inner.store.messages(prospect)?.into_iter().find(|m| m.provider_id.as_deref() == Some(provider_id))
            }
            None => None,
        };
        let (Some(prospect), Some(mut message)) = (prospect, found) else {
            // The receipt overtook the executor recording the send (providers call back fast):
            // keep it durably; the executor applies it when it records the provider id.
            self.hold_receipt(provider_id, status, error).await?;
            return Ok(false);
        };
        if status <= message.status {
            return Ok(true); // Late or repeated receipt.
        }
        message.status = status;
        if error.is_some() {
            message.error = error;
        }
        let mut batch = Batch::new();
        batch.push(Op::PutMessage { prospect: prospect.clone(), message });
        self.inner.commit(batch).await?;
        metrics::counter!("qualifyd_delivery_receipts_total").increment(1);
        Ok(true)
    }

    /// Applies a watermark receipt (Messenger `read` and `delivery` without ids): every message
    /// sent on `channel` to this contact at or before `up_to` gets `status` (never backwards).
    /// Returns how many messages changed.
    pub async fn record_up_to(
        &self,
        channel: crate::channel::Channel,
        contact: &crate::store::ContactKey,
        up_to: chrono::DateTime<chrono::Utc>,
        status: crate::store::DeliveryStatus,
    ) -> Result<usize, Error> {
        let _guard = self.inner.intake_lock.lock().await;
        let mut batch = Batch::new();
        let mut changed = 0;
        for prospect in self.inner.store.prospects_by_contact(contact)? {
            for mut message in self.inner.store.messages(&prospect)? {
                let eligible = message.direction == crate::machine::Direction::Outbound
                    && message.channel == channel
                    && message.at <= up_to
                    && message.provider_id.is_some()
                    && message.status < status
                    && message.status >= crate::store::DeliveryStatus::Sent
                    && message.status <= crate::store::DeliveryStatus::Read;
                if eligible {
                    message.status = status;
                    batch.push(Op::PutMessage { prospect: prospect.clone(), message });
                    changed += 1;
                }
            }
        }
        if changed > 0 {
            self.inner.commit(batch).await?;
            metrics::counter!("qualifyd_delivery_receipts_total").increment(changed as u64);
        }
        Ok(changed)
    }

    /// Remembers, durably, a provider's one-time token (Mailgun's signed `token`) with the digest
    /// of the body it came with, until `expires` (unix seconds). Returns the digest remembered
    /// earlier if the token was already seen and has not expired: the same body is the provider
    /// retrying, another body is a replayed signature. Kept under a hash of the token.
    pub async fn remember_token(
        &self,
        provider: &str,
        token: &str,
        digest: [u8; 32],
        now: i64,
        expires: i64,
    ) -> Result<Option<[u8; 32]>, Error> {
        use sha2::{Digest, Sha256};
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let key = format!("token:{provider}:{}", hex(&Sha256::digest(token.as_bytes())));
        if let Some(held) = self.inner.store.seen(&key)?
            && let Some((seen, until)) = held.split_once(':')
            && until.parse::<i64>().is_ok_and(|until| until > now)
        {
            let mut earlier = [0u8; 32];
            for (i, byte) in earlier.iter_mut().enumerate() {
                *byte = seen.get(i * 2..i * 2 + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
            }
            return Ok(Some(earlier));
        }
        let mut batch = Batch::new();
        batch.push(Op::PutSeen { key, prospect: format!("{}:{expires}", hex(&digest)) });
        self.inner.commit(batch).await?;
        Ok(None)
    }

    async fn hold_receipt(
        &self,
        provider_id: &str,
        status: crate::store::DeliveryStatus,
        error: Option<String>,
    ) -> Result<(), Error> {
        let key = early_receipt_key(provider_id);
        if let Some(held) = self.inner.store.seen(&key)?
            && let Ok((held, _)) = serde_json::from_str::<HeldReceipt>(&held)
            && held >= status
        {
            return Ok(());
        }
        let value = serde_json::to_string(&(status, error)).unwrap_or_default();
        let mut batch = Batch::new();
        batch.push(Op::PutSeen { key, prospect: value });
        self.inner.commit(batch).await
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

/// A delivery receipt kept until its send is recorded: (status, error).
pub(crate) type HeldReceipt = (crate::store::DeliveryStatus, Option<String>);

/// The dedupe-table key under which an early receipt waits for its send.
pub(crate) fn early_receipt_key(provider_id: &str) -> String {
    format!("receipt:{provider_id}")
}
