//! Write transactions that take the write lock up front, and retries for races a writer lost.
//!
//! Why: several host replicas (PostgreSQL) or several tasks (SQLite) write the same rows — case
//! counters, case rows, finding links. A writer that loses a race must try again instead of
//! answering a 500, and SQLite must not start a write transaction as a reader (a deferred
//! transaction that later writes fails at once with SQLITE_BUSY instead of waiting).
//! Invariants:
//! - on SQLite every write transaction starts with `BEGIN IMMEDIATE` (waits on `busy_timeout`);
//! - on PostgreSQL rows about to change are read `FOR UPDATE` ([`Store::for_update`]);
//! - a transaction that changes finding links locks the projects concerned first
//!   ([`Store::lock_projects`], in id order), then case rows;
//! - an operation is retried only for lost races (deadlock, serialization failure, busy
//!   database, unique violation from a concurrent insert), at most [`MAX_ATTEMPTS`] times, and
//!   each attempt runs in a fresh transaction.

use std::future::Future;
use std::time::Duration;

use super::{Backend, Store, StoreError, Tx};

/// Attempts per operation before the last error is returned.
pub const MAX_ATTEMPTS: u32 = 5;

impl Store {
    /// Starts a transaction that intends to write.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        match self.backend() {
            Backend::Sqlite => Ok(self.pool().begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => self.begin().await,
        }
    }

    /// ` FOR UPDATE` on PostgreSQL (row lock for a read that precedes a write), empty on SQLite
    /// (whose `BEGIN IMMEDIATE` already holds the database write lock).
    pub fn for_update(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Locks project rows, in id order, for a transaction that changes those projects' finding
    /// links (or creates their cases). Returns the ids that exist.
    ///
    /// Every such transaction takes these locks before any case row lock, so two of them never
    /// wait on each other's case rows (no deadlock), and the at-most-one-case-per-project check
    /// and its write are never interleaved. On SQLite `BEGIN IMMEDIATE` already serializes
    /// writers; the reads still tell which projects exist.
    pub async fn lock_projects(
        &self,
        tx: &mut Tx,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut sorted: Vec<&String> = ids.iter().collect();
        sorted.sort();
        sorted.dedup();
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR NO KEY UPDATE",
        };
        let sql = format!("SELECT id FROM projects WHERE id = $1{lock}");
        let mut found = Vec::with_capacity(sorted.len());
        for id in sorted {
            if sqlx::query(&sql)
                .bind(id.as_str())
                .fetch_optional(&mut **tx)
                .await?
                .is_some()
            {
                found.push(id.clone());
            }
        }
        Ok(found)
    }

    /// Runs `op` (which opens and commits its own transaction) again when it lost a race.
    pub async fn retry_lost_races<T, F, Fut>(&self, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(err) if attempt < MAX_ATTEMPTS && lost_a_race(&err) => {
                    tracing::debug!(attempt, error = %err, "write lost a race; retrying");
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Whether an error means "another writer got there first; the same request may succeed now".
pub fn lost_a_race(err: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = err else {
        return false;
    };
    if db.is_unique_violation() {
        return true;
    }
    match db.code().as_deref() {
        // PostgreSQL: serialization_failure, deadlock_detected
        Some("40001") | Some("40P01") => true,
        // SQLite: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT
        Some("5") | Some("6") | Some("517") => true,
        _ => false,
    }
}

/// `$start, $start+1, …` for an IN list of `count` values.
pub fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_start() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn not_found_is_not_a_race() {
        assert!(!lost_a_race(&StoreError::NotFound("case")));
    }
}
