//! Case Management projects: GetProjects, CreateProject, GetProject, UpdateProject, DeleteProject.
//!
//! Why: projects hold cases and the integration settings connectors read.
//! Invariants: reads need `cases_read`, writes `cases_write`; a project key is validated before
//! anything is stored and never changes; UpdateProject replaces each top-level settings entry it
//! names (`integration_jira`, `integration_service_now`, `integration_case_management` are the
//! integration slots; `null` clears one); deleting a project detaches its tickets and findings.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::{Principal, Scope};
use super::case_wire::{attributes, data_object, project_resource, resource_not_found};
use super::error::{ApiError, ApiResult};
use super::json::{with_status, JsonApi};
use super::AppState;
use crate::domain::project::{validate_project_name, NewProject, ProjectChange};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v2/cases/projects",
            get(get_projects).post(create_project),
        )
        .route(
            "/api/v2/cases/projects/{project_id}",
            get(get_project)
                .patch(update_project)
                .delete(delete_project),
        )
}

async fn get_projects(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesRead)?;
    let projects = state.store.list_projects().await?;
    Ok(JsonApi(json!({
        "data": projects.iter().map(project_resource).collect::<Vec<_>>()
    })))
}

#[derive(Debug, Deserialize)]
struct CreateAttributes {
    name: Option<String>,
    key: Option<String>,
    #[serde(default)]
    enabled_custom_case_types: Vec<String>,
    team_uuid: Option<String>,
}

async fn create_project(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::CasesWrite)?;
    let data = data_object(&body, "project")?;
    let attrs: CreateAttributes = attributes(data)?;
    let name = attrs
        .name
        .ok_or_else(|| ApiError::bad_request("data.attributes.name is required"))?;
    let key = attrs
        .key
        .ok_or_else(|| ApiError::bad_request("data.attributes.key is required"))?;
    let mut new = NewProject::new(&name, &key).map_err(|e| ApiError::bad_request(e.to_string()))?;
    new.enabled_custom_case_types = attrs.enabled_custom_case_types;
    new.team_uuid = attrs.team_uuid;
    let project = state
        .store
        .create_project(&new, Some(&principal.user_id))
        .await?;
    Ok(with_status(
        StatusCode::CREATED,
        json!({"data": project_resource(&project)}),
    ))
}

async fn get_project(
    State(state): State<AppState>,
    principal: Principal,
    Path(project_id): Path<String>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesRead)?;
    let project = state
        .store
        .get_project(&project_id)
        .await?
        .ok_or_else(|| resource_not_found("project not found"))?;
    Ok(JsonApi(json!({"data": project_resource(&project)})))
}

#[derive(Debug, Deserialize)]
struct UpdateAttributes {
    name: Option<String>,
    settings: Option<Map<String, Value>>,
    enabled_custom_case_types: Option<Vec<String>>,
    team_uuid: Option<String>,
}

async fn update_project(
    State(state): State<AppState>,
    principal: Principal,
    Path(project_id): Path<String>,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::CasesWrite)?;
    let data = data_object(&body, "project")?;
    let attrs: UpdateAttributes = attributes(data)?;
    let mut change = ProjectChange {
        enabled_custom_case_types: attrs.enabled_custom_case_types,
        team_uuid: attrs.team_uuid,
        ..ProjectChange::default()
    };
    if let Some(name) = attrs.name {
        change.name =
            Some(validate_project_name(&name).map_err(|e| ApiError::bad_request(e.to_string()))?);
    }
    if let Some(settings) = attrs.settings {
        change = change
            .with_settings(settings)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let project = state
        .store
        .update_project(&project_id, &change)
        .await?
        .ok_or_else(|| resource_not_found("failed to get project: project not found"))?;
    Ok(JsonApi(json!({"data": project_resource(&project)})))
}

async fn delete_project(
    State(state): State<AppState>,
    principal: Principal,
    Path(project_id): Path<String>,
) -> ApiResult<Response> {
    principal.require(Scope::CasesWrite)?;
    if state.store.delete_project(&project_id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(resource_not_found("project not found"))
    }
}
