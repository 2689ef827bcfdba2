//! The deterministic, offline `rules` provider: keywords, phrase lists and small parsers stand in
//! for a language model, so workflows run (and tests pass) without network or API key.
//!
//! Which field gets a value (how one field is read: [`super::reading`]):
//! - values stated clearly fill any field named in `extract`, wherever they are in the message:
//!   an amount next to a currency, `k`, `budget` or a per-month phrase, a count with its unit, an
//!   enum value or synonym, a declared `phrases` entry of a bool field, an email, a phone;
//! - bare values only answer the question last asked (the field whose `ask` is our last
//!   message, else the first missing required field): a bare number, a yes/no at the start of a
//!   clause, a whole short message for a string (no `?`, no intent, nothing else read in it);
//! - a known field is overwritten only by a clear number, email or phone stated again, or by
//!   anything in a message that corrects itself ("finalement plutôt 3000", "actually next year");
//! - one amount, email or phone fills one field, the first named in `extract`.
//!
//! [`rules_reading`] also says which phrase gave each field; `simulate` prints it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Message;
use super::reading::Reader;
use crate::catalog::model::{AiStep, Field, FieldType, Intents, Workflow};
use crate::machine::intent::is_opt_out;
use crate::machine::{AiAnswer, ProspectState};

/// Closing lines once every required field is known.
pub const CLOSING_FR: &str = "Merci ! Un conseiller vous recontacte très vite.";
pub const CLOSING_EN: &str = "Thanks! A colleague will get back to you shortly.";

/// What the prospect means, strongest first: an opt-out wins over everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    OptOut,
    Negative,
    Positive,
    Question,
}

impl Intent {
    fn name(self) -> &'static str {
        match self {
            Intent::OptOut => "opt_out",
            Intent::Negative => "negative",
            Intent::Positive => "positive",
            Intent::Question => "question",
        }
    }
}

#[rustfmt::skip]
const NEGATIVE: &[&str] = &[
    "not interested", "not really interested", "no longer interested", "no thanks", "no thank you",
    "not for me", "no need", "pas interesse", "pas interessee", "pas interesses", "plus interesse",
    "plus interessee", "pas vraiment interesse", "non merci", "pas pour moi", "pas besoin",
    "plus besoin", "ne m'interesse pas", "m'interesse plus", "deja un prestataire", "deja un fournisseur",
    "already have a provider", "already work with", "trompe de page", "wrong page",
];
#[rustfmt::skip]
const POSITIVE: &[&str] = &[
    "interested", "interesse", "interessee", "interesses", "yes", "yeah", "sure", "ok", "okay", "oui",
    "ouais", "d'accord", "why not", "pourquoi pas", "avec plaisir", "volontiers", "partant", "let's go",
    "sounds good", "great", "parfait", "ca m'interesse", "yep", "yup", "bien sur", "absolument", "of course",
    "definitely", "absolutely", "tout a fait",
];
#[rustfmt::skip]
const QUESTION_STARTS: &[&str] = &[
    "how", "what", "when", "where", "why", "which", "who", "combien", "comment", "quand", "pourquoi",
    "quel", "quelle", "quels", "quelles", "est ce que",
];
/// Phrases that make a question wherever they are.
const QUESTION_PHRASES: &[&str] = &["c quoi", "c est quoi", "qu est ce que", "how much", "combien"];

/// Answers an `ai` step from the prospect's last reply, without any model: see the module docs.
/// Deterministic, and total: any text gives an answer.
pub fn rules_answer(workflow: &Workflow, step: &AiStep, state: &ProspectState) -> AiAnswer {
    rules_reading(workflow, step, state).0
}

