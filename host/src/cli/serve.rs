//! `casebridge serve`: the API server.
//!
//! Invariants: SIGTERM and SIGINT stop accepting connections and let in-flight requests finish.
//! While serving, expired finding mutes are reopened every `--mute-sweep-secs` (reads already
//! treat them as expired; the sweep makes it durable and is safe on several replicas).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use std::time::Duration;

use super::StoreArgs;
use crate::api::{self, AppState};
use crate::store::{now_ms, Store};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CASEBRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seconds between sweeps that reopen findings whose mute has expired.
    #[arg(long, env = "CASEBRIDGE_MUTE_SWEEP_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub mute_sweep_secs: u64,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs [`Store::reopen_expired_mutes`] every `period` until the task is aborted.
pub fn spawn_mute_sweep(store: Store, period: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.reopen_expired_mutes(now_ms()).await {
                Ok(0) => {}
                Ok(reopened) => tracing::info!(reopened, "expired finding mutes reopened"),
                Err(err) => tracing::warn!(error = %err, "mute expiry sweep failed; will retry"),
            }
        }
    })
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let store = args.store.open().await.context("opening the database")?;
    let state = AppState::new(store.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, "casebridge serving");
    let sweep = spawn_mute_sweep(store.clone(), Duration::from_secs(args.mute_sweep_secs));
    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP");
    sweep.abort();
    served?;
    store.close().await;
    tracing::info!("casebridge stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
