//! Persisted gates: a paused integration, and "not before" instants per integration and per
//! ordering key.
//!
//! Why: a Retry-After from a backend, or refused credentials, must hold back every replica, not
//! only the worker that saw it; the claim query reads these rows (see [`crate::sync::outbox`]).
//!
//! Invariants:
//! - Not-before instants only move forward: a shorter Retry-After seen later never shortens a
//!   longer one already recorded.
//! - A paused integration stays paused until [`resume_integration`]; pausing again updates the
//!   reason but keeps the original `paused_at`.
//! - Every write takes the caller's transaction, so a gate and the settlement that caused it
//!   commit together.

use serde::Serialize;
use sqlx::Row;

use super::effect::OutcomeKind;
use super::outbox::Outbox;
use crate::store::{Store, StoreError, Tx};

/// Why and since when an integration is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub since_ms: i64,
    /// The outcome that paused it (`unauthorized`, `invalid_config`), or `None` for an admin.
    pub outcome: Option<OutcomeKind>,
    pub reason: String,
}

/// The last error an integration's effects met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub at_ms: i64,
    pub outcome: Option<OutcomeKind>,
    pub detail: String,
}

/// The gate row of one integration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntegrationGate {
    pub paused: Option<Pause>,
    /// Nothing is sent to this integration before this instant (0: no limit).
    pub not_before_ms: i64,
    pub not_before_reason: Option<String>,
    pub last_error: Option<LastError>,
}

/// Upserts the integration's row with `set` applied on conflict (`$1` id, `$2` now, then extras).
fn upsert_sql(insert_columns: &str, insert_values: &str, set: &str) -> String {
    format!(
        "INSERT INTO sync_integrations (integration_id, updated_at{insert_columns}) \
         VALUES ($1, $2{insert_values}) \
         ON CONFLICT (integration_id) DO UPDATE SET updated_at = excluded.updated_at, {set}"
    )
}

/// Pauses the integration: nothing is claimed for it until it is resumed.
pub async fn pause_integration(
    tx: &mut Tx,
    integration_id: &str,
    outcome: Option<OutcomeKind>,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let sql = upsert_sql(
        ", paused_at, paused_outcome, paused_reason",
        ", $2, $3, $4",
        "paused_at = COALESCE(sync_integrations.paused_at, excluded.paused_at), \
         paused_outcome = excluded.paused_outcome, paused_reason = excluded.paused_reason",
    );
    sqlx::query(&sql)
        .bind(integration_id)
        .bind(now)
        .bind(outcome.map(OutcomeKind::as_str))
        .bind(reason)
        .execute(&mut **tx)
        .await?;
    tracing::warn!(integration = %integration_id, reason, "sync integration paused");
    Ok(())
}

/// Resumes a paused integration; returns whether it was paused.
pub async fn resume_integration(
    tx: &mut Tx,
    integration_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sync_integrations SET paused_at = NULL, paused_outcome = NULL, \
         paused_reason = NULL, updated_at = $1 \
         WHERE integration_id = $2 AND paused_at IS NOT NULL",
    )
    .bind(now)
    .bind(integration_id)
    .execute(&mut **tx)
    .await?;
    let resumed = done.rows_affected() > 0;
    if resumed {
        tracing::info!(integration = %integration_id, "sync integration resumed");
    }
    Ok(resumed)
}