/// [`rules_answer`], with what each extracted field was read from (field -> phrase).
pub fn rules_reading(
    workflow: &Workflow,
    step: &AiStep,
    state: &ProspectState,
) -> (AiAnswer, BTreeMap<String, String>) {
    let message = Message::new(state.last_reply.as_deref().unwrap_or_default());
    let intent = intent(&message, &workflow.intents);
    let (fields, because) = extract_fields(workflow, step, state, &message, intent);
    let mut known = state.fields.clone();
    known.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    let missing = first_missing(workflow, &known);
    let reply = (step.reply && intent != Some(Intent::OptOut)).then(|| match missing {
        Some(field) => question(field),
        None if french(&message, state) => CLOSING_FR.to_string(),
        None => CLOSING_EN.to_string(),
    });
    let answer = AiAnswer {
        fields,
        reply,
        next: choose(step, missing.is_some(), intent),
        intent: intent.map(|i| i.name().to_string()),
        usage: None,
    };
    (answer, because)
}

fn intent(message: &Message, intents: &Intents) -> Option<Intent> {
    if message.words.is_empty() && !message.raw.contains('?') {
        return None;
    }
    if is_opt_out(&message.raw) || message.contains_any(&intents.opt_out) {
        return Some(Intent::OptOut);
    }
    if message.contains_any(NEGATIVE) || message.contains_any(&intents.negative) {
        return Some(Intent::Negative);
    }
    let affirmed = |p: &String| message.positions(p).into_iter().any(|at| !super::negated(message, at));
    let positive = POSITIVE.iter().map(|p| p.to_string()).chain(intents.positive.iter().cloned());
    if positive.collect::<Vec<_>>().iter().any(affirmed) {
        return Some(Intent::Positive);
    }
    let starts_like_question = QUESTION_STARTS.iter().any(|q| message.matches_at(0, q));
    let asks = message.contains_any(QUESTION_PHRASES) || message.contains_any(&intents.question);
    if message.raw.trim_end().ends_with('?') || starts_like_question || asks {
        return Some(Intent::Question);
    }
    None
}

/// The first required field without a value, in declaration order (as `missing_fields`).
fn first_missing<'w>(workflow: &'w Workflow, known: &BTreeMap<String, Value>) -> Option<&'w Field> {
    workflow.fields.iter().find(|f| f.required && known.get(&f.name).is_none_or(Value::is_null))
}

/// The field whose question was asked last: the one whose `ask` is the last message we sent
/// before the reply, else the first missing required field (the one our reply would ask).
fn asked<'w>(workflow: &'w Workflow, state: &ProspectState) -> Option<&'w Field> {
    let ours = state.recent.iter().rev().find(|m| m.direction == crate::machine::Direction::Outbound);
    let by_text = ours.and_then(|m| {
        workflow.fields.iter().find(|f| f.ask.as_deref().is_some_and(|a| m.text.trim().ends_with(a.trim())))
    });
    by_text.or_else(|| first_missing(workflow, &state.fields))
}

fn extract_fields(
    workflow: &Workflow,
    step: &AiStep,
    state: &ProspectState,
    message: &Message,
    intent: Option<Intent>,
) -> (BTreeMap<String, Value>, BTreeMap<String, String>) {
    let asked = asked(workflow, state).map(|f| f.name.as_str());
    let fields: Vec<&Field> = step.extract.iter().filter_map(|name| workflow.field(name)).collect();
    let reader = Reader::new(message);
    let mut out = BTreeMap::new();
    let mut because = BTreeMap::new();
    let mut filled_kinds: Vec<&'static str> = Vec::new();
    for field in &fields {
        let answering = asked == Some(field.name.as_str());
        let Some(reading) = reader.read(field, answering) else { continue };
        let current = state.fields.get(&field.name).filter(|v| !v.is_null());
        let kind = field.kind.name();
        let single = matches!(field.kind, FieldType::Number | FieldType::Email | FieldType::Phone);
        if current.is_some_and(|c| !reading.clear || *c == reading.value) || (single && filled_kinds.contains(&kind)) {
            continue;
        }
        filled_kinds.push(kind);
        out.insert(field.name.clone(), reading.value);
        because.insert(field.name.clone(), reading.because);
    }
    let direct = out.is_empty() && intent.is_none() && message.is_short() && !message.raw.contains('?');
    let string = fields.iter().find(|f| f.kind == FieldType::String && asked == Some(f.name.as_str()));
    if let Some(field) = string.filter(|f| direct && !message.raw.is_empty() && !out.contains_key(&f.name)) {
        out.insert(field.name.clone(), Value::String(message.raw.clone()));
        because.insert(field.name.clone(), "the whole message answering the question".into());
    }
    (out, because)
}

