//! Helpers shared by the integration tests: started doubles, authenticated clients, ADF
//! builders and a webhook receiver that records what it gets and can fail on demand.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use casebridge_doubles::jira::{JiraConfig, JiraDouble, JiraDoubleHandle};
use casebridge_doubles::servicenow::{ServiceNowConfig, ServiceNowDouble, ServiceNowDoubleHandle};
use serde_json::{json, Value};

pub async fn jira() -> JiraDoubleHandle {
    JiraDouble::start(JiraConfig::default()).await.unwrap()
}

pub async fn servicenow() -> ServiceNowDoubleHandle {
    ServiceNowDouble::start(ServiceNowConfig::default())
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A Jira Cloud client (Basic email:token) bound to a double.
pub struct JiraClient {
    pub base: String,
    pub http: reqwest::Client,
    pub email: String,
    pub token: String,
}

impl JiraClient {
    pub fn cloud(double: &JiraDoubleHandle) -> Self {
        let c = double.credentials();
        JiraClient {
            base: double.base_url().to_string(),
            http: client(),
            email: c.email,
            token: c.api_token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(path))
            .basic_auth(&self.email, Some(&self.token))
    }

    pub fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .basic_auth(&self.email, Some(&self.token))
            .json(&body)
    }

    pub fn put(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .put(self.url(path))
            .basic_auth(&self.email, Some(&self.token))
            .json(&body)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(self.url(path))
            .basic_auth(&self.email, Some(&self.token))
    }

    /// Creates a Task in SEC with an ADF description; returns the key.
    pub async fn create(&self, summary: &str) -> String {
        let response = self
            .post(
                "/rest/api/3/issue",
                json!({"fields": {
                    "project": {"key": "SEC"},
                    "issuetype": {"name": "Task"},
                    "summary": summary,
                    "description": adf("details"),
                    "labels": ["casebridge"],
                }}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["key"].as_str().unwrap().to_string()
    }
}

/// A one-paragraph ADF document.
pub fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// A ServiceNow client (Basic auth) bound to a double.
pub struct SnClient {
    pub base: String,
    pub http: reqwest::Client,
    pub user: String,
    pub password: String,
}

impl SnClient {
    pub fn basic(double: &ServiceNowDoubleHandle) -> Self {
        let c = double.credentials();
        SnClient {
            base: double.base_url().to_string(),
            http: client(),
            user: c.username,
            password: c.password,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(path))
            .basic_auth(&self.user, Some(&self.password))
    }

    pub fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .basic_auth(&self.user, Some(&self.password))
            .json(&body)
    }

    pub fn patch(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .patch(self.url(path))
            .basic_auth(&self.user, Some(&self.password))
            .json(&body)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(self.url(path))
            .basic_auth(&self.user, Some(&self.password))
    }

    /// Inserts an incident; returns the result record.
    pub async fn create_incident(&self, fields: Value) -> Value {
        let response = self
            .post("/api/now/table/incident", fields)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["result"].clone()
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    fail_next: u32,
}

/// A local HTTP endpoint that records POSTs and answers 200 (or 500 while `fail_next` > 0).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    pub fn fail_next(&self, count: u32) {
        self.state.lock().unwrap().fail_next = count;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut s = state.lock().unwrap();
    s.received.push(Received { headers, body });
    if s.fail_next > 0 {
        s.fail_next -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Lowercase hex HMAC-SHA256, computed independently of the crate under test.
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
