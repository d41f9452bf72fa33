//! Fault injection on both doubles: 429/503/500, slow and dropped responses, seeded random
//! faults, filters, the per-second token bucket, and Retry-After violation counting.

mod support;

use std::time::{Duration, Instant};

use casebridge_doubles::common::faults::{FaultKind, FaultSpec, RateLimit};
use casebridge_doubles::jira::{JiraConfig, JiraDouble};
use serde_json::{json, Value};
use support::{client, jira, servicenow, JiraClient, SnClient};

fn rate_limited(secs: u64, reason: Option<&str>) -> FaultKind {
    FaultKind::RateLimited {
        retry_after_secs: secs,
        reason: reason.map(str::to_string),
    }
}

#[tokio::test]
async fn jira_429_carries_retry_after_rate_limit_headers_and_jiras_body() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    double
        .add_fault(FaultSpec::next(1, rate_limited(2, None)))
        .unwrap();
    let r = c.get("/rest/api/3/myself").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let h = r.headers().clone();
    assert_eq!(h["retry-after"], "2");
    assert_eq!(h["ratelimit-reason"], "jira-burst-based");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h.contains_key("x-ratelimit-limit"));
    assert!(h["x-ratelimit-reset"].to_str().unwrap().ends_with('Z'));
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"errorMessages": ["Rate limit exceeded"], "errors": {}})
    );
    assert_eq!(
        c.get("/rest/api/3/myself").send().await.unwrap().status(),
        200,
        "the fault fired once"
    );
    let log = double.requests();
    assert_eq!(log[0].fault.as_deref(), Some("rate_limited"));
    assert_eq!(log[0].status, Some(429));
}

#[tokio::test]
async fn retry_after_violations_are_counted_per_backend_and_per_issue() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let one = c.create("one").await;
    let two = c.create("two").await;
    double
        .add_fault(FaultSpec::next(1, rate_limited(30, None)))
        .unwrap();
    assert_eq!(
        c.get("/rest/api/3/myself").send().await.unwrap().status(),
        429
    );
    assert_eq!(
        c.get("/rest/api/3/myself").send().await.unwrap().status(),
        200
    );
    assert_eq!(
        double.retry_after_violation_count(),
        1,
        "came back 30 s too early"
    );
    double.advance_clock(Duration::from_secs(31));
    c.get("/rest/api/3/myself").send().await.unwrap();
    assert_eq!(
        double.retry_after_violation_count(),
        1,
        "waiting long enough is not a violation"
    );

    double
        .add_fault(
            FaultSpec::next(1, rate_limited(10, Some("jira-per-issue-on-write")))
                .on_method("PUT")
                .on_path_prefix(&format!("/rest/api/3/issue/{one}")),
        )
        .unwrap();
    let r = c
        .put(
            &format!("/rest/api/3/issue/{one}"),
            json!({"fields": {"summary": "x"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["ratelimit-reason"], "jira-per-issue-on-write");
    c.put(
        &format!("/rest/api/3/issue/{two}"),
        json!({"fields": {"summary": "y"}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        double.retry_after_violation_count(),
        1,
        "other issues are not limited"
    );
    c.put(
        &format!("/rest/api/3/issue/{one}"),
        json!({"fields": {"summary": "z"}}),
    )
    .send()
    .await
    .unwrap();
    let violations = double.retry_after_violations();
    assert_eq!(violations.len(), 2);
    assert_eq!(violations[1].scope, format!("issue:{one}"));
    assert!(violations[1].early_by_ms > 9_000);
}

#[tokio::test]
async fn servicenow_429_503_and_500_use_servicenow_shapes() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    double
        .add_fault(FaultSpec::next(1, rate_limited(7, None)))
        .unwrap();
    let r = c.get("/api/now/table/incident").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let h = r.headers().clone();
    assert_eq!(h["retry-after"], "7");
    assert!(
        h["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .is_ok(),
        "Unix time"
    );
    assert!(h.contains_key("x-ratelimit-rule"));
    assert!(h.contains_key("x-ratelimit-limit"));
    assert!(
        !h.contains_key("x-ratelimit-remaining"),
        "ServiceNow does not document Remaining"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Rate limit exceeded");
    assert!(body["error"]["detail"]
        .as_str()
        .unwrap()
        .starts_with("Rate limit of"));
    assert_eq!(body["status"], "failure");

    double
        .add_fault(FaultSpec::next(
            1,
            FaultKind::Unavailable {
                retry_after_secs: Some(3),
            },
        ))
        .unwrap();
    let r = c.get("/api/now/table/incident").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "failure");

    double
        .add_fault(FaultSpec::next(1, FaultKind::ServerError))
        .unwrap();
    let r = c.get("/api/now/table/incident").send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["message"],
        "Internal server error"
    );
}

#[tokio::test]
async fn jira_503_and_500_use_error_collections() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    double
        .add_fault(FaultSpec::next(
            1,
            FaultKind::Unavailable {
                retry_after_secs: Some(5),
            },
        ))
        .unwrap();
    double
        .add_fault(FaultSpec::next(1, FaultKind::ServerError))
        .unwrap();
    let r = c.get("/rest/api/3/myself").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorMessages"][0],
        "Service Unavailable"
    );
    let r = c.get("/rest/api/3/myself").send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"errorMessages": ["Internal server error"], "errors": {}})
    );
}

#[tokio::test]
async fn slow_responses_arrive_late_but_complete() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    double
        .add_fault(FaultSpec::next(1, FaultKind::Slow { delay_ms: 300 }))
        .unwrap();
    let started = Instant::now();
    let r = c.get("/api/now/table/incident").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    double
        .add_fault(FaultSpec::next(1, FaultKind::Slow { delay_ms: 2_000 }))
        .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = impatient
        .get(c.url("/api/now/table/incident"))
        .basic_auth(&c.user, Some(&c.password))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
}

