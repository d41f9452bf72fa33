//! Storage suite: findings, on SQLite and on PostgreSQL (the same test bodies run on both).

use std::time::Duration;

use casebridge::domain::finding::mute::{check_mute_request, RequestReason};
use casebridge::domain::finding::wire::finding_from_api_item;
use casebridge::domain::finding::{Actor, Finding, Status, UpsertResult};
use casebridge::store::findings::{ListPosition, ListRequest, ScanBudget, SortDirection};
use casebridge::store::test_support::TestDb;
use casebridge::store::{Store, StoreError};
use casebridge_query::Query;
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000_000;

fn item(id: &str, detection_changed_at: i64, severity: &str, tags: &[&str]) -> Value {
    json!({"id": id, "type": "finding", "attributes": {
        "attributes": {
            "finding_type": "misconfiguration", "severity": severity, "status": "open",
            "title": format!("Finding {id}"), "resource_id": format!("res-{id}"),
            "first_seen_at": 1_000, "last_seen_at": 2_000,
            "detection_changed_at": detection_changed_at,
            "workflow": {"mute": {"is_muted": false}}
        },
        "tags": tags, "timestamp": detection_changed_at}})
}

fn finding(value: Value) -> Finding {
    finding_from_api_item(value).unwrap()
}

fn alice() -> Actor {
    Actor {
        id: "u-alice".into(),
        name: "Alice".into(),
    }
}

async fn upsert_is_idempotent_and_reports_each_item(db: TestDb) {
    let store = &db.store;
    let batch: Vec<Finding> = (0..3)
        .map(|i| finding(item(&format!("f{i}"), 5_000, "high", &["env:prod"])))
        .collect();
    let first = store.upsert_findings(batch.clone(), NOW).await.unwrap();
    assert_eq!(first, vec![UpsertResult::Created; 3]);
    let again = store.upsert_findings(batch, NOW).await.unwrap();
    assert_eq!(again, vec![UpsertResult::Unchanged; 3]);
    assert_eq!(store.count_findings().await.unwrap(), 3);

    // A newer snapshot updates last_seen, status and attributes; nothing is duplicated.
    let mut newer = item("f1", 6_000, "critical", &["env:prod", "team:a"]);
    newer["attributes"]["attributes"]["last_seen_at"] = json!(3_000);
    newer["attributes"]["attributes"]["status"] = json!("resolved");
    let results = store
        .upsert_findings(
            vec![finding(newer), finding(item("f9", 1, "low", &[]))],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(results, vec![UpsertResult::Updated, UpsertResult::Created]);
    let got = store.get_findings(&["f1".into()], NOW).await.unwrap();
    assert_eq!(got[0].last_seen_at(), 3_000);
    assert_eq!(got[0].status(), Status::Resolved);
    assert_eq!(got[0].severity().as_str(), "critical");
    assert_eq!(got[0].tags(), ["env:prod", "team:a"]);
    assert_eq!(got[0].detection_changed_at(), 6_000);
    assert_eq!(store.count_findings().await.unwrap(), 4);

    // The same id twice in one batch: created, then updated, stored once.
    let mut second = item("dup", 10, "low", &[]);
    second["attributes"]["attributes"]["last_seen_at"] = json!(2_500);
    let results = store
        .upsert_findings(
            vec![finding(item("dup", 10, "low", &[])), finding(second)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(results, vec![UpsertResult::Created, UpsertResult::Updated]);
    let dup = store.get_findings(&["dup".into()], NOW).await.unwrap();
    assert_eq!(dup.len(), 1);
    assert_eq!(dup[0].last_seen_at(), 2_500);
    db.cleanup().await;
}

async fn a_thousand_findings_ingest_in_one_call(db: TestDb) {
    let store = &db.store;
    let batch: Vec<Finding> = (0..1_000)
        .map(|i| {
            finding(item(
                &format!("bulk-{i:04}"),
                i,
                ["critical", "high", "low"][i as usize % 3],
                &["team:bulk"],
            ))
        })
        .collect();
    let results = store.upsert_findings(batch.clone(), NOW).await.unwrap();
    assert_eq!(results.len(), 1_000);
    assert!(results.iter().all(|r| *r == UpsertResult::Created));
    assert_eq!(store.count_findings().await.unwrap(), 1_000);
    let again = store.upsert_findings(batch, NOW).await.unwrap();
    assert!(again.iter().all(|r| *r == UpsertResult::Unchanged));
    assert_eq!(store.count_findings().await.unwrap(), 1_000);
    db.cleanup().await;
}

/// Collects every page; returns ids in the order served.
async fn page_through(
    store: &Store,
    query: &Query,
    limit: usize,
    direction: SortDirection,
) -> Vec<String> {
    let mut after: Option<ListPosition> = None;
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = store
            .list_findings(&ListRequest {
                query,
                limit,
                after: after.clone(),
                direction,
                now: NOW,
                budget: ScanBudget::default(),
            })
            .await
            .unwrap();
        assert!(page.findings.len() <= limit);
        assert!(!page.timed_out);
        seen.extend(page.findings.iter().map(|f| f.finding.id().to_string()));
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.findings.len(),
                    limit,
                    "a cursor only follows a full page"
                );
                after = Some(next);
            }
            None => return seen,
        }
    }
    panic!("paging did not end");
}

