//! API tests for the findings operations: the router runs in-process on 127.0.0.1:0 over a
//! throwaway database and is called over HTTP with reqwest, as a client would.

use std::collections::BTreeSet;
use std::time::Duration;

use casebridge::api::{router, AppState};
use casebridge::store::keys::NewApiKey;
use casebridge::store::now_ms;
use casebridge::store::test_support::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

struct Server {
    base: String,
    db: TestDb,
    admin: NewApiKey,
    http: reqwest::Client,
}

impl Server {
    async fn start(db: TestDb) -> Server {
        let admin = db
            .store
            .create_api_key("admin", "admin", &["admin".to_string()])
            .await
            .unwrap();
        let app = router(AppState::new(db.store.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base: format!("http://{addr}"),
            db,
            admin,
            http: reqwest::Client::new(),
        }
    }

    async fn sqlite() -> Server {
        Server::start(TestDb::sqlite().await.unwrap()).await
    }

    fn request(&self, method: Method, path: &str, key: &NewApiKey) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("DD-API-KEY", &key.api_key)
            .header("DD-APPLICATION-KEY", &key.app_key)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.request(method, path, &self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn ingest(&self, data: Vec<Value>) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v2/security/findings/ingest",
            Some(json!({ "data": data })),
        )
        .await
    }

    async fn key(&self, name: &str, scopes: &str) -> NewApiKey {
        let scopes: Vec<String> = scopes.split(',').map(str::to_string).collect();
        self.db
            .store
            .create_api_key(name, name, &scopes)
            .await
            .unwrap()
    }

    /// Every finding id matching `query`, paging through ListSecurityFindings.
    async fn list_all(&self, query: &str, limit: usize, sort: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..200 {
            let mut url =
                url::Url::parse(&format!("{}/api/v2/security/findings", self.base)).unwrap();
            url.query_pairs_mut()
                .append_pair("filter[query]", query)
                .append_pair("page[limit]", &limit.to_string())
                .append_pair("sort", sort);
            if let Some(c) = &cursor {
                url.query_pairs_mut().append_pair("page[cursor]", c);
            }
            let response = self
                .http
                .get(url)
                .header("DD-API-KEY", &self.admin.api_key)
                .header("DD-APPLICATION-KEY", &self.admin.app_key)
                .send()
                .await
                .unwrap();
            let (status, body) = read(response).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            assert_eq!(body["meta"]["status"], "done");
            for item in body["data"].as_array().unwrap() {
                ids.push(item["id"].as_str().unwrap().to_string());
            }
            match body["meta"]["page"]["after"].as_str() {
                Some(next) => {
                    assert!(body["links"]["next"]
                        .as_str()
                        .unwrap()
                        .contains("page%5Bcursor%5D="));
                    cursor = Some(next.to_string());
                }
                None => return ids,
            }
        }
        panic!("paging did not end for {query}");
    }

    async fn cleanup(self) {
        self.db.cleanup().await;
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

fn detail(body: &Value) -> String {
    body["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, needle: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(
        body["errors"][0]["status"],
        expected.as_u16().to_string(),
        "{body}"
    );
    assert!(detail(body).contains(needle), "{needle:?} not in {body}");
}

fn finding_item(id: &str, detection_changed_at: i64) -> Value {
    json!({"id": id, "type": "finding", "attributes": {
        "attributes": {
            "finding_type": "secret", "severity": "high", "status": "open",
            "title": format!("Secret {id}"), "first_seen_at": 1_000, "last_seen_at": 2_000,
            "detection_changed_at": detection_changed_at,
            "workflow": {"mute": {"is_muted": false}}
        },
        "tags": ["team:api"], "timestamp": detection_changed_at}})
}

/// The 48-finding sample (from the query branch), with mute expiries moved a year ahead of now so
/// the expected answers do not depend on the date the test runs.
fn sample_findings() -> Vec<Value> {
    let path = format!("{REPO}/tests/fixtures/findings/sample-findings.json");
    let body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut data = body["data"].as_array().unwrap().clone();
    let next_year = now_ms() + 365 * 86_400_000;
    for item in &mut data {
        let mute = &mut item["attributes"]["attributes"]["workflow"]["mute"];
        if mute.get("expire_at").is_some() {
            mute["expire_at"] = json!(next_year);
        }
    }
    data
}

fn mute_body(ids: &[&str], mute: Value) -> Value {
    let findings: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "type": "findings"}))
        .collect();
    json!({"data": {"type": "mute", "attributes": {"mute": mute},
                    "relationships": {"findings": {"data": findings}}}})
}

