//! Who a request or an opt-out is about. Identity is exact: a person is named by the contacts
//! given, and a prospect is theirs when it holds one of those contacts and contradicts none of
//! them. Shared contacts are never followed transitively: two people who share a company email
//! but have different phone numbers (or different names) stay two people.
//!
//! - [`Reach::Exact`] (data-subject requests): only the prospects holding a given contact.
//! - [`Reach::OwnContacts`] (opt-outs): also the prospects reached through the other contacts of
//!   those, one hop, when they contradict none of them. Erring on the side of not writing to
//!   someone who objected, without taking a different person out with them.
//!
//! Two prospects contradict each other when both have a contact of the same kind with different
//! values, or both have a name and the names differ.

use serde::Serialize;

use crate::engine::{Error, Inner};
use crate::machine::{Contact, ProspectState};
use crate::store::ContactKey;

/// How far from the contacts given a person reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    Exact,
    OwnContacts,
}

/// A person as the contact index knows them.
#[derive(Debug, Default)]
pub(crate) struct Person {
    pub prospects: Vec<ProspectState>,
    /// Their contacts: the ones given, and those of their prospects that no other person holds.
    pub contacts: Vec<ContactKey>,
    /// Why each prospect matched: the kinds of the given contacts it holds (same order).
    pub matched_by: Vec<Vec<&'static str>>,
    /// Some of the prospects found contradict each other: the contacts given name several people.
    pub ambiguous: bool,
}

impl Person {
    pub fn ids(&self) -> Vec<String> {
        self.prospects.iter().map(|p| p.id.clone()).collect()
    }

    /// The person of one prospect: that prospect only, and its contacts.
    pub fn of_prospect(state: ProspectState) -> Person {
        Person {
            contacts: ContactKey::of_state(&state),
            matched_by: vec![vec!["prospect_id"]],
            prospects: vec![state],
            ambiguous: false,
        }
    }
}

/// One prospect a dry run found, and why.
#[derive(Debug, Clone, Serialize)]
pub struct MatchedProspect {
    pub id: String,
    pub workflow: String,
    /// The identifiers of the request this prospect holds.
    pub matched_by: Vec<&'static str>,
}

/// What a request would touch (`"dry_run": true`): nothing is changed or logged.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub dry_run: bool,
    pub prospects: Vec<MatchedProspect>,
    /// The identifiers given name several people: the request itself would be refused.
    pub ambiguous: bool,
    pub unmatched_messages: usize,
    pub suppressed_contacts: usize,
}

fn same_name(a: &Contact, b: &Contact) -> bool {
    let norm = |n: &str| crate::text::words(&crate::text::fold(n)).join(" ");
    match (&a.name, &b.name) {
        (Some(x), Some(y)) => norm(x) == norm(y),
        _ => true,
    }
}

/// Whether two contacts can belong to one person (see the module docs).
pub(crate) fn compatible(a: &Contact, b: &Contact) -> bool {
    let agree = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    agree(&a.phone, &b.phone)
        && agree(&a.email, &b.email)
        && agree(&a.messenger_psid, &b.messenger_psid)
        && same_name(a, b)
}

/// Whether a prospect can be the person named by `seeds`: every contact given that it does not
/// hold (directly or as a field value) must not contradict its contact details.
fn fits_seeds(seeds: &[ContactKey], given: &Contact, state: &ProspectState) -> bool {
    let held = ContactKey::of_state(state);
    let mut unheld = given.clone();
    for key in seeds.iter().filter(|k| held.contains(k)) {
        match key {
            ContactKey::Phone(_) => unheld.phone = None,
            ContactKey::Email(_) => unheld.email = None,
            ContactKey::MessengerPsid(_) => unheld.messenger_psid = None,
        }
    }
    compatible(&unheld, &state.contact)
}

/// The contacts given, as a contact (for the compatibility test).
fn seed_contact(seeds: &[ContactKey]) -> Contact {
    let mut contact = Contact::default();
    for key in seeds {
        match key {
            ContactKey::Phone(v) => contact.phone = Some(v.clone()),
            ContactKey::Email(v) => contact.email = Some(v.clone()),
            ContactKey::MessengerPsid(v) => contact.messenger_psid = Some(v.clone()),
        }
    }
    contact
}

impl Inner {
    /// The person reachable at `seeds` (see the module docs).
    pub(crate) fn person(&self, seeds: &[ContactKey], reach: Reach) -> Result<Person, Error> {
        let given = seed_contact(seeds);
        let mut kept: Vec<ProspectState> = Vec::new();
        let mut others: Vec<ProspectState> = Vec::new();
        let visit = |key: &ContactKey, kept: &mut Vec<ProspectState>, others: &mut Vec<ProspectState>, hop: bool| {
            for id in self.store.prospects_by_contact(key)? {
                if kept.iter().chain(others.iter()).any(|p| p.id == id) {
                    continue;
                }
                let Some(state) = self.store.prospect(&id)? else { continue };
                let fits = fits_seeds(seeds, &given, &state)
                    && (!hop || kept.iter().all(|k| compatible(&k.contact, &state.contact)));
                if fits { kept.push(state) } else { others.push(state) }
            }
            Ok::<(), Error>(())
        };
        for key in seeds {
            visit(key, &mut kept, &mut others, false)?;
        }
        if reach == Reach::OwnContacts {
            let theirs: Vec<ContactKey> = kept.iter().flat_map(ContactKey::of_state).collect();
            for key in theirs.iter().filter(|k| !seeds.contains(k)) {
                visit(key, &mut kept, &mut others, true)?;
            }
        }
        let mut contacts: Vec<ContactKey> = seeds.to_vec();
        for key in kept.iter().flat_map(ContactKey::of_state) {
            let shared = others.iter().any(|o| ContactKey::of_state(o).contains(&key));
            if !shared && !contacts.contains(&key) {
                contacts.push(key);
            }
        }
        kept.sort_by(|a, b| a.id.cmp(&b.id));
        let ambiguous =
            kept.iter().enumerate().any(|(i, a)| kept[i + 1..].iter().any(|b| !compatible(&a.contact, &b.contact)));
        let matched_by = kept
            .iter()
            .map(|p| {
                let held = ContactKey::of_state(p);
                let kinds: Vec<&'static str> =
                    seeds.iter().filter(|s| held.contains(s)).map(ContactKey::kind).collect();
                if kinds.is_empty() { vec!["shares_a_contact_with_a_match"] } else { kinds }
            })
            .collect();
        Ok(Person { prospects: kept, contacts, matched_by, ambiguous })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(name: Option<&str>, phone: Option<&str>, email: Option<&str>) -> Contact {
        Contact {
            name: name.map(str::to_string),
            phone: phone.map(str::to_string),
            email: email.map(str::to_string),
            ..Contact::default()
        }
    }

    #[test]
    fn a_shared_email_does_not_make_two_people_one() {
        let marie = contact(Some("Marie Dupont"), Some("+33611111111"), Some("contact@acme.fr"));
        let jean = contact(Some("Jean Martin"), Some("+33622222222"), Some("contact@acme.fr"));
        let jean_no_phone = contact(Some("Jean Martin"), None, Some("contact@acme.fr"));
        let anonymous = contact(None, None, Some("contact@acme.fr"));
        assert!(!compatible(&marie, &jean), "different phones");
        assert!(!compatible(&marie, &jean_no_phone), "different names");
        assert!(compatible(&marie, &anonymous), "nothing contradicts");
        assert!(compatible(&marie, &contact(Some("marie  DUPONT"), None, None)), "names compare folded");
    }
}
