//! Work entering the engine: imports of prospects and inbound messages. Each is made durable
//! (conversation message, inbox event, dedupe key, in one batch, flushed) before the caller
//! gets its answer, then the prospect's worker is woken.
//!
//! Privacy: an import of a suppressed (opted-out) or restricted person is rejected; an inbound
//! STOP, START or HELP keyword is handled in the same batch as its message (see
//! `privacy::optout`); a keyword or a suppressed sender never starts a workflow.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use rand::Rng;

use crate::catalog::Workflow;
use crate::catalog::model::FieldType;
use crate::channel::Channel;
use crate::engine::api::{ImportOutcome, ImportRequest, ImportStatus, InboundMessage, InboundOutcome};
use crate::engine::privacy::Keyword;
use crate::engine::{Engine, Error, executor};
use crate::machine::lawfulness::{BasisSource, Lawfulness, LegalBasis};
use crate::machine::{Contact, Direction, Event, ProspectState};
use crate::store::{Batch, ContactKey, DeliveryStatus, Message, Op, UnmatchedMessage};

/// A person who passed the checks that need no lock: their workflow, contact, fields and the
/// legal basis they are processed on.
type Vetted = (Arc<Workflow>, Contact, BTreeMap<String, serde_json::Value>, Lawfulness);

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// A new prospect id: `p_`, the creation second (8 hex digits), 64 random bits. Ids made close
/// in time sort close together, so a bulk import writes its prospects (and their messages,
/// inboxes and outbox entries, keyed by the id) into the same few store pages instead of one
/// page anywhere in the store per person: with random ids a 100,000-row import kept reading
/// evicted pages back from disk once the store outgrew sled's page cache.
pub(crate) fn new_prospect_id(now: chrono::DateTime<Utc>) -> String {
    let second = u32::try_from(now.timestamp().max(0)).unwrap_or(u32::MAX);
    format!("p_{second:08x}{}", random_hex(8))
}

fn rejected(error: String) -> ImportOutcome {
    ImportOutcome { id: None, status: ImportStatus::Rejected, error: Some(error) }
}

pub use crate::machine::reach::{normalise_email, normalise_phone, timezone_of_phone};

/// Checks imported fields against the workflow's declarations; an enum given as one of its
/// declared synonyms (any case) is stored as its value. Errors name the allowed values and, for
/// an undeclared field, the declared one it is closest to.
pub(crate) fn check_fields(
    workflow: &Workflow,
    fields: &mut BTreeMap<String, serde_json::Value>,
) -> Result<(), String> {
    for (name, value) in fields.iter_mut() {
        let Some(field) = workflow.field(name) else {
            let names = workflow.fields.iter().map(|f| f.name.as_str());
            let suggestion = crate::diagnostic::did_you_mean_suffix(name, names.clone());
            let declared = names.collect::<Vec<_>>().join(", ");
            return Err(format!(
                "field `{name}` is not declared by workflow `{}`{suggestion}; fields: {declared}",
                workflow.id
            ));
        };
        if let (FieldType::Enum { values, synonyms }, Some(given)) = (&field.kind, value.as_str()) {
            let folded = given.trim().to_lowercase();
            let found = values.iter().find(|v| v.to_lowercase() == folded).or_else(|| {
                synonyms.iter().find(|(_, words)| words.iter().any(|w| w.to_lowercase() == folded)).map(|(v, _)| v)
            });
            match found {
                Some(canonical) => *value = serde_json::Value::String(canonical.clone()),
                None => {
                    let suggestion = crate::diagnostic::did_you_mean_suffix(given, values.iter().map(String::as_str));
                    return Err(format!(
                        "field `{name}`: `{given}` is not one of its values{suggestion}; allowed: {}",
                        values.join(", ")
                    ));
                }
            }
            continue;
        }
        let ok = match &field.kind {
            FieldType::Number => value.is_number(),
            FieldType::Bool => value.is_boolean(),
            FieldType::Enum { .. } => false,
            FieldType::String | FieldType::Email | FieldType::Phone => value.is_string(),
        };
        if !ok && !value.is_null() {
            let allowed = match &field.kind {
                FieldType::Enum { values, .. } => format!(" (one of: {})", values.join(", ")),
                _ => String::new(),
            };
            return Err(format!("field `{name}` must be a {} value{allowed}", field.kind.name()));
        }
    }
    Ok(())
}

