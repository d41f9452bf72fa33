//! Case Management cases: SearchCases, CreateCase, GetCase and the per-field update operations
//! (status, priority, assign, unassign, archive, unarchive, title, description, attributes).
//!
//! Why: the official clients' Case Management API, served over casebridge's cases.
//! Invariants:
//! - reads need `cases_read`, writes `cases_write`;
//! - `case_id` in a path is a case UUID or a case key (`SEC-42`);
//! - a request's `type` is checked first (recorded wording), then its values (recorded
//!   "Generic Error" wording for status and priority), then the case, project and users exist
//!   (recorded `resource_not_found` bodies);
//! - every change goes through `Store::change_case`, which records it on the timeline.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::{Principal, Scope};
use super::case_wire::{
    attributes, case_document, case_resource, data_object, generic_error, included_users, is_uuid,
    resource_not_found, to_one, user_ids,
};
use super::error::{ApiError, ApiResult};
use super::json::{with_status, JsonApi};
use super::query_params::QueryParams;
use super::AppState;
use crate::domain::case::{
    validate_attributes, validate_text, validate_title, Case, CaseChange, CasePriority, CaseStatus,
    CaseType, CustomAttributes, NewCase, StatusError,
};
use crate::domain::case_filter::parse_filter;
use crate::store::case_search::{CaseSearch, CaseSortField};
use crate::store::{Store, StoreError};

/// Largest SearchCases page.
pub const MAX_PAGE_SIZE: i64 = 100;
/// SearchCases page size when none is asked.
pub const DEFAULT_PAGE_SIZE: i64 = 10;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/cases", get(search_cases).post(create_case))
        .route("/api/v2/cases/{case_id}", get(get_case))
        .route("/api/v2/cases/{case_id}/status", post(update_status))
        .route("/api/v2/cases/{case_id}/priority", post(update_priority))
        .route("/api/v2/cases/{case_id}/assign", post(assign_case))
        .route("/api/v2/cases/{case_id}/unassign", post(unassign_case))
        .route("/api/v2/cases/{case_id}/archive", post(archive_case))
        .route("/api/v2/cases/{case_id}/unarchive", post(unarchive_case))
        .route("/api/v2/cases/{case_id}/title", post(update_title))
        .route(
            "/api/v2/cases/{case_id}/description",
            post(update_description),
        )
        .route(
            "/api/v2/cases/{case_id}/attributes",
            post(update_attributes),
        )
}

/// Maps store errors in the Case Management dialect (`resource_not_found` for missing things).
pub fn case_store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound(what) => resource_not_found(&format!("{what} not found")),
        other => ApiError::from(other),
    }
}

/// `{"data": case, "included": users}` for a stored case.
pub async fn case_body(store: &Store, case: Case) -> ApiResult<Value> {
    let views = store.case_views(vec![case]).await?;
    let view = views
        .first()
        .ok_or_else(|| ApiError::internal("case view missing"))?;
    let users = store.users_by_ids(&user_ids([&view.case])).await?;
    Ok(case_document(view, &users))
}

async fn search_cases(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesRead)?;
    let params = QueryParams::parse(raw.as_deref());
    let page_size = params.int("page[size]", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
    // One-based; 0 (the spec's default) is the first page too.
    let page_number = params.int("page[number]", 1, 0, 1_000_000)?.max(1);
    let sort = match params.str("sort[field]") {
        None => CaseSortField::CreatedAt,
        Some(field) => CaseSortField::parse(field).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid parameter \"sort[field]\": {field:?} is not one of created_at, priority, status"
            ))
        })?,
    };
    let ascending = params.bool("sort[asc]", false)?;
    let filter = parse_filter(params.str("filter").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let page = state
        .store
        .search_cases(&CaseSearch {
            filter,
            sort,
            ascending,
            page_size,
            page_number,
        })
        .await?;
    let views = state.store.case_views(page.cases).await?;
    let cases: Vec<&Case> = views.iter().map(|v| &v.case).collect();
    let users = state
        .store
        .users_by_ids(&user_ids(cases.iter().copied()))
        .await?;
    let total_pages = (page.total + page_size - 1) / page_size;
    Ok(JsonApi(json!({
        "data": views.iter().map(case_resource).collect::<Vec<_>>(),
        "included": included_users(&cases, &users),
        "meta": {
            "page": {"current": page_number, "size": views.len(), "total": total_pages},
            "total_cases": page.total,
        },
    })))
}

#[derive(Debug, Deserialize)]
struct CreateAttributes {
    title: Option<String>,
    type_id: Option<String>,
    description: Option<String>,
    priority: Option<String>,
    status_name: Option<String>,
    /// casebridge extension: initial `{key: [string]}` attributes.
    attributes: Option<Value>,
}