async fn paging_is_stable_in_both_directions_with_ties(db: TestDb) {
    let store = &db.store;
    // 23 findings over 5 distinct detection times (ties), ids deliberately not in time order.
    let mut expected: Vec<(i64, String)> = Vec::new();
    let mut batch = Vec::new();
    for i in 0..23 {
        let id = format!("id-{:02}", (i * 7) % 23);
        let at = 1_000 * (i % 5);
        let severity = if i % 2 == 0 { "high" } else { "low" };
        expected.push((at, id.clone()));
        batch.push(finding(item(&id, at, severity, &["team:paging"])));
    }
    store.upsert_findings(batch, NOW).await.unwrap();
    let all = Query::match_all();

    let mut ascending = expected.clone();
    ascending.sort();
    let ascending: Vec<String> = ascending.into_iter().map(|(_, id)| id).collect();
    let mut descending = ascending.clone();
    descending.reverse();

    for limit in [1, 4, 5, 23, 150] {
        assert_eq!(
            page_through(store, &all, limit, SortDirection::Ascending).await,
            ascending,
            "ascending, limit {limit}"
        );
        assert_eq!(
            page_through(store, &all, limit, SortDirection::Descending).await,
            descending,
            "descending, limit {limit}"
        );
    }

    // With a filter (pushed down to SQL) the pages hold only matches, still in order.
    let high = Query::parse("@severity:high team:paging").unwrap();
    let expected_high: Vec<String> = descending
        .iter()
        .filter(|id| {
            let n: usize = id[3..].parse().unwrap();
            // id-XX was built from i with (i*7)%23 == XX; severity high for even i.
            (0..23).any(|i| (i * 7) % 23 == n && i % 2 == 0)
        })
        .cloned()
        .collect();
    assert_eq!(
        page_through(store, &high, 3, SortDirection::Descending).await,
        expected_high
    );
    // A query evaluated only in Rust (wildcard) gives the same as its SQL-pushed equivalent.
    let wildcard = Query::parse("@severity:hig* @title:Finding*").unwrap();
    assert_eq!(
        page_through(store, &wildcard, 3, SortDirection::Descending).await,
        expected_high
    );
    db.cleanup().await;
}

async fn a_scan_budget_ends_a_page_early_with_a_resumable_cursor(db: TestDb) {
    let store = &db.store;
    let batch: Vec<Finding> = (0..40)
        .map(|i| {
            finding(item(
                &format!("b{i:02}"),
                i,
                if i == 35 { "high" } else { "low" },
                &[],
            ))
        })
        .collect();
    store.upsert_findings(batch, NOW).await.unwrap();
    let query = Query::parse("@title:*35").unwrap();
    let page = store
        .list_findings(&ListRequest {
            query: &query,
            limit: 10,
            after: None,
            direction: SortDirection::Ascending,
            now: NOW,
            budget: ScanBudget {
                max_rows: 20,
                max_elapsed: Duration::from_secs(60),
            },
        })
        .await
        .unwrap();
    assert!(page.timed_out);
    assert!(page.findings.is_empty());
    assert_eq!(page.scanned, 20);
    let next = page.next.clone().unwrap();
    assert_eq!(next.id, "b19");
    let rest = store
        .list_findings(&ListRequest {
            query: &query,
            limit: 10,
            after: Some(next),
            direction: SortDirection::Ascending,
            now: NOW,
            budget: ScanBudget::default(),
        })
        .await
        .unwrap();
    assert_eq!(rest.findings.len(), 1);
    assert_eq!(rest.findings[0].finding.id(), "b35");
    assert!(rest.next.is_none());
    db.cleanup().await;
}

