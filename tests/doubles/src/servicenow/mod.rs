//! The ServiceNow double: Table API (`/api/now/table`, also `/api/now/v1|v2/table`), Attachment
//! API, `POST /oauth_token.do`, outbound notifications, fault injection, a request log, and a
//! control API under `/_double/`.
//!
//! Outbound notifications stand in for what an instance would send from a business rule with an
//! outbound REST message. The format casebridge expects (and documents for customers' setup):
//! `POST <url>` with body `{"event":"insert|update|delete","table":"<table>","record":{…}}`
//! (record values as strings, references as sys_ids) and headers `X-Casebridge-Delivery: <uuid>`
//! (unique per event, the same on every retry) and, with a secret,
//! `X-ServiceNow-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.
//!
//! Invariants: one lock guards all records; notifications are queued after it is released, in
//! change order; control routes are neither logged, faulted nor authenticated.

pub mod auth;
mod control;
pub mod error;
pub mod query;
pub mod render;
mod routes;
pub mod state;
pub mod tables;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

use crate::common::clock::Clock;
use crate::common::faults::{ActiveFault, FaultSpec, FaultSpecError, RateLimit};
use crate::common::observe::Observer;
use crate::common::outbound::{
    DeliveryRecord, Outbound, OutboundStyle, RetryPolicy, WebhookTarget,
};
use crate::common::request_log::RequestRecord;
use crate::common::retry_after::RetryAfterViolation;
use crate::common::Backend;
use crate::DoubleError;

use auth::{OAuthSettings, TokenStore};
use error::SnError;
use state::ServiceNowState;
use tables::{Record, ServiceNowSeed};

/// How to start a ServiceNow double.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceNowConfig {
    pub listen: SocketAddr,
    pub seed: ServiceNowSeed,
    /// Where outbound notifications go (none: not sent).
    pub notifications: Option<WebhookTarget>,
    pub notification_retry: RetryPolicy,
    /// Tables whose inserts/updates/deletes are notified.
    pub notification_tables: Vec<String>,
    pub oauth: OAuthSettings,
    pub fault_seed: u64,
    pub attachment_max_bytes: usize,
    /// Whether the closure data policy applies to web-service writes (it does when the
    /// instance's data policy is set to apply to web services).
    pub enforce_data_policy: bool,
}

impl Default for ServiceNowConfig {
    fn default() -> Self {
        ServiceNowConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: ServiceNowSeed::default(),
            notifications: None,
            notification_retry: RetryPolicy::default(),
            notification_tables: vec!["incident".into(), "sn_si_incident".into()],
            oauth: OAuthSettings::default(),
            fault_seed: 0,
            attachment_max_bytes: 10 * 1024 * 1024,
            enforce_data_policy: true,
        }
    }
}

/// Credentials of the default seed.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceNowCredentials {
    pub username: String,
    pub password: String,
    pub client_id: String,
    pub client_secret: String,
}

pub struct ServiceNowShared {
    pub(crate) config: Mutex<ServiceNowConfig>,
    pub(crate) base_url: String,
    pub(crate) clock: Clock,
    state: Mutex<ServiceNowState>,
    tokens: Mutex<TokenStore>,
    oauth: Mutex<OAuthSettings>,
    pub(crate) observer: Arc<Observer>,
    pub(crate) outbound: Outbound,
}

