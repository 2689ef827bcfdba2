//! Command-line interface types (clap). No behaviour here.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
}
