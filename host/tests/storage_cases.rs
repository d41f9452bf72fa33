//! Storage suite: projects, cases, timelines, finding links and ticket links, with the same
//! bodies on SQLite and on PostgreSQL.

use std::collections::BTreeSet;

use casebridge::domain::case::{CaseChange, CaseStatus, NewCase};
use casebridge::domain::case_filter::parse_filter;
use casebridge::domain::project::{IntegrationSlot, NewProject};
use casebridge::domain::ticket_link::{CreationStatus, NewTicketLink, TicketBackend};
use casebridge::store::case_search::{CaseSearch, CaseSortField};
use casebridge::store::test_support::TestDb;
use casebridge::store::timeline::{CommentEdit, TimelinePage};
use casebridge::store::{Store, StoreError};
use serde_json::json;
use sqlx::Row;

/// Runs one test body on both engines: `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use casebridge::store::test_support::TestDb;
            #[tokio::test]
            async fn sqlite() {
                super::$name(TestDb::sqlite().await.unwrap()).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(TestDb::postgres().await.unwrap()).await;
            }
        }
    )*};
}

on_both_engines!(
    case_numbers_are_sequential_and_never_reused,
    case_numbers_stay_unique_under_concurrent_creators,
    concurrent_moves_leave_each_finding_in_exactly_one_case_of_the_project,
    a_finding_moves_between_cases_of_one_project_and_the_old_case_says_so,
    a_finding_may_sit_in_one_case_per_project,
    closing_a_case_keeps_its_findings_open_and_linked,
    deleting_a_case_unlinks_its_findings_and_leaves_them_open,
    deleting_a_project_detaches_its_tickets_and_findings,
    creating_cases_is_all_or_nothing,
    attaching_an_unknown_finding_links_nothing,
    detaching_removes_links_from_every_case,
    finding_integrations_has_the_schema_shape,
    every_change_leaves_a_timeline_cell,
    comments_are_edited_and_soft_deleted,
    search_filters_sorts_and_pages,
    project_settings_slots_round_trip,
    ticket_links_are_one_per_backend,
    assigning_an_unknown_user_is_refused,
);

/// Stores a finding through the real ingest path (the same code the API uses).
async fn insert_finding(store: &Store, id: &str, title: &str) {
    let finding = casebridge::domain::finding::wire::finding_from_plain(json!({
        "finding_id": id,
        "finding_type": "library_vulnerability",
        "severity": "high",
        "status": "open",
        "title": title,
        "description": "",
        "resource_id": "res",
        "first_seen_at": 1,
        "last_seen_at": 1,
        "detection_changed_at": 1,
        "tags": [],
    }))
    .unwrap();
    store.upsert_findings(vec![finding], 1).await.unwrap();
}

async fn finding_status(store: &Store, id: &str) -> String {
    sqlx::query("SELECT status FROM findings WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get("status")
        .unwrap()
}

async fn project(store: &Store, key: &str) -> String {
    store
        .create_project(
            &NewProject::new(&format!("{key} project"), key).unwrap(),
            None,
        )
        .await
        .unwrap()
        .id
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn case_numbers_are_sequential_and_never_reused(db: TestDb) {
    let store = &db.store;
    let sec = project(store, "SEC").await;
    let mut keys = Vec::new();
    for title in ["a", "b", "c"] {
        keys.push(
            store
                .create_case(&NewCase::manual(&sec, title), None)
                .await
                .unwrap()
                .key,
        );
    }
    assert_eq!(keys, ["SEC-1", "SEC-2", "SEC-3"]);
    assert!(store.delete_case("SEC-3").await.unwrap());
    let next = store
        .create_case(&NewCase::manual(&sec, "d"), None)
        .await
        .unwrap();
    assert_eq!(
        next.key, "SEC-4",
        "a deleted case's number is not handed out again"
    );
    // Deleting the project and creating one with the same key continues the numbering.
    assert!(store.delete_project(&sec).await.unwrap());
    let again = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::manual(&again, "e"), None)
        .await
        .unwrap();
    assert_eq!(case.key, "SEC-5");
    // Another project numbers independently.
    let ops = project(store, "OPS").await;
    let other = store
        .create_case(&NewCase::manual(&ops, "f"), None)
        .await
        .unwrap();
    assert_eq!(other.key, "OPS-1");
    db.cleanup().await;
}

async fn case_numbers_stay_unique_under_concurrent_creators(db: TestDb) {
    const CREATORS: usize = 48;
    let sec = project(&db.store, "SEC").await;
    // Two stores (two pools) on the same database stand in for two host replicas.
    let second = Store::connect(&db.url).await.unwrap();
    let stores = [db.store.clone(), second.clone()];
    let mut tasks = Vec::new();
    for i in 0..CREATORS {
        let store = stores[i % 2].clone();
        let project_id = sec.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_case(&NewCase::manual(&project_id, &format!("case {i}")), None)
                .await
                .unwrap()
                .number
        }));
    }
    let mut numbers = BTreeSet::new();
    for task in tasks {
        assert!(
            numbers.insert(task.await.unwrap()),
            "a number was handed out twice"
        );
    }
    let expected: BTreeSet<i64> = (1..=CREATORS as i64).collect();
    assert_eq!(numbers, expected, "numbers are unique and without gaps");
    second.close().await;
    db.cleanup().await;
}

