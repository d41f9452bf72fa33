//! The HTTP control API (`/_double/…`) that Python tests and the README demo use, and the
//! `casebridge-doubles` binary.

mod support;

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};
use support::{adf, client, jira, servicenow, JiraClient, Receiver, SnClient};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn the_binary_prints_one_json_line_and_serves_both_doubles() {
    let seed_path = std::env::temp_dir().join(format!(
        "casebridge-doubles-seed-{}.json",
        std::process::id()
    ));
    let mut file = std::fs::File::create(&seed_path).unwrap();
    let seed = json!({"jira": {"projects": [{"id": "20000", "key": "OPS", "name": "Operations", "issue_types": [{"id": "1", "name": "Incident"}]}]}});
    file.write_all(seed.to_string().as_bytes()).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebridge-doubles"))
        .args([
            "--jira-listen",
            "127.0.0.1:0",
            "--servicenow-listen",
            "127.0.0.1:0",
            "--seed",
        ])
        .arg(&seed_path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let started: Value = serde_json::from_str(&line).unwrap();
    let jira_base = started["jira"]["base_url"].as_str().unwrap();
    let creds = &started["jira"]["credentials"];
    let http = client();
    let r = http
        .post(format!("{jira_base}/rest/api/3/issue"))
        .basic_auth(creds["email"].as_str().unwrap(), creds["api_token"].as_str())
        .json(&json!({"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Incident"}, "summary": "from seed file"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["key"], "OPS-1");
    let sn_base = started["servicenow"]["base_url"].as_str().unwrap();
    let sn = &started["servicenow"]["credentials"];
    let r = http
        .get(format!("{sn_base}/api/now/table/sys_user?sysparm_limit=1"))
        .basic_auth(sn["username"].as_str().unwrap(), sn["password"].as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().await.unwrap();
    let _ = std::fs::remove_file(seed_path);
}

#[tokio::test]
async fn jira_control_routes_drive_human_actions_configuration_and_inspection() {
    let double = jira().await;
    let receiver = Receiver::start().await;
    let http = client();
    let base = double.base_url().to_string();
    let ctl = |path: &str| format!("{base}/_double{path}");
    assert_eq!(
        http.put(ctl("/webhook"))
            .json(&json!({"url": receiver.url, "secret": "s"}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let created: Value = http
        .post(ctl("/issues"))
        .json(&json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Bug"}, "summary": "from a human"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(
            http.post(ctl(&format!("/issues/{key}/transition")))
                .json(&json!({"transition": "Start Progress"}))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(
        status(
            http.post(ctl(&format!("/issues/{key}/transition")))
                .json(&json!({"transition": "Reopen"}))
                .send()
                .await
                .unwrap()
        ),
        400
    );
    let comment: Value = http.post(ctl(&format!("/issues/{key}/comments"))).json(&json!({"body": "human note", "as_user": casebridge_doubles::jira::model::seed_ids::BOB_ACCOUNT_ID})).send().await.unwrap().json().await.unwrap();
    let comment_id = comment["id"].as_str().unwrap().to_string();
    assert_eq!(
        status(
            http.put(ctl(&format!("/issues/{key}/comments/{comment_id}")))
                .json(&json!({"body": adf("edited")}))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(status(http.post(ctl(&format!("/issues/{key}/assign"))).json(&json!({"account_id": casebridge_doubles::jira::model::seed_ids::ALICE_ACCOUNT_ID})).send().await.unwrap()), 204);
    assert_eq!(
        status(
            http.post(ctl(&format!("/issues/{key}/edit")))
                .json(&json!({"fields": {"labels": ["human"]}}))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(
        status(
            http.post(ctl("/webhook/drop"))
                .json(&json!({"count": 1}))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(
        status(
            http.delete(ctl(&format!("/issues/{key}/comments/{comment_id}")))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    let idle: Value = http
        .post(ctl("/webhook/wait"))
        .json(&json!({"timeout_ms": 5000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(idle["idle"], true);
    let deliveries: Value = http
        .get(ctl("/webhook/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "dropped").count(), 1);
    assert_eq!(receiver.received().len(), outcomes.len() - 1);

    let state: Value = http
        .get(ctl("/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issue = &state["issues"][0];
    assert_eq!(issue["key"], key);
    assert_eq!(issue["transitions_applied"][0]["name"], "Start Progress");
    assert_eq!(issue["comments"].as_array().unwrap().len(), 0);
    assert_eq!(issue["labels"], json!(["human"]));
    assert_eq!(
        issue["rendered_v3"]["fields"]["status"]["name"],
        "In Progress"
    );

    let c = JiraClient::cloud(&double);
    c.get("/rest/api/3/myself").send().await.unwrap();
    let log: Value = http
        .get(ctl("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["auth_scheme"], "basic");
    assert_eq!(log[0]["path"], "/rest/api/3/myself");
    let since: Value = http
        .get(ctl(&format!("/requests?since={}", log[0]["seq"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(since, json!([]));

    let before: Value = http
        .get(ctl("/clock"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after: Value = http
        .post(ctl("/clock/advance"))
        .json(&json!({"ms": 3_600_000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(after["now_ms"].as_i64().unwrap() - before["now_ms"].as_i64().unwrap() >= 3_600_000);

    assert_eq!(
        status(
            http.delete(ctl("/projects/SEC/issuetypes/10002"))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(
        status(http.delete(ctl("/projects/SEC")).send().await.unwrap()),
        204
    );
    let r = c.post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x"}})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(status(http.post(ctl("/reset")).send().await.unwrap()), 204);
    let state: Value = http
        .get(ctl("/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["issues"], json!([]));
    assert_eq!(state["projects"][0]["key"], "SEC");
    let workflow = json!({"statuses": [{"id": "1", "name": "Open", "category": "new"}, {"id": "2", "name": "Closed", "category": "done"}],
                          "transitions": [{"id": "5", "name": "Close", "from": ["1"], "to": "2"}], "initial_status": "1"});
    assert_eq!(
        status(
            http.put(ctl("/projects/SEC/workflow"))
                .json(&workflow)
                .send()
                .await
                .unwrap()
        ),
        204
    );
    let key = c.create("new workflow").await;
    let t: Value = c
        .get(&format!("/rest/api/3/issue/{key}/transitions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["transitions"][0]["name"], "Close");
    assert_eq!(
        status(
            http.post(ctl("/faults"))
                .json(&json!({"kind": "nonsense"}))
                .send()
                .await
                .unwrap()
        ),
        400
    );
}

#[tokio::test]
async fn servicenow_control_routes_act_as_a_human_and_expose_every_table() {
    let double = servicenow().await;
    let http = client();
    let base = double.base_url().to_string();
    let ctl = |path: &str| format!("{base}/_double{path}");
    let c = SnClient::basic(&double);
    let created = c
        .create_incident(json!({"short_description": "control"}))
        .await;
    let id = created["sys_id"].as_str().unwrap().to_string();
    let status = |r: reqwest::Response| r.status().as_u16();
    let refused = http
        .post(ctl(&format!("/tables/incident/{id}/state")))
        .json(&json!({"state": "6"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["message"],
        "Operation Failed"
    );
    assert_eq!(
        status(
            http.post(ctl(&format!("/tables/incident/{id}/state")))
                .json(&json!({"state": "6", "close_code": "Duplicate", "close_notes": "dup"}))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(
        status(
            http.post(ctl(&format!("/tables/incident/{id}/journal")))
                .json(&json!({"element": "comments", "value": "from the desk"}))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(
        status(
            http.post(ctl(&format!("/tables/incident/{id}/journal")))
                .json(&json!({"element": "description", "value": "x"}))
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            http.post(ctl(&format!("/tables/incident/{id}/assign")))
                .json(&json!({"assigned_to": "sam.soc"}))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    let server: Value = http
        .post(ctl("/tables/cmdb_ci_server"))
        .json(&json!({"fields": {"name": "new-host", "ip_address": "10.9.9.9"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(server["sys_id"].as_str().unwrap().len(), 32);
    let rows: Value = http
        .get(ctl("/tables/incident?query=state%3D6"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows[0]["sys_mod_count"], "3");
    assert_eq!(rows[0]["sys_updated_by"], "ivy.itil");
    let journal: Value = http
        .get(ctl(&format!(
            "/tables/sys_journal_field?query=element_id%3D{id}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(journal[0]["value"], "from the desk");
    let dump: Value = http
        .get(ctl("/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dump["tables"]["task_sla"][0]["stage"], "completed");
    assert!(dump["tables"]["cmdb_ci_server"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "new-host"));
    assert_eq!(status(http.put(ctl("/oauth")).json(&json!({"access_token_ttl_secs": 1, "refresh_token_ttl_secs": 2, "client_credentials_enabled": true})).send().await.unwrap()), 204);
    let settings: Value = http
        .get(ctl("/oauth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["client_credentials_enabled"], true);
    let creds: Value = http
        .get(ctl("/credentials"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(creds["username"], "casebridge.integration");
    assert_eq!(status(http.post(ctl("/reset")).send().await.unwrap()), 204);
    let rows: Value = http
        .get(ctl("/tables/incident"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows, json!([]));
}