/// `Marie Dupont <marie@example.fr>` -> (`Some("Marie Dupont")`, `marie@example.fr`); a bare
/// address stays as it is.
pub fn split_mailbox(from: &str) -> (Option<String>, &str) {
    let from = from.trim();
    match (from.rfind('<'), from.ends_with('>')) {
        (Some(open), true) => {
            let name = from[..open].trim().trim_matches('"').trim();
            ((!name.is_empty()).then(|| name.to_string()), &from[open + 1..from.len() - 1])
        }
        _ => (None, from),
    }
}

impl Engine {
    /// Enters one person into a workflow, unless they are already active in it.
    pub async fn import(&self, request: ImportRequest) -> ImportOutcome {
        self.import_many(vec![request]).await.pop().unwrap_or_else(|| rejected("nothing was imported".into()))
    }

    /// Imports several people as one atomic batch with one flush (and one sync of the data-key
    /// files) for all of them: each is checked in turn, then every created prospect is applied
    /// together under the intake lock, and the answers wait until that is durable. A person
    /// twice in the batch is created once, the second time `existing`.
    pub async fn import_many(&self, requests: Vec<ImportRequest>) -> Vec<ImportOutcome> {
        match self.try_import_many(requests).await {
            Ok(outcomes) => outcomes,
            Err((count, err)) => (0..count).map(|_| rejected(err.to_string())).collect(),
        }
    }

