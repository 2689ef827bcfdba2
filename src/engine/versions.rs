//! Which compiled workflow version a prospect runs on: its own version, or the newest when its
//! current step still exists there (unless the workflow is `pinned`). Old versions are compiled
//! again from the sources stored by content hash.

use std::sync::Arc;

use crate::catalog::compile_source;
use crate::catalog::model::{Versioning, Workflow};
use crate::engine::Inner;
use crate::machine::ProspectState;

impl Inner {
    /// Resolves (and, when it moves, updates) the version of `state`. `Err` holds the reason the
    /// prospect cannot run.
    pub(crate) fn workflow_for(&self, state: &mut ProspectState) -> Result<Arc<Workflow>, String> {
        let catalog = self.catalog();
        let newest = catalog.workflow(&state.workflow).cloned();
        if let Some(newest) = &newest {
            if newest.version == state.version {
                return Ok(newest.clone());
            }
            let step_exists = state.step.as_deref().is_none_or(|s| newest.step_index(s).is_some());
            if newest.versioning == Versioning::Follow && step_exists {
                state.version = newest.version.clone();
                return Ok(newest.clone());
            }
        }
        if let Some(old) = self.old_version(&state.workflow, &state.version)? {
            return Ok(old);
        }
        Err(match (&newest, &state.step) {
            (Some(_), Some(step)) => format!(
                "version {} of workflow `{}` is no longer available and step `{step}` does not exist in the current version; restore the step, then resume the prospect",
                state.version, state.workflow
            ),
            _ => format!("workflow `{}` is no longer defined; restore it, then resume the prospect", state.workflow),
        })
    }

    fn old_version(&self, workflow: &str, version: &str) -> Result<Option<Arc<Workflow>>, String> {
        let key = (workflow.to_string(), version.to_string());
        if let Some(found) = self.versions.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Some(found.clone()));
        }
        let source = match self.store.workflow_source(workflow, version) {
            Ok(Some(source)) => source,
            Ok(None) => return Ok(None),
            Err(err) => return Err(format!("cannot read workflow version {version}: {err}")),
        };
        match compile_source(&source, &self.config.compile_options) {
            Ok(compiled) => {
                let compiled = Arc::new(compiled);
                self.versions.lock().unwrap_or_else(|e| e.into_inner()).insert(key, compiled.clone());
                Ok(Some(compiled))
            }
            Err(diagnostics) => {
                let first = diagnostics.first().map(|d| d.to_string()).unwrap_or_default();
                Err(format!("stored version {version} of workflow `{workflow}` no longer compiles: {first}"))
            }
        }
    }
}
