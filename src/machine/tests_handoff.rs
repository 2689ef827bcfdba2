//! Unit tests of hand-offs and routed replies: a hand-off waits for its delivery, a failed one
//! shows `attention` (or takes `on_failure`) and can be retried, team templates see contact
//! details, an `ai` reply is sent only when the route waits for an answer, `wake` fires a timer.

use std::collections::BTreeMap;

use chrono::Duration;

use super::tests::{Harness, ai_done, inbound, monday_morning, new_state};
use crate::catalog::model::{Workflow, WorkflowSource};
use crate::catalog::{CompileOptions, compile_source};
use crate::machine::{Action, ActionResult, AdminCommand, Contact, Event, ProspectState, Status};
use crate::schedule::SendWindow;

/// A lead qualified by one AI answer; a budget under 200 is closed politely.
const ROUTED: &str = r#"
id: routed
channel: sms
fields:
  budget: { type: number, ask: "Budget?" }
steps:
  - { id: hello, send: { template: hello.j2 } }
  - { id: listen, wait_reply: { timeout: 2d, on_timeout: bye } }
  - { id: qualify, ai: { prompt: hello.j2, extract: [budget], reply: true } }
  - id: route
    branch:
      - { if: "fields.budget is number and fields.budget < 200", goto: too_small }
      - { if: "fields.budget is number", goto: handoff }
      - { else: listen }
  - { id: too_small, send: { template: closing.j2 } }
  - { id: closed, end: disqualified }
  - { id: handoff, webhook: { url: "https://crm.example.com/leads" } }
  - { id: alert, notify: { webhook: "https://chat.example.com/hook", template: team.j2, on_failure: bye } }
  - { id: done, end: qualified }
  - { id: bye, end: unresponsive }
"#;

fn routed() -> Harness {
    let templates = BTreeMap::from([
        ("hello.j2".to_string(), "Hello".to_string()),
        ("closing.j2".to_string(), "Sorry, too small. Goodbye!".to_string()),
        ("team.j2".to_string(), "Call {{ prospect.name }} at {{ prospect.phone }} ({{ link }})".to_string()),
    ]);
    let source = WorkflowSource { file: "routed.yaml".into(), text: ROUTED.into(), templates };
    let workflow: Workflow = compile_source(&source, &CompileOptions::default()).expect("test workflow compiles");
    Harness { workflow, window: SendWindow::always() }
}

fn prospect(h: &Harness) -> ProspectState {
    let mut state = new_state(&h.workflow, monday_morning());
    state.contact =
        Contact { name: Some("Marie Dupont".into()), phone: Some("+33612345678".into()), ..Contact::default() };
    state
}

/// Entered, replied, and the AI answered with `budget`.
fn answered(h: &Harness, budget: i64) -> (ProspectState, Vec<Action>) {
    let now = monday_morning();
    let (state, _) = h.step(&prospect(h), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("about that", now), now);
    h.step(&state, ai_done(&actions[0], &[("budget", budget.into())]), now)
}

fn done(action: &Action) -> Event {
    Event::ActionCompleted { action_id: action.id().to_string(), result: ActionResult::Done }
}

fn failed(action: &Action) -> Event {
    Event::ActionFailed { action_id: action.id().to_string(), reason: "webhook answered 503".into() }
}

#[test]
fn a_hand_off_waits_for_its_delivery_before_moving_on() {
    let h = routed();
    let now = monday_morning();
    let (state, actions) = answered(&h, 2000);
    let [webhook @ Action::Webhook { .. }] = &actions[..] else { panic!("{actions:?}") };
    assert_eq!((state.step.as_deref(), &state.status), (Some("handoff"), &Status::Active));
    assert_eq!(state.pending_action.as_deref(), Some(webhook.id()));
    // A reply meanwhile does not move the prospect past an undelivered hand-off.
    let (state, actions) = h.step(&state, inbound("hello?", now), now);
    assert!(actions.is_empty() && state.step.as_deref() == Some("handoff"), "{actions:?}");
    let (state, actions) = h.step(&state, done(webhook), now);
    let [notify @ Action::Notify { text, .. }] = &actions[..] else { panic!("{actions:?}") };
    assert_eq!(text, "Call Marie Dupont at +33612345678 (https://x.test/v1/prospects/p_1)");
    assert_eq!(state.status, Status::Active, "not completed before the notification is delivered");
    let (state, _) = h.step(&state, done(notify), now);
    assert_eq!(state.status, Status::Completed { outcome: "qualified".into() });
}

