//! `qualifyd suppression export|import`: the suppression list on its own, to carry opt-outs
//! across a restore (opt-outs recorded after a backup was taken are exported from the old
//! store and imported into the restored one) or between stores. Entries are keyed hashes of
//! contacts (`kind`, `digest`, `at`, `cause`): no phone or email is ever in the file, and the
//! hashes only match in a store with the same suppression secret (or master key, which it is
//! derived from when unset). Importing merges: an entry already there keeps its date.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Access, client};
use crate::store::SuppressionEntry;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Access(#[from] super::backup::Error),
    #[error(transparent)]
    Client(#[from] client::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// The file `export` writes and `import` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    pub format: u32,
    pub entries: Vec<SuppressionEntry>,
}

pub async fn export(access: Access) -> Result<Export, Error> {
    let entries = match access {
        Access::Offline(store) => store.suppressions()?,
        Access::Online(client) => {
            let answer = client.get("/v1/privacy/suppression").await?;
            serde_json::from_value(answer["entries"].clone()).map_err(|e| client::Error::Decode {
                what: "GET /v1/privacy/suppression".into(),
                message: e.to_string(),
            })?
        }
    };
    Ok(Export { format: 1, entries })
}

/// Reads an export file; a damaged or foreign file is refused before anything is written.
pub fn read(path: &Path) -> Result<Export, Error> {
    let file = |message: String| Error::File { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| file(format!("cannot read it: {e}")))?;
    let export: Export = serde_json::from_str(&text).map_err(|e| {
        file(format!("not a suppression list export ({e}); write one with `qualifyd suppression export`"))
    })?;
    if export.format != 1 {
        return Err(file(format!("format {} is not one this version reads (1)", export.format)));
    }
    Ok(export)
}

/// Merges `export` into the store; returns (new entries, entries given).
pub async fn import(access: Access, export: &Export) -> Result<(usize, usize), Error> {
    let total = export.entries.len();
    let added = match access {
        Access::Offline(store) => store.add_suppressions(&export.entries)?,
        Access::Online(client) => {
            let answer = client.post("/v1/privacy/suppression", &json!({ "entries": export.entries })).await?;
            answer["added"].as_u64().unwrap_or(0) as usize
        }
    };
    Ok((added, total))
}