async fn concurrent_moves_leave_each_finding_in_exactly_one_case_of_the_project(db: TestDb) {
    const FINDINGS: usize = 5;
    const MOVERS: usize = 30;
    let finding_ids: Vec<String> = (0..FINDINGS).map(|i| format!("f{i}")).collect();
    for id in &finding_ids {
        insert_finding(&db.store, id, id).await;
    }
    let sec = project(&db.store, "SEC").await;
    let mut case_ids = Vec::new();
    for title in ["a", "b", "c"] {
        case_ids.push(
            db.store
                .create_case(&NewCase::manual(&sec, title), None)
                .await
                .unwrap()
                .id,
        );
    }
    let second = Store::connect(&db.url).await.unwrap();
    let stores = [db.store.clone(), second.clone()];
    let mut tasks = Vec::new();
    for i in 0..MOVERS {
        let store = stores[i % 2].clone();
        let case_id = case_ids[i % case_ids.len()].clone();
        // Overlapping pairs in both directions, so movers contend for the same rows.
        let pair = vec![
            finding_ids[i % FINDINGS].clone(),
            finding_ids[(i + 1 + i % 2) % FINDINGS].clone(),
        ];
        let project_id = sec.clone();
        tasks.push(tokio::spawn(async move {
            // Mostly moves, with detaches and new cases from the same findings mixed in.
            match i % 6 {
                4 => store.detach_findings(&pair, None).await.map(|_| ()),
                5 => store
                    .create_case(&NewCase::from_findings(&project_id, "new", pair), None)
                    .await
                    .map(|_| ()),
                _ => store
                    .attach_findings(&case_id, &pair, None)
                    .await
                    .map(|case| assert!(case.is_some())),
            }
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("a lost race is retried, not surfaced");
    }
    // Whatever the interleaving, the last writer wins and no finding is in two cases.
    let mut linked_findings = 0;
    for id in &finding_ids {
        let cases = db.store.cases_of_finding(id).await.unwrap();
        assert!(
            cases.len() <= 1,
            "{id} is in at most one case of the project"
        );
        linked_findings += cases.len();
    }
    let all_cases = db
        .store
        .search_cases(&CaseSearch {
            filter: parse_filter("").unwrap(),
            sort: CaseSortField::CreatedAt,
            ascending: true,
            page_size: 100,
            page_number: 1,
        })
        .await
        .unwrap();
    let all_ids: Vec<String> = all_cases.cases.iter().map(|c| c.id.clone()).collect();
    let insights = db.store.case_insights(&all_ids).await.unwrap();
    let linked: usize = insights.values().map(Vec::len).sum();
    assert_eq!(
        linked, linked_findings,
        "case insights agree with the links"
    );
    let case_ids = all_ids;
    // Every move out of a case is on that case's timeline.
    for case_id in &case_ids {
        let cells = db.store.timeline_cells(case_id).await.unwrap();
        let seqs: Vec<i64> = cells.iter().map(|c| c.seq).collect();
        let expected: Vec<i64> = (1..=cells.len() as i64).collect();
        assert_eq!(seqs, expected, "timeline positions are dense and unique");
    }
    second.close().await;
    db.cleanup().await;
}

async fn a_finding_moves_between_cases_of_one_project_and_the_old_case_says_so(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    insert_finding(store, "f2", "Finding two").await;
    let sec = project(store, "SEC").await;
    let first = store
        .create_case(
            &NewCase::from_findings(&sec, "first", ids(&["f1", "f2"])),
            None,
        )
        .await
        .unwrap();
    let second = store
        .create_case(&NewCase::manual(&sec, "second"), None)
        .await
        .unwrap();
    let moved = store
        .attach_findings(&second.key, &ids(&["f1"]), Some("u-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.id, second.id);
    assert!(moved.modified_at.is_some());

    let cases_of_f1 = store.cases_of_finding("f1").await.unwrap();
    assert_eq!(cases_of_f1.len(), 1);
    assert_eq!(cases_of_f1[0].id, second.id);
    let insights = store
        .case_insights(&[first.id.clone(), second.id.clone()])
        .await
        .unwrap();
    let first_findings: Vec<_> = insights[&first.id].iter().map(|i| &i.finding_id).collect();
    assert_eq!(first_findings, ["f2"]);

    let old_timeline = store.timeline_cells(&first.id).await.unwrap();
    let moved_out = old_timeline
        .iter()
        .find(|c| c.cell_type == "FINDINGS_MOVED_OUT")
        .expect("the old case records the move");
    assert_eq!(moved_out.content["to_case_key"], json!(second.key));
    assert_eq!(moved_out.content["finding_ids"], json!(["f1"]));
    let new_timeline = store.timeline_cells(&second.id).await.unwrap();
    let attached = new_timeline
        .iter()
        .find(|c| c.cell_type == "FINDINGS_ATTACHED")
        .unwrap();
    assert_eq!(
        attached.content["moved_from"][0]["case_key"],
        json!(first.key)
    );

    // Attaching to the case it is already in changes nothing.
    let before = store.timeline_cells(&second.id).await.unwrap().len();
    store
        .attach_findings(&second.id, &ids(&["f1"]), None)
        .await
        .unwrap();
    assert_eq!(
        store.timeline_cells(&second.id).await.unwrap().len(),
        before
    );
    db.cleanup().await;
}

async fn a_finding_may_sit_in_one_case_per_project(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    let sec = project(store, "SEC").await;
    let ops = project(store, "OPS").await;
    let in_sec = store
        .create_case(&NewCase::from_findings(&sec, "s", ids(&["f1"])), None)
        .await
        .unwrap();
    let in_ops = store
        .create_case(&NewCase::from_findings(&ops, "o", ids(&["f1"])), None)
        .await
        .unwrap();
    let keys: BTreeSet<String> = store
        .cases_of_finding("f1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(keys, BTreeSet::from([in_sec.key, in_ops.key]));
    db.cleanup().await;
}

async fn closing_a_case_keeps_its_findings_open_and_linked(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    let sec = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::from_findings(&sec, "s", ids(&["f1"])), None)
        .await
        .unwrap();
    let closed = store
        .change_case(&case.id, &CaseChange::Status(CaseStatus::Closed), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.status, CaseStatus::Closed);
    assert!(closed.closed_at.is_some());
    assert_eq!(finding_status(store, "f1").await, "open");
    assert_eq!(store.cases_of_finding("f1").await.unwrap().len(), 1);
    db.cleanup().await;
}

async fn deleting_a_case_unlinks_its_findings_and_leaves_them_open(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    let sec = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::from_findings(&sec, "s", ids(&["f1"])), None)
        .await
        .unwrap();
    let link = store
        .link_ticket(
            &case.id,
            &NewTicketLink::completed(TicketBackend::Jira, "JIRA-1"),
            None,
        )
        .await
        .unwrap();
    assert!(store.delete_case(&case.key).await.unwrap());
    assert!(store.find_case(&case.id).await.unwrap().is_none());
    assert!(store.cases_of_finding("f1").await.unwrap().is_empty());
    assert_eq!(finding_status(store, "f1").await, "open");
    let detached = store.get_ticket_link(&link.id).await.unwrap().unwrap();
    assert_eq!(detached.case_id, None);
    assert!(detached.detached_at.is_some());
    assert!(!store.delete_case(&case.id).await.unwrap(), "already gone");
    db.cleanup().await;
}

async fn deleting_a_project_detaches_its_tickets_and_findings(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    let sec = project(store, "SEC").await;
    let ops = project(store, "OPS").await;
    let doomed = store
        .create_case(&NewCase::from_findings(&sec, "s", ids(&["f1"])), None)
        .await
        .unwrap();
    let kept = store
        .create_case(&NewCase::from_findings(&ops, "o", ids(&["f1"])), None)
        .await
        .unwrap();
    let link = store
        .link_ticket(
            &doomed.id,
            &NewTicketLink::completed(TicketBackend::ServiceNow, "INC0001"),
            None,
        )
        .await
        .unwrap();
    store.add_comment(&doomed.id, "bye", None).await.unwrap();
    assert!(store.delete_project(&sec).await.unwrap());
    assert!(store.get_project(&sec).await.unwrap().is_none());
    assert!(store.find_case(&doomed.id).await.unwrap().is_none());
    assert!(store.timeline_cells(&doomed.id).await.unwrap().is_empty());
    let remaining: Vec<String> = store
        .cases_of_finding("f1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        remaining,
        [kept.id],
        "the other project's link is untouched"
    );
    assert_eq!(finding_status(store, "f1").await, "open");
    let detached = store.get_ticket_link(&link.id).await.unwrap().unwrap();
    assert!(detached.case_id.is_none() && detached.detached_at.is_some());
    assert!(!store.delete_project(&sec).await.unwrap());
    db.cleanup().await;
}

async fn creating_cases_is_all_or_nothing(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    let sec = project(store, "SEC").await;
    let batch = vec![
        NewCase::from_findings(&sec, "ok", ids(&["f1"])),
        NewCase::from_findings("00000000-0000-0000-0000-000000000000", "bad", ids(&["f1"])),
    ];
    let err = store.create_cases(&batch, None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("project")), "{err}");
    assert!(store.cases_of_finding("f1").await.unwrap().is_empty());
    let next = store
        .create_case(&NewCase::manual(&sec, "after"), None)
        .await
        .unwrap();
    assert_eq!(
        next.key, "SEC-1",
        "a rolled-back creation consumes no number"
    );
    db.cleanup().await;
}

async fn attaching_an_unknown_finding_links_nothing(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    let sec = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::manual(&sec, "s"), None)
        .await
        .unwrap();
    let err = store
        .attach_findings(&case.id, &ids(&["f1", "nope"]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("finding")), "{err}");
    assert!(store.cases_of_finding("f1").await.unwrap().is_empty());
    assert!(store
        .attach_findings("SEC-99", &ids(&["f1"]), None)
        .await
        .unwrap()
        .is_none());
    db.cleanup().await;
}

async fn detaching_removes_links_from_every_case(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    insert_finding(store, "f2", "Finding two").await;
    let sec = project(store, "SEC").await;
    let ops = project(store, "OPS").await;
    let a = store
        .create_case(&NewCase::from_findings(&sec, "a", ids(&["f1", "f2"])), None)
        .await
        .unwrap();
    let b = store
        .create_case(&NewCase::from_findings(&ops, "b", ids(&["f1"])), None)
        .await
        .unwrap();
    let detached = store.detach_findings(&ids(&["f1"]), None).await.unwrap();
    assert_eq!(detached.len(), 2);
    assert_eq!(detached[&a.id], ids(&["f1"]));
    assert_eq!(detached[&b.id], ids(&["f1"]));
    assert!(store.cases_of_finding("f1").await.unwrap().is_empty());
    assert_eq!(store.cases_of_finding("f2").await.unwrap().len(), 1);
    let cells = store.timeline_cells(&a.id).await.unwrap();
    assert_eq!(cells.last().unwrap().cell_type, "FINDINGS_DETACHED");
    // A finding without a case detaches without error; an unknown one is named.
    assert!(store
        .detach_findings(&ids(&["f1"]), None)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.detach_findings(&ids(&["ghost"]), None).await,
        Err(StoreError::NotFound("finding"))
    ));
    assert_eq!(finding_status(store, "f1").await, "open");
    db.cleanup().await;
}

async fn finding_integrations_has_the_schema_shape(db: TestDb) {
    let store = &db.store;
    insert_finding(store, "f1", "Finding one").await;
    insert_finding(store, "f2", "Finding two").await;
    let alice = store.create_user("alice", "Alice", None).await.unwrap();
    let bob = store.create_user("bob", "Bob", None).await.unwrap();
    let sec = project(store, "SEC").await;
    let ops = project(store, "OPS").await;
    let mut new = NewCase::from_findings(&sec, "Fix the lib", ids(&["f1"]));
    new.assignee_id = Some(bob.id.clone());
    let case = store.create_case(&new, Some(&alice.id)).await.unwrap();
    let mut jira = NewTicketLink::completed(TicketBackend::Jira, "JIRA-7");
    jira.url = Some("https://example.atlassian.net/browse/JIRA-7".into());
    jira.remote_status = Some("To Do".into());
    store.link_ticket(&case.id, &jira, None).await.unwrap();
    let mut snow = NewTicketLink::completed(TicketBackend::ServiceNow, "INC001");
    snow.external_id = Some("sys-1".into());
    snow.table_name = Some("incident".into());
    snow.url = Some("https://x.service-now.com/incident.do?sys_id=sys-1".into());
    snow.remote_status = Some("New".into());
    store.link_ticket(&case.id, &snow, None).await.unwrap();
    let other = store
        .create_case(&NewCase::from_findings(&ops, "Other", ids(&["f1"])), None)
        .await
        .unwrap();

    let asked = ids(&["f1", "f2", "unknown"]);
    let integrations = store.finding_integrations(&asked).await.unwrap();
    assert_eq!(integrations.len(), 3, "an entry for every id asked");
    assert_eq!(integrations["f2"], json!({"cases": [], "jira": []}));
    assert_eq!(integrations["unknown"], json!({"cases": [], "jira": []}));
    let f1 = &integrations["f1"];
    assert_eq!(f1["jira"], json!(["JIRA-7"]));
    let cases = f1["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let by_key = |key: &str| cases.iter().find(|c| c["key"] == key).unwrap();
    let first = by_key("SEC-1");
    assert_eq!(
        *first,
        json!({
            "id": case.id,
            "key": "SEC-1",
            "title": "Fix the lib",
            "status": "open",
            "created_at": case.created_at,
            "updated_at": case.created_at,
            "created_by": {"id": alice.id, "name": "Alice"},
            "updated_by": {"id": alice.id, "name": "Alice"},
            "assignee": {"id": bob.id, "name": "Bob"},
            "jira_issue": {"key": "JIRA-7", "status": "To Do",
                           "url": "https://example.atlassian.net/browse/JIRA-7"},
            "servicenow_ticket": {"state": "New", "sys_id": "sys-1", "table_name": "incident",
                                  "url": "https://x.service-now.com/incident.do?sys_id=sys-1"},
        })
    );
    assert!(by_key(&other.key).get("jira_issue").is_none());
    // Status follows the case.
    store
        .change_case(&case.id, &CaseChange::Status(CaseStatus::InProgress), None)
        .await
        .unwrap();
    let again = store.finding_integrations(&ids(&["f1"])).await.unwrap();
    let statuses: BTreeSet<&str> = again["f1"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, BTreeSet::from(["in_progress", "open"]));
    db.cleanup().await;
}

async fn every_change_leaves_a_timeline_cell(db: TestDb) {
    let store = &db.store;
    let user = store.create_user("carol", "Carol", None).await.unwrap();
    let sec = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::manual(&sec, "t"), None)
        .await
        .unwrap();
    let changes = [
        CaseChange::Status(CaseStatus::InProgress),
        CaseChange::Priority(casebridge::domain::case::CasePriority::P2),
        CaseChange::Assign(user.id.clone()),
        CaseChange::Unassign,
        CaseChange::Archive,
        CaseChange::Unarchive,
        CaseChange::Title("t2".into()),
        CaseChange::Description("d".into()),
        CaseChange::Attributes([("env".to_string(), vec!["prod".to_string()])].into()),
    ];
    for change in &changes {
        store
            .change_case(&case.id, change, Some(&user.id))
            .await
            .unwrap()
            .unwrap();
    }
    // A no-op change adds nothing.
    store
        .change_case(&case.id, &CaseChange::Title("t2".into()), None)
        .await
        .unwrap();
    let types: Vec<String> = store
        .timeline_cells(&case.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.cell_type)
        .collect();
    assert_eq!(
        types,
        [
            "CASE_CREATED",
            "STATUS_CHANGED",
            "PRIORITY_CHANGED",
            "ASSIGNED",
            "UNASSIGNED",
            "ARCHIVED",
            "UNARCHIVED",
            "TITLE_CHANGED",
            "DESCRIPTION_CHANGED",
            "ATTRIBUTES_CHANGED",
        ]
    );
    let stored = store.find_case(&case.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "t2");
    assert_eq!(stored.modified_by.as_deref(), Some(user.id.as_str()));
    assert!(store
        .change_case("SEC-404", &CaseChange::Archive, None)
        .await
        .unwrap()
        .is_none());
    db.cleanup().await;
}

async fn comments_are_edited_and_soft_deleted(db: TestDb) {
    let store = &db.store;
    let sec = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::manual(&sec, "t"), None)
        .await
        .unwrap();
    let comment = store
        .add_comment(&case.id, "first", None)
        .await
        .unwrap()
        .unwrap();
    let edited = store
        .update_comment(&case.id, &comment.id, "edited")
        .await
        .unwrap();
    let CommentEdit::Done(edited) = edited else {
        panic!("{edited:?}")
    };
    assert_eq!(edited.content, json!({"message": "edited"}));
    assert_eq!(
        store
            .comment_counts(std::slice::from_ref(&case.id))
            .await
            .unwrap()[&case.id],
        1
    );
    assert!(matches!(
        store.delete_comment(&case.id, &comment.id).await.unwrap(),
        CommentEdit::Done(_)
    ));
    assert_eq!(
        store.delete_comment(&case.id, &comment.id).await.unwrap(),
        CommentEdit::CellDeleted
    );
    assert_eq!(
        store
            .delete_comment(&case.id, "23fca2aa-4967-4936-bdd7-9157d9e456d7")
            .await
            .unwrap(),
        CommentEdit::CellNotFound
    );
    let created_cell = &store.timeline_cells(&case.id).await.unwrap()[0];
    assert_eq!(
        store
            .delete_comment(&case.id, &created_cell.id)
            .await
            .unwrap(),
        CommentEdit::NotAComment
    );
    assert_eq!(
        store.delete_comment("nope", &comment.id).await.unwrap(),
        CommentEdit::CaseNotFound
    );
    assert!(store
        .comment_counts(std::slice::from_ref(&case.id))
        .await
        .unwrap()
        .is_empty());
    // Listing hides the deleted comment and pages from zero.
    let page = TimelinePage {
        size: 10,
        number: 0,
        ascending: true,
    };
    let cells = store.list_timeline(&case.id, page).await.unwrap();
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0].cell_type, "CASE_CREATED");
    assert!(store
        .add_comment("nope", "x", None)
        .await
        .unwrap()
        .is_none());
    db.cleanup().await;
}