async fn listed_ids(store: &Store, query: &Query, now: i64) -> Vec<String> {
    let request = ListRequest {
        query,
        limit: 150,
        after: None,
        direction: SortDirection::Descending,
        now,
        budget: ScanBudget::default(),
    };
    let page = store.list_findings(&request).await.unwrap();
    let mut ids: Vec<String> = page
        .findings
        .iter()
        .map(|f| f.finding.id().to_string())
        .collect();
    ids.sort();
    ids
}

async fn mute_unmute_and_expiry(db: TestDb) {
    let store = &db.store;
    let batch: Vec<Finding> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| finding(item(id, 100, "high", &[])))
        .collect();
    store.upsert_findings(batch, NOW).await.unwrap();
    let ids = vec!["m1".to_string(), "m2".to_string()];

    // Unknown id: 404-style error and nothing changes.
    let change = check_mute_request(
        true,
        RequestReason::RiskAccepted,
        Some("later".into()),
        Some(NOW + 60_000),
        NOW,
    )
    .unwrap();
    let err = store
        .mute_findings(&["m1".into(), "nope".into()], &change, &alice(), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("finding")), "{err}");
    assert_eq!(
        store.get_findings(&["m1".into()], NOW).await.unwrap()[0].status(),
        Status::Open
    );

    store
        .mute_findings(&ids, &change, &alice(), NOW)
        .await
        .unwrap();
    let muted = store.get_findings(&ids, NOW).await.unwrap();
    for f in &muted {
        assert_eq!(f.status(), Status::Muted);
        let mute = f.mute().unwrap();
        assert_eq!(mute["is_muted"], true);
        assert_eq!(mute["reason"], "risk_accepted");
        assert_eq!(mute["description"], "later");
        assert_eq!(mute["expire_at"], NOW + 60_000);
        assert_eq!(mute["muted_at"], NOW);
        assert_eq!(mute["muted_by"], json!({"id": "u-alice", "name": "Alice"}));
    }
    let muted_query = Query::parse("@status:muted").unwrap();
    let open_query = Query::parse("@status:open").unwrap();
    let list = |query, now| listed_ids(store, query, now);
    assert_eq!(list(&muted_query, NOW).await, ["m1", "m2"]);
    assert_eq!(list(&open_query, NOW).await, ["m3"]);

    // A re-ingest of the scanner's view does not undo the mute.
    let mut rescan = item("m1", 100, "high", &[]);
    rescan["attributes"]["attributes"]["last_seen_at"] = json!(2_500);
    assert_eq!(
        store
            .upsert_findings(vec![finding(rescan)], NOW)
            .await
            .unwrap(),
        vec![UpsertResult::Updated]
    );
    assert_eq!(
        store.get_findings(&["m1".into()], NOW).await.unwrap()[0].status(),
        Status::Muted
    );

    // After expire_at the mute is over at read time, before any sweep.
    let later = NOW + 60_000;
    let expired = store.get_findings(&ids, later).await.unwrap();
    assert!(expired.iter().all(|f| f.status() == Status::Open));
    assert!(expired
        .iter()
        .all(|f| f.mute().unwrap()["is_muted"] == false));
    assert!(list(&muted_query, later).await.is_empty());
    assert_eq!(list(&open_query, later).await, ["m1", "m2", "m3"]);
    // The sweep makes it durable, once.
    assert_eq!(store.reopen_expired_mutes(NOW).await.unwrap(), 0);
    assert_eq!(store.reopen_expired_mutes(later).await.unwrap(), 2);
    assert_eq!(store.reopen_expired_mutes(later).await.unwrap(), 0);
    assert_eq!(list(&open_query, NOW).await, ["m1", "m2", "m3"]);

    // A permanent mute, then an unmute.
    let forever = check_mute_request(true, RequestReason::FalsePositive, None, None, NOW).unwrap();
    store
        .mute_findings(&["m3".into()], &forever, &alice(), NOW)
        .await
        .unwrap();
    assert_eq!(store.reopen_expired_mutes(i64::MAX).await.unwrap(), 0);
    assert_eq!(
        store.get_findings(&["m3".into()], i64::MAX).await.unwrap()[0].status(),
        Status::Muted
    );
    let unmute = check_mute_request(false, RequestReason::HumanError, None, None, NOW).unwrap();
    store
        .mute_findings(&["m3".into()], &unmute, &alice(), NOW + 1)
        .await
        .unwrap();
    let m3 = &store.get_findings(&["m3".into()], NOW).await.unwrap()[0];
    assert_eq!(m3.status(), Status::Open);
    assert_eq!(m3.mute().unwrap()["reason"], "human_error");
    assert_eq!(m3.mute().unwrap()["is_muted"], false);
    db.cleanup().await;
}

