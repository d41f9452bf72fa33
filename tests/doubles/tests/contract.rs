//! The Jira OpenAPI request validator, against Atlassian's official spec, and the Jira double's
//! use of it on every v3 request.

mod support;

use casebridge_doubles::jira_contract::{ContractViolation, JiraContract};
use serde_json::{json, Value};
use support::{adf, jira, JiraClient};

fn contract() -> std::sync::Arc<JiraContract> {
    JiraContract::official().unwrap()
}

fn body_paths(violations: &[ContractViolation]) -> Vec<String> {
    violations.iter().map(|v| v.json_path.clone()).collect()
}

#[test]
fn literal_segments_win_over_templated_ones() {
    let c = contract();
    assert_eq!(
        c.match_path("/rest/api/3/issue/bulk").unwrap().0,
        "/rest/api/3/issue/bulk"
    );
    let (template, params) = c.match_path("/rest/api/3/issue/SEC-1/transitions").unwrap();
    assert_eq!(template, "/rest/api/3/issue/{issueIdOrKey}/transitions");
    assert_eq!(params["issueIdOrKey"], "SEC-1");
    assert!(c.match_path("/rest/api/3/nonsense/path").is_none());
}

#[test]
fn a_well_formed_create_issue_has_no_violations() {
    let body = json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x", "description": adf("d"), "labels": ["a"]},
                      "update": {"labels": [{"add": "b"}]}, "properties": [{"key": "casebridge", "value": {"caseId": "c"}}]});
    let v = contract().validate_json(
        "POST",
        "/rest/api/3/issue",
        "updateHistory=false",
        Some(&body),
    );
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn create_issue_with_fields_as_an_array_is_a_violation_at_dollar_fields() {
    let v = contract().validate_json(
        "POST",
        "/rest/api/3/issue",
        "",
        Some(&json!({"fields": []})),
    );
    assert_eq!(body_paths(&v), vec!["$.fields"]);
    assert_eq!(v[0].operation_id.as_deref(), Some("createIssue"));
    assert_eq!(v[0].message, "expected object, got array");
    let v = contract().validate_json(
        "POST",
        "/rest/api/3/issue",
        "",
        Some(&json!({"update": {"labels": [{"append": "x"}]}})),
    );
    assert_eq!(
        body_paths(&v),
        vec!["$.update.labels[0].append"],
        "FieldUpdateOperation allows no extra keys"
    );
    let v = contract().validate_json("POST", "/rest/api/3/issue", "", None);
    assert_eq!(v[0].message, "a request body is required");
}

#[test]
fn do_transition_without_transition_passes_because_the_spec_does_not_require_it() {
    // IssueUpdateDetails (the doTransition body) declares no required properties; `transition`
    // is only "required when performing a transition" in prose. The double itself answers 400.
    let v = contract().validate_json(
        "POST",
        "/rest/api/3/issue/SEC-1/transitions",
        "",
        Some(&json!({})),
    );
    assert!(v.is_empty(), "{v:?}");
    let v = contract().validate_json(
        "POST",
        "/rest/api/3/issue/SEC-1/transitions",
        "",
        Some(&json!({"transition": {"id": 21}})),
    );
    assert_eq!(
        body_paths(&v),
        vec!["$.transition.id"],
        "ids are strings in the spec"
    );
    let v = contract().validate_json(
        "POST",
        "/rest/api/3/issue/SEC-1/transitions",
        "",
        Some(&json!({"transition": {"id": "21", "name": "Done"}})),
    );
    assert_eq!(
        body_paths(&v),
        vec!["$.transition.name"],
        "name is read-only"
    );
}

#[test]
fn assign_follows_the_user_schema_with_the_documented_null_erratum() {
    let c = contract();
    let path = "/rest/api/3/issue/SEC-1/assignee";
    assert!(c
        .validate_json("PUT", path, "", Some(&json!({"accountId": "abc"})))
        .is_empty());
    assert!(
        c.validate_json("PUT", path, "", Some(&json!({"accountId": null})))
            .is_empty(),
        "the operation's description allows null"
    );
    let v = c.validate_json(
        "PUT",
        path,
        "",
        Some(&json!({"accountId": "abc", "team": "x"})),
    );
    assert_eq!(body_paths(&v), vec!["$.team"]);
    let v = c.validate_json("PUT", path, "", Some(&json!({"accountId": 42})));
    assert_eq!(v[0].message, "expected string, got integer");
    let v = c.validate_json(
        "PUT",
        path,
        "",
        Some(&json!({"accountId": "abc", "displayName": "Me"})),
    );
    assert_eq!(
        v[0].message,
        "read-only property must not be sent in a request"
    );
}

#[test]
fn read_only_comment_fields_and_search_extras_are_flagged() {
    let c = contract();
    let v = c.validate_json(
        "POST",
        "/rest/api/3/issue/SEC-1/comment",
        "",
        Some(&json!({"body": adf("x"), "author": {"accountId": "a"}, "id": "1"})),
    );
    let mut paths = body_paths(&v);
    paths.sort();
    assert_eq!(paths, vec!["$.author", "$.id"]);
    let v = c.validate_json(
        "POST",
        "/rest/api/3/search/jql",
        "",
        Some(&json!({"jql": "project = SEC", "startAt": 50})),
    );
    assert_eq!(
        body_paths(&v),
        vec!["$.startAt"],
        "search/jql pages with nextPageToken, not startAt"
    );
}

