//! `casebridge-doubles`: runs the Jira and ServiceNow doubles as one process for Python tests and
//! the README demo. Prints one JSON line with base URLs and credentials, then serves until
//! interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use casebridge_doubles::common::outbound::WebhookTarget;
use casebridge_doubles::jira::model::JiraSeed;
use casebridge_doubles::jira::{JiraConfig, JiraDouble};
use casebridge_doubles::servicenow::tables::ServiceNowSeed;
use casebridge_doubles::servicenow::{ServiceNowConfig, ServiceNowDouble};
use clap::Parser;
use serde::Deserialize;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "casebridge-doubles",
    about = "Stateful Jira and ServiceNow test doubles"
)]
struct Args {
    /// Address for the Jira double (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    jira_listen: SocketAddr,
    /// Address for the ServiceNow double (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    servicenow_listen: SocketAddr,
    /// Receiver for both Jira webhooks and ServiceNow notifications.
    #[arg(long)]
    webhook_url: Option<String>,
    /// HMAC secret for signatures on both.
    #[arg(long)]
    webhook_secret: Option<String>,
    /// Jira-only webhook receiver (overrides --webhook-url for Jira).
    #[arg(long)]
    jira_webhook_url: Option<String>,
    /// ServiceNow-only notification receiver (overrides --webhook-url for ServiceNow).
    #[arg(long)]
    servicenow_webhook_url: Option<String>,
    /// JSON file `{"jira": {...JiraSeed}, "servicenow": {...ServiceNowSeed}}`; missing parts
    /// keep the defaults.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Seed of the probability-fault RNG.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Do not start the Jira double.
    #[arg(long)]
    no_jira: bool,
    /// Do not start the ServiceNow double.
    #[arg(long)]
    no_servicenow: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SeedFile {
    jira: Option<JiraSeed>,
    servicenow: Option<ServiceNowSeed>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let seeds: SeedFile = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("parsing seed file {}", path.display()))?
        }
        None => SeedFile::default(),
    };
    let target = |specific: &Option<String>| {
        specific
            .clone()
            .or_else(|| args.webhook_url.clone())
            .map(|url| WebhookTarget {
                url,
                secret: args.webhook_secret.clone(),
            })
    };
    let mut line = serde_json::Map::new();
    let jira = if args.no_jira {
        None
    } else {
        let config = JiraConfig {
            listen: args.jira_listen,
            seed: seeds.jira.clone().unwrap_or_default(),
            webhook: target(&args.jira_webhook_url),
            fault_seed: args.fault_seed,
            ..JiraConfig::default()
        };
        let handle = JiraDouble::start(config)
            .await
            .context("starting the Jira double")?;
        line.insert(
            "jira".into(),
            json!({"base_url": handle.base_url(), "credentials": handle.credentials()}),
        );
        Some(handle)
    };
    let servicenow = if args.no_servicenow {
        None
    } else {
        let config = ServiceNowConfig {
            listen: args.servicenow_listen,
            seed: seeds.servicenow.clone().unwrap_or_default(),
            notifications: target(&args.servicenow_webhook_url),
            fault_seed: args.fault_seed,
            ..ServiceNowConfig::default()
        };
        let handle = ServiceNowDouble::start(config)
            .await
            .context("starting the ServiceNow double")?;
        line.insert(
            "servicenow".into(),
            json!({"base_url": handle.base_url(), "credentials": handle.credentials()}),
        );
        Some(handle)
    };
    println!("{}", serde_json::Value::Object(line));
    wait_for_shutdown().await;
    drop(jira);
    drop(servicenow);
    Ok(())
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
