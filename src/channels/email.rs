//! Email over SMTP with lettre (`AsyncSmtpTransport`, pooled): STARTTLS, TLS from the first byte,
//! or no encryption (local test sinks only), per `channels.email.tls`.
//!
//! Every email carries what routes its answer back and what lets the recipient leave:
//! - `Message-ID: <{prospect}.{seq}@{sender domain}>` from the outbox action id, so a retried
//!   send keeps its id and an answer's `In-Reply-To` names the prospect;
//! - `Reply-To: {local}+{prospect}@{reply_domain}` (plus-addressing), read back by the inbound
//!   email webhooks;
//! - `List-Unsubscribe: <{public_url}/u/{token}>` and `List-Unsubscribe-Post:
//!   List-Unsubscribe=One-Click` (RFC 8058), which large mailbox providers require of bulk mail.
//!
//! The subject: when the rendered text starts with a `Subject: ...` line, that line (without the
//! prefix) is the subject and the rest is the body; otherwise the first line of the text, cut at
//! 78 characters, is also the subject. The body is UTF-8 plain text.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::addressing::{domain_of, message_id, reply_address};
use super::rate::RateLimiter;
use super::redact;
use crate::engine::{BoxFuture, ChannelDriver, DriverError, Outbound};
use crate::settings::{SmtpSettings, SmtpTls};

const SUBJECT_PREFIX: &str = "Subject: ";
const MAX_DEFAULT_SUBJECT: usize = 78;

pub struct SmtpDriver {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of `Message-ID`s: the sender's.
    id_domain: String,
    reply_domain: Option<String>,
    public_url: String,
    limiter: RateLimiter,
}

impl SmtpDriver {
    /// Sets the transport up; nothing connects until the first send.
    pub fn new(settings: &SmtpSettings, public_url: &str) -> Result<SmtpDriver, String> {
        let from: Mailbox =
            settings.from.parse().map_err(|e| format!("`from` is not a usable sender address ({e})"))?;
        let id_domain = domain_of(&settings.from).unwrap_or("localhost").to_string();
        let host = settings.host.as_str();
        let tls_error = |e: lettre::transport::smtp::Error| format!("cannot set up TLS for `{host}`: {e}");
        let builder = match settings.tls {
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(settings.port).timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
        }
        Ok(SmtpDriver {
            transport: builder.build(),
            from,
            id_domain,
            reply_domain: settings.reply_domain.clone(),
            public_url: public_url.trim_end_matches('/').to_string(),
            limiter: RateLimiter::new(settings.rate_per_second),
        })
    }

    /// The email for this send, and its `Message-ID` without the angle brackets.
    fn compose(&self, message: &Outbound<'_>) -> Result<(Message, String), DriverError> {
        let prospect = message.prospect;
        let address = message.address()?;
        let address = address
            .parse()
            .map_err(|_| DriverError::Permanent(format!("prospect {}'s email address is not valid", prospect.id)))?;
        let to = Mailbox::new(prospect.contact.name.clone(), address);
        let (subject, body) = split_subject(message.text);
        let id = message_id(message.action_id, &self.id_domain);
        let unsubscribe = format!("<{}/u/{}>", self.public_url, prospect.unsubscribe_token);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(id.clone()))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), unsubscribe))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_string(),
            ))
            .header(ContentType::TEXT_PLAIN);
        let reply_to = reply_address(self.from.email.as_ref(), self.reply_domain.as_deref(), &prospect.id);
        if let Some(reply_to) = reply_to.and_then(|r| r.parse::<Mailbox>().ok()) {
            builder = builder.reply_to(reply_to);
        }
        let email = builder
            .body(body)
            .map_err(|e| DriverError::Permanent(format!("cannot build the email: {}", redact(&e.to_string()))))?;
        Ok((email, id.trim_matches(|c| c == '<' || c == '>').to_string()))
    }

    /// A plain internal email to the team: no reply routing, no unsubscribe headers.
    async fn deliver_team(&self, action_id: &str, to: &str, text: &str) -> Result<(), DriverError> {
        let address = to.parse().map_err(|_| DriverError::Permanent("the team address is not valid".into()))?;
        let (subject, body) = split_subject(text);
        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, address))
            .subject(subject)
            .message_id(Some(message_id(action_id, &self.id_domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| DriverError::Permanent(format!("cannot build the email: {}", redact(&e.to_string()))))?;
        self.limiter.acquire().await;
        self.transport.send(email).await.map_err(classify)?;
        Ok(())
    }

    async fn deliver(&self, message: Outbound<'_>) -> Result<String, DriverError> {
        let (email, id) = self.compose(&message)?;
        self.limiter.acquire().await;
        self.transport.send(email).await.map_err(classify)?;
        Ok(id)
    }
}

/// 5xx replies and refused addresses are permanent; 4xx replies, connection and TLS problems,
/// timeouts are transient.
fn classify(err: lettre::transport::smtp::Error) -> DriverError {
    let text = redact(&err.to_string());
    if err.is_permanent() || err.is_client() {
        DriverError::Permanent(format!("the SMTP server refused the email: {text}"))
    } else {
        DriverError::Transient(format!("SMTP delivery failed: {text}"))
    }
}

/// `(subject, body)` of a rendered text (see the module docs).
pub fn split_subject(text: &str) -> (String, String) {
    if let Some(rest) = text.strip_prefix(SUBJECT_PREFIX) {
        let (subject, body) = rest.split_once('\n').unwrap_or((rest, ""));
        return (subject.trim().to_string(), body.trim_start_matches(['\r', '\n']).to_string());
    }
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    (shorten(first, MAX_DEFAULT_SUBJECT), text.to_string())
}

/// `text` cut to at most `max` characters at a word boundary, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > max / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([' ', ',', ';', ':']))
}

impl ChannelDriver for SmtpDriver {
    fn send<'a>(&'a self, message: Outbound<'a>) -> BoxFuture<'a, Result<String, DriverError>> {
        Box::pin(self.deliver(message))
    }

    fn name(&self) -> &'static str {
        "smtp"
    }

    fn notify_team<'a>(
        &'a self,
        action_id: &'a str,
        to: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.deliver_team(action_id, to, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        let (subject, body) = split_subject("Subject: Votre projet\n\nBonjour Ada,\nÇa avance ?");
        assert_eq!((subject.as_str(), body.as_str()), ("Votre projet", "Bonjour Ada,\nÇa avance ?"));
        let (subject, body) = split_subject("Bonjour Ada,\n\nAvez-vous toujours un projet ?");
        assert_eq!(subject, "Bonjour Ada,");
        assert!(body.starts_with("Bonjour Ada,\n"));
        let long =
            "Il y a quelque temps, vous vous étiez intéressé(e) à Acme Solar et nous voulions savoir où vous en êtes";
        let (subject, _) = split_subject(long);
        assert!(subject.chars().count() <= MAX_DEFAULT_SUBJECT && subject.ends_with('…'), "{subject}");
        assert!(subject.starts_with("Il y a quelque temps, vous vous étiez"), "{subject}");
        assert_eq!(split_subject("").0, "");
    }
}
