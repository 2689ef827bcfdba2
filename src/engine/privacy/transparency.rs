//! What an export tells a person about the processing of their data (GDPR arts. 13-15): its
//! legal basis and source, the first-contact notice, the purposes, who received their data
//! (channel providers, the AI provider, the team's hand-off destinations), how long it is kept
//! and the logic of the score. Built from the prospect's state, its pinned workflow version and
//! the daemon's drivers — never from guesses.

use crate::catalog::model::{StepKind, Workflow};
use crate::channel::Channel;
use crate::engine::Inner;
use crate::machine::ProspectState;
use crate::privacy::subject::{Recipient, Transparency};

impl Inner {
    pub(crate) fn transparency(
        &self,
        state: &ProspectState,
        messages_channels: &[Channel],
        ai_calls: usize,
    ) -> Transparency {
        let mut probe = state.clone();
        let workflow = self.workflow_for(&mut probe).ok();
        let mut recipients = Vec::new();
        for channel in [Channel::Sms, Channel::Email, Channel::Messenger] {
            if messages_channels.contains(&channel) {
                let driver = match channel {
                    Channel::Sms => self.drivers.sms.name(),
                    Channel::Email => self.drivers.email.name(),
                    Channel::Messenger => self.drivers.messenger.name(),
                };
                recipients.push(Recipient {
                    kind: "channel_provider",
                    name: driver.to_string(),
                    why: format!("carries the {channel} messages of the conversation"),
                });
            }
        }
        if ai_calls > 0 {
            recipients.push(Recipient {
                kind: "ai_provider",
                name: self.drivers.ai.name().to_string(),
                why: format!(
                    "read the person's replies to extract the answers and write the next message ({ai_calls} call(s))"
                ),
            });
        }
        if let Some(workflow) = &workflow {
            recipients.extend(team_recipients(workflow, state));
        }
        let privacy = &self.config.privacy;
        let days = privacy.retention_period.num_days();
        Transparency {
            legal_basis: state.lawfulness.as_ref().map(|l| l.basis.article()),
            lawfulness: state.lawfulness.clone(),
            purposes: purposes(workflow.as_deref(), state),
            recipients,
            retention: format!(
                "erased {days} days after the person's last message (or after their entry if they never wrote); only the \
                 last {} messages of a conversation are kept; an opt-out is kept as a keyed hash on the suppression \
                 list so that the person is never contacted again",
                privacy.max_messages
            ),
            scoring: workflow.as_deref().and_then(|w| w.score.as_ref()).map(|expression| {
                format!(
                    "a score from 0 to 100 computed by the expression `{expression}` from the answers given; it orders \
                     the leads for the sales team and takes no decision on its own"
                )
            }),
        }
    }
}

fn purposes(workflow: Option<&Workflow>, state: &ProspectState) -> Vec<String> {
    let what = workflow.and_then(|w| w.description.clone()).unwrap_or_else(|| format!("workflow `{}`", state.workflow));
    vec![
        format!("qualifying the person's interest by conversation ({what})"),
        "handing qualified leads to the sales team".to_string(),
        "honouring opt-outs and data-subject requests".to_string(),
    ]
}

/// The team destinations of the steps the prospect went through (notify, webhook).
fn team_recipients(workflow: &Workflow, state: &ProspectState) -> Vec<Recipient> {
    let passed: Vec<&str> = state.history.iter().filter_map(|c| c.step.as_deref()).collect();
    let mut out: Vec<Recipient> = Vec::new();
    for step in workflow.steps.iter().filter(|s| passed.contains(&s.id.as_str())) {
        let destinations: Vec<String> = match &step.kind {
            StepKind::Notify { email, webhook, .. } => {
                email.iter().cloned().chain(webhook.iter().map(|u| host(u))).collect()
            }
            StepKind::Webhook { url, .. } => vec![host(url)],
            _ => continue,
        };
        for name in destinations {
            let recipient =
                Recipient { kind: "team", name, why: format!("hand-off to the sales team (step `{}`)", step.id) };
            if !out.contains(&recipient) {
                out.push(recipient);
            }
        }
    }
    out
}

/// A URL's host only: a webhook URL may carry a secret in its path or query.
fn host(url: &str) -> String {
    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "a webhook".into())
}
