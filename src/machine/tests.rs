//! Unit tests of the state machine, step kind by step kind: state + event -> state + actions.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::catalog::model::{Workflow, WorkflowSource};
use crate::catalog::{CompileOptions, compile_source};
use crate::machine::{
    Action, ActionResult, AdminCommand, AiAnswer, Contact, Event, MachineEnv, ProspectState, Status, TimerPurpose,
    apply,
};
use crate::schedule::SendWindow;

const WORKFLOW: &str = r#"
id: lead
channel: sms
send_window: { timezone: Europe/Paris, days: [mon, tue, wed, thu, fri, sat], hours: "08:00-20:00" }
limits: { messages_per_day: 2 }
fields:
  budget: { type: number, ask: "Budget?" }
  timeline: { type: enum, values: [now, later], ask: "When?" }
score: "(60 if fields.budget is number and fields.budget >= 1000 else 0) + (40 if fields.timeline == 'now' else 0)"
on_reply: qualify
steps:
  - { id: greet, send: { template: greet.j2 } }
  - { id: first_reply, wait_reply: { timeout: 2d, on_timeout: nudge } }
  - { id: qualify, ai: { prompt: qualify.j2, extract: [budget, timeline], reply: true } }
  - id: route
    branch:
      - { if: "score >= 100", goto: handoff }
      - { else: first_reply }
  - { id: nudge, send: { template: nudge.j2 } }
  - { id: pause, wait: { duration: 1d } }
  - { id: gave_up, end: unresponsive }
  - { id: handoff, notify: { email: sales@example.com, template: handoff.j2 } }
  - { id: done, end: qualified }
"#;

pub(super) fn workflow() -> Workflow {
    let mut templates = BTreeMap::new();
    templates.insert("greet.j2".to_string(), "Hello {{ prospect.first_name | default('there') }}".to_string());
    templates.insert("nudge.j2".to_string(), "Still there?".to_string());
    templates.insert("qualify.j2".to_string(), "Missing: {% for f in missing %}{{ f.name }} {% endfor %}".to_string());
    templates.insert("handoff.j2".to_string(), "Lead scored {{ score }}".to_string());
    let source = WorkflowSource { file: "lead.yaml".into(), text: WORKFLOW.into(), templates };
    compile_source(&source, &CompileOptions::default()).expect("test workflow compiles")
}

/// Monday 2026-11-30 10:00 Paris.
pub(super) fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
}

pub(super) fn new_state(workflow: &Workflow, now: DateTime<Utc>) -> ProspectState {
    let contact = Contact { name: Some("Ada Lovelace".into()), ..Contact::default() };
    ProspectState::new("p_1".into(), workflow, contact, BTreeMap::new(), "tok".into(), now)
}

pub(super) struct Harness {
    pub(super) workflow: Workflow,
    pub(super) window: SendWindow,
}

impl Harness {
    pub(super) fn new() -> Harness {
        Harness { workflow: workflow(), window: SendWindow::always() }
    }

    pub(super) fn step(&self, state: &ProspectState, event: Event, now: DateTime<Utc>) -> (ProspectState, Vec<Action>) {
        let env = MachineEnv { workflow: &self.workflow, default_window: &self.window, public_url: "https://x.test" };
        let t = apply(&env, state, &event, now);
        (t.state, t.actions)
    }
}

pub(super) fn inbound(text: &str, at: DateTime<Utc>) -> Event {
    Event::Inbound { channel: crate::channel::Channel::Sms, text: text.into(), at }
}

pub(super) fn ai_done(action: &Action, fields: &[(&str, serde_json::Value)]) -> Event {
    Event::ActionCompleted {
        action_id: action.id().to_string(),
        result: ActionResult::Ai(AiAnswer {
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            reply: Some("Thanks!".into()),
            next: None,
            intent: None,
            usage: None,
        }),
    }
}

#[test]
fn entering_sends_the_greeting_and_waits_for_a_reply() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, actions) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    assert!(matches!(&actions[..], [Action::Send { text, .. }] if text == "Hello Ada"), "{actions:?}");
    assert_eq!(state.step.as_deref(), Some("first_reply"));
    assert_eq!(state.status, Status::Waiting);
    let timer = state.timer.clone().unwrap();
    assert_eq!((timer.at, timer.purpose), (now + Duration::days(2), TimerPurpose::ReplyTimeout));
}

