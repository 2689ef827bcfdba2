//! AI providers: read a prospect's reply and answer with an [`AiAnswer`](crate::machine::AiAnswer)
//! (extracted fields, intent, reply, next step). Holds the deterministic offline `rules` provider
//! and the text toolkit it stands on: accent folding, words, phrase matching, and the two
//! word-level readers (enum values with synonyms, yes/no); `extract` reads shaped values
//! (amounts, emails, phones), `rules` decides which field gets what, the intent and the reply.
//!
//! Text handling is by hand (no regex): a message is lower-cased and accent-folded once, then cut
//! into words at every non-alphanumeric character, so `"L'année prochaine"`, `"l annee
//! prochaine"` and `"L’ANNÉE-PROCHAINE"` are the same three words. Phrases match as whole words.

use std::collections::BTreeMap;

mod extract;
mod mask;
mod openai;
mod reading;
mod rules;
pub mod schema;
pub mod validate;

pub use mask::mask_contact_details;
pub use openai::{OpenAiProvider, Usage};
pub use rules::{rules_answer, rules_reading};

/// Messages up to this many characters may be a bare answer to the question last asked.
pub(crate) const SHORT_ANSWER: usize = 60;

pub(crate) use crate::text::{fold, words};

/// One inbound message, prepared once for every matcher.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// The text, trimmed.
    pub raw: String,
    /// `raw` through [`fold`].
    pub folded: String,
    pub words: Vec<String>,
    /// Word positions that start a sentence or a clause (after `,.;:!?` or a line break).
    pub clause_starts: Vec<usize>,
}

impl Message {
    pub fn new(text: &str) -> Message {
        let raw = text.trim().to_string();
        let folded = fold(&raw);
        let words = words(&folded);
        let mut clause_starts = Vec::new();
        let mut at = 0;
        for clause in folded.split(|c: char| ",.;:!?\n()".contains(c)) {
            let n = self::words(clause).len();
            if n > 0 {
                clause_starts.push(at);
            }
            at += n;
        }
        Message { raw, folded, words, clause_starts }
    }

    pub fn is_short(&self) -> bool {
        self.raw.chars().count() <= SHORT_ANSWER
    }

    /// Word positions where `phrase` (any text: folded and cut here) starts, in order.
    pub fn positions(&self, phrase: &str) -> Vec<usize> {
        let wanted = words(&fold(phrase));
        if wanted.is_empty() || wanted.len() > self.words.len() {
            return Vec::new();
        }
        self.words.windows(wanted.len()).enumerate().filter(|(_, w)| *w == wanted.as_slice()).map(|(i, _)| i).collect()
    }

    pub fn contains(&self, phrase: &str) -> bool {
        !self.positions(phrase).is_empty()
    }

    pub fn contains_any<S: AsRef<str>>(&self, phrases: &[S]) -> bool {
        phrases.iter().any(|p| self.contains(p.as_ref()))
    }

    /// `true` when `phrase` (folded words separated by single spaces) starts at word `at`.
    pub fn matches_at(&self, at: usize, phrase: &str) -> bool {
        let mut n = 0;
        for (i, w) in phrase.split(' ').enumerate() {
            if self.words.get(at + i).map(String::as_str) != Some(w) {
                return false;
            }
            n += 1;
        }
        n > 0
    }

    /// French accents, or more common French words than English ones.
    pub fn looks_french(&self) -> bool {
        if self.raw.chars().any(|c| "éèêëàâçùûôîïœÉÈÊÀÇ".contains(c)) {
            return true;
        }
        let count = |list: &[&str]| self.words.iter().filter(|w| list.contains(&w.as_str())).count();
        let french = count(FRENCH_WORDS);
        french > 0 && french > count(ENGLISH_WORDS)
    }
}

#[rustfmt::skip]
const FRENCH_WORDS: &[&str] = &[
    "bonjour", "bonsoir", "salut", "merci", "oui", "ouais", "non", "je", "j", "suis", "nous", "vous",
    "tu", "est", "c", "pas", "le", "la", "les", "des", "du", "une", "et", "pour", "avec", "mais",
    "mois", "veut", "voudrais", "voulons", "tres", "bien", "ca", "qu", "que", "mon", "ma", "mes",
    "notre", "votre", "peut", "plus", "aussi", "dans", "sur", "au", "aux", "moi", "ai", "etre",
];

