//! A small lexer over template and expression code, for the checks minijinja leaves to run time:
//! which filters, tests and functions a template calls, which string literals a field is
//! compared with, and what type a literal `set` value has. It only cuts code into tokens with
//! their byte offsets (so a diagnostic can point at `line:col`); it never evaluates anything.

/// One token of code, with its byte offset in the whole source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// The token's text; for a string literal, its value without quotes.
    pub text: String,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ident,
    Str,
    Number,
    Punct,
}

/// The tokens of one `{{ ... }}` or `{% ... %}` block (or of a whole expression).
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// `{% ... %}`.
    pub statement: bool,
    pub tokens: Vec<Token>,
}

/// Every code block of a template: `{{ }}` and `{% %}`; comments and text are skipped, and so
/// is the inside of `{% raw %}`.
pub fn template_blocks(source: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut at = 0;
    let mut raw = false;
    while let Some(found) = source[at..].find('{') {
        let start = at + found;
        let rest = &source[start..];
        if rest.starts_with("{#") {
            at = source[start..].find("#}").map_or(source.len(), |end| start + end + 2);
        } else if rest.starts_with("{{") || rest.starts_with("{%") {
            let statement = rest.starts_with("{%");
            let (tokens, end) = lex(source, start + 2, Some(if statement { "%}" } else { "}}" }));
            at = end;
            let first = tokens.first().map(|t| t.text.as_str());
            if raw {
                raw = !(statement && first == Some("endraw"));
                continue;
            }
            if statement && first == Some("raw") {
                raw = true;
                continue;
            }
            blocks.push(Block { statement, tokens });
        } else {
            at = start + 1;
        }
    }
    blocks
}

/// The tokens of an expression (`score`, a `branch` condition, a `set` value).
pub fn expression(source: &str) -> Block {
    Block { statement: false, tokens: lex(source, 0, None).0 }
}

/// Cuts `source` from `start` into tokens until `close` (outside strings) or the end; returns
/// the tokens and the offset just after the close.
fn lex(source: &str, start: usize, close: Option<&str>) -> (Vec<Token>, usize) {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = start;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(close) = close {
            // Whitespace control: `-}}`, `+%}`, `~}}`.
            let after_control = if matches!(c, b'-' | b'+' | b'~') { i + 1 } else { i };
            if source[after_control..].starts_with(close) {
                return (tokens, after_control + close.len());
            }
        }
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'\'' {
            let mut j = i + 1;
            let mut value = String::new();
            while j < bytes.len() && bytes[j] != c {
                if bytes[j] == b'\\' && j + 1 < bytes.len() {
                    j += 1;
                }
                let ch = source[j..].chars().next().unwrap_or_default();
                value.push(ch);
                j += ch.len_utf8();
            }
            tokens.push(Token { kind: Kind::Str, text: value, offset: i });
            i = (j + 1).min(bytes.len());
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let end =
                source[i..].find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).map_or(bytes.len(), |e| i + e);
            tokens.push(Token { kind: Kind::Ident, text: source[i..end].to_string(), offset: i });
            i = end;
        } else if c.is_ascii_digit() {
            let end = source[i..]
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == '_'))
                .map_or(bytes.len(), |e| i + e);
            tokens.push(Token { kind: Kind::Number, text: source[i..end].to_string(), offset: i });
            i = end;
        } else {
            let two = source.get(i..i + 2).unwrap_or_default();
            let len = if ["==", "!=", "<=", ">=", "//", "**"].contains(&two) {
                2
            } else {
                source[i..].chars().next().map_or(1, char::len_utf8)
            };
            tokens.push(Token { kind: Kind::Punct, text: source[i..i + len].to_string(), offset: i });
            i += len;
        }
    }
    (tokens, bytes.len())
}

/// What a template calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callable {
    Filter,
    Test,
    Function,
}

impl Callable {
    pub fn name(self) -> &'static str {
        match self {
            Callable::Filter => "filter",
            Callable::Test => "test",
            Callable::Function => "function",
        }
    }
}

/// Words of the template language that are followed by `(` without being calls.
const KEYWORDS: &[&str] = &["if", "elif", "else", "and", "or", "not", "in", "is", "for", "recursive", "with", "set"];

/// Names the template itself defines or the engine provides inside blocks.
const BUILT_IN_CALLABLES: &[&str] = &["caller", "loop", "super", "self", "varargs", "kwargs"];

/// Every filter, test and function a template's blocks call, with the offset of its name.
pub fn callables(blocks: &[Block]) -> Vec<(Callable, String, usize)> {
    let mut defined: Vec<&str> = BUILT_IN_CALLABLES.to_vec();
    for block in blocks.iter().filter(|b| b.statement) {
        if let [first, second, ..] = block.tokens.as_slice()
            && matches!(first.text.as_str(), "macro" | "set" | "for" | "import" | "from")
        {
            defined.push(second.text.as_str());
        }
        // `{% import "x" as helpers %}`, `{% from "x" import a, b %}`.
        let after_as = block.tokens.windows(2).filter(|w| w[0].text == "as" || w[0].text == "import");
        defined.extend(after_as.map(|w| w[1].text.as_str()));
    }
    let mut out = Vec::new();
    for block in blocks {
        let tokens = &block.tokens;
        if block.statement
            && tokens.first().is_some_and(|t| t.text == "filter")
            && let Some(name) = tokens.get(1).filter(|t| t.kind == Kind::Ident)
        {
            out.push((Callable::Filter, name.text.clone(), name.offset));
        }
        let mut skip = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let next = tokens.get(i + 1).filter(|t| t.kind == Kind::Ident);
            if token.kind == Kind::Punct && token.text == "|" {
                if let Some(name) = next {
                    out.push((Callable::Filter, name.text.clone(), name.offset));
                    skip.push(i + 1);
                }
            } else if token.kind == Kind::Ident && token.text == "is" && i > 0 {
                let j = if tokens.get(i + 1).is_some_and(|t| t.text == "not") { i + 2 } else { i + 1 };
                if let Some(name) = tokens.get(j).filter(|t| t.kind == Kind::Ident) {
                    out.push((Callable::Test, name.text.clone(), name.offset));
                    skip.push(j);
                }
            } else if token.kind == Kind::Ident
                && !skip.contains(&i)
                && tokens.get(i + 1).is_some_and(|t| t.text == "(")
                && !KEYWORDS.contains(&token.text.as_str())
                && !defined.contains(&token.text.as_str())
                && (i == 0 || !matches!(tokens[i - 1].text.as_str(), "." | "macro" | "call"))
            {
                out.push((Callable::Function, token.text.clone(), token.offset));
            }
        }
    }
    out
}

