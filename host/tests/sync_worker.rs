//! The sync workers against a recording executor, on SQLite and PostgreSQL: retry policy per
//! outcome, gates, attempt limits, domain writes committed with the completion, the pool's
//! ordering across tasks, and shutdown. Rounds are driven one at a time on a manual clock;
//! nothing here asserts on elapsed time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use casebridge::store::test_support::TestDb;
use casebridge::sync::clock::{self, ManualClock};
use casebridge::sync::executor::{EffectExecutor, ExecutionContext, Settlement};
use casebridge::sync::outbox::{enqueue, EffectFilter};
use casebridge::sync::rate::RateConfig;
use casebridge::sync::retry::RetryPolicy;
use casebridge::sync::{
    ClaimRequest, ClaimedEffect, Dispatcher, EffectOutcome, EffectState, ExecutorRegistry, Handled,
    Outbox, OutcomeKind, WorkerConfig, WorkerPool, PER_ISSUE_RATE_LIMIT_REASON,
};
use futures::future::BoxFuture;
use serde_json::json;
use sqlx::Row;
use support::{effect, enqueue_one, outbox, Recorder, T0};
use tokio::sync::Notify;

const LEASE: Duration = Duration::from_secs(60);

fn policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        max_attempts: 5,
        min_rate_limit_wait: Duration::from_millis(100),
    }
}

fn config(retry: RetryPolicy) -> WorkerConfig {
    WorkerConfig {
        workers: 1,
        lease: LEASE,
        poll_interval: Duration::from_millis(50),
        claim_batch: 1,
        retry,
        rate: RateConfig {
            per_second: 1_000_000.0,
            burst: 1_000,
        },
        rate_overrides: Vec::new(),
        rng_seed: Some(11),
    }
}

fn dispatcher(
    db: &TestDb,
    executor: Arc<dyn EffectExecutor>,
    clock: &ManualClock,
    retry: RetryPolicy,
) -> Dispatcher {
    let registry = ExecutorRegistry::new()
        .with("update", executor.clone())
        .with("create_ticket", executor);
    Dispatcher::new(outbox(db), registry, config(retry), Arc::new(clock.clone()))
}

/// Runs rounds at the current instant until one claims nothing.
async fn drain(d: &Dispatcher) -> Vec<Handled> {
    let mut all = Vec::new();
    loop {
        let handled = d.run_once("test-worker").await.unwrap();
        if handled.is_empty() {
            return all;
        }
        all.extend(handled);
    }
}

async fn next_attempt_at(outbox: &Outbox, id: &str) -> i64 {
    outbox.get(id).await.unwrap().unwrap().next_attempt_at_ms
}

async fn transient_failures_back_off_then_succeed_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    recorder.script(
        "case-1",
        [
            EffectOutcome::Transient("502 from Jira".to_string()),
            EffectOutcome::Transient("timed out".to_string()),
        ],
    );
    let d = dispatcher(db, recorder.clone(), &clock, policy());
    let id = enqueue_one(db, effect("jira", "case-1", "update", 1), T0).await;

    for (failures, ceiling_ms) in [(1u32, 1_000i64), (2, 2_000)] {
        assert_eq!(
            d.run_once("w").await.unwrap(),
            vec![Handled::Recorded(OutcomeKind::Transient)]
        );
        let stored = d.outbox().get(id.as_str()).await.unwrap().unwrap();
        assert_eq!(stored.state, EffectState::Pending);
        assert_eq!(stored.failures, failures);
        let now = clock::Clock::now_ms(&clock);
        let due = stored.next_attempt_at_ms;
        assert!(
            (now..=now + ceiling_ms).contains(&due),
            "backoff {} ms after failure {failures}",
            due - now
        );
        if due > now {
            clock.set(due - 1);
            assert!(drain(&d).await.is_empty(), "retried before its backoff");
        }
        clock.set(due);
    }
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    let attempts: Vec<u32> = recorder.calls().iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert!(recorder.calls().iter().all(|c| !c.previous_outcome_unknown));
    let stored = d.outbox().get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, EffectState::Done);
    assert_eq!(stored.result, Some(json!({"applied": id.as_str()})));
    let health = d
        .outbox()
        .health("jira", clock::Clock::now_ms(&clock))
        .await
        .unwrap();
    assert_eq!(health.gate.last_error.unwrap().detail, "timed out");
}
on_both_engines!(
    transient_failures_back_off_then_succeed,
    transient_failures_back_off_then_succeed_body
);