#[rustfmt::skip]
const ENGLISH_WORDS: &[&str] = &[
    "hello", "hi", "hey", "thanks", "thank", "yes", "no", "the", "i", "you", "we", "is", "are", "am",
    "and", "to", "for", "with", "my", "our", "it", "not", "me", "please", "want", "would", "like",
    "month", "this", "that", "will", "be", "start", "can", "of", "in", "s", "m", "what", "how",
];

type EnumRank = (usize, std::cmp::Reverse<usize>, usize);

/// Words that negate what follows them closely: `pas de panneaux`, `not the owner`.
pub(crate) const NEGATORS: &[&str] = &["not", "no", "pas", "jamais", "never", "sans", "without", "ni", "nor"];

/// `true` when one of the two words before word `at`, in the same clause, is a negation.
pub(crate) fn negated(message: &Message, at: usize) -> bool {
    let clause = message.clause_starts.iter().copied().filter(|s| *s <= at).max().unwrap_or(0);
    let from = at.saturating_sub(2).max(clause);
    message.words[from..at].iter().any(|w| NEGATORS.contains(&w.as_str()))
}

/// An enum value named in a message: the value, the phrase that named it, its word position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mention {
    pub value: String,
    pub phrase: String,
    pub at: usize,
}

/// Every mention of an enum value (the value itself or one of its synonyms, as whole words) not
/// negated (`pas de panneaux`), in message order; at one place the longer phrase wins.
pub(crate) fn enum_mentions(
    message: &Message,
    values: &[String],
    synonyms: &BTreeMap<String, Vec<String>>,
) -> Vec<Mention> {
    let mut found: Vec<(EnumRank, Mention)> = Vec::new();
    for (order, value) in values.iter().enumerate() {
        let phrases = std::iter::once(value).chain(synonyms.get(value).into_iter().flatten());
        for phrase in phrases {
            let length = words(&fold(phrase)).len();
            for at in message.positions(phrase) {
                if !negated(message, at) {
                    let mention = Mention { value: value.clone(), phrase: phrase.clone(), at };
                    found.push(((at, std::cmp::Reverse(length), order), mention));
                }
            }
        }
    }
    found.sort_by_key(|a| a.0);
    let mut out: Vec<Mention> = Vec::new();
    let mut covered = 0;
    for ((at, std::cmp::Reverse(length), _), mention) in found {
        if at >= covered || out.is_empty() {
            covered = at + length;
            out.push(mention);
        }
    }
    out
}

/// The enum value named first in the message (see [`enum_mentions`]).
#[cfg(test)]
pub(crate) fn enum_value(
    message: &Message,
    values: &[String],
    synonyms: &BTreeMap<String, Vec<String>>,
) -> Option<String> {
    enum_mentions(message, values, synonyms).into_iter().next().map(|m| m.value)
}

#[rustfmt::skip]
const YES: &[&str] = &[
    "yes", "yeah", "yep", "yup", "sure", "of course", "indeed", "absolutely", "definitely", "certainly",
    "correct", "that s me", "it s me", "i am", "i do", "i will", "oui", "ouais", "bien sur",
    "absolument", "c est moi", "moi meme", "tout a fait", "exactement", "effectivement", "certainement",
    "evidemment", "bien entendu", "affirmatif",
];
#[rustfmt::skip]
const NO: &[&str] = &[
    "no", "nope", "nah", "not", "never", "not me", "of course not", "absolutely not", "not at all",
    "i am not", "i m not", "i don t", "i do not", "i won t", "non", "pas", "pas moi", "jamais",
    "pas du tout", "absolument pas", "bien sur que non", "certainement pas", "c est pas moi",
    "ce n est pas moi",
];
#[rustfmt::skip]
const UNSURE: &[&str] = &[
    "not sure", "maybe", "perhaps", "i don t know", "dunno", "pas sur", "peut etre", "je ne sais pas",
    "je sais pas", "sais pas",
];

/// The yes/no phrase starting at word `at`, longest first: `(meaning, phrase)`, where the
/// meaning is `None` for "not sure".
pub(crate) fn yes_no_at(message: &Message, at: usize) -> Option<(Option<bool>, &'static str)> {
    let lists: [(&[&str], Option<bool>); 3] = [(YES, Some(true)), (NO, Some(false)), (UNSURE, None)];
    lists
        .iter()
        .flat_map(|(list, meaning)| list.iter().map(move |p| (p.split(' ').count(), *p, *meaning)))
        .filter(|(_, phrase, _)| message.matches_at(at, phrase))
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, phrase, meaning)| (meaning, phrase))
}

