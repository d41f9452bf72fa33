//! `casebridge outbox list|show|retry|cancel`: the admin view of the sync outbox from a shell.
//!
//! Why: an operator must be able to see failed effects and re-queue them on a host where the
//! API is not reachable (or before any API key exists); this works on the database directly,
//! through the same store code as `/api/v2/casebridge/outbox`.
//! Invariants: stdout carries one JSON document per command, in the API's JSON:API shapes
//! (`outbox_effects` resources); a retry or cancel of an effect in the wrong state, or of an
//! unknown id, exits non-zero naming the reason and changes nothing.

use clap::{Args, Subcommand};
use serde_json::json;

use super::StoreArgs;
use crate::api::outbox::{effect_resource, DEFAULT_PAGE_SIZE};
use crate::store::now_ms;
use crate::sync::effect::EffectState;
use crate::sync::outbox::{EffectCursor, EffectFilter, MAX_PAGE_SIZE};
use crate::sync::Outbox;

#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub command: OutboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List effects, oldest first.
    List {
        /// Only effects of this integration.
        #[arg(long)]
        integration: Option<String>,
        /// Only effects in this state: pending, in_flight, done, failed, cancelled.
        #[arg(long, value_parser = parse_state)]
        state: Option<EffectState>,
        /// Only effects of this ordering key (ticket or case).
        #[arg(long)]
        key: Option<String>,
        /// Only effects of this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = DEFAULT_PAGE_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..=MAX_PAGE_SIZE as u64))]
        limit: u64,
        /// Resume after this cursor (the `next_cursor` of a previous page).
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show one effect.
    Show {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Re-queue failed (or cancelled) effects.
    Retry {
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Withdraw a pending or failed effect so it is never sent (unless retried).
    Cancel {
        id: String,
        /// Why (shown as the effect's last error).
        #[arg(long, default_value = "cancelled from the command line")]
        reason: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_state(text: &str) -> Result<EffectState, String> {
    EffectState::parse(text).ok_or_else(|| {
        let known: Vec<&str> = EffectState::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", known.join(", "))
    })
}

pub async fn run(args: OutboxArgs) -> anyhow::Result<()> {
    match args.command {
        OutboxCommand::List {
            integration,
            state,
            key,
            kind,
            limit,
            cursor,
            store,
        } => {
            let after = match cursor {
                Some(text) => Some(
                    EffectCursor::decode(&text)
                        .ok_or_else(|| anyhow::anyhow!("--cursor {text:?} is not a cursor"))?,
                ),
                None => None,
            };
            let filter = EffectFilter {
                integration_id: integration,
                state,
                ordering_key: key,
                kind,
                limit: usize::try_from(limit)?,
                after,
            };
            let store = store.open().await?;
            let page = Outbox::new(store.clone()).list(&filter).await;
            store.close().await;
            let page = page?;
            let data: Vec<_> = page.effects.iter().map(effect_resource).collect();
            let next = page.next_cursor.as_ref().map(EffectCursor::encode);
            println!(
                "{}",
                json!({"data": data, "meta": {"page": {"limit": limit, "next_cursor": next}}})
            );
            Ok(())
        }
        OutboxCommand::Show { id, store } => {
            let store = store.open().await?;
            let effect = Outbox::new(store.clone()).get(&id).await;
            store.close().await;
            let effect = effect?.ok_or_else(|| anyhow::anyhow!("no outbox effect {id}"))?;
            println!("{}", json!({"data": effect_resource(&effect)}));
            Ok(())
        }
        OutboxCommand::Retry { ids, store } => {
            let store = store.open().await?;
            let outbox = Outbox::new(store.clone());
            let mut retried = Vec::new();
            let mut refused = Vec::new();
            for id in &ids {
                match outbox.retry_failed(id, now_ms()).await {
                    Ok(effect) => retried.push(effect_resource(&effect)),
                    Err(err) => refused.push(json!({"id": id, "error": err.to_string()})),
                }
            }
            store.close().await;
            println!("{}", json!({"data": retried, "errors": refused}));
            if !refused.is_empty() {
                anyhow::bail!(
                    "{} of {} effects could not be retried",
                    refused.len(),
                    ids.len()
                );
            }
            Ok(())
        }
        OutboxCommand::Cancel { id, reason, store } => {
            let store = store.open().await?;
            let effect = Outbox::new(store.clone())
                .cancel(&id, &reason, now_ms())
                .await;
            store.close().await;
            println!("{}", json!({"data": effect_resource(&effect?)}));
            Ok(())
        }
    }
}
