//! The compiler's context: the expanded tree, the diagnostics found so far, and the small
//! helpers every section uses to read a value by dotted path (`channels.sms.api_base`) and
//! report a problem at that value, plus the value parsers shared by several sections.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{Secret, raw};
use crate::diagnostic::{Diagnostic, did_you_mean_suffix};
use crate::schedule;
use crate::yaml::{Node, NodeValue, Segment, path_text};

/// An `http://` or `https://` URL, returned without trailing slashes.
pub fn http_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_string()),
        _ => Err(format!(
            "invalid URL `{text}`: write it with `http://` or `https://` and a host, for example `https://qualifyd.example.com`"
        )),
    }
}

/// A duration for timers inside the daemon: the schedule syntax (`2s`, `5m`) plus milliseconds.
pub fn std_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Some(number) = trimmed.strip_suffix("ms").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        return match number.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(format!("invalid duration `{text}`: it must be longer than zero")),
        };
    }
    let hint = "write a whole number and a unit: ms, s, m, h, d or w (for example `250ms` or `2s`)";
    let duration = schedule::parse_duration(trimmed).map_err(|err| {
        if err.contains("longer than zero") { err } else { format!("invalid duration `{text}`: {hint}") }
    })?;
    duration.to_std().map_err(|_| format!("invalid duration `{text}`: {hint}"))
}

/// An optional secret: empty (`${TOKEN:-}` with `TOKEN` unset) means not configured.
pub fn optional_secret(text: String) -> Option<Secret> {
    (!text.trim().is_empty()).then(|| Secret::new(text))
}

/// A dotted path (`channels.sms`, `admin_tokens.0.token`) as yaml segments.
fn segments(path: &str) -> Vec<Segment> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_or_else(|_| Segment::Key(s.to_string()), Segment::Index))
        .collect()
}

/// The compiler's context: the expanded tree and the diagnostics found so far.
pub struct Cx<'a> {
    file: &'a Path,
    root: &'a Node,
    /// The settings file's directory, which relative paths resolve against.
    base: &'a Path,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Cx<'a> {
    pub fn new(file: &'a Path, root: &'a Node) -> Cx<'a> {
        let base = file.parent().unwrap_or(Path::new(""));
        Cx { file, root, base, diagnostics: Vec::new() }
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// The node at a dotted path, unless it is absent or null.
    pub fn node(&self, path: &str) -> Option<&'a Node> {
        let mut node = self.root;
        for segment in segments(path) {
            node = match segment {
                Segment::Key(key) => node.get(&key)?,
                Segment::Index(index) => node.as_seq()?.get(index)?,
            };
        }
        (node.value != NodeValue::Null).then_some(node)
    }

    /// Reports a problem with the value at `path` (or, when absent, with the nearest key).
    pub fn error(&mut self, path: &str, message: impl fmt::Display) {
        let segments = segments(path);
        let at = self.node(path).map_or_else(|| self.root.locate(&segments), |n| n.at);
        let place = path_text(&segments);
        let message = if place.is_empty() { message.to_string() } else { format!("`{place}`: {message}") };
        self.diagnostics.push(Diagnostic::error(self.file, at, message));
    }

    /// Reports a problem with the section at `path` as a whole, at its key.
    pub fn key_error(&mut self, path: &str, message: impl fmt::Display) {
        let segments = segments(path);
        let at = self.root.locate(&segments);
        let message = format!("`{}`: {message}", path_text(&segments));
        self.diagnostics.push(Diagnostic::error(self.file, at, message));
    }

    pub fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.error(path, message)).ok()
    }

    /// Deserializes the value at `path`; `None` when it is absent or invalid (then reported).
    pub fn raw<T: DeserializeOwned>(&mut self, path: &str) -> Option<T> {
        let leaf = self.node(path)?.clone();
        self.raw_from(path, leaf)
    }

    /// Deserializes `leaf` (usually the node at `path` without its tag key) as if at `path`.
    pub fn raw_from<T: DeserializeOwned>(&mut self, path: &str, leaf: Node) -> Option<T> {
        raw::deserialize_at(self.file, self.root, &segments(path), leaf).map_err(|d| self.diagnostics.push(d)).ok()
    }

    pub fn text(&mut self, path: &str) -> Option<String> {
        self.raw::<String>(path)
    }

    /// The string at `path` parsed by `parse`, or `default` when absent (or invalid: reported).
    pub fn parse<T>(&mut self, path: &str, default: T, parse: impl FnOnce(&str) -> Result<T, String>) -> T {
        let text = self.text(path);
        self.value(path, text.as_deref(), default, parse)
    }

    /// Like [`Cx::parse`] for a string already taken from a raw struct.
    pub fn value<T>(
        &mut self,
        path: &str,
        text: Option<&str>,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        match text {
            Some(text) => self.check(path, parse(text)).unwrap_or(default),
            None => default,
        }
    }

    /// A required string that must not be empty (environment references can make it so).
    pub fn required(&mut self, path: &str, text: String) -> String {
        if text.trim().is_empty() {
            self.error(path, "must not be empty");
        }
        text
    }

    /// A positive count or rate, `default` when absent.
    pub fn positive<T: PartialEq + Default>(&mut self, path: &str, value: Option<T>, default: T) -> T {
        match value {
            Some(v) if v == T::default() => {
                self.error(path, "must be at least 1");
                default
            }
            Some(v) => v,
            None => default,
        }
    }

    /// A directory, relative ones resolved against the settings file's directory.
    pub fn dir(&mut self, key: &str, default: &str) -> PathBuf {
        let text = self.text(key).unwrap_or_else(|| default.to_string());
        let text = self.required(key, text);
        let path = Path::new(text.trim());
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let relative: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
        self.base.join(relative)
    }

    /// An optional file path (absent or empty: `None`), relative ones resolved against the
    /// settings file's directory.
    pub fn path(&self, text: Option<&str>) -> Option<PathBuf> {
        let text = text.map(str::trim).filter(|t| !t.is_empty())?;
        let path = Path::new(text);
        if path.is_absolute() {
            return Some(path.to_path_buf());
        }
        let relative: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
        Some(self.base.join(relative))
    }

    /// Reports keys of the map at `path` (the root when empty) that are not in `allowed`.
    pub fn check_keys(&mut self, path: &str, allowed: &[&str]) {
        let node = if path.is_empty() { Some(self.root) } else { self.node(path) };
        let Some(node) = node.filter(|n| n.value != NodeValue::Null) else {
            return;
        };
        let list = allowed.join(", ");
        let Some(entries) = node.as_map() else {
            let what = if path.is_empty() { "the settings file".to_string() } else { format!("`{path}`") };
            let message = format!("{what} must be a mapping with keys such as: {list}");
            self.diagnostics.push(Diagnostic::error(self.file, node.at, message));
            return;
        };
        for (key, _) in entries.iter().filter(|(k, _)| !allowed.contains(&k.name.as_str())) {
            let inside = if path.is_empty() { String::new() } else { format!(" in `{path}`") };
            let suggestion = did_you_mean_suffix(&key.name, allowed.iter().copied());
            let message = format!("unknown key `{}`{inside}{suggestion}; expected one of: {list}", key.name);
            self.diagnostics.push(Diagnostic::error(self.file, key.at, message));
        }
    }
}
