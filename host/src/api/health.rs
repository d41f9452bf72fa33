//! Liveness and readiness, reachable without an API key.
//!
//! Invariants: `/health` never touches the database (a process that answers is alive);
//! `/ready` answers 200 only when the database answers.

use axum::extract::State;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::json::JsonApi;
use super::AppState;

pub async fn health() -> JsonApi<Value> {
    JsonApi(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<AppState>) -> ApiResult<JsonApi<Value>> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::unavailable(format!("database not ready: {e}")))?;
    Ok(JsonApi(json!({"status": "ready"})))
}
