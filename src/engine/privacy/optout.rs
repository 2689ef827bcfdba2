//! Opt-out everywhere. Whatever the way a person opts out — a STOP keyword on any channel, the
//! one-click link, an opt-out the AI reads in a reply, an operator, an objection — they leave
//! every campaign at once: each of their contacts goes on the suppression list and every
//! prospect sharing one of them gets an `Unsubscribe` command, in the same atomic batch as the
//! event that caused it. START removes the suppression of the contact it came from (their
//! prospects stay unsubscribed: a new campaign needs a new import); HELP is answered with the
//! configured help text on its channel.

use chrono::{DateTime, Utc};

use crate::channel::Channel;
use crate::engine::api::SenderProof;
use crate::engine::privacy::RequestDraft;
use crate::engine::{Engine, Error, Inner};
use crate::machine::intent::{is_help_word, is_opt_out, is_start_word};
use crate::machine::{Action, AdminCommand, Direction, Status};
use crate::store::{
    Batch, ContactKey, DeliveryStatus, Message, Op, OptOutCause, OutboxEntry, RequestKind, RequestStatus, Suppression,
};

/// What a message asks by itself: an opt-out (a keyword or a phrase of the lexicon, decided at
/// intake whatever the state of the sender's prospects), START or HELP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Stop,
    Start,
    Help,
}

impl Keyword {
    pub fn of(text: &str) -> Option<Keyword> {
        if is_opt_out(text) {
            Some(Keyword::Stop)
        } else if is_start_word(text) {
            Some(Keyword::Start)
        } else if is_help_word(text) {
            Some(Keyword::Help)
        } else {
            None
        }
    }

    /// Whether a sender with `proof` may make this keyword change consent (HELP changes none).
    pub fn may_apply(self, proof: SenderProof) -> bool {
        match self {
            Keyword::Stop => proof.may_change_consent(false),
            Keyword::Start => proof.may_change_consent(true),
            Keyword::Help => true,
        }
    }

    /// Whether the state machine sees the message (STOP unsubscribes its prospect there too);
    /// START and HELP are answered here and are no reply to a workflow's question.
    pub fn reaches_the_machine(self) -> bool {
        self == Keyword::Stop
    }
}

/// What a keyword asks the caller to do once its batch is durable.
#[derive(Debug, Default)]
pub(crate) struct KeywordEffect {
    /// Prospects whose inbox got a command.
    pub notify: Vec<String>,
    /// Outbox entries to perform (the HELP answer).
    pub dispatch: Vec<String>,
}

impl Inner {
    /// Adds to `batch` what takes the person reachable at `contacts` out of every campaign:
    /// their contacts suppressed (unless they already are) and an `Unsubscribe` for each of
    /// their prospects not unsubscribed yet, but `except`. Returns the prospects to notify.
    pub(crate) fn opt_out_everywhere(
        &self,
        batch: &mut Batch,
        contacts: &[ContactKey],
        cause: OptOutCause,
        except: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let person = self.person(contacts, crate::engine::privacy::Reach::OwnContacts)?;
        let mut added = false;
        for key in &person.contacts {
            if self.store.suppression(key)?.is_none() {
                batch.push(Op::PutSuppression { key: key.clone(), record: Suppression { at: now, cause } });
                added = true;
            }
        }
        if added {
            let cause = serde_json::to_value(cause).ok().and_then(|v| v.as_str().map(str::to_string));
            metrics::counter!("qualifyd_opt_outs_total", "cause" => cause.unwrap_or_default()).increment(1);
        }
        let targets: Vec<String> = person
            .prospects
            .iter()
            .filter(|p| Some(p.id.as_str()) != except && p.status != Status::Unsubscribed)
            .map(|p| p.id.clone())
            .collect();
        self.push_command(batch, &targets, &AdminCommand::Unsubscribe)?;
        Ok(targets)
    }

