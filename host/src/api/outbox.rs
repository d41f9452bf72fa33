//! Admin view of the sync outbox and of each integration's sync health (casebridge extension):
//!
//! - `GET  /api/v2/casebridge/outbox` — list effects; `filter[integration]`, `filter[state]`,
//!   `filter[ordering_key]`, `filter[kind]`, `page[limit]` (1–1000, default 100), `page[cursor]`.
//! - `GET  /api/v2/casebridge/outbox/{id}` — one effect.
//! - `POST /api/v2/casebridge/outbox/{id}/retry` — re-queue a failed or cancelled effect.
//! - `POST /api/v2/casebridge/outbox/{id}/cancel` — withdraw a pending or failed effect
//!   (optional body `{"data": {"type": "outbox_cancellation", "attributes": {"reason": …}}}`).
//! - `GET  /api/v2/casebridge/integrations/{id}/health` — counts, last error, oldest pending age.
//! - `POST /api/v2/casebridge/integrations/{id}/pause` — stop sending (optional body
//!   `{"data": {"type": "integration_pause", "attributes": {"reason": …}}}`).
//! - `POST /api/v2/casebridge/integrations/{id}/resume` — send again.
//!
//! Why: failed effects must be visible and retryable by an admin, never silently dropped, and
//! a stuck integration must be diagnosable without database access.
//! Invariants: every route requires the `admin` scope; bodies are JSON:API documents
//! (`outbox_effects`, `sync_health`); a wrong state for a retry or cancel is a 409 naming it,
//! an unknown effect a 404, a malformed filter or id a 400; nothing here changes an in-flight or
//! done effect.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::auth::{Principal, Scope};
use super::body::Field;
use super::error::{ApiError, ApiResult};
use super::json::{parse_body, JsonApi};
use super::AppState;
use crate::store::now_ms;
use crate::sync::effect::{check_name, Effect, EffectState};
use crate::sync::outbox::{EffectCursor, EffectFilter, MAX_PAGE_SIZE};
use crate::sync::{Outbox, SyncHealth};

/// Base path of the outbox routes.
pub const OUTBOX_PATH: &str = "/api/v2/casebridge/outbox";
/// Page size when `page[limit]` is absent.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Longest pause or cancel reason accepted.
const MAX_REASON_LEN: usize = 2_000;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(OUTBOX_PATH, get(list))
        .route("/api/v2/casebridge/outbox/{id}", get(get_one))
        .route("/api/v2/casebridge/outbox/{id}/retry", post(retry))
        .route("/api/v2/casebridge/outbox/{id}/cancel", post(cancel))
        .route("/api/v2/casebridge/integrations/{id}/health", get(health))
        .route("/api/v2/casebridge/integrations/{id}/pause", post(pause))
        .route("/api/v2/casebridge/integrations/{id}/resume", post(resume))
}

fn invalid_parameter(name: &str, expected: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "invalid parameter {name:?} in \"query\"; {expected}"
    ))
    .with_title("Invalid Parameter")
}

/// The JSON:API resource of an effect.
pub fn effect_resource(effect: &Effect) -> Value {
    json!({
        "id": effect.id,
        "type": "outbox_effects",
        "attributes": {
            "integration_id": effect.integration_id,
            "ordering_key": effect.ordering_key,
            "seq": effect.seq,
            "kind": effect.kind,
            "payload": effect.payload,
            "correlation_key": effect.correlation_key,
            "state": effect.state,
            "attempts": effect.attempts,
            "failures": effect.failures,
            "next_attempt_at": effect.next_attempt_at_ms,
            "lease_owner": effect.lease_owner,
            "lease_expires_at": effect.lease_expires_at_ms,
            "last_outcome": effect.last_outcome,
            "last_error": effect.last_error,
            "result": effect.result,
            "created_at": effect.created_at_ms,
            "updated_at": effect.updated_at_ms,
            "completed_at": effect.completed_at_ms,
        }
    })
}

/// The JSON:API resource of an integration's sync health.
pub fn health_resource(health: &SyncHealth) -> Result<Value, ApiError> {
    let mut attributes = serde_json::to_value(health)
        .map_err(|e| ApiError::internal(format!("serializing sync health: {e}")))?;
    if let Some(map) = attributes.as_object_mut() {
        map.remove("integration_id");
    }
    Ok(json!({
        "id": health.integration_id,
        "type": "sync_health",
        "attributes": attributes,
    }))
}

