//! Property tests: the YAML parser and the workflow compiler never panic, whatever the text —
//! arbitrary strings, and YAML built from the real keys of the language with random nesting —
//! and a rejected workflow always says why.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

use qualifyd::catalog::compile::{CompileOptions, TemplateSet, compile_workflow};
use qualifyd::catalog::templates::Templates;

const FILE: &str = "fuzz.yaml";

/// Keys of the workflow language, plus two that are never valid.
const KEYS: &[&str] = &[
    "id",
    "description",
    "channel",
    "entry",
    "import",
    "inbound",
    "send_window",
    "timezone",
    "days",
    "hours",
    "limits",
    "messages_per_day",
    "fields",
    "type",
    "values",
    "synonyms",
    "ask",
    "required",
    "score",
    "on_reply",
    "versioning",
    "intents",
    "opt_out",
    "context",
    "steps",
    "next",
    "send",
    "template",
    "wait",
    "duration",
    "cron",
    "wait_reply",
    "timeout",
    "on_timeout",
    "ai",
    "prompt",
    "extract",
    "reply",
    "choose",
    "on_failure",
    "branch",
    "if",
    "goto",
    "else",
    "set",
    "tags",
    "notify",
    "email",
    "webhook",
    "url",
    "end",
    "nxt",
    "Budget",
];

const STEP_KINDS: &[&str] = &["send", "wait", "wait_reply", "ai", "branch", "set", "notify", "webhook", "end"];

/// Step ids a reference may name: the generated ones (`s0`..), a final `done`, and one that never exists.
const TARGETS: &[&str] = &["s0", "s1", "s2", "s3", "s4", "done", "nope"];
const TEMPLATES: &[&str] = &["ok.j2", "ok.j2", "broken.j2", "missing.j2"];
const FIELDS: &[&str] = &["budget", "timeline", "decision_maker", "nope"];
const DURATIONS: &[&str] = &["2d", "36h", "90s", "0s", "3 days"];
const CRONS: &[&str] = &["0 9 * * 1-5", "*/5 * * * *", "61 * * * *", "0 0 9 * * 1"];
const EXPRESSIONS: &[&str] = &[
    "score >= 70",
    "fields.budget is number and fields.budget >= 1000",
    "fields.timeline == 'now'",
    "'hot' in tags",
    "intent == 'positive'",
    "fields.nope > 1",
    "scroe > 1",
    "score >=",
    "",
];

/// Values that mean something somewhere in the language, valid or nearly so.
const SCALARS: &[&str] = &[
    "fuzz",
    "s0",
    "done",
    "budget",
    "sms",
    "email",
    "messenger",
    "fax",
    "ok.j2",
    "missing.j2",
    "2d",
    "0s",
    "3 days",
    "0 9 * * 1-5",
    "score >= 70",
    "fields.budget > 1",
    "fields.",
    "yes",
    "no",
    "true",
    "false",
    "null",
    "~",
    "0",
    "1",
    "-1",
    "3.5",
    "enum",
    "number",
    "bool",
    "string",
    "follow",
    "pinned",
    "mon",
    "thr",
    "08:00-20:00",
    "20:00-08:00",
    "Europe/Paris",
    "Mars/Base",
    "qualified",
    "Bad Outcome",
    "https://example.com/x",
    "x@example.com",
    "",
    "é ü 中",
];

/// Plain scalars that are not plain in YAML: they mostly make the document invalid.
const RISKY: &[&str] = &["a: b", "- c", "[x", "{{", "&anchor", "*alias", "1e400", "!tag", "| x", "# c"];

/// A YAML tree to print: plain or quoted scalars, block or flow collections.
#[derive(Debug, Clone)]
enum Yaml {
    Plain(String),
    Quoted(String),
    Seq(Vec<Yaml>, bool),
    Map(Vec<(String, Yaml)>, bool),
}

fn plain(text: &str) -> Yaml {
    Yaml::Plain(text.to_string())
}

fn map(entries: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), true)
}

fn list(items: Vec<&str>) -> Yaml {
    Yaml::Seq(items.into_iter().map(plain).collect(), true)
}

