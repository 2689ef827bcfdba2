//! Sends held while one of the person's messages waits for AI classification.
//!
//! An inbound message that reaches an `ai` step is classified by the model (opt-out intent among
//! others) after intake's lexicon has had its say. Until the model answers, nothing is sent to that
//! person — on any of their prospects, operator messages included — so that an opt-out only the
//! model recognises still stops everything. The set below holds the pending AI calls (first
//! attempt only): when a call fails, the provider is taken as down and the lexicon's decision
//! stands, so sends are released instead of waiting for the provider to come back.
//!
//! The executor consults [`Classifying::holds`] before each send; a held send is retried a
//! moment later (its outbox entry is unchanged, so a restart holds nothing back).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::{Error, Inner};
use crate::machine::ProspectState;
use crate::store::ContactKey;

/// How long a held send waits before it is looked at again.
pub(crate) const HOLD_RETRY: Duration = Duration::from_millis(250);
/// A call pending longer than this holds nothing any more (a hung provider, a call whose
/// prospect was erased meanwhile): the lexicon's decision stands.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// The AI calls waiting for their first answer: action id -> (prospect id, since).
#[derive(Debug, Default)]
pub(crate) struct Classifying {
    pending: Mutex<HashMap<String, (String, Instant)>>,
}

impl Classifying {
    pub fn begin(&self, action_id: &str, prospect: &str) {
        self.lock().entry(action_id.to_string()).or_insert_with(|| (prospect.to_string(), Instant::now()));
    }

    /// Whether `action_id` is an AI call still holding its person's sends.
    pub fn is_pending(&self, action_id: &str) -> bool {
        self.lock().contains_key(action_id)
    }

    pub fn end(&self, action_id: &str) {
        self.lock().remove(action_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a send to `state`'s person must wait: one of the person's prospects (this one,
    /// or one reached through its own contacts) has an AI call pending. Cheap when none is.
    pub fn holds(&self, inner: &Inner, state: &ProspectState) -> Result<bool, Error> {
        let pending: HashSet<String> = {
            let mut pending = self.lock();
            if pending.is_empty() {
                return Ok(false);
            }
            pending.retain(|_, (_, since)| since.elapsed() < MAX_HOLD);
            pending.values().map(|(prospect, _)| prospect.clone()).collect()
        };
        if pending.contains(&state.id) {
            return Ok(true);
        }
        let contacts = ContactKey::of_state(state);
        if contacts.is_empty() {
            return Ok(false);
        }
        let person = inner.person(&contacts, super::privacy::Reach::OwnContacts)?;
        Ok(person.prospects.iter().any(|p| pending.contains(&p.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_begin_and_end_by_action_id() {
        let classifying = Classifying::default();
        classifying.begin("a1", "p_1");
        classifying.begin("a1", "p_1");
        classifying.begin("a2", "p_2");
        classifying.end("a1");
        assert_eq!(classifying.lock().values().map(|(p, _)| p.clone()).collect::<Vec<_>>(), vec!["p_2".to_string()]);
        classifying.end("a2");
        classifying.end("a404");
        assert!(classifying.lock().is_empty());
    }
}
