//! Unit tests of the simulation: `Conversation` on the shipped workflows (entry, replies, timers,
//! send windows, replays), script compilation diagnostics, expectation failures and reports.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::catalog::{Catalog, CompileOptions};
use crate::machine::{Contact, Status, TimerPurpose};
use crate::settings::Settings;
use crate::simulate::conversation::{Conversation, Entry, Prospect, Record};
use crate::simulate::suite::run_script;
use crate::simulate::{Brain, Error, compile_script, default_start, report, stage};

fn catalog() -> Catalog {
    let sources = crate::catalog::load(Path::new("workflows"), Path::new("prompts")).expect("shipped files load");
    let outcome = crate::catalog::build(&sources, &CompileOptions::default());
    outcome.catalog.unwrap_or_else(|| panic!("shipped workflows compile: {:?}", outcome.diagnostics))
}

fn settings() -> Settings {
    Settings::development(Path::new("/nonexistent/data"))
}

fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Paris.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
}

fn conversation(workflow: &str, brain: Brain, entry: Entry, start: Option<DateTime<Utc>>) -> Conversation {
    let catalog = catalog();
    let workflow = Arc::clone(catalog.workflow(workflow).expect("shipped workflow"));
    let settings = settings();
    let start = start.unwrap_or_else(|| default_start(&workflow, &settings));
    let contact =
        Contact { name: Some("Marie Dupont".into()), phone: Some("+33612345678".into()), ..Contact::default() };
    let prospect = Prospect { contact, fields: Default::default() };
    Conversation::new(stage(&settings, workflow, brain), prospect, entry, start)
}

fn sent(records: &[Record]) -> Vec<String> {
    records.iter().filter_map(|r| if let Record::Sent { text, .. } = r { Some(text.clone()) } else { None }).collect()
}

#[test]
fn import_greets_at_the_default_start_and_waits_for_a_reply() {
    let mut c = conversation("inbound-lead", Brain::Rules, Entry::Import, None);
    assert_eq!(c.now(), paris(2026, 1, 5, 10, 0), "Monday 10:00 in the window's timezone");
    c.start().unwrap();
    let texts = sent(c.transcript());
    assert_eq!(texts.len(), 1);
    assert!(texts[0].starts_with("Bonjour Marie !"), "{texts:?}");
    let state = c.state();
    assert_eq!((state.step.as_deref(), &state.status), (Some("first_reply"), &Status::Waiting));
    let timer = state.timer.as_ref().expect("a reply timeout");
    assert_eq!((timer.at, timer.purpose), (c.now() + Duration::days(2), TimerPurpose::ReplyTimeout));
}

#[test]
fn replies_are_answered_by_the_rules_provider() {
    let mut c = conversation("inbound-lead", Brain::Rules, Entry::Import, None);
    c.start().unwrap();
    c.say("Environ 1500€ par mois").unwrap();
    let records = &c.transcript()[1..];
    assert!(matches!(&records[0], Record::Received { text, .. } if text == "Environ 1500€ par mois"));
    assert!(matches!(&records[1], Record::Answered { step, .. } if step == "qualify"));
    assert_eq!(sent(records), ["Quand souhaitez-vous démarrer ?"]);
    assert_eq!(c.state().fields["budget"], serde_json::json!(1500));
    assert_eq!((c.state().score, c.state().step.as_deref()), (Some(40), Some("first_reply")));
}

#[test]
fn the_transcript_shows_which_phrase_gave_each_field() {
    let mut c = conversation("inbound-lead", Brain::Rules, Entry::Import, None);
    c.start().unwrap();
    c.say("Budget 2k€/mois, et c'est moi qui décide").unwrap();
    let answered = c.transcript().iter().find(|r| matches!(r, Record::Answered { .. })).expect("an ai answer");
    let line = super::format::record(answered, chrono_tz::Europe::Paris);
    assert!(
        line.ends_with("(read: budget from an amount of money; decision_maker from \"c'est moi qui décide\")"),
        "{line}"
    );
}

#[test]
fn wait_fires_every_due_timer_in_order_and_stops_at_the_target() {
    let mut c = conversation("inbound-lead", Brain::Rules, Entry::Import, None);
    let start = c.now();
    c.start().unwrap();
    c.wait(Duration::hours(1)).unwrap();
    assert_eq!((c.now(), c.transcript().len()), (start + Duration::hours(1), 1), "nothing falls due in an hour");
    c.wait(Duration::days(6)).unwrap();
    let fired: Vec<(DateTime<Utc>, Option<String>)> = c
        .transcript()
        .iter()
        .filter_map(|r| if let Record::TimerFired { at, step, .. } = r { Some((*at, step.clone())) } else { None })
        .collect();
    let expected = [
        (start + Duration::days(2), Some("first_reply".to_string())),
        (start + Duration::days(5), Some("last_chance".to_string())),
    ];
    assert_eq!(fired, expected);
    assert_eq!(sent(c.transcript()).len(), 2, "greeting and nudge");
    assert_eq!(c.state().status, Status::Completed { outcome: "unresponsive".into() });
    assert_eq!(c.now(), start + Duration::hours(1) + Duration::days(6));
}

