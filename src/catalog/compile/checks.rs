//! Whole-workflow checks: expressions against declared fields, and the step graph (no way
//! forward, unreachable steps, loops that never wait).

use crate::catalog::compile::context::Ctx;
use crate::catalog::model::{Field, Step, StepKind};
use crate::catalog::templates::{EXPRESSION_VARIABLES, Templates};
use crate::diagnostic::did_you_mean_suffix;
use crate::yaml::Segment;

/// Compiles `source` once and checks every variable it reads.
pub(crate) fn check_expression(
    ctx: &mut Ctx<'_>,
    templates: &Templates,
    source: &str,
    at: &[Segment],
    fields: &[Field],
) {
    let position = ctx.value_at(at);
    let used = match templates.check_expression(source) {
        Ok(used) => used,
        Err(message) => {
            ctx.error(position, format!("invalid expression `{source}`: {message}"));
            return;
        }
    };
    let mut used: Vec<String> = used.into_iter().collect();
    used.sort();
    for variable in used {
        let mut parts = variable.splitn(3, '.');
        let top = parts.next().unwrap_or_default();
        if !EXPRESSION_VARIABLES.contains(&top) {
            let suggestion = if fields.iter().any(|f| f.name == top) {
                format!(" (did you mean `fields.{top}`?)")
            } else {
                did_you_mean_suffix(top, EXPRESSION_VARIABLES.iter().copied())
            };
            ctx.error(
                position,
                format!(
                    "expression uses unknown variable `{top}`{suggestion}; available: {}",
                    EXPRESSION_VARIABLES.join(", ")
                ),
            );
            continue;
        }
        if top == "fields"
            && let Some(name) = parts.next()
            && !fields.iter().any(|f| f.name == name)
        {
            let suggestion = did_you_mean_suffix(name, fields.iter().map(|f| f.name.as_str()));
            ctx.error(
                position,
                format!("expression uses `fields.{name}`, which is not declared under `fields`{suggestion}"),
            );
        }
    }
    super::lint::check_expression_literals(ctx, source, at, fields);
}

