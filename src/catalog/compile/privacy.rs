//! A workflow's `privacy:` block: the legal basis of the people it imports and the notice its
//! first message carries. A workflow that writes first (its first step sends) and has an `ai`
//! step, without a notice, gets a warning: an outbound first contact owes the person the art. 14 information (who
//! writes, where the privacy notice is, how to stop) and, since the conversation is automated,
//! the AI Act's disclosure (`check --deny-warnings` makes it a requirement).

use super::context::{Ctx, at_path};
use crate::catalog::model::{LegalBasis, Step, StepKind, WorkflowPrivacy};
use crate::catalog::raw::RawPrivacy;
use crate::diagnostic::did_you_mean_suffix;

pub(super) fn compile_privacy(ctx: &mut Ctx, raw: Option<RawPrivacy>, steps: &[Step]) -> WorkflowPrivacy {
    let raw = raw.unwrap_or(RawPrivacy { legal_basis: None, notice: None });
    let legal_basis = match raw.legal_basis.as_deref() {
        None => LegalBasis::default(),
        Some(name) => LegalBasis::parse(name).unwrap_or_else(|| {
            let at = ctx.value_at(&at_path!["privacy", "legal_basis"]);
            let hint = did_you_mean_suffix(name, LegalBasis::NAMES);
            ctx.error(at, format!("unknown legal basis `{name}`{hint}; use one of {}", LegalBasis::NAMES.join(", ")));
            LegalBasis::default()
        }),
    };
    let notice = match raw.notice.map(|n| n.trim().to_string()) {
        Some(text) if text.is_empty() => {
            let at = ctx.value_at(&at_path!["privacy", "notice"]);
            ctx.error(at, "`privacy.notice` is empty: write who contacts the person, where the privacy notice is, that the conversation is automated and how to stop");
            None
        }
        other => other,
    };
    let automated = steps.iter().any(|s| matches!(s.kind, StepKind::Ai(_)));
    if notice.is_none()
        && automated
        && let Some(first) = steps.first()
        && matches!(first.kind, StepKind::Send { .. })
    {
        let at = ctx.value_at(&at_path!["steps", 0usize]);
        ctx.warning(
            at,
            format!(
                "this workflow writes first (step `{}` sends) and an AI runs the conversation, but it has no \
                 `privacy.notice`: a first contact must say who writes, where the privacy notice is and how to stop \
                 (GDPR art. 14), and that the conversation is automated (EU AI Act art. 50); add \
                 `privacy: {{ notice: \"…\" }}`, appended to the first message",
                first.id
            ),
        );
    }
    WorkflowPrivacy { legal_basis, notice }
}
