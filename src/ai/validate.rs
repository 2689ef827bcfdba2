//! Checks a model's answer against the `ai` step's declarations before anything is stored: the
//! content must be one JSON object shaped like [`super::schema::answer_schema`]; each extracted
//! field must have its declared type; enum values, `next` and `intent` must be allowed values.
//! Not every OpenAI-compatible server enforces the schema, so this is the only guarantee.
//!
//! Leniency, kept to what cannot be misread: enum values and their synonyms match without
//! regard to case, accents or `_`/`-`/space (`"This Quarter"` is `this_quarter`, `"ASAP"` is the
//! value `asap` is a synonym of); a number field accepts a string holding a plain decimal number
//! (`"1500"`, `"1500.50"`), nothing else (`"1,500"` and `"1.5k"` are ambiguous); a missing key,
//! `null` and an empty string all mean "not said" and are dropped. Anything else is a problem.
//!
//! Problems name the key and what was expected, never the value: they end up in logs and in
//! the prospect's status, and a value may be personal data (the model still sees its own answer).

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use super::schema::{INTENTS, extracted};
use super::{Message, fold, words};
use crate::catalog::model::{AiStep, Field, FieldType, Workflow};
use crate::machine::AiAnswer;

/// Why an answer was refused: every problem found, in key order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct Invalid(pub Vec<String>);

/// Parses and checks `content`; returns the answer with only valid, non-null values.
pub fn validate(workflow: &Workflow, step: &AiStep, content: &str) -> Result<AiAnswer, Invalid> {
    let object = match serde_json::from_str::<Value>(strip_fence(content)) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(Invalid(vec!["the answer is JSON but not an object".into()])),
        Err(err) => return Err(Invalid(vec![format!("the answer is not valid JSON ({err})")])),
    };
    let mut problems = Vec::new();
    let mut answer = AiAnswer::default();
    for (key, value) in &object {
        match key.as_str() {
            "fields" => answer.fields = fields(workflow, step, value, &mut problems),
            "reply" if step.reply => answer.reply = text(value, "reply", &mut problems),
            "next" if !step.choose.is_empty() => {
                let ids: Vec<&str> = step.choose.iter().map(|(id, _)| id.as_str()).collect();
                answer.next = choice(value, "next", &ids, &mut problems);
            }
            "intent" => answer.intent = choice(value, "intent", &INTENTS, &mut problems),
            _ if value.is_null() => {}
            other => problems.push(format!("{} is not a key of the answer; expected {}", shown("", other), keys(step))),
        }
    }
    if !object.contains_key("fields") && !step.extract.is_empty() {
        problems.push("`fields` is missing: give every field, with null for what is not known".into());
    }
    problems.sort();
    if problems.is_empty() { Ok(answer) } else { Err(Invalid(problems)) }
}

/// A key the model made up, quoted when it looks like an identifier: anything else could be
/// text from the conversation, which stays out of the problems.
fn shown(prefix: &str, key: &str) -> String {
    let identifier = key.len() <= 40 && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier { format!("`{prefix}{key}`") } else { format!("`{prefix}…` (a key that is not an identifier)") }
}

/// Local models sometimes wrap JSON in a Markdown code fence.
fn strip_fence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(inner) = trimmed.strip_prefix("```").and_then(|r| r.strip_suffix("```")) else { return trimmed };
    inner.strip_prefix("json").unwrap_or(inner).trim()
}

fn keys(step: &AiStep) -> String {
    let mut keys = vec!["`fields`"];
    if step.reply {
        keys.push("`reply`");
    }
    if !step.choose.is_empty() {
        keys.push("`next`");
    }
    keys.push("`intent`");
    keys.join(", ")
}

fn fields(workflow: &Workflow, step: &AiStep, value: &Value, problems: &mut Vec<String>) -> BTreeMap<String, Value> {
    let wanted = extracted(workflow, step);
    let mut out = BTreeMap::new();
    let object: &Map<String, Value> = match value {
        Value::Object(object) => object,
        Value::Null if wanted.is_empty() => return out,
        _ => {
            problems.push("`fields` must be an object with one key per field".into());
            return out;
        }
    };
    for (name, value) in object {
        let Some(field) = wanted.iter().find(|f| &f.name == name) else {
            let names: Vec<&str> = wanted.iter().map(|f| f.name.as_str()).collect();
            let name = shown("fields.", name);
            problems.push(format!("{name} is not a field of this step; the fields are: {}", names.join(", ")));
            continue;
        };
        match typed(field, value) {
            Ok(Some(value)) => {
                out.insert(name.clone(), value);
            }
            Ok(None) => {}
            Err(expected) => problems.push(format!("`fields.{name}` must be {expected}, or null when not known")),
        }
    }
    out
}