/// Keeps the first of each key: duplicate keys are a YAML error, tested by the arbitrary-text cases.
fn dedupe(entries: Vec<(String, Yaml)>) -> Vec<(String, Yaml)> {
    let mut seen = std::collections::BTreeSet::new();
    entries.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect()
}

fn scalar() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        12 => select(SCALARS).prop_map(plain),
        6 => select(SCALARS).prop_map(|s| Yaml::Quoted(s.to_string())),
        2 => "[a-z_0-9 .:-]{0,8}".prop_map(Yaml::Quoted),
        1 => select(RISKY).prop_map(plain),
    ]
}

fn tree() -> impl Strategy<Value = Yaml> {
    scalar().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..4), any::<bool>())
                .prop_map(|(items, flow)| Yaml::Seq(items, flow)),
            (prop::collection::vec((select(KEYS).prop_map(str::to_string), inner), 0..5), any::<bool>())
                .prop_map(|(entries, flow)| Yaml::Map(dedupe(entries), flow)),
        ]
    })
}

/// One step kind with a body shaped like the real one (valid or nearly), or anything at all.
fn kind() -> impl Strategy<Value = (String, Yaml)> {
    let target = || select(TARGETS).prop_map(plain);
    let kind = |name: &str, body: Yaml| (name.to_string(), body);
    prop_oneof![
        select(TEMPLATES).prop_map(move |t| kind("send", map(vec![("template", plain(t))]))),
        (select(DURATIONS), select(CRONS), 0..3u8).prop_map(move |(d, c, pick)| {
            let body = match pick {
                0 => vec![("duration", plain(d))],
                1 => vec![("cron", Yaml::Quoted(c.to_string()))],
                _ => vec![("duration", plain(d)), ("cron", Yaml::Quoted(c.to_string()))],
            };
            kind("wait", map(body))
        }),
        (select(DURATIONS), target())
            .prop_map(move |(d, t)| kind("wait_reply", map(vec![("timeout", plain(d)), ("on_timeout", t)]))),
        (
            select(TEMPLATES),
            prop::sample::subsequence(FIELDS, 0..3),
            any::<bool>(),
            prop::sample::subsequence(TARGETS, 0..2)
        )
            .prop_map(move |(p, extract, reply, choose)| {
                let reply = plain(if reply { "true" } else { "false" });
                let body =
                    vec![("prompt", plain(p)), ("extract", list(extract)), ("reply", reply), ("choose", list(choose))];
                kind("ai", map(body))
            }),
        (prop::collection::vec((select(EXPRESSIONS), target()), 0..3), prop::option::of(target())).prop_map(
            move |(arms, otherwise)| {
                let mut entries: Vec<Yaml> = arms
                    .into_iter()
                    .map(|(e, t)| map(vec![("if", Yaml::Quoted(e.to_string())), ("goto", t)]))
                    .collect();
                entries.extend(otherwise.map(|t| map(vec![("else", t)])));
                kind("branch", Yaml::Seq(entries, false))
            }
        ),
        (select(FIELDS), select(EXPRESSIONS), prop::sample::subsequence(&["hot", "cold"][..], 0..2)).prop_map(
            move |(f, e, tags)| {
                let fields = map(vec![(f, Yaml::Quoted(e.to_string()))]);
                kind("set", map(vec![("fields", fields), ("tags", list(tags))]))
            }
        ),
        (select(&["sales@example.com", "nobody"][..]), select(TEMPLATES))
            .prop_map(move |(e, t)| kind("notify", map(vec![("email", plain(e)), ("template", plain(t))]))),
        select(&["https://example.com/hook", "ftp://example.com"][..])
            .prop_map(move |u| kind("webhook", map(vec![("url", plain(u))]))),
        select(&["qualified", "unresponsive", "Bad Outcome"][..]).prop_map(move |o| kind("end", plain(o))),
        (select(STEP_KINDS), tree()).prop_map(|(k, body)| (k.to_string(), body)),
    ]
}

