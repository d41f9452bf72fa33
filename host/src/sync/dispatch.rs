//! One claim round: claim effects, pace them, run their executors under a renewed lease, and
//! record each outcome by the retry policy.
//!
//! Why: this is the part of the worker with the rules in it, kept apart from the task pool so
//! tests can drive it a round at a time ([`Dispatcher::run_once`]) on a clock they control.
//!
//! Invariants:
//! - Each outcome is recorded in one transaction together with its consequences: the gate it
//!   sets (integration or key not-before, pause), the integration's last error, and the
//!   executor's `on_settled` writes for final outcomes.
//!   - `Done` → done; `Transient` → pending after full-jitter backoff, failed once the attempt
//!     limit is reached; `RateLimited` → pending until the Retry-After, which also gates the
//!     integration (and slows its bucket) or, for the per-issue reason, only the key;
//!     `Unauthorized` / `InvalidConfig` → integration paused with the reason, effect pending
//!     (not counted as a failure); `Rejected` / `NotFound` → failed with that outcome.
//! - Every call is paced by its integration's token bucket; a wait longer than half the lease
//!   goes back to the queue (due when the bucket will have a slot) without taking a slot or
//!   counting an attempt.
//! - Nothing is recorded once the lease is lost (renewal refused or fenced settlement); the
//!   effect belongs to whoever took it over.
//! - A remote call whose outcome could not be recorded is released as `interrupted` (or left
//!   to its lease expiry), never as if it had not happened.
//! - An effect whose earlier attempts keep ending without an outcome (a call that kills its
//!   worker) fails after `max_attempts` such attempts instead of being retried forever.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::watch;

use super::clock::SharedClock;
use super::effect::{ClaimedEffect, EffectOutcome, OutcomeKind, PER_ISSUE_RATE_LIMIT_REASON};
use super::executor::{EffectExecutor, ExecutionContext, ExecutorRegistry, Settlement};
use super::gate;
use super::outbox::settle::is_lease_lost;
use super::outbox::{self, ClaimRequest, Outbox, RetryLater};
use super::rate::{RateConfig, RateLimiter};
use super::retry::{millis, RetryDecision, RetryPolicy};
use crate::store::StoreError;

/// Settings of the workers of one process.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Worker tasks in this process.
    pub workers: usize,
    /// How long a claim holds; renewed every third of it while the executor runs.
    pub lease: Duration,
    /// Longest sleep between claims when nothing wakes a worker.
    pub poll_interval: Duration,
    /// Effects one worker claims (and runs concurrently) per round.
    pub claim_batch: usize,
    pub retry: RetryPolicy,
    /// Pace of each integration unless overridden.
    pub rate: RateConfig,
    pub rate_overrides: Vec<(String, RateConfig)>,
    /// Seed of the jitter generator (tests); `None` seeds from the OS.
    pub rng_seed: Option<u64>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            claim_batch: 1,
            retry: RetryPolicy::default(),
            rate: RateConfig::default(),
            rate_overrides: Vec::new(),
            rng_seed: None,
        }
    }
}

/// Where a worker is in its life; in-flight calls watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Claim nothing more; let calls in flight finish and record.
    Draining,
    /// Cut calls in flight off and release their claims as interrupted.
    Aborting,
}

/// How one claimed effect ended in this round (for counting and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The outcome was recorded.
    Recorded(OutcomeKind),
    /// Handed back without calling the executor (pacing wait too long, or shutdown).
    Released,
    /// Cut off mid-call by shutdown; released as interrupted.
    Interrupted,
    /// Another worker holds it now; nothing recorded.
    LeaseLost,
    /// Recording failed; left to lease expiry or released as interrupted.
    Unrecorded,
}

/// Claims and runs effects; shared by the worker tasks of a process.
pub struct Dispatcher {
    outbox: Outbox,
    registry: ExecutorRegistry,
    limiter: RateLimiter,
    clock: SharedClock,
    config: WorkerConfig,
    kinds: Vec<String>,
    rng: Mutex<StdRng>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("kinds", &self.kinds)
            .field("config", &self.config)
            .finish()
    }
}