async fn rate_limited_integration_waits_for_retry_after_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    recorder.script(
        "j1",
        [EffectOutcome::RateLimited {
            retry_after_ms: 30_000,
            reason: "jira-burst-based".to_string(),
        }],
    );
    let d = dispatcher(db, recorder.clone(), &clock, policy());
    enqueue_one(db, effect("jira", "j1", "update", 1), T0 - 2).await;
    enqueue_one(db, effect("jira", "j2", "update", 2), T0 - 1).await;
    enqueue_one(db, effect("snow", "s1", "update", 3), T0).await;

    let first = d.run_once("w").await.unwrap();
    assert_eq!(first, vec![Handled::Recorded(OutcomeKind::RateLimited)]);
    // The rest of jira waits; another integration does not.
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    assert_eq!(recorder.calls().last().unwrap().integration, "snow");
    let gate = d.outbox().gate("jira").await.unwrap();
    assert_eq!(gate.not_before_ms, T0 + 30_000);
    assert!(d.limiter().effective_per_second("jira", T0) < 1_000_000.0);
    clock.set(T0 + 29_999);
    assert!(drain(&d).await.is_empty());

    clock.set(T0 + 30_000);
    assert_eq!(drain(&d).await.len(), 2);
    let jira_calls: Vec<_> = recorder
        .calls()
        .into_iter()
        .filter(|c| c.integration == "jira")
        .collect();
    assert_eq!(jira_calls.len(), 3);
    assert_eq!(jira_calls[0].at_ms, T0);
    assert!(jira_calls[1..].iter().all(|c| c.at_ms >= T0 + 30_000));
}
on_both_engines!(
    rate_limited_integration_waits_for_retry_after,
    rate_limited_integration_waits_for_retry_after_body
);

async fn per_issue_rate_limit_delays_only_that_issue_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    recorder.script(
        "j1",
        [EffectOutcome::RateLimited {
            retry_after_ms: 20_000,
            reason: PER_ISSUE_RATE_LIMIT_REASON.to_string(),
        }],
    );
    let d = dispatcher(db, recorder.clone(), &clock, policy());
    enqueue_one(db, effect("jira", "j1", "update", 1), T0 - 1).await;
    enqueue_one(db, effect("jira", "j2", "update", 2), T0).await;

    assert_eq!(
        d.run_once("w").await.unwrap(),
        vec![Handled::Recorded(OutcomeKind::RateLimited)]
    );
    // Same integration, other issue: flows at once, and later effects of j2 too.
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    enqueue_one(db, effect("jira", "j2", "update", 3), T0).await;
    enqueue_one(db, effect("jira", "j1", "update", 4), T0).await;
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    assert_eq!(recorder.calls_for("j1").len(), 1);
    assert_eq!(d.outbox().gate("jira").await.unwrap().not_before_ms, 0);
    assert_eq!(d.outbox().health("jira", T0).await.unwrap().delayed_keys, 1);
    assert_eq!(
        d.limiter().effective_per_second("jira", T0),
        1_000_000.0,
        "a per-issue limit does not slow the backend"
    );

    clock.set(T0 + 20_000);
    assert_eq!(drain(&d).await.len(), 2, "both j1 effects, in order");
    let j1: Vec<_> = recorder.calls_for("j1");
    assert_eq!(j1.len(), 3);
    assert!(j1[1..].iter().all(|c| c.at_ms >= T0 + 20_000));
    assert_eq!(j1[1].payload, json!({"n": 1}));
    assert_eq!(j1[2].payload, json!({"n": 4}));
}
on_both_engines!(
    per_issue_rate_limit_delays_only_that_issue,
    per_issue_rate_limit_delays_only_that_issue_body
);