async fn create_case(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::CasesWrite)?;
    let data = data_object(&body, "case")?;
    let assignee = to_one(data, "assignee", "user")?;
    let project = to_one(data, "project", "project")?
        .ok_or_else(|| ApiError::bad_request("relationships.project is required"))?;
    let attrs: CreateAttributes = attributes(data)?;
    let title = attrs
        .title
        .ok_or_else(|| ApiError::bad_request("data.attributes.title is required"))?;
    let mut new = NewCase::manual(
        &project,
        &validate_title(&title).map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    new.case_type = match attrs.type_id.as_deref() {
        None => CaseType::Standard,
        Some(type_id) => CaseType::from_type_id(type_id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown case type_id {type_id:?}: casebridge has STANDARD ({}) and SECURITY ({})",
                CaseType::Standard.type_id(),
                CaseType::Security.type_id()
            ))
        })?,
    };
    if let Some(description) = attrs.description {
        validate_text("description", &description)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        new.description = description;
    }
    if let Some(priority) = attrs.priority {
        new.priority = CasePriority::parse(&priority).map_err(|e| generic_error(e.to_string()))?;
    }
    if let Some(name) = attrs.status_name {
        new.status = CaseStatus::parse_name(&name).map_err(|e| generic_error(e.to_string()))?;
    }
    if let Some(value) = attrs.attributes {
        new.attributes = decode_attributes(value)?;
    }
    if let Some(id) = &assignee {
        require_uuid("assignee id", id)?;
    }
    new.assignee_id = assignee;
    let case = state
        .store
        .create_case(&new, Some(&principal.user_id))
        .await
        .map_err(case_store_error)?;
    Ok(with_status(
        StatusCode::CREATED,
        case_body(&state.store, case).await?,
    ))
}

fn require_uuid(what: &str, value: &str) -> Result<(), ApiError> {
    if is_uuid(value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} {value:?} is not a UUID"
        )))
    }
}

async fn get_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesRead)?;
    let case = state
        .store
        .find_case(&case_id)
        .await?
        .ok_or_else(|| resource_not_found("case not found"))?;
    Ok(JsonApi(case_body(&state.store, case).await?))
}

/// Applies a change and answers the case.
async fn change(
    state: &AppState,
    principal: &Principal,
    case_id: &str,
    change: CaseChange,
) -> ApiResult<JsonApi<Value>> {
    let case = state
        .store
        .change_case(case_id, &change, Some(&principal.user_id))
        .await
        .map_err(case_store_error)?
        .ok_or_else(|| resource_not_found("case not found"))?;
    Ok(JsonApi(case_body(&state.store, case).await?))
}

/// Checks scope and `type`, returns `data`.
fn write_request<'a>(principal: &Principal, body: &'a Value) -> ApiResult<&'a Map<String, Value>> {
    principal.require(Scope::CasesWrite)?;
    data_object(body, "case")
}

#[derive(Debug, Deserialize)]
struct StatusAttributes {
    status: Option<String>,
    status_name: Option<String>,
}

fn requested_status(attrs: StatusAttributes) -> Result<CaseStatus, ApiError> {
    let by_status = attrs
        .status
        .as_deref()
        .map(CaseStatus::parse)
        .transpose()
        .map_err(|e: StatusError| generic_error(e.to_string()))?;
    let by_name = attrs
        .status_name
        .as_deref()
        .map(CaseStatus::parse_name)
        .transpose()
        .map_err(|e| generic_error(e.to_string()))?;
    match (by_status, by_name) {
        (Some(a), Some(b)) if a != b => Err(ApiError::bad_request(format!(
            "status {} and status_name {:?} disagree; send one of them",
            a.as_str(),
            b.display_name()
        ))),
        (Some(status), _) | (None, Some(status)) => Ok(status),
        (None, None) => Err(ApiError::bad_request(
            "data.attributes.status or data.attributes.status_name is required",
        )),
    }
}

async fn update_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    let data = write_request(&principal, &body)?;
    let status = requested_status(attributes(data)?)?;
    change(&state, &principal, &case_id, CaseChange::Status(status)).await
}

#[derive(Debug, Deserialize)]
struct PriorityAttributes {
    priority: Option<String>,
}

async fn update_priority(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    let data = write_request(&principal, &body)?;
    let attrs: PriorityAttributes = attributes(data)?;
    let priority = attrs
        .priority
        .ok_or_else(|| ApiError::bad_request("data.attributes.priority is required"))?;
    let priority = CasePriority::parse(&priority).map_err(|e| generic_error(e.to_string()))?;
    change(&state, &principal, &case_id, CaseChange::Priority(priority)).await
}

#[derive(Debug, Deserialize)]
struct AssignAttributes {
    assignee_id: Option<String>,
}

async fn assign_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    let data = write_request(&principal, &body)?;
    let attrs: AssignAttributes = attributes(data)?;
    let assignee = attrs
        .assignee_id
        .ok_or_else(|| ApiError::bad_request("data.attributes.assignee_id is required"))?;
    require_uuid("assignee_id", &assignee)?;
    change(&state, &principal, &case_id, CaseChange::Assign(assignee)).await
}

