//! The durable outbox: enqueue inside the caller's transaction, claim with a lease, renew it.
//! Settlements live in [`settle`], admin reads and re-queues in [`admin`].
//!
//! Why: a remote effect must never be lost nor applied out of order, whichever replica runs it
//! and whenever a worker dies; the database is the only thing every replica shares.
//!
//! Invariants:
//! - [`enqueue`] writes in the caller's transaction: the effect exists iff the domain change that
//!   caused it committed.
//! - Effects of one `(integration_id, ordering_key)` get increasing `seq` in commit order: the
//!   enqueuer bumps the key's row in `sync_ordering_keys`, which serializes concurrent enqueuers
//!   of one key until the first commits.
//! - A claim hands out an effect only if it is due (pending and `next_attempt_at <= now`, or
//!   in flight with an expired lease), its kind is one the claimer can execute, no other effect
//!   of its key is unfinished with a smaller `seq` or in flight with a live lease, its key's
//!   not-before has passed, and its integration is neither paused nor before its not-before.
//!   So at most one effect per key is in flight, and a key's effects run in `seq` order.
//! - A claim is one statement. PostgreSQL locks candidates `FOR UPDATE SKIP LOCKED` and re-checks
//!   the row conditions on the locked version, so concurrent replicas never claim the same row.
//!   SQLite has one writer: the conditional `UPDATE … RETURNING` runs alone, so the same
//!   conditions give the same guarantee.
//! - Every claim writes a fresh `lease_owner` (`<worker>/<nonce>`); every settlement and renewal
//!   is fenced on it, so a worker whose lease was taken over can change nothing.
//! - Taking over an expired lease counts a failure and records `lease_expired`, which the
//!   executor sees as "previous outcome unknown".

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::effect::{ClaimedEffect, Effect, EffectId, EffectState, Lease, NewEffect, OutcomeKind};
use crate::store::{now_ms, Backend, Store, StoreError, Tx};

pub mod admin;
pub mod settle;

pub use admin::{EffectCursor, EffectFilter, EffectPage, MAX_PAGE_SIZE};
pub use settle::{complete, fail, release, retry_later, RetryLater};

/// Columns a claim returns (the claimed row after the update).
const CLAIM_COLUMNS: &str =
    "id, integration_id, ordering_key, seq, kind, payload, correlation_key, \
     attempts, failures, last_outcome, last_error, created_at, lease_owner, lease_expires_at";

/// Columns of a stored effect.
pub(crate) const EFFECT_COLUMNS: &str = "id, integration_id, ordering_key, seq, kind, payload, \
     correlation_key, state, attempts, failures, next_attempt_at, lease_owner, lease_expires_at, \
     last_outcome, last_error, result, created_at, updated_at, completed_at";

/// Handle on the outbox tables. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
}

/// What a worker asks for when it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Most effects handed out by this claim (they all have different keys).
    pub limit: usize,
    /// How long the claim holds before another worker may take the effects over.
    pub lease_ms: i64,
    /// Only effects of these kinds (`None`: any kind). An empty list claims nothing.
    pub kinds: Option<Vec<String>>,
}

/// Enqueues an effect inside the caller's transaction (wall-clock time). After committing, call
/// [`wake`] so this process's workers pick it up at once.
pub async fn enqueue(tx: &mut Tx, effect: NewEffect) -> Result<EffectId, StoreError> {
    enqueue_at(tx, effect, now_ms()).await
}

/// [`enqueue`] at an explicit instant (tests drive time by hand).
pub async fn enqueue_at(tx: &mut Tx, effect: NewEffect, now: i64) -> Result<EffectId, StoreError> {
    effect.validate().map_err(StoreError::Invalid)?;
    let seq_row = sqlx::query(
        "INSERT INTO sync_ordering_keys (integration_id, ordering_key, last_seq, not_before, updated_at) \
         VALUES ($1, $2, 1, 0, $3) \
         ON CONFLICT (integration_id, ordering_key) \
         DO UPDATE SET last_seq = sync_ordering_keys.last_seq + 1, updated_at = excluded.updated_at \
         RETURNING last_seq",
    )
    .bind(&effect.integration_id)
    .bind(&effect.ordering_key)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let seq: i64 = seq_row.try_get("last_seq")?;
    let id = EffectId::new();
    let payload = serde_json::to_string(&effect.payload)
        .map_err(|e| StoreError::Corrupt(format!("serializing effect payload: {e}")))?;
    let due = effect.not_before_ms.map_or(now, |at| at.max(now));
    sqlx::query(
        "INSERT INTO sync_outbox (id, integration_id, ordering_key, seq, kind, payload, \
         correlation_key, state, attempts, failures, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, 0, $8, $9, $9)",
    )
    .bind(id.as_str())
    .bind(&effect.integration_id)
    .bind(&effect.ordering_key)
    .bind(seq)
    .bind(&effect.kind)
    .bind(payload)
    .bind(effect.correlation_key.as_deref())
    .bind(due)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    tracing::debug!(
        effect = %id,
        integration = %effect.integration_id,
        key = %effect.ordering_key,
        kind = %effect.kind,
        seq,
        "outbox effect enqueued"
    );
    Ok(id)
}