/// `{ id, <kind>: <body>, next? }`: ids are `s0`, `s1`... by position unless replaced by a random one.
fn steps() -> impl Strategy<Value = Yaml> {
    let id = prop_oneof![9 => Just(None), 1 => select(&["s0", "done", "Bad-Id"][..]).prop_map(Some)];
    let next = prop::option::weighted(0.2, select(TARGETS));
    let extra = prop::option::weighted(0.05, (select(KEYS), tree()));
    let step = (id, kind(), next, extra, any::<bool>());
    (prop::collection::vec(step, 0..6), prop::bool::weighted(0.7)).prop_map(|(steps, ends)| {
        let mut items: Vec<Yaml> = steps
            .into_iter()
            .enumerate()
            .map(|(i, (id, (kind, body), next, extra, flow))| {
                let mut entries =
                    vec![("id".to_string(), Yaml::Plain(id.map_or(format!("s{i}"), str::to_string))), (kind, body)];
                entries.extend(next.map(|n| ("next".to_string(), plain(n))));
                entries.extend(extra.map(|(k, v)| (k.to_string(), v)));
                Yaml::Map(dedupe(entries), flow)
            })
            .collect();
        if ends {
            items.push(map(vec![("id", plain("done")), ("end", plain("qualified"))]));
        }
        Yaml::Seq(items, false)
    })
}

fn fields() -> Yaml {
    map(vec![
        ("budget", map(vec![("type", plain("number")), ("ask", Yaml::Quoted("Budget?".into()))])),
        (
            "timeline",
            map(vec![("type", plain("enum")), ("values", list(vec!["now", "later"])), ("ask", plain("When?"))]),
        ),
        ("decision_maker", map(vec![("type", plain("bool"))])),
    ])
}