/// Where a step can go next.
pub(crate) fn successors(step: &Step) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    match &step.kind {
        StepKind::End { .. } => {}
        StepKind::Branch { arms, otherwise } => {
            out.extend(arms.iter().map(|(_, i)| *i));
            // With an `else` the branch never falls through.
            out.extend(otherwise.or(step.next));
        }
        StepKind::WaitReply { on_timeout, .. } => {
            out.extend(step.next);
            out.push(*on_timeout);
        }
        StepKind::Ai(ai) => {
            out.extend(step.next);
            out.extend(ai.choose.iter().map(|(_, i)| *i));
            out.extend(ai.on_failure);
        }
        StepKind::Webhook { on_failure, .. } | StepKind::Notify { on_failure, .. } => {
            out.extend(step.next);
            out.extend(*on_failure);
        }
        _ => out.extend(step.next),
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn key_position(ctx: &Ctx<'_>, index: usize) -> crate::diagnostic::Position {
    ctx.root.locate(&[Segment::Key("steps".into()), Segment::Index(index), Segment::Key("id".into())])
}

pub(crate) fn check_graph(ctx: &mut Ctx<'_>, steps: &[Step], on_reply: Option<usize>) {
    for (index, step) in steps.iter().enumerate() {
        let stuck = match &step.kind {
            StepKind::End { .. } => false,
            StepKind::Branch { otherwise, .. } => otherwise.is_none() && step.next.is_none(),
            StepKind::Ai(ai) => step.next.is_none() && ai.choose.is_empty(),
            _ => step.next.is_none(),
        };
        if stuck {
            let at = key_position(ctx, index);
            ctx.error(
                at,
                format!("step `{}` has no way forward: it is the last step and not an `end`; add `next: <step>` or an `end` step after it", step.id),
            );
        }
    }
    let successors: Vec<Vec<usize>> = steps.iter().map(successors).collect();
    let mut reached = vec![false; steps.len()];
    let mut stack: Vec<usize> = std::iter::once(0).chain(on_reply).collect();
    while let Some(i) = stack.pop() {
        if i < steps.len() && !reached[i] {
            reached[i] = true;
            stack.extend(&successors[i]);
        }
    }
    for (index, step) in steps.iter().enumerate() {
        if !reached[index] {
            let at = key_position(ctx, index);
            ctx.warning(at, format!("step `{}` can never be reached", step.id));
        }
    }
    for cycle in spinning_loops(steps, &successors) {
        let first = *cycle.iter().min().unwrap_or(&0);
        let names: Vec<String> = cycle.iter().map(|i| format!("`{}`", steps[*i].id)).collect();
        let at = key_position(ctx, first);
        ctx.error(
            at,
            format!(
                "steps {} form a loop with no `wait` or `wait_reply`: a prospect would spin forever; add a wait inside the loop",
                names.join(" -> ")
            ),
        );
    }
}

/// The end of a template's fixed text, past trailing `{% %}` tags and comments; `None` when it
/// ends on a `{{ }}` output (unknown until rendered).
fn last_text(template: &str) -> Option<char> {
    let mut text = template.trim_end();
    loop {
        if text.ends_with("}}") {
            return None;
        }
        let tag = if text.ends_with("%}") {
            text.rfind("{%")
        } else if text.ends_with("#}") {
            text.rfind("{#")
        } else {
            return text.chars().last();
        };
        text = text[..tag?].trim_end();
    }
}

/// Warns about every `send` whose text asks a question (ends with `?`) from which a path reaches
/// an `end` without a `wait_reply`: the conversation would end on an unanswered question.
pub(crate) fn check_questions_answered(ctx: &mut Ctx<'_>, steps: &[Step], templates: &super::TemplateSet<'_>) {
    let successors: Vec<Vec<usize>> = steps.iter().map(successors).collect();
    for (index, step) in steps.iter().enumerate() {
        let StepKind::Send { template, .. } = &step.kind else { continue };
        if templates.sources.get(template).and_then(|t| last_text(t)) != Some('?') {
            continue;
        }
        let mut seen = vec![false; steps.len()];
        let mut stack = successors[index].clone();
        let mut end = None;
        while let Some(i) = stack.pop() {
            if i >= steps.len() || seen[i] {
                continue;
            }
            seen[i] = true;
            match &steps[i].kind {
                StepKind::WaitReply { .. } | StepKind::Send { .. } => {}
                StepKind::End { .. } => {
                    end = Some(i);
                    break;
                }
                _ => stack.extend(&successors[i]),
            }
        }
        if let Some(end) = end {
            let at = key_position(ctx, index);
            ctx.warning(
                at,
                format!(
                    "step `{}` asks a question (`{template}` ends with `?`) and a path from it reaches `end` (step `{}`) \
                     without a `wait_reply`: the conversation can end on an unanswered question; add a `wait_reply` \
                     after it, or close without a question",
                    step.id, steps[end].id
                ),
            );
        }
    }
}

fn waits(step: &Step) -> bool {
    matches!(step.kind, StepKind::Wait(_) | StepKind::WaitReply { .. })
}

/// Strongly connected components (Tarjan) of the graph without waiting steps that contain a cycle.
fn spinning_loops(steps: &[Step], successors: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        edges: &'a [Vec<usize>],
        skip: Vec<bool>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        out: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.counter);
            self.low[v] = self.counter;
            self.counter += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.edges[v] {
                if self.skip[w] {
                    continue;
                }
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                let self_loop = component.len() == 1 && self.edges[v].contains(&v);
                if component.len() > 1 || self_loop {
                    component.sort_unstable();
                    self.out.push(component);
                }
            }
        }
    }
    let n = steps.len();
    let mut tarjan = Tarjan {
        edges: successors,
        skip: steps.iter().map(waits).collect(),
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if !tarjan.skip[v] && tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    tarjan.out.sort();
    tarjan.out
}
