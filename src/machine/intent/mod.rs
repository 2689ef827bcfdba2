//! What a message means by itself, before any model reads it: opt-out (the multilingual
//! lexicon below), opt-in (START) and help. The one home of opt-out recognition: intake, the
//! machine and the `rules` provider all ask [`opt_out_phrase`].
//!
//! The lexicon is deterministic and explainable: a message opts out when it is a carrier keyword
//! by itself (`STOP`, `Arrêt.`, `stop merci`) or ends with one ("Pas intéressé. Stop."), or when it holds one of [`PHRASES`] (French and
//! English, matched as whole words after folding case, accents and apostrophes) that is not
//! negated just before ("je ne veux *pas* me désabonner") nor narrowed just after by a time or a
//! place ("ne m'appelez plus *avant 18h*", "stop calling me *at work*"). A bare `stop` inside a
//! longer sentence ("stop, c'est trop cher ?") is not an opt-out: a model, when one is
//! configured, reads those.

use crate::text::{fold, words};

mod phrases;
#[cfg(test)]
mod tests;

pub use phrases::PHRASES;

/// Carrier keywords that opt out when they are the whole message (with politeness around).
pub const STOP_WORDS: &[&str] =
    &["stop", "stopall", "unsubscribe", "unsub", "cancel", "end", "quit", "arret", "arreter", "arretez", "desabonner"];
pub const START_WORDS: &[&str] = &["start", "unstop"];
pub const HELP_WORDS: &[&str] = &["help", "aide"];

/// Words that may surround a keyword without changing it: "STOP merci", "stop please".
const FILLER: &[&str] = &[
    "merci",
    "svp",
    "stp",
    "please",
    "pls",
    "plz",
    "thanks",
    "thank",
    "you",
    "thx",
    "s",
    "il",
    "vous",
    "te",
    "plait",
    "now",
    "maintenant",
    "tout",
    "de",
    "suite",
    "all",
    "ok",
    "bye",
    "au",
    "revoir",
];

/// Words just before a phrase that negate it.
const NEGATIONS: &[&str] = &["pas", "not", "t", "jamais", "never", "sans", "without"];

/// First words of phrases that carry their own negation ("ne plus me contacter", "don't text"):
/// no negation window applies before those.
const SELF_NEGATED: &[&str] = &["ne", "n", "don", "dont", "do", "never", "not", "no", "plus"];

/// Characters that end a clause: negations and narrowers only reach within their clause.
const CLAUSE_ENDS: &[char] = &[',', '.', ';', ':', '!', '?', '\n', '(', ')', '[', ']'];

/// Words just after a phrase that narrow it to a time or a place: a preference, not an objection.
const NARROWERS: &[&str] = &[
    "avant",
    "apres",
    "before",
    "after",
    "until",
    "till",
    "jusqu",
    "pendant",
    "during",
    "entre",
    "between",
    "demain",
    "tomorrow",
    "today",
    "tonight",
    "aujourd",
    "soir",
    "matin",
    "midi",
    "aprem",
    "weekend",
    "week",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "heure",
    "heures",
    "later",
    "tard",
    "work",
    "travail",
    "bureau",
    "boulot",
    "office",
    "semaine",
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
];

/// How many words after a phrase are looked at for a narrower, and before it for a negation.
const NARROW_WINDOW: usize = 4;
const NEGATION_WINDOW: usize = 3;

/// The opt-out this message expresses, as the keyword or phrase that matched; `None` when it
/// expresses none.
pub fn opt_out_phrase(text: &str) -> Option<&'static str> {
    let folded = fold(text);
    if let Some(keyword) = keyword_alone(&words(&folded), STOP_WORDS) {
        return Some(keyword);
    }
    let clauses: Vec<Vec<String>> = folded.split(CLAUSE_ENDS).map(words).filter(|c| !c.is_empty()).collect();
    // "Pas intéressé. Stop." ends on the keyword; "Stop, c'est trop cher ?" only starts with it.
    if let Some(keyword) = clauses.last().and_then(|last| keyword_alone(last, STOP_WORDS)) {
        return Some(keyword);
    }
    PHRASES.iter().copied().find(|phrase| clauses.iter().any(|clause| matches_unguarded(clause, phrase)))
}

/// `true` when the message opts out (see [`opt_out_phrase`]).
pub fn is_opt_out(text: &str) -> bool {
    opt_out_phrase(text).is_some()
}

/// `true` when the whole message is one opt-out keyword (with politeness around it).
pub fn is_stop_word(text: &str) -> bool {
    keyword_alone(&words(&fold(text)), STOP_WORDS).is_some()
}

pub fn is_start_word(text: &str) -> bool {
    keyword_alone(&words(&fold(text)), START_WORDS).is_some()
}

pub fn is_help_word(text: &str) -> bool {
    keyword_alone(&words(&fold(text)), HELP_WORDS).is_some()
}

/// The keyword of `keywords` when `words` are that keyword, repeated or with filler only.
fn keyword_alone(words: &[String], keywords: &[&'static str]) -> Option<&'static str> {
    let first = keywords.iter().copied().find(|k| words.first().is_some_and(|w| w == k))?;
    let rest_is_filler = words[1..].iter().all(|w| w == first || FILLER.contains(&w.as_str()));
    rest_is_filler.then_some(first)
}

/// Whether `phrase` occurs in `words` at least once without a negation before it or a narrower
/// after it.
fn matches_unguarded(words: &[String], phrase: &str) -> bool {
    let needle: Vec<&str> = phrase.split(' ').collect();
    if needle.len() > words.len() {
        return false;
    }
    (0..=words.len() - needle.len()).any(|start| {
        let end = start + needle.len();
        let hit = words[start..end].iter().zip(&needle).all(|(w, n)| w == n);
        let negated = !SELF_NEGATED.contains(&needle[0])
            && words[start.saturating_sub(NEGATION_WINDOW)..start].iter().any(|w| NEGATIONS.contains(&w.as_str()));
        let narrowed = words[end..(end + NARROW_WINDOW).min(words.len())].iter().any(|w| is_narrower(w));
        hit && !negated && !narrowed
    })
}

/// A time or place word, or a clock time such as `18h`, `9h30` or a bare number.
fn is_narrower(word: &str) -> bool {
    NARROWERS.contains(&word) || word.chars().next().is_some_and(|c| c.is_ascii_digit())
}
