//! The transition function: one event applied to one prospect's state, producing the new
//! state and the side effects to perform. Pure: `now` is a parameter, nothing is read or sent.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};

use crate::catalog::model::{StepIndex, StepKind, WaitFor, Workflow};
use crate::machine::action::Action;
use crate::machine::event::{ActionResult, AdminCommand, AiAnswer, Event};
use crate::machine::intent::is_opt_out;
use crate::machine::render::{expression_context, template_context, to_json, window_for};
use crate::machine::state::{Direction, ProspectState, Status, StatusChange, Timer, TimerPurpose};
use crate::machine::team::team_template_context;
use crate::schedule::SendWindow;

/// How many steps one event may run through before the machine decides it is spinning.
pub const MAX_STEPS_PER_EVENT: usize = 64;

/// The pause reason of a prospect an operator took over.
const TAKEN_OVER: &str = "an operator took over the conversation";

/// What the machine needs besides the workflow: settings-level defaults.
#[derive(Debug, Clone)]
pub struct MachineEnv<'a> {
    pub workflow: &'a Workflow,
    pub default_window: &'a SendWindow,
    pub public_url: &'a str,
}

/// The result of applying one event.
#[derive(Debug, Clone)]
pub struct Transition {
    pub state: ProspectState,
    pub actions: Vec<Action>,
}

pub fn apply(env: &MachineEnv<'_>, state: &ProspectState, event: &Event, now: DateTime<Utc>) -> Transition {
    let mut run = Run { env, state: state.clone(), actions: Vec::new(), now };
    run.state.transitions += 1;
    run.state.updated_at = now;
    run.handle(event);
    if run.state.status != state.status || run.state.step != state.step {
        run.state.history.push(StatusChange {
            at: now,
            status: run.state.status.name().to_string(),
            step: run.state.step.clone(),
        });
    }
    let mut transition = Transition { state: run.state, actions: run.actions };
    super::lawfulness::stamp_notice(env.workflow, &mut transition, now);
    transition
}

struct Run<'e, 'a> {
    env: &'e MachineEnv<'a>,
    state: ProspectState,
    actions: Vec<Action>,
    now: DateTime<Utc>,
}

impl Run<'_, '_> {
    fn workflow(&self) -> &Workflow {
        self.env.workflow
    }

    fn current(&self) -> Option<StepIndex> {
        self.state.step.as_deref().and_then(|id| self.workflow().step_index(id))
    }

    fn handle(&mut self, event: &Event) {
        if let Event::ActionCompleted { result: ActionResult::Ai(answer), .. } = event
            && let Some((prompt, completion)) = answer.usage
        {
            self.state.tokens_used += prompt + completion;
        }
        match event {
            Event::Entered => {
                if self.state.status == Status::Active
                    && self.state.pending_action.is_none()
                    && self.state.timer.is_none()
                {
                    // Fields given at import already count: the score is known from the start.
                    if !self.state.fields.is_empty() {
                        self.recompute_score();
                    }
                    self.run_from(self.current().or(Some(0)));
                }
            }
            Event::Inbound { channel, text, at } => {
                self.state.last_inbound_by_channel.insert(*channel, *at);
                self.on_inbound(text, *at)
            }
            Event::TimerFired { seq } => self.on_timer(*seq),
            Event::ActionCompleted { action_id, .. } | Event::ActionFailed { action_id, .. }
                if self.state.pending_action.as_deref() == Some(action_id.as_str())
                    && matches!(self.state.status, Status::Paused { .. }) =>
            {
                // Held (an operator took over): an AI answer is stale by the time the prospect
                // resumes, so it is dropped and resuming asks again. A delivered hand-off is
                // done: resuming goes on from the step after it, never hands off twice.
                self.state.pending_action = None;
                if let Event::ActionCompleted { result: ActionResult::Done, .. } = event
                    && let Some(next) = self.current().and_then(|i| self.workflow().steps[i].next)
                {
                    self.state.step = Some(self.workflow().steps[next].id.clone());
                }
            }
            Event::ActionCompleted { action_id, result } => {
                if self.state.pending_action.as_deref() == Some(action_id.as_str()) {
                    match result {
                        ActionResult::Ai(answer) => self.on_ai_answer(answer),
                        ActionResult::Done => self.on_delivered(),
                    }
                }
            }
            Event::ActionFailed { action_id, reason } => {
                if self.state.pending_action.as_deref() == Some(action_id.as_str()) {
                    self.on_action_failure(reason);
                }
            }
            Event::Admin { command } => self.on_admin(command),
        }
    }

