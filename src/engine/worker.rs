//! A shard worker: takes prospect ids, applies each one's inbox in order through the pure state
//! machine, commits state + outbox + timers in one batch, waits for durability, then hands
//! the side effects to the executor.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::mpsc;

use crate::engine::{Error, Inner, executor};
use crate::machine::{Action, Direction, Event, MachineEnv, ProspectState, Status, StatusChange, apply};
use crate::store::{Batch, DeliveryStatus, Message, Op, OutboxEntry};

pub(crate) async fn run(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(prospect) = rx.recv().await {
        if let Err(err) = process(&inner, &prospect).await {
            tracing::error!(prospect = %prospect, error = %err, "applying events failed; they stay in the inbox and are retried");
            let inner = inner.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                inner.notify(&prospect);
            });
        }
    }
}

/// Applies every pending event of one prospect. Safe to call twice: the second finds nothing.
pub(crate) async fn process(inner: &Inner, id: &str) -> Result<(), Error> {
    let started = Instant::now();
    let inbox = inner.store.inbox(id)?;
    if inbox.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new();
    let Some(original) = inner.store.prospect(id)? else {
        // Erased: its leftover events go with it.
        for (seq, _) in inbox {
            batch.push(Op::DeleteInbox { prospect: id.to_string(), seq });
        }
        inner.store.apply(batch)?;
        return Ok(());
    };
    let mut state = original.clone();
    let mut actions = Vec::new();
    let now = Utc::now();
    for (seq, event) in inbox {
        let is_admin = matches!(event, Event::Admin { .. });
        if inner.is_paused(&state.workflow) && !is_admin {
            break; // Held, in order, until the workflow resumes.
        }
        batch.push(Op::DeleteInbox { prospect: id.to_string(), seq });
        match inner.workflow_for(&mut state) {
            Ok(workflow) => {
                let env = MachineEnv {
                    workflow: &workflow,
                    default_window: &inner.config.default_window,
                    public_url: &inner.config.public_url,
                };
                let transition = apply(&env, &state, &event, now);
                state = transition.state;
                actions.extend(transition.actions);
            }
            Err(reason) => cannot_run(&mut state, reason, now),
        }
    }
    if state == original {
        inner.store.apply(batch)?;
        return Ok(());
    }
    sync_timer(&mut batch, &original, &state);
    let mut queued = Vec::new();
    for action in actions {
        let mut message_seq = None;
        if let Action::Send { action_id, channel, text, human } = &action {
            let seq = inner.store.next_id()?;
            message_seq = Some(seq);
            batch.push(Op::PutMessage {
                prospect: id.to_string(),
                message: Message {
                    seq,
                    direction: Direction::Outbound,
                    channel: *channel,
                    text: text.clone(),
                    status: DeliveryStatus::Queued,
                    at: now,
                    provider_id: None,
                    action_id: Some(action_id.clone()),
                    human: *human,
                    error: None,
                },
            });
        }
        queued.push(action.id().to_string());
        batch.push(Op::PutOutbox(Box::new(OutboxEntry {
            prospect: id.to_string(),
            action,
            attempts: 0,
            not_before: now,
            message_seq,
        })));
    }
    if state.status == Status::Unsubscribed && original.status != Status::Unsubscribed {
        cancel_pending_sends(inner, &mut batch, id)?;
    }
    let transitions = state.transitions - original.transitions;
    batch.push(Op::PutProspect(Box::new(state)));
    inner.commit(batch).await?;
    metrics::counter!("qualifyd_transitions_total").increment(transitions);
    metrics::histogram!("qualifyd_step_latency_seconds").record(started.elapsed().as_secs_f64());
    for action_id in queued {
        executor::dispatch(inner, action_id);
    }
    Ok(())
}

fn cannot_run(state: &mut ProspectState, reason: String, now: chrono::DateTime<Utc>) {
    if !matches!(state.status, Status::Failed { .. }) {
        tracing::warn!(prospect = %state.id, workflow = %state.workflow, "prospect cannot run on any workflow version");
        state.status = Status::Failed { reason };
        state.history.push(StatusChange { at: now, status: "failed".into(), step: state.step.clone() });
        state.updated_at = now;
        state.transitions += 1;
    }
}

/// Keeps the due-time index equal to the state's one timer (absent while it is held).
fn sync_timer(batch: &mut Batch, before: &ProspectState, after: &ProspectState) {
    let indexed = |s: &ProspectState| s.timer.clone().filter(|_| !s.timer_held);
    let (old, new) = (indexed(before), indexed(after));
    if old == new {
        return;
    }
    if let Some(old) = old {
        batch.push(Op::DeleteTimer { at: old.at, prospect: before.id.clone(), seq: old.seq });
    }
    if let Some(new) = new {
        batch.push(Op::PutTimer { at: new.at, prospect: after.id.clone(), seq: new.seq });
    }
}

/// An opt-out cancels every outbound message not yet handed to a provider.
fn cancel_pending_sends(inner: &Inner, batch: &mut Batch, prospect: &str) -> Result<(), Error> {
    for entry in inner.store.outbox()?.into_iter().filter(|e| e.prospect == prospect) {
        if let (Action::Send { .. }, Some(seq)) = (&entry.action, entry.message_seq) {
            batch.push(Op::DeleteOutbox { action_id: entry.action.id().to_string() });
            if let Some(mut message) = inner.store.message(prospect, seq)? {
                message.status = DeliveryStatus::Cancelled;
                batch.push(Op::PutMessage { prospect: prospect.to_string(), message });
            }
        }
    }
    Ok(())
}