async fn assignee_updates(db: TestDb) {
    let store = &db.store;
    let key = store
        .create_api_key("bob", "bob", &["admin".to_string()])
        .await
        .unwrap();
    let bob = store.user_actor(&key.user_id).await.unwrap().unwrap();
    assert_eq!(bob.name, "bob");
    assert!(store.user_actor("no-such-user").await.unwrap().is_none());
    store
        .upsert_findings(vec![finding(item("a1", 1, "low", &[]))], NOW)
        .await
        .unwrap();
    let outcome = store
        .assign_findings(&["a1".into(), "ghost".into()], Some(&bob), &alice(), NOW)
        .await
        .unwrap();
    assert_eq!(outcome.updated, ["a1"]);
    assert_eq!(outcome.missing, ["ghost"]);
    let a1 = &store.get_findings(&["a1".into()], NOW).await.unwrap()[0];
    let assignee = a1.assignee().unwrap();
    assert_eq!(assignee["id"], key.user_id.as_str());
    assert_eq!(assignee["name"], "bob");
    assert_eq!(assignee["updated_by"]["id"], "u-alice");
    let query = Query::parse(&format!("@workflow.triage.assignee.id:{}", key.user_id)).unwrap();
    let page = store
        .list_findings(&ListRequest {
            query: &query,
            limit: 10,
            after: None,
            direction: SortDirection::Descending,
            now: NOW,
            budget: ScanBudget::default(),
        })
        .await
        .unwrap();
    assert_eq!(page.findings.len(), 1);

    store
        .assign_findings(&["a1".into()], None, &alice(), NOW + 1)
        .await
        .unwrap();
    let a1 = &store.get_findings(&["a1".into()], NOW).await.unwrap()[0];
    assert!(a1.assignee().is_none());
    db.cleanup().await;
}

async fn concurrent_ingests_of_the_same_ids_never_duplicate(db: TestDb) {
    let store = db.store.clone();
    let mut tasks = Vec::new();
    for round in 0..4_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch: Vec<Finding> = (0..50)
                .map(|i| {
                    let mut it = item(&format!("c{i:02}"), 10, "low", &[]);
                    it["attributes"]["attributes"]["last_seen_at"] = json!(2_000 + round);
                    finding(it)
                })
                .collect();
            store.upsert_findings(batch, NOW).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let results = task.await.unwrap().unwrap();
        created += results
            .iter()
            .filter(|r| **r == UpsertResult::Created)
            .count();
    }
    assert_eq!(created, 50, "each id is created exactly once");
    assert_eq!(store.count_findings().await.unwrap(), 50);
    db.cleanup().await;
}

macro_rules! on_both_engines {
    ($($body:ident),+ $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $body() {
                    super::$body(TestDb::sqlite().await.unwrap()).await;
                }
            )+
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $body() {
                    super::$body(TestDb::postgres().await.unwrap()).await;
                }
            )+
        }
    };
}

on_both_engines!(
    upsert_is_idempotent_and_reports_each_item,
    a_thousand_findings_ingest_in_one_call,
    paging_is_stable_in_both_directions_with_ties,
    a_scan_budget_ends_a_page_early_with_a_resumable_cursor,
    mute_unmute_and_expiry,
    assignee_updates,
    concurrent_ingests_of_the_same_ids_never_duplicate,
);
