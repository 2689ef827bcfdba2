//! Operator takeover: a person on the sales team writes to a prospect through the API. The text
//! goes through the machine as an admin command (`AdminCommand::SendHuman`), so it is committed
//! to the outbox with the state like any send, delivered by the channel driver at least once
//! under its idempotency key, recorded with `human: true`, and the automation pauses for that
//! prospect until `resume` hands it back.

use crate::engine::api::ProspectView;
use crate::engine::{Engine, Error};
use crate::machine::{AdminCommand, Status};

/// The longest text an operator may send at once, in characters.
pub const MAX_HUMAN_TEXT: usize = 4_000;

/// What became of an operator's message.
#[derive(Debug, Clone)]
pub enum HumanSend {
    /// Queued for delivery; the prospect as it is now (paused, unless it had finished).
    Queued(Box<ProspectView>),
    NotFound,
    /// The prospect opted out: nothing is ever sent to them again.
    Unsubscribed,
}

impl Engine {
    /// Sends `text` to the prospect `id` on their channel as a human message and pauses their
    /// automation. `Error::Invalid` when the text is empty or longer than [`MAX_HUMAN_TEXT`].
    pub async fn send_human(&self, id: &str, text: &str) -> Result<HumanSend, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Invalid("`text` is empty: write the message to send".into()));
        }
        let length = text.chars().count();
        if length > MAX_HUMAN_TEXT {
            return Err(Error::Invalid(format!(
                "`text` has {length} characters, more than {MAX_HUMAN_TEXT}: send it in several messages"
            )));
        }
        let Some(state) = self.inner.store.prospect(id)? else { return Ok(HumanSend::NotFound) };
        if state.status == Status::Unsubscribed {
            return Ok(HumanSend::Unsubscribed);
        }
        // The machine checks again when it applies the command: an opt-out that lands in
        // between still wins, and nothing is sent.
        if !self.command(id, AdminCommand::SendHuman { text: text.to_string() }).await? {
            return Ok(HumanSend::NotFound);
        }
        metrics::counter!("qualifyd_operator_messages_total").increment(1);
        match self.prospect(id)? {
            Some(view) => Ok(HumanSend::Queued(Box::new(view))),
            None => Ok(HumanSend::NotFound),
        }
    }
}
