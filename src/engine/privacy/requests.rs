//! The data-subject rights: access and portability (export), rectification, erasure,
//! restriction and its lifting, objection; and the request log. Each request is resolved to a
//! person through the contact index, carried out at once, and logged (kind, status, deadline,
//! prospect ids: never the identifiers given).

use std::time::Duration;

use chrono::Utc;

use crate::engine::api::ProspectView;
use crate::engine::intake::{check_fields, normalise_email, normalise_phone};
use crate::engine::privacy::{DryRun, MatchedProspect, Person, Reach, RequestDraft};
use crate::engine::{Engine, Error};
use crate::machine::{AdminCommand, ProspectState, Status};
use crate::privacy::RESTRICTED;
use crate::privacy::subject::{
    EXPORT_FORMAT, ErasureReceipt, Export, MessageExport, ProspectExport, ProspectStatus, Receipt, Rectification,
    RequestEntry, RequestLog, SubjectQuery, SuppressedExport, UnmatchedExport,
};
use crate::store::{
    Batch, ContactKey, Op, OptOutCause, PrivacyRequest, RequestKind, RequestStatus, Suppression, UnmatchedMessage,
};

/// How long a request waits for the commands it queued to be applied before answering.
const APPLY_WAIT: Duration = Duration::from_secs(2);

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Engine {
    /// The person a request names: with `prospect_id`, that prospect only; otherwise the
    /// prospects holding one of the contacts given and contradicting none (exact identity, see
    /// `identity`). `Error::Invalid` when it names nobody or an identifier is malformed.
    fn resolve_any(&self, query: &SubjectQuery) -> Result<Person, Error> {
        let mut seeds = Vec::new();
        if let Some(email) = given(&query.email) {
            seeds.push(ContactKey::Email(normalise_email(email).map_err(|e| Error::Invalid(format!("`email`: {e}")))?));
        }
        if let Some(phone) = given(&query.phone) {
            seeds.push(ContactKey::Phone(normalise_phone(phone).map_err(|e| Error::Invalid(format!("`phone`: {e}")))?));
        }
        if let Some(psid) = given(&query.messenger_psid) {
            seeds.push(ContactKey::MessengerPsid(psid.to_string()));
        }
        match given(&query.prospect_id) {
            Some(id) => Ok(self.inner.store.prospect(id)?.map(Person::of_prospect).unwrap_or_default()),
            None if seeds.is_empty() => Err(Error::Invalid(
                "name the person with at least one of `email`, `phone`, `messenger_psid`, `prospect_id`".into(),
            )),
            None => self.inner.person(&seeds, Reach::Exact),
        }
    }

    /// [`Self::resolve_any`], refusing identifiers that name several people.
    fn resolve(&self, query: &SubjectQuery) -> Result<Person, Error> {
        let person = self.resolve_any(query)?;
        if person.ambiguous {
            return Err(Error::Ambiguous(format!(
                "these identifiers are shared by {} prospects that belong to different people (different \
                 names or contacts): add another identifier of the person or name one `prospect_id`; \
                 `\"dry_run\": true` lists the prospects and why each matched",
                person.prospects.len()
            )));
        }
        Ok(person)
    }

    /// `"dry_run": true` on any privacy request: what it would touch, and why; nothing changes
    /// and nothing is logged in the request log.
    pub fn subject_dry_run(&self, query: &SubjectQuery) -> Result<DryRun, Error> {
        let person = self.resolve_any(query)?;
        let unmatched_messages = self.unmatched_of(&person.contacts)?.len();
        let mut suppressed_contacts = 0;
        for key in &person.contacts {
            suppressed_contacts += usize::from(self.inner.store.suppression(key)?.is_some());
        }
        let prospects = person
            .prospects
            .iter()
            .zip(&person.matched_by)
            .map(|(p, why)| MatchedProspect { id: p.id.clone(), workflow: p.workflow.clone(), matched_by: why.clone() })
            .collect();
        Ok(DryRun { dry_run: true, prospects, ambiguous: person.ambiguous, unmatched_messages, suppressed_contacts })
    }

    /// Unmatched messages from any of `contacts`.
    fn unmatched_of(&self, contacts: &[ContactKey]) -> Result<Vec<UnmatchedMessage>, Error> {
        let from = |m: &UnmatchedMessage| match m.channel {
            crate::channel::Channel::Sms => ContactKey::Phone(m.from.clone()),
            crate::channel::Channel::Email => ContactKey::Email(m.from.clone()),
            crate::channel::Channel::Messenger => ContactKey::MessengerPsid(m.from.clone()),
        };
        Ok(self.inner.store.unmatched(usize::MAX)?.into_iter().filter(|m| contacts.contains(&from(m))).collect())
    }

    /// Logs a request on its own (nothing else to commit with it).
    async fn log_alone(
        &self,
        query: &SubjectQuery,
        kind: RequestKind,
        status: RequestStatus,
        actor: &str,
        prospects: Vec<String>,
        detail: Option<String>,
    ) -> Result<String, Error> {
        let mut batch = Batch::new();
        let draft = RequestDraft {
            kind,
            status,
            at: Utc::now(),
            actor,
            identified_by: query.identified_by(),
            prospects,
            detail,
        };
        let id = self.inner.log_request(&mut batch, draft)?;
        self.inner.commit(batch).await?;
        Ok(id)
    }

    /// `POST /v1/privacy/export`: everything held about the person; `None` when nothing is.
    pub async fn export_subject(&self, query: &SubjectQuery, actor: &str) -> Result<Option<Export>, Error> {
        let person = self.resolve(query)?;
        let unmatched = self.unmatched_of(&person.contacts)?;
        let suppressed_only = self.inner.any_suppressed(&person.contacts)?;
        if person.prospects.is_empty() && unmatched.is_empty() && !suppressed_only {
            self.log_alone(query, RequestKind::Export, RequestStatus::NotFound, actor, Vec::new(), None).await?;
            return Ok(None);
        }
        let mut prospects = Vec::new();
        for state in &person.prospects {
            prospects.push(self.prospect_export(state)?);
        }
        let mut suppressed_contacts = Vec::new();
        for key in &person.contacts {
            if let Some(Suppression { at, cause }) = self.inner.store.suppression(key)? {
                suppressed_contacts.push(SuppressedExport {
                    kind: key.kind(),
                    value: key.value().to_string(),
                    since: at,
                    cause,
                });
            }
        }
        let unmatched_messages = unmatched
            .into_iter()
            .map(|m| UnmatchedExport { channel: m.channel, from: m.from, text: m.text, at: m.at })
            .collect();
        let request =
            self.log_alone(query, RequestKind::Export, RequestStatus::Completed, actor, person.ids(), None).await?;
        Ok(Some(Export {
            format: EXPORT_FORMAT,
            request,
            generated_at: Utc::now(),
            prospects,
            unmatched_messages,
            suppressed_contacts,
        }))
    }

    fn prospect_export(&self, state: &ProspectState) -> Result<ProspectExport, Error> {
        let view = ProspectView::from(state);
        let stored = self.inner.store.messages(&state.id)?;
        let mut channels: Vec<crate::channel::Channel> = stored.iter().map(|m| m.channel).collect();
        channels.dedup();
        let processing = self.inner.store.processing(&state.id)?;
        let transparency = self.inner.transparency(state, &channels, processing.len());
        let messages = stored
            .into_iter()
            .map(|m| MessageExport {
                direction: m.direction,
                channel: m.channel,
                text: m.text,
                status: m.status,
                at: m.at,
                human: m.human,
                error: m.error,
            })
            .collect();
        Ok(ProspectExport {
            id: state.id.clone(),
            workflow: state.workflow.clone(),
            workflow_version: state.version.clone(),
            status: view.status,
            status_detail: view.status_detail,
            step: state.step.clone(),
            channel: state.channel,
            contact: state.contact.clone(),
            fields: state.fields.clone(),
            score: state.score,
            score_fields: state.score_fields.clone(),
            tags: state.tags.clone(),
            created_at: state.created_at,
            updated_at: state.updated_at,
            last_inbound_at: state.last_inbound_at,
            restricted_since: self.inner.store.restriction(&state.id)?,
            history: state.history.clone(),
            messages,
            processing,
            transparency,
        })
    }

    /// `PATCH /v1/prospects/{id}`: corrects contact details and fields, validated as an import
    /// is; the contact index follows. `None` when the prospect does not exist.
    pub async fn rectify(&self, id: &str, change: Rectification, actor: &str) -> Result<Option<ProspectView>, Error> {
        let _lock = self.inner.locks.one(id).await;
        let Some(original) = self.inner.store.prospect(id)? else { return Ok(None) };
        let mut state = original.clone();
        let workflow = self.inner.workflow_for(&mut state.clone()).map_err(Error::Invalid)?;
        apply_contact_change(&mut state, &change)?;
        for (name, value) in change.fields {
            if value.is_null() {
                state.fields.remove(&name);
            } else {
                state.fields.insert(name, value);
            }
        }
        check_fields(&workflow, &mut state.fields).map_err(Error::Invalid)?;
        let reachable = match workflow.channel {
            crate::channel::Channel::Sms => state.contact.phone.is_some(),
            crate::channel::Channel::Email => state.contact.email.is_some(),
            crate::channel::Channel::Messenger => state.contact.messenger_psid.is_some(),
        };
        if !reachable {
            return Err(Error::Invalid(format!(
                "workflow `{}` runs on {}: the prospect's {} contact cannot be removed",
                workflow.id, workflow.channel, workflow.channel
            )));
        }
        rescore(&workflow, &mut state);
        let now = Utc::now();
        state.updated_at = now;
        let mut batch = Batch::new();
        let (before, after) = (ContactKey::of_state(&original), ContactKey::of_state(&state));
        for key in before.iter().filter(|k| !after.contains(k)) {
            batch.push(Op::DeleteContact { key: key.clone(), prospect: id.to_string() });
        }
        for key in after.iter().filter(|k| !before.contains(k)) {
            batch.push(Op::PutContact { key: key.clone(), prospect: id.to_string() });
        }
        let draft = RequestDraft {
            kind: RequestKind::Rectify,
            status: RequestStatus::Completed,
            at: now,
            actor,
            identified_by: vec!["prospect_id".into()],
            prospects: vec![id.to_string()],
            detail: None,
        };
        self.inner.log_request(&mut batch, draft)?;
        let view = ProspectView::from(&state);
        batch.push(Op::PutProspect(Box::new(state)));
        self.inner.commit(batch).await?;
        tracing::info!(prospect = %id, "prospect rectified");
        Ok(Some(view))
    }

    /// `POST /v1/privacy/erase`: removes everything about the person and destroys the data
    /// keys; keeps their contacts on the suppression list (as keyed hashes) when they had opted
    /// out or objected. `None` when nothing was held.
    pub async fn erase_subject(&self, query: &SubjectQuery, actor: &str) -> Result<Option<ErasureReceipt>, Error> {
        // A prospect whose data key is missing cannot be read, but can be erased by its id.
        let damaged = given(&query.prospect_id)
            .filter(|id| self.inner.store.damaged().iter().any(|d| d == id))
            .map(str::to_string);
        let person = if damaged.is_some() { Person::default() } else { self.resolve(query)? };
        let unmatched: Vec<u64> = self.unmatched_of(&person.contacts)?.iter().map(|m| m.seq).collect();
        if person.prospects.is_empty() && unmatched.is_empty() && damaged.is_none() {
            self.log_alone(query, RequestKind::Erase, RequestStatus::NotFound, actor, Vec::new(), None).await?;
            return Ok(None);
        }
        let opted_out = person.prospects.iter().any(|p| p.status == Status::Unsubscribed)
            || self.inner.any_suppressed(&person.contacts)?;
        // First, durably, in one batch: the request as received and the suppression tombstones.
        // An erasure that a crash cuts short cannot let the person back in, and is finished at
        // the next start (`resume_erasures`); its record is never lost.
        let now = Utc::now();
        let mut batch = Batch::new();
        if opted_out {
            for key in &person.contacts {
                if self.inner.store.suppression(key)?.is_none() {
                    let record = Suppression { at: now, cause: OptOutCause::PriorOptOut };
                    batch.push(Op::PutSuppression { key: key.clone(), record });
                }
            }
        }
        let ids = damaged.map_or_else(|| person.ids(), |id| vec![id]);
        let draft = RequestDraft {
            kind: RequestKind::Erase,
            status: RequestStatus::Received,
            at: now,
            actor,
            identified_by: query.identified_by(),
            prospects: ids.clone(),
            detail: Some(format!("suppression kept: {opted_out}")),
        };
        let record = self.inner.new_request(draft)?;
        let request = record.id.clone();
        batch.push(Op::PutRequest(Box::new(record.clone())));
        self.inner.commit(batch).await?;
        let counts = self.erase_records(&ids, &unmatched).await?;
        let detail = format!(
            "{} prospect(s), {} message(s), {} unmatched message(s); suppression kept: {opted_out}",
            counts.prospects, counts.messages, counts.unmatched_messages
        );
        self.complete_request(record, detail).await?;
        tracing::info!(prospects = ids.len(), unmatched = unmatched.len(), "person erased");
        Ok(Some(ErasureReceipt { request, erased: ids, counts, suppression_kept: opted_out, completed_at: Utc::now() }))
    }

    /// Marks a received request completed, once what it asked is done (keys destroyed).
    async fn complete_request(&self, mut request: PrivacyRequest, detail: String) -> Result<(), Error> {
        request.status = RequestStatus::Completed;
        request.completed_at = Some(Utc::now());
        request.detail = Some(detail);
        let mut batch = Batch::new();
        batch.push(Op::PutRequest(Box::new(request)));
        self.inner.commit(batch).await
    }

    /// Finishes the erasures a crash cut short (logged `received`, keys maybe not destroyed).
    pub(crate) async fn resume_erasures(&self) -> Result<usize, Error> {
        let mut resumed = 0;
        let pending: Vec<_> = self
            .inner
            .store
            .requests(None, usize::MAX)?
            .into_iter()
            .filter(|r| r.kind == RequestKind::Erase && r.status == RequestStatus::Received)
            .collect();
        for request in pending {
            let counts = self.erase_records(&request.prospects, &[]).await?;
            let detail =
                format!("finished after a restart: {} prospect(s), {} message(s)", counts.prospects, counts.messages);
            self.complete_request(request, detail).await?;
            resumed += 1;
        }
        if resumed > 0 {
            tracing::warn!(resumed, "erasures cut short by a stop were finished");
        }
        Ok(resumed)
    }

    /// Erases records with the prospects' locks held (no transition runs meanwhile).
    pub(crate) async fn erase_records(
        &self,
        ids: &[String],
        unmatched: &[u64],
    ) -> Result<crate::store::Erasure, Error> {
        let _locks = self.inner.locks.all(ids).await;
        if let Some(reason) = self.inner.writer.health().failure() {
            return Err(crate::store::Error::Unavailable(reason).into());
        }
        let store = self.inner.store.clone();
        let (ids, unmatched) = (ids.to_vec(), unmatched.to_vec());
        let erasure = tokio::task::spawn_blocking(move || store.erase(&ids, &unmatched))
            .await
            .map_err(|e| crate::store::Error::Backend(format!("the erasure task failed: {e}")))??;
        Ok(erasure)
    }

    /// `POST /v1/privacy/restrict`: every prospect of the person is held — nothing sent, no AI
    /// call, timers held, data kept — until `unrestrict`.
    pub async fn restrict(&self, query: &SubjectQuery, actor: &str) -> Result<Option<Receipt>, Error> {
        let person = self.resolve(query)?;
        let mut targets = Vec::new();
        for state in &person.prospects {
            if !self.inner.is_restricted(&state.id)? {
                targets.push(state.id.clone());
            }
        }
        let now = Utc::now();
        let mut batch = Batch::new();
        for id in &targets {
            batch.push(Op::PutRestriction { prospect: id.clone(), at: now });
        }
        self.inner.push_command(&mut batch, &targets, &AdminCommand::Pause { reason: RESTRICTED.into() })?;
        self.finish_request(query, person, RequestKind::Restrict, actor, batch, &targets).await
    }

    /// `POST /v1/privacy/unrestrict`: lifts a restriction and resumes the prospects.
    pub async fn unrestrict(&self, query: &SubjectQuery, actor: &str) -> Result<Option<Receipt>, Error> {
        let person = self.resolve(query)?;
        let mut targets = Vec::new();
        for state in &person.prospects {
            if self.inner.is_restricted(&state.id)? {
                targets.push(state.id.clone());
            }
        }
        let mut batch = Batch::new();
        for id in &targets {
            batch.push(Op::DeleteRestriction { prospect: id.clone() });
        }
        self.inner.push_command(&mut batch, &targets, &AdminCommand::Resume)?;
        self.finish_request(query, person, RequestKind::Unrestrict, actor, batch, &targets).await
    }

    /// `POST /v1/privacy/object`: the person objects to processing (GDPR art. 21): every
    /// campaign stops on every channel, and their contacts go on the suppression list.
    /// With no prospect held (someone who wrote once, or was never imported), the contacts given
    /// still go on the suppression list, so a later import or message starts nothing.
    pub async fn object(&self, query: &SubjectQuery, actor: &str) -> Result<Option<Receipt>, Error> {
        let person = self.resolve(query)?;
        let mut batch = Batch::new();
        if person.prospects.is_empty() && !person.contacts.is_empty() {
            return self.object_without_prospect(query, &person.contacts, actor).await.map(Some);
        }
        let targets =
            self.inner.opt_out_everywhere(&mut batch, &person.contacts, OptOutCause::Objection, None, Utc::now())?;
        self.finish_request(query, person, RequestKind::Object, actor, batch, &targets).await
    }

    /// Suppresses `contacts` (keyed hashes) for an objection that found no prospect.
    async fn object_without_prospect(
        &self,
        query: &SubjectQuery,
        contacts: &[ContactKey],
        actor: &str,
    ) -> Result<Receipt, Error> {
        let now = Utc::now();
        let mut batch = Batch::new();
        let mut added = 0;
        for key in contacts {
            if self.inner.store.suppression(key)?.is_none() {
                batch.push(Op::PutSuppression {
                    key: key.clone(),
                    record: Suppression { at: now, cause: OptOutCause::Objection },
                });
                added += 1;
            }
        }
        let note = format!(
            "no prospect is held about this person; {added} contact(s) added to the suppression list \
             ({} already on it): nothing will be sent to them and they cannot be imported",
            contacts.len() - added
        );
        let draft = RequestDraft {
            kind: RequestKind::Object,
            status: RequestStatus::Completed,
            at: now,
            actor,
            identified_by: query.identified_by(),
            prospects: Vec::new(),
            detail: Some(format!("{added} contact(s) suppressed, no prospect")),
        };
        let request = self.inner.log_request(&mut batch, draft)?;
        self.inner.commit(batch).await?;
        Ok(Receipt { request, kind: RequestKind::Object, prospects: Vec::new(), note: Some(note), completed_at: now })
    }

    /// Logs and commits a request that queued commands for `targets`, waits (bounded) until
    /// they are applied, and answers with every prospect's status.
    async fn finish_request(
        &self,
        query: &SubjectQuery,
        person: Person,
        kind: RequestKind,
        actor: &str,
        mut batch: Batch,
        targets: &[String],
    ) -> Result<Option<Receipt>, Error> {
        if person.prospects.is_empty() {
            self.log_alone(query, kind, RequestStatus::NotFound, actor, Vec::new(), None).await?;
            return Ok(None);
        }
        let draft = RequestDraft {
            kind,
            status: RequestStatus::Completed,
            at: Utc::now(),
            actor,
            identified_by: query.identified_by(),
            prospects: person.ids(),
            detail: Some(format!("{} prospect(s) changed", targets.len())),
        };
        let request = self.inner.log_request(&mut batch, draft)?;
        self.inner.commit(batch).await?;
        for id in targets {
            self.inner.notify(id);
        }
        self.wait_idle(targets).await?;
        let mut prospects = Vec::new();
        for id in person.ids() {
            if let Some(view) = self.prospect(&id)? {
                prospects.push(ProspectStatus { id, status: view.status, status_detail: view.status_detail });
            }
        }
        Ok(Some(Receipt { request, kind, prospects, note: None, completed_at: Utc::now() }))
    }

    /// Waits until the prospects' inboxes are empty, at most [`APPLY_WAIT`].
    async fn wait_idle(&self, ids: &[String]) -> Result<(), Error> {
        let started = std::time::Instant::now();
        for id in ids {
            while !self.inner.store.inbox(id)?.is_empty() && started.elapsed() < APPLY_WAIT {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// `GET /v1/privacy/requests`: the request log, oldest first, after sequence `after`.
    pub fn privacy_requests(&self, after: Option<u64>, limit: usize) -> Result<RequestLog, Error> {
        let limit = limit.clamp(1, 1000);
        let now = Utc::now();
        let requests: Vec<RequestEntry> = self
            .inner
            .store
            .requests(after, limit)?
            .into_iter()
            .map(|request| {
                let overdue = request.completed_at.is_none() && now > request.deadline;
                RequestEntry { request, overdue }
            })
            .collect();
        let next_cursor = (requests.len() == limit).then(|| requests.last().map(|r| r.request.seq)).flatten();
        Ok(RequestLog { requests, next_cursor })
    }
}

/// Applies the contact part of a rectification, normalised and validated as imports are.
fn apply_contact_change(state: &mut ProspectState, change: &Rectification) -> Result<(), Error> {
    let text = |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let contact = &mut state.contact;
    if let Some(name) = &change.name {
        contact.name = text(name);
    }
    if let Some(phone) = &change.phone {
        contact.phone = text(phone)
            .map(|p| normalise_phone(&p))
            .transpose()
            .map_err(|e| Error::Invalid(format!("`phone`: {e}")))?;
    }
    if let Some(email) = &change.email {
        contact.email = text(email)
            .map(|e| normalise_email(&e))
            .transpose()
            .map_err(|e| Error::Invalid(format!("`email`: {e}")))?;
    }
    if let Some(psid) = &change.messenger_psid {
        contact.messenger_psid = text(psid);
    }
    if let Some(timezone) = &change.timezone {
        let timezone = text(timezone);
        if let Some(tz) = &timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(Error::Invalid(format!("unknown timezone `{tz}`; use an IANA name such as `Europe/Paris`")));
        }
        contact.timezone = timezone;
    }
    if let Some(source) = &change.source {
        contact.source = text(source);
    }
    if contact.phone.is_none() && contact.email.is_none() && contact.messenger_psid.is_none() {
        return Err(Error::Invalid("a prospect needs at least one of `phone`, `email`, `messenger_psid`".into()));
    }
    Ok(())
}

/// Recomputes the score from the corrected fields, as the machine does after an answer.
fn rescore(workflow: &crate::catalog::Workflow, state: &mut ProspectState) {
    let Some(source) = &workflow.score else { return };
    let context = crate::machine::render::expression_context(state);
    if let Ok(value) = workflow.templates.eval(source, &context) {
        let number = f64::try_from(value).unwrap_or(0.0);
        state.score = Some(number.clamp(0.0, 100.0).round() as u8);
        state.score_fields = state.fields.clone();
    }
}
