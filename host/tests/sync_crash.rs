//! Crash test: a worker process killed with SIGKILL between applying a create on the backend
//! and recording it leaves its effect in flight; after the lease another worker takes it over,
//! sees "previous outcome unknown", finds the ticket by correlation key and adopts it. The
//! backend (a table standing in for it) ends up with exactly one ticket.
//!
//! The worker that dies is this test binary itself, re-run as a child process with
//! `crash_child_worker` selected (an ignored test that does nothing unless the parent sets
//! `CASEBRIDGE_CRASH_CHILD_DB`).

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use casebridge::store::test_support::TestDb;
use casebridge::store::{now_ms, Store};
use casebridge::sync::clock::{self, ManualClock};
use casebridge::sync::executor::{EffectExecutor, ExecutionContext};
use casebridge::sync::{
    ClaimedEffect, Dispatcher, EffectOutcome, EffectState, ExecutorRegistry, Handled, NewEffect,
    OutcomeKind, WorkerConfig, WorkerPool,
};
use futures::future::BoxFuture;
use serde_json::json;
use sqlx::Row;
use support::{enqueue_one, outbox};

const CHILD_ENV: &str = "CASEBRIDGE_CRASH_CHILD_DB";
const LEASE: Duration = Duration::from_secs(60);

/// A backend double that creates "tickets" as rows, idempotently when asked to look up first.
struct TicketBackend {
    store: Store,
    /// Stop dead after creating, as a process killed before it could record would.
    hang_after_create: bool,
    seen: std::sync::Mutex<Vec<(u32, bool)>>,
}

impl TicketBackend {
    async fn find(&self, correlation: &str) -> Option<String> {
        sqlx::query("SELECT id FROM crash_tickets WHERE correlation_key = $1")
            .bind(correlation)
            .fetch_optional(self.store.pool())
            .await
            .unwrap()
            .map(|row| row.get::<String, _>("id"))
    }
}

impl EffectExecutor for TicketBackend {
    fn execute<'a>(
        &'a self,
        effect: &'a ClaimedEffect,
        _ctx: &'a ExecutionContext,
    ) -> BoxFuture<'a, EffectOutcome> {
        Box::pin(async move {
            self.seen
                .lock()
                .unwrap()
                .push((effect.attempt, effect.previous_outcome_unknown));
            let Some(correlation) = effect.correlation_key.as_deref() else {
                return EffectOutcome::Rejected("a create needs a correlation key".to_string());
            };
            if effect.attempt > 1 || effect.previous_outcome_unknown {
                if let Some(existing) = self.find(correlation).await {
                    return EffectOutcome::Done {
                        result: json!({"ticket": existing, "adopted": true}),
                    };
                }
            }
            let ticket = format!("SEC-{}", uuid::Uuid::new_v4().simple());
            sqlx::query("INSERT INTO crash_tickets (id, correlation_key) VALUES ($1, $2)")
                .bind(&ticket)
                .bind(correlation)
                .execute(self.store.pool())
                .await
                .unwrap();
            if self.hang_after_create {
                std::future::pending::<()>().await;
            }
            EffectOutcome::Done {
                result: json!({"ticket": ticket, "adopted": false}),
            }
        })
    }
}

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        workers: 1,
        lease: LEASE,
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    }
}

/// The child: runs a real worker pool that creates the ticket and then hangs until killed.
#[tokio::test]
#[ignore = "child process of the crash test; runs only when the parent starts it"]
async fn crash_child_worker() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    let backend = Arc::new(TicketBackend {
        store: store.clone(),
        hang_after_create: true,
        seen: Default::default(),
    });
    let registry = ExecutorRegistry::new().with("create_ticket", backend);
    let pool = WorkerPool::start(Arc::new(Dispatcher::new(
        outbox_of(&store),
        registry,
        worker_config(),
        clock::system(),
    )));
    pool.wake();
    std::future::pending::<()>().await;
}

fn outbox_of(store: &Store) -> casebridge::sync::Outbox {
    casebridge::sync::Outbox::new(store.clone())
}

async fn tickets(db: &TestDb) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM crash_tickets")
        .fetch_one(db.store.pool())
        .await
        .unwrap()
        .get("n")
}

async fn a_killed_worker_is_taken_over_without_a_duplicate_create_body(db: &TestDb) {
    sqlx::query("CREATE TABLE crash_tickets (id TEXT PRIMARY KEY, correlation_key TEXT NOT NULL)")
        .execute(db.store.pool())
        .await
        .unwrap();
    let id = enqueue_one(
        db,
        NewEffect::new("jira", "case-42", "create_ticket", json!({"summary": "x"}))
            .with_correlation_key("case-42"),
        now_ms(),
    )
    .await;

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child_worker", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tickets(db).await == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child worker exited before creating the ticket: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the child never created the ticket"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no release
    child.wait().unwrap();

    let orphan = outbox(db).get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        orphan.state,
        EffectState::InFlight,
        "the dead worker's claim is still held"
    );
    assert_eq!(orphan.attempts, 1);

    // Another worker, once the lease has expired.
    let later = ManualClock::new(orphan.lease_expires_at_ms.unwrap());
    let backend = Arc::new(TicketBackend {
        store: db.store.clone(),
        hang_after_create: false,
        seen: Default::default(),
    });
    let registry = ExecutorRegistry::new().with("create_ticket", backend.clone());
    let survivor = Dispatcher::new(
        outbox(db),
        registry,
        worker_config(),
        Arc::new(later.clone()),
    );
    later.advance(-1);
    assert!(
        survivor.run_once("survivor").await.unwrap().is_empty(),
        "lease still live"
    );
    later.advance(1);
    assert_eq!(
        survivor.run_once("survivor").await.unwrap(),
        vec![Handled::Recorded(OutcomeKind::Done)]
    );
    assert_eq!(*backend.seen.lock().unwrap(), vec![(2, true)]);
    assert_eq!(tickets(db).await, 1, "the create was applied exactly once");
    let done = outbox(db).get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(done.state, EffectState::Done);
    assert_eq!(done.result.as_ref().unwrap()["adopted"], json!(true));
}
on_both_engines!(
    a_killed_worker_is_taken_over_without_a_duplicate_create,
    a_killed_worker_is_taken_over_without_a_duplicate_create_body
);