    fn on_inbound(&mut self, text: &str, at: DateTime<Utc>) {
        self.state.remember(Direction::Inbound, text, at);
        self.state.last_reply = Some(text.to_string());
        self.state.last_inbound_at = Some(at);
        self.state.unanswered = true;
        if self.state.status.is_finished()
            || matches!(self.state.status, Status::Failed { .. } | Status::Attention { .. })
        {
            if is_opt_out(text) && !self.state.status.is_finished() {
                self.unsubscribe();
            }
            return;
        }
        if is_opt_out(text) {
            self.unsubscribe();
            return;
        }
        if matches!(self.state.status, Status::Paused { .. }) {
            self.state.held_replies.push(text.to_string());
            return; // Read on resume, with every other reply written meanwhile.
        }
        if self.state.pending_action.is_some() {
            return; // Consumed by the next step that looks at replies.
        }
        let Some(index) = self.current() else { return };
        match &self.workflow().steps[index].kind {
            StepKind::WaitReply { .. } => {
                self.state.timer = None;
                self.state.unanswered = false;
                self.run_from(self.workflow().steps[index].next);
            }
            _ => {
                if let Some(target) = self.workflow().on_reply {
                    // Sequences stop on reply: leave the wait (or deferred send) for `on_reply`.
                    self.state.timer = None;
                    self.run_from(Some(target));
                }
            }
        }
    }

    fn on_timer(&mut self, seq: u64) {
        let Some(timer) = self.state.timer.clone() else { return };
        if timer.seq != seq {
            return; // Stale: the step it belonged to is over.
        }
        if matches!(self.state.status, Status::Paused { .. }) {
            self.state.timer_held = true;
            return;
        }
        self.state.timer = None;
        self.state.timer_held = false;
        self.fire(timer.purpose);
    }

    fn fire(&mut self, purpose: TimerPurpose) {
        let Some(index) = self.current() else { return };
        let step = &self.workflow().steps[index];
        match (purpose, &step.kind) {
            (TimerPurpose::ReplyTimeout, StepKind::WaitReply { on_timeout, .. }) => self.run_from(Some(*on_timeout)),
            (TimerPurpose::Wait, _) => self.run_from(step.next),
            _ => self.run_from(Some(index)),
        }
    }

    fn on_ai_answer(&mut self, answer: &AiAnswer) {
        self.state.pending_action = None;
        for (name, value) in &answer.fields {
            if !value.is_null() && self.workflow().field(name).is_some() {
                self.state.fields.insert(name.clone(), value.clone());
            }
        }
        self.state.last_intent = answer.intent.clone();
        self.recompute_score();
        if answer.intent.as_deref() == Some("opt_out") {
            self.unsubscribe();
            return;
        }
        let Some(index) = self.current() else { return };
        // Held until routing decides (see `draft_reply`).
        self.state.draft_reply = answer.reply.clone().filter(|r| !r.trim().is_empty());
        let step = &self.workflow().steps[index];
        let chosen = match &step.kind {
            StepKind::Ai(ai) => {
                answer.next.as_deref().and_then(|n| ai.choose.iter().find(|(id, _)| id == n)).map(|(_, i)| *i)
            }
            _ => None,
        };
        self.run_from(chosen.or(step.next));
    }

    /// A hand-off (`notify`, `webhook`) was delivered: only now does the prospect move on.
    fn on_delivered(&mut self) {
        self.state.pending_action = None;
        let Some(index) = self.current() else { return };
        match self.workflow().steps[index].next {
            Some(next) => self.run_from(Some(next)),
            None => {
                self.stuck(index);
            }
        }
    }

