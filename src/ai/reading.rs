//! How the `rules` provider reads one field out of a message, and why: each reading carries the
//! phrase that gave it, so `qualifyd simulate` can show it.
//!
//! - `bool`: the field's declared `phrases` (`yes` / `no`) anywhere in the message; a `yes`
//!   phrase right after a negation (`je ne suis pas le décideur`) means no. A bare yes/no
//!   (`oui`, `nope`, `c'est pas moi`) only answers the question last asked, and only at the start
//!   of a sentence or clause (`Bonjour, oui …`), so a `pas` deep in a sentence is not an answer.
//!   The earliest phrase decides.
//! - `enum`: the values and `synonyms`, not negated (`pas de panneaux`); when the message
//!   corrects itself (`finalement`, `plutôt`, `actually`), the value after the correction wins.
//! - `number`: amounts of money as `extract::amount` reads them; with a `unit` (`people`,
//!   `months`), a number followed by one of the unit's words; a number right after one of the
//!   field's `phrases` counts too. A bare number only answers the question asked.
//! - `string`: the words after one of the field's `phrases` (`code postal 69003`), up to the end
//!   of the clause; a whole short message answering the question is decided in `rules`.
//! - `email`, `phone`: by their shape.
//!
//! A reading is `clear` when it may replace a value already known: a marked amount, an email, a
//! phone, a lead-in phrase, or anything in a message that corrects itself.

use serde_json::Value;

use super::extract::{amount, count, email, phone};
use super::{Message, enum_mentions, negated, yes_no_at};
use crate::catalog::model::{Field, FieldType, Unit};

/// A value read for a field, and what it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub value: Value,
    pub clear: bool,
    /// Shown by `simulate`: the phrase or the kind of value that matched.
    pub because: String,
}

/// Words that announce a correction of what was said before.
#[rustfmt::skip]
const CORRECTIONS: &[&str] = &[
    "finalement", "en fait", "plutot", "correction", "je voulais dire", "actually", "i meant", "rather",
    "sorry", "desole", "desolee", "instead", "au final",
];

/// Everything about a message the field readers share.
pub(crate) struct Reader<'m> {
    pub message: &'m Message,
    /// Word position of the last correction word, when the message corrects itself.
    pub correction: Option<usize>,
}

impl<'m> Reader<'m> {
    pub fn new(message: &'m Message) -> Reader<'m> {
        let correction = CORRECTIONS.iter().flat_map(|c| message.positions(c)).max();
        Reader { message, correction }
    }

    /// The value of `field` in the message; `answering` when its question was asked last.
    pub fn read(&self, field: &Field, answering: bool) -> Option<Reading> {
        let correcting = self.correction.is_some();
        let message = self.message;
        match &field.kind {
            FieldType::Number => self.number(field, answering),
            FieldType::Enum { values, synonyms } => {
                let mentions = enum_mentions(message, values, synonyms);
                let after = self.correction.and_then(|c| mentions.iter().find(|m| m.at > c));
                let mention = after.or(mentions.first())?;
                let because = format!("\"{}\"", mention.phrase);
                Some(Reading { value: Value::String(mention.value.clone()), clear: correcting, because })
            }
            FieldType::Bool => self.boolean(field, answering),
            FieldType::Email => email(message).map(|e| reading(Value::String(e), true, "an email address")),
            FieldType::Phone => phone(message).map(|p| reading(Value::String(p), true, "a phone number")),
            FieldType::String => self.after_phrase(field),
        }
    }

    fn number(&self, field: &Field, answering: bool) -> Option<Reading> {
        let correcting = self.correction.is_some();
        match field.unit.unwrap_or(Unit::Euros) {
            Unit::Euros if field.phrases.before.is_empty() => {
                let found = amount(self.message).filter(|a| a.marked || answering || correcting)?;
                let because = if found.marked { "an amount of money" } else { "a number answering the question" };
                Some(reading(Value::Number(found.value), found.marked || correcting, because))
            }
            unit => {
                let found = count(self.message, unit.words(), &field.phrases.before)?;
                if !(found.marked || answering || correcting) {
                    return None;
                }
                let because = found.because.unwrap_or_else(|| "a number answering the question".into());
                Some(reading(Value::Number(found.value), found.marked || correcting, &because))
            }
        }
    }

    fn boolean(&self, field: &Field, answering: bool) -> Option<Reading> {
        let message = self.message;
        let question = message.raw.trim_end().ends_with('?');
        for at in 0..message.words.len() {
            let declared = [(&field.phrases.yes, true), (&field.phrases.no, false)]
                .into_iter()
                .flat_map(|(list, meaning)| list.iter().map(move |p| (p, meaning)))
                .filter(|(p, _)| message.positions(p).contains(&at))
                .max_by_key(|(p, _)| super::words(&super::fold(p)).len());
            if let Some((phrase, meaning)) = declared {
                match (meaning, negated(message, at)) {
                    (true, true) => return Some(reading(Value::Bool(false), true, &format!("\"{phrase}\" negated"))),
                    (false, true) => continue,
                    (meaning, false) => return Some(reading(Value::Bool(meaning), true, &format!("\"{phrase}\""))),
                }
            }
            let at_start = message.clause_starts.contains(&at) && (!question || at == 0);
            if let Some((meaning, phrase)) = yes_no_at(message, at).filter(|_| answering && at_start) {
                let meaning = meaning?;
                let clear = self.correction.is_some();
                return Some(reading(Value::Bool(meaning), clear, &format!("\"{phrase}\" answering the question")));
            }
        }
        None
    }

    /// The rest of the clause after one of the field's phrases (`code postal : 69003, merci`).
    fn after_phrase(&self, field: &Field) -> Option<Reading> {
        let folded = &self.message.folded;
        for phrase in &field.phrases.before {
            let wanted = super::words(&super::fold(phrase));
            let Some(&at) = self.message.positions(phrase).first() else { continue };
            // Char offset in the folded text just after the phrase's last word.
            let last = at + wanted.len() - 1;
            let end = word_spans(folded).nth(last).map(|(offset, word)| offset + word.len());
            let rest = &folded[end?..];
            let value: String = rest
                .trim_start_matches(|c: char| c.is_whitespace() || ":=-".contains(c))
                .split(|c: char| ",;!?\n".contains(c))
                .next()
                .unwrap_or_default()
                .trim()
                .trim_end_matches('.')
                .to_string();
            if !value.is_empty() {
                let raw_value = original_case(&self.message.raw, folded, &value);
                return Some(reading(Value::String(raw_value), true, &format!("after \"{phrase}\"")));
            }
        }
        None
    }
}

fn reading(value: Value, clear: bool, because: &str) -> Reading {
    Reading { value, clear, because: because.to_string() }
}

/// Byte offsets and text of the words of folded text.
fn word_spans(folded: &str) -> impl Iterator<Item = (usize, &str)> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - folded.as_ptr() as usize, w))
}

