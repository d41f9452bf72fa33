//! Storage suite of the sync outbox, on SQLite and PostgreSQL: enqueue in the caller's
//! transaction, per-key order, leases and takeover, gates, admin re-queue, listing, health.

mod support;

use std::collections::HashSet;

use casebridge::store::test_support::TestDb;
use casebridge::store::{Store, StoreError};
use casebridge::sync::gate;
use casebridge::sync::outbox::settle::is_lease_lost;
use casebridge::sync::outbox::{enqueue_at, EffectCursor, EffectFilter, RetryLater};
use casebridge::sync::{ClaimRequest, EffectState, Outbox, OutcomeKind};
use serde_json::json;
use support::{effect, enqueue_one, outbox, T0};

const LEASE: i64 = 30_000;

fn any_kind(limit: usize) -> ClaimRequest {
    ClaimRequest {
        limit,
        lease_ms: LEASE,
        kinds: None,
    }
}

fn keys_of(claimed: &[casebridge::sync::ClaimedEffect]) -> Vec<String> {
    let mut keys: Vec<String> = claimed.iter().map(|c| c.ordering_key.clone()).collect();
    keys.sort();
    keys
}

async fn enqueue_rolls_back_with_the_callers_transaction_body(db: &TestDb) {
    let outbox = outbox(db);
    let mut tx = db.store.begin().await.unwrap();
    enqueue_at(&mut tx, effect("jira", "case-1", "create_ticket", 1), T0)
        .await
        .unwrap();
    drop(tx); // the domain change failed: roll back
    assert!(outbox
        .claim("w", &any_kind(10), T0)
        .await
        .unwrap()
        .is_empty());
    assert!(outbox
        .list(&EffectFilter::default())
        .await
        .unwrap()
        .effects
        .is_empty());

    let mut tx = db.store.begin().await.unwrap();
    let id = enqueue_at(&mut tx, effect("jira", "case-1", "create_ticket", 2), T0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let claimed = outbox.claim("w", &any_kind(10), T0).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].payload, json!({"n": 2}));
    assert_eq!(claimed[0].attempt, 1);
    assert!(!claimed[0].previous_outcome_unknown);
}
on_both_engines!(
    enqueue_rolls_back_with_the_callers_transaction,
    enqueue_rolls_back_with_the_callers_transaction_body
);

async fn enqueue_refuses_bad_names_body(db: &TestDb) {
    let mut tx = db.store.begin().await.unwrap();
    let err = enqueue_at(&mut tx, effect("jira", "", "create_ticket", 1), T0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref d) if d.contains("ordering_key")),
        "{err}"
    );
}
on_both_engines!(enqueue_refuses_bad_names, enqueue_refuses_bad_names_body);

async fn a_keys_next_effect_waits_for_the_previous_one_body(db: &TestDb) {
    let outbox = outbox(db);
    let first = enqueue_one(db, effect("jira", "case-a", "create_ticket", 1), T0).await;
    let second = enqueue_one(db, effect("jira", "case-a", "comment", 2), T0).await;
    let third = enqueue_one(db, effect("jira", "case-a", "transition", 3), T0).await;
    let other = enqueue_one(db, effect("jira", "case-b", "create_ticket", 1), T0).await;

    // Different keys flow in parallel; only the head of case-a is handed out.
    let claimed = outbox.claim("w1", &any_kind(10), T0).await.unwrap();
    let ids: HashSet<_> = claimed.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, HashSet::from([first.clone(), other.clone()]));
    // While the head is in flight nothing else of its key is claimable, by anyone.
    assert!(outbox
        .claim("w2", &any_kind(10), T0)
        .await
        .unwrap()
        .is_empty());

    let head = claimed.iter().find(|c| c.id == first).unwrap();
    outbox
        .complete(head, &json!({"key": "SEC-1"}), T0)
        .await
        .unwrap();
    let next = outbox.claim("w2", &any_kind(10), T0).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].id, second);
    assert!(next[0].seq > head.seq);

    // A failed effect also releases its key.
    outbox
        .fail(&next[0], OutcomeKind::Rejected, "field missing", T0)
        .await
        .unwrap();
    let last = outbox.claim("w3", &any_kind(10), T0).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].id, third);

    // Re-queuing the failed one while a later effect of its key is in flight does not put two
    // effects of the key in flight; it runs once the key is free.
    outbox.retry_failed(second.as_str(), T0).await.unwrap();
    assert!(outbox
        .claim("w4", &any_kind(10), T0)
        .await
        .unwrap()
        .is_empty());
    outbox.complete(&last[0], &json!(null), T0).await.unwrap();
    let retried = outbox.claim("w4", &any_kind(10), T0).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, second);
    assert_eq!(retried[0].attempt, 2, "attempts survive an admin retry");
}
on_both_engines!(
    a_keys_next_effect_waits_for_the_previous_one,
    a_keys_next_effect_waits_for_the_previous_one_body
);

