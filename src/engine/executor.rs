//! Performs committed side effects from the outbox, at least once, each under its idempotency
//! key. Results come back as events (AI answers) or record updates (message sent), committed
//! together with the removal of the outbox entry. Transient failures back off and retry,
//! durably; permanent ones become failure events.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;

use crate::engine::drivers::{AiRequest, DriverError, Outbound};
use crate::engine::{Error, Inner};
use crate::machine::{Action, ActionResult, Event};
use crate::store::{Batch, DeliveryStatus, Op, OutboxEntry};

/// Attempts before a send, notification or webhook is given up. AI calls retry forever
/// (capped backoff) so no prospect is skipped while a provider is down.
const MAX_ATTEMPTS: u32 = 10;
const MAX_BACKOFF_SECS: u64 = 300;

/// Performs the outbox entry `action_id` in the background.
pub(crate) fn dispatch(inner: &Inner, action_id: String) {
    // The executor needs an owned handle to the engine internals.
    let Some(inner) = inner.self_arc() else { return };
    if inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return; // The outbox keeps it for the next start.
    }
    if !inner.in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(action_id.clone()) {
        return; // Already on its way: the task performing it sees the entry as it is now.
    }
    let done = InFlight { inner: Arc::downgrade(&inner), action_id: action_id.clone() };
    // Waiting tasks hold a weak handle: a pending side effect never keeps a stopped engine (and
    // its store) alive; the outbox keeps it for the next start.
    let weak = Arc::downgrade(&inner);
    let permits = inner.actions.clone();
    // Read now, not in the task: an AI call's first attempt holds the person's sends from the
    // moment it is dispatched (see `classifying`).
    let wait = match inner.store.outbox_entry(&action_id) {
        Ok(Some(entry)) => {
            if is_ai(&entry) && entry.attempts == 0 {
                inner.classifying.begin(&action_id, &entry.prospect);
            }
            (entry.not_before - Utc::now()).to_std().unwrap_or_default()
        }
        _ => Duration::ZERO,
    };
    drop(inner);
    tokio::spawn(async move {
        let _done = done;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let Ok(_permit) = permits.acquire_owned().await else { return };
        let Some(inner) = weak.upgrade() else { return };
        if inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return; // Shutting down: the outbox keeps it for the next start.
        }
        if let Err(err) = perform(&inner, &action_id).await {
            tracing::error!(action = %action_id, error = %err, "recording an action's result failed; it will be retried at the next start");
        }
    });
}

/// Ends an action's turn in flight when its task finishes, however it finishes.
struct InFlight {
    inner: std::sync::Weak<Inner>,
    action_id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.action_id);
        }
    }
}

async fn perform(inner: &Arc<Inner>, action_id: &str) -> Result<(), Error> {
    let result = attempt(inner, action_id).await;
    // An AI call's answer (or final failure) is now an event in the prospect's inbox: the
    // worker releases the person's sends once it is applied. A call that will be retried
    // releases them now: the provider is taken as down and the lexicon's decision stands.
    if inner.classifying.is_pending(action_id) && !matches!(inner.store.outbox_entry(action_id), Ok(None)) {
        inner.classifying.end(action_id);
    }
    result
}

