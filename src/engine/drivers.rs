//! The side-effect interfaces the executor calls: channel drivers (send a message) and AI
//! providers (answer an `ai` step), plus the embedded defaults: the `outbox` driver that records
//! instead of sending, and the offline `rules` provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::catalog::model::{AiStep, Workflow};
use crate::channel::Channel;
use crate::machine::{AiAnswer, ProspectState};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a side effect did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DriverError {
    /// Worth retrying later (timeout, 429, 5xx, provider down).
    #[error("transient failure: {0}")]
    Transient(String),
    /// Retrying cannot help (invalid number, invalid answer).
    #[error("{0}")]
    Permanent(String),
    /// The provider says the recipient opted out with it (Twilio 21610): the person leaves every
    /// campaign, as if they had written STOP to us.
    #[error("{0}")]
    RecipientOptedOut(String),
}

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct Outbound<'a> {
    /// The idempotency key of the outbox entry.
    pub action_id: &'a str,
    pub prospect: &'a ProspectState,
    pub channel: Channel,
    pub text: &'a str,
    /// When the delivery is attempted: what the send rules (Messenger's window) are read at.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Outbound<'_> {
    /// The prospect's address on the channel, or why the message fails for good: the one send
    /// rule every driver applies first (`machine::reach::check_send`, also what `simulate` and
    /// `test` apply).
    pub fn address(&self) -> Result<&str, DriverError> {
        crate::machine::reach::check_send(self.prospect, self.channel, self.at)
            .map_err(|refusal| DriverError::Permanent(refusal.to_string()))
    }
}

pub trait ChannelDriver: Send + Sync {
    /// Delivers the message; returns the provider's message id.
    fn send<'a>(&'a self, message: Outbound<'a>) -> BoxFuture<'a, Result<String, DriverError>>;
    fn name(&self) -> &'static str;

    /// Sends an internal notification (a `notify` step) to a team address: no reply routing, no
    /// unsubscribe headers. Drivers that cannot reach a team (and the outbox) only record it.
    fn notify_team<'a>(
        &'a self,
        action_id: &'a str,
        to: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            tracing::info!(action = %action_id, driver = self.name(), "team notification recorded, not sent");
            let _ = (to, text);
            Ok(())
        })
    }
}

/// What an AI provider is asked.
pub struct AiRequest<'a> {
    pub workflow: &'a Workflow,
    pub step: &'a AiStep,
    pub state: &'a ProspectState,
    /// The step's rendered prompt template.
    pub prompt: &'a str,
}

pub trait AiProvider: Send + Sync {
    fn answer<'a>(&'a self, request: AiRequest<'a>) -> BoxFuture<'a, Result<AiAnswer, DriverError>>;
    fn name(&self) -> &'static str;
}

/// Records messages as sent without sending anything (the embedded default), after the same
/// send rules as the real drivers.
pub struct OutboxDriver;

impl ChannelDriver for OutboxDriver {
    fn send<'a>(&'a self, message: Outbound<'a>) -> BoxFuture<'a, Result<String, DriverError>> {
        Box::pin(async move {
            // The same rules as a real driver: no contact on the channel, or outside Messenger's
            // window, fails the message instead of recording it as sent.
            message.address()?;
            tracing::info!(
                prospect = %message.prospect.id,
                action = %message.action_id,
                channel = %message.channel,
                "outbox driver: message recorded, not sent"
            );
            Ok(format!("outbox-{}", message.action_id))
        })
    }

    fn name(&self) -> &'static str {
        "outbox"
    }
}

/// The deterministic offline provider.
pub struct RulesProvider;

impl AiProvider for RulesProvider {
    fn answer<'a>(&'a self, request: AiRequest<'a>) -> BoxFuture<'a, Result<AiAnswer, DriverError>> {
        Box::pin(async move { Ok(crate::ai::rules_answer(request.workflow, request.step, request.state)) })
    }

    fn name(&self) -> &'static str {
        "rules"
    }
}

/// Every driver the executor may call.
#[derive(Clone)]
pub struct Drivers {
    pub sms: Arc<dyn ChannelDriver>,
    pub email: Arc<dyn ChannelDriver>,
    pub messenger: Arc<dyn ChannelDriver>,
    pub ai: Arc<dyn AiProvider>,
    pub http: reqwest::Client,
    /// Signing secrets and attempts of hand-off calls.
    pub webhooks: crate::settings::WebhookSettings,
}

impl Drivers {
    /// Outbox on every channel, rules for AI.
    pub fn embedded() -> Drivers {
        Drivers {
            sms: Arc::new(OutboxDriver),
            email: Arc::new(OutboxDriver),
            messenger: Arc::new(OutboxDriver),
            ai: Arc::new(RulesProvider),
            http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default(),
            webhooks: crate::settings::WebhookSettings::default(),
        }
    }

    pub fn channel(&self, channel: Channel) -> &Arc<dyn ChannelDriver> {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::Messenger => &self.messenger,
        }
    }
}