    /// Adds to `batch` (the one recording the inbound message) what a keyword from `sender`
    /// does. `prospect` is the prospect the message was recorded for, if any. A STOP or START
    /// whose sender is not proven enough (`proof`) changes nothing: it is logged as a rejected
    /// request for an operator to follow up.
    pub(crate) fn on_keyword(
        &self,
        batch: &mut Batch,
        (keyword, proof): (Keyword, SenderProof),
        sender: &ContactKey,
        prospect: Option<&str>,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<KeywordEffect, Error> {
        let mut effect = KeywordEffect::default();
        let identified_by = vec![sender.kind().to_string()];
        if !keyword.may_apply(proof) {
            let (kind, word) = match keyword {
                Keyword::Start => (RequestKind::OptIn, "START"),
                Keyword::Stop | Keyword::Help => (RequestKind::OptOut, "STOP"),
            };
            let detail = format!(
                "{word} keyword on {channel} from {}: consent not changed; an operator may apply it after \
                 checking with the person",
                proof.as_str()
            );
            let concerned: Vec<String> = prospect.map(str::to_string).into_iter().collect();
            let draft = RequestDraft {
                kind,
                status: RequestStatus::Rejected,
                at: now,
                actor: "subject",
                identified_by,
                prospects: concerned,
                detail: Some(detail),
            };
            self.log_request(batch, draft)?;
            tracing::warn!(prospect = prospect.unwrap_or("-"), %channel, "a consent keyword from an unproven sender was recorded, not applied");
            return Ok(effect);
        }
        match keyword {
            Keyword::Stop => {
                let targets =
                    self.opt_out_everywhere(batch, std::slice::from_ref(sender), OptOutCause::StopWord, None, now)?;
                let mut concerned = targets.clone();
                concerned.extend(prospect.map(str::to_string).filter(|p| !targets.contains(p)));
                let detail = Some(format!("STOP keyword on {channel}"));
                self.subject_request(batch, RequestKind::OptOut, identified_by, &concerned, detail, now)?;
                effect.notify = targets;
            }
            Keyword::Start => {
                if self.store.suppression(sender)?.is_some() {
                    batch.push(Op::DeleteSuppression { key: sender.clone() });
                }
                let concerned: Vec<String> = prospect.map(str::to_string).into_iter().collect();
                let detail = Some(format!("START keyword on {channel}: the {} may be written to again", sender.kind()));
                self.subject_request(batch, RequestKind::OptIn, identified_by, &concerned, detail, now)?;
            }
            Keyword::Help => {
                if let Some(id) = prospect {
                    effect.dispatch.push(self.push_help_reply(batch, id, channel, now)?);
                }
            }
        }
        Ok(effect)
    }

    /// Records a request the person made themself, in the request log and the audit log.
    fn subject_request(
        &self,
        batch: &mut Batch,
        kind: RequestKind,
        identified_by: Vec<String>,
        prospects: &[String],
        detail: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let draft = RequestDraft {
            kind,
            status: RequestStatus::Completed,
            at: now,
            actor: "subject",
            identified_by,
            prospects: prospects.to_vec(),
            detail: detail.clone(),
        };
        let request = self.log_request(batch, draft)?;
        let action = match kind {
            RequestKind::OptIn => "privacy.opt_in",
            _ => "privacy.opt_out",
        };
        self.push_audit(batch, "subject", action, prospects, Some(format!("request {request}")))
    }

    /// Queues the help text as a message to prospect `id` on `channel`; returns its action id.
    fn push_help_reply(
        &self,
        batch: &mut Batch,
        id: &str,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<String, Error> {
        let seq = self.store.next_id()?;
        let action_id = format!("{id}:help:{seq}");
        let text = self.config.privacy.help_text.clone();
        let message = Message {
            seq,
            direction: Direction::Outbound,
            channel,
            text: text.clone(),
            status: DeliveryStatus::Queued,
            at: now,
            provider_id: None,
            action_id: Some(action_id.clone()),
            human: false,
            error: None,
        };
        batch.push(Op::PutMessage { prospect: id.to_string(), message });
        let action = Action::Send { action_id: action_id.clone(), channel, text, human: false };
        let entry =
            OutboxEntry { prospect: id.to_string(), action, attempts: 0, not_before: now, message_seq: Some(seq) };
        batch.push(Op::PutOutbox(Box::new(entry)));
        Ok(action_id)
    }
}

impl Engine {
    /// Whether a one-click unsubscribe token belongs to a prospect (the `GET /u/{token}` page).
    pub fn unsubscribe_token_known(&self, token: &str) -> Result<bool, Error> {
        Ok(self.inner.store.prospect_by_token(token)?.is_some())
    }

    /// The one-click unsubscribe (`POST /u/{token}`, RFC 8058): the token's person leaves every
    /// campaign. Returns false for an unknown token. Repeating it changes nothing.
    pub async fn unsubscribe_by_token(&self, token: &str) -> Result<bool, Error> {
        let Some(id) = self.inner.store.prospect_by_token(token)? else { return Ok(false) };
        let Some(state) = self.inner.store.prospect(&id)? else { return Ok(false) };
        let now = Utc::now();
        let mut batch = Batch::new();
        let contacts = ContactKey::of(&state.contact);
        let targets = self.inner.opt_out_everywhere(&mut batch, &contacts, OptOutCause::Link, None, now)?;
        let mut concerned = targets.clone();
        if !concerned.contains(&id) {
            concerned.push(id.clone());
        }
        let detail = Some("one-click unsubscribe link".to_string());
        let identified_by = vec!["unsubscribe_token".to_string()];
        self.inner.subject_request(&mut batch, RequestKind::OptOut, identified_by, &concerned, detail, now)?;
        self.inner.commit(batch).await?;
        tracing::info!(prospect = %id, prospects = targets.len(), "unsubscribed through the one-click link");
        for target in &targets {
            self.inner.notify(target);
        }
        Ok(true)
    }
}
