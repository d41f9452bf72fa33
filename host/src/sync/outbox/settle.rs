//! Recording what happened to a claimed effect: done, retry later, failed, or released.
//!
//! Why: the outcome of a remote call must land in the database together with the domain writes
//! it implies (a ticket link, a follow-up effect), so every settlement takes the caller's
//! transaction; the [`Outbox`] methods of the same names open and commit one for callers that
//! have nothing else to write.
//!
//! Invariants:
//! - Every settlement is fenced on the claim's `lease_owner` and `state = 'in_flight'`. When the
//!   fence fails (the lease was taken over, or the effect already settled) the settlement
//!   returns [`StoreError::Conflict`] (see [`is_lease_lost`]) and the caller must roll back its
//!   transaction: a stale worker changes nothing.
//! - A settlement clears the lease. Done and failed effects get `completed_at`; pending ones get
//!   the instant of their next attempt.

use serde_json::Value;

use super::Outbox;
use crate::store::{StoreError, Tx};
use crate::sync::effect::{ClaimedEffect, OutcomeKind};

const LEASE_LOST: &str = "lease lost";

fn lease_lost(effect: &ClaimedEffect) -> StoreError {
    StoreError::Conflict(format!(
        "{LEASE_LOST}: effect {} is no longer held by {}",
        effect.id, effect.lease.owner
    ))
}

/// True when a settlement failed because the claim no longer holds the effect.
pub fn is_lease_lost(err: &StoreError) -> bool {
    matches!(err, StoreError::Conflict(detail) if detail.starts_with(LEASE_LOST))
}

fn expect_one(done: sqlx::any::AnyQueryResult, effect: &ClaimedEffect) -> Result<(), StoreError> {
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(lease_lost(effect))
    }
}

/// Marks the effect done with the executor's `result`, in the caller's transaction (the one
/// holding the executor's domain writes).
pub async fn complete(
    tx: &mut Tx,
    effect: &ClaimedEffect,
    result: &Value,
    now: i64,
) -> Result<(), StoreError> {
    let result = serde_json::to_string(result)
        .map_err(|e| StoreError::Corrupt(format!("serializing effect result: {e}")))?;
    let done = sqlx::query(
        "UPDATE sync_outbox SET state = 'done', result = $1, last_outcome = 'done', \
         last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, \
         completed_at = $2, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND state = 'in_flight'",
    )
    .bind(result)
    .bind(now)
    .bind(effect.id.as_str())
    .bind(&effect.lease.owner)
    .execute(&mut **tx)
    .await?;
    expect_one(done, effect)
}

/// How to put an effect back in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryLater {
    /// Earliest instant of the next attempt.
    pub at_ms: i64,
    pub outcome: OutcomeKind,
    pub error: String,
    /// Whether this attempt counts toward the attempt limit (transient: yes; rate-limited or a
    /// paused integration: no).
    pub counts_as_failure: bool,
}

/// Returns the effect to `pending` until `retry.at_ms`, recording the outcome.
pub async fn retry_later(
    tx: &mut Tx,
    effect: &ClaimedEffect,
    retry: &RetryLater,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE sync_outbox SET state = 'pending', next_attempt_at = $1, last_outcome = $2, \
         last_error = $3, failures = failures + $4, lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = $5 \
         WHERE id = $6 AND lease_owner = $7 AND state = 'in_flight'",
    )
    .bind(retry.at_ms)
    .bind(retry.outcome.as_str())
    .bind(&retry.error)
    .bind(i64::from(retry.counts_as_failure))
    .bind(now)
    .bind(effect.id.as_str())
    .bind(&effect.lease.owner)
    .execute(&mut **tx)
    .await?;
    expect_one(done, effect)
}

/// Gives up on the effect: `failed` with `outcome` and `reason`, visible until an admin retries.
pub async fn fail(
    tx: &mut Tx,
    effect: &ClaimedEffect,
    outcome: OutcomeKind,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE sync_outbox SET state = 'failed', last_outcome = $1, last_error = $2, \
         lease_owner = NULL, lease_expires_at = NULL, completed_at = $3, updated_at = $3 \
         WHERE id = $4 AND lease_owner = $5 AND state = 'in_flight'",
    )
    .bind(outcome.as_str())
    .bind(reason)
    .bind(now)
    .bind(effect.id.as_str())
    .bind(&effect.lease.owner)
    .execute(&mut **tx)
    .await?;
    expect_one(done, effect)
}

/// Hands a claim back without an outcome, due at `at_ms`.
///
/// `started = false`: the executor was never called (shutdown before it, or the token bucket
/// asked for a long wait): the attempt is not counted. `started = true`: the call was cut off
/// and may have reached the backend: the effect is marked `interrupted`, so the next attempt
/// sees "previous outcome unknown".
pub async fn release(
    tx: &mut Tx,
    effect: &ClaimedEffect,
    started: bool,
    at_ms: i64,
    now: i64,
) -> Result<(), StoreError> {
    let sql = if started {
        "UPDATE sync_outbox SET state = 'pending', next_attempt_at = $1, \
         last_outcome = 'interrupted', \
         last_error = 'the worker stopped while the call was in progress; outcome unknown', \
         lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND state = 'in_flight'"
    } else {
        "UPDATE sync_outbox SET state = 'pending', next_attempt_at = $1, \
         attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND state = 'in_flight'"
    };
    let done = sqlx::query(sql)
        .bind(at_ms)
        .bind(now)
        .bind(effect.id.as_str())
        .bind(&effect.lease.owner)
        .execute(&mut **tx)
        .await?;
    expect_one(done, effect)
}

impl Outbox {
    /// [`complete`] in a transaction of its own (no domain writes).
    pub async fn complete(
        &self,
        effect: &ClaimedEffect,
        result: &Value,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        complete(&mut tx, effect, result, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`retry_later`] in a transaction of its own.
    pub async fn retry_later(
        &self,
        effect: &ClaimedEffect,
        retry: &RetryLater,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        retry_later(&mut tx, effect, retry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`fail`] in a transaction of its own.
    pub async fn fail(
        &self,
        effect: &ClaimedEffect,
        outcome: OutcomeKind,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        fail(&mut tx, effect, outcome, reason, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`release`] in a transaction of its own.
    pub async fn release(
        &self,
        effect: &ClaimedEffect,
        started: bool,
        at_ms: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        release(&mut tx, effect, started, at_ms, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
