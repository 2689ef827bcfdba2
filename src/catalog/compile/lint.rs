//! Checks of what a workflow's templates and expressions do with its declarations, each a located
//! diagnostic with a "did you mean" where one fits: a nested field that is not declared
//! (`fields.budgte`), an enum compared with a value it cannot take (`fields.timeline == 'nwo'`),
//! a `set` of a value of the wrong type, a `send` on a channel the workflow's prospects have no
//! contact on, and `{{ prospect.name }}` unguarded (the name is optional: it would print "none").

use crate::catalog::compile::TemplateSet;
use crate::catalog::compile::context::Ctx;
use crate::catalog::lexer::{self, Block, Kind};
use crate::catalog::model::{Field, FieldType};
use crate::channel::Channel;
use crate::diagnostic::{Diagnostic, did_you_mean_suffix};
use crate::yaml::Segment;

/// Pushes `diagnostic` unless the same one is already there (a template used by several steps).
fn push_once(ctx: &mut Ctx<'_>, diagnostic: Diagnostic) {
    if !ctx.diagnostics.contains(&diagnostic) {
        ctx.push(diagnostic);
    }
}

/// The problem with comparing enum field `field` to `literal`, if any.
pub(crate) fn enum_literal_problem(fields: &[Field], field: &str, literal: &str) -> Option<String> {
    let FieldType::Enum { values, synonyms } = &fields.iter().find(|f| f.name == field)?.kind else { return None };
    if values.iter().any(|v| v == literal) {
        return None;
    }
    let synonym_of = synonyms.iter().find(|(_, words)| words.iter().any(|w| w.eq_ignore_ascii_case(literal)));
    let hint = match synonym_of {
        Some((value, _)) => format!(" (`{literal}` is a synonym of `{value}`: compare with `'{value}'`)"),
        None => did_you_mean_suffix(literal, values.iter().map(String::as_str)),
    };
    Some(format!(
        "`fields.{field}` is compared with `'{literal}'`, which is not one of its values{hint}: the comparison is never true; values: {}",
        values.join(", ")
    ))
}

/// Enum literals of an expression (`branch` conditions, `score`, `set` values).
pub(crate) fn check_expression_literals(ctx: &mut Ctx<'_>, source: &str, at: &[Segment], fields: &[Field]) {
    let position = ctx.value_at(at);
    for (field, literal, _) in lexer::field_literals(&lexer::expression(source)) {
        if let Some(message) = enum_literal_problem(fields, &field, &literal) {
            ctx.error(position, message);
        }
    }
}

/// A `set` value must fit the field it is stored in.
pub(crate) fn check_set_type(ctx: &mut Ctx<'_>, source: &str, at: &[Segment], field: &Field, fields: &[Field]) {
    let Some(literal) = lexer::literal_type(&lexer::expression(source)) else { return };
    let given = match literal.strip_prefix("field:") {
        Some(other) => match fields.iter().find(|f| f.name == other) {
            Some(other) => other.kind.name().to_string(),
            None => return, // Reported as an undeclared field.
        },
        None => literal,
    };
    let fits = match &field.kind {
        FieldType::Number => given == "number",
        FieldType::Bool => given == "bool",
        FieldType::Enum { .. } => given == "string" || given == "enum",
        FieldType::String | FieldType::Email | FieldType::Phone => {
            matches!(given.as_str(), "string" | "enum" | "email" | "phone")
        }
    };
    let position = ctx.value_at(at);
    if !fits {
        ctx.error(
            position,
            format!(
                "`set` stores a {given} in field `{}`, which is declared `type: {}`: the prospect would fail here",
                field.name,
                field.kind.name()
            ),
        );
        return;
    }
    if let (FieldType::Enum { values, .. }, [token]) = (&field.kind, lexer::expression(source).tokens.as_slice())
        && token.kind == Kind::Str
        && !values.contains(&token.text)
    {
        let suggestion = did_you_mean_suffix(&token.text, values.iter().map(String::as_str));
        ctx.error(
            position,
            format!(
                "`set` stores `'{}'` in enum field `{}`, which is not one of its values{suggestion}; values: {}",
                token.text,
                field.name,
                values.join(", ")
            ),
        );
    }
}