/// `value` (a piece of the folded text) as written in the original, when folding kept the
/// lengths (no `œ`); else the folded piece.
fn original_case(raw: &str, folded: &str, value: &str) -> String {
    let lowered: String = raw.chars().flat_map(char::to_lowercase).collect();
    let start = folded.find(value);
    match start {
        Some(start)
            if lowered.chars().count() == folded.chars().count() && raw.chars().count() == folded.chars().count() =>
        {
            let first = folded[..start].chars().count();
            raw.chars().skip(first).take(value.chars().count()).collect()
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::model::Phrases;

    fn field(kind: FieldType, phrases: Phrases, unit: Option<Unit>) -> Field {
        Field {
            name: "f".into(),
            kind,
            description: String::new(),
            ask: Some("?".into()),
            required: true,
            phrases,
            unit,
        }
    }

    fn read(field: &Field, text: &str, answering: bool) -> Option<(Value, bool, String)> {
        let message = Message::new(text);
        Reader::new(&message).read(field, answering).map(|r| (r.value, r.clear, r.because))
    }

    fn boss() -> Field {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        let phrases =
            Phrases { yes: list(&["décideur", "c'est moi qui décide"]), no: list(&["mon associé"]), before: vec![] };
        field(FieldType::Bool, phrases, None)
    }

    #[test]
    fn bool_phrases_anywhere_negated_and_bare_answers_at_a_clause_start() {
        let boss = boss();
        let cases = [
            ("Budget 2k, et c'est moi qui décide", false, Some((json!(true), "\"c'est moi qui décide\""))),
            ("je ne suis pas le décideur", false, Some((json!(false), "\"décideur\" negated"))),
            ("je dois voir avec mon associé", false, Some((json!(false), "\"mon associé\""))),
            ("oui", false, None),
            ("oui", true, Some((json!(true), "\"oui\" answering the question"))),
            ("Bonjour, non c'est pas moi", true, Some((json!(false), "\"non\" answering the question"))),
            ("correction : le budget c'est 1200 pas 1500", true, None),
            ("c'est pour quoi exactement ?", true, None),
            ("not sure", true, None),
        ];
        for (text, answering, want) in cases {
            let got = read(&boss, text, answering).map(|(v, _, because)| (v, because));
            assert_eq!(got, want.map(|(v, b)| (v, b.to_string())), "{text}");
        }
    }

    #[test]
    fn counts_with_units_and_lead_ins() {
        let staff = field(
            FieldType::Number,
            Phrases { before: vec!["équipe de".into()], ..Phrases::default() },
            Some(Unit::People),
        );
        let cases = [
            ("We are 25 people, budget 4k", false, Some((json!(25), true))),
            ("une équipe de 12, budget 900€", false, Some((json!(12), true))),
            ("budget 900€", false, None),
            ("12", true, Some((json!(12), false))),
            ("12", false, None),
        ];
        for (text, answering, want) in cases {
            assert_eq!(read(&staff, text, answering).map(|(v, c, _)| (v, c)), want, "{text}");
        }
    }

    #[test]
    fn amounts_in_words_corrections_and_strings_after_a_phrase() {
        let budget = field(FieldType::Number, Phrases::default(), None);
        assert_eq!(read(&budget, "deux mille par mois", false).map(|r| r.0), Some(json!(2000)));
        assert_eq!(read(&budget, "finalement plutôt 3000", false).map(|r| (r.0, r.1)), Some((json!(3000), true)));
        assert_eq!(read(&budget, "3000", false), None);
        let values = ["solar", "heat_pump"].map(String::from).to_vec();
        let synonyms = [("heat_pump".to_string(), vec!["pompe à chaleur".to_string()])].into();
        let need = field(FieldType::Enum { values, synonyms }, Phrases::default(), None);
        let got = read(&need, "solar au départ, finalement plutôt une pompe à chaleur", false);
        assert_eq!(got, Some((json!("heat_pump"), true, "\"pompe à chaleur\"".to_string())));
        assert_eq!(read(&need, "pas de solar, merci", false), None);
        let zip = field(FieldType::String, Phrases { before: vec!["code postal".into()], ..Phrases::default() }, None);
        let got = read(&zip, "Panneaux svp. Code postal : 69003, merci", false);
        assert_eq!(got, Some((json!("69003"), true, "after \"code postal\"".to_string())));
    }
}