#[test]
fn a_reply_moves_to_qualification_and_a_full_answer_qualifies() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("1500 euros, now", now), now);
    assert_eq!(state.step.as_deref(), Some("qualify"));
    assert!(state.timer.is_none(), "the reply timeout is cancelled");
    let [call @ Action::CallAi { prompt, .. }] = &actions[..] else { panic!("{actions:?}") };
    assert_eq!(prompt, "Missing: budget timeline");
    let event = ai_done(call, &[("budget", 1500.into()), ("timeline", "now".into())]);
    let (state, actions) = h.step(&state, event, now);
    assert_eq!(state.score, Some(100));
    // The AI's reply waits for the route: it goes to the hand-off, which waits for its delivery.
    let [notify @ Action::Notify { text, .. }] = &actions[..] else { panic!("{actions:?}") };
    assert_eq!(text, "Lead scored 100");
    assert_eq!((state.status.clone(), state.step.as_deref()), (Status::Active, Some("handoff")));
    let delivered = Event::ActionCompleted { action_id: notify.id().to_string(), result: ActionResult::Done };
    let (state, actions) = h.step(&state, delivered, now);
    assert_eq!(state.status, Status::Completed { outcome: "qualified".into() });
    assert!(actions.is_empty(), "the reply held for the route is dropped at `end`: {actions:?}");
}

#[test]
fn a_partial_answer_goes_back_to_waiting_for_a_reply() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("1500", now), now);
    let (state, _) = h.step(&state, ai_done(&actions[0], &[("budget", 1500.into())]), now);
    assert_eq!(state.score, Some(60));
    assert_eq!(state.step.as_deref(), Some("first_reply"));
    assert_eq!(state.status, Status::Waiting);
}

#[test]
fn reply_timeout_nudges_then_stale_timers_are_ignored() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let seq = state.timer.clone().unwrap().seq;
    let later = now + Duration::days(2);
    let (state, actions) = h.step(&state, Event::TimerFired { seq }, later);
    assert!(matches!(&actions[..], [Action::Send { text, .. }] if text == "Still there?"));
    assert_eq!(state.step.as_deref(), Some("pause"));
    let (again, actions) = h.step(&state, Event::TimerFired { seq }, later);
    assert!(actions.is_empty());
    assert_eq!(again.step, state.step);
    assert_eq!(again.timer, state.timer);
}

#[test]
fn a_reply_during_a_wait_jumps_to_on_reply() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let seq = state.timer.clone().unwrap().seq;
    let (state, _) = h.step(&state, Event::TimerFired { seq }, now + Duration::days(2));
    assert_eq!(state.step.as_deref(), Some("pause"));
    let (state, actions) = h.step(&state, inbound("sorry, yes!", now + Duration::days(2)), now + Duration::days(2));
    assert_eq!(state.step.as_deref(), Some("qualify"));
    assert!(matches!(&actions[..], [Action::CallAi { .. }]));
}

#[test]
fn a_send_at_23h_paris_waits_for_8h_the_next_allowed_day() {
    let h = Harness::new();
    // Saturday 2026-11-28 23:00 Paris; Sunday is closed -> Monday 08:00 Paris (07:00 UTC).
    let late = Utc.with_ymd_and_hms(2026, 11, 28, 22, 0, 0).unwrap();
    let (state, actions) = h.step(&new_state(&h.workflow, late), Event::Entered, late);
    assert!(actions.is_empty());
    let timer = state.timer.clone().unwrap();
    assert_eq!(timer.purpose, TimerPurpose::SendWindow);
    assert_eq!(timer.at, Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap());
    let (state, actions) = h.step(&state, Event::TimerFired { seq: timer.seq }, timer.at);
    assert_eq!(actions.len(), 1);
    assert_eq!(state.step.as_deref(), Some("first_reply"));
}

#[test]
fn the_daily_cap_defers_to_the_next_day() {
    let h = Harness::new();
    let now = monday_morning();
    let mut state = new_state(&h.workflow, now);
    state.sent_on = Some((now.with_timezone(&chrono_tz::Europe::Paris).date_naive(), 2));
    let (state, actions) = h.step(&state, Event::Entered, now);
    assert!(actions.is_empty());
    assert_eq!(state.timer.unwrap().at, Utc.with_ymd_and_hms(2026, 12, 1, 7, 0, 0).unwrap());
}

#[test]
fn stop_unsubscribes_and_cancels_the_timer() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("STOP", now), now);
    assert!(actions.is_empty());
    assert_eq!(state.status, Status::Unsubscribed);
    assert!(state.timer.is_none());
    let (after, actions) = h.step(&state, inbound("hello?", now), now);
    assert!(actions.is_empty());
    assert_eq!(after.status, Status::Unsubscribed);
}

#[test]
fn a_timer_due_while_paused_fires_on_resume() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let seq = state.timer.clone().unwrap().seq;
    let pause = Event::Admin { command: AdminCommand::Pause { reason: "workflow paused".into() } };
    let (state, _) = h.step(&state, pause, now);
    let (state, actions) = h.step(&state, Event::TimerFired { seq }, now + Duration::days(2));
    assert!(actions.is_empty());
    assert!(state.timer_held);
    let (state, actions) = h.step(&state, Event::Admin { command: AdminCommand::Resume }, now + Duration::days(3));
    assert!(matches!(&actions[..], [Action::Send { text, .. }] if text == "Still there?"));
    assert_eq!(state.step.as_deref(), Some("pause"));
}

