//! API tests of the outbox admin routes and integration sync health, over HTTP against the
//! in-process router, on SQLite and PostgreSQL.

mod support;

use casebridge::api::{router, AppState};
use casebridge::store::keys::NewApiKey;
use casebridge::store::now_ms;
use casebridge::store::test_support::TestDb;
use casebridge::sync::{ClaimRequest, OutcomeKind};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{effect, enqueue_one, outbox};

struct Server {
    base: String,
    admin: NewApiKey,
    http: reqwest::Client,
}

impl Server {
    async fn start(db: &TestDb) -> Server {
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
            admin,
            http: reqwest::Client::new(),
        }
    }

    async fn call_as(
        &self,
        key: Option<&NewApiKey>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request
                .header("DD-API-KEY", &key.api_key)
                .header("DD-APPLICATION-KEY", &key.app_key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(Some(&self.admin), method, path, body).await
    }
}

fn error_detail(body: &Value) -> &str {
    body["errors"][0]["detail"].as_str().unwrap_or_default()
}

async fn only_admins_see_the_outbox_body(db: &TestDb) {
    let server = Server::start(db).await;
    let writer = db
        .store
        .create_api_key("writer", "writer", &["cases_write".to_string()])
        .await
        .unwrap();
    for (method, path) in [
        (Method::GET, "/api/v2/casebridge/outbox"),
        (Method::GET, "/api/v2/casebridge/outbox/x"),
        (Method::POST, "/api/v2/casebridge/outbox/x/retry"),
        (Method::POST, "/api/v2/casebridge/outbox/x/cancel"),
        (Method::GET, "/api/v2/casebridge/integrations/jira/health"),
        (Method::POST, "/api/v2/casebridge/integrations/jira/pause"),
        (Method::POST, "/api/v2/casebridge/integrations/jira/resume"),
    ] {
        let (status, body) = server
            .call_as(Some(&writer), method.clone(), path, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(error_detail(&body).contains("admin"), "{body}");
        let (status, _) = server.call_as(None, method.clone(), path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    // Nothing was paused by the refused calls.
    assert!(outbox(db).gate("jira").await.unwrap().paused.is_none());
}
on_both_engines!(only_admins_see_the_outbox, only_admins_see_the_outbox_body);

async fn failed_effects_are_listed_and_retried_over_the_api_body(db: &TestDb) {
    let server = Server::start(db).await;
    let now = now_ms();
    let rejected = enqueue_one(db, effect("jira", "case-1", "update", 1), now - 3).await;
    let done = enqueue_one(db, effect("jira", "case-2", "update", 2), now - 2).await;
    enqueue_one(db, effect("snow", "case-3", "update", 3), now - 1).await;
    let ob = outbox(db);
    let claimed = ob
        .claim(
            "w",
            &ClaimRequest {
                limit: 10,
                lease_ms: 60_000,
                kinds: None,
            },
            now,
        )
        .await
        .unwrap();
    for c in &claimed {
        if c.id == rejected {
            ob.fail(
                c,
                OutcomeKind::Rejected,
                "Field 'priority' cannot be set",
                now,
            )
            .await
            .unwrap();
        } else if c.id == done {
            ob.complete(c, &json!({"key": "SEC-2"}), now).await.unwrap();
        }
    }

    let (status, body) = server
        .call(
            Method::GET,
            "/api/v2/casebridge/outbox?filter[state]=failed",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], rejected.as_str());
    assert_eq!(data[0]["type"], "outbox_effects");
    assert_eq!(data[0]["attributes"]["state"], "failed");
    assert_eq!(data[0]["attributes"]["last_outcome"], "rejected");
    assert_eq!(
        data[0]["attributes"]["last_error"],
        "Field 'priority' cannot be set"
    );

    // Paging: one per page, by cursor, every effect once.
    let mut seen = Vec::new();
    let mut path = "/api/v2/casebridge/outbox?filter[integration]=jira&page[limit]=1".to_string();
    loop {
        let (status, body) = server.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for item in body["data"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match body["links"]["next"].as_str() {
            Some(next) => path = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, vec![rejected.0.clone(), done.0.clone()]);

    let (status, body) = server
        .call(
            Method::GET,
            &format!("/api/v2/casebridge/outbox/{done}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["attributes"]["result"],
        json!({"key": "SEC-2"})
    );

    let retry = format!("/api/v2/casebridge/outbox/{rejected}/retry");
    let (status, body) = server.call(Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["attributes"]["state"], "pending");
    let (status, body) = server.call(Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_detail(&body).contains("is pending"), "{body}");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v2/casebridge/outbox/{done}/retry"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Cancel with a reason, then it no longer runs.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v2/casebridge/outbox/{rejected}/cancel"),
            Some(json!({"data": {"type": "outbox_cancellation", "attributes": {"reason": "sent by hand"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["attributes"]["state"], "cancelled");
    assert_eq!(body["data"]["attributes"]["last_error"], "sent by hand");

    for (path, expected) in [
        ("/api/v2/casebridge/outbox/nope", StatusCode::NOT_FOUND),
        (
            "/api/v2/casebridge/outbox?filter[state]=stuck",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v2/casebridge/outbox?page[limit]=5000",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v2/casebridge/outbox?page[cursor]=garbage",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = server.call(Method::GET, path, None).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert_eq!(body["errors"][0]["status"], expected.as_u16().to_string());
    }
    let (status, body) = server
        .call(Method::POST, "/api/v2/casebridge/outbox/nope/retry", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(error_detail(&body).contains("nope"));
}
on_both_engines!(
    failed_effects_are_listed_and_retried_over_the_api,
    failed_effects_are_listed_and_retried_over_the_api_body
);

async fn integrations_are_paused_resumed_and_report_health_body(db: &TestDb) {
    let server = Server::start(db).await;
    let health = "/api/v2/casebridge/integrations/jira/health";
    let (status, body) = server.call(Method::GET, health, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], "jira");
    assert_eq!(body["data"]["type"], "sync_health");
    assert_eq!(body["data"]["attributes"]["pending"], 0);
    assert_eq!(body["data"]["attributes"]["paused"], Value::Null);

    enqueue_one(db, effect("jira", "case-1", "update", 1), now_ms() - 5_000).await;
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v2/casebridge/integrations/jira/pause",
            Some(json!({"data": {"type": "integration_pause", "attributes": {"reason": "rotating the API token"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let attributes = &body["data"]["attributes"];
    assert_eq!(attributes["paused"]["reason"], "rotating the API token");
    assert_eq!(attributes["pending"], 1);
    assert!(attributes["oldest_pending_age_ms"].as_i64().unwrap() >= 5_000);
    let any = ClaimRequest {
        limit: 10,
        lease_ms: 1_000,
        kinds: None,
    };
    assert!(outbox(db)
        .claim("w", &any, now_ms())
        .await
        .unwrap()
        .is_empty());

    let (status, body) = server
        .call(
            Method::POST,
            "/api/v2/casebridge/integrations/jira/pause",
            Some(json!({"data": {"type": "wrong"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_detail(&body).contains("data.type"), "{body}");

    let resume = "/api/v2/casebridge/integrations/jira/resume";
    let (status, body) = server.call(Method::POST, resume, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["was_paused"], true);
    assert_eq!(body["data"]["attributes"]["paused"], Value::Null);
    let (_, body) = server.call(Method::POST, resume, None).await;
    assert_eq!(body["meta"]["was_paused"], false);
    assert_eq!(
        outbox(db).claim("w", &any, now_ms()).await.unwrap().len(),
        1
    );

    // A pause without a body names the admin who paused.
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v2/casebridge/integrations/snow/pause",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["attributes"]["paused"]["reason"],
        "paused by admin"
    );
}
on_both_engines!(
    integrations_are_paused_resumed_and_report_health,
    integrations_are_paused_resumed_and_report_health_body
);
