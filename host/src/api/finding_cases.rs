//! Findings ↔ cases: CreateCases, AttachCase, DetachCase (Security Monitoring API).
//!
//! Why: security findings become cases (and later tickets) through these three operations.
//! Invariants:
//! - every operation needs `findings_write`;
//! - at most 50 cases per CreateCases request and 50 findings per case, attach or detach;
//! - checks run in the recorded order: `type`, then "no finding provided", then the project
//!   ("project not found") or case ("failed to get case: case not found"), then the findings
//!   ("finding not found"); nothing is written unless every check passes;
//! - a CreateCases request is one transaction: all of its cases are created or none;
//! - a finding already in a case of the same project moves (see `store::finding_cases`);
//! - DetachCase takes a JSON body on DELETE and answers 204 with no body.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Principal, Scope};
use super::case_wire::{
    attributes, data_object, finding_case_resource, finding_ids, generic_error, is_uuid,
    resource_object, to_one, MAX_ITEMS_PER_REQUEST,
};
use super::error::{ApiError, ApiResult};
use super::json::{with_status, JsonApi};
use super::AppState;
use crate::domain::case::{validate_text, CasePriority, NewCase, MAX_TITLE_LEN};
use crate::store::StoreError;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v2/security/findings/cases",
            post(create_cases).delete(detach_case),
        )
        .route(
            "/api/v2/security/findings/cases/{case_id}",
            patch(attach_case),
        )
}

/// Store errors in the findings dialect (plain "Not Found" title, `<what> not found` detail).
fn findings_store_error(err: StoreError) -> ApiError {
    ApiError::from(err)
}

#[derive(Debug, Default, Deserialize)]
struct CreateAttributes {
    title: Option<String>,
    description: Option<String>,
    priority: Option<String>,
    assignee_id: Option<String>,
}

/// One validated CreateCases item.
struct Item {
    project_id: String,
    finding_ids: Vec<String>,
    attrs: CreateAttributes,
}

fn parse_items(body: &Value) -> ApiResult<Vec<Item>> {
    let items = match body.get("data") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::bad_request("data must be an array of cases")),
        None => return Err(ApiError::bad_request("request body has no \"data\" member")),
    };
    if items.is_empty() {
        return Err(ApiError::bad_request("data must contain at least one case"));
    }
    if items.len() > MAX_ITEMS_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "too many cases: {} given, at most {MAX_ITEMS_PER_REQUEST} per request",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let data = resource_object(item, &format!("data[{i}]"), "cases")?;
            let finding_ids = finding_ids(data)?;
            let project_id = to_one(data, "project", "projects")?.ok_or_else(|| {
                ApiError::bad_request(format!("data[{i}].relationships.project is required"))
            })?;
            let attrs: CreateAttributes = attributes(data)?;
            Ok(Item {
                project_id,
                finding_ids,
                attrs,
            })
        })
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A title when none is given: the finding's title, or the first one and a count.
fn default_title(ids: &[String], titles: &HashMap<String, String>) -> String {
    let name = |id: &String| {
        titles
            .get(id)
            .filter(|t| !t.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| id.clone())
    };
    let title = match ids {
        [only] => name(only),
        [first, rest @ ..] => format!("{} and {} other findings", name(first), rest.len()),
        [] => "Security findings".to_string(),
    };
    truncate(&title, MAX_TITLE_LEN)
}

/// A description when none is given: one line per finding.
fn default_description(ids: &[String], titles: &HashMap<String, String>) -> String {
    let mut text = String::from("Security findings:\n");
    for id in ids {
        let title = titles.get(id).map(String::as_str).unwrap_or("");
        text.push_str(&format!("- {title} ({id})\n"));
    }
    text
}