async fn attempt(inner: &Arc<Inner>, action_id: &str) -> Result<(), Error> {
    if inner.writer.health().failure().is_some() {
        // Its result could not be recorded: the outbox keeps it for the next start.
        return Ok(());
    }
    let Some(entry) = inner.store.outbox_entry(action_id)? else { return Ok(()) };
    let Some(state) = inner.store.prospect(&entry.prospect)? else {
        let mut batch = Batch::new();
        batch.push(Op::DeleteOutbox { action_id: action_id.to_string() });
        inner.writer.apply(batch).await?;
        return Ok(());
    };
    // Suppressed recipients and restricted prospects: withheld, not performed.
    if super::privacy::screen(inner, &entry, &state).await? {
        return Ok(());
    }
    if matches!(entry.action, Action::Send { .. }) && inner.classifying.holds(inner, &state)? {
        tracing::debug!(prospect = %entry.prospect, action = %action_id, "send held: a message of this person awaits AI classification");
        let weak = Arc::downgrade(inner);
        let action_id = action_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(super::classifying::HOLD_RETRY).await;
            if let Some(inner) = weak.upgrade() {
                dispatch(&inner, action_id);
            }
        });
        return Ok(());
    }
    let result = run_action(inner, &entry, &state).await;
    let performed = match &result {
        Ok(Outcome::Sent { provider_id }) => Some(provider_id.clone()),
        Ok(Outcome::Done) => Some(String::new()),
        Ok(Outcome::Ai(_)) | Err(_) => None,
    };
    // Noted before the store hears of it: a kill or a failed write in between does not make
    // it happen twice (see `journal`).
    let noted = match (&inner.journal, performed) {
        (Some(journal), Some(provider_id)) => {
            let entry = super::journal::Entry { action_id: action_id.to_string(), provider_id };
            match journal.note(&entry) {
                Ok(slot) => Some((journal, slot)),
                Err(err) => {
                    tracing::error!(action = %action_id, error = %err, "a performed side effect could not be journaled: it may be performed again if this process dies before recording it");
                    None
                }
            }
        }
        _ => None,
    };
    let recorded = record(inner, action_id, entry, state, result).await;
    match (noted, &recorded) {
        (Some((journal, slot)), Ok(())) => {
            if let Err(err) = journal.release(slot) {
                tracing::warn!(action = %action_id, error = %err, "a recorded side effect stays in the journal");
            }
        }
        (Some((journal, _)), Err(err)) => {
            tracing::warn!(action = %action_id, error = %err, "a side effect's result is journaled until the store takes writes again");
            if let Err(err) = journal.sync() {
                tracing::error!(action = %action_id, error = %err, "syncing the journal of performed side effects failed");
            }
        }
        (None, _) => {}
    }
    recorded
}

/// Commits what performing `entry` came to: its outbox entry removed with the result recorded,
/// or a durable retry.
async fn record(
    inner: &Arc<Inner>,
    action_id: &str,
    entry: OutboxEntry,
    state: crate::machine::ProspectState,
    result: Result<Outcome, DriverError>,
) -> Result<(), Error> {
    let mut batch = Batch::new();
    let mut wake = false;
    let mut woken: Vec<String> = Vec::new();
    match result {
        Ok(outcome) => {
            batch.push(Op::DeleteOutbox { action_id: action_id.to_string() });
            record_success(inner, &mut batch, &entry, outcome, &mut wake)?;
        }
        Err(DriverError::Transient(reason)) if entry.attempts + 1 < max_attempts(inner, &entry) || is_ai(&entry) => {
            let attempts = entry.attempts + 1;
            let delay = backoff(attempts);
            tracing::warn!(prospect = %entry.prospect, action = %action_id, kind = entry.action.kind(), attempts, error = %reason, "side effect failed; retrying later");
            metrics::counter!("qualifyd_side_effect_failures_total", "kind" => entry.action.kind(), "outcome" => "retrying")
                .increment(1);
            let retry = OutboxEntry {
                attempts,
                not_before: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
                ..entry.clone()
            };
            batch.push(Op::PutOutbox(Box::new(retry)));
            inner.writer.apply(batch).await?;
            // A weak handle: a pending retry must not keep a stopped engine (and its store) alive.
            let inner = Arc::downgrade(inner);
            let action_id = action_id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Some(inner) = inner.upgrade() {
                    dispatch(&inner, action_id);
                }
            });
            return Ok(());
        }
        Err(DriverError::RecipientOptedOut(reason)) => {
            tracing::warn!(prospect = %entry.prospect, action = %action_id, "the provider says the recipient opted out; leaving every campaign");
            batch.push(Op::DeleteOutbox { action_id: action_id.to_string() });
            record_failure(inner, &mut batch, &entry, reason)?;
            let contacts = crate::store::ContactKey::of(&state.contact);
            let now = Utc::now();
            for prospect in
                inner.opt_out_everywhere(&mut batch, &contacts, crate::store::OptOutCause::StopWord, None, now)?
            {
                if prospect != entry.prospect {
                    woken.push(prospect);
                }
            }
            wake = true;
        }
        Err(err) => {
            let reason = err.to_string();
            if matches!(entry.action, Action::Notify { .. } | Action::Webhook { .. }) {
                metrics::counter!("qualifyd_handoff_failures_total", "kind" => entry.action.kind()).increment(1);
                tracing::error!(prospect = %entry.prospect, action = %action_id, kind = entry.action.kind(), error = %reason, "hand-off failed for good; the prospect needs attention");
            } else {
                tracing::warn!(prospect = %entry.prospect, action = %action_id, kind = entry.action.kind(), error = %reason, "side effect failed for good");
            }
            metrics::counter!("qualifyd_side_effect_failures_total", "kind" => entry.action.kind(), "outcome" => "failed")
                .increment(1);
            batch.push(Op::DeleteOutbox { action_id: action_id.to_string() });
            record_failure(inner, &mut batch, &entry, reason)?;
            wake = true;
        }
    }
    inner.commit(batch).await?;
    if wake {
        inner.notify(&entry.prospect);
    }
    for prospect in woken {
        inner.notify(&prospect);
    }
    Ok(())
}