async fn refused_credentials_pause_the_integration_until_resumed_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    recorder.script(
        "j1",
        [EffectOutcome::Unauthorized(
            "401: API token revoked".to_string(),
        )],
    );
    let d = dispatcher(db, recorder.clone(), &clock, policy());
    enqueue_one(db, effect("jira", "j1", "update", 1), T0 - 2).await;
    enqueue_one(db, effect("jira", "j2", "update", 2), T0 - 1).await;
    enqueue_one(db, effect("snow", "s1", "update", 3), T0).await;

    assert_eq!(
        d.run_once("w").await.unwrap(),
        vec![Handled::Recorded(OutcomeKind::Unauthorized)]
    );
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    clock.set(T0 + 3_600_000);
    assert!(drain(&d).await.is_empty(), "nothing more is sent to jira");
    assert_eq!(recorder.calls_for("j2").len(), 0);
    let health = d.outbox().health("jira", T0).await.unwrap();
    let paused = health.gate.paused.unwrap();
    assert_eq!(paused.outcome, Some(OutcomeKind::Unauthorized));
    assert_eq!(paused.reason, "401: API token revoked");
    assert_eq!(health.pending, 2);

    assert!(d.outbox().resume_integration("jira", T0).await.unwrap());
    assert_eq!(drain(&d).await.len(), 2);
    let j1 = recorder.calls_for("j1");
    assert_eq!(j1.len(), 2);
    assert_eq!(j1[1].attempt, 2);
    let stored = d
        .outbox()
        .get(j1[1].effect.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, EffectState::Done);
    assert_eq!(
        stored.failures, 0,
        "a paused integration is not the effect's failure"
    );
}
on_both_engines!(
    refused_credentials_pause_the_integration_until_resumed,
    refused_credentials_pause_the_integration_until_resumed_body
);

async fn invalid_config_pauses_the_integration_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    recorder.script(
        "j1",
        [EffectOutcome::InvalidConfig(
            "project SEC was deleted".to_string(),
        )],
    );
    let d = dispatcher(db, recorder.clone(), &clock, policy());
    enqueue_one(db, effect("jira", "j1", "update", 1), T0).await;
    assert_eq!(
        drain(&d).await,
        vec![Handled::Recorded(OutcomeKind::InvalidConfig)]
    );
    let paused = d.outbox().gate("jira").await.unwrap().paused.unwrap();
    assert_eq!(paused.outcome, Some(OutcomeKind::InvalidConfig));
    assert_eq!(paused.reason, "project SEC was deleted");
}
on_both_engines!(
    invalid_config_pauses_the_integration,
    invalid_config_pauses_the_integration_body
);

async fn rejected_effect_fails_visibly_and_an_admin_retry_reruns_it_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    recorder.script(
        "j1",
        [EffectOutcome::Rejected(
            "Field 'priority' cannot be set".to_string(),
        )],
    );
    let d = dispatcher(db, recorder.clone(), &clock, policy());
    let id = enqueue_one(db, effect("jira", "j1", "update", 1), T0).await;
    let follow_up = enqueue_one(db, effect("jira", "j1", "update", 2), T0).await;

    assert_eq!(
        d.run_once("w").await.unwrap(),
        vec![Handled::Recorded(OutcomeKind::Rejected)]
    );
    let failed = d
        .outbox()
        .list(&EffectFilter {
            state: Some(EffectState::Failed),
            integration_id: Some("jira".to_string()),
            ..EffectFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.effects.len(), 1);
    assert_eq!(failed.effects[0].id, id);
    assert_eq!(
        failed.effects[0].last_error.as_deref(),
        Some("Field 'priority' cannot be set")
    );
    // The key moves on to its next effect.
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    assert_eq!(recorder.calls().last().unwrap().effect, follow_up);

    d.outbox().retry_failed(id.as_str(), T0).await.unwrap();
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    let calls = recorder.calls_for("j1");
    assert_eq!(calls.len(), 3);
    assert_eq!((calls[2].effect.clone(), calls[2].attempt), (id.clone(), 2));
    assert_eq!(
        d.outbox().get(id.as_str()).await.unwrap().unwrap().state,
        EffectState::Done
    );
}
on_both_engines!(
    rejected_effect_fails_visibly_and_an_admin_retry_reruns_it,
    rejected_effect_fails_visibly_and_an_admin_retry_reruns_it_body
);

async fn an_effect_out_of_attempts_fails_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    recorder.script(
        "j1",
        (0..10).map(|n| EffectOutcome::Transient(format!("503 #{n}"))),
    );
    let retry = RetryPolicy {
        max_attempts: 3,
        ..policy()
    };
    let d = dispatcher(db, recorder.clone(), &clock, retry);
    let id = enqueue_one(db, effect("jira", "j1", "update", 1), T0).await;
    for _ in 0..5 {
        drain(&d).await;
        clock.set(next_attempt_at(d.outbox(), id.as_str()).await.max(T0));
    }
    assert_eq!(recorder.calls_for("j1").len(), 3);
    let stored = d.outbox().get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, EffectState::Failed);
    assert_eq!(stored.last_outcome, Some(OutcomeKind::Transient));
    assert_eq!(
        stored.last_error.as_deref(),
        Some("gave up after 3 failed attempts; last: 503 #2")
    );
    assert_eq!(d.outbox().health("jira", T0).await.unwrap().failed, 1);
}
on_both_engines!(
    an_effect_out_of_attempts_fails,
    an_effect_out_of_attempts_fails_body
);

