//! A shard worker: takes prospect ids, applies each one's inbox in order through the pure state
//! machine, commits state + outbox + timers in one batch, waits for durability, then hands
//! the side effects to the executor.
//!
//! Privacy, in the same batch as the transition: a prospect that becomes unsubscribed (STOP,
//! an AI-read opt-out, an operator) takes the whole person out of every campaign (suppression
//! entries, `Unsubscribe` for their other prospects); a restricted prospect takes no admin
//! command but the restriction's own and an opt-out, and its queued sends are cancelled; every
//! AI answer goes into the prospect's processing log.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::engine::privacy::{HELD_BY_RESTRICTION, cancel_send, held_by_restriction};
use crate::engine::{Error, Inner, executor};
use crate::machine::intent::is_opt_out;
use crate::machine::{
    Action, ActionResult, AdminCommand, Direction, Event, MachineEnv, ProspectState, Status, StatusChange, apply,
};
use crate::privacy::RESTRICTED;
use crate::store::{Batch, ContactKey, DeliveryStatus, Message, Op, OptOutCause, OutboxEntry, ProcessingRecord};

/// Prospects applied per flush at most: everything already queued on the shard shares one
/// flush (group commit across prospects), then their side effects run.
const MAX_PROSPECTS_PER_FLUSH: usize = 256;

pub(crate) async fn run(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(first) = rx.recv().await {
        let mut ids = vec![first];
        while ids.len() < MAX_PROSPECTS_PER_FLUSH {
            match rx.try_recv() {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let mut applied = Applied::default();
        for id in ids {
            match process(&inner, &id).await {
                Ok(done) => {
                    applied.actions.extend(done.actions);
                    applied.wake.extend(done.wake);
                    applied.settled.extend(done.settled);
                }
                Err(err) => {
                    tracing::error!(prospect = %id, error = %err, "applying events failed; they stay in the inbox and are retried");
                    retry_later(&inner, id);
                }
            }
        }
        if applied.actions.is_empty() && applied.wake.is_empty() && applied.settled.is_empty() {
            continue;
        }
        // Commit, then act: nothing is performed before the batches above are durable.
        if let Err(err) = inner.writer.flush().await {
            tracing::error!(error = %err, "flush failed; side effects wait in the outbox for the next start");
            continue;
        }
        // The AI answers are applied (an opt-out has cancelled the person's sends): release them.
        for action_id in &applied.settled {
            inner.classifying.end(action_id);
        }
        for id in &applied.wake {
            inner.notify(id);
        }
        for action_id in applied.actions {
            executor::dispatch(&inner, action_id);
        }
    }
}

fn retry_later(inner: &Arc<Inner>, prospect: String) {
    let inner = Arc::downgrade(inner);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if let Some(inner) = inner.upgrade() {
            inner.notify(&prospect);
        }
    });
}

/// What applying one prospect's inbox asks for once it is durable.
#[derive(Default)]
pub(crate) struct Applied {
    /// Outbox entries to perform.
    pub actions: Vec<String>,
    /// Other prospects that got events in the same batch (opt-out everywhere).
    pub wake: Vec<String>,
    /// Actions whose result was applied (AI answers: the person's sends are no longer held).
    pub settled: Vec<String>,
}

