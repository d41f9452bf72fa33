//! Jira double: REST behaviour of the issue operations on v3 (Cloud) and v2 (Data Center).

mod support;

use casebridge_doubles::jira::model::{StatusCategory, StatusDef, TransitionDef, Workflow};
use serde_json::{json, Value};
use support::{adf, jira, JiraClient};

#[tokio::test]
async fn creating_an_issue_returns_201_with_id_key_and_self() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let response = c
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"id": "10002"}, "summary": "Leaked key"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["key"], "SEC-1");
    assert!(body["id"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(
        body["self"],
        format!(
            "{}/rest/api/3/issue/{}",
            double.base_url(),
            body["id"].as_str().unwrap()
        )
    );
    let second = c.create("second").await;
    assert_eq!(second, "SEC-2");
    let issue = double.issue("SEC-1").unwrap();
    assert_eq!(issue.status_id, "10000");
    assert_eq!(
        issue.reporter.as_deref(),
        Some(double.credentials().account_id.as_str())
    );
}

#[tokio::test]
async fn create_reports_each_bad_field_the_way_jira_does() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let r = c
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"errorMessages": [], "errors": {"project": "Specify a valid project ID or key"}})
    );

    let r = c
        .post(
            "/rest/api/3/issue",
            json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Epic"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["issuetype"],
        "The issue type selected is invalid."
    );
    assert_eq!(
        body["errors"]["summary"],
        "You must specify a summary of the issue."
    );
    assert_eq!(body["errorMessages"], json!([]));

    let r = c
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x", "votes": 3, "labels": ["has space"]}}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["votes"],
        "Field 'votes' cannot be set. It is not on the appropriate screen, or unknown."
    );
    assert_eq!(
        body["errors"]["labels"],
        "The label 'has space' contains spaces which is invalid."
    );

    let r = c
        .post("/rest/api/3/issue", json!({"fields": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["errorMessages"][0]
        .as_str()
        .unwrap()
        .contains("START_ARRAY"));

    let r = c
        .http
        .post(c.url("/rest/api/3/issue"))
        .basic_auth(&c.email, Some(&c.token))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        double.issues().is_empty(),
        "refused creates must not leave issues behind"
    );
}