/// The first yes/no phrase of the message decides (`true` for yes); at one word the longest
/// phrase wins, so "of course not" is no and "not sure" is neither.
#[cfg(test)]
pub(crate) fn yes_no(message: &Message) -> Option<bool> {
    (0..message.words.len()).find_map(|at| yes_no_at(message, at)).and_then(|(meaning, _)| meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words_only() {
        let m = Message::new("Nowhere now, l’Année-prochaine et this_quarter");
        assert_eq!(m.positions("now"), vec![1]);
        assert!(m.contains("l'année prochaine"));
        assert!(m.contains("this quarter"));
        assert!(m.contains("THIS_QUARTER"));
        assert!(!m.contains("where"));
        assert!(!m.contains(""));
        assert!(m.matches_at(1, "now"));
        assert!(!m.matches_at(9, "now"));
        assert!(!m.matches_at(0, ""));
    }

    #[test]
    fn language_guess_english_and_french() {
        let cases = [
            ("Oui c'est moi", true),
            ("Bonjour, je suis intéressé", true),
            ("ça marche", true),
            ("merci", true),
            ("Yes, that's me", false),
            ("I am the one deciding", false),
            ("ok", false),
            ("", false),
            ("1500", false),
        ];
        for (text, french) in cases {
            assert_eq!(Message::new(text).looks_french(), french, "{text}");
        }
    }

    #[test]
    fn short_is_counted_in_characters() {
        assert!(Message::new(&"é".repeat(SHORT_ANSWER)).is_short());
        assert!(!Message::new(&"e".repeat(SHORT_ANSWER + 1)).is_short());
    }

    fn timeline() -> (Vec<String>, BTreeMap<String, Vec<String>>) {
        let values = ["now", "this_quarter", "later"].map(String::from).to_vec();
        let synonyms = [
            ("now", &["asap", "tout de suite", "immediately", "dès que possible"][..]),
            ("this_quarter", &["this quarter", "ce trimestre", "next month"][..]),
            ("later", &["next year", "l'année prochaine", "plus tard"][..]),
        ];
        let synonyms =
            synonyms.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect();
        (values, synonyms)
    }

    #[test]
    fn enum_values_and_synonyms_in_english_and_french() {
        let (values, synonyms) = timeline();
        let cases = [
            ("tout de suite", Some("now")),
            ("ASAP please", Some("now")),
            ("Dès que possible !", Some("now")),
            ("right now", Some("now")),
            ("ce trimestre", Some("this_quarter")),
            ("CE TRIMESTRE ?", Some("this_quarter")),
            ("this_quarter", Some("this_quarter")),
            ("probably this quarter", Some("this_quarter")),
            ("L’ANNÉE PROCHAINE", Some("later")),
            ("plus tard", Some("later")),
            ("pas tout de suite, plutôt l'année prochaine", Some("later")),
            ("pas de panneaux, plutôt plus tard", Some("later")),
            ("not now, next year", Some("later")),
            ("nowhere to be seen", None),
            ("soon-ish", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(enum_value(&Message::new(text), &values, &synonyms).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn yes_no_in_english_and_french() {
        let cases = [
            ("yes", Some(true)),
            ("Yeah sure", Some(true)),
            ("of course", Some(true)),
            ("I am", Some(true)),
            ("Yes, that's me", Some(true)),
            ("oui", Some(true)),
            ("Ouais", Some(true)),
            ("Bien sûr !", Some(true)),
            ("absolument", Some(true)),
            ("Oui c'est moi", Some(true)),
            ("no", Some(false)),
            ("Nope", Some(false)),
            ("not me", Some(false)),
            ("of course not", Some(false)),
            ("I'm not", Some(false)),
            ("non", Some(false)),
            ("Pas moi, c'est mon associé", Some(false)),
            ("jamais", Some(false)),
            ("c'est pas moi", Some(false)),
            ("not sure", None),
            ("je ne sais pas", None),
            ("peut-être", None),
            ("hello", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(yes_no(&Message::new(text)), want, "{text}");
        }
    }
}
