//! Compiles the `fields:` section: each qualification field on its own, in file order.

use crate::catalog::compile::context::{Ctx, at_path, is_identifier};
use crate::catalog::model::{Field, FieldType};
use crate::catalog::raw::{RawField, RawFieldType};

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
        fields.push(Field {
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
