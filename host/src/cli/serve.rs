//! `casebridge serve`: the API server.
//!
//! Invariants: SIGTERM and SIGINT stop accepting connections and let in-flight requests finish.
//! While serving, expired finding mutes are reopened every `--mute-sweep-secs` (reads already
//! treat them as expired; the sweep makes it durable and is safe on several replicas).
//! The sync workers (`--sync-workers`, 0 for an API-only replica) run the outbox with the
//! executors of [`effect_executors`]; on shutdown they get `--sync-shutdown-grace-secs` to
//! finish calls in flight, after which those are released as interrupted. Done effects older
//! than `--sync-retention-hours` are purged hourly (failed ones stay until an admin acts).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use std::time::Duration;

use super::StoreArgs;
use crate::api::{self, AppState};
use crate::store::{now_ms, Store};
use crate::sync::rate::RateConfig;
use crate::sync::retry::RetryPolicy;
use crate::sync::{clock, Dispatcher, ExecutorRegistry, Outbox, WorkerConfig, WorkerPool};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CASEBRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seconds between sweeps that reopen findings whose mute has expired.
    #[arg(long, env = "CASEBRIDGE_MUTE_SWEEP_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub mute_sweep_secs: u64,
    #[command(flatten)]
    pub sync: SyncWorkerArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Settings of the sync workers of this process.
#[derive(Debug, Clone, Args)]
pub struct SyncWorkerArgs {
    /// Sync worker tasks in this process (0: this replica runs no effects).
    #[arg(long, env = "CASEBRIDGE_SYNC_WORKERS", default_value_t = 4, value_parser = clap::value_parser!(u64).range(0..=256))]
    pub sync_workers: u64,
    /// Seconds a worker's claim on an effect lasts before another worker may take it over
    /// (renewed while the call runs).
    #[arg(long, env = "CASEBRIDGE_SYNC_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub sync_lease_secs: u64,
    /// Longest pause, in milliseconds, before an idle worker looks for due effects again.
    #[arg(long, env = "CASEBRIDGE_SYNC_POLL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub sync_poll_ms: u64,
    /// Calls per second to each integration (per process), sustained.
    #[arg(long, env = "CASEBRIDGE_SYNC_RATE", default_value_t = 10.0)]
    pub sync_rate: f64,
    /// Calls to one integration that may go at once after a quiet period.
    #[arg(long, env = "CASEBRIDGE_SYNC_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub sync_burst: u32,
    /// Failed attempts (transient or unknown outcome) after which an effect fails.
    #[arg(long, env = "CASEBRIDGE_SYNC_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub sync_max_attempts: u32,
    /// Seconds calls in flight get to finish on shutdown.
    #[arg(
        long,
        env = "CASEBRIDGE_SYNC_SHUTDOWN_GRACE_SECS",
        default_value_t = 10
    )]
    pub sync_shutdown_grace_secs: u64,
    /// Hours a done effect stays visible in the outbox before it is purged.
    #[arg(long, env = "CASEBRIDGE_SYNC_RETENTION_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..=87_600))]
    pub sync_retention_hours: u64,
}

impl SyncWorkerArgs {
    /// The worker configuration these flags describe.
    pub fn worker_config(&self) -> anyhow::Result<WorkerConfig> {
        let rate = RateConfig {
            per_second: self.sync_rate,
            burst: self.sync_burst,
        };
        rate.validate()
            .map_err(|why| anyhow::anyhow!("--sync-rate / --sync-burst: {why}"))?;
        Ok(WorkerConfig {
            workers: usize::try_from(self.sync_workers)?,
            lease: Duration::from_secs(self.sync_lease_secs),
            poll_interval: Duration::from_millis(self.sync_poll_ms),
            retry: RetryPolicy {
                max_attempts: self.sync_max_attempts,
                ..RetryPolicy::default()
            },
            rate,
            ..WorkerConfig::default()
        })
    }
}

/// The effect executors this build runs, by effect kind. Empty until the connector layer
/// registers its executors here; effects of kinds without an executor wait in the outbox
/// (visible in `sync health`) rather than fail.
pub fn effect_executors(_store: &Store) -> ExecutorRegistry {
    ExecutorRegistry::new()
}

