//! The sync engine's durable outbox: every remote effect of a domain change (create a ticket,
//! update fields, transition, assign, comment, link, attach) is a row written in the same
//! transaction as that change, and workers on every replica apply the rows through executors
//! that the connector layer registers.
//!
//! Why: a ticketing backend is remote and fallible; the only way to never lose nor duplicate an
//! effect, keep one ticket's effects in order, and respect a backend's rate limits across
//! replicas is to drive everything from rows in the shared database.
//!
//! The modules, in the order an effect meets them:
//! - [`effect`]: the vocabulary (new effect, claimed effect, states, outcomes).
//! - [`outbox`]: enqueue in the caller's transaction, claim with a lease, settle, admin reads.
//! - [`gate`]: persisted pauses and not-before instants (per integration, per ordering key).
//! - [`rate`]: the per-integration token bucket of this process.
//! - [`retry`]: backoff with full jitter and the attempt limit.
//! - [`executor`]: the trait a connector implements per effect kind, and the registry.
//! - [`dispatch`]: one claim round with the rules that map outcomes to records.
//! - [`worker`]: the pool of tokio tasks running rounds until shutdown.
//! - [`health`]: per-integration counts, last error, oldest pending age.
//! - [`clock`]: the time source, replaceable in tests.
//!
//! How domain code enqueues (e.g. the case API creating a case and its ticket):
//! ```ignore
//! let mut tx = store.begin_write().await?;
//! // … domain writes on `tx` …
//! sync::outbox::enqueue(&mut tx, NewEffect::new(integration, case_id, "create_ticket", payload)
//!     .with_correlation_key(case_id)).await?;
//! tx.commit().await?;
//! sync::outbox::wake(&store);
//! ```

pub mod clock;
pub mod dispatch;
pub mod effect;
pub mod executor;
pub mod gate;
pub mod health;
pub mod outbox;
pub mod rate;
pub mod retry;
pub mod worker;

pub use dispatch::{Dispatcher, Handled, WorkerConfig};
pub use effect::{
    ClaimedEffect, Effect, EffectId, EffectOutcome, EffectState, NewEffect, OutcomeKind,
    PER_ISSUE_RATE_LIMIT_REASON,
};
pub use executor::{EffectExecutor, ExecutionContext, ExecutorRegistry, Settlement};
pub use health::SyncHealth;
pub use outbox::{enqueue, wake, ClaimRequest, Outbox};
pub use worker::WorkerPool;