async fn claims_only_due_effects_of_the_kinds_asked_body(db: &TestDb) {
    let outbox = outbox(db);
    enqueue_one(db, effect("jira", "k1", "comment", 1), T0).await;
    let later = enqueue_one(
        db,
        effect("jira", "k2", "comment", 2).not_before(T0 + 5_000),
        T0,
    )
    .await;
    enqueue_one(db, effect("jira", "k3", "attach", 3), T0).await;
    let only_comments = ClaimRequest {
        kinds: Some(vec!["comment".to_string()]),
        ..any_kind(10)
    };
    let claimed = outbox.claim("w", &only_comments, T0).await.unwrap();
    assert_eq!(keys_of(&claimed), vec!["k1"]);
    let nothing = ClaimRequest {
        kinds: Some(vec![]),
        ..any_kind(10)
    };
    assert!(outbox
        .claim("w", &nothing, T0 + 10_000)
        .await
        .unwrap()
        .is_empty());
    let due = outbox.claim("w", &only_comments, T0 + 5_000).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, later);
    // The limit bounds a claim.
    enqueue_one(db, effect("jira", "k4", "attach", 4), T0).await;
    assert_eq!(outbox.claim("w", &any_kind(1), T0).await.unwrap().len(), 1);
}
on_both_engines!(
    claims_only_due_effects_of_the_kinds_asked,
    claims_only_due_effects_of_the_kinds_asked_body
);

async fn an_expired_lease_is_taken_over_with_the_outcome_unknown_body(db: &TestDb) {
    let outbox = outbox(db);
    let id = enqueue_one(
        db,
        effect("jira", "case-1", "create_ticket", 1).with_correlation_key("case-1"),
        T0,
    )
    .await;
    let first = outbox.claim("dead-worker", &any_kind(1), T0).await.unwrap();
    assert_eq!(first.len(), 1);
    // Renewal pushes the expiry; before it nobody else gets the effect.
    assert!(outbox
        .renew_lease(&first[0], T0 + 2 * LEASE, T0 + 1)
        .await
        .unwrap());
    assert!(outbox
        .claim("w2", &any_kind(1), T0 + LEASE + 1)
        .await
        .unwrap()
        .is_empty());

    let taken = outbox
        .claim("w2", &any_kind(1), T0 + 2 * LEASE)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let taken = &taken[0];
    assert_eq!(taken.id, id);
    assert_eq!(taken.attempt, 2);
    assert!(taken.previous_outcome_unknown);
    assert_eq!(taken.last_outcome, Some(OutcomeKind::LeaseExpired));
    assert_eq!(taken.failures, 1);
    assert_eq!(taken.correlation_key.as_deref(), Some("case-1"));
    assert!(taken.last_error.as_deref().unwrap().contains("dead-worker"));

    // The dead worker comes back: it can neither renew nor record anything.
    assert!(!outbox
        .renew_lease(&first[0], T0 + 10 * LEASE, T0)
        .await
        .unwrap());
    let err = outbox
        .complete(&first[0], &json!({"dup": true}), T0)
        .await
        .unwrap_err();
    assert!(is_lease_lost(&err), "{err}");
    let retry = RetryLater {
        at_ms: T0,
        outcome: OutcomeKind::Transient,
        error: "x".to_string(),
        counts_as_failure: true,
    };
    assert!(is_lease_lost(
        &outbox.retry_later(&first[0], &retry, T0).await.unwrap_err()
    ));
    assert!(is_lease_lost(
        &outbox
            .fail(&first[0], OutcomeKind::Rejected, "x", T0)
            .await
            .unwrap_err()
    ));
    // The new holder records; the effect is done once.
    outbox
        .complete(taken, &json!({"key": "SEC-9"}), T0 + 2 * LEASE)
        .await
        .unwrap();
    let stored = outbox.get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, EffectState::Done);
    assert_eq!(stored.result, Some(json!({"key": "SEC-9"})));
    assert_eq!(stored.lease_owner, None);
    assert_eq!(stored.completed_at_ms, Some(T0 + 2 * LEASE));
}
on_both_engines!(
    an_expired_lease_is_taken_over_with_the_outcome_unknown,
    an_expired_lease_is_taken_over_with_the_outcome_unknown_body
);

