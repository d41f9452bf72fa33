//! What applies an effect: the [`EffectExecutor`] a connector provides for each effect kind.
//!
//! Why: the outbox and its workers know nothing of Jira or ServiceNow; the connector layer
//! registers one executor per effect kind (`create_ticket`, `transition`, …) and the workers
//! call it. A kind without an executor in this process is never claimed here: it waits (and
//! shows in health) until a process that can run it does.
//!
//! Invariants an executor must keep:
//! - `execute` makes at most one remote change per call and reports it as an
//!   [`EffectOutcome`]; it never records the outcome itself (the worker does, fenced on the
//!   lease) and does not hold a database transaction across the remote call.
//! - When `effect.attempt > 1` — above all when `effect.previous_outcome_unknown` — an executor
//!   that creates things first looks the effect up on the backend by `effect.correlation_key`
//!   and adopts what it finds, so a create is applied exactly once.
//! - `on_settled` writes only to the transaction it is given: its writes commit together with
//!   the effect's final state, or not at all (a lost lease rolls both back).

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::clock::SharedClock;
use super::effect::{ClaimedEffect, EffectOutcome, OutcomeKind};
use crate::store::{Store, StoreError, Tx};

/// What the worker gives an executor besides the effect.
#[derive(Debug, Clone)]
pub struct ExecutionContext {
    /// For reads (or transactions of the executor's own that must not wait for the outcome).
    pub store: Store,
    pub clock: SharedClock,
    /// Id of the worker running the call (for logs).
    pub worker_id: String,
}

/// How an effect ended, as `on_settled` sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// Applied; `result` is what `execute` returned with `Done`.
    Done { result: Value },
    /// Given up: rejected, not found, or out of attempts.
    Failed {
        outcome: OutcomeKind,
        detail: String,
    },
}

/// Applies effects of one or more kinds.
pub trait EffectExecutor: Send + Sync + 'static {
    /// Performs one attempt of `effect` on the backend.
    fn execute<'a>(
        &'a self,
        effect: &'a ClaimedEffect,
        ctx: &'a ExecutionContext,
    ) -> BoxFuture<'a, EffectOutcome>;

    /// Writes the domain consequences of a final outcome (e.g. the ticket link of a create)
    /// into `tx`, the transaction that also marks the effect done or failed.
    fn on_settled<'a>(
        &'a self,
        _effect: &'a ClaimedEffect,
        _settlement: &'a Settlement,
        _tx: &'a mut Tx,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The executors of this process, by effect kind.
#[derive(Clone, Default)]
pub struct ExecutorRegistry {
    executors: HashMap<String, Arc<dyn EffectExecutor>>,
}

impl std::fmt::Debug for ExecutorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorRegistry")
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl ExecutorRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs effects of `kind` with `executor` (replacing any earlier one for that kind).
    pub fn register(&mut self, kind: impl Into<String>, executor: Arc<dyn EffectExecutor>) {
        self.executors.insert(kind.into(), executor);
    }

    /// Builder form of [`ExecutorRegistry::register`].
    pub fn with(mut self, kind: impl Into<String>, executor: Arc<dyn EffectExecutor>) -> Self {
        self.register(kind, executor);
        self
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn EffectExecutor>> {
        self.executors.get(kind)
    }

    /// The kinds this process can run, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.executors.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    pub fn is_empty(&self) -> bool {
        self.executors.is_empty()
    }
}
