//! ServiceNow double: Table API semantics (values, references, display values, queries,
//! paging, journal fields, data policy, SLA, CMDB) and the Attachment API.

mod support;

use std::time::Duration;

use casebridge_doubles::servicenow::tables::{seed_names, seed_sys_id};
use serde_json::{json, Value};
use support::{servicenow, SnClient};

fn is_sys_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn insert_answers_201_with_location_and_string_values() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let r = c
        .post("/api/now/table/incident", json!({"short_description": "SQLi", "impact": 1, "urgency": "2", "correlation_id": "finding-1", "unknown_column": "ignored"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let record = r.json::<Value>().await.unwrap()["result"].clone();
    assert!(is_sys_id(&record["sys_id"]));
    assert_eq!(
        location,
        format!(
            "{}/api/now/table/incident/{}",
            double.base_url(),
            record["sys_id"].as_str().unwrap()
        )
    );
    assert_eq!(record["number"], "INC0010001");
    assert_eq!(
        record["impact"], "1",
        "numbers are stored and returned as strings"
    );
    assert_eq!(
        record["priority"], "2",
        "priority is computed from impact x urgency"
    );
    assert_eq!(record["state"], "1");
    assert_eq!(record["active"], "true");
    assert_eq!(record["sys_mod_count"], "0");
    assert_eq!(record["sys_created_by"], seed_names::API_USER);
    assert!(record.get("unknown_column").is_none());
    let ts = record["sys_updated_on"].as_str().unwrap();
    assert_eq!(ts.len(), 19, "YYYY-MM-DD HH:MM:SS");
    for (_, value) in record.as_object().unwrap() {
        assert!(value.is_string() || value.get("link").is_some(), "{value}");
    }
    let second = c.create_incident(json!({"short_description": "two"})).await;
    assert_eq!(second["number"], "INC0010002");
    assert_eq!(second["priority"], "5");
}

#[tokio::test]
async fn references_and_choices_render_per_display_value_and_reference_link_flags() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(json!({"short_description": "refs", "assigned_to": "sam.soc", "assignment_group": "Security Operations", "state": "2"}))
        .await;
    let id = created["sys_id"].as_str().unwrap();
    let sam = seed_sys_id("sys_user", "sam.soc");
    assert_eq!(
        created["assigned_to"],
        json!({"link": format!("{}/api/now/table/sys_user/{sam}", double.base_url()), "value": sam})
    );
    assert_eq!(
        created["caller_id"], "",
        "empty references are plain empty strings"
    );
    let get = |q: &'static str| {
        let c = &c;
        async move {
            c.get(&format!("/api/now/table/incident/{id}?{q}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["result"]
                .clone()
        }
    };
    let r = get("sysparm_exclude_reference_link=true").await;
    assert_eq!(r["assigned_to"], sam);
    let r = get("sysparm_display_value=true").await;
    assert_eq!(r["assigned_to"]["display_value"], "Sam Soc");
    assert_eq!(r["state"], "In Progress");
    assert_eq!(r["priority"], "5 - Planning");
    let r = get("sysparm_display_value=true&sysparm_exclude_reference_link=true").await;
    assert_eq!(r["assignment_group"], "Security Operations");
    let r = get("sysparm_display_value=all").await;
    assert_eq!(r["assigned_to"]["value"], sam);
    assert_eq!(r["assigned_to"]["display_value"], "Sam Soc");
    assert!(r["assigned_to"]["link"].is_string());
    assert_eq!(
        r["state"],
        json!({"display_value": "In Progress", "value": "2"})
    );
    let r = get(
        "sysparm_fields=number,assigned_to.user_name,state&sysparm_exclude_reference_link=true",
    )
    .await;
    assert_eq!(r.as_object().unwrap().len(), 3);
    assert_eq!(r["assigned_to.user_name"], "sam.soc");

    let by_label = c
        .post(
            "/api/now/table/incident?sysparm_input_display_value=true",
            json!({"short_description": "labels", "state": "In Progress", "impact": "1 - High"}),
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["result"]
        .clone();
    assert_eq!(by_label["state"], "2");
    assert_eq!(by_label["impact"], "1");
}

#[tokio::test]
async fn missing_records_unknown_tables_and_bad_json_use_the_error_envelope() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let r = c
        .get("/api/now/table/incident/0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": {"message": "No Record found", "detail": "Record doesn't exist or ACL restricts the record retrieval"}, "status": "failure"})
    );
    let r = c
        .patch(
            "/api/now/table/incident/0123456789abcdef0123456789abcdef",
            json!({"state": "2"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get("/api/now/table/no_such_table").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["message"],
        "Invalid table no_such_table"
    );
    let r = c
        .http
        .post(c.url("/api/now/table/incident"))
        .basic_auth(&c.user, Some(&c.password))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "failure");

    let empty_v2: Value = c
        .get("/api/now/v2/table/incident")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty_v2, json!({"result": []}));
    let empty_v1 = c.get("/api/now/v1/table/incident").send().await.unwrap();
    assert_eq!(empty_v1.status(), 404, "v1 answered 404 for an empty list");
}

