//! Unit tests of the checks `qualifyd check` adds for mistakes that otherwise show only when a
//! prospect reaches them: unknown filters/tests/functions, undeclared nested fields, enum values,
//! `set` types, unreachable channels and an unguarded optional name. Every one is located and
//! all of them come out of one build.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::catalog::{CompileOptions, Sources};

const HEADER: &str = "id: lead\nchannel: sms\nfields:\n  budget: { type: number, ask: \"Budget ?\" }\n  timeline: { type: enum, values: [now, later], synonyms: { now: [asap] }, ask: \"Quand ?\" }\n";

/// Builds `workflow` (after the header) with the templates; every diagnostic as text.
fn check(entry: &str, steps: &str, templates: &[(&str, &str)]) -> Vec<String> {
    let text = format!("{HEADER}{entry}steps:\n{steps}");
    let sources = Sources {
        workflows_dir: PathBuf::from("workflows"),
        prompts_dir: PathBuf::from("prompts"),
        workflows: BTreeMap::from([(PathBuf::from("workflows/lead.yaml"), text)]),
        templates: templates.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect(),
    };
    let outcome = crate::catalog::build(&sources, &CompileOptions::default());
    outcome.diagnostics.iter().map(|d| d.to_string()).collect()
}

const END: &str = "  - { id: done, end: qualified }\n";

#[test]
fn unknown_filters_tests_and_functions_are_located_with_a_suggestion() {
    let template = "Bonjour {{ last_reply | frobnicate }}\n{{ score | random }} {{ last_reply | defualt('?') }}\n{% if score is evn %}{{ lipsum_x() }}{% endif %}{{ score | round }}";
    let steps = format!("  - {{ id: hi, send: {{ template: t.j2 }} }}\n{END}");
    let found = check("", &steps, &[("t.j2", template)]);
    assert_eq!(
        found,
        [
            "prompts/t.j2:1:25: error: template uses unknown filter `frobnicate`: it would fail when rendered",
            "prompts/t.j2:2:12: error: template uses unknown filter `random`: it would fail when rendered",
            "prompts/t.j2:2:38: error: template uses unknown filter `defualt` (did you mean `default`?): it would fail when rendered",
            "prompts/t.j2:3:16: error: template uses unknown test `evn` (did you mean `even`?): it would fail when rendered",
            "prompts/t.j2:3:25: error: template uses unknown function `lipsum_x`: it would fail when rendered",
        ]
    );
}

#[test]
fn a_nested_field_typo_and_an_unknown_enum_value_in_templates() {
    let template = "Budget {{ fields.budgte | default(\"?\") }}{% if fields.timeline == 'nwo' %} vite{% endif %}";
    let steps =
        format!("  - {{ id: hi, send: {{ template: t.j2 }} }}\n  - {{ id: again, send: {{ template: t.j2 }} }}\n{END}");
    let found = check("", &steps, &[("t.j2", template)]);
    assert_eq!(
        found,
        [
            "prompts/t.j2:1:11: error: template uses `fields.budgte`, which workflow `lead` does not declare (did you mean `budget`?); fields: budget, timeline",
            "prompts/t.j2:1:67: error: `fields.timeline` is compared with `'nwo'`, which is not one of its values (did you mean `now`?): the comparison is never true; values: now, later",
        ],
        "reported once though two steps use the template"
    );
}

#[test]
fn enum_literals_in_expressions_and_set_types() {
    let steps = "  - id: route\n    branch:\n      - { if: \"fields.timeline == 'nwo'\", goto: tag }\n      - { if: \"fields.timeline in ['asap', 'later']\", goto: tag }\n      - { else: tag }\n  - id: tag\n    set: { fields: { budget: \"'high'\", timeline: \"'soon'\" } }\n  - id: fine\n    set: { fields: { budget: \"fields.budget * 2\", timeline: \"'later'\" } }\n".to_string() + END;
    let found = check("", &steps, &[]);
    assert_eq!(
        found,
        [
            "workflows/lead.yaml:9:15: error: `fields.timeline` is compared with `'nwo'`, which is not one of its values (did you mean `now`?): the comparison is never true; values: now, later",
            "workflows/lead.yaml:10:15: error: `fields.timeline` is compared with `'asap'`, which is not one of its values (`asap` is a synonym of `now`: compare with `'now'`): the comparison is never true; values: now, later",
            "workflows/lead.yaml:13:30: error: `set` stores a string in field `budget`, which is declared `type: number`: the prospect would fail here",
            "workflows/lead.yaml:13:50: error: `set` stores `'soon'` in enum field `timeline`, which is not one of its values; values: now, later",
        ]
    );
}