/// Applies every pending event of one prospect (not yet flushed: the caller flushes before it
/// performs anything). Safe to call twice: the second finds nothing.
pub(crate) async fn process(inner: &Inner, id: &str) -> Result<Applied, Error> {
    let started = Instant::now();
    let _lock = inner.locks.one(id).await;
    let inbox = inner.store.inbox(id)?;
    if inbox.is_empty() {
        return Ok(Applied::default());
    }
    let settled: Vec<String> = inbox
        .iter()
        .filter_map(|(_, event)| match event {
            Event::ActionCompleted { action_id, .. } | Event::ActionFailed { action_id, .. } => Some(action_id.clone()),
            _ => None,
        })
        .collect();
    let untouched = Applied { settled: settled.clone(), ..Applied::default() };
    // Read after the inbox: a restriction lifted with the event that resumes it is seen lifted.
    let restricted = inner.is_restricted(id)?;
    let mut batch = Batch::new();
    let Some(original) = inner.store.prospect(id)? else {
        // Erased: its leftover events go with it.
        for (seq, _) in inbox {
            batch.push(Op::DeleteInbox { prospect: id.to_string(), seq });
        }
        inner.writer.apply(batch).await?;
        return Ok(untouched);
    };
    let mut state = original.clone();
    let mut actions = Vec::new();
    let mut opt_out = OptOutCause::Operator;
    let now = Utc::now();
    for (seq, event) in inbox {
        let is_admin = matches!(event, Event::Admin { .. });
        if inner.is_paused(&state.workflow) && !is_admin {
            break; // Held, in order, until the workflow resumes.
        }
        batch.push(Op::DeleteInbox { prospect: id.to_string(), seq });
        if restricted && held_by_restriction(&event) {
            tracing::info!(prospect = %id, "admin command dropped: the prospect's processing is restricted");
            continue;
        }
        if let Some(record) = processing_record(&state, &event, inner.drivers.ai.name(), now) {
            batch.push(Op::PutProcessing { prospect: id.to_string(), seq: inner.store.next_id()?, record });
        }
        if state.status != Status::Unsubscribed {
            opt_out = cause_of(&event);
            if matches!(event, Event::Admin { command: AdminCommand::Unsubscribe }) {
                // Propagated from the person's opt-out elsewhere: its cause is on the suppression
                // entry written with this command.
                for key in ContactKey::of(&state.contact) {
                    if let Some(entry) = inner.store.suppression(&key)? {
                        opt_out = entry.cause;
                        break;
                    }
                }
            }
        }
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
        inner.writer.apply(batch).await?;
        return Ok(untouched);
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
    let mut others = Vec::new();
    if state.status == Status::Unsubscribed && original.status != Status::Unsubscribed {
        cancel_pending_sends(inner, &mut batch, id, None)?;
        let contacts = ContactKey::of(&state.contact);
        others = inner.opt_out_everywhere(&mut batch, &contacts, opt_out, Some(id), now)?;
        let detail = format!("cause: {opt_out:?}; {} other prospect(s) of the person unsubscribed", others.len());
        inner.push_audit(&mut batch, "system", "privacy.opt_out", &[id.to_string()], Some(detail))?;
    }
    let held = |s: &ProspectState| matches!(&s.status, Status::Paused { reason } if reason == RESTRICTED);
    if restricted && held(&state) && !held(&original) {
        cancel_pending_sends(inner, &mut batch, id, Some(HELD_BY_RESTRICTION))?;
    }
    // Emails and phones the person gave in the conversation are indexed like imported contacts.
    let (before, after) = (ContactKey::of_state(&original), ContactKey::of_state(&state));
    for key in after.iter().filter(|k| !before.contains(k)) {
        batch.push(Op::PutContact { key: key.clone(), prospect: id.to_string() });
    }
    for key in before.iter().filter(|k| !after.contains(k)) {
        batch.push(Op::DeleteContact { key: key.clone(), prospect: id.to_string() });
    }
    let transitions = state.transitions - original.transitions;
    batch.push(Op::PutProspect(Box::new(state)));
    inner.writer.apply(batch).await?;
    metrics::counter!("qualifyd_transitions_total").increment(transitions);
    metrics::histogram!("qualifyd_step_latency_seconds").record(started.elapsed().as_secs_f64());
    Ok(Applied { actions: queued, wake: others, settled })
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

/// An opt-out or a restriction cancels every outbound message not yet handed to a provider
/// (`reason` is recorded on the message).
fn cancel_pending_sends(inner: &Inner, batch: &mut Batch, prospect: &str, reason: Option<&str>) -> Result<(), Error> {
    for entry in inner.store.outbox_of(prospect)? {
        if let (Action::Send { .. }, Some(_)) = (&entry.action, entry.message_seq) {
            cancel_send(inner, batch, &entry, reason.unwrap_or("not sent: the recipient opted out"))?;
        }
    }
    Ok(())
}

/// The processing-log entry of an event that reports an AI call, if it does.
fn processing_record(
    state: &ProspectState,
    event: &Event,
    provider: &str,
    now: DateTime<Utc>,
) -> Option<ProcessingRecord> {
    let (action_id, outcome) = match event {
        Event::ActionCompleted { action_id, result: ActionResult::Ai(_) } => (action_id, "answered"),
        Event::ActionFailed { action_id, reason }
            if state.pending_action.as_deref() == Some(action_id.as_str()) && reason != HELD_BY_RESTRICTION =>
        {
            (action_id, "failed")
        }
        _ => return None,
    };
    Some(ProcessingRecord {
        at: now,
        kind: "ai_call".to_string(),
        provider: provider.to_string(),
        step: state.step.clone(),
        action_id: action_id.clone(),
        outcome: outcome.to_string(),
    })
}

/// Why an event would unsubscribe a prospect, for its suppression entries.
fn cause_of(event: &Event) -> OptOutCause {
    match event {
        Event::Inbound { text, .. } if is_opt_out(text) => OptOutCause::StopWord,
        Event::ActionCompleted { result: ActionResult::Ai(answer), .. }
            if answer.intent.as_deref() == Some("opt_out") =>
        {
            OptOutCause::AiIntent
        }
        Event::Admin { command: AdminCommand::Unsubscribe } => OptOutCause::Operator,
        _ => OptOutCause::Operator,
    }
}
