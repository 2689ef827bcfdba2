//! Builds the data templates and expressions see from a prospect's state, and evaluates them.

use chrono_tz::Tz;
use minijinja::Value;
use serde_json::json;

use crate::catalog::model::{FieldType, Workflow};
use crate::machine::state::{Direction, ProspectState};
use crate::schedule::SendWindow;

/// The fields a workflow declares that the prospect has not given yet, in declaration order.
pub fn missing_fields<'w>(workflow: &'w Workflow, state: &ProspectState) -> Vec<&'w crate::catalog::model::Field> {
    workflow.fields.iter().filter(|f| f.required && state.fields.get(&f.name).is_none_or(|v| v.is_null())).collect()
}

/// The variables of an expression (`score`, `branch` conditions, `set` values).
pub fn expression_context(state: &ProspectState) -> Value {
    Value::from(minijinja::value::Serde(json!({
        "fields": state.fields,
        "score": state.score.unwrap_or(0),
        "tags": state.tags,
        "channel": state.channel,
        "last_reply": state.last_reply.clone().unwrap_or_default(),
        "intent": state.last_intent.clone().unwrap_or_default(),
    })))
}

/// The variables of a template.
pub fn template_context(workflow: &Workflow, state: &ProspectState, public_url: &str) -> Value {
    let missing: Vec<serde_json::Value> = missing_fields(workflow, state)
        .into_iter()
        .map(|f| {
            json!({
                "name": f.name,
                "description": f.description,
                "ask": f.ask.clone().unwrap_or_default(),
                "type": f.kind.name(),
                "values": match &f.kind { FieldType::Enum { values, .. } => values.clone(), _ => Vec::new() },
            })
        })
        .collect();
    let next_question = missing.first().and_then(|m| m["ask"].as_str()).unwrap_or_default().to_string();
    let conversation: Vec<serde_json::Value> = state
        .recent
        .iter()
        .map(|m| {
            let direction = match m.direction {
                Direction::Inbound => "prospect",
                Direction::Outbound => "us",
            };
            json!({ "direction": direction, "text": m.text })
        })
        .collect();
    let name = state.contact.name.clone();
    let first_name = name.as_deref().and_then(|n| n.split_whitespace().next()).map(str::to_string);
    Value::from(minijinja::value::Serde(json!({
        "fields": state.fields,
        "missing": missing,
        "next_question": next_question,
        "conversation": conversation,
        "prospect": {
            "name": name,
            "first_name": first_name,
            "source": state.contact.source,
        },
        "workflow": { "id": workflow.id, "context": workflow.context },
        "score": state.score.unwrap_or(0),
        "tags": state.tags,
        "last_reply": state.last_reply.clone().unwrap_or_default(),
        "intent": state.last_intent.clone().unwrap_or_default(),
        "channel": state.channel,
        "unsubscribe_url": format!("{}/u/{}", public_url.trim_end_matches('/'), state.unsubscribe_token),
    })))
}

/// The send window that applies to this prospect: the workflow's (else the settings'), in the
/// prospect's own timezone when it is known.
pub fn window_for(workflow: &Workflow, state: &ProspectState, default: &SendWindow) -> SendWindow {
    let window = workflow.send_window.clone().unwrap_or_else(|| default.clone());
    match state.contact.timezone.as_deref().and_then(|tz| tz.parse::<Tz>().ok()) {
        Some(tz) => window.with_timezone(tz),
        None => window,
    }
}

/// A minijinja value as JSON (for storing fields computed by `set`).
pub fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
