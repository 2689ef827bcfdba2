//! The one YAML entry point: parses a file into a located [`Node`] tree (serde-saphyr, strict
//! booleans), then deserializes raw serde structs from any subtree, turning serde's errors into
//! located diagnostics (`file:line:col`), so one file can report many problems at once.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Position, did_you_mean_suffix};

/// A YAML value with the position it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub at: Position,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Entries in file order; each key keeps its own position.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub at: Position,
}

/// One step of a path into a node tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Parses `text` (the contents of `file`) into a located tree.
pub fn parse(file: &Path, text: &str) -> Result<Node, Diagnostic> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<NodeValue>>>(text, options) {
        Ok(Some(spanned)) => Ok(Node { at: position(&spanned), value: spanned.value }),
        Ok(None) => Ok(Node { at: Position::START, value: NodeValue::Null }),
        Err(err) => {
            let at = err
                .location()
                .map(|l| Position { line: l.line(), column: l.column() })
                .filter(|p| p.line > 0)
                .unwrap_or(Position::START);
            Err(Diagnostic::error(file, at, format!("invalid YAML: {}", first_line(&err.to_string()))))
        }
    }
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    // serde-saphyr appends " at line X column Y"; the position is already in the diagnostic.
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

fn position<T>(spanned: &Spanned<T>) -> Position {
    Position { line: spanned.referenced.line().max(1), column: spanned.referenced.column().max(1) }
}

impl Node {
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, when this node is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// The position of the key `key` in this map (falls back to the map itself).
    pub fn key_position(&self, key: &str) -> Position {
        self.as_map().and_then(|m| m.iter().find(|(k, _)| k.name == key)).map(|(k, _)| k.at).unwrap_or(self.at)
    }

    /// Follows `path` as far as it goes and returns the position of the deepest node reached.
    /// A path ending in a key points at the key when it exists.
    pub fn locate(&self, path: &[Segment]) -> Position {
        let mut node = self;
        for (i, segment) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            match segment {
                Segment::Key(key) => {
                    if last {
                        return node.key_position(key);
                    }
                    match node.get(key) {
                        Some(child) => node = child,
                        None => return node.at,
                    }
                }
                Segment::Index(index) => match node.as_seq().and_then(|s| s.get(*index)) {
                    Some(child) => node = child,
                    None => return node.at,
                },
            }
        }
        node.at
    }

    /// A plain JSON copy of this subtree (positions dropped), for serde deserialization.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect())
            }
        }
    }

    /// Deserializes a raw serde struct from this subtree. On failure, the diagnostic points at
    /// the offending key or value and suggests the closest known key for a typo.
    pub fn deserialize<T: DeserializeOwned>(&self, file: &Path) -> Result<T, Diagnostic> {
        let json = self.to_json();
        serde_path_to_error::deserialize(json).map_err(|err| {
            let path: Vec<Segment> = err
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
                    serde_path_to_error::Segment::Enum { variant } => Some(Segment::Key(variant.clone())),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            let at = self.locate(&path);
            Diagnostic::error(file, at, describe_serde_error(&err.into_inner().to_string(), &path))
        })
    }
}

/// Rewrites serde's messages into the project's style: what is wrong, where, and how to fix it.
fn describe_serde_error(message: &str, path: &[Segment]) -> String {
    let place = path_text(path);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let suggestion = did_you_mean_suffix(field, expected.iter().copied());
        let allowed = if expected.is_empty() {
            "no keys are allowed here".to_string()
        } else {
            format!("expected one of: {}", expected.join(", "))
        };
        let parent = path_text(&path[..path.len().saturating_sub(1)]);
        let parent = if parent.is_empty() { String::new() } else { format!(" in `{parent}`") };
        return format!("unknown key `{field}`{parent}{suggestion}; {allowed}");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let inside = if place.is_empty() { String::new() } else { format!(" in `{place}`") };
        return format!("missing required key `{field}`{inside}");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (variant, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let suggestion = did_you_mean_suffix(variant, expected.iter().copied());
        return format!("`{place}`: unknown value `{variant}`{suggestion}; expected one of: {}", expected.join(", "));
    }
    let message = message.split(" at line ").next().unwrap_or(message);
    if place.is_empty() { message.to_string() } else { format!("`{place}`: {message}") }
}

/// `steps[2].send.template`
pub fn path_text(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl<'de> de::Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<NodeValue, E> {
        Ok(i64::try_from(v).map_or(NodeValue::Float(v as f64), NodeValue::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<NodeValue>>()? {
            items.push(Node { at: position(&item), value: item.value });
        }
        Ok(NodeValue::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<NodeValue>>()? {
            let key_at = position(&key);
            let name = match key.value {
                NodeValue::String(s) => s,
                NodeValue::Int(i) => i.to_string(),
                NodeValue::Bool(b) => b.to_string(),
                NodeValue::Float(f) => f.to_string(),
                NodeValue::Null => "null".to_string(),
                _ => return Err(de::Error::custom("mapping keys must be plain scalars")),
            };
            let value = map.next_value::<Spanned<NodeValue>>()?;
            entries.push((Key { name, at: key_at }, Node { at: position(&value), value: value.value }));
        }
        Ok(NodeValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        template: String,
        channel: Option<String>,
    }

    #[test]
    fn keys_and_values_keep_their_positions() {
        let node = parse(Path::new("x.yaml"), "id: a\nsteps:\n  - send: { template: t }\n").unwrap();
        assert_eq!(node.key_position("steps"), Position { line: 2, column: 1 });
        let path = [
            Segment::Key("steps".into()),
            Segment::Index(0),
            Segment::Key("send".into()),
            Segment::Key("template".into()),
        ];
        assert_eq!(node.locate(&path), Position { line: 3, column: 13 });
    }

    #[test]
    fn unknown_key_points_at_the_key_and_suggests() {
        let node = parse(Path::new("x.yaml"), "send:\n  tempalte: t\n").unwrap();
        let inner = node.get("send").unwrap();
        let err = inner.deserialize::<Inner>(Path::new("x.yaml")).unwrap_err();
        assert_eq!((err.line, err.column), (2, 3), "{err}");
        assert!(err.message.contains("did you mean `template`"), "{}", err.message);
    }

    #[test]
    fn yaml_syntax_error_has_a_position() {
        let err = parse(Path::new("x.yaml"), "a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.line >= 1);
        assert!(err.message.starts_with("invalid YAML"));
    }

    #[test]
    fn strict_booleans_keep_yes_a_string() {
        let node = parse(Path::new("x.yaml"), "a: yes\nb: true\n").unwrap();
        assert_eq!(node.get("a").unwrap().as_str(), Some("yes"));
        assert_eq!(node.get("b").unwrap().value, NodeValue::Bool(true));
    }
}
