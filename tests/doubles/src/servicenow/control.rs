//! ServiceNow control routes under `/_double/`: state inspection, reset, OAuth settings,
//! attachment limit, and "human" actions (state change with close fields, comments / work notes,
//! assignment, arbitrary field updates, inserts for seeding CMDB/users/groups, deletes).
//!
//! Invariant: human actions use the same write path as the Table API (data policy, journal,
//! SLA, notifications), attributed to the seed's human user unless `as_user` is given.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::OAuthSettings;
use super::query;
use super::ServiceNowShared;
use crate::common::control::{self, bad_request, ok_json, parse_body, ControlCore};

pub fn router(shared: Arc<ServiceNowShared>) -> Router {
    let core = ControlCore {
        observer: shared.observer.clone(),
        outbound: shared.outbound.clone(),
        clock: shared.clock.clone(),
        outbound_name: "notifications",
    };
    Router::new()
        .route("/_double/state", get(state))
        .route("/_double/reset", post(reset))
        .route("/_double/credentials", get(credentials))
        .route("/_double/oauth", get(get_oauth).put(set_oauth))
        .route("/_double/attachment-limit", put(attachment_limit))
        .route("/_double/tables/{table}", get(table_records).post(insert))
        .route(
            "/_double/tables/{table}/{sys_id}",
            axum::routing::patch(update).delete(delete),
        )
        .route("/_double/tables/{table}/{sys_id}/state", post(set_state))
        .route("/_double/tables/{table}/{sys_id}/journal", post(journal))
        .route("/_double/tables/{table}/{sys_id}/assign", post(assign))
        .with_state(shared)
        .merge(control::router(core))
}

#[derive(Deserialize)]
struct StateChange {
    state: String,
    #[serde(default)]
    close_code: Option<String>,
    #[serde(default)]
    close_notes: Option<String>,
    #[serde(default)]
    hold_reason: Option<String>,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct JournalEntry {
    /// `comments` or `work_notes`.
    element: String,
    value: String,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct Assignment {
    #[serde(default)]
    assigned_to: Option<String>,
    #[serde(default)]
    assignment_group: Option<String>,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct FieldWrite {
    fields: Map<String, Value>,
    #[serde(default)]
    as_user: Option<String>,
}

#[derive(Deserialize)]
struct Limit {
    bytes: usize,
}

fn sn_result(result: Result<(), super::error::SnError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn state(State(shared): State<Arc<ServiceNowShared>>) -> Response {
    ok_json(shared.read(|s| json!({"base_url": s.base_url, "tables": s.dump()})))
}

async fn reset(State(shared): State<Arc<ServiceNowShared>>) -> Response {
    shared.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn credentials(State(shared): State<Arc<ServiceNowShared>>) -> Response {
    ok_json(json!(shared.credentials()))
}

async fn get_oauth(State(shared): State<Arc<ServiceNowShared>>) -> Response {
    ok_json(json!(shared.oauth_settings()))
}

async fn set_oauth(State(shared): State<Arc<ServiceNowShared>>, body: Bytes) -> Response {
    match parse_body::<OAuthSettings>(&body) {
        Ok(settings) => {
            shared.set_oauth_settings(settings);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn attachment_limit(State(shared): State<Arc<ServiceNowShared>>, body: Bytes) -> Response {
    match parse_body::<Limit>(&body) {
        Ok(limit) => {
            shared.mutate(|s, _| s.attachment_max_bytes = limit.bytes);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn table_records(
    State(shared): State<Arc<ServiceNowShared>>,
    Path(table): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let encoded = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    shared.read(|s| match s.table(&table) {
        Ok(def) => {
            let q = query::parse(&encoded, def, &s.tables);
            ok_json(json!(s.list(def, &q)))
        }
        Err(e) => e.into_response(),
    })
}

async fn insert(
    State(shared): State<Arc<ServiceNowShared>>,
    Path(table): Path<String>,
    body: Bytes,
) -> Response {
    let input: FieldWrite = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match shared.human_insert(&table, input.fields, input.as_user.as_deref()) {
        Ok(sys_id) => (StatusCode::CREATED, Json(json!({"sys_id": sys_id}))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn update(
    State(shared): State<Arc<ServiceNowShared>>,
    Path((table, sys_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let input: FieldWrite = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    sn_result(shared.human_update(&table, &sys_id, input.fields, input.as_user.as_deref()))
}

async fn delete(
    State(shared): State<Arc<ServiceNowShared>>,
    Path((table, sys_id)): Path<(String, String)>,
) -> Response {
    sn_result(shared.mutate(|s, _| s.delete(&table, &sys_id)))
}

async fn set_state(
    State(shared): State<Arc<ServiceNowShared>>,
    Path((table, sys_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let input: StateChange = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut fields = Map::new();
    fields.insert("state".into(), json!(input.state));
    for (key, value) in [
        ("close_code", input.close_code),
        ("close_notes", input.close_notes),
        ("hold_reason", input.hold_reason),
    ] {
        if let Some(v) = value {
            fields.insert(key.into(), json!(v));
        }
    }
    sn_result(shared.human_update(&table, &sys_id, fields, input.as_user.as_deref()))
}

async fn journal(
    State(shared): State<Arc<ServiceNowShared>>,
    Path((table, sys_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let input: JournalEntry = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    if input.element != "comments" && input.element != "work_notes" {
        return bad_request("element must be comments or work_notes");
    }
    let mut fields = Map::new();
    fields.insert(input.element, json!(input.value));
    sn_result(shared.human_update(&table, &sys_id, fields, input.as_user.as_deref()))
}

async fn assign(
    State(shared): State<Arc<ServiceNowShared>>,
    Path((table, sys_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let input: Assignment = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut fields = Map::new();
    if let Some(user) = input.assigned_to {
        fields.insert("assigned_to".into(), json!(user));
    }
    if let Some(group) = input.assignment_group {
        fields.insert("assignment_group".into(), json!(group));
    }
    if fields.is_empty() {
        return bad_request("give assigned_to and/or assignment_group");
    }
    sn_result(shared.human_update(&table, &sys_id, fields, input.as_user.as_deref()))
}
