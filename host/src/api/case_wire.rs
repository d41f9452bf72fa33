//! Wire shapes shared by the Case Management and findings↔cases handlers.
//!
//! Why: the same case is served in two dialects — Case Management (`type: "case"`, users
//! `"user"`, projects `"project"`, RFC 3339 times) and the findings ticketing operations
//! (`type: "cases"`, `"users"`, `"projects"`) — and request envelopes are checked the same way
//! everywhere (the recorded `got type "x" expected one of "y"` wording).
//! Invariants:
//! - a request's `data.type` is checked before anything else in it;
//! - members absent on a case (never modified, not archived, no ticket) are omitted, not null,
//!   as in the recordings;
//! - times are RFC 3339 UTC with milliseconds.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use crate::domain::case::{Case, Insight};
use crate::domain::project::Project;
use crate::domain::ticket_link::{TicketBackend, TicketLink};
use crate::domain::timeline::TimelineCell;
use crate::store::cases::CaseView;
use crate::store::users::User;

/// Most findings ↔ cases items and findings per item in one request.
pub const MAX_ITEMS_PER_REQUEST: usize = 50;

/// RFC 3339 (milliseconds, `Z`) for a millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Case Management's 404: `{"code": "resource_not_found", "title": <what>}` (plus status/detail).
pub fn resource_not_found(what: &str) -> ApiError {
    ApiError::not_found(what)
        .with_title(what)
        .with_code("resource_not_found")
}

/// The recorded wrong-type answer: `got type "x" expected one of "y"`.
pub fn wrong_type(got: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!("got type {got:?} expected one of {expected:?}"))
}

/// Datadog's "Generic Error" 400 (invalid status, invalid priority).
pub fn generic_error(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, detail).with_title("Generic Error")
}

/// The recorded bad path parameter answer (`invalid parameter "CommentID" in "path"; …`).
pub fn invalid_uuid_parameter(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "invalid parameter {name:?} in \"path\"; expected type \"uuid\""
    ))
    .with_title("Invalid Parameter")
}

/// Whether `value` is a UUID in its canonical hyphenated form.
pub fn is_uuid(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::parse_str(value).is_ok()
}

/// `data` of a single-resource request, after checking its `type`.
pub fn data_object<'a>(
    body: &'a Value,
    expected_type: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    let data = body
        .get("data")
        .ok_or_else(|| ApiError::bad_request("request body has no \"data\" member"))?;
    resource_object(data, "data", expected_type)
}

/// A resource object (`{type, id?, attributes?, relationships?}`) after checking its `type`.
pub fn resource_object<'a>(
    value: &'a Value,
    path: &str,
    expected_type: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("{path} must be an object")))?;
    match object.get("type") {
        Some(Value::String(kind)) if kind == expected_type => Ok(object),
        Some(Value::String(kind)) => Err(wrong_type(kind, expected_type)),
        Some(_) => Err(ApiError::bad_request(format!(
            "{path}.type must be a string"
        ))),
        None => Err(ApiError::bad_request(format!(
            "{path}.type is required (expected {expected_type:?})"
        ))),
    }
}

/// `attributes` of a resource decoded into `T` (absent attributes decode from `{}`).
pub fn attributes<T: DeserializeOwned>(data: &Map<String, Value>) -> Result<T, ApiError> {
    let value = data
        .get("attributes")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if !value.is_object() {
        return Err(ApiError::bad_request("data.attributes must be an object"));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("error decoding data.attributes: {e}")))
}

/// The `{id, type}` of a to-one relationship `relationships.<name>.data`; `None` when the
/// relationship is absent or its data is null.
pub fn to_one(
    data: &Map<String, Value>,
    name: &str,
    expected_type: &str,
) -> Result<Option<String>, ApiError> {
    let Some(relationship) = data.get("relationships").and_then(|r| r.get(name)) else {
        return Ok(None);
    };
    let path = format!("relationships.{name}.data");
    match relationship.get("data") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            let object = resource_object(value, &path, expected_type)?;
            match object.get("id") {
                Some(Value::String(id)) if !id.is_empty() => Ok(Some(id.clone())),
                _ => Err(ApiError::bad_request(format!("{path}.id is required"))),
            }
        }
    }
}