impl ServiceNowShared {
    fn lock_state(&self) -> MutexGuard<'_, ServiceNowState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn oauth_settings(&self) -> OAuthSettings {
        self.oauth.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_oauth_settings(&self, settings: OAuthSettings) {
        *self.oauth.lock().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    fn config(&self) -> ServiceNowConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs an operation with the current time (SLAs refreshed first), then queues notifications.
    pub(crate) fn mutate<T>(&self, op: impl FnOnce(&mut ServiceNowState, i64) -> T) -> T {
        let now = self.clock.now_ms();
        let (result, events) = {
            let mut state = self.lock_state();
            state.refresh_slas(now);
            let result = op(&mut state, now);
            state.refresh_slas(now);
            (result, state.take_outbox())
        };
        self.outbound.enqueue(events);
        result
    }

    /// Read access; SLA timing is brought up to date first.
    pub(crate) fn read<T>(&self, op: impl FnOnce(&ServiceNowState) -> T) -> T {
        let now = self.clock.now_ms();
        let mut state = self.lock_state();
        state.refresh_slas(now);
        op(&state)
    }

    pub(crate) fn reset(&self) {
        let config = self.config();
        let now = self.clock.now_ms();
        {
            let mut state = self.lock_state();
            *state = ServiceNowState::new(
                config.seed.clone(),
                self.base_url.clone(),
                config.attachment_max_bytes,
                config.notification_tables.clone(),
                config.enforce_data_policy,
                now,
            );
        }
        self.tokens().clear();
        self.set_oauth_settings(config.oauth.clone());
        self.observer.reset(config.fault_seed);
        self.outbound.reset(
            config.notifications.clone(),
            config.notification_retry.clone(),
        );
    }

    pub(crate) fn credentials(&self) -> ServiceNowCredentials {
        self.read(|s| {
            let user = s.seed.users.iter().find(|u| u.password.is_some());
            let client = s.seed.oauth_clients.first();
            ServiceNowCredentials {
                username: user.map(|u| u.user_name.clone()).unwrap_or_default(),
                password: user.and_then(|u| u.password.clone()).unwrap_or_default(),
                client_id: client.map(|c| c.client_id.clone()).unwrap_or_default(),
                client_secret: client.map(|c| c.client_secret.clone()).unwrap_or_default(),
            }
        })
    }

    fn human(&self, as_user: Option<&str>) -> String {
        as_user
            .map(str::to_string)
            .unwrap_or_else(|| self.read(|s| s.seed.human_user_name.clone()))
    }

    /// A "human" update through the same rules as the API.
    pub(crate) fn human_update(
        &self,
        table: &str,
        sys_id: &str,
        fields: Map<String, Value>,
        as_user: Option<&str>,
    ) -> Result<(), SnError> {
        let actor = self.human(as_user);
        self.mutate(|s, now| s.update(&actor, table, sys_id, &fields, false, now))
    }

    pub(crate) fn human_insert(
        &self,
        table: &str,
        fields: Map<String, Value>,
        as_user: Option<&str>,
    ) -> Result<String, SnError> {
        let actor = self.human(as_user);
        self.mutate(|s, now| s.insert(&actor, table, &fields, false, now))
    }
}

/// Entry point.
pub struct ServiceNowDouble;

impl ServiceNowDouble {
    pub async fn start(config: ServiceNowConfig) -> Result<ServiceNowDoubleHandle, DoubleError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(DoubleError::Bind)?;
        let addr = listener.local_addr().map_err(DoubleError::Bind)?;
        let base_url = format!("http://{addr}");
        let clock = Clock::default();
        let observer = Arc::new(Observer::new(
            Backend::ServiceNow,
            clock.clone(),
            config.fault_seed,
            None,
        ));
        let outbound = Outbound::start(
            OutboundStyle::ServiceNow,
            config.notifications.clone(),
            config.notification_retry.clone(),
            clock.clone(),
        );
        let state = ServiceNowState::new(
            config.seed.clone(),
            base_url.clone(),
            config.attachment_max_bytes,
            config.notification_tables.clone(),
            config.enforce_data_policy,
            clock.now_ms(),
        );
        let shared = Arc::new(ServiceNowShared {
            oauth: Mutex::new(config.oauth.clone()),
            config: Mutex::new(config),
            base_url: base_url.clone(),
            clock,
            state: Mutex::new(state),
            tokens: Mutex::new(TokenStore::default()),
            observer,
            outbound,
        });
        let app = routes::router(shared.clone()).merge(control::router(shared.clone()));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "servicenow double stopped");
            }
        });
        Ok(ServiceNowDoubleHandle {
            shared,
            base_url,
            addr,
            task,
        })
    }
}

