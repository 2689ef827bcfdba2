//! The pure per-prospect state machine: `apply(workflow, state, event, now) -> Transition`.
//! No clock reads, no IO: the engine commits the transition, then performs its actions.

mod action;
mod apply;
mod event;
pub mod intent;
pub mod lawfulness;
pub mod reach;
pub mod render;
mod state;
pub mod team;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_handoff;

pub use action::Action;
pub use apply::{MAX_STEPS_PER_EVENT, MachineEnv, Transition, apply};
pub use event::{ActionResult, AdminCommand, AiAnswer, Event};
pub use state::{
    Contact, Direction, ProspectState, RECENT_MESSAGES, RecentMessage, Status, StatusChange, Timer, TimerPurpose,
};
pub use team::{handoff_payload, team_template_context};
