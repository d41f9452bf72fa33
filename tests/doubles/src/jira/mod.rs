//! The Jira double: Cloud REST v3 (`/rest/api/3`) and Data Center REST v2 (`/rest/api/2`) over
//! one shared state, with webhooks, fault injection, a request log, contract checking against
//! the official OpenAPI, and a control API under `/_double/`.
//!
//! Start it with [`JiraDouble::start`]; the returned [`JiraDoubleHandle`] is the Rust API for
//! tests (faults, human actions, inspection, webhook configuration, reset, shutdown).
//!
//! Invariants: every state change goes through [`state::JiraState`] under one lock and its
//! webhook events are queued after the lock is released, in the order the changes happened;
//! control routes are neither logged, faulted, rate limited nor authenticated.

pub mod adf;
pub mod auth;
mod control;
pub mod error;
pub mod jql;
pub mod model;
pub mod render;
mod routes;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::common::clock::Clock;
use crate::common::faults::{ActiveFault, FaultSpec, FaultSpecError, RateLimit};
use crate::common::observe::{Observer, RequestInspector};
use crate::common::outbound::{
    DeliveryRecord, Outbound, OutboundStyle, RetryPolicy, WebhookTarget,
};
use crate::common::request_log::RequestRecord;
use crate::common::retry_after::RetryAfterViolation;
use crate::common::Backend;
use crate::jira_contract::{ContractViolation, JiraContract};
use crate::DoubleError;

use error::JiraError;
use model::{ApiVersion, Issue, JiraSeed, ProjectDef, RichText, UserDef, Workflow};
use state::JiraState;

/// How to start a Jira double.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct JiraConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    pub seed: JiraSeed,
    pub webhook: Option<WebhookTarget>,
    pub webhook_retry: RetryPolicy,
    /// Representation of `issue`/`comment` in webhook bodies (Cloud reportedly sends v2 shapes).
    pub webhook_format: ApiVersion,
    /// Seed for probability faults.
    pub fault_seed: u64,
    /// Attachments larger than this are refused with 413.
    pub attachment_max_bytes: usize,
    /// Run the official-OpenAPI validator on every v3 request.
    pub validate_contract: bool,
}

impl Default for JiraConfig {
    fn default() -> Self {
        JiraConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: JiraSeed::default(),
            webhook: None,
            webhook_retry: RetryPolicy::default(),
            webhook_format: ApiVersion::V2,
            fault_seed: 0,
            attachment_max_bytes: 10 * 1024 * 1024,
            validate_contract: true,
        }
    }
}

/// A contract violation tied to the request that caused it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedViolation {
    pub request_seq: u64,
    #[serde(flatten)]
    pub violation: ContractViolation,
}

/// Runs the official-spec validator on every `/rest/api/3/…` request and keeps what it finds.
pub struct ContractRecorder {
    contract: Option<Arc<JiraContract>>,
    violations: Mutex<Vec<RecordedViolation>>,
}

impl ContractRecorder {
    fn lock(&self) -> MutexGuard<'_, Vec<RecordedViolation>> {
        self.violations.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RequestInspector for ContractRecorder {
    fn inspect(
        &self,
        seq: u64,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let Some(contract) = &self.contract else {
            return;
        };
        if !path.starts_with("/rest/api/3/") {
            return;
        }
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
        let found = contract.validate(method, path, query, content_type, body);
        if !found.is_empty() {
            self.lock()
                .extend(found.into_iter().map(|violation| RecordedViolation {
                    request_seq: seq,
                    violation,
                }));
        }
    }
}

/// Credentials of the default seed, for tests and the binary's startup line.
#[derive(Clone, Debug, Serialize)]
pub struct JiraCredentials {
    pub email: String,
    pub api_token: String,
    pub account_id: String,
    pub oauth_access_token: Option<String>,
    pub dc_username: Option<String>,
    pub dc_personal_access_token: Option<String>,
}

/// State shared by the HTTP routes and the handle.
pub struct JiraShared {
    pub(crate) config: Mutex<JiraConfig>,
    pub(crate) base_url: String,
    pub(crate) clock: Clock,
    state: Mutex<JiraState>,
    pub(crate) observer: Arc<Observer>,
    pub(crate) outbound: Outbound,
    pub(crate) contract: Arc<ContractRecorder>,
}

impl JiraShared {
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, JiraState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> JiraConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs a state operation with the current time, then queues the webhooks it produced.
    pub(crate) fn mutate<T>(&self, op: impl FnOnce(&mut JiraState, i64) -> T) -> T {
        let now = self.clock.now_ms();
        let (result, events) = {
            let mut state = self.lock_state();
            let result = op(&mut state, now);
            (result, state.take_outbox())
        };
        self.outbound.enqueue(events);
        result
    }

