//! Compiles the `fields:` section: each qualification field on its own, in file order.

use crate::catalog::compile::context::{Ctx, at_path, is_identifier};
use crate::catalog::model::{Field, FieldType, Phrases, Unit};
use crate::catalog::raw::{RawField, RawFieldType, RawPhrases};
use crate::diagnostic::did_you_mean_suffix;

pub(crate) fn compile_fields(ctx: &mut Ctx<'_>) -> Vec<Field> {
    let Some(section) = ctx.root.get("fields") else {
        return Vec::new();
    };
    let Some(entries) = section.as_map() else {
        // The header deserialization already reported the wrong type.
        return Vec::new();
    };
    let mut fields = Vec::new();
    for (key, node) in entries {
        let name = key.name.clone();
        if !is_identifier(&name) {
            ctx.error(
                key.at,
                format!("field name `{name}` must be snake_case (lowercase letters, digits and `_`) so expressions can use it"),
            );
        }
        let raw: RawField = match ctx.deserialize_in(node, &format!("field `{name}`")) {
            Ok(raw) => raw,
            Err(diagnostic) => {
                ctx.push(diagnostic);
                continue;
            }
        };
        let kind = compile_type(ctx, &name, &raw);
        let phrases = compile_phrases(ctx, &name, &raw);
        let unit = compile_unit(ctx, &name, &raw);
        fields.push(Field {
            phrases,
            unit,
            description: raw.description.unwrap_or_default(),
            ask: raw.ask,
            required: raw.required.unwrap_or(true),
            name,
            kind,
        });
    }
    fields
}

fn compile_type(ctx: &mut Ctx<'_>, name: &str, raw: &RawField) -> FieldType {
    let here = |key: &str| at_path!["fields", name, key];
    if raw.kind != RawFieldType::Enum {
        for key in ["values", "synonyms"] {
            let present = if key == "values" { raw.values.is_some() } else { raw.synonyms.is_some() };
            if present {
                let at = ctx.key_at(&here(key));
                ctx.error(at, format!("field `{name}`: `{key}` only applies to `type: enum`"));
            }
        }
    }
    match raw.kind {
        RawFieldType::Number => FieldType::Number,
        RawFieldType::String => FieldType::String,
        RawFieldType::Bool => FieldType::Bool,
        RawFieldType::Email => FieldType::Email,
        RawFieldType::Phone => FieldType::Phone,
        RawFieldType::Enum => {
            let values = raw.values.clone().unwrap_or_default();
            if values.is_empty() {
                let at = ctx.key_at(&at_path!["fields", name, "type"]);
                ctx.error(at, format!("field `{name}` is an enum but lists no `values`"));
            }
            let synonyms = raw.synonyms.clone().unwrap_or_default();
            for value in synonyms.keys() {
                if !values.contains(value) {
                    let at = ctx.key_at(&at_path!["fields", name, "synonyms", value]);
                    ctx.error(
                        at,
                        format!(
                            "field `{name}`: synonyms for `{value}`, which is not one of its values ({})",
                            values.join(", ")
                        ),
                    );
                }
            }
            FieldType::Enum { values, synonyms }
        }
    }
}

/// `phrases:` must fit the type: `{ yes, no }` for `bool`, a list for `number` and `string`;
/// no empty phrase, none both yes and no.
fn compile_phrases(ctx: &mut Ctx<'_>, name: &str, raw: &RawField) -> Phrases {
    let Some(phrases) = &raw.phrases else { return Phrases::default() };
    let at = ctx.key_at(&at_path!["fields", name, "phrases"]);
    let compiled = match (phrases, raw.kind) {
        (RawPhrases::YesNo(yes_no), RawFieldType::Bool) => {
            Phrases { yes: yes_no.yes.clone(), no: yes_no.no.clone(), before: Vec::new() }
        }
        (RawPhrases::Before(list), RawFieldType::Number | RawFieldType::String) => {
            Phrases { before: list.clone(), ..Phrases::default() }
        }
        (RawPhrases::Before(_), RawFieldType::Bool) => {
            ctx.error(at, format!("field `{name}`: a bool field lists its phrases as `{{ yes: [...], no: [...] }}`"));
            return Phrases::default();
        }
        (RawPhrases::YesNo(_), RawFieldType::Number | RawFieldType::String) => {
            ctx.error(at, format!("field `{name}`: `yes`/`no` phrases are for bool fields; list the words that introduce the value instead"));
            return Phrases::default();
        }
        (_, RawFieldType::Enum) => {
            ctx.error(at, format!("field `{name}`: an enum field lists its phrases as `synonyms` of each value"));
            return Phrases::default();
        }
        (_, RawFieldType::Email | RawFieldType::Phone) => {
            ctx.error(
                at,
                format!(
                    "field `{name}`: `phrases` do not apply to `type: {}` (its values are read by their shape)",
                    raw_type_name(raw.kind)
                ),
            );
            return Phrases::default();
        }
    };
    // Same words, case and punctuation aside (the rules provider also ignores accents).
    let folded = |p: &String| {
        let lower = p.to_lowercase();
        lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
    };
    for phrase in compiled.yes.iter().chain(&compiled.no).chain(&compiled.before) {
        if folded(phrase).is_empty() {
            ctx.error(at, format!("field `{name}`: the phrase `{phrase}` has no letters or digits to match"));
        }
    }
    for phrase in &compiled.yes {
        if let Some(clash) = compiled.no.iter().find(|n| folded(n) == folded(phrase)) {
            ctx.error(
                at,
                format!("field `{name}`: `{phrase}` is both a yes and a no phrase (as `{clash}`); keep it in one list"),
            );
        }
    }
    compiled
}

