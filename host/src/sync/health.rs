//! Sync health of an integration: how much waits, how much failed, how old the oldest waiting
//! effect is, the last error, and whether the integration is paused or held back.
//!
//! Why: an operator must see at a glance that an integration is stuck (paused credentials, a
//! long Retry-After, a growing backlog) without reading logs.
//! Invariants: counts come from the outbox rows at the time of the call; `pending` counts every
//! unfinished effect (waiting or in flight), `in_flight` the subset currently leased; an
//! integration with no rows and no gate is healthy with zeros, not an error.

use serde::Serialize;
use sqlx::Row;

use super::gate::{read_gate, IntegrationGate};
use super::outbox::Outbox;
use crate::store::StoreError;

/// Health of one integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncHealth {
    pub integration_id: String,
    /// Unfinished effects (pending or in flight).
    pub pending: i64,
    pub in_flight: i64,
    pub failed: i64,
    pub done: i64,
    pub cancelled: i64,
    /// Creation instant of the oldest unfinished effect.
    pub oldest_pending_created_at_ms: Option<i64>,
    /// `now` minus that instant.
    pub oldest_pending_age_ms: Option<i64>,
    /// Ordering keys held back by a per-key not-before in the future.
    pub delayed_keys: i64,
    #[serde(flatten)]
    pub gate: IntegrationGate,
}

impl Outbox {
    /// The health of `integration_id` at instant `now`.
    pub async fn health(&self, integration_id: &str, now: i64) -> Result<SyncHealth, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM sync_outbox \
             WHERE integration_id = $1 GROUP BY state",
        )
        .bind(integration_id)
        .fetch_all(self.store().pool())
        .await?;
        let mut health = SyncHealth {
            integration_id: integration_id.to_string(),
            pending: 0,
            in_flight: 0,
            failed: 0,
            done: 0,
            cancelled: 0,
            oldest_pending_created_at_ms: None,
            oldest_pending_age_ms: None,
            delayed_keys: 0,
            gate: IntegrationGate::default(),
        };
        for row in &rows {
            let state: String = row.try_get("state")?;
            let n: i64 = row.try_get("n")?;
            let oldest: Option<i64> = row.try_get("oldest")?;
            match state.as_str() {
                "pending" | "in_flight" => {
                    health.pending += n;
                    if state == "in_flight" {
                        health.in_flight = n;
                    }
                    health.oldest_pending_created_at_ms =
                        match (health.oldest_pending_created_at_ms, oldest) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                }
                "failed" => health.failed = n,
                "done" => health.done = n,
                "cancelled" => health.cancelled = n,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "outbox state {other:?} for integration {integration_id}"
                    )))
                }
            }
        }
        health.oldest_pending_age_ms = health
            .oldest_pending_created_at_ms
            .map(|at| now.saturating_sub(at).max(0));
        let delayed = sqlx::query(
            "SELECT COUNT(*) AS n FROM sync_ordering_keys \
             WHERE integration_id = $1 AND not_before > $2",
        )
        .bind(integration_id)
        .bind(now)
        .fetch_one(self.store().pool())
        .await?;
        health.delayed_keys = delayed.try_get("n")?;
        health.gate = read_gate(self.store(), integration_id).await?;
        Ok(health)
    }

    /// Every integration the outbox knows (has effects or a gate for), sorted.
    pub async fn integrations(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT integration_id FROM sync_ordering_keys \
             UNION SELECT integration_id FROM sync_integrations \
             ORDER BY integration_id",
        )
        .fetch_all(self.store().pool())
        .await?;
        rows.iter()
            .map(|row| row.try_get("integration_id").map_err(StoreError::from))
            .collect()
    }
}
