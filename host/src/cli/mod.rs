//! The `casebridge` command line.
//!
//! Why: one binary serves the API and carries the admin verbs scripts need.
//! Invariants: machine-readable output goes to stdout, logs to stderr; errors exit non-zero with
//! a one-line cause; `anyhow` is used here and nowhere below.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::{self, LogFormat};

pub mod findings;
pub mod keys;
pub mod outbox;
pub mod serve;
pub mod sync;

#[derive(Debug, Parser)]
#[command(
    name = "casebridge",
    version,
    about = "Security findings to tickets, kept in sync"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "CASEBRIDGE_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives; shared by every subcommand that opens the store.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Database URL (sqlite://… or postgres://…). Default: an SQLite file in --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the embedded database and caches.
    #[arg(long, env = "CASEBRIDGE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl StoreArgs {
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(crate::config::database_url(
            self.database_url.as_deref(),
            &self.data_dir,
        )?)
    }

    pub async fn open(&self) -> anyhow::Result<crate::store::Store> {
        let url = self.url()?;
        tracing::debug!(database = %crate::config::redacted(&url), "opening store");
        Ok(crate::store::Store::connect(&url).await?)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(serve::ServeArgs),
    /// Manage API keys.
    Keys(keys::KeysArgs),
    /// Work with findings (import).
    Findings(findings::FindingsArgs),
    /// Inspect and re-queue sync outbox effects.
    Outbox(outbox::OutboxArgs),
    /// Sync health of integrations; pause and resume them.
    Sync(sync::SyncArgs),
}

/// Entry point of the binary.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Keys(args) => keys::run(args).await,
        Command::Findings(args) => findings::run(args).await,
        Command::Outbox(args) => outbox::run(args).await,
        Command::Sync(args) => sync::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("casebridge: {err:#}");
            ExitCode::FAILURE
        }
    }
}
