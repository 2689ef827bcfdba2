//! The engine side of privacy: who a request is about (the contact index), the request log and
//! the audit log, per-prospect locks, and the checks every side effect goes through.
//! - `identity`: who a request or an opt-out is about (exact identity, no transitive merge);
//! - `optout`: opt-out everywhere (STOP, START, HELP keywords, the one-click link, AI opt-outs);
//! - `requests`: the data-subject rights (export, rectify, erase, restrict, unrestrict, object);
//! - `retention`: the retention sweep and its cron schedule.
//!
//! Restriction (GDPR art. 18) is a store flag plus an admin `Pause` with the reason
//! [`RESTRICTED`]: while the flag is set the worker drops every other pause, resume and
//! takeover command, and the executor performs nothing for the prospect; only `unrestrict`
//! clears the flag and resumes.

mod identity;
mod optout;
mod requests;
mod retention;
mod transparency;

use chrono::{DateTime, Utc};

use crate::channel::Channel;
use crate::engine::{Engine, Error, Inner};
use crate::machine::{Action, AdminCommand, Event, ProspectState};
use crate::privacy::RESTRICTED;
use crate::store::{
    AuditRecord, Batch, ContactKey, DeliveryStatus, Op, OutboxEntry, PrivacyRequest, RequestKind, RequestStatus,
};

pub use identity::{DryRun, MatchedProspect};
pub(crate) use identity::{Person, Reach, compatible};
pub(crate) use optout::Keyword;
pub use retention::SweepReport;

/// The reason of the `ActionFailed` that drops an AI call of a restricted prospect.
pub(crate) const HELD_BY_RESTRICTION: &str = "not performed: processing is restricted (GDPR art. 18)";

/// Privacy knobs from the settings.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Sent in answer to an inbound HELP.
    pub help_text: String,
    /// Prospects whose last inbound message (or creation) is older are erased by the sweep.
    pub retention_period: chrono::Duration,
    /// Messages kept per prospect; the sweep removes the oldest beyond it.
    pub max_messages: usize,
}

impl Default for PrivacyConfig {
    fn default() -> PrivacyConfig {
        let retention = crate::settings::default_retention();
        PrivacyConfig {
            help_text: crate::settings::DEFAULT_HELP_TEXT.to_string(),
            retention_period: retention.period,
            max_messages: retention.max_messages,
        }
    }
}

const STRIPES: usize = 64;

/// Per-prospect locks (striped): the worker holds one while it applies a prospect's events;
/// rectification and erasure hold them so that they never interleave with a transition.
pub(crate) struct Locks([tokio::sync::Mutex<()>; STRIPES]);

impl Locks {
    pub fn new() -> Locks {
        Locks(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }

    fn stripe(id: &str) -> usize {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        (hasher.finish() as usize) % STRIPES
    }

    pub async fn one(&self, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.0[Locks::stripe(id)].lock().await
    }

    /// The locks of every id, taken in stripe order (so two callers never deadlock).
    pub async fn all(&self, ids: &[String]) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = ids.iter().map(|id| Locks::stripe(id)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.0[stripe].lock().await);
        }
        guards
    }
}

impl Inner {
    pub(crate) fn is_restricted(&self, prospect: &str) -> Result<bool, Error> {
        Ok(self.store.restriction(prospect)?.is_some())
    }

