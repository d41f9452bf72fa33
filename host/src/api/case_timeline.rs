//! Case timelines over HTTP: CommentCase, UpdateCaseComment, DeleteCaseComment, ListCaseTimeline.
//!
//! Why: comments are how people (and, later, synced tickets) talk about a case; the timeline is
//! its history.
//! Invariants:
//! - a cell id that is not a UUID is the recorded 400 "Invalid Parameter" answer;
//! - a cell that never existed on that case is "failed to get timeline cell: timeline cell not
//!   found", a deleted comment is "timeline cell not found" (both recorded, both 404);
//! - only comments are edited or deleted; ListCaseTimeline pages from zero, newest first unless
//!   `sort[ascending]=true`, and never lists deleted comments.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use super::auth::{Principal, Scope};
use super::case_wire::{
    attributes, data_object, invalid_uuid_parameter, is_uuid, resource_not_found, timeline_document,
};
use super::error::{ApiError, ApiResult};
use super::json::JsonApi;
use super::query_params::QueryParams;
use super::AppState;
use crate::domain::case::Case;
use crate::domain::timeline::{validate_comment, TimelineCell};
use crate::store::timeline::{CommentEdit, TimelinePage};

/// Largest timeline page.
pub const MAX_TIMELINE_PAGE: i64 = 100;
/// Timeline page size when none is asked.
pub const DEFAULT_TIMELINE_PAGE: i64 = 50;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/cases/{case_id}/comment", post(comment_case))
        .route(
            "/api/v2/cases/{case_id}/comment/{cell_id}",
            put(update_comment).delete(delete_comment),
        )
        .route("/api/v2/cases/{case_id}/timelines", get(list_timeline))
}

async fn existing_case(state: &AppState, case_id: &str) -> ApiResult<Case> {
    state
        .store
        .find_case(case_id)
        .await?
        .ok_or_else(|| resource_not_found("case not found"))
}

async fn cells_body(state: &AppState, cells: &[TimelineCell]) -> ApiResult<Value> {
    let mut authors: Vec<String> = cells.iter().filter_map(|c| c.author_id.clone()).collect();
    authors.sort();
    authors.dedup();
    let users = state.store.users_by_ids(&authors).await?;
    Ok(timeline_document(cells, &users))
}

#[derive(Debug, Deserialize)]
struct CommentAttributes {
    comment: Option<String>,
}

fn comment_of(body: &Value) -> ApiResult<String> {
    let data = data_object(body, "case")?;
    let attrs: CommentAttributes = attributes(data)?;
    let comment = attrs
        .comment
        .ok_or_else(|| ApiError::bad_request("data.attributes.comment is required"))?;
    validate_comment(&comment).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(comment)
}

async fn comment_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesWrite)?;
    let comment = comment_of(&body)?;
    let case = existing_case(&state, &case_id).await?;
    let cell = state
        .store
        .add_comment(&case.id, &comment, Some(&principal.user_id))
        .await?
        .ok_or_else(|| resource_not_found("case not found"))?;
    Ok(JsonApi(cells_body(&state, &[cell]).await?))
}

fn edit_outcome(outcome: CommentEdit, cell_id: &str) -> ApiResult<TimelineCell> {
    match outcome {
        CommentEdit::Done(cell) => Ok(*cell),
        CommentEdit::CaseNotFound => Err(resource_not_found("case not found")),
        CommentEdit::CellNotFound => Err(resource_not_found(
            "failed to get timeline cell: timeline cell not found",
        )),
        CommentEdit::CellDeleted => Err(resource_not_found("timeline cell not found")),
        CommentEdit::NotAComment => Err(ApiError::bad_request(format!(
            "timeline cell {cell_id} is an event, not a comment; only comments can be edited or deleted"
        ))),
    }
}

async fn update_comment(
    State(state): State<AppState>,
    principal: Principal,
    Path((case_id, cell_id)): Path<(String, String)>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesWrite)?;
    if !is_uuid(&cell_id) {
        return Err(invalid_uuid_parameter("CommentID"));
    }
    let comment = comment_of(&body)?;
    let case = existing_case(&state, &case_id).await?;
    let outcome = state
        .store
        .update_comment(&case.id, &cell_id, &comment)
        .await?;
    let cell = edit_outcome(outcome, &cell_id)?;
    Ok(JsonApi(cells_body(&state, &[cell]).await?))
}

async fn delete_comment(
    State(state): State<AppState>,
    principal: Principal,
    Path((case_id, cell_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    principal.require(Scope::CasesWrite)?;
    if !is_uuid(&cell_id) {
        return Err(invalid_uuid_parameter("CommentID"));
    }
    let case = existing_case(&state, &case_id).await?;
    let outcome = state.store.delete_comment(&case.id, &cell_id).await?;
    edit_outcome(outcome, &cell_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesRead)?;
    let params = QueryParams::parse(raw.as_deref());
    let page = TimelinePage {
        size: params.int("page[size]", DEFAULT_TIMELINE_PAGE, 1, MAX_TIMELINE_PAGE)?,
        number: params.int("page[number]", 0, 0, 1_000_000)?,
        ascending: params.bool("sort[ascending]", false)?,
    };
    let case = existing_case(&state, &case_id).await?;
    let cells = state.store.list_timeline(&case.id, page).await?;
    Ok(JsonApi(cells_body(&state, &cells).await?))
}