#[test]
fn a_failed_hand_off_needs_attention_and_a_retry_delivers_it() {
    let h = routed();
    let now = monday_morning();
    let (state, actions) = answered(&h, 2000);
    let (state, _) = h.step(&state, failed(&actions[0]), now);
    assert_eq!(
        state.status,
        Status::Attention { reason: "hand-off `handoff` failed: webhook answered 503".into() },
        "no `on_failure`: visible, not completed"
    );
    assert_eq!(state.status.name(), "attention");
    // Nothing moves it on by itself, not even a reply.
    let (state, actions) = h.step(&state, inbound("any news?", now), now);
    assert!(actions.is_empty() && state.status.name() == "attention");
    let retry = Event::Admin { command: AdminCommand::Retry };
    let (state, actions) = h.step(&state, retry, now + Duration::hours(1));
    let [again @ Action::Webhook { .. }] = &actions[..] else { panic!("{actions:?}") };
    assert_ne!(again.id(), actions_id(&answered(&h, 2000).1), "a retry is a new delivery with its own key");
    assert_eq!((state.status.clone(), state.step.as_deref()), (Status::Active, Some("handoff")));
}

fn actions_id(actions: &[Action]) -> String {
    actions[0].id().to_string()
}

#[test]
fn a_failed_notify_takes_its_on_failure() {
    let h = routed();
    let now = monday_morning();
    let (state, actions) = answered(&h, 2000);
    let (state, actions2) = h.step(&state, done(&actions[0]), now);
    let (state, _) = h.step(&state, failed(&actions2[0]), now);
    assert_eq!(state.status, Status::Completed { outcome: "unresponsive".into() });
}

#[test]
fn a_disqualified_lead_gets_the_closing_message_and_no_question() {
    let h = routed();
    let (state, actions) = answered(&h, 100);
    let texts: Vec<&str> = actions
        .iter()
        .filter_map(|a| if let Action::Send { text, .. } = a { Some(text.as_str()) } else { None })
        .collect();
    assert_eq!(texts, ["Sorry, too small. Goodbye!"], "the AI's question is dropped on this route");
    assert_eq!(state.status, Status::Completed { outcome: "disqualified".into() });
    assert_eq!(state.draft_reply, None);
}

#[test]
fn the_ai_reply_is_sent_when_the_route_waits_for_an_answer() {
    let h = routed();
    let now = monday_morning();
    let (state, _) = h.step(&prospect(&h), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("hi", now), now);
    let (state, actions) = h.step(&state, ai_done(&actions[0], &[]), now);
    assert!(matches!(&actions[..], [Action::Send { text, .. }] if text == "Thanks!"), "{actions:?}");
    assert_eq!((state.step.as_deref(), &state.status), (Some("listen"), &Status::Waiting));
}

#[test]
fn a_delivery_while_paused_is_not_repeated_on_resume() {
    let h = routed();
    let now = monday_morning();
    let (state, actions) = answered(&h, 2000);
    let (state, _) = h.step(&state, Event::Admin { command: AdminCommand::TakeOver }, now);
    let (state, _) = h.step(&state, done(&actions[0]), now);
    let (state, actions) = h.step(&state, Event::Admin { command: AdminCommand::Resume }, now);
    assert!(matches!(&actions[..], [Action::Notify { .. }]), "goes on with the step after: {actions:?}");
    assert_eq!(state.step.as_deref(), Some("alert"));
}

#[test]
fn wake_fires_the_pending_timer_now() {
    let h = routed();
    let now = monday_morning();
    let (state, _) = h.step(&prospect(&h), Event::Entered, now);
    assert!(state.timer.is_some());
    let (state, _) = h.step(&state, Event::Admin { command: AdminCommand::Wake }, now);
    assert_eq!(state.status, Status::Completed { outcome: "unresponsive".into() }, "the reply timeout fired");
}

#[test]
fn replies_during_a_takeover_are_all_extracted_on_resume() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, _) = h.step(&state, Event::Admin { command: AdminCommand::TakeOver }, now);
    let (state, actions) = h.step(&state, inbound("Budget de 1500 euros", now), now);
    assert!(actions.is_empty(), "nothing runs while an operator has the conversation");
    let (state, _) = h.step(&state, inbound("now", now), now);
    let (state, actions) = h.step(&state, Event::Admin { command: AdminCommand::Resume }, now + Duration::hours(1));
    assert!(matches!(&actions[..], [Action::CallAi { .. }]), "the held replies are extracted: {actions:?}");
    assert_eq!(state.last_reply.as_deref(), Some("Budget de 1500 euros\nnow"));
    assert!(state.held_replies.is_empty());
    // The rules provider reads both messages: nothing the prospect said is asked again.
    let index = h.workflow.step_index("qualify").unwrap();
    let crate::catalog::model::StepKind::Ai(ai) = &h.workflow.steps[index].kind else { panic!() };
    let answer = crate::ai::rules_answer(&h.workflow, ai, &state);
    assert_eq!(answer.fields.get("budget"), Some(&serde_json::json!(1500)));
    assert_eq!(answer.fields.get("timeline"), Some(&serde_json::json!("now")));
}
