//! One CSV row -> one import request, or every problem of the row: a phone or email that is
//! not valid, a value outside a field's allowed values (listed), a number or yes/no that does
//! not read, no contact for the workflow's channel, the same person earlier in the file.
//! Spreadsheet habits are accepted: `1 500,50 €`, `oui`/`non`, `06 12 34 56 78`, synonyms.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Number, Value, json};

use super::mapping::{Mapping, Target, normalise};
use crate::catalog::Workflow;
use crate::catalog::model::FieldType;
use crate::channel::Channel;
use crate::engine::{normalise_email, normalise_phone};

/// What a valid row becomes: the body of one `POST /v1/prospects` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub line: u64,
    pub request: Value,
}

/// Checks every row, in file order; a person already met earlier in the file is refused.
pub fn prepare(
    rows: &[super::table::Row],
    mapping: &Mapping,
    workflow: &Workflow,
) -> (Vec<Prepared>, Vec<(u64, String)>) {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut prepared = Vec::new();
    let mut rejected = Vec::new();
    for row in rows {
        match prepare_row(&row.cells, mapping, workflow) {
            Err(problems) => rejected.push((row.line, problems.join("; "))),
            Ok(request) => {
                let person = ["phone", "email", "messenger_psid"]
                    .iter()
                    .find_map(|k| request.get(*k).and_then(Value::as_str).map(|v| format!("{k}:{v}")));
                match person.as_ref().and_then(|p| seen.get(p)) {
                    Some(first) => rejected.push((
                        row.line,
                        format!(
                            "same person as line {first} (same {}): a person is imported once",
                            contact_kind(&person)
                        ),
                    )),
                    None => {
                        if let Some(person) = person {
                            seen.insert(person, row.line);
                        }
                        prepared.push(Prepared { line: row.line, request });
                    }
                }
            }
        }
    }
    (prepared, rejected)
}

fn contact_kind(person: &Option<String>) -> &str {
    person.as_deref().and_then(|p| p.split(':').next()).unwrap_or("contact").trim_end_matches("_psid")
}

/// One row, or all its problems.
pub fn prepare_row(cells: &[String], mapping: &Mapping, workflow: &Workflow) -> Result<Value, Vec<String>> {
    let mut problems = Vec::new();
    let mut object = Map::new();
    object.insert("workflow".into(), json!(workflow.id));
    let (mut first, mut last) = (Vec::new(), Vec::new());
    let mut fields = BTreeMap::new();
    if cells.len() > mapping.targets.len() {
        problems.push(format!(
            "{} cells where the header names {} columns: a separator inside a value must be quoted",
            cells.len(),
            mapping.targets.len()
        ));
    }
    for (cell, target) in cells.iter().zip(&mapping.targets) {
        if cell.is_empty() {
            continue;
        }
        match target {
            Target::Ignore => {}
            Target::FirstName => first.push(cell.clone()),
            Target::Name => last.push(cell.clone()),
            Target::Phone => match normalise_phone(cell) {
                Ok(phone) => _ = object.insert("phone".into(), json!(phone)),
                Err(message) => problems.push(format!("phone `{cell}`: {message}")),
            },
            Target::Email => match normalise_email(cell) {
                Ok(email) => _ = object.insert("email".into(), json!(email)),
                Err(message) => problems.push(format!("email `{cell}`: {message}")),
            },
            Target::MessengerPsid => _ = object.insert("messenger_psid".into(), json!(cell)),
            Target::Source => _ = object.insert("source".into(), json!(cell)),
            Target::Timezone => match cell.parse::<chrono_tz::Tz>() {
                Ok(_) => _ = object.insert("timezone".into(), json!(cell)),
                Err(_) => {
                    problems.push(format!("timezone `{cell}` is not known: use an IANA name such as Europe/Paris"))
                }
            },
            Target::Field(name) => {
                let Some(field) = workflow.field(name) else { continue };
                match field_value(&field.kind, cell) {
                    Ok(value) => _ = fields.insert(name.clone(), value),
                    Err(message) => problems.push(format!("{name} `{cell}`: {message}")),
                }
            }
        }
    }
    let name: Vec<String> = first.into_iter().chain(last).collect();
    if !name.is_empty() {
        object.insert("name".into(), json!(name.join(" ")));
    }
    let (key, wanted) = match workflow.channel {
        Channel::Sms => ("phone", "a phone number"),
        Channel::Email => ("email", "an email address"),
        Channel::Messenger => ("messenger_psid", "a Messenger id (messenger_psid)"),
    };
    let bad_contact = problems.iter().any(|p| p.starts_with(key));
    if !object.contains_key(key) && !bad_contact {
        problems.push(format!(
            "no contact: workflow `{}` runs on {} and needs {wanted} on every row",
            workflow.id, workflow.channel
        ));
    }
    if !fields.is_empty() {
        object.insert("fields".into(), json!(fields));
    }
    if problems.is_empty() { Ok(Value::Object(object)) } else { Err(problems) }
}

