//! Pure compilation of one workflow file into a [`Workflow`]: header, fields, steps, then the
//! whole-graph checks. Every problem is collected; nothing stops at the first one.

mod checks;
pub(crate) mod context;
mod fields;
mod lint;
mod privacy;
mod steps;
#[cfg(test)]
mod tests_lint;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::catalog::model::{Intents, Versioning, Workflow, WorkflowSource};
use crate::catalog::raw::{RawSendWindow, RawVersioning, RawWorkflow};
use crate::catalog::templates::Templates;
use crate::channel::Channel;
use crate::diagnostic::{Diagnostic, did_you_mean_suffix};
use crate::schedule::{Holidays, SendWindow, parse_hours, parse_weekday};
use crate::yaml;
use context::{Ctx, at_path};

/// What the compiler needs to know about the daemon's settings.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Channels whose driver the settings configure.
    pub channels: Vec<Channel>,
    pub timezone: Tz,
    pub send_window: SendWindow,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { channels: Channel::ALL.to_vec(), timezone: Tz::UTC, send_window: SendWindow::always() }
    }
}

/// The prompt templates available to workflows, by name (path under the prompts dir).
pub struct TemplateSet<'a> {
    pub dir: &'a Path,
    pub sources: &'a BTreeMap<String, String>,
    /// Every template compiled together, for existence and variable checks.
    pub compiled: &'a Templates,
}