async fn released_claims_keep_what_the_next_attempt_must_know_body(db: &TestDb) {
    let outbox = outbox(db);
    let id = enqueue_one(db, effect("jira", "k", "create_ticket", 1), T0).await;
    // Released before the call: the attempt does not count, nothing is unknown.
    let c = outbox.claim("w", &any_kind(1), T0).await.unwrap();
    outbox.release(&c[0], false, T0 + 100, T0).await.unwrap();
    assert!(outbox
        .claim("w", &any_kind(1), T0 + 99)
        .await
        .unwrap()
        .is_empty());
    let c = outbox.claim("w", &any_kind(1), T0 + 100).await.unwrap();
    assert_eq!((c[0].attempt, c[0].previous_outcome_unknown), (1, false));
    // Cut off mid-call: the next attempt knows the outcome is unknown.
    outbox
        .release(&c[0], true, T0 + 100, T0 + 100)
        .await
        .unwrap();
    let c = outbox.claim("w", &any_kind(1), T0 + 100).await.unwrap();
    assert_eq!(c[0].id, id);
    assert_eq!((c[0].attempt, c[0].previous_outcome_unknown), (2, true));
    assert_eq!(c[0].last_outcome, Some(OutcomeKind::Interrupted));
}
on_both_engines!(
    released_claims_keep_what_the_next_attempt_must_know,
    released_claims_keep_what_the_next_attempt_must_know_body
);

/// A second "replica": its own pool on the same database (same file, same schema).
async fn replica(db: &TestDb) -> Store {
    Store::connect(&db.url).await.unwrap()
}

