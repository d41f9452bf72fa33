//! `casebridge sync health|pause|resume`: per-integration sync state from a shell.
//!
//! Why: "is Jira sync stuck, and why?" must have an answer on the host itself: backlog, failed
//! count, oldest pending age, last error, pause reason and Retry-After gate.
//! Invariants: stdout carries one JSON document in the API's `sync_health` shape; `health`
//! without an integration reports every integration the outbox knows, as a list.

use clap::{Args, Subcommand};
use serde_json::json;

use super::StoreArgs;
use crate::api::outbox::health_resource;
use crate::store::now_ms;
use crate::sync::effect::check_name;
use crate::sync::Outbox;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: SyncCommand,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Show sync health of one integration, or of every integration the outbox knows.
    Health {
        integration: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Stop sending effects to an integration until it is resumed.
    Pause {
        integration: String,
        #[arg(long, default_value = "paused from the command line")]
        reason: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Send effects to a paused integration again.
    Resume {
        integration: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn checked(integration: &str) -> anyhow::Result<()> {
    check_name("integration", integration).map_err(anyhow::Error::msg)
}

async fn print_health(outbox: &Outbox, integration: &str) -> anyhow::Result<()> {
    let health = outbox.health(integration, now_ms()).await?;
    let resource = health_resource(&health).map_err(|e| anyhow::anyhow!(e.detail))?;
    println!("{}", json!({"data": resource}));
    Ok(())
}

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    match args.command {
        SyncCommand::Health { integration, store } => {
            let store = store.open().await?;
            let outbox = Outbox::new(store.clone());
            let outcome = match integration {
                Some(integration) => {
                    checked(&integration)?;
                    print_health(&outbox, &integration).await
                }
                None => {
                    async {
                        let now = now_ms();
                        let mut data = Vec::new();
                        for integration in outbox.integrations().await? {
                            let health = outbox.health(&integration, now).await?;
                            data.push(
                                health_resource(&health).map_err(|e| anyhow::anyhow!(e.detail))?,
                            );
                        }
                        println!("{}", json!({"data": data}));
                        Ok(())
                    }
                    .await
                }
            };
            store.close().await;
            outcome
        }
        SyncCommand::Pause {
            integration,
            reason,
            store,
        } => {
            checked(&integration)?;
            let store = store.open().await?;
            let outbox = Outbox::new(store.clone());
            let outcome = async {
                outbox
                    .pause_integration(&integration, None, &reason, now_ms())
                    .await?;
                print_health(&outbox, &integration).await
            }
            .await;
            store.close().await;
            outcome
        }
        SyncCommand::Resume { integration, store } => {
            checked(&integration)?;
            let store = store.open().await?;
            let outbox = Outbox::new(store.clone());
            let outcome = async {
                if !outbox.resume_integration(&integration, now_ms()).await? {
                    eprintln!("casebridge: integration {integration} was not paused");
                }
                print_health(&outbox, &integration).await
            }
            .await;
            store.close().await;
            outcome
        }
    }
}