#[test]
fn a_send_outside_the_window_becomes_a_deferred_timer() {
    let sunday = paris(2026, 1, 4, 10, 0);
    let mut c = conversation("inbound-lead", Brain::Rules, Entry::Import, Some(sunday));
    c.start().unwrap();
    assert!(sent(c.transcript()).is_empty());
    let timer = c.state().timer.clone().expect("deferred send");
    assert_eq!((timer.at, timer.purpose), (paris(2026, 1, 5, 8, 0), TimerPurpose::SendWindow));
    c.wait(Duration::days(1)).unwrap();
    let at: Vec<DateTime<Utc>> =
        c.transcript().iter().filter(|r| matches!(r, Record::Sent { .. })).map(Record::at).collect();
    assert_eq!(at, [paris(2026, 1, 5, 8, 0)]);
}

#[test]
fn a_reply_during_a_wait_jumps_to_on_reply() {
    let mut c = conversation("reactivation", Brain::Rules, Entry::Import, None);
    c.start().unwrap();
    c.wait(Duration::days(1)).unwrap();
    assert_eq!(c.state().step.as_deref(), Some("pause_1"));
    c.say("Oui, toujours intéressé, ce trimestre").unwrap();
    assert_eq!(c.state().status, Status::Completed { outcome: "qualified".into() });
    assert!(c.transcript().iter().any(|r| matches!(r, Record::Notified { .. })));
}

#[test]
fn an_inbound_entry_starts_with_the_first_message() {
    let mut c = conversation("messenger-inbound", Brain::Rules, Entry::Inbound, None);
    c.start().unwrap();
    assert!(!c.entered() && c.transcript().is_empty());
    c.say("Bonjour, je voudrais des panneaux solaires").unwrap();
    assert!(c.entered());
    assert_eq!(c.state().fields["need"], serde_json::json!("solar"));
    assert_eq!(sent(c.transcript()), ["Quel est le code postal du projet ?"]);
    assert_eq!(c.state().step.as_deref(), Some("wait_answer"));
}

#[test]
fn a_replay_answers_in_order_then_runs_out() {
    let text = "- { fields: { budget: 5000 }, reply: Merci, intent: positive }\n";
    let brain = Brain::parse_replay(Path::new("answers.yaml"), text).unwrap();
    let mut c = conversation("inbound-lead", brain, Entry::Import, None);
    c.start().unwrap();
    c.say("peu importe").unwrap();
    assert_eq!(c.state().fields["budget"], serde_json::json!(5000));
    assert_eq!(sent(&c.transcript()[1..]), ["Merci"]);
    let err = c.say("encore").unwrap_err();
    assert!(matches!(err, Error::ReplayExhausted { used: 1, .. }), "{err}");
    let bad = Brain::parse_replay(Path::new("answers.yaml"), "- { feilds: {} }\n").unwrap_err();
    assert_eq!((bad.line, bad.column), (1, 5), "{bad}");
}

#[test]
fn an_unavailable_provider_fails_only_at_an_ai_step() {
    let brain = Brain::Unavailable(crate::simulate::OPENAI_UNSUPPORTED.to_string());
    let mut c = conversation("inbound-lead", brain, Entry::Import, None);
    c.start().unwrap();
    assert_eq!(sent(c.transcript()).len(), 1);
    let err = c.say("bonjour").unwrap_err();
    assert!(err.to_string().contains("support only the offline `rules` provider"), "{err}");
}

const SCRIPT: &str = "\
workflow: inbound-lead
prospect: { name: Marie Dupont, phone: \"+33612345678\" }
turns:
  - sent: [{ contains: Bonjour Marie }]
    step: first_reply
  - say: 1500 euros par mois
    fields: { budget: 1500 }
    sent: [{ text: Quand souhaitez-vous démarrer ? }]
    score: 40
  - wait: 1h
    sent: []
";

#[test]
fn a_script_runs_and_passes() {
    let catalog = catalog();
    let script = compile_script(Path::new("t.yaml"), SCRIPT, &catalog).unwrap();
    assert_eq!((script.name.as_str(), script.turns.len()), ("t", 3));
    assert!(run_script(&script, &settings(), Brain::Rules).is_empty());
}

#[test]
fn a_failed_expectation_points_at_its_line_and_shows_both_sides() {
    let text = SCRIPT.replace("score: 40", "score: 70").replace("step: first_reply", "step: qualify");
    let catalog = catalog();
    let script = compile_script(Path::new("t.yaml"), &text, &catalog).unwrap();
    let failures = run_script(&script, &settings(), Brain::Rules);
    let found: Vec<(u64, &str, &str, &str)> =
        failures.iter().map(|f| (f.at.line, f.what.as_str(), f.expected.as_str(), f.actual.as_str())).collect();
    assert_eq!(found, [(5, "step", "qualify", "first_reply"), (9, "score", "70", "40")]);
    assert_eq!(failures[1].context, "turn 2 (after say \"1500 euros par mois\")");
}

#[test]
fn every_script_problem_is_reported_with_its_position() {
    let text = "\
workflow: inbound-lead
turns:
  - { say: hi, wait: 2d }
  - { sayy: hi }
  - { step: frist_reply }
  - { wait: 2 days }
  - sent: [{ regex: '(' }, { text: a, contains: b }]
  - { fields: { budjet: 1 } }
  - {}
";
    let problems = compile_script(Path::new("t.yaml"), text, &catalog()).unwrap_err();
    let found: Vec<String> = problems.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.message)).collect();
    let expect = [
        ("3:5", "a turn does one thing"),
        ("4:7", "unknown key `sayy` (did you mean `say`?)"),
        ("5:13", "no step `frist_reply` (did you mean `first_reply`?)"),
        ("6:13", "invalid duration `2 days`"),
        ("7:21", "invalid regex `(`: unclosed group"),
        ("7:28", "exactly one of `text`, `contains` or `regex`"),
        ("8:17", "no field `budjet` (did you mean `budget`?)"),
        ("9:5", "empty turn"),
    ];
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    for (got, (at, message)) in found.iter().zip(expect) {
        assert!(got.starts_with(at) && got.contains(message), "{got} (wanted {at} {message})");
    }
    let unknown = compile_script(Path::new("t.yaml"), "workflow: inbound-leed\nturns: [{ wait: 1d }]\n", &catalog());
    let unknown = unknown.unwrap_err();
    assert!(unknown[0].message.contains("did you mean `inbound-lead`?"), "{}", unknown[0]);
}