#[tokio::test]
async fn v3_rejects_descriptions_and_comments_that_are_not_adf() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let r = c
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x", "description": "plain text"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["description"],
        "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    );
    let broken = json!({"type": "doc", "version": 1, "content": [{"type": "text", "text": "text cannot be a top-level block"}]});
    let r = c
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x", "description": broken}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers()["x-casebridge-double-detail"]
        .to_str()
        .unwrap()
        .contains("content[0]"));

    let key = c.create("ok").await;
    let r = c
        .post(
            &format!("/rest/api/3/issue/{key}/comment"),
            json!({"body": "plain"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["comment"],
        "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    );
    let r = c
        .post(&format!("/rest/api/3/issue/{key}/comment"), json!({}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"]["comment"], "Comment body can not be empty!");
    assert!(double.issue(&key).unwrap().comments.is_empty());
}

#[tokio::test]
async fn data_center_v2_takes_wiki_strings_and_rejects_adf_objects() {
    let double = jira().await;
    let creds = double.credentials();
    let pat = creds.dc_personal_access_token.unwrap();
    let http = support::client();
    let base = double.base_url();
    let r = http
        .post(format!("{base}/rest/api/2/issue"))
        .bearer_auth(&pat)
        .json(&json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Bug"}, "summary": "dc", "description": adf("no")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["description"],
        "Operation value must be a string"
    );

    let r = http
        .post(format!("{base}/rest/api/2/issue"))
        .bearer_auth(&pat)
        .json(&json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Bug"}, "summary": "dc", "description": "h1. Finding\n*bold* text", "assignee": {"name": "alice"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();

    let v2: Value = http
        .get(format!("{base}/rest/api/2/issue/{key}"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v2["fields"]["description"], "h1. Finding\n*bold* text");
    assert_eq!(v2["fields"]["assignee"]["name"], "alice");
    assert!(v2["fields"]["assignee"].get("accountId").is_none());
    assert_eq!(v2["fields"]["reporter"]["name"], "svc-casebridge");

    let c = JiraClient::cloud(&double);
    let v3: Value = c
        .get(&format!("/rest/api/3/issue/{key}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v3["fields"]["description"]["type"], "doc");
    assert_eq!(v3["fields"]["assignee"]["accountId"], support_alice());

    let r = http
        .post(format!("{base}/rest/api/2/issue/{key}/comment"))
        .bearer_auth(&pat)
        .json(&json!({"body": adf("adf on v2")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{base}/rest/api/2/issue/{key}/comment"))
        .bearer_auth(&pat)
        .json(&json!({"body": "wiki comment"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let comment: Value = r.json().await.unwrap();
    assert_eq!(comment["body"], "wiki comment");
    assert_eq!(comment["author"]["name"], "svc-casebridge");
}

fn support_alice() -> &'static str {
    casebridge_doubles::jira::model::seed_ids::ALICE_ACCOUNT_ID
}

#[tokio::test]
async fn get_issue_honours_fields_expand_and_properties() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("fields test").await;
    c.put(
        &format!("/rest/api/3/issue/{key}/properties/casebridge"),
        json!({"caseId": "c-9"}),
    )
    .send()
    .await
    .unwrap();
    let body: Value = c
        .get(&format!("/rest/api/3/issue/{key}?fields=summary,status&expand=changelog,transitions,names&properties=casebridge"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fields = body["fields"].as_object().unwrap();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(fields["summary"], "fields test");
    assert_eq!(body["key"], key);
    assert!(body["changelog"]["histories"].is_array());
    assert_eq!(body["transitions"][0]["name"], "Start Progress");
    assert_eq!(body["names"]["summary"], "Summary");
    assert_eq!(body["properties"]["casebridge"]["caseId"], "c-9");

    let all: Value = c
        .get(&format!("/rest/api/3/issue/{key}?fields=*all,-comment"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all["fields"].get("comment").is_none());
    assert!(all["fields"].get("labels").is_some());
    assert!(all["fields"]["created"]
        .as_str()
        .unwrap()
        .ends_with("+0000"));
}

#[tokio::test]
async fn a_missing_issue_is_404_with_jiras_message() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    for path in [
        "/rest/api/3/issue/SEC-99",
        "/rest/api/3/issue/SEC-99/transitions",
        "/rest/api/3/issue/SEC-99/comment",
    ] {
        let r = c.get(path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
        );
    }
}

#[tokio::test]
async fn editing_returns_204_and_records_changelog_items() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("before").await;
    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}"),
            json!({"fields": {"summary": "after", "priority": {"name": "High"}, "customfield_10050": {"value": "red"}},
                   "update": {"labels": [{"add": "triaged"}, {"remove": "casebridge"}]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let issue = double.issue(&key).unwrap();
    assert_eq!(issue.summary, "after");
    assert_eq!(issue.labels, vec!["triaged".to_string()]);
    assert_eq!(
        issue.custom_fields["customfield_10050"],
        json!({"value": "red"})
    );
    let items: Vec<String> = issue
        .changelog
        .last()
        .unwrap()
        .items
        .iter()
        .map(|i| i.field.clone())
        .collect();
    for field in ["summary", "priority", "customfield_10050", "labels"] {
        assert!(items.contains(&field.to_string()), "{items:?}");
    }
    assert!(issue.updated_ms >= issue.created_ms);

    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}?returnIssue=true"),
            json!({"fields": {"summary": "again"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["fields"]["summary"],
        "again"
    );

    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}"),
            json!({"fields": {"status": {"id": "10001"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["status"],
        "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."
    );
    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}"),
            json!({"fields": {"summary": "a"}, "update": {"summary": [{"set": "b"}]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(double.issue(&key).unwrap().summary, "again");
}

#[tokio::test]
async fn transitions_offer_only_what_the_current_status_allows() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("flow").await;
    let body: Value = c
        .get(&format!("/rest/api/3/issue/{key}/transitions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let transitions = body["transitions"].as_array().unwrap();
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0]["id"], "11");
    assert_eq!(transitions[0]["to"]["name"], "In Progress");
    assert_eq!(
        transitions[0]["to"]["statusCategory"]["key"],
        "indeterminate"
    );

    let r = c
        .post(
            &format!("/rest/api/3/issue/{key}/transitions"),
            json!({"transition": {"id": "21"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errorMessages"][0],
        "Transition id '21' is not valid for this issue."
    );
    assert_eq!(double.issue(&key).unwrap().status_id, "10000");

    let r = c
        .post(&format!("/rest/api/3/issue/{key}/transitions"), json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    for id in ["11", "21"] {
        let r = c
            .post(
                &format!("/rest/api/3/issue/{key}/transitions"),
                json!({"transition": {"id": id}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let issue = double.issue(&key).unwrap();
    assert_eq!(issue.status_id, "10001");
    assert_eq!(issue.resolution.as_ref().unwrap().name, "Done");
    assert_eq!(issue.transitions_applied.len(), 2);
    let status_item = issue
        .changelog
        .last()
        .unwrap()
        .items
        .iter()
        .find(|i| i.field == "status")
        .unwrap()
        .clone();
    assert_eq!(status_item.from_string.as_deref(), Some("In Progress"));
    assert_eq!(status_item.to_string.as_deref(), Some("Done"));

    let r = c
        .post(&format!("/rest/api/3/issue/{key}/transitions"), json!({"transition": {"id": "31"}, "update": {"comment": [{"add": {"body": adf("reopening")}}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let issue = double.issue(&key).unwrap();
    assert_eq!(issue.status_id, "10000");
    assert!(issue.resolution.is_none());
    assert_eq!(issue.comments.len(), 1);
}

#[tokio::test]
async fn a_configured_workflow_can_leave_a_status_unreachable() {
    let double = jira().await;
    let status = |id: &str, name: &str, category| StatusDef {
        id: id.into(),
        name: name.into(),
        category,
    };
    let workflow = Workflow {
        statuses: vec![
            status("1", "Open", StatusCategory::New),
            status("2", "Triaged", StatusCategory::Indeterminate),
            status("3", "Closed", StatusCategory::Done),
        ],
        transitions: vec![
            TransitionDef {
                id: "100".into(),
                name: "Triage".into(),
                from: vec!["1".into()],
                to: "2".into(),
            },
            TransitionDef {
                id: "200".into(),
                name: "Close".into(),
                from: vec![],
                to: "3".into(),
            },
        ],
        initial_status: "1".into(),
    };
    double.set_workflow("SEC", workflow).unwrap();
    let c = JiraClient::cloud(&double);
    let key = c.create("wf").await;
    let r = c
        .post(
            &format!("/rest/api/3/issue/{key}/transitions"),
            json!({"transition": {"id": "200"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let body: Value = c
        .get(&format!("/rest/api/3/issue/{key}/transitions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["transitions"],
        json!([]),
        "Closed has no way out, so Open and Triaged are unreachable from it"
    );
    let r = c
        .post(
            &format!("/rest/api/3/issue/{key}/transitions"),
            json!({"transition": {"id": "100"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let bad = Workflow {
        initial_status: "9".into(),
        ..Workflow::default_software()
    };
    assert!(double.set_workflow("SEC", bad).is_err());
}

#[tokio::test]
async fn comments_are_created_listed_edited_and_deleted() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("talk").await;
    let r = c
        .post(
            &format!("/rest/api/3/issue/{key}/comment"),
            json!({"body": adf("first")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let comment: Value = r.json().await.unwrap();
    assert_eq!(
        comment["author"]["accountId"],
        double.credentials().account_id
    );
    assert_eq!(comment["body"], adf("first"));
    let id = comment["id"].as_str().unwrap().to_string();
    c.post(
        &format!("/rest/api/3/issue/{key}/comment"),
        json!({"body": adf("second")}),
    )
    .send()
    .await
    .unwrap();
    let list: Value = c
        .get(&format!("/rest/api/3/issue/{key}/comment?orderBy=-created"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["comments"][0]["body"], adf("second"));
    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}/comment/{id}"),
            json!({"body": adf("edited")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["body"], adf("edited"));
    let r = c
        .delete(&format!("/rest/api/3/issue/{key}/comment/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(double.issue(&key).unwrap().comments.len(), 1);
    let r = c
        .get(&format!("/rest/api/3/issue/{key}/comment/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn assignment_uses_account_id_on_v3_name_on_v2_and_null_unassigns() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("assign").await;
    let alice = support_alice();
    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}/assignee"),
            json!({"accountId": alice}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(double.issue(&key).unwrap().assignee.as_deref(), Some(alice));

    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}/assignee"),
            json!({"accountId": "no-such-account"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["assignee"],
        "User 'no-such-account' does not exist."
    );
    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}/assignee"),
            json!({"name": "bob"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "v3 identifies users by accountId");

    let r = c
        .put(
            &format!("/rest/api/3/issue/{key}/assignee"),
            json!({"accountId": null}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(double.issue(&key).unwrap().assignee, None);

    let pat = double.credentials().dc_personal_access_token.unwrap();
    let r = c
        .http
        .put(c.url(&format!("/rest/api/2/issue/{key}/assignee")))
        .bearer_auth(&pat)
        .json(&json!({"name": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let issue = double.issue(&key).unwrap();
    assert_eq!(
        issue.assignee.as_deref(),
        Some(casebridge_doubles::jira::model::seed_ids::BOB_ACCOUNT_ID)
    );
    let item = issue.changelog.last().unwrap().items[0].clone();
    assert_eq!(item.field, "assignee");
    assert_eq!(item.to_string.as_deref(), Some("Bob Builder"));
    let r = c
        .http
        .put(c.url(&format!("/rest/api/2/issue/{key}/assignee")))
        .bearer_auth(&pat)
        .json(&json!({"name": "nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn bulk_create_reports_partial_success_as_201_and_total_failure_as_400() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let good = json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "ok"}});
    let bad = json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Nope"}, "summary": "no"}});
    let r = c
        .post(
            "/rest/api/3/issue/bulk",
            json!({"issueUpdates": [good, bad.clone()]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["issues"].as_array().unwrap().len(), 1);
    assert_eq!(body["errors"][0]["failedElementNumber"], 1);
    assert_eq!(body["errors"][0]["status"], 400);
    assert_eq!(
        body["errors"][0]["elementErrors"]["errors"]["issuetype"],
        "The issue type selected is invalid."
    );
    let r = c
        .post("/rest/api/3/issue/bulk", json!({"issueUpdates": [bad]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let too_many: Vec<Value> = (0..51).map(|_| json!({"fields": {}})).collect();
    let r = c
        .post("/rest/api/3/issue/bulk", json!({"issueUpdates": too_many}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(double.issues().len(), 1);
}

#[tokio::test]
async fn deleting_a_project_or_issue_type_makes_creates_fail_as_configuration_errors() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    c.create("before").await;
    assert!(double.delete_issue_type("SEC", "Task"));
    let r = c
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"]["issuetype"],
        "The issue type selected is invalid."
    );
    assert!(double.delete_project("SEC"));
    let r = c
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Bug"}, "summary": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"]["project"],
        "Specify a valid project ID or key"
    );
    double.reset();
    c.create("after reset").await;
}

#[tokio::test]
async fn entity_properties_round_trip() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("props").await;
    let path = format!("/rest/api/3/issue/{key}/properties/casebridge.link");
    assert_eq!(
        c.put(&path, json!({"findingId": "f-1"}))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        c.put(&path, json!({"findingId": "f-2"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let got: Value = c.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        got,
        json!({"key": "casebridge.link", "value": {"findingId": "f-2"}})
    );
    let keys: Value = c
        .get(&format!("/rest/api/3/issue/{key}/properties"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["keys"][0]["key"], "casebridge.link");
    assert_eq!(c.delete(&path).send().await.unwrap().status(), 204);
    let r = c.get(&path).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorMessages"][0],
        "The property with key 'casebridge.link' does not exist."
    );
}

fn multipart_file(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str("text/plain")
            .unwrap(),
    )
}

#[tokio::test]
async fn attachments_need_the_xsrf_header_and_respect_the_size_cap() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("evidence").await;
    let url = c.url(&format!("/rest/api/3/issue/{key}/attachments"));
    let r = c
        .http
        .post(&url)
        .basic_auth(&c.email, Some(&c.token))
        .multipart(multipart_file("iocs.txt", b"1.2.3.4".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), "XSRF check failed");

    let r = c
        .http
        .post(&url)
        .basic_auth(&c.email, Some(&c.token))
        .header("X-Atlassian-Token", "no-check")
        .multipart(multipart_file("iocs.txt", b"1.2.3.4\n5.6.7.8".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["filename"], "iocs.txt");
    assert_eq!(list[0]["size"], 15);
    let content_url = list[0]["content"].as_str().unwrap().to_string();
    let downloaded = c
        .http
        .get(&content_url)
        .basic_auth(&c.email, Some(&c.token))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&downloaded[..], b"1.2.3.4\n5.6.7.8");
    let issue = double.issue(&key).unwrap();
    assert_eq!(issue.attachments.len(), 1);
    assert_eq!(issue.changelog.last().unwrap().items[0].field, "Attachment");

    double.set_attachment_limit(4);
    let r = c
        .http
        .post(&url)
        .basic_auth(&c.email, Some(&c.token))
        .header("X-Atlassian-Token", "no-check")
        .multipart(multipart_file("big.txt", b"too large".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.json::<Value>().await.unwrap()["errorMessages"][0]
        .as_str()
        .unwrap()
        .contains("too large"));
    assert_eq!(double.issue(&key).unwrap().attachments.len(), 1);
}

#[tokio::test]
async fn every_configured_credential_authenticates_and_the_log_records_the_scheme() {
    let double = jira().await;
    let creds = double.credentials();
    let http = support::client();
    let base = double.base_url();
    let me: Value = http
        .get(format!("{base}/rest/api/3/myself"))
        .basic_auth(&creds.email, Some(&creds.api_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["accountId"], creds.account_id);
    assert_eq!(me["emailAddress"], creds.email);
    let oauth = http
        .get(format!("{base}/rest/api/3/myself"))
        .bearer_auth(creds.oauth_access_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(oauth.status(), 200);
    let dc: Value = http
        .get(format!("{base}/rest/api/2/myself"))
        .bearer_auth(creds.dc_personal_access_token.clone().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dc["name"], "svc-casebridge");
    let info: Value = http
        .get(format!("{base}/rest/api/2/serverInfo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["deploymentType"], "Server");

    for bad in [
        http.get(format!("{base}/rest/api/3/myself")),
        http.get(format!("{base}/rest/api/3/myself"))
            .basic_auth(&creds.email, Some("wrong")),
        http.get(format!("{base}/rest/api/3/myself"))
            .bearer_auth("nope"),
        http.get(format!("{base}/rest/api/3/myself"))
            .header("authorization", "Token abc"),
    ] {
        let r = bad.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}})
        );
    }
    let schemes: Vec<String> = double
        .requests()
        .iter()
        .map(|r| r.auth_scheme.clone())
        .collect();
    assert_eq!(
        schemes,
        vec!["basic", "bearer", "bearer", "none", "none", "basic", "bearer", "token"]
    );
    for record in double.requests() {
        assert!(!record.headers.contains_key("authorization"));
        assert!(!format!("{record:?}").contains(&creds.api_token));
    }
}

#[tokio::test]
async fn createmeta_changelog_delete_and_removed_search_behave_like_cloud() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let meta: Value = c
        .get("/rest/api/3/issue/createmeta/SEC/issuetypes")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = meta["issueTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Task", "Bug"]);
    let fields: Value = c
        .get("/rest/api/3/issue/createmeta/SEC/issuetypes/10001")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["fieldId"] == "summary" && f["required"] == true));

    let key = c.create("log").await;
    for summary in ["a", "b", "c"] {
        c.put(
            &format!("/rest/api/3/issue/{key}"),
            json!({"fields": {"summary": summary}}),
        )
        .send()
        .await
        .unwrap();
    }
    let page: Value = c
        .get(&format!(
            "/rest/api/3/issue/{key}/changelog?startAt=1&maxResults=1"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["isLast"], false);
    assert_eq!(page["values"][0]["items"][0]["toString"], "b");

    let gone = c
        .get("/rest/api/3/search?jql=project%3DSEC")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);

    assert_eq!(
        c.delete(&format!("/rest/api/3/issue/{key}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.get(&format!("/rest/api/3/issue/{key}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