fn question(field: &Field) -> String {
    match &field.ask {
        Some(ask) => ask.clone(),
        None if field.description.trim().is_empty() => format!("{}?", field.name.replace('_', " ")),
        None => format!("{}?", field.description.trim().trim_end_matches(['.', '?'])),
    }
}

/// The language of the message answered, else of the last inbound message kept in the state.
fn french(message: &Message, state: &ProspectState) -> bool {
    if !message.words.is_empty() {
        return message.looks_french();
    }
    let last_inbound = state.recent.iter().rev().find(|m| m.direction == crate::machine::Direction::Inbound);
    last_inbound.is_some_and(|m| Message::new(&m.text).looks_french())
}

const NEGATIVE_IDS: &[&str] = &["not_interested", "disqualif", "negative"];
const DONE_IDS: &[&str] = &["qualif", "handoff", "hand_off"];
const MORE_IDS: &[&str] = &["ask", "missing", "more"];

/// The step to go to among `choose`: a negative choice on a negative intent, else a hand-off
/// choice when nothing is missing or an ask-more choice when something is; never on opt-out
/// (the engine unsubscribes). Ids match by substring, case-insensitively, in `choose` order.
fn choose(step: &AiStep, missing: bool, intent: Option<Intent>) -> Option<String> {
    if step.choose.is_empty() || intent == Some(Intent::OptOut) {
        return None;
    }
    let pick = |wanted: &[&str], unwanted: &[&str]| {
        step.choose.iter().map(|(id, _)| id).find(|id| {
            let id = id.to_lowercase();
            wanted.iter().any(|w| id.contains(w)) && !unwanted.iter().any(|u| id.contains(u))
        })
    };
    let negative = if intent == Some(Intent::Negative) { pick(NEGATIVE_IDS, &[]) } else { None };
    let rest = if missing { pick(MORE_IDS, NEGATIVE_IDS) } else { pick(DONE_IDS, NEGATIVE_IDS) };
    negative.or(rest).cloned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::catalog::CompileOptions;
    use crate::catalog::model::{Catalog, StepKind};
    use crate::machine::Contact;

    fn catalog() -> Catalog {
        let sources = crate::catalog::load(Path::new("workflows"), Path::new("prompts")).expect("shipped files load");
        let outcome = crate::catalog::build(&sources, &CompileOptions::default());
        outcome.catalog.unwrap_or_else(|| panic!("shipped workflows compile: {:?}", outcome.diagnostics))
    }

    fn qualify(workflow: &Workflow) -> &AiStep {
        let step = &workflow.steps[workflow.step_index("qualify").expect("a qualify step")];
        let StepKind::Ai(ai) = &step.kind else { panic!("qualify is not an ai step") };
        ai
    }

    /// Fields written `name=json;name=json`, e.g. `budget=1500;timeline="now"`.
    fn fields(text: &str) -> BTreeMap<String, Value> {
        let pair = |p: &str| p.split_once('=').map(|(k, v)| (k.to_string(), serde_json::from_str(v).expect("json")));
        text.split(';').filter(|p| !p.is_empty()).map(|p| pair(p).expect("name=value")).collect()
    }

    fn state(workflow: &Workflow, known: &str, reply: &str) -> ProspectState {
        let now = DateTime::from_timestamp(1_767_225_600, 0).expect("valid timestamp");
        let mut state = ProspectState::new("p1".into(), workflow, Contact::default(), fields(known), "tok".into(), now);
        state.last_reply = Some(reply.into());
        state
    }

    fn answer(catalog: &Catalog, workflow: &str, known: &str, reply: &str) -> AiAnswer {
        let workflow = catalog.workflow(workflow).expect("shipped workflow");
        rules_answer(workflow, qualify(workflow), &state(workflow, known, reply))
    }

    #[test]
    fn acceptance_inbound_lead_french_fixture() {
        let text =
            "Bonjour, oui je suis interesse. Budget autour de 1500 euros par mois, on veut demarrer tout de suite.";
        let got = answer(&catalog(), "inbound-lead", "", text);
        assert_eq!(got.fields, BTreeMap::from([("budget".into(), json!(1500)), ("timeline".into(), json!("now"))]));
        assert!(got.fields["budget"].is_u64());
        assert!(!got.fields.contains_key("decision_maker"));
        assert_eq!(got.reply.as_deref(), Some("Est-ce vous qui prendrez la décision ?"));
        assert_eq!((got.intent.as_deref(), got.next), (Some("positive"), None));
    }

    #[test]
    fn inbound_lead_turns_in_english_and_french() {
        const BUDGET: &str = "Quel budget mensuel envisagez-vous ?";
        const WHEN: &str = "Quand souhaitez-vous démarrer ?";
        const WHO: &str = "Est-ce vous qui prendrez la décision ?";
        const BOTH: &str = r#"budget=1500;timeline="now""#;
        let cases = [
            ("", "Hi, budget is 3k/month and we want to start ASAP", r#"budget=3000;timeline="now""#, WHO),
            ("", "1500", "budget=1500", WHEN),
            ("", "€2500, le mois prochain", r#"budget=2500;timeline="this_quarter""#, WHO),
            ("", "call me at 06 12 34 56 78", "", BUDGET),
            ("", "yes", "", BUDGET),
            ("budget=1500", "oui", "", WHEN),
            ("budget=1500", "2000", "", WHEN),
            ("budget=1500", "finalement plutôt 2k€", "budget=2000", WHEN),
            (r#"timeline="later""#, "now", "", BUDGET),
            (BOTH, "Oui c'est moi", "decision_maker=true", CLOSING_FR),
            (BOTH, "Yes, that's me", "decision_maker=true", CLOSING_EN),
            (BOTH, "No, my boss decides", "decision_maker=false", CLOSING_EN),
            (BOTH, "Non, c'est mon associée", "decision_maker=false", CLOSING_FR),
            (BOTH, "not sure", "", WHO),
        ];
        let catalog = catalog();
        for (known, text, want, reply) in cases {
            let got = answer(&catalog, "inbound-lead", known, text);
            assert_eq!((got.fields, got.reply.as_deref()), (fields(want), Some(reply)), "{text}");
        }
    }

    #[test]
    fn string_and_email_fields_messenger() {
        let cases = [
            ("", "pompe à chaleur svp", r#"need="heat_pump""#),
            ("", "75011", ""),
            (r#"need="solar""#, "  75011 Paris ", r#"postcode="75011 Paris""#),
            (r#"need="solar""#, "Where do you need it?", ""),
            (r#"need="solar""#, "jean@example.fr", r#"email="jean@example.fr""#),
            (r#"need="solar""#, "non merci", ""),
            (r#"need="solar";postcode="75011""#, "Mon mail : jean@example.fr", r#"email="jean@example.fr""#),
        ];
        let catalog = catalog();
        for (known, text, want) in cases {
            assert_eq!(answer(&catalog, "messenger-inbound", known, text).fields, fields(want), "{text}");
        }
        let got = answer(&catalog, "messenger-inbound", r#"need="solar";postcode="75011""#, "Mon mail : a@b.fr");
        assert_eq!(got.reply.as_deref(), Some(CLOSING_FR));
    }

    #[test]
    fn reactivation_bool_answers_the_question_asked() {
        let catalog = catalog();
        let got = answer(&catalog, "reactivation", "", "Oui, toujours");
        assert_eq!(
            (got.fields, got.reply.as_deref()),
            (fields("interested=true"), Some("Quand souhaiteriez-vous démarrer ?"))
        );
        let got = answer(&catalog, "reactivation", "", "Non merci");
        assert_eq!((got.fields, got.intent.as_deref()), (fields("interested=false"), Some("negative")));
    }

    #[test]
    fn intents_in_english_and_french() {
        let custom = Intents {
            opt_out: vec!["basta".into()],
            positive: vec!["banco".into()],
            negative: vec!["bof".into()],
            question: vec!["tarif".into()],
        };
        let opt_out = "STOP|Arrêtez de m'écrire|please unsubscribe me|je veux me désinscrire|Leave me alone!|basta";
        let cases = [
            (opt_out, Some("opt_out")),
            ("je ne veux plus recevoir vos SMS|Not interested. Stop.", Some("opt_out")),
            ("Non merci|pas intéressé, oui|No thanks|bof", Some("negative")),
            ("Oui je suis intéressé|ok|Interested!|banco", Some("positive")),
            ("How much is it|Combien ça coûte|c'est pour quand ?|Est-ce que c'est cher", Some("question")),
            ("le tarif svp", Some("question")),
            ("hmm||   ", None),
        ];
        for (texts, want) in cases {
            for text in texts.split('|') {
                assert_eq!(intent(&Message::new(text), &custom).map(Intent::name), want, "{text}");
            }
        }
    }

    #[test]
    fn opt_out_gets_no_reply_and_no_next() {
        let catalog = catalog();
        let workflow = catalog.workflow("inbound-lead").expect("shipped workflow");
        let mut step = qualify(workflow).clone();
        step.choose = vec![("handoff".into(), 1), ("ask_more".into(), 2)];
        let got = rules_answer(workflow, &step, &state(workflow, "", "STOP"));
        assert_eq!((got.intent.as_deref(), got.reply, got.next), (Some("opt_out"), None, None));
    }

    #[test]
    fn next_step_follows_choose_ids() {
        let catalog = catalog();
        let workflow = catalog.workflow("inbound-lead").expect("shipped workflow");
        let mut step = qualify(workflow).clone();
        step.reply = false;
        let ids = ["disqualified", "ask_more", "handoff", "not_interested"];
        step.choose = ids.iter().map(|id| (id.to_string(), 0)).collect();
        let both = r#"budget=1500;timeline="now""#;
        let cases = [
            ("", "Budget 2k€, ASAP", Some("ask_more")),
            (both, "oui c'est moi", Some("handoff")),
            (both, "Non merci", Some("disqualified")),
            ("", "pas intéressé", Some("disqualified")),
        ];
        for (known, text, want) in cases {
            let got = rules_answer(workflow, &step, &state(workflow, known, text));
            assert_eq!((got.next.as_deref(), got.reply), (want, None), "{text}");
        }
        step.choose.clear();
        assert_eq!(rules_answer(workflow, &step, &state(workflow, both, "oui")).next, None);
    }

    #[test]
    fn deterministic_and_total_on_weird_input() {
        const WEIRD: &str = " |?|€|k|k€|1,|1.|,5k|.5k€|999999999999999999999999k€|1e9|-1|+|++33|+0|@|a@|@@.|a@b.|\
            \u{0}|🙂🙂|İstanbul|ß|مرحبا|١٢٣|0,|10h|12/|/12|1/2/3/4|((((1))))|1 000 000 000 000 000 000 €|\
            ０６１２３４５６７８|\u{202f}|'|l'|_|this_|STOP?|k1k1k1|€€€€1|0.0000001k|1,5k€1,5k€|\
            +33 6 12 34 56 78 +33 6|2026-01-15|12.03.2026|10:30|";
        let (long, spaced) = ("1".repeat(5000), "1 ".repeat(2000));
        let catalog = catalog();
        for workflow in catalog.workflows.values() {
            for step in &workflow.steps {
                let StepKind::Ai(step) = &step.kind else { continue };
                for text in WEIRD.split('|').chain([long.as_str(), spaced.as_str()]) {
                    let state = state(workflow, "", text);
                    assert_eq!(rules_answer(workflow, step, &state), rules_answer(workflow, step, &state), "{text}");
                }
            }
        }
    }
}
