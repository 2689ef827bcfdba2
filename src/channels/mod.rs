//! The channel drivers that talk to real providers: SMS through Twilio's Messages API
//! ([`twilio`]), email over SMTP ([`email`]), Messenger through the Graph API Send endpoint
//! ([`messenger`]); each behind the engine's `ChannelDriver` trait, each with its own rate
//! limit ([`rate`]). [`addressing`] holds how email replies are routed back to a prospect.
//! [`build`] picks the driver of each channel from the settings (`outbox` records only).
//!
//! Errors come back as `DriverError::Transient` (the executor retries with backoff) or
//! `Permanent` (the message is marked failed), with a reason that never carries a phone number,
//! an email address or message text: providers' own messages go through [`redact`].

pub mod addressing;
pub mod email;
pub mod messenger;
pub mod rate;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{ChannelDriver, DriverError, OutboxDriver};
use crate::settings::{ChannelSettings, EmailDriver, MessengerDriver, SmsDriver};

pub use email::SmtpDriver;
pub use messenger::MessengerDriver as GraphDriver;
pub use twilio::TwilioDriver;

/// Why the drivers could not be built from the settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("channels.email: {0}")]
    Email(String),
    #[error("cannot build the HTTP client for the provider APIs: {0}")]
    Http(String),
}

/// One driver per channel.
pub struct ChannelDrivers {
    pub sms: Arc<dyn ChannelDriver>,
    pub email: Arc<dyn ChannelDriver>,
    pub messenger: Arc<dyn ChannelDriver>,
}

/// Builds the driver of each channel; a channel that is not configured or uses `driver: outbox`
/// gets the outbox driver. `public_url` is where providers call back (status callbacks,
/// unsubscribe links).
pub fn build(settings: &ChannelSettings, public_url: &str) -> Result<ChannelDrivers, Error> {
    let http = provider_client()?;
    let sms: Arc<dyn ChannelDriver> = match &settings.sms {
        Some(SmsDriver::Twilio(twilio)) => Arc::new(TwilioDriver::new(twilio, public_url, http.clone())),
        None | Some(SmsDriver::Outbox) => Arc::new(OutboxDriver),
    };
    let email: Arc<dyn ChannelDriver> = match &settings.email {
        Some(EmailDriver::Smtp(smtp)) => Arc::new(SmtpDriver::new(smtp, public_url).map_err(Error::Email)?),
        None | Some(EmailDriver::Outbox { .. }) => Arc::new(OutboxDriver),
    };
    let messenger: Arc<dyn ChannelDriver> = match &settings.messenger {
        Some(MessengerDriver::Graph(graph)) => Arc::new(GraphDriver::new(graph, http)),
        None | Some(MessengerDriver::Outbox) => Arc::new(OutboxDriver),
    };
    Ok(ChannelDrivers { sms, email, messenger })
}

/// The HTTP client for provider APIs: bounded connect and request times, so a hung provider
/// becomes a transient failure the executor retries.
fn provider_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("qualifyd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Http(e.to_string()))
}

/// A request that got no answer (connect error, timeout, reset): always worth retrying. The URL
/// is left out of the reason: it may carry a token (`access_token=`) or an account id.
pub fn transport_failure(provider: &str, err: reqwest::Error) -> DriverError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    DriverError::Transient(format!("{provider} request {kind}: {}", err.without_url()))
}

