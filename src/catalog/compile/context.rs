//! Shared state of one workflow's compilation: the file, its located tree, the diagnostics
//! collected so far, and helpers that turn a path into a position.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::diagnostic::{Diagnostic, Position, did_you_mean_suffix};
use crate::yaml::{Node, Segment};

pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub root: &'a Node,
    pub diagnostics: Vec<Diagnostic>,
}

/// Builds a path from string keys and indices: `at_path!["steps", 2, "send"]`.
macro_rules! at_path {
    ($($segment:expr),* $(,)?) => {
        [$($crate::catalog::compile::context::IntoSegment::into_segment($segment)),*]
    };
}
pub(crate) use at_path;

pub(crate) trait IntoSegment {
    fn into_segment(self) -> Segment;
}

impl IntoSegment for &str {
    fn into_segment(self) -> Segment {
        Segment::Key(self.to_string())
    }
}

impl IntoSegment for &String {
    fn into_segment(self) -> Segment {
        Segment::Key(self.clone())
    }
}

impl IntoSegment for usize {
    fn into_segment(self) -> Segment {
        Segment::Index(self)
    }
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, root: &'a Node) -> Self {
        Ctx { file, root, diagnostics: Vec::new() }
    }

    /// Position of the key at the end of `path` (or of the deepest node that exists).
    pub fn key_at(&self, path: &[Segment]) -> Position {
        self.root.locate(path)
    }

    /// Position of the value at `path` (falls back to its key, then to its parent).
    pub fn value_at(&self, path: &[Segment]) -> Position {
        let mut node = self.root;
        for segment in path {
            let next = match segment {
                Segment::Key(k) => node.get(k),
                Segment::Index(i) => node.as_seq().and_then(|s| s.get(*i)),
            };
            match next {
                Some(child) => node = child,
                None => return self.root.locate(path),
            }
        }
        node.at
    }

    pub fn error(&mut self, at: Position, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(self.file, at, message));
    }

    pub fn warning(&mut self, at: Position, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(self.file, at, message));
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Deserializes the raw struct of one step or field; a failure names it (`within`, such as
    /// "step `route`"), since serde's path only starts inside it.
    pub fn deserialize_in<T: DeserializeOwned>(&self, node: &Node, within: &str) -> Result<T, Diagnostic> {
        node.deserialize(self.file).map_err(|mut diagnostic| {
            diagnostic.message = plain_words(&format!("in {within}: {}", diagnostic.message));
            diagnostic
        })
    }
}

/// Replaces the Rust type names serde puts in its messages with the words of the workflow language.
pub(crate) fn plain_words(message: &str) -> String {
    const WORDS: [(&str, &str); 3] = [
        ("expected u32", "expected a whole number"),
        ("expected a boolean", "expected `true` or `false` (`yes`, `no`, `on` and `off` are not booleans)"),
        (
            "data did not match any variant of untagged enum OneOrMany",
            "expected a channel (sms, email, messenger) or a list of channels",
        ),
    ];
    let mut out = message.to_string();
    for (from, to) in WORDS {
        out = out.replace(from, to);
    }
    match out.find("expected struct Raw") {
        Some(at) => format!("{}expected a mapping of keys", &out[..at]),
        None => out,
    }
}

/// Resolves step names to indices, reporting unknown names with a suggestion.
pub(crate) struct StepNames {
    pub ids: Vec<String>,
}

impl StepNames {
    pub fn resolve(&self, ctx: &mut Ctx<'_>, name: &str, at: Position, role: &str) -> Option<usize> {
        match self.ids.iter().position(|id| id == name) {
            Some(index) => Some(index),
            None => {
                let suggestion = did_you_mean_suffix(name, self.ids.iter().map(String::as_str));
                ctx.error(at, format!("{role} `{name}` is not a step of this workflow{suggestion}"));
                None
            }
        }
    }
}

/// `true` for `snake_case` identifiers usable in expressions and templates.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