async fn replicas_never_claim_the_same_effect_body(db: &TestDb) {
    const KEYS: u32 = 120;
    let mut tx = db.store.begin().await.unwrap();
    for n in 0..KEYS {
        for step in 0..2 {
            enqueue_at(
                &mut tx,
                effect("jira", &format!("case-{n}"), "update", step),
                T0,
            )
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    let other = replica(db).await;
    let replicas = [Outbox::new(db.store.clone()), Outbox::new(other.clone())];
    // Several claimers per replica, all at once, until nothing is left; nobody completes, so
    // every claimed row stays leased and any double claim would show.
    let mut tasks = Vec::new();
    for (r, outbox) in replicas.iter().enumerate() {
        for w in 0..3 {
            let outbox = outbox.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = outbox
                        .claim(&format!("r{r}w{w}"), &any_kind(7), T0)
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed.into_iter().map(|c| (c.id, c.ordering_key, c.seq)));
                }
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let ids: HashSet<_> = all.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(ids.len(), all.len(), "an effect was claimed twice");
    // Exactly the head of every key, and no second effect of any key.
    let keys: HashSet<_> = all.iter().map(|(_, key, _)| key.clone()).collect();
    assert_eq!(all.len(), KEYS as usize);
    assert_eq!(keys.len(), KEYS as usize);
    other.close().await;
}
on_both_engines!(
    replicas_never_claim_the_same_effect,
    replicas_never_claim_the_same_effect_body
);

async fn gates_hold_back_every_replica_body(db: &TestDb) {
    let outbox = outbox(db);
    let other = replica(db).await;
    let other_outbox = Outbox::new(other.clone());
    enqueue_one(db, effect("jira", "k1", "update", 1), T0).await;
    enqueue_one(db, effect("jira", "k2", "update", 2), T0).await;
    enqueue_one(db, effect("snow", "k1", "update", 3), T0).await;

    // A backend-wide Retry-After on jira: no replica claims jira before it; snow still flows.
    let mut tx = db.store.begin().await.unwrap();
    gate::delay_integration(&mut tx, "jira", T0 + 30_000, "rate limited", T0)
        .await
        .unwrap();
    // A shorter one seen later never shortens it.
    gate::delay_integration(&mut tx, "jira", T0 + 1_000, "rate limited", T0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let claimed = other_outbox
        .claim("r2", &any_kind(10), T0 + 29_999)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].integration_id, "snow");
    other_outbox
        .complete(&claimed[0], &json!(null), T0)
        .await
        .unwrap();
    let claimed = outbox
        .claim("r1", &any_kind(10), T0 + 30_000)
        .await
        .unwrap();
    assert_eq!(keys_of(&claimed), vec!["k1", "k2"]);
    for c in &claimed {
        outbox
            .retry_later(
                c,
                &RetryLater {
                    at_ms: T0 + 30_000,
                    outcome: OutcomeKind::RateLimited,
                    error: "again".to_string(),
                    counts_as_failure: false,
                },
                T0 + 30_000,
            )
            .await
            .unwrap();
    }

    // A per-key not-before holds that key only.
    let mut tx = db.store.begin().await.unwrap();
    gate::delay_key(&mut tx, "jira", "k1", T0 + 60_000, "per issue", T0 + 30_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let claimed = other_outbox
        .claim("r2", &any_kind(10), T0 + 30_000)
        .await
        .unwrap();
    assert_eq!(keys_of(&claimed), vec!["k2"]);
    other_outbox
        .complete(&claimed[0], &json!(null), T0)
        .await
        .unwrap();
    assert!(outbox
        .claim("r1", &any_kind(10), T0 + 59_999)
        .await
        .unwrap()
        .is_empty());
    let claimed = outbox
        .claim("r1", &any_kind(10), T0 + 60_000)
        .await
        .unwrap();
    assert_eq!(keys_of(&claimed), vec!["k1"]);
    outbox
        .complete(&claimed[0], &json!(null), T0 + 60_000)
        .await
        .unwrap();

    // Pausing holds everything of the integration until resumed.
    enqueue_one(db, effect("jira", "k3", "update", 4), T0).await;
    outbox
        .pause_integration("jira", Some(OutcomeKind::Unauthorized), "401 from Jira", T0)
        .await
        .unwrap();
    assert!(other_outbox
        .claim("r2", &any_kind(10), T0 + 90_000)
        .await
        .unwrap()
        .is_empty());
    let gate = other_outbox.gate("jira").await.unwrap();
    let pause = gate.paused.unwrap();
    assert_eq!(pause.reason, "401 from Jira");
    assert_eq!(pause.outcome, Some(OutcomeKind::Unauthorized));
    assert!(outbox.resume_integration("jira", T0).await.unwrap());
    assert!(!outbox.resume_integration("jira", T0).await.unwrap());
    assert_eq!(
        keys_of(
            &other_outbox
                .claim("r2", &any_kind(10), T0 + 90_000)
                .await
                .unwrap()
        ),
        vec!["k3"]
    );
    other.close().await;
}
on_both_engines!(
    gates_hold_back_every_replica,
    gates_hold_back_every_replica_body
);

async fn failed_effects_are_listed_retried_and_cancelled_by_admins_body(db: &TestDb) {
    let outbox = outbox(db);
    let mut ids = Vec::new();
    for n in 0..5u32 {
        let integration = if n % 2 == 0 { "jira" } else { "snow" };
        ids.push(
            enqueue_one(
                db,
                effect(integration, &format!("k{n}"), "update", n),
                T0 + i64::from(n),
            )
            .await,
        );
    }
    let claimed = outbox.claim("w", &any_kind(10), T0 + 10).await.unwrap();
    let rejected = claimed.iter().find(|c| c.id == ids[0]).unwrap();
    outbox
        .fail(
            rejected,
            OutcomeKind::Rejected,
            "priority P9 does not exist",
            T0 + 10,
        )
        .await
        .unwrap();
    for c in claimed.iter().filter(|c| c.id != ids[0]) {
        outbox.complete(c, &json!(null), T0 + 10).await.unwrap();
    }

    let failed = outbox
        .list(&EffectFilter {
            state: Some(EffectState::Failed),
            ..EffectFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.effects.len(), 1);
    assert_eq!(
        failed.effects[0].last_error.as_deref(),
        Some("priority P9 does not exist")
    );
    assert_eq!(failed.effects[0].last_outcome, Some(OutcomeKind::Rejected));

    // Paging by cursor: every row once, in creation order.
    let mut seen = Vec::new();
    let mut after: Option<EffectCursor> = None;
    loop {
        let page = outbox
            .list(&EffectFilter {
                limit: 2,
                after: after.clone(),
                ..EffectFilter::default()
            })
            .await
            .unwrap();
        seen.extend(page.effects.iter().map(|e| e.id.clone()));
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let jira = outbox
        .list(&EffectFilter {
            integration_id: Some("jira".to_string()),
            ..EffectFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(jira.effects.len(), 3);

    // Only failed (or cancelled) effects can be retried; unknown ids are not found.
    let err = outbox.retry_failed(ids[1].as_str(), T0).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref d) if d.contains("is done")),
        "{err}"
    );
    assert!(matches!(
        outbox.retry_failed("no-such-id", T0).await.unwrap_err(),
        StoreError::NotFound(_)
    ));
    let retried = outbox.retry_failed(ids[0].as_str(), T0 + 20).await.unwrap();
    assert_eq!(retried.state, EffectState::Pending);
    assert_eq!(retried.failures, 0);
    assert_eq!(retried.completed_at_ms, None);
    // Cancelling withdraws it; a cancelled effect can be retried again.
    let cancelled = outbox
        .cancel(ids[0].as_str(), "ticket deleted by hand", T0 + 30)
        .await
        .unwrap();
    assert_eq!(cancelled.state, EffectState::Cancelled);
    assert!(outbox
        .claim("w", &any_kind(10), T0 + 40)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        outbox.cancel(ids[1].as_str(), "x", T0).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    outbox.retry_failed(ids[0].as_str(), T0 + 50).await.unwrap();
    assert_eq!(
        outbox
            .claim("w", &any_kind(10), T0 + 50)
            .await
            .unwrap()
            .len(),
        1
    );
}
on_both_engines!(
    failed_effects_are_listed_retried_and_cancelled_by_admins,
    failed_effects_are_listed_retried_and_cancelled_by_admins_body
);

async fn health_counts_backlog_failures_and_the_last_error_body(db: &TestDb) {
    let outbox = outbox(db);
    let empty = outbox.health("jira", T0).await.unwrap();
    assert_eq!((empty.pending, empty.failed), (0, 0));
    assert_eq!(empty.oldest_pending_age_ms, None);
    assert!(empty.gate.paused.is_none());

    enqueue_one(db, effect("jira", "k1", "update", 1), T0).await;
    enqueue_one(db, effect("jira", "k2", "update", 2), T0 + 1_000).await;
    enqueue_one(db, effect("jira", "k3", "update", 3), T0 + 2_000).await;
    enqueue_one(db, effect("snow", "k1", "update", 4), T0 - 50_000).await;
    let claimed = outbox.claim("w", &any_kind(10), T0 + 5_000).await.unwrap();
    let mut tx = db.store.begin().await.unwrap();
    for c in claimed.iter().filter(|c| c.integration_id == "jira") {
        match c.ordering_key.as_str() {
            "k1" => {
                casebridge::sync::outbox::fail(
                    &mut tx,
                    c,
                    OutcomeKind::NotFound,
                    "issue gone",
                    T0 + 5_000,
                )
                .await
                .unwrap();
                gate::record_error(
                    &mut tx,
                    "jira",
                    OutcomeKind::NotFound,
                    "issue gone",
                    T0 + 5_000,
                )
                .await
                .unwrap();
            }
            "k2" => {
                gate::delay_key(&mut tx, "jira", "k2", T0 + 99_000, "per issue", T0 + 5_000)
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    tx.commit().await.unwrap();

    let health = outbox.health("jira", T0 + 10_000).await.unwrap();
    assert_eq!(health.pending, 2, "k2 and k3 are unfinished");
    assert_eq!(health.in_flight, 2);
    assert_eq!(health.failed, 1);
    assert_eq!(health.oldest_pending_created_at_ms, Some(T0 + 1_000));
    assert_eq!(health.oldest_pending_age_ms, Some(9_000));
    assert_eq!(health.delayed_keys, 1);
    let last = health.gate.last_error.unwrap();
    assert_eq!(last.outcome, Some(OutcomeKind::NotFound));
    assert_eq!(last.detail, "issue gone");
    assert_eq!(outbox.integrations().await.unwrap(), vec!["jira", "snow"]);
}
on_both_engines!(
    health_counts_backlog_failures_and_the_last_error,
    health_counts_backlog_failures_and_the_last_error_body
);

async fn purging_done_effects_keeps_failures_and_key_order_body(db: &TestDb) {
    let outbox = outbox(db);
    let first = enqueue_one(db, effect("jira", "k", "update", 1), T0).await;
    let failed = enqueue_one(db, effect("jira", "j", "update", 2), T0).await;
    for c in outbox.claim("w", &any_kind(10), T0).await.unwrap() {
        if c.id == first {
            outbox.complete(&c, &json!(null), T0 + 10).await.unwrap();
        } else {
            outbox
                .fail(&c, OutcomeKind::Rejected, "no", T0 + 10)
                .await
                .unwrap();
        }
    }
    assert_eq!(
        outbox.purge_done(T0 + 10).await.unwrap(),
        0,
        "not older than the cut"
    );
    assert_eq!(outbox.purge_done(T0 + 11).await.unwrap(), 1);
    assert!(outbox.get(first.as_str()).await.unwrap().is_none());
    assert!(outbox.get(failed.as_str()).await.unwrap().is_some());
    // The key's next effect still comes after the purged one.
    enqueue_one(db, effect("jira", "k", "update", 3), T0).await;
    let next = outbox.claim("w", &any_kind(10), T0 + 20).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].seq, 2);
}
on_both_engines!(
    purging_done_effects_keeps_failures_and_key_order,
    purging_done_effects_keeps_failures_and_key_order_body
);