fn compile_unit(ctx: &mut Ctx<'_>, name: &str, raw: &RawField) -> Option<Unit> {
    let unit = raw.unit.as_deref()?;
    let at = ctx.key_at(&at_path!["fields", name, "unit"]);
    if raw.kind != RawFieldType::Number {
        ctx.error(at, format!("field `{name}`: `unit` only applies to `type: number`"));
        return None;
    }
    let parsed = Unit::parse(unit);
    if parsed.is_none() {
        let hint = did_you_mean_suffix(unit, Unit::NAMES.iter().copied());
        ctx.error(at, format!("field `{name}`: unknown unit `{unit}`{hint}; write one of {}", Unit::NAMES.join(", ")));
    }
    parsed
}

fn raw_type_name(kind: RawFieldType) -> &'static str {
    match kind {
        RawFieldType::Number => "number",
        RawFieldType::String => "string",
        RawFieldType::Enum => "enum",
        RawFieldType::Bool => "bool",
        RawFieldType::Email => "email",
        RawFieldType::Phone => "phone",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::catalog::model::{Phrases, Unit, WorkflowSource};
    use crate::catalog::{CompileOptions, compile_source};

    fn compile(fields: &str) -> Result<Vec<crate::catalog::model::Field>, Vec<String>> {
        let text = format!("id: lead\nchannel: sms\nfields:\n{fields}steps:\n  - {{ id: done, end: qualified }}\n");
        let source = WorkflowSource { file: "lead.yaml".into(), text, templates: BTreeMap::new() };
        compile_source(&source, &CompileOptions::default())
            .map(|w| w.fields)
            .map_err(|d| d.iter().map(|d| format!("{}: {}", d.line, d.message)).collect())
    }

    #[test]
    fn phrases_and_units_compile_by_type() {
        let fields = compile(
            "  boss: { type: bool, phrases: { yes: [\"c'est moi\"], no: [\"mon associé\"] } }\n  \
             staff: { type: number, unit: people, phrases: [équipe de] }\n  \
             zip: { type: string, phrases: [code postal] }\n",
        )
        .expect("compiles");
        assert_eq!(
            fields[0].phrases,
            Phrases { yes: vec!["c'est moi".into()], no: vec!["mon associé".into()], before: vec![] }
        );
        assert_eq!(
            (fields[1].unit, fields[1].phrases.before.as_slice()),
            (Some(Unit::People), &["équipe de".to_string()][..])
        );
        assert_eq!(fields[2].phrases.before, ["code postal"]);
    }

    #[test]
    fn misplaced_phrases_and_units_are_located_errors_all_at_once() {
        let problems = compile(
            "  boss: { type: bool, phrases: [oui] }\n  \
             budget: { type: number, unit: peple }\n  \
             need: { type: enum, values: [a], phrases: [x] }\n  \
             mail: { type: email, unit: people }\n  \
             both: { type: bool, phrases: { yes: [\"C'est moi\"], no: [\"c est moi\", \"!!\"] } }\n",
        )
        .expect_err("six problems");
        let mut problems = problems;
        problems.sort();
        assert_eq!(
            problems,
            [
                "4: field `boss`: a bool field lists its phrases as `{ yes: [...], no: [...] }`",
                "5: field `budget`: unknown unit `peple` (did you mean `people`?); write one of euros, people, months",
                "6: field `need`: an enum field lists its phrases as `synonyms` of each value",
                "7: field `mail`: `unit` only applies to `type: number`",
                "8: field `both`: `C'est moi` is both a yes and a no phrase (as `c est moi`); keep it in one list",
                "8: field `both`: the phrase `!!` has no letters or digits to match",
            ]
        );
    }
}