async fn unassign_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    write_request(&principal, &body)?;
    change(&state, &principal, &case_id, CaseChange::Unassign).await
}

async fn archive_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    write_request(&principal, &body)?;
    change(&state, &principal, &case_id, CaseChange::Archive).await
}

async fn unarchive_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    write_request(&principal, &body)?;
    change(&state, &principal, &case_id, CaseChange::Unarchive).await
}

#[derive(Debug, Deserialize)]
struct TitleAttributes {
    title: Option<String>,
}

async fn update_title(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    let data = write_request(&principal, &body)?;
    let attrs: TitleAttributes = attributes(data)?;
    let title = attrs
        .title
        .ok_or_else(|| ApiError::bad_request("data.attributes.title is required"))?;
    let title = validate_title(&title).map_err(|e| ApiError::bad_request(e.to_string()))?;
    change(&state, &principal, &case_id, CaseChange::Title(title)).await
}

#[derive(Debug, Deserialize)]
struct DescriptionAttributes {
    description: Option<String>,
}

async fn update_description(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    let data = write_request(&principal, &body)?;
    let attrs: DescriptionAttributes = attributes(data)?;
    let description = attrs
        .description
        .ok_or_else(|| ApiError::bad_request("data.attributes.description is required"))?;
    validate_text("description", &description).map_err(|e| ApiError::bad_request(e.to_string()))?;
    change(
        &state,
        &principal,
        &case_id,
        CaseChange::Description(description),
    )
    .await
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Datadog's wording (`error decoding attribute "attributes": invalid type string`), followed
/// by the key at fault.
fn attribute_type_error(found: &Value, key: Option<&str>) -> ApiError {
    let mut detail = format!(
        "error decoding attribute \"attributes\": invalid type {}",
        json_type(found)
    );
    match key {
        Some(key) => detail.push_str(&format!(
            " (the value of {key:?} must be an array of strings)"
        )),
        None => detail.push_str(" (expected an object of string arrays)"),
    }
    ApiError::bad_request(detail)
}

/// `{key: [string]}`, refusing anything else with the message above.
fn decode_attributes(value: Value) -> Result<CustomAttributes, ApiError> {
    let Value::Object(map) = value else {
        return Err(attribute_type_error(&value, None));
    };
    let mut out = CustomAttributes::new();
    for (key, values) in map {
        let Value::Array(items) = values else {
            return Err(attribute_type_error(&values, Some(&key)));
        };
        let mut strings = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(s) => strings.push(s),
                other => return Err(attribute_type_error(&other, Some(&key))),
            }
        }
        out.insert(key, strings);
    }
    validate_attributes(&out).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(out)
}

#[derive(Debug, Deserialize)]
struct AttributesAttributes {
    attributes: Option<Value>,
}

async fn update_attributes(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    let data = write_request(&principal, &body)?;
    let attrs: AttributesAttributes = attributes(data)?;
    let value = attrs
        .attributes
        .ok_or_else(|| ApiError::bad_request("data.attributes.attributes is required"))?;
    let decoded = decode_attributes(value)?;
    change(
        &state,
        &principal,
        &case_id,
        CaseChange::Attributes(decoded),
    )
    .await
}

/// Users named by a set of cases, for `included` (used by the findings↔cases handlers too).
pub async fn users_of(
    store: &Store,
    cases: &[&Case],
) -> ApiResult<HashMap<String, crate::store::users::User>> {
    Ok(store.users_by_ids(&user_ids(cases.iter().copied())).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_or_status_name_is_required_and_they_must_agree() {
        let none = StatusAttributes {
            status: None,
            status_name: None,
        };
        assert!(requested_status(none).is_err());
        let both = StatusAttributes {
            status: Some("OPEN".into()),
            status_name: Some("Closed".into()),
        };
        assert!(requested_status(both).is_err());
        let by_name = StatusAttributes {
            status: None,
            status_name: Some("In Progress".into()),
        };
        assert_eq!(requested_status(by_name).unwrap(), CaseStatus::InProgress);
    }

    #[test]
    fn an_invalid_status_is_a_generic_error() {
        let err = requested_status(StatusAttributes {
            status: Some("OPENED".into()),
            status_name: None,
        })
        .unwrap_err();
        assert_eq!(err.title, "Generic Error");
        assert!(err
            .detail
            .starts_with("invalid status OPENED. Must be one of NOT_STARTED"));
    }

    #[test]
    fn attribute_values_must_be_string_arrays() {
        let err = decode_attributes(json!({"service": "web-store"})).unwrap_err();
        assert!(
            err.detail
                .starts_with("error decoding attribute \"attributes\": invalid type string"),
            "{}",
            err.detail
        );
        assert!(err.detail.contains("\"service\""), "{}", err.detail);
        assert!(decode_attributes(json!({"env": [1]})).is_err());
        let ok = decode_attributes(json!({"env": ["test"], "team": []})).unwrap();
        assert_eq!(ok["env"], vec!["test".to_string()]);
    }
}
