//! MuteSecurityFindings (`PATCH /api/v2/security/findings/mute`) and UpdateFindingsAssignee
//! (`PATCH /api/v2/security/findings/assignee`).
//!
//! Why: muting is how a finding is closed without remediation, and triage assigns findings to
//! people; both are driven by the official clients with these exact shapes.
//!
//! Invariants:
//! - Checks run in this order: body shape (400, naming the field), finding count (400: none, or
//!   more than 100), the mute rules (422 `Invalid Request` with Datadog's recorded messages),
//!   then existence (404 `finding not found`). A refused request changes nothing.
//! - Mute applies to every listed finding in one transaction, or to none.
//! - Assignee applies to the findings that exist and lists the others in `meta.failures`; it is
//!   a 404 only when none exists. The assignee must be a user casebridge knows (404 otherwise).
//! - Both answer 202 with a fresh request id, as Datadog does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::auth::{Principal, Scope};
use super::body::Field;
use super::error::{ApiError, ApiResult};
use super::json::{with_status, JsonApi};
use super::AppState;
use crate::domain::finding::mute::{check_mute_request, RequestReason, MAX_FINDINGS_PER_REQUEST};
use crate::domain::finding::Actor;
use crate::store::{now_ms, StoreError};

/// The finding ids of `data.relationships.findings.data[]` (each `{id, type: "findings"}`).
pub fn finding_ids(data: &Field<'_>) -> Result<Vec<String>, ApiError> {
    let relationships = data.get("relationships");
    relationships.required_object()?;
    let findings = relationships.get("findings");
    findings.required_object()?;
    let list = findings.get("data");
    let items = list.array()?.map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return Err(ApiError::bad_request("no finding provided"));
    }
    if items.len() > MAX_FINDINGS_PER_REQUEST {
        return Err(list.error(format!(
            "too many findings: at most {MAX_FINDINGS_PER_REQUEST} per request, got {}",
            items.len()
        )));
    }
    let mut ids = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item = list.index(index, item);
        item.required_object()?;
        item.get("type").expect_type("findings")?;
        let id = item.get("id").required_string()?;
        if id.is_empty() {
            return Err(item.get("id").error("must not be empty"));
        }
        if id.chars().any(char::is_control) {
            return Err(item.get("id").error("must not contain control characters"));
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}

fn actor_of(principal: &Principal) -> Actor {
    Actor {
        id: principal.user_id.clone(),
        name: principal.user_name.clone(),
    }
}

/// `PATCH /api/v2/security/findings/mute`.
pub async fn mute(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::FindingsWrite)?;
    let root = Field::root(&body);
    root.required_object()?;
    let data = root.get("data");
    data.required_object()?;
    data.get("type").expect_type("mute")?;
    data.get("id").string()?;
    let attributes = data.get("attributes");
    attributes.required_object()?;
    let mute = attributes.get("mute");
    mute.required_object()?;
    let is_muted = mute.get("is_muted").required_bool()?;
    let reason_field = mute.get("reason");
    let reason_text = reason_field.required_string()?;
    let reason = RequestReason::parse(reason_text).ok_or_else(|| {
        reason_field.error(format!(
            "must be one of {}; got {reason_text:?}",
            RequestReason::allowed()
        ))
    })?;
    let description = mute.get("description").string()?.map(str::to_string);
    let expire_at = mute.get("expire_at").i64()?;
    let ids = finding_ids(&data)?;

    let now = now_ms();
    let change =
        check_mute_request(is_muted, reason, description, expire_at, now).map_err(|refusal| {
            ApiError::unprocessable(refusal.to_string()).with_title("Invalid Request")
        })?;
    match state
        .store
        .mute_findings(&ids, &change, &actor_of(&principal), now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("finding not found")),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(
        count = ids.len(),
        is_muted,
        reason = reason.as_str(),
        user = %principal.user_handle,
        "findings mute updated"
    );
    Ok(with_status(
        StatusCode::ACCEPTED,
        json!({"data": {"id": uuid::Uuid::new_v4().to_string(), "type": "mute"}}),
    ))
}

/// `PATCH /api/v2/security/findings/assignee`.
pub async fn assignee(
    State(state): State<AppState>,
    principal: Principal,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<Response> {
    principal.require(Scope::FindingsWrite)?;
    let root = Field::root(&body);
    root.required_object()?;
    let data = root.get("data");
    data.required_object()?;
    data.get("type").expect_type("assignee")?;
    data.get("id").string()?;
    let attributes = data.get("attributes");
    attributes.object()?;
    let assignee_field = attributes.get("assignee_id");
    let assignee_id = assignee_field.string()?;
    if assignee_id.is_some_and(|id| id.chars().any(char::is_control)) {
        return Err(assignee_field.error("must not contain control characters"));
    }
    let ids = finding_ids(&data)?;

    let assignee = match assignee_id {
        None => None,
        Some(id) => match state.store.user_actor(id).await? {
            Some(user) => Some(user),
            None => {
                return Err(ApiError::not_found(format!(
                    "user not found: no user with id {id:?} (assignee_id)"
                )))
            }
        },
    };
    let outcome = state
        .store
        .assign_findings(&ids, assignee.as_ref(), &actor_of(&principal), now_ms())
        .await?;
    if outcome.updated.is_empty() {
        return Err(ApiError::not_found("finding not found"));
    }
    let failures: Vec<Value> = outcome
        .missing
        .iter()
        .map(|id| {
            json!({"finding_id": id, "status": 404, "title": "Not Found", "detail": "finding not found"})
        })
        .collect();
    let attributes = match &assignee {
        Some(user) => json!({"assignee_id": user.id}),
        None => json!({}),
    };
    Ok(with_status(
        StatusCode::ACCEPTED,
        json!({
            "data": {"id": uuid::Uuid::new_v4().to_string(), "type": "assignee", "attributes": attributes},
            "meta": {"failures": failures, "warnings": []}
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids_of(body: Value) -> Result<Vec<String>, ApiError> {
        finding_ids(&Field::root(&body).get("data"))
    }

    #[test]
    fn an_empty_finding_list_is_the_recorded_400() {
        let err =
            ids_of(json!({"data": {"relationships": {"findings": {"data": []}}}})).unwrap_err();
        assert_eq!(err.detail, "no finding provided");
    }

    #[test]
    fn more_than_a_hundred_findings_are_refused_by_name() {
        let items: Vec<Value> = (0..101)
            .map(|i| json!({"id": format!("f{i}"), "type": "findings"}))
            .collect();
        let err =
            ids_of(json!({"data": {"relationships": {"findings": {"data": items}}}})).unwrap_err();
        assert_eq!(
            err.detail,
            "data.relationships.findings.data: too many findings: at most 100 per request, got 101"
        );
    }

    #[test]
    fn each_finding_reference_is_checked() {
        let err = ids_of(json!({"data": {"relationships": {"findings": {"data": [
            {"id": "a", "type": "findings"}, {"id": "b", "type": "finding"}]}}}}))
        .unwrap_err();
        assert_eq!(
            err.detail,
            "data.relationships.findings.data[1].type: got type \"finding\" expected one of \"findings\""
        );
    }
}
