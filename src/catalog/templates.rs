//! Prompt templates and expressions (minijinja): compiled with strict undefined at catalog build
//! time so mistakes surface on reload, rendered and evaluated at run time against a context.

use std::collections::{BTreeMap, HashSet};

use minijinja::{Environment, UndefinedBehavior, Value};

/// Names a template may use at the top level.
pub const TEMPLATE_VARIABLES: &[&str] = &[
    "fields",
    "missing",
    "conversation",
    "prospect",
    "workflow",
    "score",
    "tags",
    "last_reply",
    "intent",
    "channel",
    "unsubscribe_url",
    "next_question",
    "score_explanation",
    "transcript",
    "step",
    "link",
];

/// Top-level names only team-facing templates (`notify`) see.
pub const TEAM_VARIABLES: &[&str] = &["score_explanation", "transcript", "step", "link"];

/// Attributes of `prospect` every template sees.
pub const PROSPECT_ATTRIBUTES: &[&str] = &["name", "first_name", "source"];

/// Attributes of `prospect` only team-facing templates see: the contact details.
pub const TEAM_PROSPECT_ATTRIBUTES: &[&str] = &["id", "phone", "email", "messenger_id"];

/// Names an expression (`score`, `branch` conditions, `set` values) may use at the top level.
pub const EXPRESSION_VARIABLES: &[&str] = &["fields", "score", "tags", "channel", "last_reply", "intent"];

#[derive(Debug)]
pub enum TemplateError {
    /// A syntax error, with the line and the byte offset inside the template when known.
    Syntax { line: Option<usize>, offset: Option<usize>, message: String },
}

/// The templates one workflow version references, compiled in one environment.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// Expressions read fields that are often missing: there, undefined is falsy, not an error.
    expressions: Environment<'static>,
}

fn expression_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

impl Default for Templates {
    fn default() -> Self {
        Templates { env: new_environment(), expressions: expression_environment() }
    }
}

impl Templates {
    /// Compiles every template; returns the templates that failed with their errors.
    pub fn compile(sources: &BTreeMap<String, String>) -> (Templates, Vec<(String, TemplateError)>) {
        let mut env = new_environment();
        let mut failures = Vec::new();
        for (name, text) in sources {
            if let Err(err) = env.add_template_owned(name.clone(), text.clone()) {
                failures.push((name.clone(), syntax_error(&err)));
            }
        }
        (Templates { env, expressions: expression_environment() }, failures)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// Top-level names a template uses that the context does not provide (a called name is
    /// left to the unknown-function check).
    pub fn unknown_variables(&self, name: &str) -> Vec<String> {
        use crate::catalog::lexer::{Callable, callables, template_blocks};
        match self.env.get_template(name) {
            Ok(template) => {
                let called: Vec<String> = callables(&template_blocks(template.source()))
                    .into_iter()
                    .filter(|(kind, _, _)| *kind == Callable::Function)
                    .map(|(_, word, _)| word)
                    .collect();
                let mut unknown = unknown(template.undeclared_variables(false), TEMPLATE_VARIABLES);
                unknown.retain(|v| !called.contains(v));
                unknown
            }
            Err(_) => Vec::new(),
        }
    }

    /// Every variable a template reads, nested (`prospect.phone`, `fields.budget`).
    pub fn used_variables(&self, name: &str) -> HashSet<String> {
        match self.env.get_template(name) {
            Ok(template) => template.undeclared_variables(true),
            Err(_) => HashSet::new(),
        }
    }

    pub fn render(&self, name: &str, context: &Value) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| e.to_string())?;
        template.render(context).map(|s| s.trim().to_string()).map_err(|e| describe(&e))
    }

    /// Checks an expression's syntax and returns the variables it uses (nested, e.g. `fields.budget`).
    pub fn check_expression(&self, source: &str) -> Result<HashSet<String>, String> {
        let expr = self.expressions.compile_expression(source).map_err(|e| describe(&e))?;
        Ok(expr.undeclared_variables(true))
    }

    pub fn eval(&self, source: &str, context: &Value) -> Result<Value, String> {
        let expr = self.expressions.compile_expression(source).map_err(|e| describe(&e))?;
        expr.eval(context).map_err(|e| describe(&e))
    }
}

/// Names minijinja provides, as candidates for a "did you mean" (each is confirmed by
/// [`Templates::knows`] before it is suggested).
const BUILT_IN_NAMES: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "zip",
    "defined",
    "undefined",
    "none",
    "escaped",
    "boolean",
    "odd",
    "even",
    "divisibleby",
    "number",
    "integer",
    "sequence",
    "iterable",
    "mapping",
    "sameas",
    "eq",
    "equalto",
    "ne",
    "lt",
    "lessthan",
    "le",
    "gt",
    "greaterthan",
    "ge",
    "in",
    "true",
    "false",
    "filter",
    "test",
    "startingwith",
    "endingwith",
    "range",
    "dict",
    "namespace",
    "debug",
];

impl Templates {
    /// Whether minijinja knows the filter, test or function `name` (it would fail at render
    /// time with "unknown filter" otherwise). Probed on a bare environment: no template runs.
    pub fn knows(&self, kind: crate::catalog::lexer::Callable, name: &str) -> bool {
        use crate::catalog::lexer::Callable;
        let probe = match kind {
            Callable::Filter => format!("{{{{ x | {name} }}}}"),
            Callable::Test => format!("{{{{ x is {name} }}}}"),
            Callable::Function => format!("{{{{ {name}() }}}}"),
        };
        let unknown = match kind {
            Callable::Filter => minijinja::ErrorKind::UnknownFilter,
            Callable::Test => minijinja::ErrorKind::UnknownTest,
            Callable::Function => minijinja::ErrorKind::UnknownFunction,
        };
        let env = new_environment();
        !matches!(env.render_str(&probe, minijinja::context! { x => 1 }), Err(e) if e.kind() == unknown)
    }

    /// The names of `kind` minijinja knows, for suggestions.
    pub fn known_names(&self, kind: crate::catalog::lexer::Callable) -> Vec<&'static str> {
        BUILT_IN_NAMES.iter().copied().filter(|n| self.knows(kind, n)).collect()
    }
}

fn unknown(used: HashSet<String>, allowed: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = used.into_iter().filter(|v| !allowed.contains(&v.as_str())).collect();
    out.sort();
    out
}

fn syntax_error(err: &minijinja::Error) -> TemplateError {
    TemplateError::Syntax { line: err.line(), offset: err.range().map(|r| r.start), message: describe(err) }
}

/// minijinja's message without its own location suffix.
fn describe(err: &minijinja::Error) -> String {
    let mut message = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    if let Some(source) = std::error::Error::source(err) {
        message.push_str(&format!(" ({source})"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_undefined_and_unknown_variables() {
        let mut sources = BTreeMap::new();
        sources.insert("a.j2".to_string(), "Hi {{ prospect.first_name }} {{ budgte }}".to_string());
        sources.insert("bad.j2".to_string(), "{% if %}".to_string());
        let (templates, failures) = Templates::compile(&sources);
        assert_eq!(failures.len(), 1);
        assert_eq!(templates.unknown_variables("a.j2"), vec!["budgte".to_string()]);
        let ctx = minijinja::context! { prospect => minijinja::context!{} };
        assert!(templates.render("a.j2", &ctx).is_err());
    }

    #[test]
    fn expressions_report_nested_variables() {
        let templates = Templates::default();
        let used = templates.check_expression("fields.budget >= 1000 and score > 3").unwrap();
        assert!(used.contains("fields.budget"));
        assert!(templates.check_expression("fields.budget >=").is_err());
    }
}