async fn outcome(request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    Ok((status, body.to_vec()))
}

#[tokio::test]
async fn dropped_connections_leave_the_client_without_a_usable_response() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    double
        .add_fault(FaultSpec::next(1, FaultKind::DropConnection).on_method("POST"))
        .unwrap();
    let body = json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "lost"}});
    assert!(outcome(c.post("/rest/api/3/issue", body.clone()))
        .await
        .is_err());
    assert!(
        double.issues().is_empty(),
        "a connection dropped before processing changes nothing"
    );

    double
        .add_fault(FaultSpec::next(1, FaultKind::DropAfterProcessing).on_method("POST"))
        .unwrap();
    assert!(outcome(c.post("/rest/api/3/issue", body)).await.is_err());
    assert_eq!(
        double.issues().len(),
        1,
        "the write happened even though the client saw an error"
    );
    let log = double.requests();
    assert_eq!(log[0].status, None);
    assert_eq!(log[0].fault.as_deref(), Some("drop_connection"));
    assert!(log[1]
        .fault
        .as_deref()
        .unwrap()
        .contains("would have been 201"));
    assert_eq!(outcome(c.get("/rest/api/3/myself")).await.unwrap().0, 200);
}

#[tokio::test]
async fn probability_faults_repeat_exactly_for_the_same_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let double = JiraDouble::start(JiraConfig {
            fault_seed: seed,
            ..Default::default()
        })
        .await
        .unwrap();
        double
            .add_fault(FaultSpec::with_probability(0.5, FaultKind::ServerError))
            .unwrap();
        let c = JiraClient::cloud(&double);
        let mut statuses = Vec::new();
        for _ in 0..24 {
            statuses.push(
                c.get("/rest/api/3/serverInfo")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        statuses
    }
    let first = run(11).await;
    assert_eq!(first, run(11).await);
    assert_ne!(first, run(12).await);
    assert!(first.contains(&500) && first.contains(&200));
}

#[tokio::test]
async fn filters_confine_faults_to_a_method_and_path_prefix() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    double
        .add_fault(
            FaultSpec::next(2, FaultKind::ServerError)
                .on_method("PATCH")
                .on_path_prefix("/api/now/table/incident/"),
        )
        .unwrap();
    let created = c
        .create_incident(json!({"short_description": "filters"}))
        .await;
    let id = created["sys_id"].as_str().unwrap();
    assert_eq!(
        c.get(&format!("/api/now/table/incident/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.patch(
            &format!("/api/now/table/incident/{id}"),
            json!({"state": "2"})
        )
        .send()
        .await
        .unwrap()
        .status(),
        500
    );
    assert_eq!(
        c.patch(
            &format!("/api/now/table/incident/{id}"),
            json!({"state": "2"})
        )
        .send()
        .await
        .unwrap()
        .status(),
        500
    );
    assert_eq!(
        c.patch(
            &format!("/api/now/table/incident/{id}"),
            json!({"state": "2"})
        )
        .send()
        .await
        .unwrap()
        .status(),
        200
    );
    assert!(double.faults().is_empty());
}

#[tokio::test]
async fn the_per_second_limit_refuses_the_excess_until_tokens_refill() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    // Burst of 3 refilling one token per second: the 4th and 5th requests of a quick series are
    // refused (a refill would need a whole second between requests, so this is not timing-bound).
    double.set_rate_limit(Some(RateLimit {
        per_second: 1.0,
        burst: Some(3.0),
    }));
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..5 {
        let r = c.get("/rest/api/3/serverInfo").send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 && refused.is_none() {
            refused = Some(r);
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let refused = refused.unwrap();
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["x-ratelimit-fillrate"], "1");
    assert_eq!(refused.headers()["x-ratelimit-limit"], "3");
    assert_eq!(
        double.retry_after_violation_count(),
        1,
        "the fifth request ignored the first 429"
    );
    double.advance_clock(Duration::from_secs(2));
    assert_eq!(
        c.get("/rest/api/3/serverInfo")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    double.set_rate_limit(None);
    for _ in 0..5 {
        assert_eq!(
            c.get("/rest/api/3/serverInfo")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let labels: Vec<Option<String>> = double.requests().iter().map(|r| r.fault.clone()).collect();
    assert_eq!(
        labels
            .iter()
            .filter(|l| l.as_deref() == Some("rate_limit"))
            .count(),
        2
    );
}

#[tokio::test]
async fn control_routes_configure_faults_and_report_violations_over_http() {
    let double = servicenow().await;
    let http = client();
    let base = double.base_url();
    let r = http
        .post(format!("{base}/_double/faults"))
        .json(&json!({"kind": "rate_limited", "retry_after_secs": 60, "times": 1, "path_prefix": "/api/now/table"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{base}/_double/faults"))
        .json(&json!({"kind": "server_error", "times": 1, "probability": 0.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let c = SnClient::basic(&double);
    assert_eq!(
        c.get("/api/now/table/incident")
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        c.get("/api/now/table/incident")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let v: Value = http
        .get(format!("{base}/_double/retry-after-violations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["count"], 1);
    assert_eq!(
        http.put(format!("{base}/_double/rate-limit"))
            .json(&json!({"per_second": 1}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    c.get("/api/now/table/incident").send().await.unwrap();
    assert_eq!(
        c.get("/api/now/table/incident")
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    let log: Value = http
        .get(format!("{base}/_double/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        log.as_array().unwrap().len(),
        4,
        "control calls are not logged"
    );
    assert_eq!(
        http.post(format!("{base}/_double/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.get("/api/now/table/incident")
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "reset clears the rate limit"
    );
}