/// Compiles one workflow file. Returns the workflow when there is no error, and every diagnostic.
pub fn compile_workflow(
    file: &Path,
    text: &str,
    templates: &TemplateSet<'_>,
    options: &CompileOptions,
) -> (Option<Workflow>, Vec<Diagnostic>) {
    let root = match yaml::parse(file, text) {
        Ok(root) => root,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    if root.as_map().is_none() {
        let message = "a workflow file must be a mapping with at least `id`, `channel` and `steps`";
        return (None, vec![Diagnostic::error(file, root.at, message)]);
    }
    let mut ctx = Ctx::new(file, &root);
    let raw: Option<RawWorkflow> = match root.deserialize(file) {
        Ok(raw) => Some(raw),
        Err(mut diagnostic) => {
            diagnostic.message = context::plain_words(&diagnostic.message);
            ctx.push(diagnostic);
            None
        }
    };
    // Fields and steps are compiled even when the header is broken, to report everything at once.
    let fields = fields::compile_fields(&mut ctx);
    let compiled_steps = steps::compile_steps(&mut ctx, &fields, templates, options);
    let Some(raw) = raw else {
        return (None, ctx.diagnostics);
    };
    check_id(&mut ctx, file, &raw.id);
    check_channel(&mut ctx, raw.channel, &at_path!["channel"], options);
    let entry = raw.entry.unwrap_or(crate::catalog::raw::RawEntry { import: true, inbound: None });
    let entry_inbound = entry.inbound.map(|i| i.into_vec()).unwrap_or_default();
    for channel in &entry_inbound {
        check_channel(&mut ctx, *channel, &at_path!["entry", "inbound"], options);
    }
    let holidays = match raw.send_window.as_ref().and_then(|w| w.holidays.as_deref()) {
        Some(code) => Holidays::parse(code).unwrap_or_else(|message| {
            let at = ctx.value_at(&at_path!["send_window", "holidays"]);
            ctx.error(at, message);
            Holidays::None
        }),
        None => Holidays::None,
    };
    let send_window = raw.send_window.map(|w| compile_window(&mut ctx, w, options));
    if let Some(score) = &raw.score {
        checks::check_expression(&mut ctx, templates.compiled, score, &at_path!["score"], &fields);
    }
    let on_reply = raw.on_reply.as_ref().and_then(|name| {
        let at = ctx.value_at(&at_path!["on_reply"]);
        compiled_steps.names.resolve(&mut ctx, name, at, "on_reply target")
    });
    let Some(step_list) = compiled_steps.steps else {
        return (None, ctx.diagnostics);
    };
    checks::check_graph(&mut ctx, &step_list, on_reply);
    checks::check_questions_answered(&mut ctx, &step_list, templates);
    let privacy = privacy::compile_privacy(&mut ctx, raw.privacy, &step_list);
    if ctx.has_errors() {
        return (None, ctx.diagnostics);
    }
    let referenced = steps::referenced_templates(&step_list);
    let source = WorkflowSource {
        file: file.display().to_string(),
        text: text.to_string(),
        templates: referenced
            .iter()
            .filter_map(|name| templates.sources.get(name).map(|t| (name.clone(), t.clone())))
            .collect(),
    };
    let (workflow_templates, _) = Templates::compile(&source.templates);
    let intents = raw.intents.unwrap_or_default();
    let workflow = Workflow {
        version: version_hash(&source),
        id: raw.id,
        description: raw.description,
        channel: raw.channel,
        entry_import: entry.import,
        entry_inbound,
        send_window,
        holidays,
        messages_per_day: raw.limits.and_then(|l| l.messages_per_day),
        fields,
        score: raw.score,
        on_reply,
        versioning: match raw.versioning {
            Some(RawVersioning::Pinned) => Versioning::Pinned,
            _ => Versioning::Follow,
        },
        intents: Intents {
            opt_out: intents.opt_out,
            positive: intents.positive,
            negative: intents.negative,
            question: intents.question,
        },
        context: raw.context.unwrap_or(serde_json::Value::Null),
        steps: step_list,
        templates: Arc::new(workflow_templates),
        source,
        privacy,
    };
    (Some(workflow), ctx.diagnostics)
}

/// Recompiles a stored workflow version on its own (its templates travel with it).
pub fn compile_source(source: &WorkflowSource, options: &CompileOptions) -> Result<Workflow, Vec<Diagnostic>> {
    let (compiled, _) = Templates::compile(&source.templates);
    let set = TemplateSet { dir: Path::new("prompts"), sources: &source.templates, compiled: &compiled };
    match compile_workflow(Path::new(&source.file), &source.text, &set, options) {
        (Some(workflow), _) => Ok(workflow),
        (None, diagnostics) => Err(diagnostics),
    }
}

fn version_hash(source: &WorkflowSource) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.text.as_bytes());
    for (name, text) in &source.templates {
        hasher.update([0u8]);
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update(text.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn check_id(ctx: &mut Ctx<'_>, file: &Path, id: &str) {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if id != stem {
        let at = ctx.value_at(&at_path!["id"]);
        ctx.error(at, format!("workflow id `{id}` must equal the file name `{stem}` (rename one of them)"));
    }
}

fn check_channel(ctx: &mut Ctx<'_>, channel: Channel, at: &[crate::yaml::Segment], options: &CompileOptions) {
    if !options.channels.contains(&channel) {
        let at = ctx.value_at(at);
        ctx.error(
            at,
            format!(
                "channel `{channel}` is not configured in the settings (add `channels.{channel}` to the config file)"
            ),
        );
    }
}

fn compile_window(ctx: &mut Ctx<'_>, raw: RawSendWindow, options: &CompileOptions) -> SendWindow {
    let mut window = options.send_window.clone();
    window.timezone = options.timezone;
    if let Some(name) = &raw.timezone {
        match Tz::from_str(name) {
            Ok(tz) => window.timezone = tz,
            Err(_) => {
                let at = ctx.value_at(&at_path!["send_window", "timezone"]);
                let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
                let suggestion = did_you_mean_suffix(name, names);
                ctx.error(
                    at,
                    format!("unknown timezone `{name}`{suggestion}; use an IANA name such as `Europe/Paris`"),
                );
            }
        }
    }
    if let Some(days) = &raw.days {
        let mut set = [false; 7];
        for (i, day) in days.iter().enumerate() {
            match parse_weekday(day) {
                Ok(d) => set[d.num_days_from_monday() as usize] = true,
                Err(message) => {
                    let at = ctx.value_at(&at_path!["send_window", "days", i]);
                    ctx.error(at, message);
                }
            }
        }
        if days.is_empty() {
            let at = ctx.value_at(&at_path!["send_window", "days"]);
            ctx.error(at, "`send_window.days` is empty: nothing could ever be sent");
        }
        window.days = set;
    }
    if let Some(hours) = &raw.hours {
        match parse_hours(hours) {
            Ok((start, end)) => {
                window.start = start;
                window.end = end;
            }
            Err(message) => {
                let at = ctx.value_at(&at_path!["send_window", "hours"]);
                ctx.error(at, message);
            }
        }
    }
    window
}
