//! Command-line interface types (clap). No behaviour here.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "qualifyd", version, about = "Qualifies sales leads by conversation")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon until SIGINT/SIGTERM.
    Serve {
        /// The daemon's settings file.
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// Override `listen` from the settings file.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Override `data_dir` from the settings file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Compile the settings, every workflow and every prompt; print every problem. No sockets, no store.
    Check {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Talk to a workflow as a prospect, in the terminal, on a virtual clock. Nothing is sent.
    Simulate {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// The workflow id.
        #[arg(long, short)]
        workflow: String,
        /// The prospect's phone number.
        #[arg(long)]
        phone: Option<String>,
        /// The prospect's name.
        #[arg(long)]
        name: Option<String>,
        /// The prospect's email address.
        #[arg(long)]
        email: Option<String>,
        /// Start the virtual clock here (RFC 3339); default Monday 2026-01-05 10:00 in the
        /// workflow's send-window timezone.
        #[arg(long)]
        start: Option<String>,
        /// The prospect starts by writing, even when the workflow takes imports.
        #[arg(long)]
        inbound: bool,
        /// Answer `ai` steps from this file of recorded answers instead of the settings' provider.
        #[arg(long)]
        replay: Option<PathBuf>,
    },
    /// Run conversation scripts (default: `<workflows_dir>/tests/`) and check their expectations.
    Test {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Script files or directories (searched recursively for `*.yaml`).
        paths: Vec<PathBuf>,
    },
    /// Rewrite the store so that nothing erased or rectified survives in old files (stop the
    /// daemon first). Run it after erasures and retention sweeps; docs/privacy.md has a schedule.
    Compact {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// The data directory (default: `data_dir` of the settings).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Re-wrap every data key with a new master key (stop the daemon first). The new key comes
    /// from `--new-key-file` or QUALIFYD_NEW_MASTER_KEY; crash-safe: run it again to resume.
    RotateMasterKey {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// A file holding the new key (base64 of 32 random bytes).
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
    /// Print the record of processing activities (GDPR art. 30) the settings and workflows
    /// describe: purposes, legal bases, data, recipients (sub-processors), retention, security.
    PrivacyRecord {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
    },
    /// Score extraction on a labelled corpus (default: `<workflows_dir>/eval/`): per-field
    /// precision, recall and F1, intent accuracy, every miss; exit 1 below the corpus' thresholds.
    Eval {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// Which provider answers the cases.
        #[arg(long, value_enum, default_value_t = EvalProvider::Rules)]
        provider: EvalProvider,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// With `--provider openai`: read the model's answers from this file (written by
        /// `--record`) instead of calling the server.
        #[arg(long)]
        replay: Option<PathBuf>,
        /// Write the answers given, in case order, to this file (a replay file).
        #[arg(long)]
        record: Option<PathBuf>,
        /// Corpus files or directories (searched recursively for `*.yaml`).
        paths: Vec<PathBuf>,
    },
    /// Measure the daemon on this machine, each figure beside a baseline from the same run.
    /// Build with `--release` for figures that mean anything.
    Bench {
        /// Scenarios to run, in this order (default: all of them).
        #[arg(value_parser = ["ingest", "import", "engine", "timers", "restart", "reload", "footprint"])]
        scenarios: Vec<String>,
        /// Tiny sizes and short runs, done in seconds (CI smoke); the figures then mean nothing.
        #[arg(long)]
        quick: bool,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where scratch data goes (default: the system's temporary directory); removed after.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Import a CSV file of people into a workflow through the running daemon (resumable).
    Import {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// The CSV file: a header row, `,` or `;` between fields, UTF-8 (with or without BOM) or
        /// Windows-1252 as Excel writes it.
        file: PathBuf,
        /// The workflow to enter them into.
        #[arg(long, short)]
        workflow: String,
        /// `Column=target`: name, first_name, phone, email, messenger_psid, source, timezone, a
        /// field of the workflow, or `-` to leave the column out. Repeatable.
        #[arg(long = "map", value_name = "COLUMN=TARGET")]
        maps: Vec<String>,
        /// Check every row and print the problems; import nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        server: ServerArgs,
        /// Rows per request.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Write a consistent backup of the data directory: through the running daemon when one
    /// holds the store (it writes DIR on its host), else directly. Never includes the master key.
    Backup {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// A new (or empty) directory; with a running daemon, on the daemon's host.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make a new data directory from a backup (checks the master key against it first).
    Restore {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        /// The backup directory.
        backup: PathBuf,
        /// The new data directory (must not hold a store yet); point `data_dir` at it afterwards.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Export or import the suppression list on its own (keyed hashes, no contact details).
    Suppression {
        #[command(subcommand)]
        command: SuppressionCommand,
    },
    /// Summarise a running daemon: version, uptime, workflows, outbox, timers, last reload.
    Status {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuppressionCommand {
    /// Write the suppression list as JSON to FILE (default: stdout).
    Export {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Merge an exported suppression list into the store (entries already there are kept).
    Import {
        #[arg(long, short, default_value = "config.yaml", env = "QUALIFYD_CONFIG")]
        config: PathBuf,
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// How operator commands reach a running daemon.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Base URL of the daemon (default: its `listen` address from the settings file).
    #[arg(long)]
    pub server: Option<String>,
    /// An admin API token.
    #[arg(long, env = "QUALIFYD_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `qualifyd eval --provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalProvider {
    /// The offline rules provider.
    Rules,
    /// The OpenAI-compatible server of the settings (or `--replay`).
    Openai,
}
