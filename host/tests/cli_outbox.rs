//! `casebridge outbox …` and `casebridge sync …` end to end: the binary against an SQLite file
//! the test also writes to.

mod support;

use std::process::Command;

use casebridge::store::now_ms;
use casebridge::store::test_support::TestDb;
use casebridge::sync::{ClaimRequest, OutcomeKind};
use serde_json::Value;
use support::{effect, enqueue_one, outbox};

struct Run {
    success: bool,
    stdout: Value,
    stderr: String,
}

fn casebridge(db: &TestDb, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_casebridge"))
        .args(args)
        .args(["--database-url", &db.url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.lines().count() <= 1, "one JSON document: {stdout}");
    Run {
        success: out.status.success(),
        stdout: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn admins_list_retry_and_check_health_from_the_command_line() {
    let db = TestDb::sqlite().await.unwrap();
    let now = now_ms();
    let failed = enqueue_one(&db, effect("jira", "case-1", "update", 1), now - 10).await;
    enqueue_one(&db, effect("jira", "case-2", "update", 2), now - 5).await;
    let ob = outbox(&db);
    let claimed = ob
        .claim(
            "w",
            &ClaimRequest {
                limit: 1,
                lease_ms: 60_000,
                kinds: None,
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(claimed[0].id, failed);
    ob.fail(
        &claimed[0],
        OutcomeKind::NotFound,
        "issue SEC-1 is gone",
        now,
    )
    .await
    .unwrap();

    let list = casebridge(&db, &["outbox", "list", "--state", "failed"]);
    assert!(list.success, "{}", list.stderr);
    let data = list.stdout["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], failed.as_str());
    assert_eq!(data[0]["attributes"]["last_outcome"], "not_found");

    let bad = casebridge(&db, &["outbox", "list", "--state", "stuck"]);
    assert!(!bad.success);
    assert!(bad.stderr.contains("expected one of"), "{}", bad.stderr);

    let health = casebridge(&db, &["sync", "health", "jira"]);
    assert!(health.success, "{}", health.stderr);
    let attributes = &health.stdout["data"]["attributes"];
    assert_eq!(attributes["failed"], 1);
    assert_eq!(attributes["pending"], 1);
    assert!(attributes["oldest_pending_age_ms"].as_i64().unwrap() >= 0);

    let retry = casebridge(&db, &["outbox", "retry", failed.as_str()]);
    assert!(retry.success, "{}", retry.stderr);
    assert_eq!(retry.stdout["data"][0]["attributes"]["state"], "pending");
    let again = casebridge(&db, &["outbox", "retry", failed.as_str(), "no-such-effect"]);
    assert!(!again.success);
    assert_eq!(again.stdout["errors"].as_array().unwrap().len(), 2);
    assert!(again.stderr.contains("2 of 2"), "{}", again.stderr);

    let paused = casebridge(
        &db,
        &["sync", "pause", "jira", "--reason", "token rotation"],
    );
    assert!(paused.success, "{}", paused.stderr);
    assert_eq!(
        paused.stdout["data"]["attributes"]["paused"]["reason"],
        "token rotation"
    );
    let all = casebridge(&db, &["sync", "health"]);
    assert_eq!(all.stdout["data"][0]["id"], "jira");
    let resumed = casebridge(&db, &["sync", "resume", "jira"]);
    assert!(resumed.success, "{}", resumed.stderr);
    assert_eq!(resumed.stdout["data"]["attributes"]["paused"], Value::Null);
    db.cleanup().await;
}
