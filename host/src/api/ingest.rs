//! `POST /api/v2/security/findings/ingest`: casebridge's extension for getting findings in.
//!
//! Why: casebridge is not the scanner; findings arrive from exports, scanners and scripts. The
//! body is the ListSecurityFindings shape, so a list or search response can be re-ingested as is.
//!
//! # Request
//!
//! `{"data": [{"id", "type": "finding", "attributes": {"attributes": {…}, "tags": […],
//! "timestamp": …}}, …]}` — at most [`MAX_INGEST_FINDINGS`] items (and at most
//! [`super::MAX_BODY_BYTES`] bytes). Items are upserted by id: re-sending a finding updates it
//! (or leaves it unchanged) and never duplicates it. `workflow.integrations` and
//! `workflow.automations` are ignored (casebridge computes them).
//!
//! # Response
//!
//! Each item is judged on its own; valid items are stored even when others are refused.
//!
//! - **200** when at least one item was accepted (or `data` is empty):
//!   ```json
//!   {"data": [{"id": "<finding id>", "type": "finding",
//!              "meta": {"index": 0, "result": "created" | "updated" | "unchanged"}}],
//!    "meta": {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1,
//!             "rejected_items": [<item error>, …]}}
//!   ```
//! - **422** when every item was refused: `{"errors": [<item error>, …], "meta": {…counts…}}`.
//!
//! An item error is a JSON:API error object naming the item and the field:
//! `{"status": "422", "title": "Invalid Finding",
//!   "detail": "data[3].attributes.attributes.severity: must be one of critical, …; got \"urgent\"",
//!   "source": {"pointer": "/data/3/attributes/attributes/severity"},
//!   "meta": {"index": 3, "id": "<finding id or null>"}}` — one per problem found.
//!
//! Whole-request problems are ordinary errors: malformed JSON or a body without a `data` array
//! (400), a non-JSON content type (415), more than [`MAX_INGEST_FINDINGS`] items or more than
//! [`super::MAX_BODY_BYTES`] bytes (413, naming the cap).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiResult, JSON_API};
use super::json::{with_status, JsonApi};
use super::AppState;
use crate::domain::finding::validate::{json_type, PathSegment};
use crate::domain::finding::wire::finding_from_api_item;
use crate::domain::finding::UpsertResult;
use crate::store::findings::{IngestReport, RefusedItem};
use crate::store::now_ms;

/// Most findings accepted in one ingest request.
pub const MAX_INGEST_FINDINGS: usize = 5_000;

/// The JSON:API error objects of refused items, with paths from `prefix` (e.g. `data`).
pub fn item_errors(refused: &[RefusedItem], prefix: &[PathSegment]) -> Vec<Value> {
    let mut out = Vec::new();
    for item in refused {
        let mut at = prefix.to_vec();
        at.push(PathSegment::Index(item.index));
        for error in &item.errors {
            let full = error.clone().under(&at);
            out.push(json!({
                "status": "422",
                "title": "Invalid Finding",
                "detail": full.to_string(),
                "source": {"pointer": full.pointer()},
                "meta": {"index": item.index, "id": item.id},
            }));
        }
    }
    out
}

/// The counts of a report, as `meta`.
pub fn counts(report: &IngestReport) -> Map<String, Value> {
    let mut meta = Map::new();
    for result in [
        UpsertResult::Created,
        UpsertResult::Updated,
        UpsertResult::Unchanged,
    ] {
        meta.insert(result.as_str().into(), Value::from(report.count(result)));
    }
    meta.insert("rejected".into(), Value::from(report.refused.len()));
    meta
}

/// `POST /api/v2/security/findings/ingest`.
pub async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::FindingsWrite)?;
    let items = match body {
        Value::Object(mut map) => match map.remove("data") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => {
                return Err(ApiError::bad_request(
                    "data is required (an array of findings in the ListSecurityFindings shape)",
                ))
            }
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "data: must be an array of findings, got {}",
                    json_type(&other)
                )))
            }
        },
        other => {
            return Err(ApiError::bad_request(format!(
                "body: must be an object {{\"data\": [...]}}, got {}",
                json_type(&other)
            )))
        }
    };
    if items.len() > MAX_INGEST_FINDINGS {
        return Err(ApiError::payload_too_large(format!(
            "too many findings in one ingest request: {} (the cap is {MAX_INGEST_FINDINGS} per request; split the batch)",
            items.len()
        )));
    }
    let total = items.len();
    let parsed = items.into_iter().map(finding_from_api_item).collect();
    let report = state.store.ingest_findings(parsed, 0, now_ms()).await?;
    let errors = item_errors(&report.refused, &[PathSegment::Key("data".into())]);
    let mut meta = counts(&report);
    tracing::info!(
        total,
        created = report.count(UpsertResult::Created),
        updated = report.count(UpsertResult::Updated),
        unchanged = report.count(UpsertResult::Unchanged),
        rejected = report.refused.len(),
        user = %principal.user_handle,
        "findings ingested"
    );
    if total > 0 && report.accepted.is_empty() {
        let body = json!({"errors": errors, "meta": meta});
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            [(axum::http::header::CONTENT_TYPE, JSON_API)],
            body.to_string(),
        )
            .into_response());
    }
    meta.insert("rejected_items".into(), Value::Array(errors));
    let data: Vec<Value> = report
        .accepted
        .iter()
        .map(|item| {
            json!({"id": item.id, "type": "finding",
                   "meta": {"index": item.index, "result": item.result.as_str()}})
        })
        .collect();
    Ok(with_status(
        StatusCode::OK,
        json!({"data": data, "meta": meta}),
    ))
}
