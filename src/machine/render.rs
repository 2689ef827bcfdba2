//! Builds the data templates and expressions see from a prospect's state, and evaluates them.

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use minijinja::Value;
use serde_json::json;

use crate::catalog::model::{FieldType, Workflow};
use crate::machine::state::{Direction, ProspectState};
use crate::schedule::{Holidays, LocalWindow, SendWindow};

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
///
/// A prospect with a French number (`+33`) in a workflow without its own window gets the French
/// default instead of the settings' one: Monday to Saturday, 08:00-20:00 Europe/Paris, never on a
/// French public holiday. The exception is a settings window open around the clock every day:
/// the operator then chose not to restrict send times at all (tests and simulations do).
pub fn window_for(workflow: &Workflow, state: &ProspectState, default: &SendWindow) -> LocalWindow {
    if workflow.send_window.is_none() && !default.is_always_open() && has_french_number(state) {
        return LocalWindow::new(french_window(), Holidays::France);
    }
    let holidays = if workflow.send_window.is_some() { workflow.holidays } else { Holidays::None };
    let window = workflow.send_window.clone().unwrap_or_else(|| default.clone());
    let window = match state.contact.timezone.as_deref().and_then(|tz| tz.parse::<Tz>().ok()) {
        Some(tz) => window.with_timezone(tz),
        None => window,
    };
    LocalWindow::new(window, holidays)
}

fn has_french_number(state: &ProspectState) -> bool {
    state.contact.phone.as_deref().is_some_and(|phone| phone.starts_with("+33"))
}

/// Monday to Saturday, 08:00-20:00, Europe/Paris.
fn french_window() -> SendWindow {
    let mut days = [true; 7];
    days[Weekday::Sun.num_days_from_monday() as usize] = false;
    let start = NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN);
    let end = NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN);
    SendWindow { timezone: chrono_tz::Europe::Paris, days, start, end }
}

/// A minijinja value as JSON (for storing fields computed by `set`).
pub fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::catalog::model::WorkflowSource;
    use crate::catalog::{CompileOptions, compile_source};
    use crate::machine::Contact;
    use crate::schedule::parse_hours;

    fn workflow(window: &str) -> Workflow {
        let text = format!(
            "id: w\nchannel: sms\n{window}steps:\n  - {{ id: hello, send: {{ template: t.j2 }} }}\n  - {{ id: bye, end: done }}\n"
        );
        let templates = BTreeMap::from([("t.j2".to_string(), "hi".to_string())]);
        let source = WorkflowSource { file: "w.yaml".into(), text, templates };
        compile_source(&source, &CompileOptions::default()).expect("test workflow compiles")
    }

    fn prospect(workflow: &Workflow, phone: &str) -> ProspectState {
        let contact = Contact { phone: Some(phone.into()), ..Contact::default() };
        ProspectState::new("p_1".into(), workflow, contact, BTreeMap::new(), "tok".into(), Utc::now())
    }

    /// Every day 09:00-18:00 UTC, as an operator's settings could say.
    fn settings_window() -> SendWindow {
        let (start, end) = parse_hours("09:00-18:00").unwrap();
        SendWindow { timezone: Tz::UTC, days: [true; 7], start, end }
    }

    #[test]
    fn a_french_number_gets_the_french_default() {
        let workflow = workflow("");
        let window = window_for(&workflow, &prospect(&workflow, "+33612345678"), &settings_window());
        assert_eq!(window.timezone, chrono_tz::Europe::Paris);
        assert_eq!(window.holidays(), Holidays::France);
        // Sunday 29 November 2026, 10:00 Paris: shut; Monday 08:00 Paris (07:00 UTC) opens.
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap();
        assert!(!window.is_open(sunday));
        assert_eq!(window.next_open(sunday), Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap());
        // Saturday 19:30 Paris is open (the settings window alone would be shut at 18:30 UTC).
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 18, 30, 0).unwrap();
        assert!(window.is_open(saturday));
        // Friday 25 December 2026 is Christmas.
        assert!(!window.is_open(Utc.with_ymd_and_hms(2026, 12, 25, 10, 0, 0).unwrap()));
    }

    #[test]
    fn other_numbers_workflow_windows_and_open_settings_keep_their_window() {
        let plain = workflow("");
        let window = window_for(&plain, &prospect(&plain, "+447700900123"), &settings_window());
        assert_eq!((window.window(), window.holidays()), (&settings_window(), Holidays::None));

        let own = workflow("send_window: { timezone: UTC, days: [sun], hours: \"10:00-11:00\" }\n");
        let window = window_for(&own, &prospect(&own, "+33612345678"), &settings_window());
        assert_eq!(window.holidays(), Holidays::None);
        assert!(window.is_open(Utc.with_ymd_and_hms(2026, 11, 29, 10, 30, 0).unwrap()));

        // `holidays: fr` shuts the workflow's own window on French holidays: 14 July 2026 is a
        // Tuesday, the window opens again on Wednesday 15 at 08:00 Paris.
        let french = workflow(
            "send_window: { timezone: Europe/Paris, days: [mon, tue, wed, thu, fri, sat], hours: \"08:00-20:00\", holidays: fr }\n",
        );
        let window = window_for(&french, &prospect(&french, "+447700900123"), &settings_window());
        assert_eq!(window.holidays(), Holidays::France);
        let bastille_day = Utc.with_ymd_and_hms(2026, 7, 14, 10, 0, 0).unwrap();
        assert!(!window.is_open(bastille_day));
        assert_eq!(window.next_open(bastille_day), Utc.with_ymd_and_hms(2026, 7, 15, 6, 0, 0).unwrap());
        assert!(!window.is_open(Utc.with_ymd_and_hms(2026, 12, 25, 10, 0, 0).unwrap()));

        let window = window_for(&plain, &prospect(&plain, "+33612345678"), &SendWindow::always());
        assert!(window.window().is_always_open() && window.holidays() == Holidays::None);
    }
}
