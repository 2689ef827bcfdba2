//! [`Conversation`]: one simulated prospect driven through the real state machine on a virtual
//! clock. It keeps the one `ProspectState`, feeds it events the way the engine would (entry,
//! replies, timers falling due, AI answers) and records everything the machine asked for in a
//! transcript. Nothing is sent: every channel behaves as the outbox, under the drivers' send rules
//! (`machine::reach`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::catalog::Workflow;
use crate::channel::Channel;
use crate::machine::reach::check_send;
use crate::machine::render::window_for;
use crate::machine::{Action, ActionResult, AiAnswer, Contact, Event, MachineEnv, ProspectState, TimerPurpose};
use crate::schedule::SendWindow;
use crate::simulate::Error;
use crate::simulate::brain::Brain;

/// How many events one input (a message, an entry, a timer) may cause before the simulation
/// decides the workflow is spinning. The machine itself stops at 64 steps per event.
const MAX_EVENTS_PER_INPUT: usize = 256;

/// The phone number of a simulated prospect who writes by SMS without a `phone`.
const SIMULATED_PHONE: &str = "+33600000000";

/// The prospect id of every simulation; action ids read `sim:<seq>`.
pub const PROSPECT_ID: &str = "sim";

/// What a conversation runs against, besides the prospect.
pub struct Stage {
    pub workflow: Arc<Workflow>,
    /// The settings' send window, for workflows without their own.
    pub default_window: SendWindow,
    pub public_url: String,
    pub brain: Brain,
}

/// Who is simulated: the contact and the fields known at import.
#[derive(Debug, Clone, Default)]
pub struct Prospect {
    pub contact: Contact,
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// How the prospect gets into the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Imported (a form, the API): the workflow starts at once.
    Import,
    /// The person writes first: their first message starts the workflow, as with `entry.inbound`.
    Inbound,
}

/// One line of the transcript: something that happened, at a virtual instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The prospect wrote.
    Received { at: DateTime<Utc>, text: String },
    /// The daemon would have sent this message (nothing leaves the machine).
    Sent { at: DateTime<Utc>, channel: Channel, text: String },
    /// The daemon would have failed this message for good: the send rules refused it (no contact
    /// on the channel, outside Messenger's 24-hour window), as every driver does.
    Failed { at: DateTime<Utc>, channel: Channel, text: String, reason: String },
    /// The sales team would have been told.
    Notified { at: DateTime<Utc>, email: Option<String>, webhook: Option<String>, text: String },
    /// The prospect would have been POSTed to this URL.
    Webhook { at: DateTime<Utc>, url: String },
    /// The AI provider answered the `ai` step `step`.
    /// `because`: for the `rules` provider, what each field was read from (field -> phrase).
    Answered { at: DateTime<Utc>, step: String, answer: AiAnswer, because: BTreeMap<String, String> },
    /// A timer fell due while the prospect was at `step`.
    TimerFired { at: DateTime<Utc>, purpose: TimerPurpose, step: Option<String> },
}

impl Record {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Record::Received { at, .. }
            | Record::Sent { at, .. }
            | Record::Failed { at, .. }
            | Record::Notified { at, .. }
            | Record::Webhook { at, .. }
            | Record::Answered { at, .. }
            | Record::TimerFired { at, .. } => *at,
        }
    }
}

/// One prospect, its virtual clock and its transcript.
pub struct Conversation {
    stage: Stage,
    entry: Entry,
    entered: bool,
    state: ProspectState,
    now: DateTime<Utc>,
    transcript: Vec<Record>,
    /// Hand-offs fail (set by a script's `handoff: fails`).
    handoffs_fail: bool,
}

impl Conversation {
    /// A prospect that has not entered yet; call [`Conversation::start`].
    pub fn new(stage: Stage, prospect: Prospect, entry: Entry, start: DateTime<Utc>) -> Conversation {
        let state = ProspectState::new(
            PROSPECT_ID.to_string(),
            &stage.workflow,
            prospect.contact,
            prospect.fields,
            "simulated".to_string(),
            start,
        );
        Conversation { stage, entry, entered: false, state, now: start, transcript: Vec::new(), handoffs_fail: false }
    }

    /// Imports the prospect (runs the first steps). A prospect that enters by writing first
    /// waits for its first [`Conversation::say`].
    pub fn start(&mut self) -> Result<(), Error> {
        if self.entry == Entry::Import && !self.entered {
            self.entered = true;
            self.feed(Event::Entered)?;
        }
        Ok(())
    }

    /// The prospect writes `text` now.
    pub fn say(&mut self, text: &str) -> Result<(), Error> {
        self.transcript.push(Record::Received { at: self.now, text: text.to_string() });
        self.known_on_channel();
        let event = Event::Inbound { channel: self.state.channel, text: text.to_string(), at: self.now };
        self.feed(event)?;
        if !self.entered {
            // As the engine does for a stranger: the message first, then the entry.
            self.entered = true;
            self.feed(Event::Entered)?;
        }
        Ok(())
    }

