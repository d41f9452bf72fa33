//! What an admin sees and does with effects: list with filters, read one, re-queue a failed
//! effect, cancel one that should not be sent.
//!
//! Why: failed effects must be visible and retryable, never silently dropped; the API and the
//! CLI both go through here.
//!
//! Invariants:
//! - The listing is ordered by (`created_at`, `id`) ascending; a cursor names the last row seen
//!   and the next page starts strictly after it, so paging never skips nor repeats a row.
//! - Only `failed` or `cancelled` effects can be retried; only `pending` or `failed` ones can be
//!   cancelled. In-flight and done effects are never rewritten here (409 on the API).
//! - A retry keeps `attempts` and the last outcome, so an executor still sees `attempt > 1`
//!   (and "previous outcome unknown" when that was the last word) and looks up before creating.
//!   It resets `failures`, giving the effect a fresh attempt budget.

use sqlx::Row;

use super::{decode_effect, Outbox, EFFECT_COLUMNS};
use crate::store::StoreError;
use crate::sync::effect::{Effect, EffectState};

/// Largest page of a listing.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Position after which a listing page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectCursor {
    pub created_at_ms: i64,
    pub id: String,
}

impl EffectCursor {
    /// The opaque text clients pass back (`<created_at>:<id>`).
    pub fn encode(&self) -> String {
        format!("{}:{}", self.created_at_ms, self.id)
    }

    pub fn decode(text: &str) -> Option<EffectCursor> {
        let (at, id) = text.split_once(':')?;
        let created_at_ms = at.parse().ok()?;
        if id.is_empty() || id.chars().any(char::is_control) {
            return None;
        }
        Some(EffectCursor {
            created_at_ms,
            id: id.to_string(),
        })
    }
}

/// Which effects a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectFilter {
    pub integration_id: Option<String>,
    pub state: Option<EffectState>,
    pub ordering_key: Option<String>,
    pub kind: Option<String>,
    /// Page size, 1..=[`MAX_PAGE_SIZE`] (0 is read as the maximum).
    pub limit: usize,
    pub after: Option<EffectCursor>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectPage {
    pub effects: Vec<Effect>,
    /// Present when more rows may follow.
    pub next_cursor: Option<EffectCursor>,
}

impl Outbox {
    /// Lists effects matching `filter`, oldest first.
    pub async fn list(&self, filter: &EffectFilter) -> Result<EffectPage, StoreError> {
        let limit = match filter.limit {
            0 => MAX_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let mut conditions: Vec<String> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut next = 1;
        let mut text_condition = |column: &str, value: &str| {
            conditions.push(format!("{column} = ${next}"));
            texts.push(value.to_string());
            next += 1;
        };
        if let Some(integration) = &filter.integration_id {
            text_condition("integration_id", integration);
        }
        if let Some(state) = filter.state {
            text_condition("state", state.as_str());
        }
        if let Some(key) = &filter.ordering_key {
            text_condition("ordering_key", key);
        }
        if let Some(kind) = &filter.kind {
            text_condition("kind", kind);
        }
        if filter.after.is_some() {
            conditions.push(format!(
                "(created_at > ${a} OR (created_at = ${a} AND id > ${b}))",
                a = next,
                b = next + 1
            ));
        }
        let limit_param = next + if filter.after.is_some() { 2 } else { 0 };
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {EFFECT_COLUMNS} FROM sync_outbox {where_clause} \
             ORDER BY created_at, id LIMIT ${limit_param}"
        );
        let mut query = sqlx::query(&sql);
        for text in &texts {
            query = query.bind(text);
        }
        if let Some(after) = &filter.after {
            query = query.bind(after.created_at_ms).bind(&after.id);
        }
        // One extra row tells whether another page follows.
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = query.bind(fetch).fetch_all(self.store.pool()).await?;
        let mut effects = rows
            .iter()
            .map(decode_effect)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if effects.len() > limit {
            effects.truncate(limit);
            effects.last().map(|last| EffectCursor {
                created_at_ms: last.created_at_ms,
                id: last.id.0.clone(),
            })
        } else {
            None
        };
        Ok(EffectPage {
            effects,
            next_cursor,
        })
    }

    /// One effect by id.
    pub async fn get(&self, id: &str) -> Result<Option<Effect>, StoreError> {
        let sql = format!("SELECT {EFFECT_COLUMNS} FROM sync_outbox WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(decode_effect).transpose()
    }

    /// Re-queues a failed (or cancelled) effect, due at `now`. `NotFound` for an unknown id,
    /// `Conflict` naming the state when the effect is not failed or cancelled.
    pub async fn retry_failed(&self, id: &str, now: i64) -> Result<Effect, StoreError> {
        self.transition(
            id,
            "UPDATE sync_outbox SET state = 'pending', failures = 0, next_attempt_at = $1, \
             completed_at = NULL, updated_at = $1 \
             WHERE id = $2 AND state IN ('failed', 'cancelled')",
            &[EffectState::Failed, EffectState::Cancelled],
            "retried",
            now,
            None,
        )
        .await
    }

    /// Withdraws a pending or failed effect (it is never sent unless retried), recording
    /// `reason`. `NotFound` / `Conflict` as for [`Outbox::retry_failed`].
    pub async fn cancel(&self, id: &str, reason: &str, now: i64) -> Result<Effect, StoreError> {
        self.transition(
            id,
            "UPDATE sync_outbox SET state = 'cancelled', last_outcome = 'cancelled', \
             last_error = $3, completed_at = $1, updated_at = $1 \
             WHERE id = $2 AND state IN ('pending', 'failed')",
            &[EffectState::Pending, EffectState::Failed],
            "cancelled",
            now,
            Some(reason),
        )
        .await
    }

    /// Deletes done effects completed before `before_ms` (retention); returns how many. Failed
    /// and cancelled effects stay until an admin retries them; key order is unaffected (the
    /// per-key sequence lives in `sync_ordering_keys`).
    pub async fn purge_done(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM sync_outbox WHERE state = 'done' AND completed_at < $1")
                .bind(before_ms)
                .execute(self.store.pool())
                .await?;
        Ok(done.rows_affected())
    }

    async fn transition(
        &self,
        id: &str,
        sql: &str,
        allowed: &[EffectState],
        verb: &str,
        now: i64,
        reason: Option<&str>,
    ) -> Result<Effect, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let mut query = sqlx::query(sql).bind(now).bind(id);
        if let Some(reason) = reason {
            query = query.bind(reason);
        }
        let done = query.execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            let state = sqlx::query("SELECT state FROM sync_outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = state else {
                return Err(StoreError::NotFound("outbox effect"));
            };
            let state: String = row.try_get("state")?;
            let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            return Err(StoreError::Conflict(format!(
                "effect {id} is {state}; only {} effects can be {verb}",
                allowed.join(" or ")
            )));
        }
        let sql = format!("SELECT {EFFECT_COLUMNS} FROM sync_outbox WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?;
        let effect = decode_effect(&row)?;
        tx.commit().await?;
        if effect.state == EffectState::Pending {
            super::wake(&self.store);
        }
        Ok(effect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = EffectCursor {
            created_at_ms: 1_700_000_000_123,
            id: "0b6f…".to_string(),
        };
        assert_eq!(EffectCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(EffectCursor::decode("nope"), None);
        assert_eq!(EffectCursor::decode("12:"), None);
        assert_eq!(EffectCursor::decode("x:abc"), None);
    }
}
