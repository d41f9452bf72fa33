//! The vocabulary of the outbox: what an effect is, the states it moves through, and the
//! outcomes an executor reports.
//!
//! Why: the outbox, the workers, the admin API and the connectors must agree on these words;
//! they are plain data here, with no I/O.
//!
//! Invariants:
//! - [`EffectOutcome`] has exactly one variant per `connector-error` case of
//!   `wit/v0.1/types.wit` (rate-limited, transient, unauthorized, not-found, invalid-config,
//!   rejected), plus `Done`; a connector error converts into it without losing anything.
//! - The stored spellings of [`EffectState`] and [`OutcomeKind`] (`as_str`/`parse`) are stable:
//!   they are in the database and on the API.
//! - [`ClaimedEffect::previous_outcome_unknown`] is true exactly when an earlier attempt reached
//!   the backend (or may have) and never recorded what happened: its lease expired, or its worker
//!   was stopped mid-call. Executors that create things must then look the effect up by its
//!   correlation key before creating again.

use serde::Serialize;
use serde_json::Value;

/// The Jira `RateLimit-Reason` that limits writes to one issue: it delays only that ordering key.
pub const PER_ISSUE_RATE_LIMIT_REASON: &str = "jira-per-issue-on-write";

/// Longest integration id, ordering key, kind or correlation key accepted.
pub const MAX_NAME_LEN: usize = 512;

/// Identifies one outbox row (a UUID v4 string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EffectId(pub String);