    fn on_action_failure(&mut self, reason: &str) {
        self.state.pending_action = None;
        let Some(index) = self.current() else { return };
        let step = &self.workflow().steps[index];
        match &step.kind {
            StepKind::Ai(ai) if ai.on_failure.is_some() => self.run_from(ai.on_failure),
            StepKind::Notify { on_failure: Some(target), .. } | StepKind::Webhook { on_failure: Some(target), .. } => {
                self.run_from(Some(*target))
            }
            StepKind::Notify { .. } | StepKind::Webhook { .. } => {
                self.state.status = Status::Attention { reason: format!("hand-off `{}` failed: {reason}", step.id) };
                self.state.timer = None;
            }
            StepKind::Ai(_)
            | StepKind::Send { .. }
            | StepKind::Wait(_)
            | StepKind::WaitReply { .. }
            | StepKind::Branch { .. }
            | StepKind::Set { .. }
            | StepKind::End { .. } => self.fail(format!("step `{}` failed: {reason}", step.id)),
        }
    }

    /// An operator asks to try the current step again (a failed hand-off, a failed prospect).
    fn retry(&mut self) {
        if !matches!(self.state.status, Status::Attention { .. } | Status::Failed { .. }) {
            return;
        }
        self.state.status = Status::Active;
        self.state.pending_action = None;
        self.state.timer = None;
        self.state.timer_held = false;
        if let Some(index) = self.current() {
            self.run_from(Some(index));
        }
    }

    fn on_admin(&mut self, command: &AdminCommand) {
        match command {
            AdminCommand::Pause { reason } => {
                if !self.state.status.is_finished() {
                    self.state.status = Status::Paused { reason: reason.clone() };
                }
            }
            AdminCommand::TakeOver => self.take_over(),
            AdminCommand::SendHuman { text } => {
                if self.state.status == Status::Unsubscribed {
                    return;
                }
                let channel = self.state.channel;
                self.send(channel, text.clone(), true);
                self.take_over();
            }
            AdminCommand::Unsubscribe => self.unsubscribe(),
            AdminCommand::Resume => self.resume(),
            AdminCommand::Retry => self.retry(),
            AdminCommand::Wake => {
                if let Some(timer) = self.state.timer.clone()
                    && !matches!(self.state.status, Status::Paused { .. })
                {
                    self.on_timer(timer.seq);
                }
            }
        }
    }

    fn take_over(&mut self) {
        if !self.state.status.is_finished() {
            self.state.status = Status::Paused { reason: TAKEN_OVER.into() };
        }
    }

    fn resume(&mut self) {
        if !matches!(self.state.status, Status::Paused { .. } | Status::Failed { .. } | Status::Attention { .. }) {
            return;
        }
        let failed = matches!(self.state.status, Status::Failed { .. } | Status::Attention { .. });
        self.state.status = if self.state.timer.is_some() { Status::Waiting } else { Status::Active };
        // Everything said during the pause is one reply for the next extraction, not just the last.
        let held = std::mem::take(&mut self.state.held_replies);
        if !held.is_empty() {
            self.state.last_reply = Some(held.join("\n"));
            self.state.unanswered = true;
            let at_reply_step = self
                .current()
                .is_some_and(|i| matches!(self.workflow().steps[i].kind, StepKind::WaitReply { .. } | StepKind::Ai(_)));
            if !at_reply_step && let Some(target) = self.workflow().on_reply {
                // A sequence stops on reply, as it would have without the pause.
                self.state.timer = None;
                self.state.timer_held = false;
                self.state.pending_action = None;
                self.run_from(Some(target));
                return;
            }
        }
        // A reply that came while paused answers the `wait_reply`, even if its timeout fell too.
        let replied = self.state.unanswered
            && self.current().is_some_and(|i| matches!(self.workflow().steps[i].kind, StepKind::WaitReply { .. }));
        if self.state.timer_held && !replied {
            let purpose = self.state.timer.take().map(|t| t.purpose);
            self.state.timer_held = false;
            if let Some(purpose) = purpose {
                self.fire(purpose);
            }
            return;
        }
        if self.state.pending_action.is_some() && !failed {
            return;
        }
        self.state.pending_action = None;
        let Some(index) = self.current() else { return };
        if failed || self.state.timer.is_none() || replied {
            self.state.timer = None;
            self.state.timer_held = false;
            self.run_from(Some(index));
        }
    }