fn is_ai(entry: &OutboxEntry) -> bool {
    matches!(entry.action, Action::CallAi { .. })
}

/// Hand-offs follow `webhooks.max_attempts`; messages to prospects keep the built-in count.
fn max_attempts(inner: &Inner, entry: &OutboxEntry) -> u32 {
    match entry.action {
        Action::Notify { .. } | Action::Webhook { .. } => inner.drivers.webhooks.max_attempts,
        Action::Send { .. } | Action::CallAi { .. } => MAX_ATTEMPTS,
    }
}

/// Exponential backoff with full jitter, capped.
fn backoff(attempts: u32) -> Duration {
    let ceiling = 2u64.saturating_pow(attempts.min(16)).clamp(1, MAX_BACKOFF_SECS);
    let millis = rand::rng().random_range(500..=ceiling * 1000);
    Duration::from_millis(millis)
}

enum Outcome {
    Sent { provider_id: String },
    Ai(crate::machine::AiAnswer),
    Done,
}

async fn run_action(
    inner: &Inner,
    entry: &OutboxEntry,
    state: &crate::machine::ProspectState,
) -> Result<Outcome, DriverError> {
    match &entry.action {
        Action::Send { action_id, channel, text, .. } => {
            let driver = inner.drivers.channel(*channel);
            let message = Outbound { action_id, prospect: state, channel: *channel, text, at: Utc::now() };
            driver.send(message).await.map(|provider_id| Outcome::Sent { provider_id })
        }
        Action::CallAi { step, prompt, .. } => {
            let mut state = state.clone();
            let workflow = inner.workflow_for(&mut state).map_err(DriverError::Permanent)?;
            let Some(index) = workflow.step_index(step) else {
                return Err(DriverError::Permanent(format!("step `{step}` no longer exists")));
            };
            let crate::catalog::model::StepKind::Ai(ai) = &workflow.steps[index].kind else {
                return Err(DriverError::Permanent(format!("step `{step}` is no longer an `ai` step")));
            };
            let request = AiRequest { workflow: &workflow, step: ai, state: &state, prompt };
            let answer = inner.drivers.ai.answer(request).await?;
            metrics::counter!("qualifyd_ai_calls_total", "provider" => inner.drivers.ai.name()).increment(1);
            Ok(Outcome::Ai(answer))
        }
        Action::Notify { action_id, email, webhook, text } => {
            if let Some(to) = email {
                inner.drivers.email.notify_team(action_id, to, text).await?;
            }
            if let Some(url) = webhook {
                let mut body = handoff_body(inner, state)?;
                if let Some(object) = body.as_object_mut() {
                    object.insert("text".to_string(), serde_json::Value::String(text.clone()));
                }
                crate::engine::handoff::post(&inner.drivers, url, action_id, &body, Utc::now().timestamp()).await?;
            }
            Ok(Outcome::Done)
        }
        Action::Webhook { action_id, url } => {
            let body = handoff_body(inner, state)?;
            crate::engine::handoff::post(&inner.drivers, url, action_id, &body, Utc::now().timestamp()).await?;
            Ok(Outcome::Done)
        }
    }
}