#[test]
fn query_parameters_methods_and_deprecated_operations_are_checked() {
    let c = contract();
    let v = c.validate("GET", "/rest/api/3/issuetype/project", "", None, b"");
    assert_eq!(v[0].location, "query");
    assert_eq!(v[0].json_path, "projectId");
    let v = c.validate(
        "GET",
        "/rest/api/3/search/jql",
        "jql=project%3DSEC&maxResults=lots&startAt=0",
        None,
        b"",
    );
    let mut found: Vec<(String, String)> = v
        .iter()
        .map(|x| (x.location.clone(), x.json_path.clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("query".to_string(), "maxResults".to_string()),
            ("query".to_string(), "startAt".to_string())
        ]
    );
    let v = c.validate("PATCH", "/rest/api/3/issue/SEC-1", "", None, b"");
    assert_eq!(v[0].location, "method");
    let v = c.validate("GET", "/rest/api/3/search", "jql=x", None, b"");
    assert_eq!(v[0].location, "operation");
    assert!(v[0].message.contains("deprecated"));
    let v = c.validate(
        "POST",
        "/rest/api/3/issue/SEC-1/attachments",
        "",
        Some("application/json"),
        b"{}",
    );
    assert_eq!(v[0].location, "content-type");
    assert!(c
        .validate(
            "POST",
            "/rest/api/3/issue/SEC-1/attachments",
            "",
            Some("multipart/form-data; boundary=x"),
            b"--x--"
        )
        .is_empty());
    let v = c.validate(
        "GET",
        "/rest/api/3/issue/SEC-1",
        "fields=summary,status&expand=changelog",
        None,
        b"",
    );
    assert!(v.is_empty(), "{v:?}");
}

#[tokio::test]
async fn the_double_records_violations_of_each_v3_request_it_receives() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    c.post("/rest/api/3/issue", json!({"fields": []}))
        .send()
        .await
        .unwrap();
    c.post(
        "/rest/api/3/search/jql",
        json!({"jql": "project = SEC", "startAt": 0}),
    )
    .send()
    .await
    .unwrap();
    c.get("/rest/api/2/issue/SEC-1?bogus=1")
        .send()
        .await
        .unwrap();
    let violations = double.contract_violations();
    let paths: Vec<(u64, String)> = violations
        .iter()
        .map(|v| (v.request_seq, v.violation.json_path.clone()))
        .collect();
    assert_eq!(
        paths,
        vec![(1, "$.fields".to_string()), (2, "$.startAt".to_string())],
        "v2 requests are not checked against the v3 spec"
    );
    let over_http: Value = c
        .http
        .get(c.url("/_double/contract-violations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http["count"], 2);
    assert_eq!(over_http["violations"][0]["operation_id"], "createIssue");
}

#[tokio::test]
async fn a_typical_connector_conversation_has_zero_contract_violations() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("clean").await;
    c.get(&format!(
        "/rest/api/3/issue/{key}?fields=summary,status,updated&expand=changelog"
    ))
    .send()
    .await
    .unwrap();
    c.put(
        &format!("/rest/api/3/issue/{key}"),
        json!({"fields": {"summary": "clean 2"}, "update": {"labels": [{"add": "x"}]}}),
    )
    .send()
    .await
    .unwrap();
    c.get(&format!("/rest/api/3/issue/{key}/transitions"))
        .send()
        .await
        .unwrap();
    c.post(
        &format!("/rest/api/3/issue/{key}/transitions"),
        json!({"transition": {"id": "11"}}),
    )
    .send()
    .await
    .unwrap();
    c.post(
        &format!("/rest/api/3/issue/{key}/comment"),
        json!({"body": adf("note")}),
    )
    .send()
    .await
    .unwrap();
    c.get(&format!(
        "/rest/api/3/issue/{key}/comment?startAt=0&maxResults=50"
    ))
    .send()
    .await
    .unwrap();
    c.put(
        &format!("/rest/api/3/issue/{key}/assignee"),
        json!({"accountId": null}),
    )
    .send()
    .await
    .unwrap();
    c.put(
        &format!("/rest/api/3/issue/{key}/properties/casebridge"),
        json!({"caseId": "c"}),
    )
    .send()
    .await
    .unwrap();
    c.post("/rest/api/3/search/jql", json!({"jql": "project = SEC AND updated >= -1d ORDER BY updated ASC", "maxResults": 50, "fields": ["summary", "status"]})).send().await.unwrap();
    c.get("/rest/api/3/search/jql?jql=project%20%3D%20SEC&fields=summary&maxResults=10")
        .send()
        .await
        .unwrap();
    c.get(&format!(
        "/rest/api/3/issue/{key}/changelog?startAt=0&maxResults=100"
    ))
    .send()
    .await
    .unwrap();
    c.get("/rest/api/3/myself").send().await.unwrap();
    c.get("/rest/api/3/serverInfo").send().await.unwrap();
    c.get("/rest/api/3/issue/createmeta/SEC/issuetypes")
        .send()
        .await
        .unwrap();
    c.post("/rest/api/3/issue/bulk", json!({"issueUpdates": [{"fields": {"project": {"key": "SEC"}, "issuetype": {"id": "10001"}, "summary": "bulk"}}]})).send().await.unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.txt"),
    );
    c.http
        .post(c.url(&format!("/rest/api/3/issue/{key}/attachments")))
        .basic_auth(&c.email, Some(&c.token))
        .header("X-Atlassian-Token", "no-check")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(double.requests().len(), 17);
    assert!(
        double.contract_violations().is_empty(),
        "{:?}",
        double.contract_violations()
    );
}
