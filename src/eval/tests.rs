//! `qualifyd eval` on small corpora against the shipped workflows: located corpus problems, the
//! report and its exit decision, JUnit, and opt-outs decided before any provider.

use std::path::{Path, PathBuf};

use super::*;
use crate::catalog::CompileOptions;

fn catalog() -> crate::catalog::Catalog {
    let sources = crate::catalog::load(Path::new("workflows"), Path::new("prompts")).expect("shipped files load");
    crate::catalog::build(&sources, &CompileOptions::default()).catalog.expect("shipped workflows compile")
}

fn problems(text: &str) -> Vec<String> {
    let err = compile_corpus(Path::new("c.yaml"), text, &catalog()).expect_err("the corpus is invalid");
    err.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect()
}

#[test]
fn every_corpus_problem_is_located_at_once() {
    let text = "workflow: inbound-lead\nthresholds: { f1: 1.5, fields: { budgte: 0.9 } }\ncases:\n\
                - { reply: \"a\", expect: { budgte: 1 } }\n\
                - { reply: \"b\", expect: { budget: \"lots\" } }\n\
                - { reply: \"c\", intent: positiv }\n\
                - { reply: \"d\", asked: timelin }\n\
                - { reply: \"e\", known: { timeline: soon } }\n";
    let got = problems(text);
    assert_eq!(got.len(), 7, "{got:#?}");
    let want = [
        ("2:", "threshold `f1` is 1.5: write a number from 0 to 1"),
        ("2:", "threshold for `budgte`, which the step does not extract (did you mean `budget`?)"),
        ("4:", "`expect`: `budgte` is not a field the step extracts (did you mean `budget`?)"),
        ("5:", "`expect`: `fields.budget` must be"),
        ("6:", "unknown intent `positiv` (did you mean `positive`?)"),
        ("7:", "`asked`: unknown field `timelin` (did you mean `timeline`?)"),
        ("8:", "`known`: `fields.timeline` must be one of"),
    ];
    for (line, message) in want {
        assert!(got.iter().any(|g| g.starts_with(line) && g.contains(message)), "no {line} {message} in {got:#?}");
    }
}

#[test]
fn unknown_workflow_and_missing_cases() {
    assert_eq!(
        problems("workflow: inbound-leed\ncases: []\n"),
        ["1:11: unknown workflow `inbound-leed` (did you mean `inbound-lead`?)"]
    );
    assert_eq!(problems("workflow: inbound-lead\ncases: []\n"), ["2:1: the corpus has no cases"]);
}

fn corpus_file(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("small.yaml");
    std::fs::write(&file, text).expect("write the corpus");
    file
}

#[test]
fn scores_print_misses_with_their_line_and_fail_below_the_threshold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = corpus_file(
        dir.path(),
        "workflow: inbound-lead\nthresholds: { f1: 0.9, intent: 0.5 }\ncases:\n\
         - { reply: \"budget 2k€ par mois, asap\", expect: { budget: 2000, timeline: now } }\n\
         - { asked: budget, reply: \"on verra\", expect: { budget: 900 } }\n\
         - { asked: budget, reply: \"STOP\", intent: opt_out }\n",
    );
    let junit = dir.path().join("eval.xml");
    let options = EvalOptions {
        config: "config.example.yaml".into(),
        paths: vec![file.clone()],
        junit: Some(junit.clone()),
        ..EvalOptions::default()
    };
    let mut out = Vec::new();
    let run = run_eval(&options, &mut out).expect("the evaluation runs");
    let text = String::from_utf8(out).expect("utf-8");
    let budget = run.files[0].score.fields["budget"];
    assert_eq!((budget.true_positive, budget.false_positive, budget.false_negative), (1, 0, 1), "{text}");
    assert!(text.contains(&format!("{}:5: budget: expected 900, got nothing", file.display())), "{text}");
    assert!(text.contains("budget F1 0.67 is below the threshold 0.90"), "{text}");
    assert!(text.contains("intent accuracy         1.00"), "{text}");
    assert!(run.failed());
    let xml = std::fs::read_to_string(junit).expect("junit written");
    assert!(xml.contains("<testcase classname=\"inbound-lead\" name=\"budget F1\"><failure"), "{xml}");
    assert!(xml.contains("name=\"timeline F1\"></testcase>"), "{xml}");
}

#[test]
fn opt_outs_are_decided_by_the_lexicon_before_any_provider() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = corpus_file(dir.path(), "workflow: inbound-lead\ncases:\n  - { reply: \"STOP\", intent: opt_out }\n");
    let replay = dir.path().join("empty.yaml");
    std::fs::write(&replay, "[]\n").expect("write replay");
    let options = EvalOptions {
        config: "config.example.yaml".into(),
        provider: ProviderChoice::OpenAi,
        paths: vec![file],
        replay: Some(replay),
        ..EvalOptions::default()
    };
    let run = run_eval(&options, &mut Vec::new()).expect("no provider answer needed");
    assert_eq!((run.provider.as_str(), run.files[0].score.intent_accuracy()), ("openai (replay)", 1.0));
}

#[test]
fn openai_without_settings_or_replay_says_what_to_do() {
    let options = EvalOptions {
        config: "config.example.yaml".into(),
        provider: ProviderChoice::OpenAi,
        ..EvalOptions::default()
    };
    let err = run_eval(&options, &mut Vec::new()).expect_err("the example settings use rules");
    assert!(err.to_string().contains("--provider openai needs an `ai:` section with `provider: openai`"), "{err}");
}
