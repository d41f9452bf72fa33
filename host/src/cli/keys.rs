//! `casebridge keys create`: mint an API key pair for scripts and clients.
//!
//! Invariants: stdout carries exactly one JSON object `{"api_key": …, "app_key": …}` (plus the
//! key id and the owning user's id) and nothing else, so `$(casebridge keys create …)` can be
//! parsed by scripts.

use clap::{Args, Subcommand};

use super::StoreArgs;
use crate::api::auth::parse_scopes;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key pair and print it as JSON on stdout.
    Create {
        /// Name of the key (and of the user owning it, unless --user is given).
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: findings_read, findings_write, cases_read, cases_write,
        /// rules_read, rules_write, admin (Datadog permission names are accepted too).
        #[arg(long)]
        scopes: String,
        /// Handle of the user owning the key (created if new). Default: the key name.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Create {
            name,
            scopes,
            user,
            store,
        } => {
            let scopes = parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let names: Vec<String> = scopes.iter().map(|s| s.name().to_string()).collect();
            let store = store.open().await?;
            let handle = user.unwrap_or_else(|| name.clone());
            let key = store.create_api_key(&name, &handle, &names).await?;
            store.close().await;
            println!(
                "{}",
                serde_json::json!({"api_key": key.api_key, "app_key": key.app_key, "id": key.id, "user_id": key.user_id})
            );
            Ok(())
        }
        KeysCommand::Revoke { id, store } => {
            let store = store.open().await?;
            let revoked = store.revoke_api_key(&id).await?;
            store.close().await;
            if !revoked {
                anyhow::bail!("no live key with id {id}");
            }
            Ok(())
        }
    }
}
