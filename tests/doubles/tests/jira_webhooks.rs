//! Jira double: webhooks in Atlassian's payload shape and headers, signatures, retries, drops,
//! and "human" changes made through the control surface.

mod support;

use std::time::Duration;

use casebridge_doubles::common::outbound::{DeliveryOutcome, RetryPolicy, WebhookTarget};
use casebridge_doubles::jira::model::seed_ids::ALICE_ACCOUNT_ID;
use serde_json::{json, Value};
use support::{adf, hmac_hex, jira, JiraClient, Receiver};

const SECRET: &str = "webhook-secret";

async fn wired() -> (casebridge_doubles::jira::JiraDoubleHandle, Receiver) {
    let double = jira().await;
    let receiver = Receiver::start().await;
    double.set_webhook(Some(WebhookTarget {
        url: receiver.url.clone(),
        secret: Some(SECRET.into()),
    }));
    double.set_webhook_retry(RetryPolicy {
        max_retries: 3,
        delays_ms: vec![10],
    });
    (double, receiver)
}

#[tokio::test]
async fn api_changes_raise_signed_atlassian_shaped_webhooks_in_order() {
    let (double, receiver) = wired().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("webhook me").await;
    c.put(
        &format!("/rest/api/3/issue/{key}"),
        json!({"fields": {"summary": "renamed"}}),
    )
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
    c.put(
        &format!("/rest/api/3/issue/{key}/assignee"),
        json!({"accountId": ALICE_ACCOUNT_ID}),
    )
    .send()
    .await
    .unwrap();
    c.post(
        &format!("/rest/api/3/issue/{key}/comment"),
        json!({"body": adf("looking")}),
    )
    .send()
    .await
    .unwrap();
    assert!(double.wait_for_webhooks(Duration::from_secs(5)).await);

    let got = receiver.received();
    let events: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let b = r.json();
            (
                b["webhookEvent"].as_str().unwrap().to_string(),
                b["issue_event_type_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("jira:issue_created".into(), "issue_created".into()),
            ("jira:issue_updated".into(), "issue_updated".into()),
            ("jira:issue_updated".into(), "issue_generic".into()),
            ("jira:issue_updated".into(), "issue_assigned".into()),
            ("comment_created".into(), "".into()),
            ("jira:issue_updated".into(), "issue_commented".into()),
        ]
    );
    let mut identifiers = std::collections::BTreeSet::new();
    for r in &got {
        let body = r.json();
        assert!(body["timestamp"].is_i64());
        assert_eq!(
            r.header("x-atlassian-webhook-flow").as_deref(),
            Some("Primary")
        );
        assert!(
            r.header("x-atlassian-webhook-retry").is_none(),
            "absent on first attempts"
        );
        assert!(identifiers.insert(r.header("x-atlassian-webhook-identifier").unwrap()));
        assert_eq!(
            r.header("x-hub-signature").unwrap(),
            format!("sha256={}", hmac_hex(SECRET, &r.body))
        );
    }
    let renamed = got[1].json();
    assert_eq!(renamed["changelog"]["items"][0]["field"], "summary");
    assert_eq!(renamed["changelog"]["items"][0]["fromString"], "webhook me");
    assert_eq!(renamed["changelog"]["items"][0]["toString"], "renamed");
    assert_eq!(
        renamed["user"]["name"], "casebridge-bot",
        "webhook bodies use the v2 representation by default"
    );
    let status = got[2].json();
    let item = &status["changelog"]["items"][0];
    assert_eq!(
        (item["field"].as_str(), item["fieldtype"].as_str()),
        (Some("status"), Some("jira"))
    );
    assert_eq!(
        (item["from"].as_str(), item["fromString"].as_str()),
        (Some("10000"), Some("To Do"))
    );
    assert_eq!(
        (item["to"].as_str(), item["toString"].as_str()),
        (Some("3"), Some("In Progress"))
    );
    let assigned = got[3].json();
    assert_eq!(assigned["changelog"]["items"][0]["field"], "assignee");
    assert_eq!(assigned["changelog"]["items"][0]["to"], ALICE_ACCOUNT_ID);
    let comment = got[4].json();
    assert_eq!(comment["comment"]["body"], "looking");
    assert_eq!(comment["issue"]["key"], key);
    assert_eq!(got[5].json()["comment"]["id"], comment["comment"]["id"]);
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_the_same_identifier_and_signature() {
    let (double, receiver) = wired().await;
    receiver.fail_next(2);
    let c = JiraClient::cloud(&double);
    c.create("retry me").await;
    assert!(double.wait_for_webhooks(Duration::from_secs(5)).await);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.header("x-atlassian-webhook-identifier").unwrap())
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0]));
    let retries: Vec<Option<String>> = got
        .iter()
        .map(|r| r.header("x-atlassian-webhook-retry"))
        .collect();
    assert_eq!(retries, vec![None, Some("1".into()), Some("2".into())]);
    assert!(got.iter().all(|r| r.body == got[0].body));
    let deliveries = double.webhook_deliveries();
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(
        deliveries[0]
            .attempts
            .iter()
            .map(|a| a.status)
            .collect::<Vec<_>>(),
        vec![Some(500), Some(500), Some(200)]
    );

    receiver.fail_next(100);
    c.create("give up").await;
    assert!(double.wait_for_webhooks(Duration::from_secs(5)).await);
    let last = double.webhook_deliveries().pop().unwrap();
    assert_eq!(last.outcome, DeliveryOutcome::Failed);
    assert_eq!(last.attempts.len(), 4);
}