#[test]
fn ai_failure_fails_the_prospect_and_resume_retries_the_step() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("hi", now), now);
    let failed = Event::ActionFailed { action_id: actions[0].id().to_string(), reason: "invalid answer twice".into() };
    let (state, _) = h.step(&state, failed, now);
    assert!(matches!(&state.status, Status::Failed { reason } if reason.contains("qualify")));
    let (state, actions) = h.step(&state, Event::Admin { command: AdminCommand::Resume }, now);
    assert_eq!(state.status, Status::Active);
    assert!(matches!(&actions[..], [Action::CallAi { .. }]));
}

#[test]
fn history_records_status_changes() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, _) = h.step(&state, inbound("STOP", now), now);
    let statuses: Vec<&str> = state.history.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses, ["waiting", "unsubscribed"]);
}

fn operator(text: &str) -> Event {
    Event::Admin { command: AdminCommand::SendHuman { text: text.into() } }
}

#[test]
fn an_operator_message_is_sent_as_human_and_pauses_until_resume_reads_the_reply() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let seq = state.timer.clone().unwrap().seq;
    let (state, actions) = h.step(&state, operator("Hi, Grace from sales here"), now);
    let [Action::Send { text, human: true, .. }] = &actions[..] else { panic!("{actions:?}") };
    assert_eq!(text, "Hi, Grace from sales here");
    assert!(matches!(&state.status, Status::Paused { reason } if reason == "an operator took over the conversation"));
    let (state, actions) = h.step(&state, inbound("1500 euros", now), now);
    assert!(actions.is_empty(), "the automation stays quiet while an operator talks");
    let (state, _) = h.step(&state, Event::TimerFired { seq }, now + Duration::days(3));
    assert!(state.timer_held);
    let (state, actions) = h.step(&state, Event::Admin { command: AdminCommand::Resume }, now + Duration::days(3));
    assert_eq!(state.step.as_deref(), Some("qualify"), "the reply wins over the timeout that fell meanwhile");
    assert!(matches!(&actions[..], [Action::CallAi { .. }]), "{actions:?}");
}

#[test]
fn an_ai_answer_arriving_after_a_takeover_is_dropped_and_resume_asks_again() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("1500", now), now);
    let call = actions[0].clone();
    let (state, _) = h.step(&state, operator("I'll take it from here"), now);
    let (state, actions) = h.step(&state, ai_done(&call, &[("budget", 1500.into())]), now);
    assert!(actions.is_empty(), "{actions:?}");
    assert!(state.fields.is_empty() && state.pending_action.is_none());
    assert!(matches!(state.status, Status::Paused { .. }));
    let (state, actions) = h.step(&state, Event::Admin { command: AdminCommand::Resume }, now);
    assert_eq!(state.status, Status::Active);
    assert!(matches!(&actions[..], [Action::CallAi { .. }]), "{actions:?}");
}

#[test]
fn operators_never_write_to_the_unsubscribed_and_finished_prospects_stay_finished() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (stopped, _) = h.step(&state, inbound("STOP", now), now);
    let (after, actions) = h.step(&stopped, operator("Are you sure?"), now);
    assert!(actions.is_empty());
    assert_eq!(after.status, Status::Unsubscribed);
    let mut done = state.clone();
    done.status = Status::Completed { outcome: "qualified".into() };
    let (after, actions) = h.step(&done, operator("Our engineer calls you tomorrow"), now);
    assert!(matches!(&actions[..], [Action::Send { human: true, .. }]));
    assert_eq!(after.status, Status::Completed { outcome: "qualified".into() });
}

#[test]
fn token_usage_adds_up_per_prospect() {
    let h = Harness::new();
    let now = monday_morning();
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    let (state, actions) = h.step(&state, inbound("1500", now), now);
    let Event::ActionCompleted { action_id, result: ActionResult::Ai(mut answer) } = ai_done(&actions[0], &[]) else {
        unreachable!()
    };
    answer.usage = Some((400, 38));
    let event = Event::ActionCompleted { action_id, result: ActionResult::Ai(answer) };
    let (state, _) = h.step(&state, event, now);
    assert_eq!(state.tokens_used, 438);
}

#[test]
fn fields_given_at_import_are_scored_on_entry() {
    let h = Harness::new();
    let now = monday_morning();
    let mut state = new_state(&h.workflow, now);
    state.fields.insert("budget".into(), serde_json::json!(1500));
    let (state, _) = h.step(&state, Event::Entered, now);
    assert_eq!(state.score, Some(60));
    assert_eq!(state.score_fields.get("budget"), Some(&serde_json::json!(1500)));
    // Without fields nothing is scored yet.
    let (state, _) = h.step(&new_state(&h.workflow, now), Event::Entered, now);
    assert_eq!(state.score, None);
}