/// A workflow-shaped document: mostly the right top-level keys, with random values here and there.
fn workflow() -> impl Strategy<Value = Yaml> {
    let id = prop::option::weighted(0.95, prop_oneof![9 => Just("fuzz"), 1 => Just("other")]);
    let channel = prop::option::weighted(0.95, select(&["sms", "email", "messenger", "fax"][..]));
    let header = (
        id,
        channel,
        prop::option::of(Just(())),
        prop::option::weighted(0.3, select(EXPRESSIONS)),
        prop::option::weighted(0.3, select(TARGETS)),
    );
    let extra = prop::collection::vec((select(KEYS), tree()), 0..2);
    (header, prop::option::weighted(0.95, steps()), extra).prop_map(
        |((id, channel, with_fields, score, on_reply), steps, extra)| {
            let mut entries = Vec::new();
            entries.extend(id.map(|i| ("id".to_string(), plain(i))));
            entries.extend(channel.map(|c| ("channel".to_string(), plain(c))));
            entries.extend(with_fields.map(|()| ("fields".to_string(), fields())));
            entries.extend(score.map(|s| ("score".to_string(), Yaml::Quoted(s.to_string()))));
            entries.extend(on_reply.map(|t| ("on_reply".to_string(), plain(t))));
            entries.extend(steps.map(|s| ("steps".to_string(), s)));
            entries.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
            Yaml::Map(dedupe(entries), false)
        },
    )
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn flow(node: &Yaml) -> String {
    match node {
        Yaml::Plain(s) => s.clone(),
        Yaml::Quoted(s) => quote(s),
        Yaml::Seq(items, _) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Yaml::Map(entries, _) => {
            let inner: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {}", flow(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Prints `node` in block style at `indent`, falling back to flow style where it asks for it.
fn block(node: &Yaml, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Yaml::Seq(items, false) if !items.is_empty() => {
            for item in items {
                match item {
                    Yaml::Seq(_, false) | Yaml::Map(_, false) if !is_empty(item) => {
                        out.push_str(&format!("{pad}-\n"));
                        block(item, indent + 2, out);
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", flow(item))),
                }
            }
        }
        Yaml::Map(entries, false) if !entries.is_empty() => {
            for (key, value) in entries {
                match value {
                    Yaml::Seq(_, false) | Yaml::Map(_, false) if !is_empty(value) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        block(value, indent + 2, out);
                    }
                    _ => out.push_str(&format!("{pad}{key}: {}\n", flow(value))),
                }
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", flow(node))),
    }
}

fn is_empty(node: &Yaml) -> bool {
    match node {
        Yaml::Seq(items, _) => items.is_empty(),
        Yaml::Map(entries, _) => entries.is_empty(),
        _ => false,
    }
}

fn render(node: &Yaml) -> String {
    let mut out = String::new();
    block(node, 0, &mut out);
    out
}

/// Compiles `text` against one valid and one broken template; checks what must always hold.
fn check_compile(text: &str) -> Result<(), TestCaseError> {
    let mut sources = BTreeMap::new();
    sources.insert("ok.j2".to_string(), "Hi {{ prospect.first_name | default('there', true) }}".to_string());
    sources.insert("broken.j2".to_string(), "{% if %}".to_string());
    let (compiled, _) = Templates::compile(&sources);
    let set = TemplateSet { dir: Path::new("prompts"), sources: &sources, compiled: &compiled };
    let (workflow, diagnostics) = compile_workflow(Path::new(FILE), text, &set, &CompileOptions::default());
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    match workflow {
        Some(_) => prop_assert_eq!(errors, 0, "accepted with errors: {:?}", diagnostics),
        None => prop_assert!(errors > 0, "rejected without saying why:\n{}", text),
    }
    let last_line = text.lines().count().max(1) as u64 + 1;
    for d in &diagnostics {
        // In the workflow, or in a template it uses (what a template does with the declarations).
        prop_assert!(d.file.as_path() == Path::new(FILE) || d.file.starts_with("prompts"), "{}", d);
        prop_assert!(d.line >= 1 && d.column >= 1 && d.line <= last_line, "bad position in {}\n{}", d, text);
    }
    Ok(())
}

fn config() -> Config {
    Config { cases: 256, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = qualifyd::yaml::parse(Path::new(FILE), &text);
    }

    #[test]
    fn parse_never_panics_on_yaml_punctuation(text in "[a-z0-9 :\\-\\[\\]{},#&*!|>'\"%@`?\n\t]{0,80}") {
        let _ = qualifyd::yaml::parse(Path::new(FILE), &text);
    }

    #[test]
    fn compile_never_panics_on_arbitrary_text(text in any::<String>()) {
        check_compile(&text)?;
    }

    #[test]
    fn compile_never_panics_on_random_trees_of_real_keys(node in tree()) {
        check_compile(&render(&node))?;
    }

    #[test]
    fn compile_never_panics_on_random_workflows(node in workflow()) {
        check_compile(&render(&node))?;
    }
}

#[test]
fn the_grammar_produces_yaml_that_compiles() {
    // Guards the generator: a document it prints, fixed by hand, parses and compiles cleanly.
    let steps = vec![
        Yaml::Map(
            vec![
                ("id".into(), Yaml::Plain("a".into())),
                ("send".into(), Yaml::Map(vec![("template".into(), Yaml::Quoted("ok.j2".into()))], true)),
            ],
            false,
        ),
        Yaml::Map(
            vec![("id".into(), Yaml::Plain("done".into())), ("end".into(), Yaml::Plain("qualified".into()))],
            true,
        ),
    ];
    let node = Yaml::Map(
        vec![
            ("id".into(), Yaml::Plain("fuzz".into())),
            ("channel".into(), Yaml::Plain("sms".into())),
            ("steps".into(), Yaml::Seq(steps, false)),
        ],
        false,
    );
    let text = render(&node);
    let mut sources = BTreeMap::new();
    sources.insert("ok.j2".to_string(), "Hi".to_string());
    let (compiled, _) = Templates::compile(&sources);
    let set = TemplateSet { dir: Path::new("prompts"), sources: &sources, compiled: &compiled };
    let (workflow, diagnostics) = compile_workflow(Path::new(FILE), &text, &set, &CompileOptions::default());
    assert!(workflow.is_some() && diagnostics.is_empty(), "{text}\n{diagnostics:?}");
}