#[tokio::test]
async fn dropped_deliveries_are_recorded_but_never_sent() {
    let (double, receiver) = wired().await;
    double.drop_next_webhooks(1);
    let c = JiraClient::cloud(&double);
    let missed = c.create("missed").await;
    let seen = c.create("seen").await;
    assert!(double.wait_for_webhooks(Duration::from_secs(5)).await);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["issue"]["key"], seen);
    let deliveries = double.webhook_deliveries();
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Dropped);
    assert_eq!(deliveries[0].body["issue"]["key"], missed);
    assert!(deliveries[0].attempts.is_empty());
}

#[tokio::test]
async fn human_changes_raise_webhooks_like_real_jira() {
    let (double, receiver) = wired().await;
    let c = JiraClient::cloud(&double);
    let key = c.create("human").await;
    double.human_transition(&key, "In Progress", None).unwrap();
    let comment_id = double.human_comment(&key, "I'm on it", None).unwrap();
    double
        .human_edit_comment(&key, comment_id, "on it (edited)", None)
        .unwrap();
    double.human_assign(&key, None, None).unwrap();
    double
        .human_edit(
            &key,
            json!({"summary": "human edit", "description": adf("new text")}),
            None,
        )
        .unwrap();
    assert!(
        double.human_transition(&key, "Reopen", None).is_err(),
        "Reopen is not available from In Progress"
    );
    double.human_delete_issue(&key, None).unwrap();
    assert!(double.wait_for_webhooks(Duration::from_secs(5)).await);
    let got: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    let names: Vec<&str> = got
        .iter()
        .map(|b| b["webhookEvent"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "jira:issue_created",
            "jira:issue_updated",
            "comment_created",
            "jira:issue_updated",
            "comment_updated",
            "jira:issue_updated",
            "jira:issue_updated",
            "jira:issue_deleted",
            "comment_deleted",
        ]
    );
    assert_eq!(got[1]["user"]["displayName"], "Alice Analyst");
    assert_eq!(got[6]["changelog"]["items"].as_array().unwrap().len(), 2);
    let flows: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("x-atlassian-webhook-flow").unwrap())
        .collect();
    assert_eq!(
        flows.last().unwrap(),
        "Secondary",
        "cascading comment deletions travel on the secondary lane"
    );
    assert!(double.issue(&key).is_none());
}

#[tokio::test]
async fn webhooks_without_a_secret_are_unsigned_and_v3_bodies_are_available() {
    let receiver = Receiver::start().await;
    let config = casebridge_doubles::jira::JiraConfig {
        webhook: Some(WebhookTarget {
            url: receiver.url.clone(),
            secret: None,
        }),
        webhook_format: casebridge_doubles::jira::model::ApiVersion::V3,
        ..Default::default()
    };
    let double = casebridge_doubles::jira::JiraDouble::start(config)
        .await
        .unwrap();
    let c = JiraClient::cloud(&double);
    c.create("v3 body").await;
    assert!(double.wait_for_webhooks(Duration::from_secs(5)).await);
    let got = receiver.received();
    assert!(got[0].header("x-hub-signature").is_none());
    let body = got[0].json();
    assert_eq!(body["issue"]["fields"]["description"]["type"], "doc");
    assert_eq!(body["user"]["accountId"], double.credentials().account_id);
}
