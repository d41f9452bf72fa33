//! Jira double: JQL search on Cloud (`search/jql`, token paging) and Data Center (`search`,
//! offset paging).

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use support::{jira, JiraClient};

async fn search(c: &JiraClient, body: Value) -> reqwest::Response {
    c.post("/rest/api/3/search/jql", body).send().await.unwrap()
}

#[tokio::test]
async fn search_jql_pages_with_next_page_token_until_is_last() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    for i in 0..7 {
        c.create(&format!("finding {i}")).await;
    }
    let mut token: Option<String> = None;
    let mut keys = Vec::new();
    let mut pages = 0;
    loop {
        let mut body = json!({"jql": "project = SEC ORDER BY key ASC", "maxResults": 3, "fields": ["summary"]});
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let page: Value = search(&c, body).await.json().await.unwrap();
        pages += 1;
        for issue in page["issues"].as_array().unwrap() {
            keys.push(issue["key"].as_str().unwrap().to_string());
            assert!(issue["fields"]["summary"].is_string());
        }
        if page["isLast"] == true {
            assert!(page.get("nextPageToken").is_none());
            break;
        }
        token = Some(page["nextPageToken"].as_str().unwrap().to_string());
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (1..=7).map(|n| format!("SEC-{n}")).collect();
    assert_eq!(keys, expected);

    let r = search(
        &c,
        json!({"jql": "project = SEC", "nextPageToken": "garbage"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = search(
        &c,
        json!({"jql": "project = SEC AND labels = x", "nextPageToken": token.unwrap()}),
    )
    .await;
    assert_eq!(r.status(), 400, "a token belongs to its query");
}

#[tokio::test]
async fn search_jql_get_returns_only_ids_unless_fields_are_requested() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    c.create("one").await;
    let page: Value = c
        .get("/rest/api/3/search/jql?jql=project%20%3D%20SEC")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["issues"][0]["fields"], json!({}));
    assert!(page["issues"][0]["id"].is_string());
    let page: Value = c
        .get("/rest/api/3/search/jql?jql=project%20%3D%20SEC&fields=summary&fields=status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["issues"][0]["fields"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn updated_since_filters_by_minute_text_and_epoch_milliseconds() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let old = c.create("old").await;
    double.advance_clock(Duration::from_secs(3 * 3600));
    let cutoff_ms = double.now_ms() - 60_000;
    let fresh = c.create("fresh").await;
    c.put(
        &format!("/rest/api/3/issue/{fresh}"),
        json!({"fields": {"summary": "fresh 2"}}),
    )
    .send()
    .await
    .unwrap();

    let minute = Utc
        .timestamp_millis_opt(cutoff_ms)
        .unwrap()
        .format("%Y-%m-%d %H:%M")
        .to_string();
    for jql in [
        format!("project = SEC AND updated >= \"{minute}\" ORDER BY updated DESC"),
        format!("project = SEC AND updated >= {cutoff_ms} ORDER BY updated DESC"),
        "project = SEC AND updated >= -2h".to_string(),
    ] {
        let page: Value = search(&c, json!({"jql": jql, "fields": ["updated"]}))
            .await
            .json()
            .await
            .unwrap();
        let keys: Vec<&str> = page["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, vec![fresh.as_str()], "{jql}");
    }
    let page: Value = search(&c, json!({"jql": "project = SEC ORDER BY updated ASC"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["issues"][0]["key"], old);
}

#[tokio::test]
async fn jql_combines_keys_labels_status_properties_and_parentheses() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    let a = c.create("a").await;
    let b = c.create("b").await;
    let d = c.create("d").await;
    c.put(
        &format!("/rest/api/3/issue/{a}/properties/casebridge"),
        json!({"caseId": "case-a"}),
    )
    .send()
    .await
    .unwrap();
    c.put(
        &format!("/rest/api/3/issue/{b}"),
        json!({"update": {"labels": [{"add": "sast"}]}}),
    )
    .send()
    .await
    .unwrap();
    c.post(
        &format!("/rest/api/3/issue/{d}/transitions"),
        json!({"transition": {"id": "11"}}),
    )
    .send()
    .await
    .unwrap();
    let keys = |page: &Value| -> Vec<String> {
        let mut k: Vec<String> = page["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    let cases = [
        (
            "issue.property[casebridge].caseId = \"case-a\"",
            vec![a.clone()],
        ),
        (&*format!("key in ({a}, {b})"), vec![a.clone(), b.clone()]),
        ("labels = \"sast\"", vec![b.clone()]),
        ("status = \"In Progress\"", vec![d.clone()]),
        (
            "project = SEC AND (labels = sast OR status = \"In Progress\")",
            vec![b.clone(), d.clone()],
        ),
        ("project = SEC AND NOT status = \"To Do\"", vec![d.clone()]),
    ];
    for (jql, expected) in cases {
        let page: Value = search(&c, json!({"jql": jql})).await.json().await.unwrap();
        assert_eq!(keys(&page), expected, "{jql}");
    }
}

#[tokio::test]
async fn bad_or_unbounded_jql_gets_400_in_jiras_shape() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    c.create("x").await;
    let cases = [
        ("ORDER BY key DESC", "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."),
        ("", "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."),
        ("votes > 3", "Field 'votes' does not exist or you do not have permission to view it."),
        ("project ~ SEC", "The operator '~' is not supported by the 'project' field."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("key = SEC-404", "An issue with key 'SEC-404' does not exist for field 'key'."),
        ("updated >= \"last tuesday\"", "Date value 'last tuesday' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."),
        ("project = SEC AND assignee = nosuchfn()", "Unable to find JQL function 'nosuchfn()'."),
    ];
    for (jql, message) in cases {
        let r = search(&c, json!({"jql": jql})).await;
        assert_eq!(r.status(), 400, "{jql}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"errorMessages": [message], "errors": {}}),
            "{jql}"
        );
    }
    let r = search(&c, json!({"jql": "project = SEC AND"})).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["errorMessages"][0]
        .as_str()
        .unwrap()
        .starts_with("Error in the JQL Query:"));
}

#[tokio::test]
async fn data_center_search_pages_by_start_at_with_total() {
    let double = jira().await;
    let c = JiraClient::cloud(&double);
    for i in 0..5 {
        c.create(&format!("dc {i}")).await;
    }
    let pat = double.credentials().dc_personal_access_token.unwrap();
    let page: Value = c
        .http
        .get(c.url(
            "/rest/api/2/search?jql=project%3DSEC%20ORDER%20BY%20key%20ASC&startAt=2&maxResults=2",
        ))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["startAt"], 2);
    assert_eq!(page["maxResults"], 2);
    let keys: Vec<&str> = page["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["SEC-3", "SEC-4"]);
    assert!(
        page["issues"][0]["fields"]["summary"].is_string(),
        "DC returns navigable fields by default"
    );
    let unbounded: Value = c
        .http
        .post(c.url("/rest/api/2/search"))
        .bearer_auth(&pat)
        .json(&json!({"jql": "", "maxResults": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        unbounded["total"], 5,
        "Data Center allows unbounded queries"
    );
}