/// A provider's own error text with what could be personal data masked: runs of six or more
/// digits (phone numbers, optionally with `+` and spaces) and anything around an `@`.
pub fn redact(text: &str) -> String {
    let masked: Vec<String> =
        text.split(' ').map(|word| if word.contains('@') { "***".to_string() } else { word.to_string() }).collect();
    let text = masked.join(" ");
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        let count = digits.chars().filter(char::is_ascii_digit).count();
        if count >= 6 {
            out.push_str("***");
            if digits.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        let continues = c.is_ascii_digit() || (c == '+' && digits.is_empty()) || (c == ' ' && !digits.is_empty());
        if continues {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::channel::Channel;
    use crate::engine::Outbound;
    use crate::machine::Contact;
    use crate::machine::reach::test_prospect;
    use crate::settings::{GraphSettings, Secret, SmtpSettings, SmtpTls, TwilioSender, TwilioSettings};

    /// Every driver pointed at a port nothing listens on: a test that reaches the network fails.
    fn drivers() -> Vec<(Channel, Arc<dyn ChannelDriver>)> {
        let nowhere = "http://127.0.0.1:9".to_string();
        let twilio = TwilioSettings {
            account_sid: "AC1".into(),
            auth_token: Secret::new("t"),
            sender: TwilioSender::From("+33644630000".into()),
            api_base: nowhere.clone(),
            rate_per_second: 1,
        };
        let smtp = SmtpSettings {
            host: "127.0.0.1".into(),
            port: 9,
            username: None,
            password: None,
            tls: SmtpTls::None,
            from: "Qualifyd <leads@example.com>".into(),
            reply_domain: None,
            rate_per_second: 1,
        };
        let graph = GraphSettings {
            page_access_token: Secret::new("p"),
            app_secret: Secret::new("a"),
            verify_token: Secret::new("v"),
            api_base: nowhere,
            rate_per_second: 1,
        };
        let http = provider_client().unwrap();
        vec![
            (Channel::Sms, Arc::new(TwilioDriver::new(&twilio, "https://x.test", http.clone()))),
            (Channel::Email, Arc::new(SmtpDriver::new(&smtp, "https://x.test").unwrap())),
            (Channel::Messenger, Arc::new(GraphDriver::new(&graph, http))),
        ]
    }

    #[tokio::test]
    async fn a_prospect_without_the_channel_contact_fails_for_good_without_a_request() {
        let state = test_prospect(Contact::default());
        for (channel, driver) in drivers() {
            let outbound = Outbound { action_id: "p_1:1", prospect: &state, channel, text: "hi", at: Utc::now() };
            match driver.send(outbound).await {
                Err(DriverError::Permanent(reason)) => assert!(reason.contains("p_1 has no"), "{channel}: {reason}"),
                other => panic!("{channel}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn the_outbox_driver_applies_the_same_send_rules() {
        let state = test_prospect(Contact { messenger_psid: Some("psid".into()), ..Contact::default() });
        for channel in [Channel::Sms, Channel::Email, Channel::Messenger] {
            let outbound = Outbound { action_id: "p_1:1", prospect: &state, channel, text: "hi", at: Utc::now() };
            let reason = match OutboxDriver.send(outbound).await {
                Err(DriverError::Permanent(reason)) => reason,
                other => panic!("{channel}: {other:?}"),
            };
            let expected = match channel {
                Channel::Sms => "prospect p_1 has no phone number",
                Channel::Email => "prospect p_1 has no email address",
                Channel::Messenger => messenger::OUTSIDE_WINDOW,
            };
            assert_eq!(reason, expected);
        }
        let mut state = state;
        state.last_inbound_by_channel.insert(Channel::Messenger, Utc::now());
        let outbound =
            Outbound { action_id: "p_1:1", prospect: &state, channel: Channel::Messenger, text: "hi", at: Utc::now() };
        assert_eq!(OutboxDriver.send(outbound).await.unwrap(), "outbox-p_1:1");
    }

    #[tokio::test]
    async fn messenger_refuses_to_send_outside_the_24_hour_window() {
        let contact = Contact { messenger_psid: Some("psid".into()), ..Contact::default() };
        let mut state = test_prospect(contact);
        let (_, driver) = drivers().pop().unwrap();
        for last_inbound in [None, Some(Utc::now() - chrono::Duration::hours(25))] {
            state.last_inbound_by_channel.clear();
            // A recent SMS reply does not open Messenger's window.
            state.last_inbound_by_channel.insert(Channel::Sms, Utc::now());
            if let Some(at) = last_inbound {
                state.last_inbound_by_channel.insert(Channel::Messenger, at);
            }
            state.last_inbound_at = last_inbound;
            let outbound = Outbound {
                action_id: "p_1:1",
                prospect: &state,
                channel: Channel::Messenger,
                text: "hi",
                at: Utc::now(),
            };
            match driver.send(outbound).await {
                Err(DriverError::Permanent(reason)) => assert_eq!(reason, messenger::OUTSIDE_WINDOW),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn redacts_numbers_and_addresses() {
        assert_eq!(
            redact("The 'To' number +33 6 12 34 56 78 is not a valid phone number."),
            "The 'To' number *** is not a valid phone number."
        );
        assert_eq!(redact("550 5.1.1 <ada@example.com>: Recipient rejected"), "550 5.1.1 *** Recipient rejected");
        assert_eq!(redact("error 21211 at 10:00"), "error 21211 at 10:00");
        assert_eq!(redact("sid 1234567"), "sid ***");
    }
}
