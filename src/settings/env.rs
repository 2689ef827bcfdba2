//! Environment references in settings values: `${VAR}`, `${VAR:-default}` and `$$`, expanded in
//! every string scalar of the located YAML tree before any deserialization, so secrets never
//! have to be written in the file and every unset variable is reported where it is used.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Position};
use crate::yaml::{Node, NodeValue, Segment, path_text};

/// Looks a variable up; `std::env::var(name).ok()` in the daemon, a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What expanding a whole tree found.
#[derive(Debug, Default)]
pub struct Expansion {
    pub diagnostics: Vec<Diagnostic>,
    /// Values that could not be expanded (they keep their text), and their keys. Later checks
    /// skip these positions (but for unknown keys) so one unset variable gives one diagnostic.
    pub unresolved: Vec<Position>,
}

/// Expands every string value (not keys) of `root` in place.
pub fn expand_tree(file: &Path, root: &mut Node, env: Env<'_>) -> Expansion {
    let mut expansion = Expansion::default();
    walk(file, root, None, env, &mut Vec::new(), &mut expansion);
    expansion
}

fn walk(
    file: &Path,
    node: &mut Node,
    key_at: Option<Position>,
    env: Env<'_>,
    path: &mut Vec<Segment>,
    out: &mut Expansion,
) {
    match &mut node.value {
        NodeValue::String(text) if text.contains('$') => match expand(text, env) {
            Ok(expanded) => *text = expanded,
            Err(message) => {
                let place = path_text(path);
                let message = if place.is_empty() { message } else { format!("`{place}`: {message}") };
                out.diagnostics.push(Diagnostic::error(file, node.at, message));
                out.unresolved.push(node.at);
                out.unresolved.extend(key_at);
            }
        },
        NodeValue::Seq(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                path.push(Segment::Index(index));
                walk(file, item, None, env, path, out);
                path.pop();
            }
        }
        NodeValue::Map(entries) => {
            for (key, value) in entries.iter_mut() {
                path.push(Segment::Key(key.name.clone()));
                walk(file, value, Some(key.at), env, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Expands one string. `${VAR:-default}` uses `default` when `VAR` is unset or empty (as in a
/// POSIX shell); the default is literal text up to the first `}`. A `$` not followed by `{` or
/// `$` stays as it is.
pub fn expand(text: &str, env: Env<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(format!(
                    "unterminated `${{` in `{text}`: close it with `}}`, or write `$$` for a literal `$`"
                ));
            };
            out.push_str(&reference(&body[..end], env)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `${...}` body: `VAR` or `VAR:-default`.
fn reference(body: &str, env: Env<'_>) -> Result<String, String> {
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (body, None),
    };
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "invalid environment reference `${{{body}}}`: write `${{NAME}}` or `${{NAME:-default}}` \
             with a name made of letters, digits and `_`"
        ));
    }
    match (env(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_string()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_string()),
        (None, None) => {
            Err(format!("environment variable `{name}` is not set (set it, or write `${{{name}:-default}}`)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_defaults_and_literal_dollars() {
        assert_eq!(expand("smtp://${HOST}:25", &env).as_deref(), Ok("smtp://db.local:25"));
        assert_eq!(expand("${MISSING:-fallback}", &env).as_deref(), Ok("fallback"));
        assert_eq!(expand("${EMPTY:-fallback}", &env).as_deref(), Ok("fallback"));
        assert_eq!(expand("${EMPTY}", &env).as_deref(), Ok(""));
        assert_eq!(expand("${MISSING:-}", &env).as_deref(), Ok(""));
        assert_eq!(expand("cost: $$5 or $5", &env).as_deref(), Ok("cost: $5 or $5"));
    }

    #[test]
    fn malformed_and_unset_references_are_errors() {
        let unset = expand("${NOPE}", &env).unwrap_err();
        assert!(unset.contains("`NOPE` is not set"), "{unset}");
        assert!(unset.contains("${NOPE:-default}"), "{unset}");
        assert!(expand("${HOST", &env).unwrap_err().contains("unterminated"));
        assert!(expand("${1X}", &env).unwrap_err().contains("invalid environment reference"));
    }
}