async fn search_filters_sorts_and_pages(db: TestDb) {
    let store = &db.store;
    let sec = project(store, "SEC").await;
    let ops = project(store, "OPS").await;
    let mut created = Vec::new();
    for (i, project_id) in [&sec, &sec, &sec, &ops, &sec].into_iter().enumerate() {
        let mut new = NewCase::manual(project_id, &format!("Case number {i}"));
        if i == 1 {
            new.attributes = [("team".to_string(), vec!["red".to_string()])].into();
        }
        created.push(store.create_case(&new, None).await.unwrap());
    }
    for case in &created[0..3] {
        store
            .change_case(&case.id, &CaseChange::Status(CaseStatus::Closed), None)
            .await
            .unwrap();
    }
    store
        .change_case(&created[2].id, &CaseChange::Archive, None)
        .await
        .unwrap();
    let search = |filter: &str, page_number: i64, page_size: i64| CaseSearch {
        filter: parse_filter(filter).unwrap(),
        sort: CaseSortField::CreatedAt,
        ascending: true,
        page_size,
        page_number,
    };
    // status:closed excludes the archived case by default.
    let page1 = store
        .search_cases(&search("status:closed", 1, 1))
        .await
        .unwrap();
    assert_eq!(page1.total, 2);
    assert_eq!(page1.cases[0].id, created[0].id);
    let page2 = store
        .search_cases(&search("status:closed", 2, 1))
        .await
        .unwrap();
    assert_eq!(page2.cases[0].id, created[1].id);
    let page3 = store
        .search_cases(&search("status:closed", 3, 1))
        .await
        .unwrap();
    assert!(page3.cases.is_empty());
    let with_archived = store
        .search_cases(&search("status:closed archived:any", 1, 10))
        .await
        .unwrap();
    assert_eq!(with_archived.total, 3);
    let team = store
        .search_cases(&search("team:red", 1, 10))
        .await
        .unwrap();
    assert_eq!(team.cases.len(), 1);
    assert_eq!(team.cases[0].id, created[1].id);
    let by_project = store
        .search_cases(&search("project:ops", 1, 10))
        .await
        .unwrap();
    assert_eq!(by_project.cases.len(), 1);
    let text = store
        .search_cases(&search("\"number 4\"", 1, 10))
        .await
        .unwrap();
    assert_eq!(text.cases.len(), 1);
    let negated = store
        .search_cases(&search("-status:closed", 1, 10))
        .await
        .unwrap();
    assert_eq!(negated.total, 2);
    let wildcard = store.search_cases(&search("50%", 1, 10)).await.unwrap();
    assert_eq!(wildcard.total, 0, "% is matched literally");
    // Descending by creation: newest first.
    let mut newest_first = search("", 1, 10);
    newest_first.ascending = false;
    let all = store.search_cases(&newest_first).await.unwrap();
    assert_eq!(all.cases[0].id, created[4].id);
    db.cleanup().await;
}