fn filter_from_query(raw: &str) -> Result<EffectFilter, ApiError> {
    let mut filter = EffectFilter {
        limit: DEFAULT_PAGE_SIZE,
        ..EffectFilter::default()
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let key = key.into_owned();
        if seen.contains(&key) {
            return Err(invalid_parameter(&key, "it was given more than once"));
        }
        let text = value.into_owned();
        match key.as_str() {
            "filter[integration]" => {
                check_name("integration", &text).map_err(|why| invalid_parameter(&key, why))?;
                filter.integration_id = Some(text);
            }
            "filter[state]" => {
                let state = EffectState::parse(&text).ok_or_else(|| {
                    let known: Vec<&str> = EffectState::ALL.iter().map(|s| s.as_str()).collect();
                    invalid_parameter(
                        &key,
                        format!("expected one of {}, got {text:?}", known.join(", ")),
                    )
                })?;
                filter.state = Some(state);
            }
            "filter[ordering_key]" => {
                check_name("ordering_key", &text).map_err(|why| invalid_parameter(&key, why))?;
                filter.ordering_key = Some(text);
            }
            "filter[kind]" => {
                check_name("kind", &text).map_err(|why| invalid_parameter(&key, why))?;
                filter.kind = Some(text);
            }
            "page[limit]" => {
                filter.limit = match text.trim().parse::<usize>() {
                    Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                    _ => {
                        return Err(invalid_parameter(
                            &key,
                            format!(
                                "expected an integer between 1 and {MAX_PAGE_SIZE}, got {text:?}"
                            ),
                        ))
                    }
                };
            }
            "page[cursor]" => {
                if !text.is_empty() {
                    filter.after = Some(EffectCursor::decode(&text).ok_or_else(|| {
                        invalid_parameter(&key, "not a cursor this API returned")
                    })?);
                }
            }
            _ => continue,
        }
        seen.push(key);
    }
    Ok(filter)
}

fn next_link(filter: &EffectFilter, cursor: &EffectCursor) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(integration) = &filter.integration_id {
        query.append_pair("filter[integration]", integration);
    }
    if let Some(state) = filter.state {
        query.append_pair("filter[state]", state.as_str());
    }
    if let Some(key) = &filter.ordering_key {
        query.append_pair("filter[ordering_key]", key);
    }
    if let Some(kind) = &filter.kind {
        query.append_pair("filter[kind]", kind);
    }
    query.append_pair("page[limit]", &filter.limit.to_string());
    query.append_pair("page[cursor]", &cursor.encode());
    format!("{OUTBOX_PATH}?{}", query.finish())
}

/// `GET /api/v2/casebridge/outbox`.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::Admin)?;
    let filter = filter_from_query(raw.as_deref().unwrap_or(""))?;
    let page = Outbox::new(state.store.clone()).list(&filter).await?;
    let data: Vec<Value> = page.effects.iter().map(effect_resource).collect();
    let next_cursor = page.next_cursor.as_ref().map(EffectCursor::encode);
    let mut body = json!({
        "data": data,
        "meta": {"page": {"limit": filter.limit, "next_cursor": next_cursor}},
    });
    if let Some(cursor) = &page.next_cursor {
        body["links"] = json!({"next": next_link(&filter, cursor)});
    }
    Ok(JsonApi(body))
}

/// `GET /api/v2/casebridge/outbox/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::Admin)?;
    let effect = Outbox::new(state.store.clone())
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("outbox effect {id} not found")))?;
    Ok(JsonApi(json!({"data": effect_resource(&effect)})))
}

/// `POST /api/v2/casebridge/outbox/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::Admin)?;
    let effect = Outbox::new(state.store.clone())
        .retry_failed(&id, now_ms())
        .await
        .map_err(|err| not_found_names_the_effect(err, &id))?;
    tracing::info!(effect = %id, user = %principal.user_handle, "outbox effect re-queued by an admin");
    Ok(JsonApi(json!({"data": effect_resource(&effect)})))
}

/// `POST /api/v2/casebridge/outbox/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::Admin)?;
    let reason = optional_reason(&body, "outbox_cancellation")?
        .unwrap_or_else(|| format!("cancelled by {}", principal.user_handle));
    let effect = Outbox::new(state.store.clone())
        .cancel(&id, &reason, now_ms())
        .await
        .map_err(|err| not_found_names_the_effect(err, &id))?;
    tracing::info!(effect = %id, user = %principal.user_handle, "outbox effect cancelled by an admin");
    Ok(JsonApi(json!({"data": effect_resource(&effect)})))
}