// ---------------------------------------------------------------------------------------------
// Authentication and scopes

#[tokio::test]
async fn reads_and_writes_refuse_callers_without_the_right_key() {
    let server = Server::sqlite().await;
    let list = "/api/v2/security/findings";
    let url = format!("{}{list}", server.base);

    let (status, body) = read(server.http.get(&url).send().await.unwrap()).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "authentication required",
    );

    let (status, body) = read(
        server
            .http
            .get(&url)
            .header("DD-API-KEY", "0".repeat(32))
            .header("DD-APPLICATION-KEY", "0".repeat(40))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "invalid API key");

    let cases_only = server.key("cases-only", "cases_read").await;
    let (status, body) = read(
        server
            .request(Method::GET, list, &cases_only)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "findings_read");

    let reader = server.key("reader", "findings_read").await;
    let (status, _) = read(
        server
            .request(Method::GET, list, &reader)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in [
        (Method::POST, "/api/v2/security/findings/ingest"),
        (Method::PATCH, "/api/v2/security/findings/mute"),
        (Method::PATCH, "/api/v2/security/findings/assignee"),
    ] {
        let (status, body) = read(
            server
                .request(method, path, &reader)
                .json(&json!({"data": []}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "findings_write");
    }

    // The application key works as a bearer token.
    let (status, body) = read(
        server
            .http
            .post(format!("{}/api/v2/security/findings/search", server.base))
            .bearer_auth(&reader.app_key)
            .json(&json!({"data": {"attributes": {"filter": "*"}}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Ingest

#[tokio::test]
async fn reingesting_findings_never_duplicates_them() {
    let server = Server::sqlite().await;
    let sample = sample_findings();
    let (status, body) = server.ingest(sample.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["created"], 48);
    assert_eq!(body["meta"]["rejected"], 0);
    assert_eq!(
        body["data"][5]["meta"],
        json!({"index": 5, "result": "created"})
    );
    assert_eq!(body["data"][5]["id"], sample[5]["id"]);

    let (status, body) = server.ingest(sample.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["meta"]["unchanged"], 48);
    assert_eq!(body["meta"]["created"], 0);

    // A list response is itself an ingest body, and re-ingesting it changes nothing.
    let (_, listed) = server
        .get("/api/v2/security/findings?page[limit]=150")
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 48);
    let (status, body) = server
        .ingest(listed["data"].as_array().unwrap().clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["meta"]["unchanged"], 48, "{}", body["meta"]);

    // A newer snapshot of one finding updates it in place.
    let mut newer = sample[0].clone();
    newer["attributes"]["attributes"]["last_seen_at"] = json!(now_ms());
    newer["attributes"]["attributes"]["severity"] = json!("critical");
    let (_, body) = server.ingest(vec![newer]).await;
    assert_eq!(body["data"][0]["meta"]["result"], "updated");
    assert_eq!(server.db.store.count_findings().await.unwrap(), 48);
    server.cleanup().await;
}

#[tokio::test]
async fn ingest_stores_valid_items_and_names_each_refused_one() {
    let server = Server::sqlite().await;
    let mut bad_enum = finding_item("bad-enum", 5);
    bad_enum["attributes"]["attributes"]["severity"] = json!("urgent");
    let mut bad_type = finding_item("bad-type", 5);
    bad_type["type"] = json!("findingz");
    let mut missing = finding_item("missing", 5);
    missing["attributes"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("title");
    let (status, body) = server
        .ingest(vec![
            finding_item("good-1", 5),
            bad_enum,
            bad_type,
            json!("not an object"),
            missing,
            finding_item("good-2", 6),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["created"], 2);
    assert_eq!(body["meta"]["rejected"], 4);
    let rejected = body["meta"]["rejected_items"].as_array().unwrap();
    let by_index = |i: u64| {
        rejected
            .iter()
            .find(|e| e["meta"]["index"] == i)
            .unwrap()
            .clone()
    };
    let e1 = by_index(1);
    assert_eq!(e1["status"], "422");
    assert_eq!(e1["meta"]["id"], "bad-enum");
    assert_eq!(
        e1["source"]["pointer"],
        "/data/1/attributes/attributes/severity"
    );
    assert!(e1["detail"].as_str().unwrap().starts_with(
        "data[1].attributes.attributes.severity: must be one of critical, high, medium, low, info, none, unknown; got \"urgent\""
    ));
    assert_eq!(
        by_index(2)["detail"],
        "data[2].type: got type \"findingz\" expected one of \"finding\""
    );
    assert_eq!(by_index(3)["meta"]["id"], Value::Null);
    assert_eq!(
        by_index(4)["detail"],
        "data[4].attributes.attributes.title: is required"
    );
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["good-1", "good-2"]);
    assert_eq!(server.db.store.count_findings().await.unwrap(), 2);

    // Every item refused: 422 with the same error objects.
    let mut bad = finding_item("x", 1);
    bad["attributes"]["attributes"]["finding_type"] = json!("vulnerability");
    let (status, body) = server.ingest(vec![bad]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(detail(&body).starts_with("data[0].attributes.attributes.finding_type: must be one of"));
    assert_eq!(body["meta"]["rejected"], 1);
    server.cleanup().await;
}

#[tokio::test]
async fn clients_cannot_set_computed_workflow_parts() {
    let server = Server::sqlite().await;
    let mut item = finding_item("c1", 5);
    item["attributes"]["attributes"]["workflow"]["integrations"] =
        json!({"cases": [{"key": "SEC-1"}], "jira": ["SEC-1"]});
    item["attributes"]["attributes"]["workflow"]["automations"] = json!([{"rule_id": "r"}]);
    let (status, _) = server.ingest(vec![item]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = server.get("/api/v2/security/findings").await;
    let workflow = &body["data"][0]["attributes"]["attributes"]["workflow"];
    assert!(workflow.get("integrations").is_none(), "{workflow}");
    assert!(workflow.get("automations").is_none(), "{workflow}");
    let (_, body) = server
        .get("/api/v2/security/findings?filter[query]=%40workflow.integrations.jira%3ASEC-1")
        .await;
    assert!(body["data"].as_array().unwrap().is_empty());
    server.cleanup().await;
}

#[tokio::test]
async fn oversize_ingests_are_refused_naming_the_cap() {
    let server = Server::sqlite().await;
    let items: Vec<Value> = (0..5_001).map(|_| json!({})).collect();
    let (status, body) = server.ingest(items).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the cap is 5000 per request",
    );

    // A body over the byte limit.
    let huge = format!(
        "{{\"data\": [\"{}\"]}}",
        "x".repeat(casebridge::api::MAX_BODY_BYTES)
    );
    let (status, body) = read(
        server
            .request(
                Method::POST,
                "/api/v2/security/findings/ingest",
                &server.admin,
            )
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "larger than");
    server.cleanup().await;
}

#[tokio::test]
async fn ingesting_the_schema_page_examples_accepts_both_revisions() {
    let server = Server::sqlite().await;
    let path = format!("{REPO}/tests/contracts/datadog/findings-examples.json");
    let examples: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut items = Vec::new();
    for example in &examples {
        for key in ["finding_previous_revision", "finding"] {
            let mut document = example[key].clone();
            let tags = document.as_object_mut().unwrap().remove("tags").unwrap();
            items.push(json!({"id": document["finding_id"], "type": "finding",
                              "attributes": {"attributes": document, "tags": tags}}));
        }
    }
    let (status, body) = server.ingest(items).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["meta"]["rejected"], 0,
        "{}",
        body["meta"]["rejected_items"]
    );
    // The eleven latest-revision examples share one id: one finding, created then updated or unchanged.
    assert_eq!(body["meta"]["created"], 12);
    assert_eq!(server.db.store.count_findings().await.unwrap(), 12);
    server.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Listing: limits, bad input, paging, known answers

#[tokio::test]
async fn listing_parameters_out_of_range_are_named() {
    let server = Server::sqlite().await;
    for (query, needle) in [
        ("page[limit]=0", "invalid parameter \"page[limit]\" in \"query\"; expected an integer between 1 and 150, got \"0\""),
        ("page[limit]=151", "invalid parameter \"page[limit]\""),
        ("page[limit]=many", "invalid parameter \"page[limit]\""),
        ("sort=title", "invalid parameter \"sort\""),
        ("sort=detection_changed_at", "invalid parameter \"sort\""),
        ("page[cursor]=bogus", "invalid parameter \"page[cursor]\""),
        ("filter[query]=%40severity%3A(critical%20OR", "invalid parameter \"filter[query]\""),
        ("filter[query]=team%3Aa%20%26%26%20team%3Ab", "is not an operator in this language"),
    ] {
        let (status, body) = server.get(&format!("/api/v2/security/findings?{query}")).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, needle);
        assert_eq!(body["errors"][0]["title"], "Invalid Parameter");
    }
    let (_, body) = server
        .get("/api/v2/security/findings?filter[query]=%40severity%3A(critical%20OR%20high")
        .await;
    assert!(
        detail(&body).contains("at position 10: unbalanced parenthesis"),
        "{body}"
    );
    for (search, needle) in [
        (
            json!({"data": {"attributes": {"page": {"limit": 151}}}}),
            "data.attributes.page.limit: must be an integer between 1 and 150, got 151",
        ),
        (
            json!({"data": {"attributes": {"page": {"limit": "5"}}}}),
            "data.attributes.page.limit",
        ),
        (
            json!({"data": {"attributes": {"sort": "-@title"}}}),
            "data.attributes.sort: expected one of",
        ),
        (
            json!({"data": {"attributes": {"filter": "(a"}}}),
            "data.attributes.filter: invalid query at position 0",
        ),
        (
            json!({"data": {"attributes": {"filter": 7}}}),
            "data.attributes.filter: must be a string, got an integer",
        ),
        (
            json!({"data": {"attributes": {"page": {"cursor": "zzz"}}}}),
            "data.attributes.page.cursor: not a cursor",
        ),
        (
            json!({"data": "x"}),
            "data: must be an object, got a string",
        ),
    ] {
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v2/security/findings/search",
                Some(search),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, needle);
    }
    server.cleanup().await;
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_named_4xx_errors() {
    let server = Server::sqlite().await;
    for path in [
        "/api/v2/security/findings/ingest",
        "/api/v2/security/findings/search",
    ] {
        let (status, body) = read(
            server
                .request(Method::POST, path, &server.admin)
                .header("content-type", "application/json")
                .body("{\"data\": [")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed JSON");
        let (status, body) = read(
            server
                .request(Method::POST, path, &server.admin)
                .header("content-type", "text/plain")
                .body("{}")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(
            status,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a JSON body",
        );
    }
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v2/security/findings/ingest",
            Some(json!({"items": []})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "data is required");
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v2/security/findings/ingest",
            Some(json!({"data": {}})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "data: must be an array of findings",
    );
    let (status, body) = server
        .call(
            Method::PATCH,
            "/api/v2/security/findings/mute",
            Some(json!([1])),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "body: must be an object",
    );
    server.cleanup().await;
}

#[tokio::test]
async fn paging_serves_every_finding_once_in_both_directions() {
    let server = Server::sqlite().await;
    // Ties on detection_changed_at: 30 findings over 4 instants.
    let items: Vec<Value> = (0..30)
        .map(|i| finding_item(&format!("p{:02}", (i * 11) % 30), 1_000 * (i % 4)))
        .collect();
    server.ingest(items).await;
    let mut expected: Vec<(i64, String)> = (0..30)
        .map(|i| (1_000 * (i % 4), format!("p{:02}", (i * 11) % 30)))
        .collect();
    expected.sort();
    let ascending: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    let mut descending = ascending.clone();
    descending.reverse();
    assert_eq!(
        server.list_all("*", 7, "@detection_changed_at").await,
        ascending
    );
    assert_eq!(
        server.list_all("*", 7, "-@detection_changed_at").await,
        descending
    );
    assert_eq!(
        server
            .list_all("team:api", 30, "-@detection_changed_at")
            .await,
        descending
    );

    // Default sort is descending; a cursor from one sort is refused by the other.
    let (_, first) = server.get("/api/v2/security/findings?page[limit]=3").await;
    let ids: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, &descending[..3]);
    assert_eq!(first["data"][0]["attributes"]["timestamp"], 3_000);
    let cursor = first["meta"]["page"]["after"].as_str().unwrap();
    let (status, body) = server
        .get(&format!("/api/v2/security/findings?page[limit]=3&sort=%40detection_changed_at&page[cursor]={cursor}"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "issued for sort");
    // The envelope.
    assert_eq!(first["meta"]["status"], "done");
    assert!(first["meta"]["elapsed"].is_u64());
    assert!(first["meta"]["request_id"].is_string());
    assert_eq!(first["data"][0]["type"], "finding");
    server.cleanup().await;
}

/// Known answers from `sdk/query/tests/known_answers.rs` (worked out by hand from the fixture's
/// variation table), through the API. Queries on `workflow.integrations` are left out: casebridge
/// computes that namespace itself and ignores what the fixture carries.
fn known_answers() -> Vec<(&'static str, Vec<&'static str>)> {
    let critical = vec![
        "F05", "F06", "F11", "F20", "F23", "F28", "F32", "F37", "F39", "F40", "F42", "F47",
    ];
    let muted = vec!["F03", "F08", "F13", "F17", "F25", "F33", "F41", "F48"];
    vec![
        ("@severity:critical", critical.clone()),
        (
            "@severity:(critical OR high) @status:open team:platform",
            vec!["F10", "F26", "F28", "F31", "F38", "F40", "F46"],
        ),
        (
            "@finding_type:library_vulnerability",
            vec!["F22", "F23", "F24", "F25", "F26", "F27", "F28", "F29"],
        ),
        ("@status:muted", muted.clone()),
        ("@workflow.mute.is_muted:true", muted),
        ("env:prod service:checkout-api", vec!["F01", "F25", "F36", "F46"]),
        (
            "(team:platform OR team:payments) @severity:critical",
            vec!["F06", "F11", "F23", "F28", "F32", "F37", "F40"],
        ),
        ("@package.name:org.apache.logging.log4j*", vec!["F11", "F23", "F24", "F29"]),
        (r#"@title:"Weak Randomness""#, vec!["F35", "F36"]),
        ("@advisory.aliases:CVE-2021-44228", vec!["F11", "F23"]),
        ("@workflow.triage.assignee.name:*", vec!["F06", "F07", "F29", "F32", "F47"]),
        ("@severity_details.adjusted.score:<3", vec!["F01", "F03", "F14", "F22", "F30"]),
        (
            "@first_seen_at:[1768003210000 TO 1768867220000]",
            vec!["F10", "F11", "F12", "F13", "F14", "F15", "F16", "F17", "F18", "F19", "F20"],
        ),
        ("randomness", vec!["F35", "F36", "F44"]),
        ("@status:in-progress", vec!["F07", "F29", "F47"]),
        ("@severity:Critical", vec![]),
        ("-team:* -@status:auto_closed", vec!["F03", "F18", "F30", "F45"]),
        (
            "@workflow.mute.reason:(false_positive OR risk_accepted)",
            vec!["F03", "F08", "F25", "F33", "F41"],
        ),
        (
            "team:payments -@finding_type:(library_vulnerability OR host_and_container_vulnerability)",
            vec!["F02", "F06", "F16", "F32", "F37", "F43"],
        ),
        (r"owasp_url:https\://owasp.org/*", vec!["F01", "F02", "F03", "F04"]),
    ]
}

async fn query_known_answers(db: TestDb) {
    let server = Server::start(db).await;
    let sample = sample_findings();
    let (status, _) = server.ingest(sample.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let label = |id: &str| {
        let index = sample.iter().position(|item| item["id"] == id).unwrap();
        format!("F{:02}", index + 1)
    };
    for (query, expected) in known_answers() {
        let expected: BTreeSet<String> = expected.into_iter().map(str::to_string).collect();
        for (limit, sort) in [
            (4, "-@detection_changed_at"),
            (150, "@detection_changed_at"),
        ] {
            let ids = server.list_all(query, limit, sort).await;
            let labels: Vec<String> = ids.iter().map(|id| label(id)).collect();
            let unique: BTreeSet<String> = labels.iter().cloned().collect();
            assert_eq!(
                unique.len(),
                labels.len(),
                "{query}: a finding was served twice"
            );
            assert_eq!(unique, expected, "{query} (limit {limit}, sort {sort})");
        }
        // SearchSecurityFindings gives the same first page.
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v2/security/findings/search",
                Some(json!({"data": {"attributes": {"filter": query, "page": {"limit": 150}}}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let found: BTreeSet<String> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| label(d["id"].as_str().unwrap()))
            .collect();
        assert_eq!(found, expected, "search {query}");
    }
    server.cleanup().await;
}

#[tokio::test]
async fn queries_over_the_sample_findings_give_the_known_answers_sqlite() {
    query_known_answers(TestDb::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn queries_over_the_sample_findings_give_the_known_answers_postgres() {
    query_known_answers(TestDb::postgres().await.unwrap()).await;
}

// ---------------------------------------------------------------------------------------------
// Mute

#[tokio::test]
async fn mute_limits_and_refusals_are_named() {
    let server = Server::sqlite().await;
    server.ingest(vec![finding_item("m1", 5)]).await;
    let path = "/api/v2/security/findings/mute";
    let future = now_ms() + 3_600_000;
    let ok_mute = json!({"is_muted": true, "reason": "RISK_ACCEPTED", "expire_at": future});
    let many: Vec<String> = (0..101).map(|i| format!("f{i}")).collect();
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let cases = vec![
        (
            mute_body(&many_refs, ok_mute.clone()),
            StatusCode::BAD_REQUEST,
            "at most 100 per request, got 101",
        ),
        (
            mute_body(&[], ok_mute.clone()),
            StatusCode::BAD_REQUEST,
            "no finding provided",
        ),
        (
            {
                let mut b = mute_body(&["m1"], ok_mute.clone());
                b["data"]["type"] = json!("mutez");
                b
            },
            StatusCode::BAD_REQUEST,
            "data.type: got type \"mutez\" expected one of \"mute\"",
        ),
        (
            mute_body(&["m1"], json!({"is_muted": true})),
            StatusCode::BAD_REQUEST,
            "data.attributes.mute.reason is required",
        ),
        (
            mute_body(&["m1"], json!({"reason": "NO_FIX"})),
            StatusCode::BAD_REQUEST,
            "data.attributes.mute.is_muted is required",
        ),
        (
            mute_body(
                &["m1"],
                json!({"is_muted": true, "reason": "risk_accepted"}),
            ),
            StatusCode::BAD_REQUEST,
            "data.attributes.mute.reason: must be one of PENDING_FIX, FALSE_POSITIVE",
        ),
        (
            mute_body(
                &["m1"],
                json!({"is_muted": true, "reason": "NO_FIX", "expire_at": "tomorrow"}),
            ),
            StatusCode::BAD_REQUEST,
            "data.attributes.mute.expire_at: must be an integer",
        ),
        (
            mute_body(
                &["m1"],
                json!({"is_muted": true, "reason": "NO_FIX", "description": "x".repeat(281)}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "description must be at most 280 characters, got 281",
        ),
        (
            mute_body(&["m1"], json!({"is_muted": false, "reason": "NO_FIX"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Possible values: [NO_PENDING_FIX HUMAN_ERROR NO_LONGER_ACCEPTED_RISK OTHER]",
        ),
        (
            mute_body(
                &["m1"],
                json!({"is_muted": true, "reason": "NO_FIX", "expire_at": now_ms() - 1}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid expiration date. Please provide an expiration date in the future",
        ),
        (
            mute_body(&["m1", "ghost"], ok_mute.clone()),
            StatusCode::NOT_FOUND,
            "finding not found",
        ),
    ];
    for (body, expected, needle) in cases {
        let (status, answer) = server.call(Method::PATCH, path, Some(body)).await;
        assert_error(status, &answer, expected, needle);
        if expected == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(answer["errors"][0]["title"], "Invalid Request");
        }
    }
    // Nothing above changed the finding.
    let (_, body) = server.get("/api/v2/security/findings").await;
    assert_eq!(
        body["data"][0]["attributes"]["attributes"]["status"],
        "open"
    );
    server.cleanup().await;
}

/// Reads a recorded cassette (the subset of YAML these files use): request body, response status
/// and response body.
fn cassette(name: &str) -> (Value, u16, Value) {
    let path = format!("{REPO}/tests/contracts/datadog/cassettes/{name}.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let quoted = |after: &str| -> String {
        let start = text.find(after).unwrap() + after.len();
        let rest = &text[start..];
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                break;
            }
            out.push(c);
        }
        // YAML folds a line break plus indentation inside a quoted scalar into one space.
        out.split('\n')
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let request: Value = serde_json::from_str(&quoted("    body: '")).unwrap();
    let response: Value = serde_json::from_str(&quoted("      string: '")).unwrap();
    let code_at = text.find("      code: ").unwrap() + "      code: ".len();
    let code: u16 = text[code_at..code_at + 3].parse().unwrap();
    (request, code, response)
}

#[tokio::test]
async fn recorded_mute_cassettes_replay_with_the_recorded_answers() {
    let server = Server::sqlite().await;
    // The finding the accepted recordings mute exists; the one of the 404 recordings does not.
    server
        .ingest(vec![finding_item(
            "ZGVmLTAwMC0wYmd-MDE4NjcyMDJkMzE4MDE5ODY5MGE4ZmQ2MmFlMjg0Y2M=",
            5,
        )])
        .await;
    for name in [
        "test_mute_security_findings_returns_accepted_response",
        "test_mute_security_findings_returns_not_found_response",
        "test_mute_security_findings_returns_unprocessable_entity_response",
        "test_unmute_security_findings_returns_accepted_response",
        "test_unmute_security_findings_returns_not_found_response",
        "test_unmute_security_findings_returns_unprocessable_entity_response",
    ] {
        let (mut request, code, recorded) = cassette(name);
        // Recorded on 2026-04-28 with an expiry then in the future (1778721573794); keep it in
        // the future relative to now. The 422 recording's `expire_at: 1` stays as recorded.
        let mute = &mut request["data"]["attributes"]["mute"];
        if mute["expire_at"].as_i64().is_some_and(|at| at > 1) {
            mute["expire_at"] = json!(now_ms() + 86_400_000);
        }
        let (status, body) = server
            .call(
                Method::PATCH,
                "/api/v2/security/findings/mute",
                Some(request),
            )
            .await;
        assert_eq!(status.as_u16(), code, "{name}: {body}");
        if code == 202 {
            assert_eq!(body["data"]["type"], recorded["data"]["type"], "{name}");
            assert!(uuid::Uuid::parse_str(body["data"]["id"].as_str().unwrap()).is_ok());
        } else {
            assert_eq!(body, recorded, "{name}");
        }
    }
    // After mute then unmute (the two accepted recordings), the finding is open again.
    let (_, body) = server.get("/api/v2/security/findings").await;
    let attributes = &body["data"][0]["attributes"]["attributes"];
    assert_eq!(attributes["status"], "open");
    assert_eq!(attributes["workflow"]["mute"]["reason"], "no_pending_fix");
    assert_eq!(attributes["workflow"]["mute"]["description"], "Resolved.");
    server.cleanup().await;
}

#[tokio::test]
async fn a_muted_finding_reopens_when_its_mute_expires() {
    let server = Server::sqlite().await;
    server
        .ingest(vec![finding_item("e1", 5), finding_item("e2", 6)])
        .await;
    let expire_at = now_ms() + 1_500;
    let (status, body) = server
        .call(
            Method::PATCH,
            "/api/v2/security/findings/mute",
            Some(mute_body(
                &["e1"],
                json!({"is_muted": true, "reason": "PENDING_FIX", "description": "fix in flight", "expire_at": expire_at}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["type"], "mute");
    assert_eq!(
        server
            .list_all("@status:muted", 10, "-@detection_changed_at")
            .await,
        ["e1"]
    );
    let (_, listed) = server
        .get("/api/v2/security/findings?filter[query]=%40status%3Amuted")
        .await;
    let mute = &listed["data"][0]["attributes"]["attributes"]["workflow"]["mute"];
    assert_eq!(mute["is_muted"], true);
    assert_eq!(mute["reason"], "pending_fix");
    assert_eq!(mute["description"], "fix in flight");
    assert_eq!(mute["expire_at"], expire_at);
    assert_eq!(mute["muted_by"]["name"], "admin");
    assert!(mute["muted_at"].as_i64().unwrap() <= now_ms());

    // Wait for the clock to pass expire_at (no sweep runs in this test: read-time expiry).
    while now_ms() <= expire_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server
        .list_all("@status:muted", 10, "-@detection_changed_at")
        .await
        .is_empty());
    assert_eq!(
        server
            .list_all("@status:open", 10, "-@detection_changed_at")
            .await,
        ["e2", "e1"]
    );
    let (_, listed) = server
        .get("/api/v2/security/findings?filter[query]=-%40workflow.mute.is_muted%3Atrue")
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    server.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Assignee

#[tokio::test]
async fn findings_are_assigned_and_unassigned() {
    let server = Server::sqlite().await;
    server
        .ingest(vec![finding_item("a1", 5), finding_item("a2", 6)])
        .await;
    let bob = server.key("bob", "findings_read").await;
    let path = "/api/v2/security/findings/assignee";
    let body = |assignee: Value, ids: &[&str]| {
        let findings: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "type": "findings"}))
            .collect();
        json!({"data": {"type": "assignee", "attributes": assignee,
                        "relationships": {"findings": {"data": findings}}}})
    };
    let (status, answer) = server
        .call(
            Method::PATCH,
            path,
            Some(body(json!({"assignee_id": bob.user_id}), &["a1", "ghost"])),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["data"]["type"], "assignee");
    assert_eq!(
        answer["data"]["attributes"]["assignee_id"],
        bob.user_id.as_str()
    );
    assert_eq!(
        answer["meta"]["failures"],
        json!([{"finding_id": "ghost", "status": 404, "title": "Not Found", "detail": "finding not found"}])
    );
    let query = format!("@workflow.triage.assignee.id:{}", bob.user_id);
    assert_eq!(
        server.list_all(&query, 10, "-@detection_changed_at").await,
        ["a1"]
    );
    let (_, listed) = server.get("/api/v2/security/findings?page[limit]=1").await;
    assert!(listed["data"][0]["attributes"]["attributes"]["workflow"]
        .get("triage")
        .is_none());

    // Unknown user, unknown findings, wrong type.
    let (status, answer) = server
        .call(
            Method::PATCH,
            path,
            Some(body(json!({"assignee_id": "nobody"}), &["a1"])),
        )
        .await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, "user not found");
    let (status, answer) = server
        .call(
            Method::PATCH,
            path,
            Some(body(json!({"assignee_id": bob.user_id}), &["ghost"])),
        )
        .await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, "finding not found");
    let mut wrong = body(json!({}), &["a1"]);
    wrong["data"]["type"] = json!("assignees");
    let (status, answer) = server.call(Method::PATCH, path, Some(wrong)).await;
    assert_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        "data.type: got type \"assignees\"",
    );

    // Unassign: attributes without assignee_id.
    let (status, answer) = server
        .call(Method::PATCH, path, Some(body(json!({}), &["a1"])))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["data"]["attributes"], json!({}));
    assert!(server
        .list_all(&query, 10, "-@detection_changed_at")
        .await
        .is_empty());
    server.cleanup().await;
}

#[tokio::test]
async fn nul_characters_are_client_errors_on_postgres() {
    let server = Server::start(TestDb::postgres().await.unwrap()).await;
    let mut item = finding_item("n1", 5);
    item["attributes"]["attributes"]["title"] = json!("bad\u{0}title");
    let (status, body) = server.ingest(vec![item, finding_item("n2", 6)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["meta"]["rejected_items"][0]["detail"],
        "data[0].attributes.attributes.title: must not contain NUL characters (\\u0000)"
    );
    for query in [
        "%40severity%3Ahigh%00",
        "team%3Aapi%00",
        "%40resource_id%3Ax%00y",
    ] {
        let (status, body) = server
            .get(&format!("/api/v2/security/findings?filter[query]={query}"))
            .await;
        assert!(
            status.is_success() || status.is_client_error(),
            "{query}: {status} {body}"
        );
    }
    let (status, body) = server
        .call(
            Method::PATCH,
            "/api/v2/security/findings/mute",
            Some(mute_body(
                &["a\u{0}b"],
                json!({"is_muted": true, "reason": "NO_FIX"}),
            )),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "must not contain control characters",
    );
    let (status, body) = server
        .call(
            Method::PATCH,
            "/api/v2/security/findings/assignee",
            Some(
                json!({"data": {"type": "assignee", "attributes": {"assignee_id": "u\u{0}"},
                "relationships": {"findings": {"data": [{"id": "n2", "type": "findings"}]}}}}),
            ),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "must not contain control characters",
    );
    server.cleanup().await;
}

#[tokio::test]
async fn a_thousand_findings_ingest_in_one_request() {
    let server = Server::sqlite().await;
    let items: Vec<Value> = (0..1_000)
        .map(|i| finding_item(&format!("k{i:04}"), i))
        .collect();
    let (status, body) = server.ingest(items).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["meta"]["created"], 1_000);
    assert_eq!(body["data"].as_array().unwrap().len(), 1_000);
    assert_eq!(body["data"][999]["meta"]["index"], 999);
    assert_eq!(server.db.store.count_findings().await.unwrap(), 1_000);
    server.cleanup().await;
}