/// Holds back the whole integration until `until_ms` (never earlier than already recorded).
pub async fn delay_integration(
    tx: &mut Tx,
    integration_id: &str,
    until_ms: i64,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let sql = upsert_sql(
        ", not_before, not_before_reason",
        ", $3, $4",
        "not_before = CASE WHEN excluded.not_before > sync_integrations.not_before \
             THEN excluded.not_before ELSE sync_integrations.not_before END, \
         not_before_reason = CASE WHEN excluded.not_before > sync_integrations.not_before \
             THEN excluded.not_before_reason ELSE sync_integrations.not_before_reason END",
    );
    sqlx::query(&sql)
        .bind(integration_id)
        .bind(now)
        .bind(until_ms)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Holds back one ordering key of an integration until `until_ms` (never earlier than already
/// recorded). The key's row exists once an effect was enqueued for it.
pub async fn delay_key(
    tx: &mut Tx,
    integration_id: &str,
    ordering_key: &str,
    until_ms: i64,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sync_ordering_keys SET \
         not_before_reason = CASE WHEN $1 > not_before THEN $2 ELSE not_before_reason END, \
         not_before = CASE WHEN $1 > not_before THEN $1 ELSE not_before END, \
         updated_at = $3 \
         WHERE integration_id = $4 AND ordering_key = $5",
    )
    .bind(until_ms)
    .bind(reason)
    .bind(now)
    .bind(integration_id)
    .bind(ordering_key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the last error seen on the integration (health shows it).
pub async fn record_error(
    tx: &mut Tx,
    integration_id: &str,
    outcome: OutcomeKind,
    detail: &str,
    now: i64,
) -> Result<(), StoreError> {
    let sql = upsert_sql(
        ", last_error_outcome, last_error, last_error_at",
        ", $3, $4, $2",
        "last_error_outcome = excluded.last_error_outcome, last_error = excluded.last_error, \
         last_error_at = excluded.last_error_at",
    );
    sqlx::query(&sql)
        .bind(integration_id)
        .bind(now)
        .bind(outcome.as_str())
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Reads the integration's gate (all empty when it never had one).
pub async fn read_gate(store: &Store, integration_id: &str) -> Result<IntegrationGate, StoreError> {
    let row = sqlx::query(
        "SELECT paused_at, paused_outcome, paused_reason, not_before, not_before_reason, \
         last_error_outcome, last_error, last_error_at \
         FROM sync_integrations WHERE integration_id = $1",
    )
    .bind(integration_id)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else {
        return Ok(IntegrationGate::default());
    };
    let outcome = |column: &str| -> Result<Option<OutcomeKind>, StoreError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| {
            OutcomeKind::parse(&t).ok_or_else(|| {
                StoreError::Corrupt(format!("integration {integration_id}: {column} {t:?}"))
            })
        })
        .transpose()
    };
    let paused_at: Option<i64> = row.try_get("paused_at")?;
    let paused = match paused_at {
        Some(since_ms) => Some(Pause {
            since_ms,
            outcome: outcome("paused_outcome")?,
            reason: row
                .try_get::<Option<String>, _>("paused_reason")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    let last_error_at: Option<i64> = row.try_get("last_error_at")?;
    let last_error = match last_error_at {
        Some(at_ms) => Some(LastError {
            at_ms,
            outcome: outcome("last_error_outcome")?,
            detail: row
                .try_get::<Option<String>, _>("last_error")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(IntegrationGate {
        paused,
        not_before_ms: row.try_get("not_before")?,
        not_before_reason: row.try_get("not_before_reason")?,
        last_error,
    })
}

impl Outbox {
    /// Pauses an integration (admin action, or an executor that knows better than one outcome).
    pub async fn pause_integration(
        &self,
        integration_id: &str,
        outcome: Option<OutcomeKind>,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store().begin_write().await?;
        pause_integration(&mut tx, integration_id, outcome, reason, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resumes an integration and wakes the workers; returns whether it was paused.
    pub async fn resume_integration(
        &self,
        integration_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.store().begin_write().await?;
        let resumed = resume_integration(&mut tx, integration_id, now).await?;
        tx.commit().await?;
        if resumed {
            super::outbox::wake(self.store());
        }
        Ok(resumed)
    }

    /// The integration's gate row.
    pub async fn gate(&self, integration_id: &str) -> Result<IntegrationGate, StoreError> {
        read_gate(self.store(), integration_id).await
    }
}