    fn unsubscribe(&mut self) {
        self.state.status = Status::Unsubscribed;
        self.state.timer = None;
        self.state.timer_held = false;
        self.state.pending_action = None;
    }

    fn fail(&mut self, reason: String) {
        self.state.status = Status::Failed { reason };
        self.state.timer = None;
    }

    fn set_timer(&mut self, at: DateTime<Utc>, purpose: TimerPurpose) {
        let seq = self.state.take_seq();
        self.state.timer = Some(Timer { seq, at, purpose });
        self.state.status = Status::Waiting;
    }

    fn action_id(&mut self) -> String {
        let seq = self.state.take_seq();
        format!("{}:{seq}", self.state.id)
    }

    fn send(&mut self, channel: crate::channel::Channel, text: String, human: bool) {
        let action_id = self.action_id();
        self.state.remember(Direction::Outbound, &text, self.now);
        self.actions.push(Action::Send { action_id, channel, text, human });
    }

    fn render(&mut self, template: &str) -> Option<String> {
        let context = template_context(self.workflow(), &self.state, self.env.public_url);
        match self.workflow().templates.render(template, &context) {
            Ok(text) => Some(text),
            Err(message) => {
                self.fail(format!("template `{template}` failed to render: {message}"));
                None
            }
        }
    }

    /// Renders a team-facing template (`notify`): the prospect's contact details are in scope.
    fn render_team(&mut self, template: &str) -> Option<String> {
        let context = team_template_context(self.workflow(), &self.state, self.env.public_url);
        match self.workflow().templates.render(template, &context) {
            Ok(text) => Some(text),
            Err(message) => {
                self.fail(format!("template `{template}` failed to render: {message}"));
                None
            }
        }
    }

    fn recompute_score(&mut self) {
        let Some(source) = self.workflow().score.clone() else { return };
        let context = expression_context(&self.state);
        match self.workflow().templates.eval(&source, &context) {
            Ok(value) => {
                let number = f64::try_from(value).unwrap_or(0.0);
                self.state.score = Some(number.clamp(0.0, 100.0).round() as u8);
                self.state.score_fields = self.state.fields.clone();
            }
            Err(message) => self.fail(format!("score expression failed: {message}")),
        }
    }

    /// Runs steps from `start` until one waits, ends or fails.
    fn run_from(&mut self, start: Option<StepIndex>) {
        let mut next = start;
        for _ in 0..MAX_STEPS_PER_EVENT {
            let Some(index) = next else {
                let at = self.state.step.clone().unwrap_or_default();
                self.fail(format!("step `{at}` has no next step"));
                return;
            };
            let step = self.workflow().steps[index].clone();
            self.state.step = Some(step.id.clone());
            self.state.status = Status::Active;
            next = match self.run_step(index, &step.kind, step.next) {
                Some(n) => Some(n),
                None => return,
            };
        }
        self.fail(format!("more than {MAX_STEPS_PER_EVENT} steps ran without waiting: check the workflow for a loop"));
    }