async fn a_call_that_keeps_killing_its_worker_fails_after_max_attempts_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    let retry = RetryPolicy {
        max_attempts: 2,
        ..policy()
    };
    let d = dispatcher(db, recorder.clone(), &clock, retry);
    let id = enqueue_one(db, effect("jira", "j1", "create_ticket", 1), T0).await;
    // Two workers die holding it (claimed, never recorded).
    let lease = ClaimRequest {
        limit: 1,
        lease_ms: 1_000,
        kinds: None,
    };
    d.outbox().claim("dies-1", &lease, T0).await.unwrap();
    d.outbox()
        .claim("dies-2", &lease, T0 + 1_000)
        .await
        .unwrap();
    clock.set(T0 + 2_000);
    assert_eq!(
        drain(&d).await,
        vec![Handled::Recorded(OutcomeKind::LeaseExpired)]
    );
    assert!(recorder.calls().is_empty(), "not called a third time");
    let stored = d.outbox().get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, EffectState::Failed);
    assert!(stored
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("gave up after 2 attempts without an outcome"));
}
on_both_engines!(
    a_call_that_keeps_killing_its_worker_fails_after_max_attempts,
    a_call_that_keeps_killing_its_worker_fails_after_max_attempts_body
);

/// Writes a "ticket link" row in the settlement transaction; optionally waits to be released
/// before answering, so a test can steal its lease meanwhile.
struct Linker {
    started: Notify,
    release: Notify,
    block: bool,
    outcome: EffectOutcome,
}

impl EffectExecutor for Linker {
    fn execute<'a>(
        &'a self,
        _effect: &'a ClaimedEffect,
        _ctx: &'a ExecutionContext,
    ) -> BoxFuture<'a, EffectOutcome> {
        Box::pin(async move {
            self.started.notify_one();
            if self.block {
                self.release.notified().await;
            }
            self.outcome.clone()
        })
    }

    fn on_settled<'a>(
        &'a self,
        effect: &'a ClaimedEffect,
        settlement: &'a Settlement,
        tx: &'a mut casebridge::store::Tx,
    ) -> BoxFuture<'a, Result<(), casebridge::store::StoreError>> {
        Box::pin(async move {
            let (outcome, detail) = match settlement {
                Settlement::Done { result } => ("done".to_string(), result.to_string()),
                Settlement::Failed { outcome, detail } => {
                    (outcome.as_str().to_string(), detail.clone())
                }
            };
            sqlx::query("INSERT INTO test_links (effect_id, outcome, detail) VALUES ($1, $2, $3)")
                .bind(effect.id.as_str())
                .bind(outcome)
                .bind(detail)
                .execute(&mut **tx)
                .await?;
            Ok(())
        })
    }
}