    pub(crate) fn read<T>(&self, op: impl FnOnce(&JiraState) -> T) -> T {
        op(&self.lock_state())
    }

    fn human_actor(&self, as_user: Option<&str>) -> String {
        as_user
            .map(str::to_string)
            .unwrap_or_else(|| self.read(|s| s.seed.human_account_id.clone()))
    }

    pub(crate) fn reset(&self) {
        let config = self.config();
        {
            let mut state = self.lock_state();
            *state = JiraState::new(
                config.seed.clone(),
                self.base_url.clone(),
                config.webhook_format,
                config.attachment_max_bytes,
            );
        }
        self.observer.reset(config.fault_seed);
        self.contract.lock().clear();
        self.outbound
            .reset(config.webhook.clone(), config.webhook_retry.clone());
    }

    pub(crate) fn credentials(&self) -> JiraCredentials {
        self.read(|state| {
            let basic = state.seed.basic_credentials.first();
            let email = basic.map(|b| b.email.clone()).unwrap_or_default();
            let account_id = state
                .user_by_email(&email)
                .map(|u| u.account_id.clone())
                .unwrap_or_default();
            let oauth = state
                .seed
                .bearer_credentials
                .iter()
                .find(|b| b.kind == model::BearerKind::Oauth)
                .map(|b| b.token.clone());
            let pat = state
                .seed
                .bearer_credentials
                .iter()
                .find(|b| b.kind == model::BearerKind::Pat);
            JiraCredentials {
                email,
                api_token: basic.map(|b| b.api_token.clone()).unwrap_or_default(),
                account_id,
                oauth_access_token: oauth,
                dc_username: pat
                    .and_then(|p| state.user(&p.account_id))
                    .map(|u| u.name.clone()),
                dc_personal_access_token: pat.map(|p| p.token.clone()),
            }
        })
    }

    pub(crate) fn state_json(&self) -> Value {
        self.read(|state| {
            let issues: Vec<Value> = state
                .issues
                .values()
                .map(|issue| {
                    let mut raw = serde_json::to_value(issue).unwrap_or(Value::Null);
                    if let Some(map) = raw.as_object_mut() {
                        map.insert(
                            "rendered_v3".into(),
                            render::issue_json(
                                state,
                                issue,
                                ApiVersion::V3,
                                &render::FieldSelection::all(),
                                &Default::default(),
                            ),
                        );
                        map.insert(
                            "transitions_available".into(),
                            Value::Array(state.transitions_json(issue, ApiVersion::V3)),
                        );
                    }
                    raw
                })
                .collect();
            json!({
                "base_url": state.base_url,
                "projects": state.seed.projects,
                "users": state.seed.users,
                "priorities": state.seed.priorities,
                "issues": issues,
                "attachment_max_bytes": state.attachment_max_bytes,
            })
        })
    }
}

/// Entry point.
pub struct JiraDouble;

impl JiraDouble {
    /// Binds, seeds and starts serving; returns once the socket is listening.
    pub async fn start(config: JiraConfig) -> Result<JiraDoubleHandle, DoubleError> {
        for project in &config.seed.projects {
            project
                .workflow
                .check()
                .map_err(|e| DoubleError::Config(format!("project {}: {e}", project.key)))?;
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(DoubleError::Bind)?;
        let addr = listener.local_addr().map_err(DoubleError::Bind)?;
        let base_url = format!("http://{addr}");
        let clock = Clock::default();
        let contract = if config.validate_contract {
            Some(
                JiraContract::official()
                    .map_err(|e| DoubleError::Config(format!("Jira OpenAPI: {e}")))?,
            )
        } else {
            None
        };
        let recorder = Arc::new(ContractRecorder {
            contract,
            violations: Mutex::new(Vec::new()),
        });
        let observer = Arc::new(Observer::new(
            Backend::Jira,
            clock.clone(),
            config.fault_seed,
            Some(recorder.clone() as Arc<dyn RequestInspector>),
        ));
        let outbound = Outbound::start(
            OutboundStyle::Jira,
            config.webhook.clone(),
            config.webhook_retry.clone(),
            clock.clone(),
        );
        let state = JiraState::new(
            config.seed.clone(),
            base_url.clone(),
            config.webhook_format,
            config.attachment_max_bytes,
        );
        let shared = Arc::new(JiraShared {
            config: Mutex::new(config),
            base_url: base_url.clone(),
            clock,
            state: Mutex::new(state),
            observer,
            outbound,
            contract: recorder,
        });
        let app = routes::router(shared.clone()).merge(control::router(shared.clone()));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "jira double stopped");
            }
        });
        Ok(JiraDoubleHandle {
            shared,
            base_url,
            addr,
            task,
        })
    }
}

