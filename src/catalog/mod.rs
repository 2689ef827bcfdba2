//! Workflows and prompt templates: read from disk (`load`, the only IO here), then compiled
//! (`build`, pure) into an immutable [`Catalog`] plus every diagnostic, sorted by file and line.

pub mod compile;
pub mod lexer;
pub mod model;
mod raw;
pub mod templates;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use compile::{CompileOptions, compile_source};
pub use model::{Catalog, Workflow};

use crate::diagnostic::{Diagnostic, Position, sort_diagnostics};
use compile::TemplateSet;
use templates::{TEMPLATE_VARIABLES, TemplateError, Templates};

/// The raw text of every definition file, as read from disk.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub workflows_dir: PathBuf,
    pub prompts_dir: PathBuf,
    /// Workflow file path -> text.
    pub workflows: BTreeMap<PathBuf, String>,
    /// Template name (path under the prompts dir, `/`-separated) -> text.
    pub templates: BTreeMap<String, String>,
}

/// The result of building a catalog: the catalog when there was no error, and every diagnostic.
#[derive(Debug)]
pub struct BuildOutcome {
    pub catalog: Option<Catalog>,
    pub diagnostics: Vec<Diagnostic>,
}

impl BuildOutcome {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// `true` for editor swap files, backups and hidden files, which are never definitions.
pub fn is_ignored_file(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name.ends_with(".bak")
}

/// Reads every `*.yaml`/`*.yml` under `workflows_dir` (not recursive, `tests/` is for
/// conversation tests) and every file under `prompts_dir` (recursive).
pub fn load(workflows_dir: &Path, prompts_dir: &Path) -> Result<Sources, Diagnostic> {
    let mut sources = Sources {
        workflows_dir: workflows_dir.to_path_buf(),
        prompts_dir: prompts_dir.to_path_buf(),
        ..Sources::default()
    };
    let entries = std::fs::read_dir(workflows_dir).map_err(|e| unreadable(workflows_dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(workflows_dir, &e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if !is_yaml || is_ignored_file(&name) || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, &e))?;
        sources.workflows.insert(path, text);
    }
    read_templates(prompts_dir, prompts_dir, &mut sources.templates)?;
    Ok(sources)
}

fn read_templates(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<(), Diagnostic> {
    let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(dir, &e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if is_ignored_file(&name) {
            continue;
        }
        if path.is_dir() {
            read_templates(root, &path, out)?;
        } else if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, &e))?;
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let key = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.insert(key, text);
        }
    }
    Ok(())
}

fn unreadable(path: &Path, err: &std::io::Error) -> Diagnostic {
    Diagnostic::error(path, Position::default(), format!("cannot read {}: {err}", path.display()))
}

/// Compiles every template and every workflow. Pure: no IO, no clock.
pub fn build(sources: &Sources, options: &CompileOptions) -> BuildOutcome {
    let mut diagnostics = Vec::new();
    let (compiled, failures) = Templates::compile(&sources.templates);
    for (name, TemplateError::Syntax { line, offset, message }) in failures {
        let file = sources.prompts_dir.join(&name);
        let at = match offset {
            Some(offset) => offset_position(&sources.templates[&name], offset),
            None => Position { line: line.unwrap_or(1) as u64, column: 1 },
        };
        let message = message.strip_prefix("syntax error: ").unwrap_or(&message);
        diagnostics.push(Diagnostic::error(&file, at, format!("template syntax error: {message}")));
    }
    for name in sources.templates.keys() {
        for variable in compiled.unknown_variables(name) {
            let file = sources.prompts_dir.join(name);
            let at = find_word(&sources.templates[name], &variable);
            let suggestion = crate::diagnostic::did_you_mean_suffix(&variable, TEMPLATE_VARIABLES.iter().copied());
            diagnostics.push(Diagnostic::error(
                &file,
                at,
                format!(
                    "template uses unknown variable `{variable}`{suggestion}; available: {}",
                    TEMPLATE_VARIABLES.join(", ")
                ),
            ));
        }
    }
    for (name, text) in &sources.templates {
        if !compiled.contains(name) {
            continue; // Its syntax error is reported.
        }
        for (kind, word, offset) in lexer::callables(&lexer::template_blocks(text)) {
            if compiled.knows(kind, &word) {
                continue;
            }
            let suggestion = crate::diagnostic::did_you_mean_suffix(&word, compiled.known_names(kind));
            let message =
                format!("template uses unknown {} `{word}`{suggestion}: it would fail when rendered", kind.name());
            diagnostics.push(Diagnostic::error(
                &sources.prompts_dir.join(name),
                offset_position(text, offset),
                message,
            ));
        }
    }
    let set = TemplateSet { dir: &sources.prompts_dir, sources: &sources.templates, compiled: &compiled };
    let mut workflows = BTreeMap::new();
    let mut failed = false;
    if sources.workflows.is_empty() {
        diagnostics.push(Diagnostic::warning(
            &sources.workflows_dir,
            Position::default(),
            "no workflow files (*.yaml) found: the daemon will take no prospects",
        ));
    }
    for (file, text) in &sources.workflows {
        let (workflow, found) = compile::compile_workflow(file, text, &set, options);
        diagnostics.extend(found);
        match workflow {
            Some(workflow) => {
                workflows.insert(workflow.id.clone(), Arc::new(workflow));
            }
            None => failed = true,
        }
    }
    sort_diagnostics(&mut diagnostics);
    let failed = failed || diagnostics.iter().any(Diagnostic::is_error);
    let catalog = (!failed).then(|| {
        let mut hasher = Sha256::new();
        for workflow in workflows.values() {
            hasher.update(workflow.id.as_bytes());
            hasher.update(workflow.version.as_bytes());
        }
        let version = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        Catalog { workflows, version }
    });
    BuildOutcome { catalog, diagnostics }
}

/// Line and column (in characters) of a byte offset into `text`.
pub(crate) fn offset_position(text: &str, offset: usize) -> Position {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
    Position { line, column }
}

/// Position of the first whole-word occurrence of `word` in `text`.
fn find_word(text: &str, word: &str) -> Position {
    for (line_no, line) in text.lines().enumerate() {
        let mut start = 0;
        while let Some(found) = line[start..].find(word) {
            let at = start + found;
            let before = line[..at].chars().next_back();
            let after = line[at + word.len()..].chars().next();
            let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if boundary(before) && boundary(after) {
                return Position { line: line_no as u64 + 1, column: line[..at].chars().count() as u64 + 1 };
            }
            start = at + word.len();
        }
    }
    Position::START
}
