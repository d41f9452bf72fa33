//! The worker pool of a process: tokio tasks that claim and run effects until shut down.
//!
//! Why: effects must flow without anyone asking — promptly after an enqueue in this process
//! (the store's outbox wake signal), within a poll interval otherwise (enqueues by other
//! replicas, retries coming due, gates opening).
//!
//! Invariants:
//! - Each task loops over [`Dispatcher::run_round`]; after a round that settled something it
//!   goes again at once (a settled effect may free the next one of its key), waking a sibling
//!   too when the batch was full; otherwise it sleeps until woken, the poll interval passes, or
//!   shutdown starts.
//! - [`WorkerPool::shutdown`] stops claiming, gives calls in flight `grace` to finish and record,
//!   then cuts the rest off and releases their claims as interrupted (so the next attempt knows
//!   the outcome is unknown). Nothing in flight is left leased by a clean shutdown.
//! - Dropping the pool without shutdown aborts like a crash: leases expire and other workers
//!   take over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::dispatch::{Dispatcher, Handled, Phase};

/// The running worker tasks of this process.
pub struct WorkerPool {
    dispatcher: Arc<Dispatcher>,
    phase: watch::Sender<Phase>,
    tasks: Vec<JoinHandle<()>>,
    process_id: String,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("process_id", &self.process_id)
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

/// An id for this process's workers: pid plus a random suffix (pids repeat across hosts).
pub fn process_worker_id() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("pid{}-{}", std::process::id(), &suffix[..8])
}

impl WorkerPool {
    /// Starts `dispatcher.config().workers` tasks.
    pub fn start(dispatcher: Arc<Dispatcher>) -> WorkerPool {
        let (phase, _) = watch::channel(Phase::Running);
        let process_id = process_worker_id();
        let count = dispatcher.config().workers.max(1);
        if dispatcher.has_no_executors() {
            tracing::info!(
                "no effect executors registered; outbox effects wait for a process that has them"
            );
        }
        let tasks = (0..count)
            .map(|n| {
                let worker_id = format!("{process_id}/w{n}");
                tokio::spawn(worker_loop(
                    dispatcher.clone(),
                    worker_id,
                    phase.subscribe(),
                ))
            })
            .collect();
        tracing::info!(workers = count, process = %process_id, "sync workers started");
        WorkerPool {
            dispatcher,
            phase,
            tasks,
            process_id,
        }
    }

    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    /// Wakes a waiting worker (as an enqueue in this process does).
    pub fn wake(&self) {
        self.dispatcher.outbox().store().outbox_wake().notify_one();
    }

    /// Stops the pool: drain for up to `grace`, then cut off and release what is still in flight.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.phase.send(Phase::Draining);
        let mut tasks = std::mem::take(&mut self.tasks);
        let drained = tokio::time::timeout(grace, join_all(&mut tasks)).await;
        if drained.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "sync workers did not drain in time; releasing calls in flight"
            );
            let _ = self.phase.send(Phase::Aborting);
            // Releasing is a short database write per effect; bound it anyway.
            if tokio::time::timeout(Duration::from_secs(10), join_all(&mut tasks))
                .await
                .is_err()
            {
                for task in &tasks {
                    task.abort();
                }
            }
        }
        tracing::info!(process = %self.process_id, "sync workers stopped");
    }
}

impl Drop for WorkerPool {
    /// Without a shutdown the tasks are aborted where they stand, as in a crash.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Waits for every task, removing finished ones (so a timeout can resume waiting on the rest).
async fn join_all(tasks: &mut Vec<JoinHandle<()>>) {
    while let Some(task) = tasks.last_mut() {
        if let Err(err) = task.await {
            if err.is_panic() {
                tracing::error!("a sync worker task panicked");
            }
        }
        tasks.pop();
    }
}

async fn worker_loop(
    dispatcher: Arc<Dispatcher>,
    worker_id: String,
    mut phase: watch::Receiver<Phase>,
) {
    let wake = dispatcher.outbox().store().outbox_wake().clone();
    let poll = dispatcher.config().poll_interval;
    let batch = dispatcher.config().claim_batch.max(1);
    let mut error_pause = Duration::from_millis(100);
    loop {
        let running = *phase.borrow() == Phase::Running;
        if !running {
            break;
        }
        match dispatcher.run_round(&worker_id, phase.clone()).await {
            Ok(handled) => {
                error_pause = Duration::from_millis(100);
                let claimed = handled.len();
                let progressed = handled
                    .iter()
                    .any(|h| matches!(h, Handled::Recorded(_) | Handled::LeaseLost));
                if claimed >= batch && progressed {
                    // There may be more than this task can take: let a sibling help.
                    wake.notify_one();
                }
                if progressed {
                    // A settled effect may have freed the next effect of its key: go again.
                    continue;
                }
            }
            Err(err) => {
                tracing::warn!(worker = %worker_id, error = %err, "claiming effects failed; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(error_pause) => {}
                    changed = phase.changed() => if changed.is_err() { break },
                }
                error_pause = (error_pause * 2).min(poll.max(Duration::from_millis(100)) * 10);
                continue;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            changed = phase.changed() => if changed.is_err() { break },
        }
    }
    tracing::debug!(worker = %worker_id, "sync worker stopped");
}