/// Finding ids of `relationships.findings.data` (each `{id, type: "findings"}`), in order.
/// Empty → the recorded "no finding provided"; more than [`MAX_ITEMS_PER_REQUEST`] → 400.
pub fn finding_ids(data: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let items = data
        .get("relationships")
        .and_then(|r| r.get("findings"))
        .and_then(|f| f.get("data"));
    let items = match items {
        None | Some(Value::Null) => return Err(ApiError::bad_request("no finding provided")),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::bad_request(
                "relationships.findings.data must be an array",
            ))
        }
    };
    if items.is_empty() {
        return Err(ApiError::bad_request("no finding provided"));
    }
    if items.len() > MAX_ITEMS_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "too many findings: {} given, at most {MAX_ITEMS_PER_REQUEST} per case",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("relationships.findings.data[{i}]");
            let object = resource_object(item, &path, "findings")?;
            match object.get("id") {
                Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
                _ => Err(ApiError::bad_request(format!("{path}.id is required"))),
            }
        })
        .collect()
}

fn insert_time(map: &mut Map<String, Value>, key: &str, ms: Option<i64>) {
    if let Some(ms) = ms {
        map.insert(key.to_string(), json!(rfc3339(ms)));
    }
}

fn insights(list: &[Insight]) -> Value {
    Value::Array(
        list.iter()
            .map(|i| {
                json!({"type": Insight::TYPE, "ref": i.reference(), "resource_id": i.finding_id})
            })
            .collect(),
    )
}

fn ticket(view: &CaseView, backend: TicketBackend) -> Option<&TicketLink> {
    view.tickets.iter().find(|t| t.backend == backend)
}

fn relation(id: &str, kind: &str) -> Value {
    json!({"data": {"id": id, "type": kind}})
}

