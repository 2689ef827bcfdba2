//! Unit tests of the send rules in simulations: `simulate` and `test` fail the messages the
//! daemon's drivers fail (no contact on the channel, Messenger's 24-hour window) and read send
//! windows from the contact as the daemon stores it (normalised phone).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

use crate::catalog::{Catalog, CompileOptions, Sources};
use crate::channel::Channel;
use crate::machine::{Contact, TimerPurpose};
use crate::schedule::{SendWindow, parse_hours};
use crate::settings::Settings;
use crate::simulate::conversation::{Conversation, Entry, Prospect, Record};
use crate::simulate::suite::run_script;
use crate::simulate::{Brain, compile_script, stage};

fn catalog(workflow: &str) -> Catalog {
    let sources = Sources {
        workflows_dir: PathBuf::from("workflows"),
        prompts_dir: PathBuf::from("prompts"),
        workflows: BTreeMap::from([(PathBuf::from("workflows/w.yaml"), workflow.to_string())]),
        templates: BTreeMap::from([("t.j2".to_string(), "Bonjour".to_string())]),
    };
    let outcome = crate::catalog::build(&sources, &CompileOptions::default());
    outcome.catalog.unwrap_or_else(|| panic!("test workflow compiles: {:?}", outcome.diagnostics))
}

/// Every day 09:00-18:00 UTC, as an operator's settings could say.
fn settings() -> Settings {
    let mut settings = Settings::development(Path::new("/nonexistent/data"));
    let (start, end) = parse_hours("09:00-18:00").unwrap();
    settings.send_window = SendWindow { timezone: Tz::UTC, days: [true; 7], start, end };
    settings
}

fn failed(records: &[Record]) -> Vec<(Channel, String)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Failed { channel, reason, .. } => Some((*channel, reason.clone())),
            _ => None,
        })
        .collect()
}

fn sent(records: &[Record]) -> usize {
    records.iter().filter(|r| matches!(r, Record::Sent { .. })).count()
}

fn monday_noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap()
}

#[test]
fn a_messenger_send_outside_the_24_hour_window_fails() {
    let text = "id: w\nchannel: messenger\nentry: { import: false, inbound: messenger }\nsteps:\n  - { id: hello, send: { template: t.j2 } }\n  - { id: later, wait: { duration: 2d } }\n  - { id: again, send: { template: t.j2 } }\n  - { id: bye, end: done }\n";
    let catalog = catalog(text);
    let workflow = Arc::clone(catalog.workflow("w").unwrap());
    let contact = Contact { messenger_psid: Some("6543210987654321".into()), ..Contact::default() };
    let prospect = Prospect { contact, fields: BTreeMap::new() };
    let mut c = Conversation::new(stage(&settings(), workflow, Brain::Rules), prospect, Entry::Inbound, monday_noon());
    c.say("Bonjour").unwrap();
    assert_eq!((sent(c.transcript()), failed(c.transcript())), (1, vec![]), "inside the window: sent");
    c.wait(Duration::days(3)).unwrap();
    let reason = crate::machine::reach::OUTSIDE_MESSENGER_WINDOW.to_string();
    assert_eq!((sent(c.transcript()), failed(c.transcript())), (1, vec![(Channel::Messenger, reason)]));
}

#[test]
fn an_email_to_a_prospect_without_email_fails_in_simulate_and_test() {
    let text =
        "id: w\nchannel: email\nsteps:\n  - { id: hello, send: { template: t.j2 } }\n  - { id: bye, end: done }\n";
    let catalog = catalog(text);
    let workflow = Arc::clone(catalog.workflow("w").unwrap());
    let contact = Contact { phone: Some("+33612345678".into()), ..Contact::default() };
    let prospect = Prospect { contact, fields: BTreeMap::new() };
    let mut c = Conversation::new(stage(&settings(), workflow, Brain::Rules), prospect, Entry::Import, monday_noon());
    c.start().unwrap();
    let expected = vec![(Channel::Email, "prospect sim has no email address".to_string())];
    assert_eq!((sent(c.transcript()), failed(c.transcript())), (0, expected));

    // The same in a script: `sent` sees nothing, `failed` sees the message.
    let script = "workflow: w\nstart: \"2026-01-05T12:00:00Z\"\nprospect: { phone: \"+33612345678\" }\nturns:\n  - sent: []\n    failed: [{ text: Bonjour, channel: email }]\n    outcome: done\n";
    let script = compile_script(Path::new("workflows/tests/s.yaml"), script, &catalog).unwrap();
    let failures = run_script(&script, &settings(), Brain::Rules);
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn an_unnormalised_phone_gets_the_daemons_window() {
    // No window of its own: the daemon gives a French number (+33) the French default, shut on
    // Sundays, instead of the settings' window, which is open every day.
    let text = "id: w\nchannel: sms\nsteps:\n  - { id: hello, send: { template: t.j2 } }\n  - { id: bye, end: done }\n";
    let catalog = catalog(text);
    let script = "workflow: w\nstart: \"2026-01-04T10:00:00+01:00\"\nprospect: { phone: \"06 12 34 56 78\" }\nturns:\n  - sent: []\n";
    let script = compile_script(Path::new("workflows/tests/s.yaml"), script, &catalog).unwrap();
    let contact = &script.prospect.contact;
    assert_eq!((contact.phone.as_deref(), contact.timezone.as_deref()), (Some("+33612345678"), Some("Europe/Paris")));
    let sunday = Utc.with_ymd_and_hms(2026, 1, 4, 9, 0, 0).unwrap();
    let workflow = Arc::clone(&script.workflow);
    let mut c = Conversation::new(stage(&settings(), workflow, Brain::Rules), script.prospect, Entry::Import, sunday);
    c.start().unwrap();
    assert_eq!(sent(c.transcript()), 0, "Sunday is shut in the French window");
    let timer = c.state().timer.clone().expect("a deferred send");
    let monday_8_paris = Utc.with_ymd_and_hms(2026, 1, 5, 7, 0, 0).unwrap();
    assert_eq!((timer.at, timer.purpose), (monday_8_paris, TimerPurpose::SendWindow));

    let bad = "workflow: w\nprospect: { phone: \"12\" }\nturns:\n  - sent: []\n";
    let problems = compile_script(Path::new("workflows/tests/s.yaml"), bad, &catalog).unwrap_err();
    assert!(
        problems[0].to_string().starts_with("workflows/tests/s.yaml:2:20: error: phone number is not valid"),
        "{}",
        problems[0]
    );
}