async fn links(db: &TestDb) -> Vec<(String, String, String)> {
    sqlx::query("SELECT effect_id, outcome, detail FROM test_links ORDER BY effect_id")
        .fetch_all(db.store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn executor_writes_commit_with_the_outcome_or_not_at_all_body(db: &TestDb) {
    sqlx::query("CREATE TABLE test_links (effect_id TEXT PRIMARY KEY, outcome TEXT, detail TEXT)")
        .execute(db.store.pool())
        .await
        .unwrap();
    let clock = support::clock();
    let linker = |block, outcome| {
        Arc::new(Linker {
            started: Notify::new(),
            release: Notify::new(),
            block,
            outcome,
        })
    };

    // Done: the link and the completion commit together.
    let done = linker(
        false,
        EffectOutcome::Done {
            result: json!({"key": "SEC-1"}),
        },
    );
    let d = dispatcher(db, done, &clock, policy());
    let created = enqueue_one(db, effect("jira", "c1", "create_ticket", 1), T0).await;
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    assert_eq!(
        links(db).await,
        vec![(
            created.0.clone(),
            "done".to_string(),
            r#"{"key":"SEC-1"}"#.to_string()
        )]
    );

    // Not found: its own failed outcome, which the executor also sees.
    let gone = linker(
        false,
        EffectOutcome::NotFound("issue SEC-2 does not exist".to_string()),
    );
    let d = dispatcher(db, gone, &clock, policy());
    let missing = enqueue_one(db, effect("jira", "c2", "update", 2), T0).await;
    assert_eq!(
        drain(&d).await,
        vec![Handled::Recorded(OutcomeKind::NotFound)]
    );
    let stored = d.outbox().get(missing.as_str()).await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.last_outcome),
        (EffectState::Failed, Some(OutcomeKind::NotFound))
    );
    assert!(links(db).await.contains(&(
        missing.0.clone(),
        "not_found".to_string(),
        "issue SEC-2 does not exist".to_string()
    )));

    // Lease lost mid-call: the late answer changes nothing, link included.
    let slow = linker(true, EffectOutcome::done());
    let d = Arc::new(dispatcher(db, slow.clone(), &clock, policy()));
    let stolen = enqueue_one(db, effect("jira", "c3", "create_ticket", 3), T0).await;
    let round = tokio::spawn({
        let d = d.clone();
        async move { d.run_once("slow-worker").await.unwrap() }
    });
    slow.started.notified().await;
    let thief = outbox(db)
        .claim(
            "thief",
            &ClaimRequest {
                limit: 1,
                lease_ms: 60_000,
                kinds: None,
            },
            T0 + 61_000,
        )
        .await
        .unwrap();
    assert_eq!(thief[0].id, stolen);
    slow.release.notify_one();
    assert_eq!(round.await.unwrap(), vec![Handled::LeaseLost]);
    assert!(!links(db).await.iter().any(|(id, _, _)| *id == stolen.0));
    let stored = d.outbox().get(stolen.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, EffectState::InFlight);
    assert_eq!(
        stored.lease_owner.as_deref(),
        Some(thief[0].lease.owner.as_str())
    );
}
on_both_engines!(
    executor_writes_commit_with_the_outcome_or_not_at_all,
    executor_writes_commit_with_the_outcome_or_not_at_all_body
);

async fn wait_until_settled(outbox: &Outbox, integration: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let health = outbox.health(integration, T0).await.unwrap();
        if health.pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "effects still pending: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn the_pool_applies_each_effect_once_in_key_order_body(db: &TestDb) {
    let recorder = Recorder::new();
    let registry = ExecutorRegistry::new().with("update", recorder.clone());
    let mut cfg = config(policy());
    cfg.workers = 4;
    cfg.claim_batch = 2;
    cfg.poll_interval = Duration::from_secs(30); // only the wake signal gets things moving
    let pool = WorkerPool::start(Arc::new(Dispatcher::new(
        outbox(db),
        registry,
        cfg,
        clock::system(),
    )));
    const KEYS: u32 = 12;
    const PER_KEY: u32 = 5;
    for step in 0..PER_KEY {
        let mut tx = db.store.begin().await.unwrap();
        for key in 0..KEYS {
            let new = effect("jira", &format!("case-{key}"), "update", step);
            enqueue(&mut tx, new).await.unwrap();
        }
        tx.commit().await.unwrap();
        casebridge::sync::wake(&db.store);
    }
    wait_until_settled(&outbox(db), "jira").await;
    pool.shutdown(Duration::from_secs(5)).await;

    let calls = recorder.calls();
    assert_eq!(
        calls.len(),
        (KEYS * PER_KEY) as usize,
        "each effect exactly once"
    );
    for key in 0..KEYS {
        let steps: Vec<_> = recorder
            .calls_for(&format!("case-{key}"))
            .iter()
            .map(|c| c.payload["n"].as_u64().unwrap())
            .collect();
        assert_eq!(
            steps,
            vec![0, 1, 2, 3, 4],
            "case-{key} applied out of order"
        );
    }
    assert!(
        recorder.overlaps().is_empty(),
        "two effects of one key ran at once"
    );
}
on_both_engines!(
    the_pool_applies_each_effect_once_in_key_order,
    the_pool_applies_each_effect_once_in_key_order_body
);

async fn shutdown_releases_calls_in_flight_as_interrupted_body(db: &TestDb) {
    let stuck = Arc::new(Linker {
        started: Notify::new(),
        release: Notify::new(),
        block: true,
        outcome: EffectOutcome::done(),
    });
    let registry = ExecutorRegistry::new().with("create_ticket", stuck.clone());
    let pool = WorkerPool::start(Arc::new(Dispatcher::new(
        outbox(db),
        registry,
        config(policy()),
        clock::system(),
    )));
    let id = enqueue_one(
        db,
        effect("jira", "c1", "create_ticket", 1),
        casebridge::store::now_ms(),
    )
    .await;
    pool.wake();
    stuck.started.notified().await;
    pool.shutdown(Duration::from_millis(100)).await;

    let stored = outbox(db).get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, EffectState::Pending);
    assert_eq!(stored.lease_owner, None, "no lease left behind");
    assert_eq!(stored.last_outcome, Some(OutcomeKind::Interrupted));
    let next = outbox(db)
        .claim(
            "next",
            &ClaimRequest {
                limit: 1,
                lease_ms: 1_000,
                kinds: None,
            },
            casebridge::store::now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].attempt, next[0].previous_outcome_unknown),
        (2, true)
    );
}
on_both_engines!(
    shutdown_releases_calls_in_flight_as_interrupted,
    shutdown_releases_calls_in_flight_as_interrupted_body
);