/// A running ServiceNow double. Dropping it stops the server.
pub struct ServiceNowDoubleHandle {
    shared: Arc<ServiceNowShared>,
    base_url: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for ServiceNowDoubleHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ServiceNowDoubleHandle {
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn credentials(&self) -> ServiceNowCredentials {
        self.shared.credentials()
    }

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

    pub fn reseed_faults(&self, seed: u64) {
        self.shared.observer.faults().reseed(seed);
    }

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

    /// Raw records of a table (values as stored), in insertion order.
    pub fn records(&self, table: &str) -> Vec<Record> {
        self.shared.read(|s| match s.table(table) {
            Ok(def) => s
                .list(def, &query::EncodedQuery::default())
                .into_iter()
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        })
    }

    pub fn record(&self, table: &str, sys_id: &str) -> Option<Record> {
        self.shared.read(|s| s.get(table, sys_id).cloned())
    }

    /// Records matching an encoded query.
    pub fn query(&self, table: &str, encoded_query: &str) -> Vec<Record> {
        self.shared.read(|s| match s.table(table) {
            Ok(def) => {
                let q = query::parse(encoded_query, def, &s.tables);
                s.list(def, &q).into_iter().cloned().collect()
            }
            Err(_) => Vec::new(),
        })
    }

    /// Journal entries (`comments` and `work_notes`) of a record, oldest first.
    pub fn journal(&self, sys_id: &str) -> Vec<Record> {
        self.query(
            "sys_journal_field",
            &format!("element_id={sys_id}^ORDERBYsys_created_on"),
        )
    }

    /// Every table's records as JSON.
    pub fn state_json(&self) -> Value {
        self.shared
            .read(|s| json!({"base_url": s.base_url, "tables": s.dump()}))
    }

    pub fn reset(&self) {
        self.shared.reset();
    }

    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by.as_millis() as i64);
    }

    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    pub fn set_oauth_settings(&self, settings: OAuthSettings) {
        self.shared.set_oauth_settings(settings);
    }

    pub fn set_attachment_limit(&self, bytes: usize) {
        self.shared.mutate(|s, _| s.attachment_max_bytes = bytes);
    }

    /// The deterministic sys_id of a seeded user / group / server.
    pub fn seed_sys_id(kind: &str, name: &str) -> String {
        tables::seed_sys_id(kind, name)
    }

    // -- notifications --

    pub fn set_notifications(&self, target: Option<WebhookTarget>) {
        self.shared.outbound.set_target(target);
    }

    pub fn set_notification_retry(&self, policy: RetryPolicy) {
        self.shared.outbound.set_policy(policy);
    }

    pub fn drop_next_notifications(&self, count: u32) {
        self.shared.outbound.drop_next(count);
    }

    pub fn notification_deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.outbound.records()
    }

    pub async fn wait_for_notifications(&self, timeout: Duration) -> bool {
        self.shared.outbound.wait_idle(timeout).await
    }

    // -- human actions (as the seed's human user unless `as_user` is given) --

    /// Changes `state`, with optional close fields / hold reason (the data policy applies).
    pub fn human_set_state(
        &self,
        table: &str,
        sys_id: &str,
        state: &str,
        close_code: Option<&str>,
        close_notes: Option<&str>,
        as_user: Option<&str>,
    ) -> Result<(), SnError> {
        let mut fields = Map::new();
        fields.insert("state".into(), json!(state));
        if let Some(code) = close_code {
            fields.insert("close_code".into(), json!(code));
        }
        if let Some(notes) = close_notes {
            fields.insert("close_notes".into(), json!(notes));
        }
        self.shared.human_update(table, sys_id, fields, as_user)
    }

    /// Adds a customer-visible comment (`comments`) or a work note (`work_notes`).
    pub fn human_journal(
        &self,
        table: &str,
        sys_id: &str,
        element: &str,
        text: &str,
        as_user: Option<&str>,
    ) -> Result<(), SnError> {
        if element != "comments" && element != "work_notes" {
            return Err(SnError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "Invalid journal field",
                Some("use comments or work_notes".into()),
            ));
        }
        let mut fields = Map::new();
        fields.insert(element.into(), json!(text));
        self.shared.human_update(table, sys_id, fields, as_user)
    }

    /// Assigns to a user (sys_id or user_name) and/or group (sys_id or name); `""` clears.
    pub fn human_assign(
        &self,
        table: &str,
        sys_id: &str,
        assigned_to: Option<&str>,
        assignment_group: Option<&str>,
        as_user: Option<&str>,
    ) -> Result<(), SnError> {
        let mut fields = Map::new();
        if let Some(user) = assigned_to {
            fields.insert("assigned_to".into(), json!(user));
        }
        if let Some(group) = assignment_group {
            fields.insert("assignment_group".into(), json!(group));
        }
        self.shared.human_update(table, sys_id, fields, as_user)
    }

    /// Any other field change as a human.
    pub fn human_update(
        &self,
        table: &str,
        sys_id: &str,
        fields: Map<String, Value>,
        as_user: Option<&str>,
    ) -> Result<(), SnError> {
        self.shared.human_update(table, sys_id, fields, as_user)
    }

    /// Creates a record as a human (or seeds CMDB/users/groups); returns the sys_id.
    pub fn human_insert(
        &self,
        table: &str,
        fields: Map<String, Value>,
        as_user: Option<&str>,
    ) -> Result<String, SnError> {
        self.shared.human_insert(table, fields, as_user)
    }

    pub fn human_delete(&self, table: &str, sys_id: &str) -> Result<(), SnError> {
        self.shared.mutate(|s, _| s.delete(table, sys_id))
    }
}
