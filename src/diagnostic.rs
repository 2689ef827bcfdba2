//! Diagnostics: one problem in one file, located by line and column, printed as `file:line:col: severity: message`.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a diagnostic is: errors reject a catalog or settings file, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// A 1-based source position; line 0 means "the whole file".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    pub const START: Position = Position { line: 1, column: 1 };
}

/// One problem found while loading or compiling definitions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(file: &Path, at: Position, message: impl Into<String>) -> Self {
        Self::new(file, at, Severity::Error, message)
    }

    pub fn warning(file: &Path, at: Position, message: impl Into<String>) -> Self {
        Self::new(file, at, Severity::Warning, message)
    }

    fn new(file: &Path, at: Position, severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic { file: file.to_path_buf(), line: at.line, column: at.column, severity, message: message.into() }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {}: {}", self.file.display(), self.line, self.column, severity, self.message)
    }
}

/// Sorts diagnostics by file, line and column, and drops exact duplicates.
pub fn sort_diagnostics(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.severity, &a.message).cmp(&(&b.file, b.line, b.column, b.severity, &b.message))
    });
    diagnostics.dedup();
}

/// The closest candidate to `wrong` by edit distance, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(wrong, candidate);
        let limit = (candidate.len().max(wrong.len()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// " (did you mean `x`?)" or an empty string.
pub fn did_you_mean_suffix<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match did_you_mean(wrong, candidates) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: a swap (`nwo` for
/// `now`) is one typo, not two.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j - 1] + cost).min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("tempalte", ["template", "channel"]), Some("template"));
        assert_eq!(did_you_mean("xyz", ["template", "channel"]), None);
        assert_eq!(did_you_mean("nwo", ["now", "later"]), Some("now"));
    }
}
