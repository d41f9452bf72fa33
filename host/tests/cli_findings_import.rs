//! `casebridge findings import` and the mute expiry sweep `serve` runs, end to end.

use std::process::Command;
use std::time::Duration;

use casebridge::cli::serve::spawn_mute_sweep;
use casebridge::domain::finding::mute::{check_mute_request, RequestReason};
use casebridge::domain::finding::wire::finding_from_api_item;
use casebridge::domain::finding::Actor;
use casebridge::store::test_support::TestDb;
use casebridge::store::{now_ms, Store};
use serde_json::{json, Value};
use sqlx::Row;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

struct Import {
    success: bool,
    summary: Value,
    stdout_lines: usize,
    stderr: String,
}

fn import(file: &std::path::Path, database_url: &str) -> Import {
    let out = Command::new(env!("CARGO_BIN_EXE_casebridge"))
        .args(["findings", "import"])
        .arg(file)
        .args(["--database-url", database_url, "--batch-size", "7"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    Import {
        success: out.status.success(),
        summary: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        stdout_lines: stdout.lines().count(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn examples(key: &str) -> Vec<Value> {
    let path = format!("{REPO}/tests/contracts/datadog/findings-examples.json");
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.iter().map(|e| e[key].clone()).collect()
}

#[tokio::test]
async fn import_reads_plain_findings_and_ingest_bodies_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/import.db?mode=rwc", dir.path().display());

    // The earlier page revision: eleven findings with distinct ids, tags inside each object.
    let earlier = dir.path().join("earlier.json");
    std::fs::write(
        &earlier,
        serde_json::to_vec(&examples("finding_previous_revision")).unwrap(),
    )
    .unwrap();
    let run = import(&earlier, &url);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout_lines, 1, "one summary line on stdout");
    assert_eq!(run.summary["total"], 11);
    assert_eq!(run.summary["created"], 11);
    assert_eq!(run.summary["rejected"], 0);

    // The latest revision's examples all carry the same placeholder id: one finding.
    let latest = dir.path().join("latest.json");
    std::fs::write(&latest, serde_json::to_vec(&examples("finding")).unwrap()).unwrap();
    let run = import(&latest, &url);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.summary["created"], 1);
    assert_eq!(
        run.summary["updated"].as_u64().unwrap() + run.summary["unchanged"].as_u64().unwrap(),
        10
    );

    // The ingest body shape (the 48-finding sample), twice.
    let sample = std::path::PathBuf::from(format!(
        "{REPO}/tests/fixtures/findings/sample-findings.json"
    ));
    let run = import(&sample, &url);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.summary["created"], 48);
    let run = import(&sample, &url);
    assert_eq!(run.summary["unchanged"], 48);

    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.count_findings().await.unwrap(), 11 + 1 + 48);
    let tagged = store
        .get_findings(&["ZXhhbXBsZS1zZWNyZXQtMTIzNDU2".into()], now_ms())
        .await
        .unwrap();
    assert!(
        tagged[0].tags().iter().any(|t| t == "team:backend"),
        "tags taken from inside the object"
    );
    store.close().await;
}

#[tokio::test]
async fn import_stores_the_valid_findings_and_exits_non_zero_naming_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/import.db?mode=rwc", dir.path().display());
    let mut findings = examples("finding_previous_revision");
    findings[1]["severity"] = json!("urgent");
    findings[4].as_object_mut().unwrap().remove("finding_id");
    let file = dir.path().join("mixed.json");
    std::fs::write(&file, serde_json::to_vec(&findings).unwrap()).unwrap();
    let run = import(&file, &url);
    assert!(!run.success);
    assert!(
        run.stderr.contains("2 of 11 findings were rejected"),
        "{}",
        run.stderr
    );
    assert_eq!(run.summary["created"], 9);
    assert_eq!(run.summary["rejected"], 2);
    let errors = run.summary["errors"].as_array().unwrap();
    assert_eq!(errors[0]["path"], "[1].severity");
    assert_eq!(errors[0]["index"], 1);
    assert!(errors[0]["detail"]
        .as_str()
        .unwrap()
        .contains("got \"urgent\""));
    assert_eq!(errors[1]["path"], "[4].finding_id");

    // Not JSON at all: a one-line cause, nothing on stdout.
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"data\": [").unwrap();
    let run = import(&garbage, &url);
    assert!(!run.success);
    assert_eq!(run.stdout_lines, 0);
    assert!(run.stderr.contains("not valid JSON"), "{}", run.stderr);
}

#[tokio::test]
async fn the_serve_sweep_reopens_expired_mutes_durably() {
    let db = TestDb::sqlite().await.unwrap();
    let store = db.store.clone();
    let item = json!({"id": "s1", "type": "finding", "attributes": {"attributes": {
        "finding_type": "secret", "severity": "low", "status": "open", "title": "t",
        "first_seen_at": 1, "last_seen_at": 2, "detection_changed_at": 2}, "tags": []}});
    store
        .upsert_findings(vec![finding_from_api_item(item).unwrap()], now_ms())
        .await
        .unwrap();
    let now = now_ms();
    let change =
        check_mute_request(true, RequestReason::NoFix, None, Some(now + 300), now).unwrap();
    let actor = Actor {
        id: "u".into(),
        name: "U".into(),
    };
    store
        .mute_findings(&["s1".into()], &change, &actor, now)
        .await
        .unwrap();
    let stored_status = || async {
        let row = sqlx::query("SELECT status, mute_expire_at FROM findings WHERE id = $1")
            .bind("s1")
            .fetch_one(store.pool())
            .await
            .unwrap();
        (
            row.try_get::<String, _>("status").unwrap(),
            row.try_get::<Option<i64>, _>("mute_expire_at").unwrap(),
        )
    };
    assert_eq!(
        stored_status().await,
        ("muted".to_string(), Some(now + 300))
    );
    let sweep = spawn_mute_sweep(store.clone(), Duration::from_millis(50));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stored_status().await.0 == "muted" && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sweep.abort();
    assert_eq!(stored_status().await, ("open".to_string(), None));
    db.cleanup().await;
}