#[test]
fn a_send_on_a_channel_the_prospects_cannot_have() {
    let steps = format!("  - {{ id: hi, send: {{ template: t.j2, channel: email }} }}\n{END}");
    let inbound_only = check("entry: { import: false, inbound: sms }\n", &steps, &[("t.j2", "Bonjour")]);
    assert_eq!(
        inbound_only,
        [
            "workflows/lead.yaml:8:48: error: this `send` goes out on email, but the workflow's prospects enter only by writing on sms and have no email address: it would fail for every one of them"
        ]
    );
    let imported = check("", &steps, &[("t.j2", "Bonjour")]);
    assert_eq!(
        imported,
        [
            "workflows/lead.yaml:7:48: warning: this `send` goes out on email, but the workflow's prospects are only sure to have a sms contact: it fails for everyone imported without a email address"
        ]
    );
}

#[test]
fn an_optional_name_printed_without_a_guard_is_a_warning() {
    let steps =
        format!("  - {{ id: hi, send: {{ template: t.j2 }} }}\n  - {{ id: ok, send: {{ template: ok.j2 }} }}\n{END}");
    let guarded = "Bonjour{% if prospect.first_name %} {{ prospect.first_name }}{% endif %} {{ prospect.name | default('', true) }}";
    let unguarded = "Bonjour {{ prospect.name }} ! {{ prospect.first_name | default('x') }}";
    let found = check("", &steps, &[("t.j2", unguarded), ("ok.j2", guarded)]);
    assert_eq!(
        found,
        [
            "prompts/t.j2:1:12: warning: `{{ prospect.name }}` prints \"none\" for a prospect without a name (it is optional): write `{{ prospect.name | default(\"\", true) }}` or guard it with `{% if prospect.name %}`",
            "prompts/t.j2:1:34: warning: `{{ prospect.first_name }}` prints \"none\" for a prospect without a name (it is optional): write `{{ prospect.first_name | default(\"\", true) }}` or guard it with `{% if prospect.first_name %}`",
        ]
    );
}

#[test]
fn a_path_that_ends_right_after_a_question_is_a_warning() {
    let steps = "  - { id: ask, send: { template: ask.j2 } }\n  - { id: route, branch: [{ if: \"score > 3\", goto: listen }, { else: done }] }\n  - { id: listen, wait_reply: { timeout: 2d, on_timeout: done } }\n  - { id: bye, send: { template: bye.j2 } }\n  - { id: done, end: qualified }\n";
    let templates =
        [("ask.j2", "Quel est votre budget ?{% if score %} {# rien #}{% endif %}\n"), ("bye.j2", "Merci, au revoir.")];
    let found = check("", steps, &templates);
    assert_eq!(
        found,
        [
            "workflows/lead.yaml:7:7: warning: step `ask` asks a question (`ask.j2` ends with `?`) and a path from it reaches `end` (step `done`) without a `wait_reply`: the conversation can end on an unanswered question; add a `wait_reply` after it, or close without a question"
        ]
    );
    // Every path waits for the answer: no warning; an output at the end is not judged.
    let waits = steps.replace("{ else: done }", "{ else: listen }");
    assert_eq!(check("", &waits, &templates), Vec::<String>::new());
    let dynamic = [("ask.j2", "Une question ? {{ score }}"), ("bye.j2", "Merci.")];
    assert_eq!(check("", steps, &dynamic), Vec::<String>::new());
}