#[tokio::test]
async fn updates_return_the_full_record_and_count_modifications() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(json!({"short_description": "count me"}))
        .await;
    let id = created["sys_id"].as_str().unwrap();
    let path = format!("/api/now/table/incident/{id}");
    let r = c
        .patch(&path, json!({"urgency": "1", "impact": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated = r.json::<Value>().await.unwrap()["result"].clone();
    assert_eq!(updated["sys_mod_count"], "1");
    assert_eq!(updated["priority"], "1");
    assert_eq!(
        updated["short_description"], "count me",
        "PATCH returns the full record"
    );
    let unchanged = c
        .patch(&path, json!({"urgency": "1"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["result"]
        .clone();
    assert_eq!(
        unchanged["sys_mod_count"], "1",
        "a write that changes nothing is not a modification"
    );
    let r = c
        .http
        .put(c.url(&path))
        .basic_auth(&c.user, Some(&c.password))
        .json(&json!({"description": "via put"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["result"]["sys_mod_count"],
        "2"
    );
    let r = c
        .http
        .patch(c.url(&path))
        .basic_auth(&c.user, Some(&c.password))
        .header("X-no-response-body", "true")
        .json(&json!({"description": "quiet"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(double.record("incident", id).unwrap()["sys_mod_count"], "3");
    assert_eq!(c.delete(&path).send().await.unwrap().status(), 204);
    assert_eq!(c.get(&path).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn journal_fields_read_back_empty_and_are_kept_in_sys_journal_field() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(
            json!({"short_description": "journal", "comments": "opened by casebridge"}),
        )
        .await;
    assert_eq!(created["comments"], "");
    let id = created["sys_id"].as_str().unwrap();
    let r = c
        .patch(
            &format!("/api/now/table/incident/{id}"),
            json!({"work_notes": "internal note", "comments": "second comment"}),
        )
        .send()
        .await
        .unwrap();
    let record = r.json::<Value>().await.unwrap()["result"].clone();
    assert_eq!(record["work_notes"], "");
    assert_eq!(record["comments"], "");
    assert_eq!(
        record["sys_mod_count"], "1",
        "a journal entry is a modification"
    );
    let history: Value = c
        .get(&format!("/api/now/table/sys_journal_field?sysparm_query=element_id={id}^element=comments^ORDERBYsys_created_on"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let values: Vec<&str> = history["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec!["opened by casebridge", "second comment"]);
    assert_eq!(history["result"][0]["name"], "incident");
    let shown: Value = c
        .get(&format!("/api/now/table/incident/{id}?sysparm_display_value=true&sysparm_fields=comments,work_notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let comments = shown["result"]["comments"].as_str().unwrap();
    assert!(comments.starts_with(&record["sys_updated_on"].as_str().unwrap()[..10]));
    assert!(comments.contains("casebridge Integration (Additional comments)\nsecond comment"));
    assert!(
        comments.find("second comment").unwrap() < comments.find("opened by casebridge").unwrap(),
        "newest first"
    );
    assert!(shown["result"]["work_notes"]
        .as_str()
        .unwrap()
        .contains("(Work notes)\ninternal note"));
    assert_eq!(double.journal(id).len(), 3);
}

#[tokio::test]
async fn resolving_or_closing_without_close_fields_is_a_403_data_policy_exception() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(json!({"short_description": "close me"}))
        .await;
    let id = created["sys_id"].as_str().unwrap();
    let path = format!("/api/now/table/incident/{id}");
    for state in ["6", "7"] {
        let r = c
            .patch(&path, json!({"state": state}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": {"message": "Operation Failed", "detail": "Data Policy Exception: \n\tThe following fields are mandatory: Resolution code, Resolution notes"}, "status": "failure"})
        );
    }
    let r = c
        .patch(
            &path,
            json!({"state": "6", "close_code": "Solution provided"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.json::<Value>().await.unwrap()["error"]["detail"]
        .as_str()
        .unwrap()
        .ends_with("mandatory: Resolution notes"));
    let r = c.patch(&path, json!({"state": "3"})).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.json::<Value>().await.unwrap()["error"]["detail"]
        .as_str()
        .unwrap()
        .ends_with("mandatory: On hold reason"));
    assert_eq!(
        double.record("incident", id).unwrap()["sys_mod_count"],
        "0",
        "refused writes change nothing"
    );

    let resolved = c
        .patch(
            &path,
            json!({"state": "6", "close_code": "Solution provided", "close_notes": "patched"}),
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["result"]
        .clone();
    assert_eq!(resolved["state"], "6");
    assert_eq!(resolved["incident_state"], "6");
    assert_ne!(resolved["resolved_at"], "");
    assert_eq!(resolved["active"], "true");
    let closed = c
        .patch(&path, json!({"state": "7"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["result"]
        .clone();
    assert_eq!(closed["active"], "false");
    assert_ne!(closed["closed_at"], "");

    let codes: Value = c
        .get("/api/now/table/sys_choice?sysparm_query=name=incident^element=close_code&sysparm_fields=value,label")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(codes["result"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["value"] == "Solution provided"));
    let states: Value = c
        .get("/api/now/table/sys_choice?sysparm_query=name=incident^element=state")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(states["result"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn security_incidents_have_their_own_numbers_states_and_closure_rule() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let r = c
        .post(
            "/api/now/table/sn_si_incident",
            json!({"short_description": "phishing", "severity": "1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sir = r.json::<Value>().await.unwrap()["result"].clone();
    assert_eq!(sir["number"], "SIR0010001");
    assert_eq!(sir["state"], "10");
    let path = format!(
        "/api/now/table/sn_si_incident/{}",
        sir["sys_id"].as_str().unwrap()
    );
    assert_eq!(
        c.patch(&path, json!({"state": "18"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.patch(&path, json!({"state": "3"}))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let closed = c
        .patch(
            &path,
            json!({"state": "3", "close_code": "False positive", "close_notes": "benign"}),
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["result"]
        .clone();
    assert_eq!(closed["active"], "false");
    let states: Value = c
        .get("/api/now/table/sys_choice?sysparm_query=name=sn_si_incident^element=state&sysparm_fields=value")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let values: Vec<&str> = states["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec!["10", "16", "18", "19", "20", "100", "3", "7"]);
    let exists: Value = c
        .get("/api/now/table/sys_db_object?sysparm_query=name=sn_si_incident")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(exists["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn encoded_queries_filter_order_and_ignore_invalid_parts() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let a = c.create_incident(json!({"short_description": "SQL injection in login", "impact": "1", "urgency": "1", "correlation_id": "case-a"})).await;
    let b = c.create_incident(json!({"short_description": "XSS in search", "impact": "2", "urgency": "2", "correlation_id": "case-b"})).await;
    let d = c
        .create_incident(json!({"short_description": "Weak TLS", "correlation_id": "case-d"}))
        .await;
    let numbers = |v: &Value| -> Vec<String> {
        v["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["number"].as_str().unwrap().to_string())
            .collect()
    };
    let n = |r: &Value| r["number"].as_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("correlation_id=case-b", vec![n(&b)]),
        ("short_descriptionLIKEin^ORDERBYnumber", vec![n(&a), n(&b)]),
        ("short_descriptionSTARTSWITHweak", vec![n(&d)]),
        ("priorityIN1,3^ORDERBYDESCnumber", vec![n(&b), n(&a)]),
        ("priority!=5^ORDERBYpriority", vec![n(&a), n(&b)]),
        (
            "priority<=3^correlation_id=case-a^ORcorrelation_id=case-d",
            vec![n(&a)],
        ),
        (
            "correlation_id=case-a^NQcorrelation_id=case-d",
            vec![n(&a), n(&d)],
        ),
        ("bogus_field=1^correlation_id=case-d^garbage", vec![n(&d)]),
        (
            "close_codeISEMPTY^ORDERBYDESCpriority",
            vec![n(&d), n(&b), n(&a)],
        ),
    ];
    for (query, expected) in cases {
        let body: Value = c
            .get(&format!(
                "/api/now/table/incident?sysparm_query={}",
                urlencode(query)
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(numbers(&body), expected, "{query}");
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn list_paging_sets_link_and_total_count_headers() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    for i in 0..5 {
        c.create_incident(json!({"short_description": format!("page {i}")}))
            .await;
    }
    let r = c
        .get("/api/now/table/incident?sysparm_limit=2&sysparm_offset=2&sysparm_query=ORDERBYnumber")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "5");
    let link = r.headers()["link"].to_str().unwrap().to_string();
    for rel in ["first", "prev", "next", "last"] {
        assert!(link.contains(&format!("rel=\"{rel}\"")), "{link}");
    }
    assert!(link.contains("sysparm_offset=4"));
    let body: Value = r.json().await.unwrap();
    let numbers: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, vec!["INC0010003", "INC0010004"]);
    let last = c
        .get("/api/now/table/incident?sysparm_limit=2&sysparm_offset=4")
        .send()
        .await
        .unwrap();
    assert!(!last.headers()["link"]
        .to_str()
        .unwrap()
        .contains("rel=\"next\""));
}

#[tokio::test]
async fn polling_with_sys_updated_on_sees_every_change_at_second_resolution() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let a = c.create_incident(json!({"short_description": "A"})).await;
    double.advance_clock(Duration::from_secs(60));
    let b = c.create_incident(json!({"short_description": "B"})).await;
    let watermark = b["sys_updated_on"].as_str().unwrap().to_string();
    let poll = |since: String| {
        let c = &c;
        async move {
            let q = urlencode(&format!("sys_updated_on>={since}^ORDERBYsys_updated_on"));
            let body: Value = c
                .get(&format!("/api/now/table/incident?sysparm_query={q}&sysparm_fields=sys_id,number,sys_updated_on,sys_mod_count"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["number"].as_str().unwrap().to_string(),
                        r["sys_mod_count"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        poll(watermark.clone()).await,
        vec![("INC0010002".to_string(), "0".to_string())]
    );
    double.advance_clock(Duration::from_secs(5));
    c.patch(
        &format!("/api/now/table/incident/{}", a["sys_id"].as_str().unwrap()),
        json!({"comments": "human replied"}),
    )
    .send()
    .await
    .unwrap();
    let seen = poll(watermark.clone()).await;
    assert_eq!(
        seen,
        vec![
            ("INC0010002".into(), "0".into()),
            ("INC0010001".into(), "1".into())
        ]
    );
    let generated = format!(
        "javascript:gs.dateGenerate('{}','{}')",
        &watermark[..10],
        &watermark[11..]
    );
    assert_eq!(poll(generated).await.len(), 2);
}

#[tokio::test]
async fn each_task_gets_an_sla_that_pauses_completes_and_breaches_by_the_clock() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let p1 = c
        .create_incident(json!({"short_description": "critical", "impact": "1", "urgency": "1"}))
        .await;
    let p1_id = p1["sys_id"].as_str().unwrap().to_string();
    let slas = |id: String| {
        let c = &c;
        async move {
            let body: Value = c
                .get(&format!("/api/now/table/task_sla?sysparm_query=task={id}&sysparm_exclude_reference_link=true"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["result"].as_array().unwrap().clone()
        }
    };
    let first = slas(p1_id.clone()).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["stage"], "in_progress");
    assert_eq!(first[0]["has_breached"], "false");
    assert_eq!(first[0]["sla"], "Priority 1 resolution (4 hour)");
    double.advance_clock(Duration::from_secs(5 * 3600));
    let later = slas(p1_id.clone()).await;
    assert_eq!(later[0]["has_breached"], "true");

    let p3 = c
        .create_incident(json!({"short_description": "moderate", "impact": "2", "urgency": "2"}))
        .await;
    let p3_id = p3["sys_id"].as_str().unwrap().to_string();
    c.patch(
        &format!("/api/now/table/incident/{p3_id}"),
        json!({"state": "3", "hold_reason": "1"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(slas(p3_id.clone()).await[0]["stage"], "paused");
    double.advance_clock(Duration::from_secs(48 * 3600));
    assert_eq!(
        slas(p3_id.clone()).await[0]["has_breached"],
        "false",
        "paused time does not count"
    );
    c.patch(
        &format!("/api/now/table/incident/{p3_id}"),
        json!({"state": "6", "close_code": "Solution provided", "close_notes": "done"}),
    )
    .send()
    .await
    .unwrap();
    let done = slas(p3_id.clone()).await;
    assert_eq!(done[0]["stage"], "completed");
    assert_eq!(done[0]["active"], "false");
    assert_ne!(done[0]["end_time"], "");

    c.patch(
        &format!("/api/now/table/incident/{p1_id}"),
        json!({"impact": "3", "urgency": "3"}),
    )
    .send()
    .await
    .unwrap();
    let reprioritised = slas(p1_id).await;
    assert_eq!(reprioritised.len(), 2);
    assert_eq!(reprioritised[0]["stage"], "cancelled");
    assert_eq!(reprioritised[1]["sla"], "Priority 5 resolution (120 hour)");
}

#[tokio::test]
async fn incidents_reference_seeded_cmdb_servers_users_and_groups() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let servers: Value = c
        .get("/api/now/table/cmdb_ci_server?sysparm_query=ip_address=10.0.0.11")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(servers["result"][0]["name"], "web-prod-01");
    let created = c.create_incident(json!({"short_description": "host vuln", "cmdb_ci": "web-prod-01", "caller_id": "zpoa-shield-service"})).await;
    assert_eq!(
        created["cmdb_ci"]["value"],
        seed_sys_id("cmdb_ci_server", "web-prod-01")
    );
    let id = created["sys_id"].as_str().unwrap();
    let enriched: Value = c
        .get(&format!("/api/now/table/incident/{id}?sysparm_fields=cmdb_ci.ip_address,cmdb_ci.name,caller_id.name"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(enriched["result"]["cmdb_ci.ip_address"], "10.0.0.11");
    assert_eq!(enriched["result"]["caller_id.name"], "Z Shield Service");
    let dangling = c
        .create_incident(json!({"short_description": "x", "assigned_to": "nobody.here"}))
        .await;
    assert_eq!(
        dangling["assigned_to"]["value"], "nobody.here",
        "unknown references are kept, as ServiceNow does"
    );
    let groups: Value = c
        .get("/api/now/table/sys_user_group?sysparm_query=name=Security Operations")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn attachments_upload_list_download_and_respect_the_size_cap() {
    let double = servicenow().await;
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(json!({"short_description": "with evidence"}))
        .await;
    let id = created["sys_id"].as_str().unwrap();
    let r = c
        .http
        .post(c.url(&format!(
            "/api/now/attachment/file?table_name=incident&table_sys_id={id}&file_name=pcap.txt"
        )))
        .basic_auth(&c.user, Some(&c.password))
        .header("content-type", "text/plain")
        .body("packet data")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("location"));
    let meta = r.json::<Value>().await.unwrap()["result"].clone();
    assert_eq!(meta["file_name"], "pcap.txt");
    assert_eq!(meta["size_bytes"], "11");
    assert_eq!(meta["content_type"], "text/plain");
    let listed: Value = c
        .get(&format!(
            "/api/now/attachment?sysparm_query=table_sys_id={id}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["result"].as_array().unwrap().len(), 1);
    let link = listed["result"][0]["download_link"].as_str().unwrap();
    let content = c
        .http
        .get(link)
        .basic_auth(&c.user, Some(&c.password))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(content, "packet data");

    double.set_attachment_limit(4);
    let r = c
        .http
        .post(c.url(&format!(
            "/api/now/attachment/file?table_name=incident&table_sys_id={id}&file_name=big.bin"
        )))
        .basic_auth(&c.user, Some(&c.password))
        .body("too many bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "failure");
    assert_eq!(body["error"]["message"], "Maximum file size exceeded");
    let r = c
        .http
        .post(c.url("/api/now/attachment/file?table_name=incident&table_sys_id=0123456789abcdef0123456789abcdef&file_name=x"))
        .basic_auth(&c.user, Some(&c.password))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
