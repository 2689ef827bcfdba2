//! The operator commands as `main` calls them: `backup`, `restore`, `suppression
//! export|import`, `status`. Each returns what to print on stdout, or an error saying what to
//! do; `import` has its own module.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Access, access, backup, client, status as status_text, suppression};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Backup(#[from] backup::Error),
    #[error(transparent)]
    Client(#[from] client::Error),
    #[error(transparent)]
    Suppression(#[from] suppression::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

fn settings(config: &Path) -> Result<Settings, Error> {
    crate::settings::load(config).map_err(|diagnostics| {
        let listing: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
        Error::Settings(listing.join("\n"))
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `qualifyd backup`: offline when the store is free, else the running daemon writes it.
pub async fn backup(config: &Path, out: &Path, server: Option<&str>, token: Option<String>) -> Result<String, Error> {
    let settings = settings(config)?;
    let out = absolute(out);
    let manifest = match access(&settings, server, token)? {
        Access::Offline(store) => backup::write(&store, &out, "offline")?,
        Access::Online(client) => {
            let answer = client.post("/v1/backup", &json!({ "out": out })).await?;
            serde_json::from_value(answer["manifest"].clone())
                .map_err(|e| client::Error::Decode { what: "POST /v1/backup".into(), message: e.to_string() })?
        }
    };
    Ok(format!(
        "backup written to {} ({}): {} records, {} key files; the master key is not in it: keep it apart\n",
        out.display(),
        manifest.mode,
        manifest.records,
        manifest.key_files
    ))
}

/// `qualifyd restore BACKUP --data-dir NEW`.
pub fn restore(config: &Path, from: &Path, data_dir: &Path) -> Result<String, Error> {
    let mut settings = settings(config)?;
    settings.data_dir = absolute(data_dir);
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|source| Error::Write { path: settings.data_dir.display().to_string(), source })?;
    let restored = backup::restore(from, &settings)?;
    Ok(format!(
        "restored {} records ({} prospects) from the {} backup of {} into {}; set `data_dir` to it and start the \
         daemon, then import the suppression list exported from the old store (`qualifyd suppression import`) so \
         no opt-out recorded after the backup is lost\n",
        restored.manifest.records,
        restored.prospects,
        restored.manifest.mode,
        restored.manifest.created_at.to_rfc3339(),
        restored.data_dir.display()
    ))
}

/// `qualifyd suppression export [--out FILE]`: the file's text goes to stdout without `--out`.
pub async fn suppression_export(
    config: &Path,
    out: Option<&Path>,
    server: Option<&str>,
    token: Option<String>,
) -> Result<String, Error> {
    let settings = settings(config)?;
    let export = suppression::export(access(&settings, server, token)?).await?;
    let text = serde_json::to_string_pretty(&export).unwrap_or_default() + "\n";
    match out {
        None => Ok(text),
        Some(path) => {
            std::fs::write(path, &text).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
            Ok(format!("{} suppression list entries written to {}\n", export.entries.len(), path.display()))
        }
    }
}

/// `qualifyd suppression import FILE`.
pub async fn suppression_import(
    config: &Path,
    file: &Path,
    server: Option<&str>,
    token: Option<String>,
) -> Result<String, Error> {
    let settings = settings(config)?;
    let export = suppression::read(file)?;
    let (added, total) = suppression::import(access(&settings, server, token)?, &export).await?;
    Ok(format!("{added} of {total} suppression list entries added ({} already there)\n", total - added))
}

/// `qualifyd status`: needs a running daemon; the settings file only gives its address.
pub async fn status(config: &Path, server: Option<&str>, token: Option<String>) -> Result<String, Error> {
    let server = match server {
        Some(server) => server.to_string(),
        None => client::default_server(settings(config)?.listen),
    };
    let client = client::Client::new(&server, token);
    let answer = client.get("/v1/status").await?;
    Ok(status_text::render(client.base(), &answer))
}