    /// Whether anything of this person is on the suppression list.
    pub(crate) fn any_suppressed(&self, contacts: &[ContactKey]) -> Result<bool, Error> {
        for key in contacts {
            if self.store.suppression(key)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds a request log entry to `batch`; returns its id.
    pub(crate) fn log_request(&self, batch: &mut Batch, entry: RequestDraft<'_>) -> Result<String, Error> {
        let request = self.new_request(entry)?;
        let id = request.id.clone();
        batch.push(Op::PutRequest(Box::new(request)));
        Ok(id)
    }

    /// A request log entry with a fresh sequence number, not yet in any batch.
    pub(crate) fn new_request(&self, entry: RequestDraft<'_>) -> Result<PrivacyRequest, Error> {
        let seq = self.store.next_id()?;
        let completed = matches!(entry.status, RequestStatus::Completed | RequestStatus::NotFound);
        Ok(PrivacyRequest {
            seq,
            id: format!("r_{seq}"),
            kind: entry.kind,
            status: entry.status,
            received_at: entry.at,
            deadline: crate::privacy::subject::deadline(entry.at),
            completed_at: completed.then_some(entry.at),
            actor: entry.actor.to_string(),
            identified_by: entry.identified_by,
            prospects: entry.prospects,
            detail: entry.detail,
        })
    }

    /// Adds audit records to `batch`: one per prospect, or one without a prospect.
    pub(crate) fn push_audit(
        &self,
        batch: &mut Batch,
        actor: &str,
        action: &str,
        prospects: &[String],
        detail: Option<String>,
    ) -> Result<(), Error> {
        let targets: Vec<Option<String>> =
            if prospects.is_empty() { vec![None] } else { prospects.iter().cloned().map(Some).collect() };
        for prospect in targets {
            batch.push(Op::PutAudit(Box::new(AuditRecord {
                seq: self.store.next_id()?,
                at: Utc::now(),
                actor: actor.to_string(),
                action: action.to_string(),
                prospect,
                detail: detail.clone(),
            })));
        }
        Ok(())
    }

    /// Queues `command` in each prospect's inbox; returns them for [`Inner::notify`].
    pub(crate) fn push_command(
        &self,
        batch: &mut Batch,
        prospects: &[String],
        command: &AdminCommand,
    ) -> Result<(), Error> {
        for id in prospects {
            let event = Event::Admin { command: command.clone() };
            batch.push(Op::PutInbox { prospect: id.clone(), seq: self.store.next_id()?, event });
        }
        Ok(())
    }
}

/// What [`Inner::log_request`] records.
pub(crate) struct RequestDraft<'a> {
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub identified_by: Vec<String>,
    pub prospects: Vec<String>,
    pub detail: Option<String>,
}

/// Admin commands a restricted prospect does not take: only `unrestrict` resumes it, and
/// nobody writes to it or takes it over meanwhile. An opt-out still applies.
pub(crate) fn held_by_restriction(event: &Event) -> bool {
    match event {
        Event::Admin { command: AdminCommand::Pause { reason } } => reason != RESTRICTED,
        Event::Admin { command: AdminCommand::Unsubscribe } => false,
        Event::Admin { .. } => true,
        _ => false,
    }
}

/// The contact a send on `channel` goes to.
fn contact_for(state: &ProspectState, channel: Channel) -> Option<ContactKey> {
    let contact = &state.contact;
    match channel {
        Channel::Sms => contact.phone.clone().map(ContactKey::Phone),
        Channel::Email => contact.email.clone().map(ContactKey::Email),
        Channel::Messenger => contact.messenger_psid.clone().map(ContactKey::MessengerPsid),
    }
}

/// Whether an action id names the answer to an inbound HELP (sent even to opted-out contacts:
/// the person asked for it).
pub(crate) fn is_help_reply(action_id: &str) -> bool {
    action_id.contains(":help:")
}

/// The executor's last check before a side effect: a send to a suppressed contact is
/// cancelled, and nothing is performed for a restricted prospect (its AI call is answered with
/// a failure so that `unrestrict` asks again). Returns true when the entry was dealt with here.
pub(crate) async fn screen(inner: &Inner, entry: &OutboxEntry, state: &ProspectState) -> Result<bool, Error> {
    let restricted = inner.is_restricted(&entry.prospect)?;
    let mut batch = Batch::new();
    let action_id = entry.action.id().to_string();
    let mut wake = false;
    match &entry.action {
        Action::Send { channel, .. } if !is_help_reply(&action_id) => {
            let reason = if restricted {
                HELD_BY_RESTRICTION
            } else if contact_for(state, *channel).map(|k| inner.store.suppression(&k)).transpose()?.flatten().is_some()
            {
                "not sent: the recipient opted out"
            } else {
                return Ok(false);
            };
            cancel_send(inner, &mut batch, entry, reason)?;
        }
        // The step waiting on it hears why (an `ai` step its `on_failure`, a hand-off `attention`).
        Action::CallAi { .. } | Action::Notify { .. } | Action::Webhook { .. } if restricted => {
            batch.push(Op::DeleteOutbox { action_id: action_id.clone() });
            let event = Event::ActionFailed { action_id: action_id.clone(), reason: HELD_BY_RESTRICTION.into() };
            batch.push(Op::PutInbox { prospect: entry.prospect.clone(), seq: inner.store.next_id()?, event });
            wake = true;
        }
        _ => return Ok(false),
    }
    inner.commit(batch).await?;
    tracing::info!(prospect = %entry.prospect, action = %action_id, kind = entry.action.kind(), restricted, "side effect withheld");
    if wake {
        inner.notify(&entry.prospect);
    }
    Ok(true)
}

/// Removes a send from the outbox and marks its message cancelled with `reason`.
pub(crate) fn cancel_send(inner: &Inner, batch: &mut Batch, entry: &OutboxEntry, reason: &str) -> Result<(), Error> {
    batch.push(Op::DeleteOutbox { action_id: entry.action.id().to_string() });
    if let Some(seq) = entry.message_seq
        && let Some(mut message) = inner.store.message(&entry.prospect, seq)?
        && message.status < DeliveryStatus::Sent
    {
        message.status = DeliveryStatus::Cancelled;
        message.error = Some(reason.to_string());
        batch.push(Op::PutMessage { prospect: entry.prospect.clone(), message });
    }
    Ok(())
}

impl Engine {
    /// Appends audit records (the HTTP layer calls it once per admin change), durably.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        prospects: &[String],
        detail: Option<String>,
    ) -> Result<(), Error> {
        let mut batch = Batch::new();
        self.inner.push_audit(&mut batch, actor, action, prospects, detail)?;
        self.inner.commit(batch).await
    }

    /// The audit log, oldest first, after sequence `after`.
    pub fn audit_log(&self, after: Option<u64>, limit: usize) -> Result<Vec<AuditRecord>, Error> {
        Ok(self.inner.store.audit(after, limit)?)
    }
}
