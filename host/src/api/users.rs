//! casebridge users (extension): `POST /api/v2/casebridge/users` (admin) and
//! `GET /api/v2/casebridge/users` (cases_read).
//!
//! Why: cases are assigned to users by id; admins (and test suites) need a way to create the
//! people cases are assigned to without minting them an API key.
//! Invariants: handles are unique (409 on reuse); the created user's id is a UUID, as Case
//! Management's `assignee_id` requires.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Principal, Scope};
use super::case_wire::{attributes, data_object, rfc3339};
use super::error::{ApiError, ApiResult};
use super::json::{with_status, JsonApi};
use super::AppState;
use crate::store::users::User;

/// Longest handle, name or email accepted.
pub const MAX_USER_FIELD_LEN: usize = 320;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v2/casebridge/users",
        get(list_users).post(create_user),
    )
}

fn user_resource(user: &User) -> Value {
    json!({
        "id": user.id,
        "type": "users",
        "attributes": {
            "handle": user.handle,
            "name": user.name,
            "email": user.email,
            "created_at": rfc3339(user.created_at),
        }
    })
}

#[derive(Debug, Deserialize)]
struct CreateAttributes {
    handle: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

fn field(name: &str, value: Option<String>) -> ApiResult<Option<String>> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if v.chars().count() > MAX_USER_FIELD_LEN => Err(ApiError::bad_request(format!(
            "{name} is longer than {MAX_USER_FIELD_LEN} characters"
        ))),
        Some(v) if v.is_empty() => Ok(None),
        other => Ok(other),
    }
}

async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::Admin)?;
    let data = data_object(&body, "users")?;
    let attrs: CreateAttributes = attributes(data)?;
    let email = field("email", attrs.email)?;
    let handle = field("handle", attrs.handle)?
        .or_else(|| email.clone())
        .ok_or_else(|| {
            ApiError::bad_request("data.attributes.handle (or data.attributes.email) is required")
        })?;
    let name = field("name", attrs.name)?.unwrap_or_else(|| handle.clone());
    let user = state
        .store
        .create_user(&handle, &name, email.as_deref())
        .await?;
    Ok(with_status(
        StatusCode::CREATED,
        json!({"data": user_resource(&user)}),
    ))
}

async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesRead)?;
    let users = state.store.list_users().await?;
    Ok(JsonApi(json!({
        "data": users.iter().map(user_resource).collect::<Vec<_>>()
    })))
}