fn not_found_names_the_effect(err: crate::store::StoreError, id: &str) -> ApiError {
    match err {
        crate::store::StoreError::NotFound(_) => {
            ApiError::not_found(format!("outbox effect {id} not found"))
        }
        other => other.into(),
    }
}

/// Reads `data.attributes.reason` of an optional body whose `data.type` must be `kind`.
fn optional_reason(body: &[u8], kind: &str) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = parse_body(body)?;
    let root = Field::root(&value);
    root.required_object()?;
    let data = root.get("data");
    data.required_object()?;
    data.get("type").expect_type(kind)?;
    let reason_field = data.get("attributes").get("reason");
    let Some(reason) = reason_field.string()? else {
        return Ok(None);
    };
    if reason.len() > MAX_REASON_LEN {
        return Err(reason_field.error(format!("must be at most {MAX_REASON_LEN} bytes")));
    }
    if reason.contains('\0') {
        return Err(reason_field.error("must not contain NUL characters"));
    }
    Ok(Some(reason.to_string()).filter(|r| !r.trim().is_empty()))
}

fn integration_id(id: &str) -> Result<(), ApiError> {
    check_name("integration id", id).map_err(ApiError::bad_request)
}

async fn health_document(
    outbox: &Outbox,
    id: &str,
    meta: Option<Value>,
) -> ApiResult<JsonApi<Value>> {
    let health = outbox.health(id, now_ms()).await?;
    let mut body = json!({"data": health_resource(&health)?});
    if let Some(meta) = meta {
        body["meta"] = meta;
    }
    Ok(JsonApi(body))
}

/// `GET /api/v2/casebridge/integrations/{id}/health`.
pub async fn health(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::Admin)?;
    integration_id(&id)?;
    health_document(&Outbox::new(state.store.clone()), &id, None).await
}

/// `POST /api/v2/casebridge/integrations/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::Admin)?;
    integration_id(&id)?;
    let reason = optional_reason(&body, "integration_pause")?
        .unwrap_or_else(|| format!("paused by {}", principal.user_handle));
    let outbox = Outbox::new(state.store.clone());
    outbox
        .pause_integration(&id, None, &reason, now_ms())
        .await?;
    health_document(&outbox, &id, None).await
}

/// `POST /api/v2/casebridge/integrations/{id}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::Admin)?;
    integration_id(&id)?;
    let outbox = Outbox::new(state.store.clone());
    let resumed = outbox.resume_integration(&id, now_ms()).await?;
    health_document(&outbox, &id, Some(json!({"was_paused": resumed}))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_and_bad_ones_named() {
        let filter =
            filter_from_query("filter%5Bintegration%5D=jira-1&filter[state]=failed&page[limit]=5")
                .unwrap();
        assert_eq!(filter.integration_id.as_deref(), Some("jira-1"));
        assert_eq!(filter.state, Some(EffectState::Failed));
        assert_eq!(filter.limit, 5);
        let err = filter_from_query("filter[state]=broken").unwrap_err();
        assert!(err.detail.contains("filter[state]"), "{}", err.detail);
        assert!(err.detail.contains("in_flight"), "{}", err.detail);
        let err = filter_from_query("page[limit]=0").unwrap_err();
        assert!(err.detail.contains("page[limit]"));
        let err = filter_from_query("page[cursor]=zzz").unwrap_err();
        assert!(err.detail.contains("page[cursor]"));
        let err = filter_from_query("filter[kind]=a&filter[kind]=b").unwrap_err();
        assert!(err.detail.contains("more than once"));
    }

    #[test]
    fn reasons_are_optional_but_checked() {
        assert_eq!(optional_reason(b"", "integration_pause").unwrap(), None);
        let body =
            br#"{"data":{"type":"integration_pause","attributes":{"reason":"rotating keys"}}}"#;
        assert_eq!(
            optional_reason(body, "integration_pause")
                .unwrap()
                .as_deref(),
            Some("rotating keys")
        );
        let wrong = br#"{"data":{"type":"nope","attributes":{"reason":"x"}}}"#;
        assert!(optional_reason(wrong, "integration_pause").is_err());
        assert!(optional_reason(b"{", "integration_pause").is_err());
    }
}
