//! The doubles' notion of "now": wall-clock time plus an adjustable offset.
//!
//! Tests advance the clock instead of sleeping (token expiry, SLA breach, `updated >=` queries,
//! Retry-After windows). Invariant: time never moves backwards through this API; `advance`
//! only accepts non-negative steps.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Shared, cheaply clonable clock. All clones see the same offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Milliseconds since the Unix epoch, UTC, including the offset.
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        wall + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `ms` milliseconds (negative values are ignored).
    pub fn advance(&self, ms: i64) {
        if ms > 0 {
            self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Current offset from wall-clock time, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}