    /// A person who writes on a channel has an address there, as the daemon records it from the
    /// inbound message: when the script gave none, a placeholder stands in (a French mobile
    /// number, `prospect@example.com`, a Messenger id), so replies are not refused for want of it.
    fn known_on_channel(&mut self) {
        let contact = &mut self.state.contact;
        let (slot, placeholder) = match self.state.channel {
            Channel::Sms => (&mut contact.phone, SIMULATED_PHONE),
            Channel::Email => (&mut contact.email, "prospect@example.com"),
            Channel::Messenger => (&mut contact.messenger_psid, "simulated-psid"),
        };
        if slot.is_none() {
            *slot = Some(placeholder.to_string());
            if self.state.channel == Channel::Sms && contact.timezone.is_none() {
                contact.timezone = crate::machine::reach::timezone_of_phone(SIMULATED_PHONE).map(str::to_string);
            }
        }
    }

    /// An operator's command now (take over, resume, a human message), as the admin API applies it.
    pub fn operator(&mut self, command: crate::machine::AdminCommand) -> Result<(), Error> {
        self.feed(Event::Admin { command })
    }

    /// Moves the clock forward by `by`, firing every timer that falls due on the way, in order.
    pub fn wait(&mut self, by: Duration) -> Result<(), Error> {
        let until = self.now + by;
        for _ in 0..MAX_EVENTS_PER_INPUT {
            let Some(timer) = self.state.timer.clone().filter(|t| t.at <= until) else {
                self.now = until;
                return Ok(());
            };
            self.now = self.now.max(timer.at);
            let step = self.state.step.clone();
            self.transcript.push(Record::TimerFired { at: self.now, purpose: timer.purpose, step });
            self.feed(Event::TimerFired { seq: timer.seq })?;
        }
        Err(Error::Spinning { limit: MAX_EVENTS_PER_INPUT })
    }

    pub fn state(&self) -> &ProspectState {
        &self.state
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn transcript(&self) -> &[Record] {
        &self.transcript
    }

    pub fn workflow(&self) -> &Workflow {
        &self.stage.workflow
    }

    /// Who answers the `ai` steps.
    pub fn brain(&self) -> &Brain {
        &self.stage.brain
    }

    /// Whether the prospect is imported (rather than writing first).
    pub fn entered_by_import(&self) -> bool {
        self.entry == Entry::Import
    }

    /// Whether the prospect has entered the workflow yet.
    pub fn entered(&self) -> bool {
        self.entered
    }

    /// The timezone times are shown in: the send window's, in the prospect's own when known.
    pub fn timezone(&self) -> Tz {
        window_for(&self.stage.workflow, &self.state, &self.stage.default_window).timezone
    }

    /// Applies `event`, then every AI answer it leads to, recording the actions.
    fn feed(&mut self, event: Event) -> Result<(), Error> {
        let workflow = Arc::clone(&self.stage.workflow);
        let mut queue = VecDeque::from([event]);
        let mut applied = 0;
        while let Some(event) = queue.pop_front() {
            applied += 1;
            if applied > MAX_EVENTS_PER_INPUT {
                return Err(Error::Spinning { limit: MAX_EVENTS_PER_INPUT });
            }
            let env = MachineEnv {
                workflow: &workflow,
                default_window: &self.stage.default_window,
                public_url: &self.stage.public_url,
            };
            let transition = crate::machine::apply(&env, &self.state, &event, self.now);
            self.state = transition.state;
            for action in transition.actions {
                if let Some(next) = self.perform(&workflow, action)? {
                    queue.push_back(next);
                }
            }
        }
        Ok(())
    }

    /// Makes every later hand-off fail (the team's destination is down) or succeed again.
    pub fn set_handoffs_fail(&mut self, fail: bool) {
        self.handoffs_fail = fail;
    }

    fn handoff_result(&self, action_id: String) -> Event {
        if self.handoffs_fail {
            Event::ActionFailed { action_id, reason: "the destination is down (simulated)".to_string() }
        } else {
            Event::ActionCompleted { action_id, result: ActionResult::Done }
        }
    }

    /// Records one action; an AI call is answered at once and its answer returned as an event.
    fn perform(&mut self, workflow: &Workflow, action: Action) -> Result<Option<Event>, Error> {
        let at = self.now;
        let record = match action {
            // The drivers' own rule, at the virtual instant: a refused message fails.
            Action::Send { action_id, channel, text, .. } => match check_send(&self.state, channel, at) {
                Ok(_) => Record::Sent { at, channel, text },
                Err(refusal) => {
                    let reason = refusal.to_string();
                    self.transcript.push(Record::Failed { at, channel, text, reason: reason.clone() });
                    return Ok(Some(Event::ActionFailed { action_id, reason }));
                }
            },
            // A hand-off is delivered at once (as the daemon reports a 2xx), unless the script
            // says the team's destination is down: then it fails as after the last retry.
            Action::Notify { action_id, email, webhook, text } => {
                self.transcript.push(Record::Notified { at, email, webhook, text });
                return Ok(Some(self.handoff_result(action_id)));
            }
            Action::Webhook { action_id, url } => {
                self.transcript.push(Record::Webhook { at, url });
                return Ok(Some(self.handoff_result(action_id)));
            }
            Action::CallAi { action_id, step, .. } => {
                let because = self.stage.brain.explain(workflow, &step, &self.state);
                let answer = self.stage.brain.answer(workflow, &step, &self.state)?;
                self.transcript.push(Record::Answered { at, step, answer: answer.clone(), because });
                return Ok(Some(Event::ActionCompleted { action_id, result: ActionResult::Ai(answer) }));
            }
        };
        self.transcript.push(record);
        Ok(None)
    }
}