impl Dispatcher {
    pub fn new(
        outbox: Outbox,
        registry: ExecutorRegistry,
        config: WorkerConfig,
        clock: SharedClock,
    ) -> Self {
        let mut limiter = RateLimiter::new(config.rate);
        for (integration, rate) in &config.rate_overrides {
            limiter = limiter.with_override(integration.clone(), *rate);
        }
        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Dispatcher {
            kinds: registry.kinds(),
            outbox,
            registry,
            limiter,
            clock,
            config,
            rng: Mutex::new(rng),
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// True when no executor is registered (the workers then never claim).
    pub fn has_no_executors(&self) -> bool {
        self.kinds.is_empty()
    }

    /// One round for `worker_id`: claim up to `claim_batch` effects and run them to a recorded
    /// (or released) end. Returns what happened to each.
    pub async fn run_once(&self, worker_id: &str) -> Result<Vec<Handled>, StoreError> {
        let (_keep, phase) = watch::channel(Phase::Running);
        self.run_round(worker_id, phase).await
    }

    /// [`Dispatcher::run_once`] watching `phase` for shutdown.
    pub async fn run_round(
        &self,
        worker_id: &str,
        phase: watch::Receiver<Phase>,
    ) -> Result<Vec<Handled>, StoreError> {
        if self.kinds.is_empty() {
            return Ok(Vec::new());
        }
        let request = ClaimRequest {
            limit: self.config.claim_batch.max(1),
            lease_ms: millis(self.config.lease),
            kinds: Some(self.kinds.clone()),
        };
        let claimed = self
            .outbox
            .claim(worker_id, &request, self.clock.now_ms())
            .await?;
        let runs = claimed
            .into_iter()
            .map(|effect| self.process(worker_id, effect, phase.clone()));
        Ok(futures::future::join_all(runs).await)
    }

    async fn process(
        &self,
        worker_id: &str,
        effect: ClaimedEffect,
        mut phase: watch::Receiver<Phase>,
    ) -> Handled {
        let Some(executor) = self.registry.get(&effect.kind).cloned() else {
            // Cannot happen with a fixed registry; hand it back rather than guess.
            return self.release(&effect, false, self.clock.now_ms()).await;
        };
        if effect.previous_outcome_unknown && effect.failures >= self.config.retry.max_attempts {
            let detail = format!(
                "gave up after {} attempts without an outcome; last: {}",
                effect.failures,
                effect.last_error.as_deref().unwrap_or("lease expired")
            );
            return self
                .record(
                    executor.as_ref(),
                    &effect,
                    Settle::Fail(OutcomeKind::LeaseExpired, detail),
                )
                .await;
        }
        let running = *phase.borrow() == Phase::Running;
        if !running {
            return self.release(&effect, false, self.clock.now_ms()).await;
        }

        // Pace the integration; a long wait goes back to the queue rather than hold the lease.
        let now = self.clock.now_ms();
        let wait =
            match self
                .limiter
                .reserve_within(&effect.integration_id, now, self.config.lease / 2)
            {
                Ok(wait) => wait,
                Err(wait) => {
                    return self
                        .release(&effect, false, now.saturating_add(millis(wait)))
                        .await
                }
            };
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                () = phase.wait_for(|p| *p != Phase::Running).map(|_| ()) => {
                    return self.release(&effect, false, self.clock.now_ms()).await;
                }
            }
        }

        let ctx = ExecutionContext {
            store: self.outbox.store().clone(),
            clock: self.clock.clone(),
            worker_id: worker_id.to_string(),
        };
        let started = Instant::now();
        let call = AssertUnwindSafe(executor.execute(&effect, &ctx)).catch_unwind();
        let outcome = tokio::select! {
            outcome = call => match outcome {
                Ok(outcome) => outcome,
                Err(_) => EffectOutcome::Transient("the executor panicked".to_string()),
            },
            () = self.keep_lease(&effect) => {
                tracing::warn!(effect = %effect.id, "lease lost mid-call; abandoning the attempt");
                return Handled::LeaseLost;
            }
            () = phase.wait_for(|p| *p == Phase::Aborting).map(|_| ()) => {
                return self.release(&effect, true, self.clock.now_ms()).await;
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            target: "casebridge::sync::metrics",
            effect = %effect.id,
            integration = %effect.integration_id,
            kind = %effect.kind,
            attempt = effect.attempt,
            outcome = outcome.kind().as_str(),
            elapsed_ms,
            "effect attempt"
        );
        let settle = self.decide(&effect, outcome);
        self.record(executor.as_ref(), &effect, settle).await
    }

    /// Renews the lease every third of its length; returns only when it was lost.
    async fn keep_lease(&self, effect: &ClaimedEffect) {
        let period = (self.config.lease / 3).max(Duration::from_millis(10));
        loop {
            tokio::time::sleep(period).await;
            let now = self.clock.now_ms();
            let until = now.saturating_add(millis(self.config.lease));
            match self.outbox.renew_lease(effect, until, now).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::warn!(effect = %effect.id, error = %err, "lease renewal failed; will retry")
                }
            }
        }
    }

    /// Applies the retry policy to an outcome.
    fn decide(&self, effect: &ClaimedEffect, outcome: EffectOutcome) -> Settle {
        let kind = outcome.kind();
        let detail = outcome.detail().unwrap_or_default();
        match outcome {
            EffectOutcome::Done { result } => Settle::Done(result),
            EffectOutcome::Transient(message) => {
                let failures = effect.failures.saturating_add(1);
                let decision = {
                    let mut rng = self
                        .rng
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    self.config.retry.after_failure(failures, &mut *rng)
                };
                match decision {
                    RetryDecision::After(delay) => Settle::Retry {
                        delay,
                        outcome: kind,
                        detail: message,
                        counts_as_failure: true,
                        gate: Gate::None,
                    },
                    RetryDecision::GiveUp => Settle::Fail(
                        kind,
                        format!("gave up after {failures} failed attempts; last: {message}"),
                    ),
                }
            }
            EffectOutcome::RateLimited {
                retry_after_ms,
                reason,
            } => {
                let delay = self.config.retry.rate_limit_wait(retry_after_ms);
                let gate = if reason == PER_ISSUE_RATE_LIMIT_REASON {
                    Gate::Key
                } else {
                    Gate::Integration
                };
                Settle::Retry {
                    delay,
                    outcome: kind,
                    detail,
                    counts_as_failure: false,
                    gate,
                }
            }
            EffectOutcome::Unauthorized(_) | EffectOutcome::InvalidConfig(_) => Settle::Retry {
                delay: Duration::ZERO,
                outcome: kind,
                detail,
                counts_as_failure: false,
                gate: Gate::Pause,
            },
            EffectOutcome::NotFound(_) | EffectOutcome::Rejected(_) => Settle::Fail(kind, detail),
        }
    }

    /// Records a decision in one transaction with its consequences.
    async fn record(
        &self,
        executor: &dyn EffectExecutor,
        effect: &ClaimedEffect,
        settle: Settle,
    ) -> Handled {
        let now = self.clock.now_ms();
        let outcome = settle.outcome();
        let recorded = self.write(executor, effect, &settle, now).await;
        match recorded {
            Ok(()) => {
                match &settle {
                    Settle::Done(_) => self.limiter.speed_up(&effect.integration_id, now),
                    Settle::Retry {
                        gate: Gate::Integration,
                        delay,
                        ..
                    } => self.limiter.slow_down(
                        &effect.integration_id,
                        now,
                        now.saturating_add(millis(*delay)),
                    ),
                    _ => {}
                }
                Handled::Recorded(outcome)
            }
            Err(err) if is_lease_lost(&err) => {
                tracing::warn!(effect = %effect.id, "lease lost before recording; outcome discarded");
                Handled::LeaseLost
            }
            Err(err) => {
                tracing::error!(effect = %effect.id, error = %err, "recording the outcome failed");
                // The remote call happened (or may have): never pretend it did not.
                match self.outbox.release(effect, true, now, now).await {
                    Ok(()) => Handled::Unrecorded,
                    Err(release_err) => {
                        tracing::error!(
                            effect = %effect.id,
                            error = %release_err,
                            "releasing the claim failed; it returns when its lease expires"
                        );
                        Handled::Unrecorded
                    }
                }
            }
        }
    }

    async fn write(
        &self,
        executor: &dyn EffectExecutor,
        effect: &ClaimedEffect,
        settle: &Settle,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.outbox.store().begin_write().await?;
        let integration = effect.integration_id.as_str();
        match settle {
            // The fenced outbox write goes first: a lost lease stops here before the executor
            // writes anything, and on SQLite the transaction takes the write lock at once.
            Settle::Done(result) => {
                outbox::complete(&mut tx, effect, result, now).await?;
                let settlement = Settlement::Done {
                    result: result.clone(),
                };
                executor.on_settled(effect, &settlement, &mut tx).await?;
            }
            Settle::Fail(outcome, detail) => {
                outbox::fail(&mut tx, effect, *outcome, detail, now).await?;
                let settlement = Settlement::Failed {
                    outcome: *outcome,
                    detail: detail.clone(),
                };
                executor.on_settled(effect, &settlement, &mut tx).await?;
                gate::record_error(&mut tx, integration, *outcome, detail, now).await?;
            }
            Settle::Retry {
                delay,
                outcome,
                detail,
                counts_as_failure,
                gate,
            } => {
                let at_ms = now.saturating_add(millis(*delay));
                match gate {
                    Gate::None => {}
                    Gate::Integration => {
                        gate::delay_integration(&mut tx, integration, at_ms, detail, now).await?
                    }
                    Gate::Key => {
                        gate::delay_key(
                            &mut tx,
                            integration,
                            &effect.ordering_key,
                            at_ms,
                            detail,
                            now,
                        )
                        .await?
                    }
                    Gate::Pause => {
                        gate::pause_integration(&mut tx, integration, Some(*outcome), detail, now)
                            .await?
                    }
                }
                let retry = RetryLater {
                    at_ms,
                    outcome: *outcome,
                    error: detail.clone(),
                    counts_as_failure: *counts_as_failure,
                };
                outbox::retry_later(&mut tx, effect, &retry, now).await?;
                gate::record_error(&mut tx, integration, *outcome, detail, now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release(&self, effect: &ClaimedEffect, started: bool, at_ms: i64) -> Handled {
        let now = self.clock.now_ms();
        match self.outbox.release(effect, started, at_ms, now).await {
            Ok(()) if started => Handled::Interrupted,
            Ok(()) => Handled::Released,
            Err(err) if is_lease_lost(&err) => Handled::LeaseLost,
            Err(err) => {
                tracing::error!(effect = %effect.id, error = %err, "releasing a claim failed; it returns when its lease expires");
                Handled::Unrecorded
            }
        }
    }
}

/// Which gate a retry sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    None,
    /// The integration's not-before.
    Integration,
    /// The ordering key's not-before.
    Key,
    /// Pause the integration.
    Pause,
}

/// What to record for an attempt.
#[derive(Debug, Clone)]
enum Settle {
    Done(serde_json::Value),
    Retry {
        delay: Duration,
        outcome: OutcomeKind,
        detail: String,
        counts_as_failure: bool,
        gate: Gate,
    },
    Fail(OutcomeKind, String),
}

impl Settle {
    fn outcome(&self) -> OutcomeKind {
        match self {
            Settle::Done(_) => OutcomeKind::Done,
            Settle::Retry { outcome, .. } | Settle::Fail(outcome, _) => *outcome,
        }
    }
}

/// A dispatcher shared by worker tasks.
pub type SharedDispatcher = Arc<Dispatcher>;
