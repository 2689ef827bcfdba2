//! What the sales team receives at a hand-off: the team-facing context of `notify` templates and
//! the JSON body of `webhook` steps and `notify` webhooks. Unlike prospect-facing templates and
//! AI prompts, it carries the contact details (name, phone, email, Messenger id): sales need them
//! to call back, and these destinations are the team's own. Pure: built from the state alone.

use minijinja::Value;
use serde_json::json;

use crate::catalog::model::Workflow;
use crate::machine::render::template_context;
use crate::machine::state::{Direction, ProspectState};

/// The variables of a team-facing (`notify`) template: everything a prospect-facing template
/// sees, with the contact details in `prospect` and the hand-off extras (`score_explanation`,
/// `transcript`, `step`, `link`).
pub fn team_template_context(workflow: &Workflow, state: &ProspectState, public_url: &str) -> Value {
    let mut context = serde_json::to_value(template_context(workflow, state, public_url)).unwrap_or_default();
    let payload = handoff_payload(workflow, state, public_url);
    if let (Some(context), serde_json::Value::Object(extra)) = (context.as_object_mut(), payload) {
        for key in ["prospect", "score_explanation", "transcript", "step", "link"] {
            if let Some(value) = extra.get(key) {
                context.insert(key.to_string(), value.clone());
            }
        }
    }
    Value::from(minijinja::value::Serde(context))
}

/// The JSON a `webhook` step POSTs (and a `notify` webhook, with its `text` added).
pub fn handoff_payload(workflow: &Workflow, state: &ProspectState, public_url: &str) -> serde_json::Value {
    let contact = &state.contact;
    let first_name = contact.name.as_deref().and_then(|n| n.split_whitespace().next());
    let transcript: Vec<serde_json::Value> = state
        .recent
        .iter()
        .map(|m| {
            let from = match m.direction {
                Direction::Inbound => "prospect",
                Direction::Outbound => "us",
            };
            json!({ "from": from, "text": m.text, "at": m.at })
        })
        .collect();
    json!({
        "prospect": {
            "id": state.id,
            "name": contact.name,
            "first_name": first_name,
            "phone": contact.phone,
            "email": contact.email,
            "messenger_id": contact.messenger_psid,
            "source": contact.source,
        },
        "fields": state.fields,
        "score": state.score,
        "score_explanation": score_explanation(workflow, state),
        "tags": state.tags,
        "transcript": transcript,
        "workflow": { "id": workflow.id, "version": workflow.version },
        "step": state.step,
        "channel": state.channel,
        "link": prospect_link(public_url, &state.id),
    })
}

/// Where an operator opens the prospect (the admin API until the console exists).
pub fn prospect_link(public_url: &str, id: &str) -> String {
    format!("{}/v1/prospects/{id}", public_url.trim_end_matches('/'))
}

/// The score, its formula and the value of each field the formula reads ("unknown" when not
/// given), so a salesperson sees why a lead scored what it did.
pub fn score_explanation(workflow: &Workflow, state: &ProspectState) -> String {
    let Some(formula) = &workflow.score else { return "no score formula in this workflow".to_string() };
    let used = workflow.templates.check_expression(formula).unwrap_or_default();
    let mut parts: Vec<String> = workflow
        .fields
        .iter()
        .filter(|f| used.contains(&format!("fields.{}", f.name)))
        .map(|f| match state.fields.get(&f.name) {
            Some(value) if !value.is_null() => format!("{} = {value}", f.name),
            _ => format!("{} = unknown", f.name),
        })
        .collect();
    if parts.is_empty() {
        parts.push("no field read".to_string());
    }
    format!("score {}/100 from {}", state.score.unwrap_or(0), parts.join(", "))
}