/// What a template reads of the workflow's declarations: declared fields, enum values, and the
/// optional name printed without a guard.
pub(crate) fn check_template(ctx: &mut Ctx<'_>, templates: &TemplateSet<'_>, name: &str, fields: &[Field]) {
    let Some(text) = templates.sources.get(name) else { return };
    let file = templates.dir.join(name);
    let mut used: Vec<String> = templates.compiled.used_variables(name).into_iter().collect();
    used.sort();
    for variable in used {
        let mut parts = variable.split('.');
        let (Some("fields"), Some(field)) = (parts.next(), parts.next()) else { continue };
        if fields.iter().any(|f| f.name == field) {
            continue;
        }
        let offset = text.find(&format!("fields.{field}")).unwrap_or_default();
        let suggestion = did_you_mean_suffix(field, fields.iter().map(|f| f.name.as_str()));
        let declared = fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
        let message = format!(
            "template uses `fields.{field}`, which workflow `{}` does not declare{suggestion}; fields: {declared}",
            ctx.root.get("id").and_then(|n| n.as_str()).unwrap_or("?")
        );
        push_once(ctx, Diagnostic::error(&file, crate::catalog::offset_position(text, offset), message));
    }
    let blocks = lexer::template_blocks(text);
    for block in &blocks {
        for (field, literal, offset) in lexer::field_literals(block) {
            if let Some(message) = enum_literal_problem(fields, &field, &literal) {
                push_once(ctx, Diagnostic::error(&file, crate::catalog::offset_position(text, offset), message));
            }
        }
    }
    for (attribute, offset) in unguarded_names(&blocks) {
        let message = format!(
            "`{{{{ prospect.{attribute} }}}}` prints \"none\" for a prospect without a name (it is optional): \
             write `{{{{ prospect.{attribute} | default(\"\", true) }}}}` or guard it with `{{% if prospect.{attribute} %}}`"
        );
        push_once(ctx, Diagnostic::warning(&file, crate::catalog::offset_position(text, offset), message));
    }
}

/// `prospect.name` / `prospect.first_name` printed by a `{{ }}` block with no `default` and no
/// `if` test of it anywhere in the template.
fn unguarded_names(blocks: &[Block]) -> Vec<(String, usize)> {
    let reads = |block: &Block| -> Vec<(String, usize)> {
        let t = &block.tokens;
        (0..t.len().saturating_sub(2))
            .filter(|&i| {
                t[i].text == "prospect"
                    && t[i + 1].text == "."
                    && ["name", "first_name"].contains(&t[i + 2].text.as_str())
            })
            .map(|i| (t[i + 2].text.clone(), t[i].offset))
            .collect()
    };
    let tested: Vec<String> = blocks
        .iter()
        .filter(|b| b.statement && b.tokens.first().is_some_and(|t| t.text == "if" || t.text == "elif"))
        .flat_map(|b| reads(b).into_iter().map(|(a, _)| a))
        .collect();
    let mut out = Vec::new();
    for block in blocks.iter().filter(|b| !b.statement) {
        // `default("x")` alone keeps a `none` (it only replaces undefined): it needs `true`.
        let has = |word: &str| block.tokens.iter().any(|t| t.kind == Kind::Ident && t.text == word);
        let guarded = has("or") || has("if") || ((has("default") || has("d")) && has("true"));
        if guarded {
            continue;
        }
        out.extend(reads(block).into_iter().filter(|(attribute, _)| !tested.contains(attribute)));
    }
    out
}

/// The channels every prospect of this workflow has a contact on: the workflow's channel (an
/// import is refused without it) and, for those who write first, the channel they wrote on.
/// `None` when imports are taken: an import may carry other contacts too.
fn guaranteed_channels(ctx: &Ctx<'_>) -> (Vec<Channel>, bool) {
    let root = ctx.root;
    let channel = root.get("channel").and_then(|c| c.as_str()).and_then(Channel::parse);
    let entry = root.get("entry");
    let import =
        !matches!(entry.and_then(|e| e.get("import")).map(|i| &i.value), Some(crate::yaml::NodeValue::Bool(false)));
    let mut channels: Vec<Channel> = channel.into_iter().collect();
    if let Some(inbound) = entry.and_then(|e| e.get("inbound")) {
        let listed: Vec<&crate::yaml::Node> = match inbound.as_seq() {
            Some(items) => items.iter().collect(),
            None => vec![inbound],
        };
        channels.extend(listed.into_iter().filter_map(|n| n.as_str()).filter_map(Channel::parse));
    }
    channels.sort();
    channels.dedup();
    (channels, import)
}

/// A `send` on a channel the workflow's prospects have no contact on fails for every prospect
/// (inbound-only workflows: an error) or for those imported without it (a warning).
pub(crate) fn check_send_reach(ctx: &mut Ctx<'_>, channel: Channel, at: &[Segment]) {
    let (channels, import) = guaranteed_channels(ctx);
    if channels.is_empty() || channels.contains(&channel) {
        return;
    }
    let have = channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    let contact = match channel {
        Channel::Sms => "phone number",
        Channel::Email => "email address",
        Channel::Messenger => "Messenger id",
    };
    let position = ctx.value_at(at);
    if import {
        ctx.warning(
            position,
            format!(
                "this `send` goes out on {channel}, but the workflow's prospects are only sure to have a {have} \
                 contact: it fails for everyone imported without a {contact}"
            ),
        );
    } else {
        ctx.error(
            position,
            format!(
                "this `send` goes out on {channel}, but the workflow's prospects enter only by writing on {have} \
                 and have no {contact}: it would fail for every one of them"
            ),
        );
    }
}