/// Every comparison of a field with string literals: `fields.x == 'a'`, `'a' != fields.x`,
/// `fields.x in ['a', 'b']`; each literal with its offset.
pub fn field_literals(block: &Block) -> Vec<(String, String, usize)> {
    let t = &block.tokens;
    let field_at = |i: usize| -> Option<String> {
        match (t.get(i), t.get(i + 1), t.get(i + 2)) {
            (Some(a), Some(dot), Some(name)) if a.text == "fields" && dot.text == "." && name.kind == Kind::Ident => {
                Some(name.text.clone())
            }
            _ => None,
        }
    };
    let mut out = Vec::new();
    for i in 0..t.len() {
        // `fields.x == 'a'` (and not `fields.x.y`).
        if let Some(field) = field_at(i)
            && t.get(i + 3).is_none_or(|n| n.text != ".")
            && let Some(op) = t.get(i + 3)
        {
            if matches!(op.text.as_str(), "==" | "!=")
                && let Some(lit) = t.get(i + 4).filter(|l| l.kind == Kind::Str)
            {
                out.push((field.clone(), lit.text.clone(), lit.offset));
            }
            if op.text == "in" && t.get(i + 4).is_some_and(|o| o.text == "[" || o.text == "(") {
                let list = t[i + 5..].iter().take_while(|x| x.text != "]" && x.text != ")");
                out.extend(list.filter(|x| x.kind == Kind::Str).map(|x| (field.clone(), x.text.clone(), x.offset)));
            }
        }
        // `'a' == fields.x`.
        if t[i].kind == Kind::Str
            && t.get(i + 1).is_some_and(|o| o.text == "==" || o.text == "!=")
            && let Some(field) = field_at(i + 2)
        {
            out.push((field, t[i].text.clone(), t[i].offset));
        }
    }
    out
}

/// The type of an expression made of one literal (`'high'`, `3`, `-2.5`, `true`), or of one
/// field (`fields.x`, returned as `field:x`); `None` for anything computed.
pub fn literal_type(block: &Block) -> Option<String> {
    let texts: Vec<&str> = block.tokens.iter().map(|t| t.text.as_str()).collect();
    let kinds: Vec<Kind> = block.tokens.iter().map(|t| t.kind).collect();
    match (kinds.as_slice(), texts.as_slice()) {
        ([Kind::Str], _) => Some("string".into()),
        ([Kind::Number], _) | ([Kind::Punct, Kind::Number], ["-", _]) => Some("number".into()),
        ([Kind::Ident], ["true" | "false" | "True" | "False"]) => Some("bool".into()),
        ([Kind::Ident, Kind::Punct, Kind::Ident], ["fields", ".", name]) => Some(format!("field:{name}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_filters_tests_and_functions_outside_text_and_strings() {
        let source = "Hi {{ name | defualt('x') | upper }} a | b {# {{ x | nope }} #}{% if x is not odd and y is frobbed %}{{ range(3) }}{{ m.items() }}{% endif %}{% macro greet(n) %}{% endmacro %}{{ greet(1) }}{{ '| not_a_filter' }}{% raw %}{{ x | raw_only }}{% endraw %}";
        let found: Vec<(Callable, String)> =
            callables(&template_blocks(source)).into_iter().map(|(c, n, _)| (c, n)).collect();
        assert_eq!(
            found,
            [
                (Callable::Filter, "defualt".into()),
                (Callable::Filter, "upper".into()),
                (Callable::Test, "odd".into()),
                (Callable::Test, "frobbed".into()),
                (Callable::Function, "range".into()),
            ]
        );
        let (_, _, offset) = &callables(&template_blocks(source))[0];
        assert_eq!(&source[*offset..offset + 7], "defualt");
    }

    #[test]
    fn finds_literals_compared_with_fields_and_literal_types() {
        let block =
            expression("fields.timeline == 'nwo' or 'soon' != fields.timeline or fields.need in ['solar', \"wind\"]");
        let found: Vec<(String, String)> = field_literals(&block).into_iter().map(|(f, l, _)| (f, l)).collect();
        let pairs = [("timeline", "nwo"), ("timeline", "soon"), ("need", "solar"), ("need", "wind")];
        assert_eq!(found, pairs.map(|(f, l)| (f.to_string(), l.to_string())));
        assert_eq!(literal_type(&expression("'high'")).as_deref(), Some("string"));
        assert_eq!(literal_type(&expression("-2.5")).as_deref(), Some("number"));
        assert_eq!(literal_type(&expression("true")).as_deref(), Some("bool"));
        assert_eq!(literal_type(&expression("fields.budget")).as_deref(), Some("field:budget"));
        assert_eq!(literal_type(&expression("fields.budget * 2")), None);
    }
}
