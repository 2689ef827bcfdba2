//! The send rules: how a prospect's contact details are normalised ([`normalise_contact`]) and
//! whether a message on a channel can reach them at a given instant ([`check_send`]). One home
//! for both, called by every channel driver (Twilio, SMTP, Graph and the `outbox` driver) and by
//! `simulate` / `test`, so a dry run fails exactly the messages production fails and computes
//! send windows and holidays from the same normalised phone number.
//!
//! Send windows and daily caps are decided earlier, by the machine (`apply` defers a send outside
//! the window of [`crate::machine::render::window_for`]); what is decided here is what only the
//! moment of delivery knows: a contact on the channel, and Messenger's 24-hour window.

use chrono::{DateTime, Duration, Utc};

use crate::channel::Channel;
use crate::machine::{Contact, ProspectState};

/// The reason given for a Messenger send outside the standard messaging window.
pub const OUTSIDE_MESSENGER_WINDOW: &str =
    "outside Messenger's 24-hour window: Messenger is not a cold-outreach channel";

/// How long after a person's last Messenger message the page may answer them
/// (`messaging_type: RESPONSE`).
pub fn messenger_window() -> Duration {
    Duration::hours(24)
}

/// Why a message cannot be delivered. Never retried: the message fails for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("prospect {prospect} has no {}", contact_name(*.channel))]
    NoContact { prospect: String, channel: Channel },
    #[error("{OUTSIDE_MESSENGER_WINDOW}")]
    OutsideMessengerWindow,
}

fn contact_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "phone number",
        Channel::Email => "email address",
        Channel::Messenger => "Messenger id (PSID)",
    }
}

/// The address of `state` on `channel`, or why a message there cannot be delivered at `now`.
pub fn check_send(state: &ProspectState, channel: Channel, now: DateTime<Utc>) -> Result<&str, Refusal> {
    let contact = &state.contact;
    let address = match channel {
        Channel::Sms => contact.phone.as_deref(),
        Channel::Email => contact.email.as_deref(),
        Channel::Messenger => contact.messenger_psid.as_deref(),
    };
    let Some(address) = address.filter(|a| !a.trim().is_empty()) else {
        return Err(Refusal::NoContact { prospect: state.id.clone(), channel });
    };
    if channel == Channel::Messenger {
        // The window opens with the person's last message on Messenger, not on any channel.
        let last = state.last_inbound_by_channel.get(&Channel::Messenger);
        if last.is_none_or(|at| now - *at >= messenger_window()) {
            return Err(Refusal::OutsideMessengerWindow);
        }
    }
    Ok(address)
}

/// Normalises a phone number to E.164; numbers without `+` are read as French.
pub fn normalise_phone(text: &str) -> Result<String, String> {
    let parsed = phonenumber::parse(Some(phonenumber::country::Id::FR), text.trim())
        .map_err(|e| format!("phone number is not valid ({e}); write it in international form such as +33612345678"))?;
    if !phonenumber::is_valid(&parsed) {
        return Err("phone number is not valid; write it in international form such as +33612345678".into());
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

pub fn normalise_email(text: &str) -> Result<String, String> {
    let email = text.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && !email.contains(' ') => Ok(email),
        _ => Err("email address is not valid".into()),
    }
}

/// The timezone of a phone number's country, for countries with a single one.
pub fn timezone_of_phone(e164: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("+33", "Europe/Paris"),
        ("+32", "Europe/Brussels"),
        ("+41", "Europe/Zurich"),
        ("+44", "Europe/London"),
        ("+49", "Europe/Berlin"),
        ("+34", "Europe/Madrid"),
        ("+39", "Europe/Rome"),
        ("+31", "Europe/Amsterdam"),
        ("+352", "Europe/Luxembourg"),
        ("+351", "Europe/Lisbon"),
        ("+353", "Europe/Dublin"),
    ];
    PREFIXES.iter().filter(|(prefix, _)| e164.starts_with(prefix)).max_by_key(|(p, _)| p.len()).map(|(_, tz)| *tz)
}

/// A contact as the daemon stores it: phone in E.164, email lower-cased, blank values dropped,
/// the timezone checked and, when not given, taken from the phone's country.
pub fn normalise_contact(contact: Contact) -> Result<Contact, String> {
    let blank = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let phone = blank(contact.phone).as_deref().map(normalise_phone).transpose()?;
    let email = blank(contact.email).as_deref().map(normalise_email).transpose()?;
    if let Some(tz) = &contact.timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(format!("unknown timezone `{tz}`; use an IANA name such as `Europe/Paris`"));
    }
    let timezone = contact.timezone.or_else(|| phone.as_deref().and_then(timezone_of_phone).map(str::to_string));
    Ok(Contact { phone, email, messenger_psid: blank(contact.messenger_psid), timezone, ..contact })
}

/// A prospect of a one-step SMS workflow with `contact`, for the tests of the send rules here
/// and in the channel drivers.
#[cfg(test)]
pub(crate) fn test_prospect(contact: Contact) -> ProspectState {
    use crate::catalog::model::WorkflowSource;
    use crate::catalog::{CompileOptions, compile_source};
    let text = "id: w\nchannel: sms\nsteps:\n  - { id: hi, send: { template: t.j2 } }\n  - { id: bye, end: done }\n";
    let templates = std::collections::BTreeMap::from([("t.j2".to_string(), "hi".to_string())]);
    let source = WorkflowSource { file: "w.yaml".into(), text: text.into(), templates };
    let workflow = compile_source(&source, &CompileOptions::default()).unwrap();
    ProspectState::new("p_1".into(), &workflow, contact, std::collections::BTreeMap::new(), "tok".into(), Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_contact_is_refused_on_its_channel_only() {
        let state = test_prospect(Contact { phone: Some("+33612345678".into()), ..Contact::default() });
        let now = Utc::now();
        assert_eq!(check_send(&state, Channel::Sms, now), Ok("+33612345678"));
        let refused = check_send(&state, Channel::Email, now).unwrap_err();
        assert_eq!(refused.to_string(), "prospect p_1 has no email address");
    }

    #[test]
    fn messenger_needs_a_messenger_message_in_the_last_24_hours() {
        let mut state = test_prospect(Contact { messenger_psid: Some("psid".into()), ..Contact::default() });
        let now = Utc::now();
        state.last_inbound_by_channel.insert(Channel::Sms, now);
        assert_eq!(check_send(&state, Channel::Messenger, now), Err(Refusal::OutsideMessengerWindow));
        state.last_inbound_by_channel.insert(Channel::Messenger, now - Duration::hours(23));
        assert_eq!(check_send(&state, Channel::Messenger, now), Ok("psid"));
        assert_eq!(
            check_send(&state, Channel::Messenger, now + Duration::hours(2)),
            Err(Refusal::OutsideMessengerWindow)
        );
    }

    #[test]
    fn contacts_are_normalised_as_the_daemon_stores_them() {
        let raw = Contact {
            phone: Some("06 12 34 56 78".into()),
            email: Some(" Marie@Example.FR ".into()),
            messenger_psid: Some(" ".into()),
            ..Contact::default()
        };
        let contact = normalise_contact(raw).unwrap();
        assert_eq!(contact.phone.as_deref(), Some("+33612345678"));
        assert_eq!(contact.email.as_deref(), Some("marie@example.fr"));
        assert_eq!((contact.messenger_psid, contact.timezone.as_deref()), (None, Some("Europe/Paris")));
        let bad = Contact { phone: Some("12".into()), ..Contact::default() };
        assert!(normalise_contact(bad).is_err());
    }
}
