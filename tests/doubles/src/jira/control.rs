//! Jira-specific control routes under `/_double/`: state inspection, reset, contract
//! violations, "human" actions (which raise webhooks like real Jira), and configuration changes
//! (delete a project or issue type, replace a workflow, add users/projects, attachment limit).
//!
//! Invariant: human actions go through the same state operations as API clients, so they obey
//! the same workflow and validation rules.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::adf;
use super::model::{ApiVersion, ProjectDef, RichText, UserDef, Workflow};
use super::JiraShared;
use crate::common::control::{self, bad_request, not_found, ok_json, parse_body, ControlCore};

pub fn router(shared: Arc<JiraShared>) -> Router {
    let core = ControlCore {
        observer: shared.observer.clone(),
        outbound: shared.outbound.clone(),
        clock: shared.clock.clone(),
        outbound_name: "webhook",
    };
    Router::new()
        .route("/_double/state", get(state))
        .route("/_double/reset", post(reset))
        .route("/_double/credentials", get(credentials))
        .route("/_double/contract-violations", get(contract_violations))
        .route("/_double/issues", post(create_issue))
        .route("/_double/issues/{key}", delete(delete_issue))
        .route("/_double/issues/{key}/transition", post(transition))
        .route("/_double/issues/{key}/comments", post(add_comment))
        .route(
            "/_double/issues/{key}/comments/{id}",
            put(edit_comment).delete(delete_comment),
        )
        .route("/_double/issues/{key}/assign", post(assign))
        .route("/_double/issues/{key}/edit", post(edit))
        .route("/_double/projects", post(add_project))
        .route("/_double/projects/{key}", delete(delete_project))
        .route(
            "/_double/projects/{key}/issuetypes/{id}",
            delete(delete_issue_type),
        )
        .route("/_double/projects/{key}/workflow", put(set_workflow))
        .route("/_double/users", post(add_user))
        .route("/_double/attachment-limit", put(attachment_limit))
        .with_state(shared)
        .merge(control::router(core))
}

#[derive(Deserialize)]
struct HumanCreate {
    fields: Value,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct HumanTransition {
    /// Transition id, transition name, or target status name.
    transition: String,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct HumanComment {
    /// Plain text, or an ADF document.
    body: Value,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct HumanAssign {
    account_id: Option<String>,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct HumanEdit {
    fields: Value,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize, Default)]
struct AsUser {
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct Limit {
    bytes: usize,
}

fn actor(shared: &JiraShared, as_user: Option<String>) -> String {
    as_user.unwrap_or_else(|| shared.read(|s| s.seed.human_account_id.clone()))
}

fn comment_body(body: &Value) -> Result<RichText, String> {
    match body {
        Value::String(s) => Ok(RichText::Adf(adf::from_wiki(s))),
        doc => adf::validate_document(doc)
            .map(|_| RichText::Adf(doc.clone()))
            .map_err(|e| format!("comment body must be text or ADF: {e}")),
    }
}

async fn state(State(shared): State<Arc<JiraShared>>) -> Response {
    ok_json(shared.state_json())
}

async fn reset(State(shared): State<Arc<JiraShared>>) -> Response {
    shared.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn credentials(State(shared): State<Arc<JiraShared>>) -> Response {
    ok_json(json!(shared.credentials()))
}

async fn contract_violations(State(shared): State<Arc<JiraShared>>) -> Response {
    let list = shared.contract.lock().clone();
    ok_json(json!({"count": list.len(), "violations": list}))
}

async fn create_issue(State(shared): State<Arc<JiraShared>>, body: Bytes) -> Response {
    let input: HumanCreate = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let who = actor(&shared, input.as_user);
    let body = json!({"fields": input.fields});
    match shared.mutate(|s, now| s.create_issue(&who, &body, ApiVersion::V3, now)) {
        Ok(created) => (
            StatusCode::CREATED,
            axum::Json(json!({"id": created.id.to_string(), "key": created.key})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn transition(
    State(shared): State<Arc<JiraShared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let input: HumanTransition = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let who = actor(&shared, input.as_user);
    match shared.mutate(|s, now| s.transition(&who, &key, &input.transition, now)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn add_comment(
    State(shared): State<Arc<JiraShared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let input: HumanComment = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let text = match comment_body(&input.body) {
        Ok(t) => t,
        Err(e) => return bad_request(e),
    };
    let who = actor(&shared, input.as_user);
    match shared.mutate(|s, now| s.add_comment(&who, &key, text, None, now)) {
        Ok((_, id)) => (
            StatusCode::CREATED,
            axum::Json(json!({"id": id.to_string()})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn edit_comment(
    State(shared): State<Arc<JiraShared>>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let input: HumanComment = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let text = match comment_body(&input.body) {
        Ok(t) => t,
        Err(e) => return bad_request(e),
    };
    let who = actor(&shared, input.as_user);
    match shared.mutate(|s, now| s.update_comment(&who, &key, &id, text, None, now)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_comment(
    State(shared): State<Arc<JiraShared>>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let input: AsUser = parse_body(&body).unwrap_or_default();
    let who = actor(&shared, input.as_user);
    match shared.mutate(|s, now| s.delete_comment(&who, &key, &id, now)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn assign(
    State(shared): State<Arc<JiraShared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let input: HumanAssign = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let who = actor(&shared, input.as_user);
    match shared.mutate(|s, now| s.assign(&who, &key, input.account_id, now)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn edit(
    State(shared): State<Arc<JiraShared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let input: HumanEdit = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let who = actor(&shared, input.as_user);
    match shared.mutate(|s, now| s.edit_fields(&who, &key, &input.fields, now)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_issue(
    State(shared): State<Arc<JiraShared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let input: AsUser = parse_body(&body).unwrap_or_default();
    let who = actor(&shared, input.as_user);
    match shared.mutate(|s, now| s.delete_issue(&who, &key, now)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn add_project(State(shared): State<Arc<JiraShared>>, body: Bytes) -> Response {
    let project: ProjectDef = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match shared.mutate(|s, _| s.add_project(project)) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => bad_request(e),
    }
}

async fn delete_project(
    State(shared): State<Arc<JiraShared>>,
    Path(key): Path<String>,
) -> Response {
    if shared.mutate(|s, _| s.delete_project(&key)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found(format!("no project {key}"))
    }
}

async fn delete_issue_type(
    State(shared): State<Arc<JiraShared>>,
    Path((key, id)): Path<(String, String)>,
) -> Response {
    if shared.mutate(|s, _| s.delete_issue_type(&key, &id)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found(format!("no issue type {id} in project {key}"))
    }
}

async fn set_workflow(
    State(shared): State<Arc<JiraShared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let workflow: Workflow = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match shared.mutate(|s, _| s.set_workflow(&key, workflow)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e),
    }
}

async fn add_user(State(shared): State<Arc<JiraShared>>, body: Bytes) -> Response {
    let user: UserDef = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match shared.mutate(|s, _| s.add_user(user)) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => bad_request(e),
    }
}

async fn attachment_limit(State(shared): State<Arc<JiraShared>>, body: Bytes) -> Response {
    match parse_body::<Limit>(&body) {
        Ok(limit) => {
            shared.mutate(|s, _| s.attachment_max_bytes = limit.bytes);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}