    async fn try_import_many(&self, requests: Vec<ImportRequest>) -> Result<Vec<ImportOutcome>, (usize, Error)> {
        let count = requests.len();
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err((count, Error::ShuttingDown));
        }
        let mut outcomes: Vec<Option<ImportOutcome>> = Vec::with_capacity(count);
        let mut vetted = Vec::new();
        for request in requests {
            match self.vet(request) {
                Ok(person) => {
                    vetted.push((outcomes.len(), person));
                    outcomes.push(None);
                }
                Err(outcome) => outcomes.push(Some(outcome)),
            }
        }
        let mut created = Vec::new();
        let guard = self.inner.intake_lock.lock().await;
        let mut batch = Batch::new();
        let mut taken: HashMap<(String, ContactKey), String> = HashMap::new();
        for (index, (workflow, contact, fields, lawfulness)) in vetted {
            let outcome = match self.decide(&workflow, &contact, &taken) {
                Ok(Some(outcome)) => outcome,
                Ok(None) => {
                    let id = new_prospect_id(Utc::now());
                    for key in ContactKey::of(&contact) {
                        taken.insert((workflow.id.clone(), key), id.clone());
                    }
                    let mut state =
                        ProspectState::new(id.clone(), &workflow, contact, fields, random_hex(16), Utc::now());
                    state.lawfulness = Some(lawfulness);
                    let pushed = self.push_new_prospect(&mut batch, state).and_then(|()| {
                        let seq = self.inner.store.next_id()?;
                        batch.push(Op::PutInbox { prospect: id.clone(), seq, event: Event::Entered });
                        Ok(())
                    });
                    pushed.map_err(|err| (count, err))?;
                    created.push((id.clone(), workflow.id.clone()));
                    ImportOutcome { id: Some(id), status: ImportStatus::Created, error: None }
                }
                Err(err) => rejected(err.to_string()),
            };
            outcomes[index] = Some(outcome);
        }
        // Decide and apply under the lock; wait for durability outside it, so concurrent imports
        // share one flush (group commit).
        if !batch.is_empty() {
            self.inner.writer.apply(batch).await.map_err(|err| (count, err.into()))?;
        }
        drop(guard);
        if !created.is_empty() {
            self.inner.writer.flush().await.map_err(|err| (count, err.into()))?;
        }
        for (id, workflow) in &created {
            tracing::info!(prospect = %id, workflow = %workflow, "prospect imported");
            self.inner.notify(id);
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or_else(|| rejected("not imported".into()))).collect())
    }

    /// The checks that need no lock: the workflow takes imports, the contact reaches its
    /// channel, the fields are declared with their types.
    fn vet(&self, mut request: ImportRequest) -> Result<Vetted, ImportOutcome> {
        let catalog = self.catalog();
        let Some(workflow) = catalog.workflow(&request.workflow).cloned() else {
            let known: Vec<&str> = catalog.workflows.keys().map(String::as_str).collect();
            return Err(rejected(format!("unknown workflow `{}`; known: {}", request.workflow, known.join(", "))));
        };
        if !workflow.entry_import {
            return Err(rejected(format!("workflow `{}` does not take imports (entry.import is false)", workflow.id)));
        }
        if self.inner.is_paused(&workflow.id) {
            return Err(rejected(format!("workflow `{}` is paused and takes no one in", workflow.id)));
        }
        let contact = contact_of(&request).map_err(rejected)?;
        let reachable = match workflow.channel {
            Channel::Sms => contact.phone.is_some(),
            Channel::Email => contact.email.is_some(),
            Channel::Messenger => contact.messenger_psid.is_some(),
        };
        if !reachable {
            return Err(rejected(format!(
                "workflow `{}` runs on {} and the prospect has no {} contact",
                workflow.id, workflow.channel, workflow.channel
            )));
        }
        check_fields(&workflow, &mut request.fields).map_err(rejected)?;
        let lawfulness = Lawfulness::of_import(
            workflow.privacy.legal_basis,
            request.legal_basis.as_deref(),
            request.consent.clone(),
            Utc::now(),
        )
        .map_err(rejected)?;
        Ok((workflow, contact, request.fields, lawfulness))
    }

    /// Under the intake lock: `Some` when this person may not be imported (opted out,
    /// restricted) or is already running in the workflow (in the store or earlier in the batch).
    /// The contact index is read once per contact and serves every check.
    fn decide(
        &self,
        workflow: &Workflow,
        contact: &Contact,
        taken: &HashMap<(String, ContactKey), String>,
    ) -> Result<Option<ImportOutcome>, Error> {
        let keys = ContactKey::of(contact);
        let holders = self.holders(&keys)?;
        if let Some(message) = self.barred(&keys, &holders)? {
            return Ok(Some(rejected(message)));
        }
        let earlier = keys.iter().find_map(|k| taken.get(&(workflow.id.clone(), k.clone())).cloned());
        let existing = match earlier {
            Some(id) => Some(id),
            None => self.active_in(&workflow.id, contact, &holders)?,
        };
        Ok(existing.map(|id| ImportOutcome { id: Some(id), status: ImportStatus::Existing, error: None }))
    }

    /// The prospects that hold one of these contacts (the contact index), each once.
    fn holders(&self, keys: &[ContactKey]) -> Result<Vec<String>, Error> {
        let mut holders = Vec::new();
        for key in keys {
            for id in self.inner.store.prospects_by_contact(key)? {
                if !holders.contains(&id) {
                    holders.push(id);
                }
            }
        }
        Ok(holders)
    }

    fn push_new_prospect(&self, batch: &mut Batch, state: ProspectState) -> Result<(), Error> {
        for key in ContactKey::of_state(&state) {
            batch.push(Op::PutContact { key, prospect: state.id.clone() });
        }
        batch.push(Op::PutToken { token: state.unsubscribe_token.clone(), prospect: state.id.clone() });
        batch.push(Op::PutProspect(Box::new(state)));
        Ok(())
    }

    /// Why this person may not be imported: they opted out, or their data's processing is
    /// restricted (`holders`: the prospects that hold one of their contacts).
    fn barred(&self, keys: &[ContactKey], holders: &[String]) -> Result<Option<String>, Error> {
        for key in keys {
            if self.inner.store.suppression(key)?.is_some() {
                return Ok(Some(format!(
                    "this person opted out (their {} is on the suppression list): they are never imported or \
                     contacted again unless they opt in themselves (START)",
                    key.kind()
                )));
            }
        }
        for id in holders {
            if self.inner.is_restricted(id)? {
                return Ok(Some(format!(
                    "the processing of this person's data is restricted (GDPR art. 18, prospect `{id}`): \
                     lift it with POST /v1/privacy/unrestrict first"
                )));
            }
        }
        Ok(None)
    }

    /// A prospect of this person that is still running in `workflow`: one that holds a contact
    /// of the import (`holders`) and contradicts none of it (another phone, another name). A
    /// second person who shares a contact (a company email) gets a prospect of their own.
    fn active_in(&self, workflow: &str, contact: &Contact, holders: &[String]) -> Result<Option<String>, Error> {
        for id in holders {
            if let Some(state) = self.inner.store.prospect(id)?
                && state.workflow == workflow
                && !state.status.is_finished()
                && crate::engine::privacy::compatible(&state.contact, contact)
            {
                return Ok(Some(id.clone()));
            }
        }
        Ok(None)
    }

    /// Records an inbound message durably and applies it to its prospect (or starts one).
    pub async fn inbound(&self, mut message: InboundMessage) -> Result<InboundOutcome, Error> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        self.inner.config.limits.apply(&mut message)?;
        if message.id.trim().is_empty() {
            return Err(Error::Invalid("`id` (the provider's message id) must not be empty".into()));
        }
        let key = match message.channel {
            Channel::Sms => {
                ContactKey::Phone(normalise_phone(&message.from).map_err(|e| Error::Invalid(format!("`from`: {e}")))?)
            }
            Channel::Email => {
                let (_, address) = split_mailbox(&message.from);
                ContactKey::Email(normalise_email(address).map_err(|e| Error::Invalid(format!("`from`: {e}")))?)
            }
            Channel::Messenger => ContactKey::MessengerPsid(message.from.trim().to_string()),
        };
        let seen_key = format!("in:{}:{}", message.channel, message.id);
        let keyword = Keyword::of(&message.text);
        let guard = self.inner.intake_lock.lock().await;
        if let Some(prospect) = self.inner.store.seen(&seen_key)? {
            drop(guard);
            // The original may still be waiting for its flush: acknowledge only once it is durable.
            self.inner.writer.flush().await?;
            let prospect = Some(prospect).filter(|p| !p.is_empty());
            return Ok(InboundOutcome { prospect, duplicate: true, created: false });
        }
        let now = Utc::now();
        let mut batch = Batch::new();
        let hinted = match &message.prospect_hint {
            Some(id) if self.inner.store.prospect(id)?.is_some() => Some(id.clone()),
            _ => None,
        };
        let picked = match hinted {
            Some(id) => Some(id),
            None => self.pick_prospect(&key)?,
        };
        // A keyword or an opted-out sender never starts a workflow.
        let may_start = keyword.is_none() && self.inner.store.suppression(&key)?.is_none();
        let (prospect, created) = match picked {
            Some(id) => (Some(id), false),
            None if !may_start => (None, false),
            None => {
                match self.catalog().inbound_entry(message.channel).cloned().filter(|w| !self.inner.is_paused(&w.id)) {
                    Some(workflow) => {
                        let id = new_prospect_id(now);
                        let mut contact = contact_from_key(&key);
                        // `Marie Dupont <marie@example.fr>`: the name comes with the address.
                        if message.channel == Channel::Email {
                            contact.name = split_mailbox(&message.from).0;
                        }
                        let mut state =
                            ProspectState::new(id.clone(), &workflow, contact, BTreeMap::new(), random_hex(16), now);
                        // They wrote first: answering them is a step they asked for.
                        state.lawfulness = Some(Lawfulness::new(LegalBasis::Contract, BasisSource::Inbound, now));
                        self.push_new_prospect(&mut batch, state)?;
                        (Some(id), true)
                    }
                    None => (None, false),
                }
            }
        };
        let seq = self.inner.store.next_id()?;
        match &prospect {
            Some(id) => {
                batch.push(Op::PutMessage {
                    prospect: id.clone(),
                    message: Message {
                        seq,
                        direction: Direction::Inbound,
                        channel: message.channel,
                        text: message.text.clone(),
                        status: DeliveryStatus::Received,
                        at: now,
                        provider_id: Some(message.id.clone()),
                        action_id: None,
                        human: false,
                        error: None,
                    },
                });
                if keyword.is_none_or(|k| k.reaches_the_machine() && k.may_apply(message.proof)) {
                    let event = Event::Inbound { channel: message.channel, text: message.text, at: now };
                    batch.push(Op::PutInbox { prospect: id.clone(), seq, event });
                }
                if created {
                    batch.push(Op::PutInbox {
                        prospect: id.clone(),
                        seq: self.inner.store.next_id()?,
                        event: Event::Entered,
                    });
                }
            }
            None => batch.push(Op::PutUnmatched(Box::new(UnmatchedMessage {
                seq,
                channel: message.channel,
                from: key.value().to_string(),
                text: message.text,
                at: now,
                provider_id: Some(message.id.clone()),
            }))),
        }
        let effect = match keyword {
            Some(keyword) => {
                let keyword = (keyword, message.proof);
                self.inner.on_keyword(&mut batch, keyword, &key, prospect.as_deref(), message.channel, now)?
            }
            None => Default::default(),
        };
        batch.push(Op::PutSeen { key: seen_key, prospect: prospect.clone().unwrap_or_default() });
        self.inner.writer.apply(batch).await?;
        drop(guard);
        self.inner.writer.flush().await?;
        for id in &effect.notify {
            self.inner.notify(id);
        }
        for action_id in effect.dispatch {
            executor::dispatch(&self.inner, action_id);
        }
        metrics::counter!("qualifyd_inbound_messages_total", "channel" => message.channel.as_str()).increment(1);
        match &prospect {
            Some(id) => {
                tracing::info!(prospect = %id, channel = %message.channel, created, "inbound message recorded");
                self.inner.notify(id);
            }
            None => {
                tracing::info!(channel = %message.channel, "inbound message from an unknown sender kept as unmatched")
            }
        }
        Ok(InboundOutcome { prospect, duplicate: false, created })
    }

    /// The prospect a message from this contact belongs to: the most recently updated one that
    /// is still running, else the most recently updated one.
    fn pick_prospect(&self, key: &ContactKey) -> Result<Option<String>, Error> {
        let mut candidates = Vec::new();
        for id in self.inner.store.prospects_by_contact(key)? {
            if let Some(state) = self.inner.store.prospect(&id)? {
                candidates.push((!state.status.is_finished(), state.updated_at, id));
            }
        }
        candidates.sort();
        Ok(candidates.pop().map(|(_, _, id)| id))
    }
}