impl EffectId {
    pub fn new() -> Self {
        EffectId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for EffectId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for EffectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an effect is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectState {
    /// Waiting to be claimed (possibly not before `next_attempt_at`).
    Pending,
    /// Claimed by a worker whose lease has not been released.
    InFlight,
    /// Applied; the executor's result is recorded.
    Done,
    /// Gave up (rejected, not found, or out of attempts); an admin may retry it.
    Failed,
    /// Withdrawn before it was applied; never sent again unless an admin retries it.
    Cancelled,
}

impl EffectState {
    pub const ALL: [EffectState; 5] = [
        EffectState::Pending,
        EffectState::InFlight,
        EffectState::Done,
        EffectState::Failed,
        EffectState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EffectState::Pending => "pending",
            EffectState::InFlight => "in_flight",
            EffectState::Done => "done",
            EffectState::Failed => "failed",
            EffectState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<EffectState> {
        EffectState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Pending and in-flight effects still have work to do and hold their key's order.
    pub fn is_unfinished(self) -> bool {
        matches!(self, EffectState::Pending | EffectState::InFlight)
    }
}

/// The kind of the last outcome recorded on an effect (stored as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Done,
    RateLimited,
    Transient,
    Unauthorized,
    NotFound,
    InvalidConfig,
    Rejected,
    /// A worker claimed the effect and its lease expired before it recorded anything.
    LeaseExpired,
    /// A worker was stopped while the executor was running; the remote call may have happened.
    Interrupted,
    /// Withdrawn by an admin or by the domain.
    Cancelled,
}

impl OutcomeKind {
    const ALL: [OutcomeKind; 10] = [
        OutcomeKind::Done,
        OutcomeKind::RateLimited,
        OutcomeKind::Transient,
        OutcomeKind::Unauthorized,
        OutcomeKind::NotFound,
        OutcomeKind::InvalidConfig,
        OutcomeKind::Rejected,
        OutcomeKind::LeaseExpired,
        OutcomeKind::Interrupted,
        OutcomeKind::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Done => "done",
            OutcomeKind::RateLimited => "rate_limited",
            OutcomeKind::Transient => "transient",
            OutcomeKind::Unauthorized => "unauthorized",
            OutcomeKind::NotFound => "not_found",
            OutcomeKind::InvalidConfig => "invalid_config",
            OutcomeKind::Rejected => "rejected",
            OutcomeKind::LeaseExpired => "lease_expired",
            OutcomeKind::Interrupted => "interrupted",
            OutcomeKind::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<OutcomeKind> {
        OutcomeKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// An attempt with this outcome may or may not have changed the backend.
    pub fn leaves_outcome_unknown(self) -> bool {
        matches!(self, OutcomeKind::LeaseExpired | OutcomeKind::Interrupted)
    }
}

/// What an executor reports after one attempt. Mirrors `connector-error` of the WIT contract.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectOutcome {
    /// Applied. `result` is what the executor learned (e.g. the created ticket's reference); it
    /// is stored on the effect and handed to [`crate::sync::executor::EffectExecutor::on_settled`].
    Done { result: Value },
    /// Wait at least `retry_after_ms`. With reason [`PER_ISSUE_RATE_LIMIT_REASON`] only this
    /// ordering key waits; otherwise the whole integration does (and its token bucket slows).
    RateLimited { retry_after_ms: u64, reason: String },
    /// Retry with backoff, up to the attempt limit.
    Transient(String),
    /// Credentials refused: the integration is paused with this reason.
    Unauthorized(String),
    /// The ticket (or record) does not exist: the effect fails with this outcome.
    NotFound(String),
    /// The destination is misconfigured: the integration is paused with this reason.
    InvalidConfig(String),
    /// The backend refused this request: the effect fails with this detail, no retry.
    Rejected(String),
}

impl EffectOutcome {
    /// A `Done` with no result.
    pub fn done() -> Self {
        EffectOutcome::Done {
            result: Value::Null,
        }
    }

    pub fn kind(&self) -> OutcomeKind {
        match self {
            EffectOutcome::Done { .. } => OutcomeKind::Done,
            EffectOutcome::RateLimited { .. } => OutcomeKind::RateLimited,
            EffectOutcome::Transient(_) => OutcomeKind::Transient,
            EffectOutcome::Unauthorized(_) => OutcomeKind::Unauthorized,
            EffectOutcome::NotFound(_) => OutcomeKind::NotFound,
            EffectOutcome::InvalidConfig(_) => OutcomeKind::InvalidConfig,
            EffectOutcome::Rejected(_) => OutcomeKind::Rejected,
        }
    }

    /// The human detail carried by a non-`Done` outcome.
    pub fn detail(&self) -> Option<String> {
        match self {
            EffectOutcome::Done { .. } => None,
            EffectOutcome::RateLimited {
                retry_after_ms,
                reason,
            } => Some(format!(
                "rate limited ({reason}); retry after {retry_after_ms} ms"
            )),
            EffectOutcome::Transient(d)
            | EffectOutcome::Unauthorized(d)
            | EffectOutcome::NotFound(d)
            | EffectOutcome::InvalidConfig(d)
            | EffectOutcome::Rejected(d) => Some(d.clone()),
        }
    }
}

/// A new effect, as the domain code that causes it describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEffect {
    /// The integration (connector binding) the effect goes to.
    pub integration_id: String,
    /// What the effect targets (a ticket, or the case until its ticket exists): effects of one
    /// `(integration_id, ordering_key)` apply in enqueue order.
    pub ordering_key: String,
    /// What to do (`create_ticket`, `update_fields`, `transition`, …): selects the executor.
    pub kind: String,
    /// Everything the executor needs, as JSON.
    pub payload: Value,
    /// Sent to the backend so a create with an unknown outcome can be found and adopted
    /// (the case id for ticket creation).
    pub correlation_key: Option<String>,
    /// Earliest instant (ms since the epoch) to apply it; `None` means as soon as possible.
    pub not_before_ms: Option<i64>,
}

impl NewEffect {
    pub fn new(
        integration_id: impl Into<String>,
        ordering_key: impl Into<String>,
        kind: impl Into<String>,
        payload: Value,
    ) -> Self {
        NewEffect {
            integration_id: integration_id.into(),
            ordering_key: ordering_key.into(),
            kind: kind.into(),
            payload,
            correlation_key: None,
            not_before_ms: None,
        }
    }

    pub fn with_correlation_key(mut self, key: impl Into<String>) -> Self {
        self.correlation_key = Some(key.into());
        self
    }

    pub fn not_before(mut self, at_ms: i64) -> Self {
        self.not_before_ms = Some(at_ms);
        self
    }

    /// Checks the names: non-empty, bounded, free of control characters (NUL breaks PostgreSQL).
    pub fn validate(&self) -> Result<(), String> {
        check_name("integration_id", &self.integration_id)?;
        check_name("ordering_key", &self.ordering_key)?;
        check_name("kind", &self.kind)?;
        if let Some(key) = &self.correlation_key {
            check_name("correlation_key", key)?;
        }
        if contains_nul(&self.payload) {
            return Err("payload must not contain NUL characters".to_string());
        }
        Ok(())
    }
}

/// Checks an identifier-like string (integration id, key, kind).
pub fn check_name(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(format!("{field} is longer than {MAX_NAME_LEN} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// The fence a worker holds on a claimed effect: settlements only apply while it still matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `<worker id>/<claim nonce>`, unique per claim.
    pub owner: String,
    pub expires_at_ms: i64,
}

/// An effect handed to a worker by a claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedEffect {
    pub id: EffectId,
    pub integration_id: String,
    pub ordering_key: String,
    pub seq: i64,
    pub kind: String,
    pub payload: Value,
    pub correlation_key: Option<String>,
    /// 1 on the first call; counts every executor call, including ones whose outcome is unknown.
    pub attempt: u32,
    /// Failed attempts (transient or unknown outcome) since the last admin retry.
    pub failures: u32,
    /// An earlier attempt may have changed the backend without recording it (see module doc).
    pub previous_outcome_unknown: bool,
    /// The previous attempt's outcome, if any.
    pub last_outcome: Option<OutcomeKind>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub lease: Lease,
}

/// An effect as stored, for listings and the admin API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    pub id: EffectId,
    pub integration_id: String,
    pub ordering_key: String,
    pub seq: i64,
    pub kind: String,
    pub payload: Value,
    pub correlation_key: Option<String>,
    pub state: EffectState,
    pub attempts: u32,
    pub failures: u32,
    pub next_attempt_at_ms: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at_ms: Option<i64>,
    pub last_outcome: Option<OutcomeKind>,
    pub last_error: Option<String>,
    pub result: Option<Value>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub completed_at_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_spellings_round_trip() {
        for state in EffectState::ALL {
            assert_eq!(EffectState::parse(state.as_str()), Some(state));
        }
        for kind in OutcomeKind::ALL {
            assert_eq!(OutcomeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EffectState::parse("PENDING"), None);
    }

    #[test]
    fn only_lost_attempts_leave_the_outcome_unknown() {
        let unknown: Vec<_> = OutcomeKind::ALL
            .into_iter()
            .filter(|k| k.leaves_outcome_unknown())
            .collect();
        assert_eq!(
            unknown,
            vec![OutcomeKind::LeaseExpired, OutcomeKind::Interrupted]
        );
    }

    #[test]
    fn new_effects_with_bad_names_are_refused() {
        let ok = NewEffect::new("jira-1", "case-1", "create_ticket", json!({}));
        assert!(ok.validate().is_ok());
        let empty = NewEffect::new("", "case-1", "create_ticket", json!({}));
        assert!(empty.validate().unwrap_err().contains("integration_id"));
        let nul = NewEffect::new("jira-1", "case-1", "create_ticket", json!({"a": "x\u{0}"}));
        assert!(nul.validate().unwrap_err().contains("NUL"));
        let control = NewEffect::new("jira-1", "case\n1", "create_ticket", json!({}));
        assert!(control.validate().unwrap_err().contains("ordering_key"));
    }
}