async fn create_cases(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::FindingsWrite)?;
    let items = parse_items(&body)?;

    let mut projects: Vec<&str> = items.iter().map(|i| i.project_id.as_str()).collect();
    projects.sort();
    projects.dedup();
    for project in projects {
        if state.store.get_project(project).await?.is_none() {
            return Err(ApiError::not_found("project not found"));
        }
    }
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for item in &items {
        let mut in_item: HashSet<&str> = HashSet::new();
        for id in &item.finding_ids {
            if in_item.insert(id) && !seen.insert((&item.project_id, id)) {
                return Err(ApiError::bad_request(format!(
                    "finding {id} appears in more than one case of project {} in this request; \
                     a finding belongs to at most one case per project",
                    item.project_id
                )));
            }
        }
    }
    let all_ids: Vec<String> = items
        .iter()
        .flat_map(|i| i.finding_ids.iter().cloned())
        .collect();
    let titles = state.store.finding_titles(&all_ids).await?;
    if all_ids.iter().any(|id| !titles.contains_key(id)) {
        return Err(ApiError::not_found("finding not found"));
    }

    let mut news = Vec::with_capacity(items.len());
    for item in items {
        let title = match item.attrs.title.as_deref().map(str::trim) {
            Some(title) if !title.is_empty() => truncate(title, MAX_TITLE_LEN),
            _ => default_title(&item.finding_ids, &titles),
        };
        let mut new = NewCase::from_findings(&item.project_id, &title, item.finding_ids.clone());
        new.description = match item.attrs.description {
            Some(description) => {
                validate_text("description", &description)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                description
            }
            None => default_description(&item.finding_ids, &titles),
        };
        if let Some(priority) = &item.attrs.priority {
            new.priority =
                CasePriority::parse(priority).map_err(|e| generic_error(e.to_string()))?;
        }
        if let Some(assignee) = item.attrs.assignee_id {
            if !is_uuid(&assignee) {
                return Err(ApiError::bad_request(format!(
                    "assignee_id {assignee:?} is not a UUID"
                )));
            }
            new.assignee_id = Some(assignee);
        }
        news.push(new);
    }
    let created = state
        .store
        .create_cases(&news, Some(&principal.user_id))
        .await
        .map_err(findings_store_error)?;
    let views = state.store.case_views(created).await?;
    Ok(with_status(
        StatusCode::CREATED,
        json!({"data": views.iter().map(finding_case_resource).collect::<Vec<_>>()}),
    ))
}

fn case_not_found() -> ApiError {
    ApiError::not_found("failed to get case: case not found")
}

async fn attach_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(case_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::FindingsWrite)?;
    let data = data_object(&body, "cases")?;
    let findings = finding_ids(data)?;
    let case = state
        .store
        .find_case(&case_id)
        .await?
        .ok_or_else(case_not_found)?;
    if let Some(id) = data.get("id") {
        let id = id
            .as_str()
            .ok_or_else(|| ApiError::bad_request("data.id must be a string"))?;
        if id != case.id && id.to_ascii_uppercase() != case.key {
            return Err(ApiError::bad_request(format!(
                "data.id {id:?} does not match the case in the path ({case_id:?})"
            )));
        }
    }
    let updated = state
        .store
        .attach_findings(&case.id, &findings, Some(&principal.user_id))
        .await
        .map_err(findings_store_error)?
        .ok_or_else(case_not_found)?;
    let views = state.store.case_views(vec![updated]).await?;
    let view = views
        .first()
        .ok_or_else(|| ApiError::internal("case view missing"))?;
    Ok(JsonApi(json!({"data": finding_case_resource(view)})))
}

async fn detach_case(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::FindingsWrite)?;
    let data = data_object(&body, "cases")?;
    let findings = finding_ids(data)?;
    state
        .store
        .detach_findings(&findings, Some(&principal.user_id))
        .await
        .map_err(findings_store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_titles_name_the_findings() {
        let titles: HashMap<String, String> = [
            ("a".to_string(), "Outdated lib".to_string()),
            ("b".to_string(), "Open port".to_string()),
        ]
        .into();
        assert_eq!(default_title(&["a".into()], &titles), "Outdated lib");
        assert_eq!(
            default_title(&["a".into(), "b".into()], &titles),
            "Outdated lib and 1 other findings"
        );
        assert!(default_description(&["b".into()], &titles).contains("- Open port (b)"));
    }

    #[test]
    fn create_cases_items_are_checked_in_the_recorded_order() {
        let body = json!({"data": [{"type": "cases", "attributes": {},
            "relationships": {"findings": {"data": []},
                              "project": {"data": {"id": "p", "type": "projects"}}}}]});
        assert_eq!(
            parse_items(&body).err().unwrap().detail,
            "no finding provided"
        );
        let body = json!({"data": [{"type": "case"}]});
        assert_eq!(
            parse_items(&body).err().unwrap().detail,
            "got type \"case\" expected one of \"cases\""
        );
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "cases"})).collect();
        assert!(parse_items(&json!({ "data": many }))
            .err()
            .unwrap()
            .detail
            .contains("at most 50"));
    }
}
