//! API suite for projects, cases, timelines and findings ↔ cases, on an in-process router.
//!
//! Two kinds of tests:
//! - `recorded::*` replay each vendored cassette (tests/contracts/datadog/cassettes) against
//!   casebridge: same method, path and body (recorded ids mapped to ours), same status; error
//!   bodies carry the recorded members (detail may add words after the recorded wording);
//!   success bodies carry every recorded member, with equal values for the semantic ones;
//! - targeted tests for limits, DELETE with a body, bad input, scopes and invariants.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use casebridge::api::{router, AppState};
use casebridge::domain::case::NewCase;
use casebridge::domain::project::NewProject;
use casebridge::store::keys::NewApiKey;
use casebridge::store::test_support::TestDb;
use casebridge::store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    db: TestDb,
    admin: NewApiKey,
}

impl Api {
    async fn new() -> Api {
        let db = TestDb::sqlite().await.unwrap();
        let admin = db
            .store
            .create_api_key("tests", "tester", &["admin".to_string()])
            .await
            .unwrap();
        Api {
            router: router(AppState::new(db.store.clone())),
            db,
            admin,
        }
    }

    fn store(&self) -> &Store {
        &self.db.store
    }

    async fn key(&self, scopes: &str) -> NewApiKey {
        let scopes: Vec<String> = scopes.split(',').map(str::to_string).collect();
        self.store()
            .create_api_key("limited", &format!("user-{}", scopes.join("-")), &scopes)
            .await
            .unwrap()
    }