/// A running Jira double. Dropping it stops the server.
pub struct JiraDoubleHandle {
    shared: Arc<JiraShared>,
    base_url: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for JiraDoubleHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JiraDoubleHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn credentials(&self) -> JiraCredentials {
        self.shared.credentials()
    }

    /// Stops serving (in-flight requests are cut).
    pub fn shutdown(self) {
        self.task.abort();
    }

    // -- faults and limits --

    pub fn add_fault(&self, spec: FaultSpec) -> Result<u64, FaultSpecError> {
        self.shared.observer.faults().add(spec)
    }

    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.observer.faults().remove(id)
    }

    pub fn clear_faults(&self) {
        self.shared.observer.faults().clear();
    }

    pub fn faults(&self) -> Vec<ActiveFault> {
        self.shared.observer.faults().list()
    }

    /// Restarts the probability-fault RNG from `seed`.
    pub fn reseed_faults(&self, seed: u64) {
        self.shared.observer.faults().reseed(seed);
    }

    /// Per-second token bucket; excess requests get 429 with Retry-After. `None` removes it.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.observer.set_rate_limit(limit);
    }

    pub fn retry_after_violations(&self) -> Vec<RetryAfterViolation> {
        self.shared.observer.retry_after().violations()
    }

    pub fn retry_after_violation_count(&self) -> usize {
        self.retry_after_violations().len()
    }

    // -- observation --

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.observer.log().since(0)
    }

    pub fn clear_requests(&self) {
        self.shared.observer.log().clear();
    }

    /// Departures from the official Jira OpenAPI seen on v3 requests.
    pub fn contract_violations(&self) -> Vec<RecordedViolation> {
        self.shared.contract.lock().clone()
    }

    pub fn issues(&self) -> Vec<Issue> {
        self.shared.read(|s| s.issues.values().cloned().collect())
    }

    pub fn issue(&self, id_or_key: &str) -> Option<Issue> {
        self.shared.read(|s| s.issue(id_or_key).ok().cloned())
    }

    /// Everything: projects, users, issues (raw and rendered), as JSON.
    pub fn state_json(&self) -> Value {
        self.shared.state_json()
    }

    /// Back to the seeded state: no issues, no faults, empty logs, configured webhook.
    pub fn reset(&self) {
        self.shared.reset();
    }

    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by.as_millis() as i64);
    }

    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    // -- webhooks --

    pub fn set_webhook(&self, target: Option<WebhookTarget>) {
        self.shared.outbound.set_target(target);
    }

    pub fn set_webhook_retry(&self, policy: RetryPolicy) {
        self.shared.outbound.set_policy(policy);
    }

    /// The next `count` webhook deliveries are lost (recorded as dropped, never sent).
    pub fn drop_next_webhooks(&self, count: u32) {
        self.shared.outbound.drop_next(count);
    }

    pub fn webhook_deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.outbound.records()
    }

    /// Waits until queued deliveries (and their retries) are done.
    pub async fn wait_for_webhooks(&self, timeout: Duration) -> bool {
        self.shared.outbound.wait_idle(timeout).await
    }

    // -- human actions (as the seed's human user unless `as_user` is given) --

    /// Creates an issue as a human; `fields` as in a v3 create body. Returns the key.
    pub fn human_create_issue(
        &self,
        fields: Value,
        as_user: Option<&str>,
    ) -> Result<String, JiraError> {
        let actor = self.shared.human_actor(as_user);
        self.shared
            .mutate(|s, now| {
                s.create_issue(&actor, &json!({"fields": fields}), ApiVersion::V3, now)
            })
            .map(|c| c.key)
    }

    /// Transitions by transition id, transition name, or target status name.
    pub fn human_transition(
        &self,
        issue: &str,
        transition: &str,
        as_user: Option<&str>,
    ) -> Result<(), JiraError> {
        let actor = self.shared.human_actor(as_user);
        self.shared
            .mutate(|s, now| s.transition(&actor, issue, transition, now))
    }

    /// Adds a plain-text comment (stored as ADF). Returns the comment id.
    pub fn human_comment(
        &self,
        issue: &str,
        text: &str,
        as_user: Option<&str>,
    ) -> Result<u64, JiraError> {
        let actor = self.shared.human_actor(as_user);
        let body = RichText::Adf(adf::from_wiki(text));
        self.shared
            .mutate(|s, now| s.add_comment(&actor, issue, body, None, now))
            .map(|(_, id)| id)
    }

    pub fn human_edit_comment(
        &self,
        issue: &str,
        comment_id: u64,
        text: &str,
        as_user: Option<&str>,
    ) -> Result<(), JiraError> {
        let actor = self.shared.human_actor(as_user);
        let body = RichText::Adf(adf::from_wiki(text));
        self.shared.mutate(|s, now| {
            s.update_comment(&actor, issue, &comment_id.to_string(), body, None, now)
        })
    }

    pub fn human_delete_comment(
        &self,
        issue: &str,
        comment_id: u64,
        as_user: Option<&str>,
    ) -> Result<(), JiraError> {
        let actor = self.shared.human_actor(as_user);
        self.shared
            .mutate(|s, now| s.delete_comment(&actor, issue, &comment_id.to_string(), now))
    }

    /// Assigns to an account id, or unassigns with `None`.
    pub fn human_assign(
        &self,
        issue: &str,
        account_id: Option<&str>,
        as_user: Option<&str>,
    ) -> Result<(), JiraError> {
        let actor = self.shared.human_actor(as_user);
        self.shared
            .mutate(|s, now| s.assign(&actor, issue, account_id.map(str::to_string), now))
    }

    /// Edits fields (v3 shapes: ADF description, `{"accountId":…}` users).
    pub fn human_edit(
        &self,
        issue: &str,
        fields: Value,
        as_user: Option<&str>,
    ) -> Result<(), JiraError> {
        let actor = self.shared.human_actor(as_user);
        self.shared
            .mutate(|s, now| s.edit_fields(&actor, issue, &fields, now))
    }

    pub fn human_delete_issue(&self, issue: &str, as_user: Option<&str>) -> Result<(), JiraError> {
        let actor = self.shared.human_actor(as_user);
        self.shared
            .mutate(|s, now| s.delete_issue(&actor, issue, now))
    }

    // -- configuration --

    pub fn delete_project(&self, id_or_key: &str) -> bool {
        self.shared.mutate(|s, _| s.delete_project(id_or_key))
    }

    pub fn delete_issue_type(&self, project: &str, issue_type: &str) -> bool {
        self.shared
            .mutate(|s, _| s.delete_issue_type(project, issue_type))
    }

    pub fn set_workflow(&self, project: &str, workflow: Workflow) -> Result<(), String> {
        self.shared.mutate(|s, _| s.set_workflow(project, workflow))
    }

    pub fn add_project(&self, project: ProjectDef) -> Result<(), String> {
        self.shared.mutate(|s, _| s.add_project(project))
    }

    pub fn add_user(&self, user: UserDef) -> Result<(), String> {
        self.shared.mutate(|s, _| s.add_user(user))
    }

    pub fn set_attachment_limit(&self, bytes: usize) {
        self.shared.mutate(|s, _| s.attachment_max_bytes = bytes);
    }
}