/// The value to store for `field`, `None` when not said, or what was expected instead.
fn typed(field: &Field, value: &Value) -> Result<Option<Value>, String> {
    if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Ok(None);
    }
    let found = match (&field.kind, value) {
        (FieldType::Number, Value::Number(_)) => Some(value.clone()),
        (FieldType::Number, Value::String(s)) => plain_number(s.trim()).map(Value::Number),
        (FieldType::String, Value::String(s)) => Some(Value::from(s.trim())),
        (FieldType::Bool, Value::Bool(_)) => Some(value.clone()),
        (FieldType::Email, Value::String(s)) => {
            super::extract::email(&Message::new(s)).filter(|e| e == s.trim()).map(Value::from)
        }
        (FieldType::Phone, Value::String(s)) => {
            let shaped = s.trim().chars().all(|c| c.is_ascii_digit() || " .-()+".contains(c));
            super::extract::phone(&Message::new(s)).filter(|_| shaped).map(Value::from)
        }
        (FieldType::Enum { values, synonyms }, Value::String(s)) => {
            let names: Vec<&str> = values.iter().map(String::as_str).collect();
            return match canonical(s, &names, synonyms) {
                Some(v) => Ok(Some(Value::from(v))),
                None => Err(format!("one of {}", names.join(", "))),
            };
        }
        _ => None,
    };
    found.map(Some).ok_or_else(|| expected(&field.kind).to_string())
}

fn expected(kind: &FieldType) -> &'static str {
    match kind {
        FieldType::Number => "a JSON number (digits only, no currency, no thousands separator)",
        FieldType::String => "a string",
        FieldType::Bool => "true or false",
        FieldType::Email => "an email address (a string like name@example.com)",
        FieldType::Phone => "a phone number (a string of digits, with + and the country code when known)",
        FieldType::Enum { .. } => "one of the values",
    }
}

/// `"1500"`, `"-3"`, `"1500.50"`: digits with at most one `.`; anything else is ambiguous.
fn plain_number(text: &str) -> Option<Number> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || (digits.contains('.') && fraction.is_empty())
    {
        return None;
    }
    if fraction.is_empty()
        && let Ok(n) = text.parse::<i64>()
    {
        return Some(Number::from(n));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// The canonical value `text` names: a value or a synonym, compared as folded words.
fn canonical(text: &str, values: &[&str], synonyms: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let key = |s: &str| words(&fold(s)).join(" ");
    let wanted = key(text);
    if wanted.is_empty() {
        return None;
    }
    values
        .iter()
        .find(|v| key(v) == wanted)
        .or_else(|| values.iter().find(|v| synonyms.get(**v).is_some_and(|list| list.iter().any(|s| key(s) == wanted))))
        .map(|v| v.to_string())
}

/// A string or null at `key`; an empty string is null.
fn text(value: &Value, key: &str, problems: &mut Vec<String>) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        _ => {
            problems.push(format!("`{key}` must be a string or null"));
            None
        }
    }
}

