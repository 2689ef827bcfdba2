//! Compiles the `steps:` list: ids first (so references resolve), then each step's kind.

use std::collections::{BTreeSet, HashMap};

use crate::catalog::compile::checks::check_expression;
use crate::catalog::compile::context::{Ctx, StepNames, at_path, is_identifier};
use crate::catalog::compile::{CompileOptions, TemplateSet};
use crate::catalog::model::{AiStep, Field, Step, StepKind, WaitFor};
use crate::catalog::raw::{RawAi, RawArm, RawStep, RawWait, STEP_KINDS};
use crate::catalog::templates::{PROSPECT_ATTRIBUTES, TEAM_PROSPECT_ATTRIBUTES, TEAM_VARIABLES};
use crate::channel::Channel;
use crate::diagnostic::did_you_mean_suffix;
use crate::schedule::parse_duration;
use crate::yaml::{NodeValue, Segment};

pub(crate) struct CompiledSteps {
    pub names: StepNames,
    /// `None` when any step failed to compile.
    pub steps: Option<Vec<Step>>,
}

pub(crate) fn compile_steps(
    ctx: &mut Ctx<'_>,
    fields: &[Field],
    templates: &TemplateSet<'_>,
    options: &CompileOptions,
) -> CompiledSteps {
    let nodes = ctx.root.get("steps").and_then(|s| s.as_seq()).unwrap_or(&[]);
    let names = collect_ids(ctx);
    if nodes.is_empty() {
        if ctx.root.get("steps").is_some_and(|s| s.as_seq().is_some()) {
            let at = ctx.key_at(&at_path!["steps"]);
            ctx.error(at, "`steps` is empty: a workflow needs at least one step");
        }
        return CompiledSteps { names, steps: None };
    }
    let mut steps = Vec::new();
    let mut ok = true;
    for (index, node) in nodes.iter().enumerate() {
        let within = match node.get("id").and_then(|n| n.as_str()) {
            Some(id) => format!("step `{id}`"),
            None => format!("step #{}", index + 1),
        };
        let raw: RawStep = match ctx.deserialize_in(node, &within) {
            Ok(raw) => raw,
            Err(diagnostic) => {
                ctx.push(diagnostic);
                ok = false;
                continue;
            }
        };
        let mut step = StepCompiler { ctx, index, names: &names, fields, templates, options };
        match step.compile(raw) {
            Some(compiled) => steps.push(compiled),
            None => ok = false,
        }
    }
    CompiledSteps { names, steps: ok.then_some(steps) }
}

/// Reads every step id up front and reports duplicates and bad names.
fn collect_ids(ctx: &mut Ctx<'_>) -> StepNames {
    let nodes = ctx.root.get("steps").and_then(|s| s.as_seq()).unwrap_or(&[]);
    let mut ids = Vec::new();
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    let mut problems = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let Some(id) = node.get("id").and_then(|n| n.as_str()) else {
            ids.push(String::new());
            continue;
        };
        let at = node.get("id").map(|n| n.at).unwrap_or(node.at);
        if let Some(line) = first_seen.get(id) {
            problems.push((at, format!("duplicate step id `{id}` (first defined on line {line})")));
        } else {
            first_seen.insert(id.to_string(), at.line);
        }
        if !is_identifier(id) {
            problems.push((at, format!("step id `{id}` must be snake_case (lowercase letters, digits and `_`)")));
        }
        let _ = index;
        ids.push(id.to_string());
    }
    for (at, message) in problems {
        ctx.error(at, message);
    }
    StepNames { ids }
}

struct StepCompiler<'c, 'a, 'n> {
    ctx: &'c mut Ctx<'a>,
    index: usize,
    names: &'n StepNames,
    fields: &'n [Field],
    templates: &'n TemplateSet<'n>,
    options: &'n CompileOptions,
}