/// The team-facing JSON of the prospect (contact details included: the team's own destination).
fn handoff_body(inner: &Inner, state: &crate::machine::ProspectState) -> Result<serde_json::Value, DriverError> {
    let mut state = state.clone();
    let workflow = inner.workflow_for(&mut state).map_err(DriverError::Permanent)?;
    Ok(crate::machine::handoff_payload(&workflow, &state, &inner.config.public_url))
}

fn record_success(
    inner: &Inner,
    batch: &mut Batch,
    entry: &OutboxEntry,
    outcome: Outcome,
    wake: &mut bool,
) -> Result<(), Error> {
    match outcome {
        Outcome::Sent { provider_id } => {
            if let Some(seq) = entry.message_seq
                && let Some(mut message) = inner.store.message(&entry.prospect, seq)?
            {
                if message.status < DeliveryStatus::Sent {
                    message.status = DeliveryStatus::Sent;
                }
                // A receipt that arrived before this point was held for us.
                if let Some((status, error)) = super::receipts::take_held(inner, batch, &provider_id)?
                    && status > message.status
                {
                    message.status = status;
                    message.error = error.or(message.error);
                }
                message.provider_id = Some(provider_id.clone());
                batch.push(Op::PutMessage { prospect: entry.prospect.clone(), message });
                batch.push(Op::PutSeen { key: format!("out:{provider_id}"), prospect: entry.prospect.clone() });
            }
        }
        Outcome::Ai(answer) => {
            let seq = inner.store.next_id()?;
            let event =
                Event::ActionCompleted { action_id: entry.action.id().to_string(), result: ActionResult::Ai(answer) };
            batch.push(Op::PutInbox { prospect: entry.prospect.clone(), seq, event });
            *wake = true;
        }
        Outcome::Done => {
            // The hand-off step waits for this: only now does the prospect move on.
            let seq = inner.store.next_id()?;
            let event = Event::ActionCompleted { action_id: entry.action.id().to_string(), result: ActionResult::Done };
            batch.push(Op::PutInbox { prospect: entry.prospect.clone(), seq, event });
            *wake = true;
        }
    }
    Ok(())
}

fn record_failure(inner: &Inner, batch: &mut Batch, entry: &OutboxEntry, reason: String) -> Result<(), Error> {
    if let Some(seq) = entry.message_seq
        && let Some(mut message) = inner.store.message(&entry.prospect, seq)?
    {
        message.status = DeliveryStatus::Failed;
        message.error = Some(reason.clone());
        batch.push(Op::PutMessage { prospect: entry.prospect.clone(), message });
    }
    let seq = inner.store.next_id()?;
    let event = Event::ActionFailed { action_id: entry.action.id().to_string(), reason };
    batch.push(Op::PutInbox { prospect: entry.prospect.clone(), seq, event });
    Ok(())
}

/// Records the results the journal kept (side effects performed while the store could not
/// write) as if they had just come back, makes that durable, then clears the journal.
pub(crate) async fn recover(inner: &Arc<Inner>, journaled: Vec<super::journal::Entry>) -> Result<(), Error> {
    let Some(journal) = &inner.journal else { return Ok(()) };
    if journaled.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new();
    let mut wake = Vec::new();
    for item in &journaled {
        let Some(entry) = inner.store.outbox_entry(&item.action_id)? else { continue };
        let outcome = match entry.action {
            Action::Send { .. } => Outcome::Sent { provider_id: item.provider_id.clone() },
            Action::CallAi { .. } => continue, // never journaled: asking again is harmless
            Action::Notify { .. } | Action::Webhook { .. } => Outcome::Done,
        };
        batch.push(Op::DeleteOutbox { action_id: item.action_id.clone() });
        let mut woke = false;
        record_success(inner, &mut batch, &entry, outcome, &mut woke)?;
        if woke {
            wake.push(entry.prospect.clone());
        }
    }
    inner.commit(batch).await?;
    journal.clear().map_err(|e| crate::store::Error::Backend(e.to_string()))?;
    tracing::info!(
        count = journaled.len(),
        "results of side effects performed before a failed write recorded from the journal"
    );
    for prospect in wake {
        inner.notify(&prospect);
    }
    Ok(())
}

#[cfg(test)]
#[path = "executor_tests.rs"]
mod tests;