    async fn raw(
        &self,
        key: Option<&NewApiKey>,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request
                .header("DD-API-KEY", &key.api_key)
                .header("DD-APPLICATION-KEY", &key.app_key);
        }
        if body.is_some() {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {bytes:?}"))
        };
        (status, value)
    }

    async fn send_as(
        &self,
        key: &NewApiKey,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.raw(Some(key), method, path, bytes, "application/json")
            .await
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send_as(&self.admin, method, path, body).await
    }

    async fn project(&self, key: &str) -> String {
        let (status, body) = self
            .send(
                "POST",
                "/api/v2/cases/projects",
                Some(json!({"data": {"type": "project",
                    "attributes": {"key": key, "name": format!("{key} project")}}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }

    async fn case(&self, project_id: &str, title: &str) -> Value {
        let (status, body) = self
            .send(
                "POST",
                "/api/v2/cases",
                Some(json!({"data": {"type": "case",
                    "attributes": {"title": title, "type_id": "00000000-0000-0000-0000-000000000001"},
                    "relationships": {"project": {"data": {"id": project_id, "type": "project"}}}}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"].clone()
    }

    async fn finding(&self, id: &str) {
        insert_finding(self.store(), id).await;
    }
}

async fn insert_finding(store: &Store, id: &str) {
    store_finding(store, id, &format!("Finding {id}")).await;
}

/// Stores a finding through the real ingest path (the same code the API uses).
async fn store_finding(store: &Store, id: &str, title: &str) {
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

fn error_of(body: &Value) -> &Value {
    &body["errors"][0]
}

fn findings_rel(ids: &[&str]) -> Value {
    json!({"data": ids.iter().map(|id| json!({"id": id, "type": "findings"})).collect::<Vec<_>>()})
}

// ---------------------------------------------------------------------------------------------
// Cassette replay
// ---------------------------------------------------------------------------------------------

struct Interaction {
    method: String,
    path: String,
    body: Option<Value>,
    status: u16,
    response: Value,
}

fn cassette_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/datadog/cassettes")
}

fn cassette(name: &str) -> Vec<Interaction> {
    let path = cassette_dir().join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Value = serde_norway::from_str(&text).unwrap();
    doc["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let request = &i["request"];
            let uri = request["uri"].as_str().unwrap();
            let path = uri
                .trim_start_matches("https://api.datadoghq.com")
                .to_string();
            let body = request["body"]
                .as_str()
                .map(|b| serde_json::from_str(b).unwrap());
            let response_text = i["response"]["body"]["string"].as_str().unwrap_or("");
            let response = if response_text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(response_text).unwrap()
            };
            Interaction {
                method: request["method"].as_str().unwrap().to_string(),
                path,
                body,
                status: i["response"]["status"]["code"].as_u64().unwrap() as u16,
                response,
            }
        })
        .collect()
}

/// Ids of the recording's fixtures that replays map to ours.
const RECORDED_PROJECT: &str = "d4bbe1af-f36e-42f1-87c1-493ca35c320e";
const RECORDED_SECURITY_PROJECT: &str = "959a6f71-bac8-4027-b1d3-2264f569296f";
const RECORDED_SECURITY_CASE: &str = "7d16945b-baf8-411e-ab2a-20fe43af1ea3";

/// Members that casebridge deliberately does not serve (Datadog-internal counters, display
/// helpers of other products) and subtrees compared by presence only.
const NOT_SERVED: &[&str] = &["public_id", "created_by_author"];
const OPAQUE: &[&str] = &["settings"];
/// Leaves whose values must be equal to the recording's.
const SEMANTIC: &[&str] = &[
    "type",
    "status",
    "status_group",
    "status_name",
    "priority",
    "title",
    "description",
    "creation_source",
    "merge_status",
    "comment_count",
    "message",
    "resource_id",
    "type_id",
];

/// Records in `failures` every recorded member missing from `ours` or unequal where it matters.
fn covers(
    recorded: &Value,
    ours: &Value,
    path: &str,
    key: Option<&str>,
    failures: &mut Vec<String>,
) {
    match recorded {
        Value::Object(map) => {
            let Some(our_map) = ours.as_object() else {
                failures.push(format!("{path}: expected an object, got {ours}"));
                return;
            };
            for (k, v) in map {
                if NOT_SERVED.contains(&k.as_str()) {
                    continue;
                }
                let Some(our_value) = our_map.get(k) else {
                    failures.push(format!("{path}.{k}: missing"));
                    continue;
                };
                if OPAQUE.contains(&k.as_str()) {
                    continue;
                }
                covers(v, our_value, &format!("{path}.{k}"), Some(k), failures);
            }
        }
        Value::Array(items) => {
            let Some(our_items) = ours.as_array() else {
                failures.push(format!("{path}: expected an array, got {ours}"));
                return;
            };
            if let Some(first) = items.first() {
                match our_items.first() {
                    Some(our_first) => {
                        covers(first, our_first, &format!("{path}[0]"), key, failures)
                    }
                    None => failures.push(format!("{path}: expected a non-empty array")),
                }
            }
        }
        leaf => {
            if key.is_some_and(|k| SEMANTIC.contains(&k)) && leaf != ours {
                failures.push(format!("{path}: recorded {leaf}, served {ours}"));
            }
        }
    }
}

/// Error members: status, title and code equal; our detail starts with the recorded one.
fn error_matches(recorded: &Value, ours: &Value, failures: &mut Vec<String>, context: &str) {
    let recorded_error = &recorded["errors"][0];
    let our_error = &ours["errors"][0];
    for member in ["status", "title", "code"] {
        if let Some(value) = recorded_error.get(member) {
            if our_error.get(member) != Some(value) {
                failures.push(format!(
                    "{context}: errors[0].{member} recorded {value}, served {}",
                    our_error.get(member).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    if let Some(detail) = recorded_error.get("detail").and_then(Value::as_str) {
        let ours = our_error["detail"].as_str().unwrap_or("");
        if !ours.starts_with(detail) {
            failures.push(format!(
                "{context}: errors[0].detail recorded {detail:?}, served {ours:?}"
            ));
        }
    }
}

fn substitute(text: &str, ids: &HashMap<String, String>) -> String {
    ids.iter()
        .fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}

fn recorded_finding_ids(interactions: &[Interaction]) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("findings")) {
                    if let Some(id) = map.get("id").and_then(Value::as_str) {
                        if id != "wrong-finding-id" && !out.iter().any(|o| o == id) {
                            out.push(id.to_string());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    for i in interactions {
        if let Some(body) = &i.body {
            walk(body, &mut out);
        }
    }
    out
}

fn map_ids(recorded: &Value, ours: &Value, ids: &mut HashMap<String, String>) {
    match (&recorded["data"], &ours["data"]) {
        (Value::Object(r), Value::Object(o)) => {
            if let (Some(Value::String(a)), Some(Value::String(b))) = (r.get("id"), o.get("id")) {
                ids.insert(a.clone(), b.clone());
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            for (a, b) in r.iter().zip(o) {
                if let (Some(a), Some(b)) = (a["id"].as_str(), b["id"].as_str()) {
                    ids.insert(a.to_string(), b.to_string());
                }
            }
        }
        _ => {}
    }
}

async fn replay(name: &str) {
    let interactions = cassette(name);
    let api = Api::new().await;
    let mut ids: HashMap<String, String> = HashMap::new();
    ids.insert(RECORDED_PROJECT.into(), api.project("DDFC").await);
    let security_project = api.project("CSMINV").await;
    ids.insert(RECORDED_SECURITY_PROJECT.into(), security_project.clone());
    for finding in recorded_finding_ids(&interactions) {
        api.finding(&finding).await;
    }
    let mut seeded = NewCase::from_findings(&security_project, "A title", vec![]);
    seeded.description = "A description".into();
    let seeded = api
        .store()
        .create_case(&seeded, Some(&api.admin.user_id))
        .await
        .unwrap();
    ids.insert(RECORDED_SECURITY_CASE.into(), seeded.id);

    let mut failures = Vec::new();
    for (n, interaction) in interactions.iter().enumerate() {
        let context = format!("{name} #{n} {} {}", interaction.method, interaction.path);
        // Datadog's user management is not part of casebridge; its casebridge equivalent is.
        if interaction.path.starts_with("/api/v2/users") {
            if interaction.method == "POST" {
                let email = interaction.body.as_ref().unwrap()["data"]["attributes"]["email"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let (status, body) = api
                    .send(
                        "POST",
                        "/api/v2/casebridge/users",
                        Some(json!({"data": {"type": "users", "attributes": {"email": email}}})),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{context}: {body}");
                map_ids(&interaction.response, &body, &mut ids);
            }
            continue;
        }
        let path = substitute(&interaction.path, &ids);
        let body = interaction
            .body
            .as_ref()
            .map(|b| serde_json::from_str(&substitute(&b.to_string(), &ids)).unwrap());
        let (status, served) = api.send(&interaction.method, &path, body).await;
        if status.as_u16() != interaction.status {
            failures.push(format!(
                "{context}: recorded status {}, served {status}: {served}",
                interaction.status
            ));
            continue;
        }
        if interaction.status >= 400 {
            error_matches(&interaction.response, &served, &mut failures, &context);
        } else if !interaction.response.is_null() {
            let mut diffs = Vec::new();
            covers(&interaction.response, &served, "", None, &mut diffs);
            failures.extend(diffs.into_iter().map(|d| format!("{context}: {d}")));
            map_ids(&interaction.response, &served, &mut ids);
        } else if !served.is_null() {
            failures.push(format!("{context}: recorded no body, served {served}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    api.db.cleanup().await;
}

macro_rules! recorded {
    ($($name:ident),* $(,)?) => {
        mod recorded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::replay(stringify!($name)).await;
                }
            )*
        }
    };
}

recorded!(
    test_archive_case_returns_bad_request_response,
    test_archive_case_returns_not_found_response,
    test_archive_case_returns_ok_response,
    test_assign_case_returns_bad_request_response,
    test_assign_case_returns_not_found_response,
    test_assign_case_returns_ok_response,
    test_attach_security_finding_to_a_case_returns_ok_response,
    test_attach_security_findings_to_a_case_returns_bad_request_response,
    test_attach_security_findings_to_a_case_returns_not_found_response,
    test_attach_security_findings_to_a_case_returns_ok_response,
    test_comment_case_returns_bad_request_response,
    test_comment_case_returns_not_found_response,
    test_comment_case_returns_ok_response,
    test_create_a_case_returns_bad_request_response,
    test_create_a_case_returns_created_response,
    test_create_a_case_returns_not_found_response,
    test_create_case_for_security_finding_returns_created_response,
    test_create_case_for_security_findings_returns_created_response,
    test_create_cases_for_security_findings_returns_bad_request_response,
    test_create_cases_for_security_findings_returns_created_response,
    test_create_cases_for_security_findings_returns_not_found_response,
    test_delete_case_comment_returns_bad_request_response,
    test_delete_case_comment_returns_no_content_response,
    test_delete_case_comment_returns_not_found_response,
    test_detach_security_findings_from_their_case_returns_bad_request_response,
    test_detach_security_findings_from_their_case_returns_no_content_response,
    test_detach_security_findings_from_their_case_returns_not_found_response,
    test_get_the_details_of_a_case_returns_not_found_response,
    test_get_the_details_of_a_case_returns_ok_response,
    test_unarchive_case_returns_bad_request_response,
    test_unarchive_case_returns_not_found_response,
    test_unarchive_case_returns_ok_response,
    test_unassign_case_returns_bad_request_response,
    test_unassign_case_returns_not_found_response,
    test_unassign_case_returns_ok_response,
    test_update_a_project_returns_bad_request_response,
    test_update_a_project_returns_not_found_response,
    test_update_a_project_returns_ok_response,
    test_update_case_attributes_returns_bad_request_response,
    test_update_case_attributes_returns_not_found_response,
    test_update_case_attributes_returns_ok_response,
    test_update_case_description_returns_bad_request_response,
    test_update_case_description_returns_not_found_response,
    test_update_case_description_returns_ok_response,
    test_update_case_priority_returns_bad_request_response,
    test_update_case_priority_returns_not_found_response,
    test_update_case_priority_returns_ok_response,
    test_update_case_status_returns_bad_request_response,
    test_update_case_status_returns_not_found_response,
    test_update_case_status_returns_ok_response,
    test_update_case_title_returns_bad_request_response,
    test_update_case_title_returns_not_found_response,
    test_update_case_title_returns_ok_response,
);

#[test]
fn every_vendored_cassette_is_replayed_or_explained() {
    // Cassettes are replayed by the API suites of their area; any of them counts.
    let source = [
        include_str!("api_cases.rs"),
        include_str!("api_findings.rs"),
    ]
    .concat();
    for entry in std::fs::read_dir(cassette_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".yaml") {
            assert!(
                source.contains(&format!("{stem},")) || source.contains(&format!("\"{stem}\"")),
                "cassette {stem} is neither replayed nor used"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SearchCases
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn search_pages_like_the_recorded_pagination() {
    let recorded = cassette("test_search_cases_returns_ok_response_with_pagination");
    let api = Api::new().await;
    let project = api.project("ET").await;
    for title in ["one", "two", "three", "still open"] {
        let case = api.case(&project, title).await;
        if title != "still open" {
            let (status, _) = api
                .send(
                    "POST",
                    &format!("/api/v2/cases/{}/status", case["id"].as_str().unwrap()),
                    Some(json!({"data": {"type": "case", "attributes": {"status": "CLOSED"}}})),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    for interaction in &recorded {
        let (status, body) = api.send("GET", &interaction.path, None).await;
        assert_eq!(status.as_u16(), interaction.status);
        assert_eq!(
            body["meta"], interaction.response["meta"],
            "{}",
            interaction.path
        );
        assert_eq!(
            body["data"].as_array().unwrap().len(),
            interaction.response["data"].as_array().unwrap().len()
        );
        for case in body["data"].as_array().unwrap() {
            assert_eq!(case["attributes"]["status"], "CLOSED");
            assert_eq!(case["attributes"]["status_group"], "SG_CLOSED");
            assert!(case["attributes"]["closed_at"].is_string());
        }
    }
    api.db.cleanup().await;
}

#[tokio::test]
async fn search_sorts_filters_and_refuses_bad_parameters() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    for (title, priority) in [("low", "P5"), ("high", "P1"), ("none", "NOT_DEFINED")] {
        let case = api.case(&project, title).await;
        api.send(
            "POST",
            &format!("/api/v2/cases/{}/priority", case["id"].as_str().unwrap()),
            Some(json!({"data": {"type": "case", "attributes": {"priority": priority}}})),
        )
        .await;
    }
    let (status, body) = api
        .send(
            "GET",
            "/api/v2/cases?sort[field]=priority&sort[asc]=true",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let titles: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attributes"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["high", "low", "none"]);
    let (_, body) = api
        .send("GET", "/api/v2/cases?filter=priority%3Ap1", None)
        .await;
    assert_eq!(body["meta"]["total_cases"], 1);
    for bad in [
        "/api/v2/cases?page[size]=0",
        "/api/v2/cases?page[size]=101",
        "/api/v2/cases?page[size]=ten",
        "/api/v2/cases?sort[field]=title",
        "/api/v2/cases?sort[asc]=maybe",
        "/api/v2/cases?filter=status:open%20OR%20status:closed",
        "/api/v2/cases?filter=status:done",
    ] {
        let (status, body) = api.send("GET", bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(error_of(&body)["detail"].as_str().unwrap().len() > 10);
    }
    api.db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Cases and timelines
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_case_is_found_by_key_and_keys_count_per_project() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let first = api.case(&project, "first").await;
    let second = api.case(&project, "second").await;
    assert_eq!(first["attributes"]["key"], "SEC-1");
    assert_eq!(second["attributes"]["key"], "SEC-2");
    assert_eq!(first["attributes"]["creation_source"], "MANUAL");
    assert_eq!(first["attributes"]["type"], "STANDARD");
    assert!(first["attributes"].get("modified_at").is_none());
    for path in ["/api/v2/cases/SEC-2", "/api/v2/cases/sec-2"] {
        let (status, body) = api.send("GET", path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["data"]["id"], second["id"]);
        assert_eq!(body["included"][0]["type"], "user");
    }
    let (status, body) = api.send("GET", "/api/v2/cases/SEC-3", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["code"], "resource_not_found");
    assert_eq!(error_of(&body)["title"], "case not found");
    let (status, _) = api.send("GET", "/api/v2/cases/not-a-case", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.db.cleanup().await;
}

#[tokio::test]
async fn every_update_lands_on_the_timeline_and_pages_from_zero() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let case = api.case(&project, "t").await;
    let id = case["id"].as_str().unwrap();
    let (_, user) = api
        .send(
            "POST",
            "/api/v2/casebridge/users",
            Some(json!({"data": {"type": "users", "attributes": {"handle": "dana", "name": "Dana"}}})),
        )
        .await;
    let user_id = user["data"]["id"].as_str().unwrap();
    let updates = [
        ("status", json!({"status_name": "In Progress"})),
        ("priority", json!({"priority": "P2"})),
        ("assign", json!({"assignee_id": user_id})),
        ("title", json!({"title": "new title"})),
        ("description", json!({"description": "why"})),
        ("attributes", json!({"attributes": {"env": ["prod"]}})),
        ("archive", json!(null)),
        ("unarchive", json!(null)),
        ("unassign", json!(null)),
    ];
    for (op, attributes) in updates {
        let mut data = json!({"type": "case"});
        if !attributes.is_null() {
            data["attributes"] = attributes;
        }
        let (status, body) = api
            .send(
                "POST",
                &format!("/api/v2/cases/{id}/{op}"),
                Some(json!({"data": data})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{op}: {body}");
    }
    let (status, comment) = api
        .send(
            "POST",
            &format!("/api/v2/cases/{id}/comment"),
            Some(json!({"data": {"type": "case", "attributes": {"comment": "looking"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(comment["data"][0]["attributes"]["type"], "COMMENT");
    assert_eq!(
        comment["data"][0]["attributes"]["author"]["content"]["handle"],
        "tester"
    );
    let (_, case_now) = api.send("GET", &format!("/api/v2/cases/{id}"), None).await;
    let attrs = &case_now["data"]["attributes"];
    assert_eq!(attrs["status"], "IN_PROGRESS");
    assert_eq!(attrs["status_name"], "In Progress");
    assert_eq!(attrs["priority"], "P2");
    assert_eq!(attrs["title"], "new title");
    assert_eq!(attrs["attributes"], json!({"env": ["prod"]}));
    assert_eq!(attrs["comment_count"], 1);
    assert!(case_now["data"]["relationships"].get("assignee").is_none());

    let (_, newest) = api
        .send(
            "GET",
            &format!("/api/v2/cases/{id}/timelines?page[size]=3"),
            None,
        )
        .await;
    let types: Vec<&str> = newest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attributes"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["COMMENT", "UNASSIGNED", "UNARCHIVED"]);
    let (_, oldest) = api
        .send(
            "GET",
            &format!(
                "/api/v2/cases/{id}/timelines?page[size]=3&page[number]=0&sort[ascending]=true"
            ),
            None,
        )
        .await;
    let types: Vec<&str> = oldest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attributes"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["CASE_CREATED", "STATUS_CHANGED", "PRIORITY_CHANGED"]
    );
    let (_, last_page) = api
        .send(
            "GET",
            &format!(
                "/api/v2/cases/{id}/timelines?page[size]=3&page[number]=3&sort[ascending]=true"
            ),
            None,
        )
        .await;
    assert_eq!(last_page["data"].as_array().unwrap().len(), 2);
    let (status, _) = api.send("GET", "/api/v2/cases/SEC-9/timelines", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.db.cleanup().await;
}

#[tokio::test]
async fn comments_are_updated_and_deleted_with_the_recorded_answers() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let case = api.case(&project, "t").await;
    let id = case["id"].as_str().unwrap();
    let (_, comment) = api
        .send(
            "POST",
            &format!("/api/v2/cases/{id}/comment"),
            Some(json!({"data": {"type": "case", "attributes": {"comment": "v1"}}})),
        )
        .await;
    let cell = comment["data"][0]["id"].as_str().unwrap();
    let (status, updated) = api
        .send(
            "PUT",
            &format!("/api/v2/cases/{id}/comment/{cell}"),
            Some(json!({"data": {"type": "case", "attributes": {"comment": "v2"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        updated["data"][0]["attributes"]["cell_content"]["message"],
        "v2"
    );
    let (status, body) = api
        .send(
            "PUT",
            &format!("/api/v2/cases/{id}/comment/not-an-uuid"),
            Some(json!({"data": {"type": "case", "attributes": {"comment": "v3"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body)["title"], "Invalid Parameter");
    // Events are not comments.
    let (_, timeline) = api
        .send(
            "GET",
            &format!("/api/v2/cases/{id}/timelines?sort[ascending]=true"),
            None,
        )
        .await;
    let created_cell = timeline["data"][0]["id"].as_str().unwrap();
    let (status, body) = api
        .send(
            "DELETE",
            &format!("/api/v2/cases/{id}/comment/{created_cell}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .send(
            "DELETE",
            &format!("/api/v2/cases/{id}/comment/{cell}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    let (status, body) = api
        .send(
            "PUT",
            &format!("/api/v2/cases/{id}/comment/{cell}"),
            Some(json!({"data": {"type": "case", "attributes": {"comment": "v3"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["title"], "timeline cell not found");
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v2/cases/{id}/comment"),
            Some(json!({"data": {"type": "case", "attributes": {"comment": "   "}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body)["detail"], "comment must not be empty");
    api.db.cleanup().await;
}

#[tokio::test]
async fn invalid_status_and_priority_use_the_recorded_generic_error() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let id = api.case(&project, "t").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v2/cases/{id}/status"),
            Some(json!({"data": {"type": "case", "attributes": {"status": "OPENED"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"errors": [{"status": "400", "title": "Generic Error",
            "detail": "invalid status OPENED. Must be one of NOT_STARTED, IN_PROGRESS, CLOSED, \
ACKNOWLEDGED, TRIGGERED, PENDING_APPROVAL, COMPLETED, CANCELLED, DECLINED, SUNKNOWN, OPEN, \
RESOLVED, APPROVED, IMPLEMENTING"}]})
    );
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v2/cases/{id}/status"),
            Some(json!({"data": {"type": "case", "attributes": {"status": "RESOLVED"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("not available for casebridge cases"));
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v2/cases/{id}/priority"),
            Some(json!({"data": {"type": "case", "attributes": {"priority": "P1234"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&body)["detail"],
        "invalid priority P1234. Must be one of P1, P2, P3, P4, P5, NOT_DEFINED"
    );
    api.db.cleanup().await;
}

#[tokio::test]
async fn unknown_projects_users_and_types_are_named() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let create = |project: &str, assignee: Option<(&str, &str)>, type_id: &str| {
        let mut data = json!({"type": "case",
            "attributes": {"title": "x", "type_id": type_id},
            "relationships": {"project": {"data": {"id": project, "type": "project"}}}});
        if let Some((id, kind)) = assignee {
            data["relationships"]["assignee"] = json!({"data": {"id": id, "type": kind}});
        }
        json!({ "data": data })
    };
    let standard = "00000000-0000-0000-0000-000000000001";
    let unknown = "721074c8-63df-4d8f-a43d-ab41dd24ec35";
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/cases",
            Some(create(unknown, None, standard)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["title"], "project not found");
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/cases",
            Some(create(&project, Some((unknown, "user")), standard)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["title"], "user not found");
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/cases",
            Some(create(&project, Some(("someone", "user")), standard)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/cases",
            Some(create(&project, None, unknown)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("unknown case type_id"));
    let case = api.case(&project, "t").await;
    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v2/cases/{}/assign", case["id"].as_str().unwrap()),
            Some(json!({"data": {"type": "case", "attributes": {"assignee_id": unknown}}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["code"], "resource_not_found");
    assert_eq!(error_of(&body)["title"], "user not found");
    api.db.cleanup().await;
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_named_400s() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let id = api.case(&project, "t").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v2/cases/{id}/title");
    let (status, body) = api
        .raw(
            Some(&api.admin),
            "POST",
            &path,
            Some(b"{\"data\": ".to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body)["detail"]
        .as_str()
        .unwrap()
        .starts_with("malformed JSON"));
    let (status, _) = api
        .raw(
            Some(&api.admin),
            "POST",
            &path,
            Some(b"title=x".to_vec()),
            "text/plain",
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = api
        .raw(
            Some(&api.admin),
            "POST",
            &path,
            Some(Vec::new()),
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let cases = [
        (
            json!({"data": {"type": "cases", "attributes": {"title": "x"}}}),
            "got type \"cases\" expected one of \"case\"",
        ),
        (
            json!({"data": {"attributes": {"title": "x"}}}),
            "data.type is required (expected \"case\")",
        ),
        (
            json!({"data": {"type": "case", "attributes": {"title": 5}}}),
            "error decoding data.attributes",
        ),
        (
            json!({"data": {"type": "case", "attributes": {}}}),
            "data.attributes.title is required",
        ),
        (
            json!({"data": {"type": "case", "attributes": {"title": ""}}}),
            "title must not be empty",
        ),
        (
            json!({"nodata": true}),
            "request body has no \"data\" member",
        ),
    ];
    for (request, detail) in cases {
        let (status, body) = api.send("POST", &path, Some(request.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}");
        assert!(
            error_of(&body)["detail"]
                .as_str()
                .unwrap()
                .starts_with(detail),
            "{request}: {body}"
        );
    }
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/cases",
            Some(
                json!({"data": {"type": "case", "attributes": {"title": "x"},
                "relationships": {"project": {"data": {"id": project, "type": "projects"}}}}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&body)["detail"],
        "got type \"projects\" expected one of \"project\""
    );
    let (status, body) = api.send("PATCH", "/api/v2/cases", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    api.db.cleanup().await;
}

#[tokio::test]
async fn scopes_guard_reads_writes_and_findings_operations() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let case = api.case(&project, "t").await;
    let id = case["id"].as_str().unwrap();
    let reader = api.key("cases_read").await;
    let writer = api.key("cases_write").await;
    let findings_reader = api.key("findings_read").await;
    let findings_writer = api.key("findings_write").await;

    let (status, _) = api.raw(None, "GET", "/api/v2/cases", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .send_as(&findings_reader, "GET", "/api/v2/cases", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .send_as(&reader, "GET", &format!("/api/v2/cases/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .send_as(&reader, "GET", "/api/v2/cases/projects", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let archive = json!({"data": {"type": "case"}});
    let (status, body) = api
        .send_as(
            &reader,
            "POST",
            &format!("/api/v2/cases/{id}/archive"),
            Some(archive.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error_of(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("cases_write"));
    let (status, _) = api
        .send_as(
            &writer,
            "POST",
            &format!("/api/v2/cases/{id}/archive"),
            Some(archive),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let detach =
        json!({"data": {"type": "cases", "relationships": {"findings": findings_rel(&["f"])}}});
    let (status, _) = api
        .send_as(
            &writer,
            "DELETE",
            "/api/v2/security/findings/cases",
            Some(detach.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .send_as(
            &findings_writer,
            "DELETE",
            "/api/v2/security/findings/cases",
            Some(detach),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "finding f does not exist");
    let user = json!({"data": {"type": "users", "attributes": {"handle": "x"}}});
    let (status, _) = api
        .send_as(&writer, "POST", "/api/v2/casebridge/users", Some(user))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "creating users is for admins"
    );
    api.db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Projects and users
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn projects_are_created_updated_with_integration_slots_and_deleted() {
    let api = Api::new().await;
    let id = api.project("SEC").await;
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/cases/projects",
            Some(
                json!({"data": {"type": "project", "attributes": {"key": "SEC", "name": "again"}}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for key in ["sec", "CASE", "S", "TOOLONGKEY1"] {
        let (status, body) = api
            .send(
                "POST",
                "/api/v2/cases/projects",
                Some(json!({"data": {"type": "project", "attributes": {"key": key, "name": "n"}}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}: {body}");
    }
    let patch = json!({"data": {"type": "project", "attributes": {
    "name": "Security",
    "settings": {
        "integration_jira": {"enabled": true, "metadata": {"project_id": "10001"}},
        "integration_case_management": {"site": "datadoghq.eu"},
        "notification": {"enabled": false},
    }}}});
    let (status, body) = api
        .send(
            "PATCH",
            &format!("/api/v2/cases/projects/{id}"),
            Some(patch),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let settings = &body["data"]["attributes"]["settings"];
    assert_eq!(
        settings["integration_jira"]["metadata"]["project_id"],
        "10001"
    );
    assert_eq!(
        settings["integration_case_management"]["site"],
        "datadoghq.eu"
    );
    assert_eq!(settings["notification"]["enabled"], false);
    assert_eq!(body["data"]["attributes"]["key"], "SEC");
    let clear = json!({"data": {"type": "project", "attributes": {
        "settings": {"integration_jira": null}}}});
    let (_, body) = api
        .send(
            "PATCH",
            &format!("/api/v2/cases/projects/{id}"),
            Some(clear),
        )
        .await;
    let settings = &body["data"]["attributes"]["settings"];
    assert!(settings.get("integration_jira").is_none());
    assert!(
        settings.get("integration_case_management").is_some(),
        "other slots stay"
    );
    let bad_slot = json!({"data": {"type": "project", "attributes": {
        "settings": {"integration_service_now": "on"}}}});
    let (status, _) = api
        .send(
            "PATCH",
            &format!("/api/v2/cases/projects/{id}"),
            Some(bad_slot),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api
        .send("GET", &format!("/api/v2/cases/projects/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["attributes"]["name"], "Security");
    let (_, list) = api.send("GET", "/api/v2/cases/projects", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (status, body) = api
        .send("DELETE", &format!("/api/v2/cases/projects/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    let (status, body) = api
        .send("DELETE", &format!("/api/v2/cases/projects/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["code"], "resource_not_found");
    let (status, _) = api.send("GET", "/api/v2/cases/projects/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.db.cleanup().await;
}

#[tokio::test]
async fn admins_create_users_that_cases_can_be_assigned_to() {
    let api = Api::new().await;
    let user = json!({"data": {"type": "users", "attributes": {"email": "eve@example.com"}}});
    let (status, body) = api
        .send("POST", "/api/v2/casebridge/users", Some(user.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["data"]["attributes"]["handle"], "eve@example.com");
    let (status, _) = api
        .send("POST", "/api/v2/casebridge/users", Some(user))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api
        .send(
            "POST",
            "/api/v2/casebridge/users",
            Some(json!({"data": {"type": "users", "attributes": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, list) = api.send("GET", "/api/v2/casebridge/users", None).await;
    let handles: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["eve@example.com", "tester"]);
    api.db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Findings ↔ cases
// ---------------------------------------------------------------------------------------------

fn create_cases_item(project: &str, findings: &[&str]) -> Value {
    json!({"type": "cases", "attributes": {},
        "relationships": {"findings": findings_rel(findings),
                          "project": {"data": {"id": project, "type": "projects"}}}})
}

#[tokio::test]
async fn create_cases_limits_are_fifty_cases_and_fifty_findings() {
    let api = Api::new().await;
    let project = api.project("SEC").await;
    let many_items: Vec<Value> = (0..51)
        .map(|_| create_cases_item(&project, &["f"]))
        .collect();
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": many_items})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("at most 50 per request"));
    let ids: Vec<String> = (0..51).map(|i| format!("f{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&project, &refs)]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("at most 50 per case"));
    let attach =
        json!({"data": {"type": "cases", "relationships": {"findings": findings_rel(&refs)}}});
    let (status, _) = api
        .send(
            "PATCH",
            "/api/v2/security/findings/cases/SEC-1",
            Some(attach),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let detach =
        json!({"data": {"type": "cases", "relationships": {"findings": findings_rel(&refs)}}});
    let (status, _) = api
        .send("DELETE", "/api/v2/security/findings/cases", Some(detach))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Exactly fifty findings is fine.
    for id in &refs[..50] {
        api.finding(id).await;
    }
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&project, &refs[..50])]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["data"][0]["attributes"]["insights"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    assert_eq!(
        body["data"][0]["attributes"]["title"],
        "Finding f0 and 49 other findings"
    );
    api.db.cleanup().await;
}

#[tokio::test]
async fn create_cases_moves_findings_within_a_project_and_is_atomic() {
    let api = Api::new().await;
    let sec = api.project("SEC").await;
    let ops = api.project("OPS").await;
    api.finding("f1").await;
    api.finding("f2").await;
    let (status, first) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&sec, &["f1", "f2"]), create_cases_item(&ops, &["f1"])]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_case = first["data"][0].clone();
    assert_eq!(first_case["type"], "cases");
    assert_eq!(
        first_case["attributes"]["creation_source"],
        "CS_SECURITY_FINDING"
    );
    assert_eq!(first_case["attributes"]["type"], "SECURITY");
    assert_eq!(
        first_case["relationships"]["project"]["data"]["type"],
        "projects"
    );
    assert_eq!(
        first_case["relationships"]["created_by"]["data"]["type"],
        "users"
    );
    assert_eq!(first["data"][1]["attributes"]["key"], "OPS-1");

    // f1 moves from SEC-1 to a new SEC case; the OPS case keeps it.
    let (status, second) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&sec, &["f1"])]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(second["data"][0]["attributes"]["key"], "SEC-2");
    let (_, sec1) = api.send("GET", "/api/v2/cases/SEC-1", None).await;
    let insights: Vec<&str> = sec1["data"]["attributes"]["insights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(insights, ["f2"]);
    let (_, timeline) = api.send("GET", "/api/v2/cases/SEC-1/timelines", None).await;
    let moved = &timeline["data"][0]["attributes"];
    assert_eq!(moved["type"], "FINDINGS_MOVED_OUT");
    assert_eq!(moved["cell_content"]["to_case_key"], "SEC-2");
    let integrations = api
        .store()
        .finding_integrations(&["f1".to_string()])
        .await
        .unwrap();
    let mut keys: Vec<&str> = integrations["f1"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["OPS-1", "SEC-2"]);

    // One unknown finding in a batch: nothing is created.
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&sec, &["f2"]), create_cases_item(&sec, &["ghost"])]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["detail"], "finding not found");
    let (_, all) = api
        .send("GET", "/api/v2/cases?filter=project:SEC", None)
        .await;
    assert_eq!(all["meta"]["total_cases"], 2);
    // The same finding twice in one project in one request is refused.
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&sec, &["f2"]), create_cases_item(&sec, &["f2"])]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    api.db.cleanup().await;
}

#[tokio::test]
async fn attach_and_detach_work_by_key_and_with_a_body_on_delete() {
    let api = Api::new().await;
    let sec = api.project("SEC").await;
    api.finding("f1").await;
    let case = api.case(&sec, "manual").await;
    let attach = json!({"data": {"id": "SEC-1", "type": "cases",
        "relationships": {"findings": findings_rel(&["f1"])}}});
    let (status, body) = api
        .send(
            "PATCH",
            "/api/v2/security/findings/cases/SEC-1",
            Some(attach),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], case["id"]);
    assert_eq!(
        body["data"]["attributes"]["insights"][0]["resource_id"],
        "f1"
    );
    assert_eq!(
        body["data"]["attributes"]["insights"][0]["ref"],
        "/security/finding/f1"
    );
    assert!(body["data"]["relationships"]["modified_by"].is_object());
    let mismatched = json!({"data": {"id": "other", "type": "cases",
        "relationships": {"findings": findings_rel(&["f1"])}}});
    let (status, _) = api
        .send(
            "PATCH",
            "/api/v2/security/findings/cases/SEC-1",
            Some(mismatched),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unknown =
        json!({"data": {"type": "cases", "relationships": {"findings": findings_rel(&["nope"])}}});
    let (status, body) = api
        .send(
            "PATCH",
            "/api/v2/security/findings/cases/SEC-1",
            Some(unknown),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["detail"], "finding not found");

    let detach =
        json!({"data": {"type": "cases", "relationships": {"findings": findings_rel(&["f1"])}}});
    let (status, body) = api
        .send(
            "DELETE",
            "/api/v2/security/findings/cases",
            Some(detach.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    assert!(api.store().cases_of_finding("f1").await.unwrap().is_empty());
    // Detaching again is fine (the finding has no case).
    let (status, _) = api
        .send("DELETE", "/api/v2/security/findings/cases", Some(detach))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .raw(
            Some(&api.admin),
            "DELETE",
            "/api/v2/security/findings/cases",
            None,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "DELETE without its body");
    api.db.cleanup().await;
}

#[tokio::test]
async fn deleting_a_project_over_http_leaves_findings_unlinked() {
    let api = Api::new().await;
    let sec = api.project("SEC").await;
    api.finding("f1").await;
    let (status, _) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&sec, &["f1"])]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api
        .send("DELETE", &format!("/api/v2/cases/projects/{sec}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(api.store().cases_of_finding("f1").await.unwrap().is_empty());
    let (status, _) = api.send("GET", "/api/v2/cases/SEC-1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api
        .send(
            "POST",
            "/api/v2/security/findings/cases",
            Some(json!({"data": [create_cases_item(&sec, &["f1"])]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["detail"], "project not found");
    let recreated = api.project("SEC").await;
    let case = api.case(&recreated, "again").await;
    assert_eq!(
        case["attributes"]["key"], "SEC-2",
        "numbering continues for the key"
    );
    api.db.cleanup().await;
}

#[tokio::test]
async fn case_project_also_accepts_projects_found_by_the_store() {
    // A project created through the store (e.g. by a later CLI) is served like any other.
    let api = Api::new().await;
    let project = api
        .store()
        .create_project(&NewProject::new("Ops", "OPS").unwrap(), None)
        .await
        .unwrap();
    let case = api.case(&project.id, "x").await;
    assert_eq!(case["attributes"]["key"], "OPS-1");
    assert_eq!(
        case["relationships"]["project"]["data"]["id"],
        json!(project.id)
    );
    api.db.cleanup().await;
}