#[test]
fn junit_escapes_text_and_counts() {
    assert_eq!(report::escape("a<b & \"c\" 'd'>\u{1}"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{fffd}");
    let catalog = catalog();
    let text = SCRIPT.replace("score: 40", "score: 70");
    let script = compile_script(Path::new("t.yaml"), &text, &catalog).unwrap();
    let failures = run_script(&script, &settings(), Brain::Rules);
    let outcome = crate::simulate::ScriptOutcome {
        file: "t.yaml".into(),
        name: "t <1>".into(),
        workflow: Some("inbound-lead".into()),
        problems: Vec::new(),
        failures,
    };
    let xml = report::junit_xml(&crate::simulate::TestRun { outcomes: vec![outcome] });
    assert!(xml.contains(r#"<testsuite name="qualifyd" tests="1" failures="1" errors="0""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="t &lt;1&gt;" classname="inbound-lead""#), "{xml}");
    assert!(xml.contains("t.yaml:9:5: turn 2 (after say &quot;1500 euros par mois&quot;): score"), "{xml}");
}

mod fuzz {
    //! Fuzz harness of the conversation-script parser (proptest; bounded by `PROPTEST_CASES`).
    use proptest::prelude::*;

    use super::*;

    fn script() -> impl Strategy<Value = String> {
        let keys = prop::sample::select(vec![
            "workflow",
            "steps",
            "- say",
            "- wait",
            "- expect",
            "  send",
            "  status",
            "  step",
            "  fields",
            "start",
            "prospect",
            "  phone",
            "name",
            "replay",
            "- import",
            "  contains",
        ]);
        let values = prop::sample::select(vec![
            "",
            "inbound-lead",
            "2d",
            "-1h",
            "x",
            "[]",
            "{}",
            "\"Budget 1500\"",
            "waiting",
            "~",
            "|",
            "${X}",
            "99999d",
        ]);
        prop::collection::vec((keys, values), 0..12)
            .prop_map(|lines| lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>())
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_script_parser_never_panics(text in prop_oneof![script(), any::<String>()]) {
            let catalog = catalog();
            if let Err(diagnostics) = compile_script(Path::new("workflows/tests/fuzz.yaml"), &text, &catalog) {
                prop_assert!(diagnostics.iter().all(|d| d.line >= 1), "{diagnostics:?}");
            }
        }
    }
}

#[test]
fn operator_turns_parse_and_exclude_other_acts() {
    use crate::simulate::script::{Act, Operator};
    let catalog = catalog();
    let text = "workflow: inbound-lead\nturns:\n  - operator: take_over\n  - operator: { say: \"Bonjour, c'est Paul\" }\n  - operator: hand_back\n";
    let script = compile_script(Path::new("workflows/tests/op.yaml"), text, &catalog).expect("compiles");
    let acts: Vec<Option<Act>> = script.turns.iter().map(|t| t.act.clone()).collect();
    let wanted = [Operator::TakeOver, Operator::Say("Bonjour, c'est Paul".into()), Operator::HandBack];
    assert_eq!(acts.len(), 3);
    for (act, wanted) in acts.iter().zip(wanted) {
        assert!(matches!(act, Some(Act::Operator(o)) if *o == wanted), "{act:?}");
    }
    let both = "workflow: inbound-lead\nturns:\n  - { say: oui, operator: hand_back }\n  - operator: hand_over\n";
    let problems: Vec<String> = compile_script(Path::new("workflows/tests/op.yaml"), both, &catalog)
        .expect_err("two problems")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("workflows/tests/op.yaml:3:5: error: a turn does one thing"), "{problems:?}");
    assert!(problems[1].starts_with("workflows/tests/op.yaml:4:"), "{problems:?}");
}