/// A cell read as a field's type.
pub fn field_value(kind: &FieldType, cell: &str) -> Result<Value, String> {
    match kind {
        FieldType::String => Ok(json!(cell)),
        FieldType::Email => normalise_email(cell).map(Value::from),
        FieldType::Phone => normalise_phone(cell).map(Value::from),
        FieldType::Number => number(cell).ok_or_else(|| "is not a number (write it like 1500 or 1 500,50)".to_string()),
        FieldType::Bool => match normalise(cell).as_str() {
            "oui" | "yes" | "true" | "vrai" | "1" | "o" | "y" | "x" => Ok(json!(true)),
            "non" | "no" | "false" | "faux" | "0" | "n" => Ok(json!(false)),
            _ => Err("is not yes or no (write oui/non, yes/no, true/false or 1/0)".to_string()),
        },
        FieldType::Enum { values, synonyms } => {
            let wanted = normalise(cell);
            let found = values.iter().find(|v| normalise(v) == wanted).or_else(|| {
                synonyms.iter().find(|(_, words)| words.iter().any(|w| normalise(w) == wanted)).map(|(v, _)| v)
            });
            found.map(|v| json!(v)).ok_or_else(|| format!("is not an allowed value; allowed: {}", values.join(", ")))
        }
    }
}

/// `1500`, `1 500,50`, `1.500,5 €`, `-3`: French and English spreadsheet numbers.
fn number(cell: &str) -> Option<Value> {
    let text: String = cell
        .trim_end_matches(['€', '$'])
        .trim_end_matches("EUR")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{202f}' && *c != '\'')
        .collect();
    let text = match (text.contains(','), text.contains('.')) {
        (true, true) => text.replace('.', "").replace(',', "."),
        (true, false) => text.replace(',', "."),
        _ => text,
    };
    if let Ok(whole) = text.parse::<i64>() {
        return Some(json!(whole));
    }
    let value = text.parse::<f64>().ok().filter(|v| v.is_finite())?;
    Number::from_f64(value).map(Value::Number)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::import::table::Row;

    /// The shipped `inbound-lead` workflow (sms; budget, timeline, decision_maker).
    pub(crate) fn workflow() -> std::sync::Arc<Workflow> {
        let sources = crate::catalog::load(std::path::Path::new("workflows"), std::path::Path::new("prompts"))
            .expect("shipped files load");
        let outcome = crate::catalog::build(&sources, &crate::catalog::CompileOptions::default());
        outcome.catalog.expect("shipped workflows compile").workflow("inbound-lead").cloned().unwrap()
    }

    fn mapping() -> Mapping {
        let headers: Vec<String> =
            ["Prénom", "Nom", "Téléphone", "Budget", "Timeline", "Decision maker"].map(String::from).to_vec();
        super::super::mapping::build(&headers, &[], &workflow()).unwrap()
    }

    fn row(line: u64, cells: &[&str]) -> Row {
        Row { line, cells: cells.iter().map(|c| c.to_string()).collect() }
    }

    #[test]
    fn spreadsheet_values_become_typed_fields() {
        let cells = row(2, &["Hélène", "Dupont", "06 12 34 56 78", "1 500,50 €", "Dès que possible", "oui"]).cells;
        let request = prepare_row(&cells, &mapping(), &workflow()).unwrap();
        assert_eq!(
            request,
            json!({"workflow": "inbound-lead", "name": "Hélène Dupont", "phone": "+33612345678",
                   "fields": {"budget": 1500.5, "timeline": "now", "decision_maker": true}})
        );
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let cells = row(3, &["A", "B", "12", "beaucoup", "demain", "peut-être", "extra"]).cells;
        let problems = prepare_row(&cells, &mapping(), &workflow()).unwrap_err();
        let text = problems.join("\n");
        assert_eq!(problems.len(), 5, "{text}");
        assert!(text.contains("7 cells where the header names 6 columns"), "{text}");
        assert!(text.contains("phone `12`: phone number is not valid"), "{text}");
        assert!(text.contains("budget `beaucoup`: is not a number"), "{text}");
        assert!(
            text.contains("timeline `demain`: is not an allowed value; allowed: now, this_quarter, later"),
            "{text}"
        );
        assert!(text.contains("decision_maker `peut-être`: is not yes or no"), "{text}");
        let problems = prepare_row(&row(4, &["A", "B", ""]).cells, &mapping(), &workflow()).unwrap_err();
        assert_eq!(problems, ["no contact: workflow `inbound-lead` runs on sms and needs a phone number on every row"]);
    }

    #[test]
    fn the_same_person_twice_is_refused_the_second_time() {
        let rows = [row(2, &["A", "B", "+33612345678"]), row(3, &["C", "D", "06 12 34 56 78"])];
        let (prepared, rejected) = prepare(&rows, &mapping(), &workflow());
        assert_eq!(prepared.len(), 1);
        assert_eq!(rejected, [(3, "same person as line 2 (same phone): a person is imported once".to_string())]);
    }

    #[test]
    fn numbers_read_both_ways() {
        for (text, value) in [("1500", json!(1500)), ("1.500,5", json!(1500.5)), ("2,5", json!(2.5)), ("-3", json!(-3))]
        {
            assert_eq!(number(text), Some(value), "{text}");
        }
        assert_eq!(number("1,5k"), None);
    }
}