async fn project_settings_slots_round_trip(db: TestDb) {
    let store = &db.store;
    let sec = project(store, "SEC").await;
    let jira = json!({"enabled": true, "metadata": {"project_id": "10001"}});
    store
        .set_project_integration(
            &sec,
            IntegrationSlot::Jira,
            Some(jira.as_object().unwrap().clone()),
        )
        .await
        .unwrap()
        .unwrap();
    let project = store.get_project(&sec).await.unwrap().unwrap();
    assert_eq!(project.jira.as_ref().unwrap(), jira.as_object().unwrap());
    assert!(project.servicenow.is_none());
    assert_eq!(
        project.settings_object()["integration_jira"],
        jira,
        "slots appear in the wire settings"
    );
    let cleared = store
        .set_project_integration(&sec, IntegrationSlot::Jira, None)
        .await
        .unwrap()
        .unwrap();
    assert!(cleared.jira.is_none());
    let duplicate = store
        .create_project(&NewProject::new("again", "SEC").unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(duplicate, StoreError::Conflict(_)), "{duplicate}");
    db.cleanup().await;
}

async fn ticket_links_are_one_per_backend(db: TestDb) {
    let store = &db.store;
    let sec = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::manual(&sec, "t"), None)
        .await
        .unwrap();
    let failed = store
        .link_ticket(
            &case.id,
            &NewTicketLink::failed(TicketBackend::Jira, "project not found"),
            None,
        )
        .await
        .unwrap();
    let fixed = store
        .link_ticket(
            &case.id,
            &NewTicketLink::completed(TicketBackend::Jira, "JIRA-9"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(fixed.id, failed.id, "the same link is updated");
    let links = store
        .ticket_links_for_cases(std::slice::from_ref(&case.id))
        .await
        .unwrap();
    assert_eq!(links[&case.id].len(), 1);
    assert_eq!(
        links[&case.id][0].creation_status,
        CreationStatus::Completed
    );
    assert!(store
        .set_ticket_remote_status(&fixed.id, "Done")
        .await
        .unwrap());
    let found = store
        .find_ticket_link(TicketBackend::Jira, "JIRA-9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.remote_status.as_deref(), Some("Done"));
    let incomplete = store
        .link_ticket(
            &case.id,
            &NewTicketLink::completed(TicketBackend::ServiceNow, ""),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(incomplete, StoreError::Conflict(_)));
    let missing = store
        .link_ticket(
            "SEC-77",
            &NewTicketLink::completed(TicketBackend::Jira, "X-1"),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound("case")));
    db.cleanup().await;
}

async fn assigning_an_unknown_user_is_refused(db: TestDb) {
    let store = &db.store;
    let sec = project(store, "SEC").await;
    let case = store
        .create_case(&NewCase::manual(&sec, "t"), None)
        .await
        .unwrap();
    let err = store
        .change_case(
            &case.id,
            &CaseChange::Assign("721074c8-63df-4d8f-a43d-ab41dd24ec35".into()),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("user")), "{err}");
    let mut new = NewCase::manual(&sec, "t");
    new.assignee_id = Some("721074c8-63df-4d8f-a43d-ab41dd24ec35".into());
    assert!(matches!(
        store.create_case(&new, None).await,
        Err(StoreError::NotFound("user"))
    ));
    let timeline = store.timeline_cells(&case.id).await.unwrap();
    assert_eq!(timeline.len(), 1, "a refused change leaves no cell");
    db.cleanup().await;
}