impl StepCompiler<'_, '_, '_> {
    fn here(&self, keys: &[&str]) -> Vec<Segment> {
        let mut p = at_path!["steps", self.index].to_vec();
        p.extend(keys.iter().map(|k| Segment::Key((*k).to_string())));
        p
    }

    fn target(&mut self, name: &str, keys: &[&str], role: &str) -> Option<usize> {
        let at = self.ctx.value_at(&self.here(keys));
        self.names.resolve(self.ctx, name, at, role)
    }

    fn compile(&mut self, raw: RawStep) -> Option<Step> {
        let errors_before = self.ctx.diagnostics.iter().filter(|d| d.is_error()).count();
        let id = raw.id.clone();
        let present: Vec<&str> = STEP_KINDS.iter().copied().filter(|k| has_kind(&raw, k)).collect();
        if present.len() != 1 {
            self.kind_error(&id, &present);
            return None;
        }
        let explicit_next = match &raw.next {
            Some(name) => self.target(name, &["next"], "next step"),
            None => None,
        };
        let kind = self.compile_kind(raw)?;
        let is_end = matches!(kind, StepKind::End { .. });
        if is_end && explicit_next.is_some() {
            let at = self.ctx.key_at(&self.here(&["next"]));
            self.ctx.error(at, format!("step `{id}` is an `end`: it cannot have a `next`"));
        }
        let fallthrough = (self.index + 1 < self.names.ids.len()).then_some(self.index + 1);
        let next = if is_end { None } else { explicit_next.or(fallthrough) };
        let errors_after = self.ctx.diagnostics.iter().filter(|d| d.is_error()).count();
        (errors_after == errors_before).then_some(Step { id, kind, next })
    }

    /// Reports a step with no kind, an empty kind (`end:` alone), or several kinds.
    fn kind_error(&mut self, id: &str, present: &[&str]) {
        let step = self.ctx.root.get("steps").and_then(|s| s.as_seq()).and_then(|s| s.get(self.index));
        let is_empty = |kind: &&str| step.and_then(|n| n.get(kind)).is_some_and(|v| v.value == NodeValue::Null);
        if let Some(kind) = STEP_KINDS.iter().copied().find(is_empty).filter(|_| present.is_empty()) {
            let at = self.ctx.key_at(&self.here(&[kind]));
            let message = if kind == "end" {
                format!("step `{id}`: `end` needs an outcome, such as `end: qualified`")
            } else {
                format!("step `{id}`: `{kind}` has no value: give it its keys")
            };
            self.ctx.error(at, message);
            return;
        }
        let at = self.ctx.key_at(&at_path!["steps", self.index]);
        let message = if present.is_empty() {
            format!("step `{id}` has no kind: give it exactly one of {}", STEP_KINDS.join(", "))
        } else {
            format!("step `{id}` has several kinds ({}): give it exactly one", present.join(", "))
        };
        self.ctx.error(at, message);
    }

    fn compile_kind(&mut self, raw: RawStep) -> Option<StepKind> {
        if let Some(send) = raw.send {
            self.check_template(&send.template, &["send", "template"], false);
            let channel = send.channel.unwrap_or(self.default_channel());
            if send.channel.is_some() && !self.options.channels.contains(&channel) {
                let at = self.ctx.value_at(&self.here(&["send", "channel"]));
                self.ctx.error(at, format!("channel `{channel}` is not configured in the settings (add `channels.{channel}` to the config file)"));
            }
            let at = if send.channel.is_some() { self.here(&["send", "channel"]) } else { self.here(&["send"]) };
            super::lint::check_send_reach(self.ctx, channel, &at);
            return Some(StepKind::Send { template: send.template, channel });
        }
        if let Some(wait) = raw.wait {
            return self.compile_wait(wait).map(StepKind::Wait);
        }
        if let Some(wait) = raw.wait_reply {
            let timeout = self.duration(&wait.timeout, &["wait_reply", "timeout"]);
            let on_timeout = self.target(&wait.on_timeout, &["wait_reply", "on_timeout"], "on_timeout target");
            return Some(StepKind::WaitReply { timeout: timeout?, on_timeout: on_timeout? });
        }
        if let Some(ai) = raw.ai {
            return self.compile_ai(ai).map(StepKind::Ai);
        }
        if let Some(arms) = raw.branch {
            return self.compile_branch(arms);
        }
        if let Some(set) = raw.set {
            for (i, (name, expr)) in set.fields.iter().enumerate() {
                let _ = i;
                if !self.fields.iter().any(|f| &f.name == name) {
                    let at = self.ctx.key_at(&self.here(&["set", "fields", name]));
                    let suggestion = did_you_mean_suffix(name, self.fields.iter().map(|f| f.name.as_str()));
                    self.ctx.error(
                        at,
                        format!("`set` names field `{name}`, which is not declared under `fields`{suggestion}"),
                    );
                }
                let p = self.here(&["set", "fields", name]);
                check_expression(self.ctx, self.templates.compiled, expr, &p, self.fields);
                if let Some(field) = self.fields.iter().find(|f| &f.name == name) {
                    super::lint::check_set_type(self.ctx, expr, &p, field, self.fields);
                }
            }
            return Some(StepKind::Set { fields: set.fields.into_iter().collect(), tags: set.tags });
        }
        if let Some(notify) = raw.notify {
            self.check_template(&notify.template, &["notify", "template"], true);
            if notify.email.is_none() && notify.webhook.is_none() {
                let at = self.ctx.key_at(&self.here(&["notify"]));
                self.ctx.error(at, "`notify` needs an `email` address, a `webhook` URL, or both");
            }
            if let Some(email) = &notify.email
                && !email.contains('@')
            {
                let at = self.ctx.value_at(&self.here(&["notify", "email"]));
                self.ctx.error(at, format!("`{email}` is not an email address"));
            }
            if notify.email.is_some() && !self.options.channels.contains(&Channel::Email) {
                let at = self.ctx.key_at(&self.here(&["notify", "email"]));
                self.ctx.error(
                    at,
                    "`notify.email` needs an email channel, and the settings configure none: add \
                     `channels.email` (driver: smtp), or notify through `webhook:` instead",
                );
            }
            if let Some(url) = &notify.webhook {
                self.check_url(url, &["notify", "webhook"]);
            }
            let on_failure = match &notify.on_failure {
                Some(name) => Some(self.target(name, &["notify", "on_failure"], "on_failure target")?),
                None => None,
            };
            return Some(StepKind::Notify {
                email: notify.email,
                webhook: notify.webhook,
                template: notify.template,
                on_failure,
            });
        }
        if let Some(webhook) = raw.webhook {
            self.check_url(&webhook.url, &["webhook", "url"]);
            let on_failure = match &webhook.on_failure {
                Some(name) => Some(self.target(name, &["webhook", "on_failure"], "on_failure target")?),
                None => None,
            };
            return Some(StepKind::Webhook { url: webhook.url, on_failure });
        }
        let outcome = raw.end.unwrap_or_default();
        if !is_identifier(&outcome) {
            let at = self.ctx.value_at(&self.here(&["end"]));
            self.ctx.error(at, format!("end outcome `{outcome}` must be one snake_case word such as `qualified`, `disqualified` or `unresponsive`"));
        }
        Some(StepKind::End { outcome })
    }

    fn default_channel(&self) -> crate::channel::Channel {
        self.ctx
            .root
            .get("channel")
            .and_then(|c| c.as_str())
            .and_then(crate::channel::Channel::parse)
            .unwrap_or(crate::channel::Channel::Sms)
    }

    fn duration(&mut self, text: &str, keys: &[&str]) -> Option<chrono::Duration> {
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(message) => {
                let at = self.ctx.value_at(&self.here(keys));
                self.ctx.error(at, message);
                None
            }
        }
    }

    fn compile_wait(&mut self, wait: RawWait) -> Option<WaitFor> {
        match (wait.duration, wait.cron) {
            (Some(d), None) => self.duration(&d, &["wait", "duration"]).map(WaitFor::Duration),
            (None, Some(pattern)) => {
                let at = self.ctx.value_at(&self.here(&["wait", "cron"]));
                if pattern.split_whitespace().count() != 5 {
                    self.ctx.error(
                        at,
                        format!("cron `{pattern}` must have 5 fields: minute hour day-of-month month day-of-week"),
                    );
                    return None;
                }
                match pattern.parse::<croner::Cron>() {
                    Ok(cron) => Some(WaitFor::Cron(std::sync::Arc::new(cron))),
                    Err(err) => {
                        self.ctx.error(at, format!("invalid cron `{pattern}`: {err}"));
                        None
                    }
                }
            }
            _ => {
                let at = self.ctx.key_at(&self.here(&["wait"]));
                self.ctx.error(
                    at,
                    "`wait` needs exactly one of `duration` (such as `2d`) or `cron` (such as `0 9 * * 1-5`)",
                );
                None
            }
        }
    }

    fn compile_ai(&mut self, ai: RawAi) -> Option<AiStep> {
        self.check_template(&ai.prompt, &["ai", "prompt"], false);
        for (i, name) in ai.extract.iter().enumerate() {
            match self.fields.iter().find(|f| &f.name == name) {
                Some(field) if field.ask.is_none() => {
                    let at = self.ctx.value_at(&[self.here(&["ai", "extract"]), vec![Segment::Index(i)]].concat());
                    self.ctx.warning(
                        at,
                        format!(
                            "field `{name}` is extracted but has no `ask`: nobody can ask for it when it is missing"
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    let at = self.ctx.value_at(&[self.here(&["ai", "extract"]), vec![Segment::Index(i)]].concat());
                    let suggestion = did_you_mean_suffix(name, self.fields.iter().map(|f| f.name.as_str()));
                    self.ctx.error(
                        at,
                        format!("`extract` names field `{name}`, which is not declared under `fields`{suggestion}"),
                    );
                }
            }
        }
        let mut choose = Vec::new();
        for (i, name) in ai.choose.iter().flatten().enumerate() {
            let at = self.ctx.value_at(&[self.here(&["ai", "choose"]), vec![Segment::Index(i)]].concat());
            if let Some(index) = self.names.resolve(self.ctx, name, at, "choose target") {
                choose.push((name.clone(), index));
            }
        }
        let on_failure = match &ai.on_failure {
            Some(name) => Some(self.target(name, &["ai", "on_failure"], "on_failure target")?),
            None => None,
        };
        Some(AiStep { prompt: ai.prompt, extract: ai.extract, reply: ai.reply, choose, on_failure })
    }

    fn compile_branch(&mut self, arms: Vec<RawArm>) -> Option<StepKind> {
        let mut compiled = Vec::new();
        let mut otherwise = None;
        let count = arms.len();
        for (i, arm) in arms.into_iter().enumerate() {
            let arm_path = [self.here(&["branch"]), vec![Segment::Index(i)]].concat();
            let key = |k: &str| [arm_path.clone(), vec![Segment::Key(k.to_string())]].concat();
            match (arm.condition, arm.goto, arm.otherwise) {
                (Some(condition), Some(goto), None) => {
                    check_expression(self.ctx, self.templates.compiled, &condition, &key("if"), self.fields);
                    let at = self.ctx.value_at(&key("goto"));
                    if let Some(target) = self.names.resolve(self.ctx, &goto, at, "goto target") {
                        compiled.push((condition, target));
                    }
                }
                (None, None, Some(target)) => {
                    let at = self.ctx.value_at(&key("else"));
                    if i + 1 != count {
                        self.ctx.error(at, "`else` must be the last entry of a `branch`");
                    }
                    otherwise = self.names.resolve(self.ctx, &target, at, "else target");
                }
                _ => {
                    let at = self.ctx.value_at(&arm_path);
                    self.ctx.error(
                        at,
                        "each `branch` entry is either `{ if: <expression>, goto: <step> }` or `{ else: <step> }`",
                    );
                }
            }
        }
        if compiled.is_empty() && otherwise.is_none() {
            let at = self.ctx.key_at(&self.here(&["branch"]));
            self.ctx.error(at, "`branch` has no entries");
        }
        Some(StepKind::Branch { arms: compiled, otherwise })
    }

    /// The template must exist, compile, and read only known variables: a version that
    /// references a broken template is refused here, not when a message is due.
    fn check_template(&mut self, name: &str, keys: &[&str], team: bool) {
        let at = self.ctx.value_at(&self.here(keys));
        let file = self.templates.dir.join(name);
        if !self.templates.sources.contains_key(name) {
            let suggestion = did_you_mean_suffix(name, self.templates.sources.keys().map(String::as_str));
            let dir = self.templates.dir.display();
            self.ctx.error(at, format!("template `{name}` not found in {dir}{suggestion}"));
        } else if !self.templates.compiled.contains(name) {
            self.ctx.error(at, format!("template `{name}` has a syntax error (see {})", file.display()));
        } else {
            let unknown = self.templates.compiled.unknown_variables(name);
            if !unknown.is_empty() {
                let names = unknown.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ");
                self.ctx.error(at, format!("template `{name}` uses unknown variable {names} (see {})", file.display()));
            }
            self.check_audience(name, team, at);
            super::lint::check_template(self.ctx, self.templates, name, self.fields);
        }
    }

    /// Contact details and hand-off extras exist only in team-facing (`notify`) templates; an
    /// unknown attribute of `prospect` is an error in any template.
    fn check_audience(&mut self, name: &str, team: bool, at: crate::diagnostic::Position) {
        let file = self.templates.dir.join(name);
        let mut used: Vec<String> = self.templates.compiled.used_variables(name).into_iter().collect();
        used.sort();
        for variable in used {
            let (head, attribute) = match variable.split_once('.') {
                Some((head, rest)) => (head, rest.split('.').next()),
                None => (variable.as_str(), None),
            };
            if !team && TEAM_VARIABLES.contains(&head) {
                self.ctx.error(
                    at,
                    format!(
                        "template `{name}` uses `{head}`, which only team-facing templates (`notify`) see (see {})",
                        file.display()
                    ),
                );
            }
            let (Some(attribute), "prospect") = (attribute, head) else { continue };
            if PROSPECT_ATTRIBUTES.contains(&attribute) || (team && TEAM_PROSPECT_ATTRIBUTES.contains(&attribute)) {
                continue;
            }
            let message = if TEAM_PROSPECT_ATTRIBUTES.contains(&attribute) {
                format!(
                    "template `{name}` uses `prospect.{attribute}`: contact details are only in team-facing \
                     templates (`notify`), never in messages to the prospect or AI prompts (see {})",
                    file.display()
                )
            } else {
                let known: Vec<&str> = PROSPECT_ATTRIBUTES
                    .iter()
                    .chain(if team { TEAM_PROSPECT_ATTRIBUTES } else { &[] })
                    .copied()
                    .collect();
                let suggestion = did_you_mean_suffix(attribute, known.iter().copied());
                format!(
                    "template `{name}` uses unknown attribute `prospect.{attribute}`{suggestion}; available: {} (see {})",
                    known.join(", "),
                    file.display()
                )
            };
            self.ctx.error(at, message);
        }
    }

    fn check_url(&mut self, url: &str, keys: &[&str]) {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            let at = self.ctx.value_at(&self.here(keys));
            self.ctx.error(at, format!("`{url}` is not an http:// or https:// URL"));
        }
    }
}

fn has_kind(raw: &RawStep, kind: &str) -> bool {
    match kind {
        "send" => raw.send.is_some(),
        "wait" => raw.wait.is_some(),
        "wait_reply" => raw.wait_reply.is_some(),
        "ai" => raw.ai.is_some(),
        "branch" => raw.branch.is_some(),
        "set" => raw.set.is_some(),
        "notify" => raw.notify.is_some(),
        "webhook" => raw.webhook.is_some(),
        "end" => raw.end.is_some(),
        _ => false,
    }
}

/// Every template name the steps reference.
pub(crate) fn referenced_templates(steps: &[Step]) -> BTreeSet<String> {
    steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Send { template, .. } | StepKind::Notify { template, .. } => Some(template.clone()),
            StepKind::Ai(ai) => Some(ai.prompt.clone()),
            _ => None,
        })
        .collect()
}
