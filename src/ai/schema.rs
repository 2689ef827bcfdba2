//! The JSON schema an OpenAI-compatible model answers an `ai` step with, derived from the
//! workflow's field declarations. It is written for OpenAI's strict structured outputs: every
//! object lists all its properties as `required` and sets `additionalProperties: false`, and
//! "unknown" is spelled `null` (a nullable type or a `null` enum member), never a missing key.
//!
//! The shape, for a step that extracts, replies and chooses:
//! `{ "fields": { <one key per extracted field> }, "reply": string|null, "next": <choose id>|null,
//! "intent": "opt_out"|"positive"|"negative"|"question"|null }`. `reply` is there only when the
//! step replies, `next` only when it has a `choose` list. [`super::validate`] checks an answer
//! against the same declarations, since not every server enforces the schema.

use serde_json::{Map, Value, json};

use crate::catalog::model::{AiStep, Field, FieldType, Workflow};

/// The intents an answer may name (`AiAnswer::intent`).
pub const INTENTS: [&str; 4] = ["opt_out", "positive", "negative", "question"];

/// The name of the response format sent with every request (`[a-zA-Z0-9_-]{1,64}`).
pub const SCHEMA_NAME: &str = "qualification_answer";

/// The fields `step` extracts, in its `extract` order (the compiler has checked they exist).
pub fn extracted<'w>(workflow: &'w Workflow, step: &AiStep) -> Vec<&'w Field> {
    step.extract.iter().filter_map(|name| workflow.field(name)).collect()
}

/// The response schema of `step`: see the module docs.
pub fn answer_schema(workflow: &Workflow, step: &AiStep) -> Value {
    let fields = extracted(workflow, step).into_iter().map(|f| (f.name.clone(), field_schema(f))).collect();
    let mut properties = vec![("fields".to_string(), strict_object(fields))];
    if step.reply {
        properties.push(("reply".into(), json!({ "type": ["string", "null"] })));
    }
    if !step.choose.is_empty() {
        properties.push(("next".into(), nullable_enum(step.choose.iter().map(|(id, _)| id.as_str()))));
    }
    properties.push(("intent".into(), nullable_enum(INTENTS)));
    strict_object(properties)
}

/// An object schema whose every property is required (in the order given) and nothing else is
/// allowed.
fn strict_object(properties: Vec<(String, Value)>) -> Value {
    let required: Vec<Value> = properties.iter().map(|(name, _)| Value::from(name.as_str())).collect();
    let properties: Map<String, Value> = properties.into_iter().collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// `{"enum": [...members, null]}`.
fn nullable_enum<'a>(members: impl IntoIterator<Item = &'a str>) -> Value {
    let mut members: Vec<Value> = members.into_iter().map(Value::from).collect();
    members.push(Value::Null);
    json!({ "enum": members })
}

fn field_schema(field: &Field) -> Value {
    let mut schema = match &field.kind {
        FieldType::Number => json!({ "type": ["number", "null"] }),
        FieldType::String | FieldType::Email | FieldType::Phone => json!({ "type": ["string", "null"] }),
        FieldType::Bool => json!({ "type": ["boolean", "null"] }),
        FieldType::Enum { values, .. } => nullable_enum(values.iter().map(String::as_str)),
    };
    if !field.description.is_empty() {
        schema["description"] = Value::from(field.description.as_str());
    }
    schema
}

/// A workflow with a field of every type, for the tests of this module and of `validate`.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;

    use crate::catalog::model::{AiStep, Workflow, WorkflowSource};
    use crate::catalog::{CompileOptions, compile_source};

    pub fn workflow(steps: &str) -> Workflow {
        let text = format!(
            r#"id: lead
channel: sms
fields:
  budget: {{ type: number, description: Monthly budget in euros, ask: "Budget?" }}
  timeline: {{ type: enum, values: [now, this_quarter, later], synonyms: {{ now: [asap] }}, ask: "When?" }}
  decision_maker: {{ type: bool, ask: "Deciding?" }}
  company: {{ type: string, ask: "Company?" }}
  mail: {{ type: email, ask: "Email?" }}
  mobile: {{ type: phone, ask: "Phone?" }}
steps:
{steps}
  - {{ id: handoff, end: qualified }}
  - {{ id: later, end: unresponsive }}
"#
        );
        let templates = BTreeMap::from([("q.j2".to_string(), "Qualify.".to_string())]);
        let source = WorkflowSource { file: "lead.yaml".into(), text, templates };
        compile_source(&source, &CompileOptions::default()).expect("the test workflow compiles")
    }

    pub fn ai_step(workflow: &Workflow) -> AiStep {
        match &workflow.steps[0].kind {
            crate::catalog::model::StepKind::Ai(ai) => ai.clone(),
            other => panic!("not an ai step: {}", other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ai_step, workflow};
    use super::*;

    fn check(steps: &str, expected: Value) {
        let workflow = workflow(steps);
        let schema = answer_schema(&workflow, &ai_step(&workflow));
        assert_eq!(schema, expected, "got:\n{}", serde_json::to_string_pretty(&schema).unwrap());
    }

    #[test]
    fn every_field_type_reply_and_choice() {
        check(
            "  - { id: qualify, ai: { prompt: q.j2, extract: [budget, timeline, decision_maker, company, mail, mobile], reply: true, choose: [handoff, later] } }",
            json!({
                "type": "object",
                "properties": {
                    "fields": {
                        "type": "object",
                        "properties": {
                            "budget": { "type": ["number", "null"], "description": "Monthly budget in euros" },
                            "timeline": { "enum": ["now", "this_quarter", "later", null] },
                            "decision_maker": { "type": ["boolean", "null"] },
                            "company": { "type": ["string", "null"] },
                            "mail": { "type": ["string", "null"] },
                            "mobile": { "type": ["string", "null"] }
                        },
                        "required": ["budget", "timeline", "decision_maker", "company", "mail", "mobile"],
                        "additionalProperties": false
                    },
                    "reply": { "type": ["string", "null"] },
                    "next": { "enum": ["handoff", "later", null] },
                    "intent": { "enum": ["opt_out", "positive", "negative", "question", null] }
                },
                "required": ["fields", "reply", "next", "intent"],
                "additionalProperties": false
            }),
        );
    }

    #[test]
    fn a_silent_step_without_choice_has_only_fields_and_intent() {
        check(
            "  - { id: qualify, ai: { prompt: q.j2, extract: [timeline] }, next: handoff }",
            json!({
                "type": "object",
                "properties": {
                    "fields": {
                        "type": "object",
                        "properties": { "timeline": { "enum": ["now", "this_quarter", "later", null] } },
                        "required": ["timeline"],
                        "additionalProperties": false
                    },
                    "intent": { "enum": ["opt_out", "positive", "negative", "question", null] }
                },
                "required": ["fields", "intent"],
                "additionalProperties": false
            }),
        );
    }

    #[test]
    fn a_step_that_extracts_nothing_still_has_an_empty_strict_fields_object() {
        check(
            "  - { id: qualify, ai: { prompt: q.j2, reply: true }, next: handoff }",
            json!({
                "type": "object",
                "properties": {
                    "fields": { "type": "object", "properties": {}, "required": [], "additionalProperties": false },
                    "reply": { "type": ["string", "null"] },
                    "intent": { "enum": ["opt_out", "positive", "negative", "question", null] }
                },
                "required": ["fields", "reply", "intent"],
                "additionalProperties": false
            }),
        );
    }
}