/// Starts the sync workers, unless `--sync-workers 0`.
pub fn start_sync_workers(
    store: &Store,
    args: &SyncWorkerArgs,
    executors: ExecutorRegistry,
) -> anyhow::Result<Option<WorkerPool>> {
    let config = args.worker_config()?;
    if config.workers == 0 {
        tracing::info!("sync workers disabled on this replica (--sync-workers 0)");
        return Ok(None);
    }
    let dispatcher = Dispatcher::new(
        Outbox::new(store.clone()),
        executors,
        config,
        clock::system(),
    );
    Ok(Some(WorkerPool::start(std::sync::Arc::new(dispatcher))))
}

/// Purges done outbox effects older than `retention` every `period` until aborted.
pub fn spawn_outbox_purge(
    store: Store,
    retention: Duration,
    period: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let outbox = Outbox::new(store);
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let before =
                now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
            match outbox.purge_done(before).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "done outbox effects purged"),
                Err(err) => tracing::warn!(error = %err, "outbox purge failed; will retry"),
            }
        }
    })
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
    run_with_executors(args, effect_executors).await
}

/// [`run`] with the executor registry built by `executors` (embedders and tests).
pub async fn run_with_executors(
    args: ServeArgs,
    executors: impl FnOnce(&Store) -> ExecutorRegistry,
) -> anyhow::Result<()> {
    args.sync.worker_config()?; // refuse bad flags before opening anything
    let store = args.store.open().await.context("opening the database")?;
    let state = AppState::new(store.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, "casebridge serving");
    let sweep = spawn_mute_sweep(store.clone(), Duration::from_secs(args.mute_sweep_secs));
    let purge = spawn_outbox_purge(
        store.clone(),
        Duration::from_secs(args.sync.sync_retention_hours.saturating_mul(3600)),
        Duration::from_secs(3600),
    );
    let workers = start_sync_workers(&store, &args.sync, executors(&store))?;
    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP");
    sweep.abort();
    purge.abort();
    if let Some(workers) = workers {
        workers
            .shutdown(Duration::from_secs(args.sync.sync_shutdown_grace_secs))
            .await;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        sync: SyncWorkerArgs,
    }

    #[test]
    fn sync_flags_become_the_worker_config() {
        let flags = Flags::parse_from([
            "casebridge",
            "--sync-workers",
            "3",
            "--sync-lease-secs",
            "30",
            "--sync-rate",
            "2.5",
            "--sync-burst",
            "4",
            "--sync-max-attempts",
            "7",
        ]);
        let config = flags.sync.worker_config().unwrap();
        assert_eq!(config.workers, 3);
        assert_eq!(config.lease, Duration::from_secs(30));
        assert_eq!(config.rate.per_second, 2.5);
        assert_eq!(config.rate.burst, 4);
        assert_eq!(config.retry.max_attempts, 7);
    }

    #[test]
    fn nonsense_sync_flags_are_refused() {
        let flags = Flags::parse_from(["casebridge", "--sync-rate=-1"]);
        let err = flags.sync.worker_config().unwrap_err().to_string();
        assert!(err.contains("--sync-rate"), "{err}");
        assert!(Flags::try_parse_from(["casebridge", "--sync-lease-secs", "1"]).is_err());
    }

    #[tokio::test]
    async fn a_replica_with_zero_workers_runs_no_effects() {
        let db = crate::store::test_support::TestDb::sqlite().await.unwrap();
        let flags = Flags::parse_from(["casebridge", "--sync-workers", "0"]);
        let pool = start_sync_workers(&db.store, &flags.sync, ExecutorRegistry::new()).unwrap();
        assert!(pool.is_none());
        let flags = Flags::parse_from(["casebridge", "--sync-workers", "2"]);
        let pool = start_sync_workers(&db.store, &flags.sync, ExecutorRegistry::new())
            .unwrap()
            .unwrap();
        pool.shutdown(Duration::from_secs(1)).await;
        db.cleanup().await;
    }
}