    /// Runs one step; returns where to go next, or `None` when the prospect stops here.
    fn run_step(&mut self, index: StepIndex, kind: &StepKind, next: Option<StepIndex>) -> Option<StepIndex> {
        match kind {
            StepKind::Send { template, channel } => {
                self.state.draft_reply = None;
                if let Some(at) = self.deferred_until() {
                    self.set_timer(at, TimerPurpose::SendWindow);
                    return None;
                }
                let text = self.render(template)?;
                self.count_send();
                self.send(*channel, text, false);
                next.or_else(|| self.stuck(index))
            }
            StepKind::Wait(WaitFor::Duration(d)) => {
                self.state.draft_reply = None;
                self.set_timer(self.now + *d, TimerPurpose::Wait);
                None
            }
            StepKind::Wait(WaitFor::Cron(cron)) => {
                self.state.draft_reply = None;
                let window = window_for(self.workflow(), &self.state, self.env.default_window);
                let local = self.now.with_timezone(&window.timezone);
                match cron.find_next_occurrence(&local, false) {
                    Ok(at) => self.set_timer(at.with_timezone(&Utc), TimerPurpose::Wait),
                    Err(err) => self.fail(format!("cron has no next occurrence: {err}")),
                }
                None
            }
            StepKind::WaitReply { timeout, .. } => {
                if let Some(reply) = self.state.draft_reply.take() {
                    let channel = self.state.channel;
                    self.send(channel, reply, false);
                }
                if self.state.unanswered {
                    self.state.unanswered = false;
                    return next.or_else(|| self.stuck(index));
                }
                self.set_timer(self.now + *timeout, TimerPurpose::ReplyTimeout);
                None
            }
            StepKind::Ai(ai) => {
                let prompt = self.render(&ai.prompt)?;
                let action_id = self.action_id();
                self.state.pending_action = Some(action_id.clone());
                self.state.unanswered = false;
                self.actions.push(Action::CallAi { action_id, step: self.workflow().steps[index].id.clone(), prompt });
                None
            }
            StepKind::Branch { arms, otherwise } => {
                let context = expression_context(&self.state);
                for (condition, target) in arms {
                    match self.workflow().templates.eval(condition, &context) {
                        Ok(value) if value.is_true() => return Some(*target),
                        Ok(_) => {}
                        Err(message) => {
                            self.fail(format!("condition `{condition}` failed: {message}"));
                            return None;
                        }
                    }
                }
                otherwise.or(next).or_else(|| self.stuck(index))
            }
            StepKind::Set { fields, tags } => {
                let context = expression_context(&self.state);
                for (name, source) in fields {
                    match self.workflow().templates.eval(source, &context) {
                        Ok(value) => {
                            self.state.fields.insert(name.clone(), to_json(&value));
                        }
                        Err(message) => {
                            self.fail(format!("`set` of field `{name}` failed: {message}"));
                            return None;
                        }
                    }
                }
                for tag in tags {
                    if !self.state.tags.contains(tag) {
                        self.state.tags.push(tag.clone());
                    }
                }
                self.recompute_score();
                next.or_else(|| self.stuck(index))
            }
            // A hand-off waits for its delivery: the prospect moves on (and may be marked
            // `completed`) only once the team has it; a failure takes `on_failure` or `attention`.
            StepKind::Notify { email, webhook, template, .. } => {
                let text = self.render_team(template)?;
                let action_id = self.action_id();
                self.state.pending_action = Some(action_id.clone());
                self.actions.push(Action::Notify { action_id, email: email.clone(), webhook: webhook.clone(), text });
                None
            }
            StepKind::Webhook { url, .. } => {
                let action_id = self.action_id();
                self.state.pending_action = Some(action_id.clone());
                self.actions.push(Action::Webhook { action_id, url: url.clone() });
                None
            }
            StepKind::End { outcome } => {
                self.state.draft_reply = None;
                self.state.status = Status::Completed { outcome: outcome.clone() };
                self.state.timer = None;
                None
            }
        }
    }

    fn stuck(&mut self, index: StepIndex) -> Option<StepIndex> {
        self.fail(format!("step `{}` has no next step", self.workflow().steps[index].id));
        None
    }

    /// When a send must wait: outside the window, or over the daily cap.
    fn deferred_until(&self) -> Option<DateTime<Utc>> {
        let window = window_for(self.workflow(), &self.state, self.env.default_window);
        if !window.is_open(self.now) {
            return Some(window.next_open(self.now));
        }
        let cap = self.workflow().messages_per_day?;
        let today = self.now.with_timezone(&window.timezone).date_naive();
        match self.state.sent_on {
            Some((day, count)) if day == today && count >= cap => {
                let tomorrow = today.succ_opt()?.and_time(NaiveTime::MIN);
                let start = window.timezone.from_local_datetime(&tomorrow).earliest()?.with_timezone(&Utc);
                Some(window.next_open(start))
            }
            _ => None,
        }
    }

    fn count_send(&mut self) {
        let window = window_for(self.workflow(), &self.state, self.env.default_window);
        let today = self.now.with_timezone(&window.timezone).date_naive();
        self.state.sent_on = match self.state.sent_on {
            Some((day, count)) if day == today => Some((day, count + 1)),
            _ => Some((today, 1)),
        };
    }
}