/// Wakes this process's sync workers (after committing a transaction that enqueued effects).
pub fn wake(store: &Store) {
    store.outbox_wake().notify_one();
}

/// Row conditions of a claimable effect, on the row named `alias` ("" for unqualified).
fn due_condition(alias: &str) -> String {
    let a = if alias.is_empty() {
        String::new()
    } else {
        format!("{alias}.")
    };
    format!(
        "(({a}state = 'pending' AND {a}next_attempt_at <= $1) \
         OR ({a}state = 'in_flight' AND {a}lease_expires_at <= $1))"
    )
}

/// The candidate selection shared by both engines (`$1` now, `$2` limit, kinds from `$5`).
fn candidates_sql(kind_count: Option<usize>) -> String {
    let kinds = match kind_count {
        None => String::new(),
        Some(n) => format!(
            " AND o.kind IN ({})",
            (0..n)
                .map(|i| format!("${}", i + 5))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "SELECT o.id FROM sync_outbox o \
         JOIN sync_ordering_keys k \
           ON k.integration_id = o.integration_id AND k.ordering_key = o.ordering_key \
         WHERE {due}{kinds} \
           AND k.not_before <= $1 \
           AND NOT EXISTS (SELECT 1 FROM sync_outbox p \
               WHERE p.integration_id = o.integration_id AND p.ordering_key = o.ordering_key \
                 AND p.id <> o.id \
                 AND ((p.state = 'in_flight' AND p.lease_expires_at > $1) \
                      OR (p.state IN ('pending', 'in_flight') AND p.seq < o.seq))) \
           AND NOT EXISTS (SELECT 1 FROM sync_integrations g \
               WHERE g.integration_id = o.integration_id \
                 AND (g.paused_at IS NOT NULL OR g.not_before > $1)) \
         ORDER BY o.next_attempt_at, o.created_at, o.seq \
         LIMIT $2",
        due = due_condition("o"),
    )
}

/// The claim's row update (`$1` now, `$3` lease owner, `$4` lease expiry).
const CLAIM_SET: &str = "failures = failures + CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END, \
     last_outcome = CASE WHEN state = 'in_flight' THEN 'lease_expired' ELSE last_outcome END, \
     last_error = CASE WHEN state = 'in_flight' \
         THEN 'attempt ' || CAST(attempts AS TEXT) || ' by ' || COALESCE(lease_owner, '?') \
              || ' recorded no outcome before its lease expired' \
         ELSE last_error END, \
     state = 'in_flight', attempts = attempts + 1, lease_owner = $3, lease_expires_at = $4, \
     updated_at = $1";

impl Outbox {
    pub fn new(store: Store) -> Self {
        Outbox { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Claims up to `request.limit` effects for `worker_id` at instant `now` (see module doc for
    /// which effects qualify). The effects come back in flight, leased until `now + lease_ms`.
    pub async fn claim(
        &self,
        worker_id: &str,
        request: &ClaimRequest,
        now: i64,
    ) -> Result<Vec<ClaimedEffect>, StoreError> {
        if request.limit == 0 || request.kinds.as_ref().is_some_and(|k| k.is_empty()) {
            return Ok(Vec::new());
        }
        let candidates = candidates_sql(request.kinds.as_ref().map(Vec::len));
        let sql = match self.store.backend() {
            Backend::Postgres => format!(
                "WITH candidates AS ({candidates} FOR UPDATE OF o SKIP LOCKED) \
                 UPDATE sync_outbox SET {CLAIM_SET} \
                 FROM candidates c WHERE sync_outbox.id = c.id AND {due} \
                 RETURNING {returning}",
                due = due_condition("sync_outbox"),
                returning = CLAIM_COLUMNS
                    .split(", ")
                    .map(|c| format!("sync_outbox.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Backend::Sqlite => format!(
                "UPDATE sync_outbox SET {CLAIM_SET} \
                 WHERE id IN ({candidates}) AND {due} \
                 RETURNING {CLAIM_COLUMNS}",
                due = due_condition(""),
            ),
        };
        let owner = format!("{worker_id}/{}", uuid::Uuid::new_v4().simple());
        let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
        let mut query = sqlx::query(&sql)
            .bind(now)
            .bind(limit)
            .bind(&owner)
            .bind(now.saturating_add(request.lease_ms));
        if let Some(kinds) = &request.kinds {
            // `$5…`: `$4` is the lease expiry, so kinds start after it.
            for kind in kinds {
                query = query.bind(kind);
            }
        }
        let rows = query.fetch_all(self.store.pool()).await?;
        let mut claimed = rows
            .iter()
            .map(decode_claimed)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.id.cmp(&b.id)));
        Ok(claimed)
    }

    /// Extends a lease the worker still holds to `until_ms`; false when the lease was lost
    /// (settled or taken over), in which case the worker must stop and record nothing.
    pub async fn renew_lease(
        &self,
        effect: &ClaimedEffect,
        until_ms: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sync_outbox SET lease_expires_at = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'in_flight'",
        )
        .bind(until_ms)
        .bind(now)
        .bind(effect.id.as_str())
        .bind(&effect.lease.owner)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn parse_json(id: &str, column: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("outbox effect {id}: {column}: {e}")))
}

fn parse_outcome(id: &str, text: Option<String>) -> Result<Option<OutcomeKind>, StoreError> {
    text.map(|t| {
        OutcomeKind::parse(&t)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox effect {id}: outcome {t:?}")))
    })
    .transpose()
}

fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn decode_claimed(row: &AnyRow) -> Result<ClaimedEffect, StoreError> {
    let id: String = row.try_get("id")?;
    let payload: String = row.try_get("payload")?;
    let last_outcome = parse_outcome(&id, row.try_get("last_outcome")?)?;
    let lease_owner: Option<String> = row.try_get("lease_owner")?;
    let lease_expires: Option<i64> = row.try_get("lease_expires_at")?;
    Ok(ClaimedEffect {
        integration_id: row.try_get("integration_id")?,
        ordering_key: row.try_get("ordering_key")?,
        seq: row.try_get("seq")?,
        kind: row.try_get("kind")?,
        payload: parse_json(&id, "payload", &payload)?,
        correlation_key: row.try_get("correlation_key")?,
        attempt: count(row.try_get("attempts")?),
        failures: count(row.try_get("failures")?),
        previous_outcome_unknown: last_outcome.is_some_and(OutcomeKind::leaves_outcome_unknown),
        last_outcome,
        last_error: row.try_get("last_error")?,
        created_at_ms: row.try_get("created_at")?,
        lease: Lease {
            owner: lease_owner.unwrap_or_default(),
            expires_at_ms: lease_expires.unwrap_or_default(),
        },
        id: EffectId(id),
    })
}

pub(crate) fn decode_effect(row: &AnyRow) -> Result<Effect, StoreError> {
    let id: String = row.try_get("id")?;
    let payload: String = row.try_get("payload")?;
    let state: String = row.try_get("state")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(Effect {
        integration_id: row.try_get("integration_id")?,
        ordering_key: row.try_get("ordering_key")?,
        seq: row.try_get("seq")?,
        kind: row.try_get("kind")?,
        payload: parse_json(&id, "payload", &payload)?,
        correlation_key: row.try_get("correlation_key")?,
        state: EffectState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox effect {id}: state {state:?}")))?,
        attempts: count(row.try_get("attempts")?),
        failures: count(row.try_get("failures")?),
        next_attempt_at_ms: row.try_get("next_attempt_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at_ms: row.try_get("lease_expires_at")?,
        last_outcome: parse_outcome(&id, row.try_get("last_outcome")?)?,
        last_error: row.try_get("last_error")?,
        result: result
            .map(|text| parse_json(&id, "result", &text))
            .transpose()?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        completed_at_ms: row.try_get("completed_at")?,
        id: EffectId(id),
    })
}