/// One of `allowed` (or null) at `key`.
fn choice(value: &Value, key: &str, allowed: &[&str], problems: &mut Vec<String>) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => canonical(s, allowed, &BTreeMap::new()).or_else(|| {
            problems.push(format!("`{key}` must be one of {}, or null", allowed.join(", ")));
            None
        }),
        _ => {
            problems.push(format!("`{key}` must be one of {}, or null", allowed.join(", ")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ai::schema::testing::{ai_step, workflow};

    const STEP: &str = "  - { id: qualify, ai: { prompt: q.j2, extract: [budget, timeline, decision_maker, company, mail, mobile], reply: true, choose: [handoff, later] } }";

    fn run(content: &str) -> Result<AiAnswer, Invalid> {
        let workflow = workflow(STEP);
        validate(&workflow, &ai_step(&workflow), content)
    }

    fn fields_of(content: Value) -> Value {
        serde_json::to_value(run(&content.to_string()).expect("valid").fields).unwrap()
    }

    #[test]
    fn a_complete_answer_keeps_values_and_drops_nulls() {
        let answer = run(&json!({
            "fields": { "budget": 1500, "timeline": "now", "decision_maker": null, "company": " Acme ",
                        "mail": "ada@example.com", "mobile": "06 12 34 56 78" },
            "reply": "Thanks!", "next": "handoff", "intent": "positive"
        })
        .to_string())
        .unwrap();
        let expected = json!({ "budget": 1500, "timeline": "now", "company": "Acme", "mail": "ada@example.com",
                               "mobile": "+33612345678" });
        assert_eq!(serde_json::to_value(&answer.fields).unwrap(), expected);
        assert_eq!(answer.reply.as_deref(), Some("Thanks!"));
        assert_eq!(answer.next.as_deref(), Some("handoff"));
        assert_eq!(answer.intent.as_deref(), Some("positive"));
    }

    #[test]
    fn synonyms_and_case_map_to_the_canonical_value() {
        for (given, want) in
            [("ASAP", "now"), ("This Quarter", "this_quarter"), ("LATER", "later"), ("this-quarter", "this_quarter")]
        {
            assert_eq!(fields_of(json!({ "fields": { "timeline": given } }))["timeline"], want, "{given}");
        }
        let answer = run(r#"{"fields": {}, "intent": "Opt-Out", "next": "HANDOFF"}"#).unwrap();
        assert_eq!((answer.intent.as_deref(), answer.next.as_deref()), (Some("opt_out"), Some("handoff")));
    }

    #[test]
    fn numbers_in_strings_are_read_only_when_unambiguous() {
        assert_eq!(fields_of(json!({ "fields": { "budget": "1500" } }))["budget"], json!(1500));
        assert_eq!(fields_of(json!({ "fields": { "budget": " 1500.5 " } }))["budget"], json!(1500.5));
        for bad in ["1,500", "1.5k", "1500€", "about 1500", "1.", ".5", "-", "1e3"] {
            let err = run(&json!({ "fields": { "budget": bad } }).to_string()).unwrap_err();
            assert_eq!(err.0.len(), 1, "{bad}: {err}");
            assert!(err.0[0].starts_with("`fields.budget` must be a JSON number"), "{bad}: {err}");
        }
    }

    #[test]
    fn wrong_types_are_refused_and_every_problem_is_listed_without_values() {
        let err = run(&json!({
            "fields": { "budget": true, "timeline": "someday", "decision_maker": "yes", "company": 42,
                        "mail": "ada at example", "mobile": "call me", "colour": "red" },
            "reply": 3, "next": "elsewhere", "intent": "happy", "score": 12, "call ada@example.com": 1
        })
        .to_string())
        .unwrap_err();
        let expected = [
            "`fields.budget` must be a JSON number (digits only, no currency, no thousands separator), or null when not known",
            "`fields.colour` is not a field of this step; the fields are: budget, timeline, decision_maker, company, mail, mobile",
            "`fields.company` must be a string, or null when not known",
            "`fields.decision_maker` must be true or false, or null when not known",
            "`fields.mail` must be an email address (a string like name@example.com), or null when not known",
            "`fields.mobile` must be a phone number (a string of digits, with + and the country code when known), or null when not known",
            "`fields.timeline` must be one of now, this_quarter, later, or null when not known",
            "`intent` must be one of opt_out, positive, negative, question, or null",
            "`next` must be one of handoff, later, or null",
            "`reply` must be a string or null",
            "`score` is not a key of the answer; expected `fields`, `reply`, `next`, `intent`",
            "`…` (a key that is not an identifier) is not a key of the answer; expected `fields`, `reply`, `next`, `intent`",
        ];
        assert_eq!(err.0, expected);
        for value in ["someday", "elsewhere", "happy", "ada at example", "red", "ada@example.com"] {
            assert!(!err.to_string().contains(value), "{value} leaked into {err}");
        }
    }

    #[test]
    fn not_json_or_not_an_object_is_refused() {
        assert!(run("Sure! The budget is 1500.").unwrap_err().to_string().starts_with("the answer is not valid JSON"));
        assert_eq!(run("[1, 2]").unwrap_err().to_string(), "the answer is JSON but not an object");
        assert!(run("{}").unwrap_err().to_string().contains("`fields` is missing"));
    }

    #[test]
    fn a_code_fence_and_missing_or_empty_keys_are_tolerated() {
        let answer = run("```json\n{\"fields\": {\"budget\": 900, \"company\": \"\"}, \"reply\": \"\"}\n```").unwrap();
        assert_eq!(serde_json::to_value(&answer.fields).unwrap(), json!({ "budget": 900 }));
        assert_eq!((answer.reply, answer.next, answer.intent), (None, None, None));
    }

    #[test]
    fn keys_the_step_does_not_have_are_refused_unless_null() {
        let workflow = workflow("  - { id: qualify, ai: { prompt: q.j2, extract: [budget] }, next: handoff }");
        let step = ai_step(&workflow);
        assert!(validate(&workflow, &step, r#"{"fields": {"budget": 1}, "reply": null, "next": null}"#).is_ok());
        let err = validate(&workflow, &step, r#"{"fields": {"budget": 1}, "reply": "Hi"}"#).unwrap_err();
        assert_eq!(err.to_string(), "`reply` is not a key of the answer; expected `fields`, `intent`");
    }
}
