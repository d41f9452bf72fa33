//! ServiceNow double: outbound notifications (the business-rule REST message casebridge asks
//! customers to configure) and "human" actions that cause them.

mod support;

use std::time::Duration;

use casebridge_doubles::common::outbound::{DeliveryOutcome, RetryPolicy, WebhookTarget};
use casebridge_doubles::servicenow::tables::seed_names;
use serde_json::{json, Map, Value};
use support::{hmac_hex, servicenow, Receiver, SnClient};

const SECRET: &str = "sn-secret";

#[tokio::test]
async fn inserts_updates_and_deletes_are_notified_with_a_signed_delivery() {
    let double = servicenow().await;
    let receiver = Receiver::start().await;
    double.set_notifications(Some(WebhookTarget {
        url: receiver.url.clone(),
        secret: Some(SECRET.into()),
    }));
    double.set_notification_retry(RetryPolicy {
        max_retries: 2,
        delays_ms: vec![10],
    });
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(
            json!({"short_description": "notify", "assignment_group": "Security Operations"}),
        )
        .await;
    let id = created["sys_id"].as_str().unwrap();
    c.patch(
        &format!("/api/now/table/incident/{id}"),
        json!({"state": "2"}),
    )
    .send()
    .await
    .unwrap();
    c.create_incident(json!({"short_description": "second"}))
        .await;
    c.post(
        "/api/now/table/sys_user_group",
        json!({"name": "Not notified"}),
    )
    .send()
    .await
    .unwrap();
    c.delete(&format!("/api/now/table/incident/{id}"))
        .send()
        .await
        .unwrap();
    assert!(double.wait_for_notifications(Duration::from_secs(5)).await);
    let got = receiver.received();
    let events: Vec<String> = got
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, vec!["insert", "update", "insert", "delete"]);
    let first = got[0].json();
    assert_eq!(first["table"], "incident");
    assert_eq!(first["record"]["number"], "INC0010001");
    assert!(
        first["record"]["assignment_group"].is_string(),
        "references are plain sys_ids in notifications"
    );
    assert_eq!(got[1].json()["record"]["sys_mod_count"], "1");
    assert_eq!(
        got[1].json()["record"]["sys_updated_by"],
        seed_names::API_USER
    );
    let mut ids = std::collections::BTreeSet::new();
    for r in &got {
        assert!(ids.insert(r.header("x-casebridge-delivery").unwrap()));
        assert_eq!(
            r.header("x-servicenow-signature").unwrap(),
            format!("sha256={}", hmac_hex(SECRET, &r.body))
        );
    }
}

#[tokio::test]
async fn failed_notifications_retry_with_the_same_delivery_id_and_drops_are_silent() {
    let double = servicenow().await;
    let receiver = Receiver::start().await;
    double.set_notifications(Some(WebhookTarget {
        url: receiver.url.clone(),
        secret: None,
    }));
    double.set_notification_retry(RetryPolicy {
        max_retries: 3,
        delays_ms: vec![10],
    });
    receiver.fail_next(1);
    let c = SnClient::basic(&double);
    c.create_incident(json!({"short_description": "retried"}))
        .await;
    assert!(double.wait_for_notifications(Duration::from_secs(5)).await);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].header("x-casebridge-delivery"),
        got[1].header("x-casebridge-delivery")
    );
    assert!(got[0].header("x-servicenow-signature").is_none());

    double.drop_next_notifications(1);
    c.create_incident(json!({"short_description": "lost"}))
        .await;
    c.create_incident(json!({"short_description": "kept"}))
        .await;
    assert!(double.wait_for_notifications(Duration::from_secs(5)).await);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].json()["record"]["short_description"], "kept");
    let outcomes: Vec<DeliveryOutcome> = double
        .notification_deliveries()
        .iter()
        .map(|d| d.outcome)
        .collect();
    assert_eq!(
        outcomes,
        vec![
            DeliveryOutcome::Delivered,
            DeliveryOutcome::Dropped,
            DeliveryOutcome::Delivered
        ]
    );
}

#[tokio::test]
async fn human_actions_go_through_the_same_rules_and_raise_notifications() {
    let double = servicenow().await;
    let receiver = Receiver::start().await;
    double.set_notifications(Some(WebhookTarget {
        url: receiver.url.clone(),
        secret: None,
    }));
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(json!({"short_description": "human"}))
        .await;
    let id = created["sys_id"].as_str().unwrap();
    double
        .human_assign(
            "incident",
            id,
            Some("sam.soc"),
            Some("Security Operations"),
            None,
        )
        .unwrap();
    double
        .human_journal("incident", id, "work_notes", "checked the host", None)
        .unwrap();
    let refused = double
        .human_set_state("incident", id, "6", None, None, None)
        .unwrap_err();
    assert_eq!(refused.status, 403);
    double
        .human_set_state(
            "incident",
            id,
            "6",
            Some("Solution provided"),
            Some("patched"),
            None,
        )
        .unwrap();
    let mut extra = Map::new();
    extra.insert("urgency".into(), json!("1"));
    double
        .human_update("incident", id, extra, Some("sam.soc"))
        .unwrap();
    assert!(double.wait_for_notifications(Duration::from_secs(5)).await);
    let bodies: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert_eq!(bodies.len(), 5);
    let record = &bodies[4]["record"];
    assert_eq!(record["sys_mod_count"], "4");
    assert_eq!(record["state"], "6");
    assert_eq!(record["sys_updated_by"], "sam.soc");
    assert_eq!(
        bodies[1]["record"]["sys_updated_by"],
        seed_names::HUMAN_USER
    );
    let journal = double.journal(id);
    assert_eq!(journal[0]["value"], "checked the host");
    assert_eq!(journal[0]["sys_created_by"], seed_names::HUMAN_USER);
}