async fn a_long_call_keeps_its_lease_by_renewing_it_body(db: &TestDb) {
    let clock = support::clock();
    let slow = Arc::new(Linker {
        started: Notify::new(),
        release: Notify::new(),
        block: true,
        outcome: EffectOutcome::done(),
    });
    sqlx::query("CREATE TABLE test_links (effect_id TEXT PRIMARY KEY, outcome TEXT, detail TEXT)")
        .execute(db.store.pool())
        .await
        .unwrap();
    let registry = ExecutorRegistry::new().with("create_ticket", slow.clone());
    let mut cfg = config(policy());
    cfg.lease = Duration::from_millis(300); // renewed every 100 ms of real time
    let d = Arc::new(Dispatcher::new(
        outbox(db),
        registry,
        cfg,
        Arc::new(clock.clone()),
    ));
    let id = enqueue_one(db, effect("jira", "c1", "create_ticket", 1), T0).await;
    let round = tokio::spawn({
        let d = d.clone();
        async move { d.run_once("slow-worker").await.unwrap() }
    });
    slow.started.notified().await;
    // Far past the original lease: only a renewal made after this keeps the claim alive.
    clock.set(T0 + 10_000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = d.outbox().get(id.as_str()).await.unwrap().unwrap();
        if stored.lease_expires_at_ms == Some(T0 + 10_300) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease never renewed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let thief = d
        .outbox()
        .claim(
            "thief",
            &ClaimRequest {
                limit: 1,
                lease_ms: 1_000,
                kinds: None,
            },
            T0 + 10_000,
        )
        .await
        .unwrap();
    assert!(thief.is_empty(), "a renewed lease cannot be taken over");
    slow.release.notify_one();
    assert_eq!(
        round.await.unwrap(),
        vec![Handled::Recorded(OutcomeKind::Done)]
    );
    assert_eq!(
        d.outbox().get(id.as_str()).await.unwrap().unwrap().state,
        EffectState::Done
    );
}
on_both_engines!(
    a_long_call_keeps_its_lease_by_renewing_it,
    a_long_call_keeps_its_lease_by_renewing_it_body
);

async fn the_token_bucket_paces_calls_to_an_integration_body(db: &TestDb) {
    let clock = support::clock();
    let recorder = Recorder::new();
    let registry = ExecutorRegistry::new().with("update", recorder.clone());
    let mut cfg = config(policy());
    cfg.lease = Duration::from_secs(1); // waits over 500 ms go back to the queue
    cfg.rate = RateConfig {
        per_second: 1.0,
        burst: 1,
    };
    let d = Dispatcher::new(outbox(db), registry, cfg, Arc::new(clock.clone()));
    for n in 0..3u32 {
        enqueue_one(
            db,
            effect("jira", &format!("k{n}"), "update", n),
            T0 - 3 + i64::from(n),
        )
        .await;
    }
    assert_eq!(
        drain(&d).await,
        vec![
            Handled::Recorded(OutcomeKind::Done),
            Handled::Released,
            Handled::Released
        ]
    );
    clock.set(T0 + 1_000);
    assert_eq!(
        drain(&d).await,
        vec![Handled::Recorded(OutcomeKind::Done), Handled::Released]
    );
    clock.set(T0 + 2_000);
    assert_eq!(drain(&d).await, vec![Handled::Recorded(OutcomeKind::Done)]);
    let at: Vec<i64> = recorder.calls().iter().map(|c| c.at_ms - T0).collect();
    assert_eq!(at, vec![0, 1_000, 2_000], "one call per second");
    assert!(
        recorder.calls().iter().all(|c| c.attempt == 1),
        "released claims are not attempts"
    );
}
on_both_engines!(
    the_token_bucket_paces_calls_to_an_integration,
    the_token_bucket_paces_calls_to_an_integration_body
);
