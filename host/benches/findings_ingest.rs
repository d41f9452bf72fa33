//! Benchmark: bulk ingest of findings (one `upsert_findings` call) against a baseline of the
//! same findings upserted one call (one transaction) each, in the same process, on SQLite and —
//! when `CASEBRIDGE_TEST_POSTGRES_URL` or the default test server answers — PostgreSQL.
//!
//! Prints throughput and the bulk/baseline ratio; asserts nothing about time.
//! Run: `cargo bench -p casebridge --bench findings_ingest --profile dev` (dependencies are
//! optimised in the dev profile; `--release` works too). `FINDINGS_BENCH_N` sets the batch size.

use std::time::Instant;

use casebridge::domain::finding::wire::finding_from_api_item;
use casebridge::domain::finding::{Finding, UpsertResult};
use casebridge::store::test_support::TestDb;
use casebridge::store::{now_ms, Store};
use serde_json::{json, Value};

fn item(run: &str, n: usize) -> Value {
    let first_seen: i64 = 1_767_225_600_000;
    let last_seen = first_seen + n as i64;
    let changed = first_seen + (n as i64 % 500) * 1000;
    let severity = ["critical", "high", "medium", "low"][n % 4];
    json!({"id": format!("{run}-{n:06}"), "type": "finding", "attributes": {
        "attributes": {
            "finding_type": "library_vulnerability", "severity": severity,
            "status": "open", "title": format!("Vulnerable package #{n}"),
            "description": "A dependency has a known vulnerability. ".repeat(8),
            "resource_id": format!("repo-{}", n % 97), "resource_name": "payments-api",
            "resource_type": "repository",
            "first_seen_at": first_seen, "last_seen_at": last_seen,
            "detection_changed_at": changed,
            "package": {"name": "org.apache.logging.log4j:log4j-core", "version": "2.14.1"},
            "advisory": {"id": "GHSA-jfh8-c2jp-5v3q", "cve": "CVE-2021-44228", "aliases": ["CVE-2021-44228"]},
            "severity_details": {"adjusted": {"score": 10.0, "value": "critical"}},
            "workflow": {"mute": {"is_muted": false}}
        },
        "tags": ["team:payments", "env:prod", "service:payments-api", "origin:ci"]}})
}

fn findings(run: &str, n: usize) -> Vec<Finding> {
    (0..n)
        .map(|i| finding_from_api_item(item(run, i)).expect("valid"))
        .collect()
}

async fn bench(label: &str, store: &Store, n: usize) {
    let batch = findings("bulk", n);
    let started = Instant::now();
    let results = store
        .upsert_findings(batch.clone(), now_ms())
        .await
        .expect("bulk");
    let bulk = started.elapsed();
    assert!(results.iter().all(|r| *r == UpsertResult::Created));

    let started = Instant::now();
    let results = store
        .upsert_findings(batch, now_ms())
        .await
        .expect("reingest");
    let reingest = started.elapsed();
    assert!(results.iter().all(|r| *r == UpsertResult::Unchanged));

    let singles = findings("single", n);
    let started = Instant::now();
    for finding in singles {
        store
            .upsert_findings(vec![finding], now_ms())
            .await
            .expect("single");
    }
    let baseline = started.elapsed();

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "{label}: {n} findings — bulk {:.3} s ({:.0}/s), re-ingest unchanged {:.3} s ({:.0}/s), \
         one-per-call baseline {:.3} s ({:.0}/s); bulk is {:.1}x the baseline",
        bulk.as_secs_f64(),
        rate(bulk),
        reingest.as_secs_f64(),
        rate(reingest),
        baseline.as_secs_f64(),
        rate(baseline),
        baseline.as_secs_f64() / bulk.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("FINDINGS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let sqlite = TestDb::sqlite().await.expect("sqlite");
    bench("sqlite", &sqlite.store, n).await;
    sqlite.cleanup().await;
    match TestDb::postgres().await {
        Ok(pg) => {
            bench("postgres", &pg.store, n).await;
            pg.cleanup().await;
        }
        Err(err) => println!("postgres: skipped ({err})"),
    }
}