fn contact_of(request: &ImportRequest) -> Result<Contact, String> {
    crate::machine::reach::normalise_contact(Contact {
        name: request.name.clone(),
        phone: request.phone.clone(),
        email: request.email.clone(),
        messenger_psid: request.messenger_psid.clone(),
        timezone: request.timezone.clone(),
        source: request.source.clone(),
    })
}

fn contact_from_key(key: &ContactKey) -> Contact {
    let mut contact = Contact::default();
    match key {
        ContactKey::Phone(p) => {
            contact.timezone = timezone_of_phone(p).map(str::to_string);
            contact.phone = Some(p.clone());
        }
        ContactKey::Email(e) => contact.email = Some(e.clone()),
        ContactKey::MessengerPsid(p) => contact.messenger_psid = Some(p.clone()),
    }
    contact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prospect_ids_sort_by_creation_and_stay_unique() {
        let now = Utc::now();
        let (a, b) = (new_prospect_id(now), new_prospect_id(now));
        assert_ne!(a, b, "64 random bits after the second");
        assert_eq!(a[..10], b[..10], "the same second: the same prefix, the same store pages");
        let later = new_prospect_id(now + chrono::Duration::seconds(1));
        assert!(later > a && later > b, "{later} sorts after {a} and {b}");
        assert!(crate::channels::addressing::is_prospect_id(&a) && a.len() == 2 + 8 + 16, "{a}");
    }
}