/// The ids of every user a case response names (creator, modifier, assignee).
pub fn user_ids<'a>(cases: impl IntoIterator<Item = &'a Case>) -> Vec<String> {
    let mut ids: Vec<String> = cases
        .into_iter()
        .flat_map(|c| [&c.created_by, &c.modified_by, &c.assignee_id])
        .flatten()
        .cloned()
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A `user` resource for `included`.
pub fn included_user(user: &User) -> Value {
    json!({
        "id": user.id,
        "type": "user",
        "attributes": {
            "active": true,
            "email": user.email.clone().unwrap_or_default(),
            "handle": user.handle,
            "name": user.name,
        }
    })
}

/// `included` for a set of cases.
pub fn included_users(cases: &[&Case], users: &HashMap<String, User>) -> Value {
    Value::Array(
        user_ids(cases.iter().copied())
            .iter()
            .filter_map(|id| users.get(id))
            .map(included_user)
            .collect(),
    )
}

/// A case in the Case Management dialect (`type: "case"`).
pub fn case_resource(view: &CaseView) -> Value {
    let case = &view.case;
    let mut attributes = Map::new();
    insert_time(&mut attributes, "archived_at", case.archived_at);
    attributes.insert("attributes".into(), json!(case.attributes));
    insert_time(&mut attributes, "closed_at", case.closed_at);
    attributes.insert("comment_count".into(), json!(view.comment_count));
    attributes.insert("created_at".into(), json!(rfc3339(case.created_at)));
    attributes.insert(
        "creation_source".into(),
        json!(case.creation_source.as_str()),
    );
    attributes.insert("custom_attributes".into(), json!({}));
    attributes.insert("description".into(), json!(case.description));
    attributes.insert("insights".into(), insights(&view.insights));
    attributes.insert("internal_id".into(), json!(case.id));
    if let Some(jira) = ticket(view, TicketBackend::Jira) {
        attributes.insert(
            "jira_issue".into(),
            json!({
                "status": jira.creation_status.as_str(),
                "result": {
                    "issue_id": jira.external_id,
                    "issue_key": jira.external_key,
                    "issue_url": jira.url,
                    "project_key": jira.external_key.as_deref()
                        .and_then(|k| k.rsplit_once('-')).map(|(p, _)| p),
                }
            }),
        );
    }
    attributes.insert("key".into(), json!(case.key));
    attributes.insert("merge_status".into(), json!("NOT_MERGED"));
    insert_time(&mut attributes, "modified_at", case.modified_at);
    attributes.insert("priority".into(), json!(case.priority.as_str()));
    if let Some(snow) = ticket(view, TicketBackend::ServiceNow) {
        attributes.insert(
            "service_now_ticket".into(),
            json!({
                "status": snow.creation_status.as_str(),
                "result": {"sys_target_link": snow.url},
            }),
        );
    }
    attributes.insert("status".into(), json!(case.status.as_str()));
    attributes.insert("status_group".into(), json!(case.status.group()));
    attributes.insert("status_name".into(), json!(case.status.display_name()));
    attributes.insert("title".into(), json!(case.title));
    attributes.insert("type".into(), json!(case.case_type.as_str()));
    attributes.insert("type_id".into(), json!(case.type_id));

    let mut relationships = Map::new();
    if let Some(id) = &case.assignee_id {
        relationships.insert("assignee".into(), relation(id, "user"));
    }
    if let Some(id) = &case.created_by {
        relationships.insert("created_by".into(), relation(id, "user"));
    }
    if let Some(id) = &case.modified_by {
        relationships.insert("modified_by".into(), relation(id, "user"));
    }
    relationships.insert("project".into(), relation(&case.project_id, "project"));
    json!({
        "id": case.id,
        "type": "case",
        "attributes": attributes,
        "relationships": relationships,
    })
}

/// `{"data": case, "included": users}`.
pub fn case_document(view: &CaseView, users: &HashMap<String, User>) -> Value {
    json!({
        "data": case_resource(view),
        "included": included_users(&[&view.case], users),
    })
}

/// A case in the findings ticketing dialect (`type: "cases"`, FindingCaseResponseData).
pub fn finding_case_resource(view: &CaseView) -> Value {
    let case = &view.case;
    let mut attributes = Map::new();
    insert_time(&mut attributes, "archived_at", case.archived_at);
    if let Some(id) = &case.assignee_id {
        attributes.insert("assigned_to".into(), relation(id, "users"));
    }
    if !case.attributes.is_empty() {
        attributes.insert("attributes".into(), json!(case.attributes));
    }
    insert_time(&mut attributes, "closed_at", case.closed_at);
    attributes.insert("created_at".into(), json!(rfc3339(case.created_at)));
    attributes.insert(
        "creation_source".into(),
        json!(case.creation_source.as_str()),
    );
    attributes.insert("description".into(), json!(case.description));
    attributes.insert("insights".into(), insights(&view.insights));
    if let Some(jira) = ticket(view, TicketBackend::Jira) {
        let mut issue = Map::new();
        issue.insert("status".into(), json!(jira.creation_status.as_str()));
        if let Some(message) = &jira.error_message {
            issue.insert("error_message".into(), json!(message));
        }
        issue.insert(
            "result".into(),
            json!({
                "issue_id": jira.external_id,
                "issue_key": jira.external_key,
                "issue_url": jira.url,
                "account_id": jira.account,
            }),
        );
        attributes.insert("jira_issue".into(), Value::Object(issue));
    }
    attributes.insert("key".into(), json!(case.key));
    insert_time(&mut attributes, "modified_at", case.modified_at);
    attributes.insert("priority".into(), json!(case.priority.as_str()));
    if let Some(snow) = ticket(view, TicketBackend::ServiceNow) {
        attributes.insert(
            "servicenow_ticket".into(),
            json!({
                "status": snow.creation_status.as_str(),
                "result": {
                    "sys_id": snow.external_id,
                    "sys_target_sys_id": snow.external_id,
                    "sys_target_link": snow.url,
                    "url": snow.url,
                    "table_name": snow.table_name,
                    "instance_name": snow.account,
                }
            }),
        );
    }
    attributes.insert("status".into(), json!(case.status.as_str()));
    attributes.insert("status_group".into(), json!(case.status.group()));
    attributes.insert("status_name".into(), json!(case.status.display_name()));
    attributes.insert("title".into(), json!(case.title));
    attributes.insert("type".into(), json!(case.case_type.as_str()));

    let mut relationships = Map::new();
    if let Some(id) = &case.created_by {
        relationships.insert("created_by".into(), relation(id, "users"));
    }
    if let Some(id) = &case.modified_by {
        relationships.insert("modified_by".into(), relation(id, "users"));
    }
    relationships.insert("project".into(), relation(&case.project_id, "projects"));
    json!({
        "id": case.id,
        "type": "cases",
        "attributes": attributes,
        "relationships": relationships,
    })
}

/// A project (`type: "project"`).
pub fn project_resource(project: &Project) -> Value {
    json!({
        "id": project.id,
        "type": "project",
        "attributes": {
            "enabled_custom_case_types": project.enabled_custom_case_types,
            "key": project.key,
            "name": project.name,
            "restricted": false,
            "settings": project.settings_object(),
        }
    })
}

/// A timeline cell (`type: "timeline_cell"`), with its author when known.
pub fn timeline_cell_resource(cell: &TimelineCell, users: &HashMap<String, User>) -> Value {
    let mut attributes = Map::new();
    if let Some(user) = cell.author_id.as_ref().and_then(|id| users.get(id)) {
        // Datadog sends the user id as "ID"; the schema documents "id". Both are sent.
        attributes.insert(
            "author".into(),
            json!({
                "type": "USER",
                "content": {
                    "ID": user.id,
                    "id": user.id,
                    "name": user.name,
                    "email": user.email.clone().unwrap_or_default(),
                    "handle": user.handle,
                    "active": true,
                }
            }),
        );
    }
    attributes.insert("cell_content".into(), cell.content.clone());
    attributes.insert("content".into(), json!(cell.content.to_string()));
    attributes.insert("created_at".into(), json!(rfc3339(cell.created_at)));
    insert_time(&mut attributes, "modified_at", cell.modified_at);
    insert_time(&mut attributes, "deleted_at", cell.deleted_at);
    attributes.insert("type".into(), json!(cell.cell_type));
    json!({"id": cell.id, "type": "timeline_cell", "attributes": attributes})
}

/// `{"data": [cells…]}`.
pub fn timeline_document(cells: &[TimelineCell], users: &HashMap<String, User>) -> Value {
    json!({
        "data": cells.iter().map(|c| timeline_cell_resource(c, users)).collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339(1_767_102_585_123), "2025-12-30T13:49:45.123Z");
    }

    #[test]
    fn wrong_type_uses_the_recorded_wording() {
        let err = wrong_type("userx", "user");
        assert_eq!(err.detail, "got type \"userx\" expected one of \"user\"");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_type_is_checked_first() {
        let body = json!({"data": {"type": "project", "attributes": 5}});
        assert_eq!(
            data_object(&body, "case").unwrap_err().detail,
            "got type \"project\" expected one of \"case\""
        );
    }

    #[test]
    fn empty_and_missing_findings_are_no_finding_provided() {
        let data = json!({"type": "cases", "relationships": {"findings": {"data": []}}});
        assert_eq!(
            finding_ids(data.as_object().unwrap()).unwrap_err().detail,
            "no finding provided"
        );
        let data = json!({"type": "cases"});
        assert_eq!(
            finding_ids(data.as_object().unwrap()).unwrap_err().detail,
            "no finding provided"
        );
    }

    #[test]
    fn more_than_fifty_findings_are_refused() {
        let items: Vec<Value> = (0..51)
            .map(|i| json!({"id": format!("f{i}"), "type": "findings"}))
            .collect();
        let data = json!({"type": "cases", "relationships": {"findings": {"data": items}}});
        let err = finding_ids(data.as_object().unwrap()).unwrap_err();
        assert!(err.detail.contains("at most 50"), "{}", err.detail);
    }

    #[test]
    fn uuids_are_recognised() {
        assert!(is_uuid("23fca2aa-4967-4936-bdd7-9157d9e456d7"));
        assert!(!is_uuid("not-an-uuid"));
        assert!(!is_uuid("23fca2aa49674936bdd79157d9e456d7"));
    }
}
