//! # casebridge-doubles
//!
//! Stateful test doubles of **Jira** (Cloud REST v3 and Data Center REST v2) and **ServiceNow**
//! (Table API, Attachment API, OAuth) that behave as the published contracts say, keep state,
//! emit webhooks / outbound notifications, inject faults on demand, and record what clients did.
//! The contracts they follow are vendored under `tests/contracts/` (see its README).
//!
//! Why this crate exists: casebridge's connectors and sync engine must be tested against
//! something that answers like the real products — including their errors, rate limits, lost
//! webhooks and human edits — without a network. The crate is independent of the host crate.
//!
//! ## Rust API (in-process)
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use casebridge_doubles::common::faults::{FaultKind, FaultSpec, RateLimit};
//! use casebridge_doubles::common::outbound::WebhookTarget;
//! use casebridge_doubles::jira::{JiraConfig, JiraDouble};
//! use casebridge_doubles::servicenow::{ServiceNowConfig, ServiceNowDouble};
//!
//! let jira = JiraDouble::start(JiraConfig::default()).await?;   // binds 127.0.0.1:0
//! let creds = jira.credentials();       // email + API token, OAuth token, DC user + PAT
//! let base = jira.base_url();           // http://127.0.0.1:PORT
//! jira.set_webhook(Some(WebhookTarget { url: "http://127.0.0.1:9/hook".into(), secret: Some("s".into()) }));
//! jira.add_fault(FaultSpec::next(1, FaultKind::RateLimited { retry_after_secs: 2, reason: None }))?;
//! jira.set_rate_limit(Some(RateLimit { per_second: 5.0, burst: None }));
//! // ... drive the connector against `base` ...
//! jira.human_transition("SEC-1", "Done", None)?;     // by transition id, name or target status
//! jira.human_comment("SEC-1", "seen", None)?;
//! assert!(jira.contract_violations().is_empty());     // every v3 request vs the official spec
//! assert_eq!(jira.retry_after_violation_count(), 0);
//! jira.wait_for_webhooks(Duration::from_secs(5)).await;
//!
//! let snow = ServiceNowDouble::start(ServiceNowConfig::default()).await?;
//! snow.human_set_state("incident", "<sys_id>", "6", Some("Solution provided"), Some("fixed"), None)?;
//! snow.advance_clock(Duration::from_secs(3600));     // token expiry, SLA breach, polling
//! # Ok(()) }
//! ```
//!
//! Handles: [`jira::JiraDoubleHandle`] and [`servicenow::ServiceNowDoubleHandle`]. Both offer
//! `base_url`, `credentials`, `add_fault` / `remove_fault` / `clear_faults` / `faults` /
//! `reseed_faults`, `set_rate_limit`, `retry_after_violations` (+ `_count`), `requests` /
//! `clear_requests`, `state_json`, `reset`, `advance_clock` / `now_ms`, `shutdown` (dropping the
//! handle also stops the server). Jira adds `contract_violations`, `issues` / `issue`,
//! webhook control (`set_webhook`, `set_webhook_retry`, `drop_next_webhooks`,
//! `webhook_deliveries`, `wait_for_webhooks`), human actions (`human_create_issue`,
//! `human_transition`, `human_comment`, `human_edit_comment`, `human_delete_comment`,
//! `human_assign`, `human_edit`, `human_delete_issue`) and configuration (`delete_project`,
//! `delete_issue_type`, `set_workflow`, `add_project`, `add_user`, `set_attachment_limit`).
//! ServiceNow adds `records` / `record` / `query` / `journal`, notification control
//! (`set_notifications`, `set_notification_retry`, `drop_next_notifications`,
//! `notification_deliveries`, `wait_for_notifications`), human actions (`human_set_state`,
//! `human_journal`, `human_assign`, `human_update`, `human_insert`, `human_delete`),
//! `set_oauth_settings` and `set_attachment_limit`.
//!
//! Default seeds: [`jira::model::JiraSeed::default`] (project `SEC`, Task 10001 / Bug 10002,
//! workflow To Do → In Progress → Done + Done → To Do "Reopen"; ids in
//! [`jira::model::seed_ids`]) and [`servicenow::tables::ServiceNowSeed::default`] (users,
//! groups, CMDB servers, an OAuth client; names in [`servicenow::tables::seed_names`]; seeded
//! sys_ids via [`servicenow::tables::seed_sys_id`]).
//!
//! ## Binary
//!
//! `casebridge-doubles --jira-listen 127.0.0.1:PORT --servicenow-listen 127.0.0.1:PORT
//! [--webhook-url URL --webhook-secret S] [--jira-webhook-url URL] [--servicenow-webhook-url URL]
//! [--seed FILE] [--fault-seed N] [--no-jira] [--no-servicenow]` prints one JSON line,
//! `{"jira":{"base_url":…,"credentials":{…}},"servicenow":{"base_url":…,"credentials":{…}}}`,
//! then serves until SIGINT/SIGTERM. The seed file is `{"jira": JiraSeed, "servicenow":
//! ServiceNowSeed}` (either part optional; missing keys take defaults).
//!
//! ## Control API (HTTP, on each server, no auth, never logged or faulted)
//!
//! Both doubles:
//! - `GET /_double/state` — everything (Jira: projects, users, issues with comments, changelog,
//!   properties, attachments, `transitions_applied`, rendered v3 JSON; ServiceNow: every table);
//!   `POST /_double/reset`; `GET /_double/credentials`.
//! - `GET /_double/requests[?since=SEQ]`, `DELETE /_double/requests` — the request log
//!   (method, path, query, headers without credentials, body, status, timestamp, auth scheme,
//!   fault).
//! - `POST /_double/faults` with a [`common::faults::FaultSpec`]
//!   (`{"kind":"rate_limited","retry_after_secs":2,"reason":"jira-per-issue-on-write","times":1,
//!   "method":"PUT","path_prefix":"/rest/api/3/issue/SEC-1"}`; kinds `rate_limited`,
//!   `unavailable`, `server_error`, `slow` (`delay_ms`), `drop_connection`,
//!   `drop_after_processing`; `probability` instead of `times` for seeded random faults) →
//!   `{"id":N}`; `GET`/`DELETE /_double/faults`, `DELETE /_double/faults/{id}`,
//!   `POST /_double/faults/seed {"seed":N}`.
//! - `PUT /_double/rate-limit {"per_second":5,"burst":5}`, `GET`/`DELETE` likewise.
//! - `GET /_double/retry-after-violations` → `{"count":N,"violations":[…]}`.
//! - `GET /_double/clock`, `POST /_double/clock/advance {"ms":N}`.
//! - Outbound events, under `/_double/webhook` (Jira) or `/_double/notifications`
//!   (ServiceNow): `PUT {"url":…,"secret":…}`, `GET`, `DELETE`, `PUT …/retry
//!   {"max_retries":3,"delays_ms":[100]}`, `POST …/drop {"count":N}`, `GET …/deliveries`,
//!   `POST …/wait {"timeout_ms":5000}` → `{"idle":true}`.
//!
//! Jira only: `GET /_double/contract-violations`; `POST /_double/issues {"fields":{…}}`;
//! `POST /_double/issues/{key}/transition {"transition":"Done"}`;
//! `POST /_double/issues/{key}/comments {"body":"text or ADF"}`,
//! `PUT`/`DELETE /_double/issues/{key}/comments/{id}`;
//! `POST /_double/issues/{key}/assign {"account_id":null|"…"}`;
//! `POST /_double/issues/{key}/edit {"fields":{…}}`; `DELETE /_double/issues/{key}`;
//! `POST /_double/projects`, `DELETE /_double/projects/{key}`,
//! `DELETE /_double/projects/{key}/issuetypes/{id}`, `PUT /_double/projects/{key}/workflow`;
//! `POST /_double/users`; `PUT /_double/attachment-limit {"bytes":N}`. Every human action takes
//! an optional `"as_user"` (account id; default Alice).
//!
//! ServiceNow only: `GET /_double/tables/{table}[?query=ENCODED]`,
//! `POST /_double/tables/{table} {"fields":{…}}`, `PATCH`/`DELETE /_double/tables/{table}/{id}`;
//! `POST /_double/tables/{table}/{id}/state {"state":"6","close_code":…,"close_notes":…,
//! "hold_reason":…}`; `POST …/{id}/journal {"element":"comments|work_notes","value":…}`;
//! `POST …/{id}/assign {"assigned_to":…,"assignment_group":…}` (sys_id or name);
//! `GET`/`PUT /_double/oauth {"access_token_ttl_secs":…,"refresh_token_ttl_secs":…,
//! "client_credentials_enabled":…}`; `PUT /_double/attachment-limit`. Human actions take an
//! optional `"as_user"` (user_name; default `ivy.itil`).
//!
//! ## ServiceNow outbound notifications (the setup casebridge expects)
//!
//! ServiceNow has no webhooks; customers add a business rule (after insert/update/delete on
//! `incident` / `sn_si_incident`) that sends an outbound REST message. casebridge expects:
//! `POST <casebridge URL>` with `Content-Type: application/json` and body
//! `{"event":"insert"|"update"|"delete","table":"incident","record":{…}}` where `record` holds the
//! record's fields as strings (references as sys_ids, journal fields `""`); header
//! `X-Casebridge-Delivery: <uuid>` unique per event and identical on retries (use it to dedupe),
//! and, when a secret is shared, `X-ServiceNow-Signature: sha256=<lowercase hex
//! HMAC-SHA256(secret, raw body)>`. Non-2xx answers are retried. The double sends exactly this.
//!
//! ## Jira webhooks
//!
//! Atlassian's shapes: `jira:issue_created|updated|deleted` with `timestamp`, `webhookEvent`,
//! `issue_event_type_name`, `user`, `issue`, `changelog{id,items[{field,fieldtype,fieldId,from,
//! fromString,to,toString}]}`, `comment?`; `comment_created|updated|deleted` with `comment` and
//! `issue`. Headers `X-Atlassian-Webhook-Identifier` (stable across retries),
//! `X-Atlassian-Webhook-Flow` (`Primary`; cascading comment deletions `Secondary`),
//! `X-Atlassian-Webhook-Retry` (absent on the first attempt), `X-Hub-Signature:
//! sha256=<hex HMAC>` with a secret. Bodies use the v2 representation by default
//! ([`jira::JiraConfig::webhook_format`]).
//!
//! ## Known deviations
//!
//! Documented where they live: the ADF/JQL subsets ([`jira::adf`], [`jira::jql`]), spec errata
//! honoured by the validator ([`jira_contract::SPEC_ERRATA`]), the `[U]` security-incident
//! choice lists ([`servicenow::tables::default_choices`]), and one-level dot-walking in
//! ServiceNow queries ([`servicenow::query`]).

pub mod common;
pub mod jira;
pub mod jira_contract;
pub mod servicenow;

/// Why a double could not start.
#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    #[error("cannot bind the listening socket: {0}")]
    Bind(std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}
