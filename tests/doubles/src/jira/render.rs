//! JSON representations of Jira entities, per API version.
//!
//! v3 renders rich text as ADF and users by `accountId`; v2 (Data Center) renders wiki strings and
//! users by `name`/`key`. Invariants: `self` links always point at this double's base URL and the
//! API version the caller used; field selection never drops `id`, `key` or `self`.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::model::{
    ApiVersion, Attachment, ChangelogEntry, Comment, Issue, IssueTypeDef, PriorityDef, ProjectDef,
    StatusDef, TransitionDef, UserDef,
};
use super::state::JiraState;
use crate::common::time_format::jira_timestamp;

/// Which fields to include (`fields` parameter semantics).
#[derive(Clone, Debug, Default)]
pub struct FieldSelection {
    all: bool,
    navigable: bool,
    include: BTreeSet<String>,
    exclude: BTreeSet<String>,
}

impl FieldSelection {
    /// Parses repeated/comma-separated `fields` values; `default` applies when none are given.
    pub fn parse(values: &[String], default: &str) -> Self {
        let mut items: Vec<String> = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            items.push(default.to_string());
        }
        let mut selection = FieldSelection::default();
        for item in items {
            match item.as_str() {
                "*all" => selection.all = true,
                "*navigable" => selection.navigable = true,
                _ => {
                    if let Some(excluded) = item.strip_prefix('-') {
                        selection.exclude.insert(excluded.to_string());
                    } else {
                        selection.include.insert(item);
                    }
                }
            }
        }
        selection
    }

    pub fn all() -> Self {
        FieldSelection::parse(&[], "*all")
    }

    pub fn includes(&self, field: &str) -> bool {
        if self.exclude.contains(field) {
            return false;
        }
        self.all || (self.navigable && field != "comment") || self.include.contains(field)
    }
}

pub fn api_base(state: &JiraState, version: ApiVersion) -> String {
    format!("{}/rest/api/{}", state.base_url, version.number())
}

fn avatar_urls(seed: &str) -> Value {
    let base = format!("https://avatar.example.invalid/{seed}");
    json!({
        "48x48": format!("{base}?s=48"),
        "24x24": format!("{base}?s=24"),
        "16x16": format!("{base}?s=16"),
        "32x32": format!("{base}?s=32"),
    })
}

pub fn user_json(state: &JiraState, user: &UserDef, version: ApiVersion) -> Value {
    let base = api_base(state, version);
    match version {
        ApiVersion::V3 => json!({
            "self": format!("{base}/user?accountId={}", user.account_id),
            "accountId": user.account_id,
            "emailAddress": user.email,
            "avatarUrls": avatar_urls(&user.account_id),
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": user.time_zone,
            "accountType": "atlassian",
        }),
        ApiVersion::V2 => json!({
            "self": format!("{base}/user?username={}", user.name),
            "name": user.name,
            "key": user.key,
            "emailAddress": user.email,
            "avatarUrls": avatar_urls(&user.key),
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": user.time_zone,
        }),
    }
}

/// A user reference by account id; unknown ids (deleted users) render as Jira's fallback.
pub fn user_ref_json(state: &JiraState, account_id: Option<&str>, version: ApiVersion) -> Value {
    match account_id {
        None => Value::Null,
        Some(id) => match state.user(id) {
            Some(user) => user_json(state, user, version),
            None => json!({"accountId": id, "displayName": "Former user", "active": false}),
        },
    }
}

pub fn status_json(state: &JiraState, status: &StatusDef, version: ApiVersion) -> Value {
    let base = api_base(state, version);
    let category = status.category;
    json!({
        "self": format!("{base}/status/{}", status.id),
        "description": "",
        "iconUrl": format!("{}/images/icons/statuses/generic.png", state.base_url),
        "name": status.name,
        "id": status.id,
        "statusCategory": {
            "self": format!("{base}/statuscategory/{}", category.id()),
            "id": category.id(),
            "key": category.key(),
            "colorName": category.color(),
            "name": category.name(),
        }
    })
}

pub fn issue_type_json(state: &JiraState, issue_type: &IssueTypeDef, version: ApiVersion) -> Value {
    let base = api_base(state, version);
    json!({
        "self": format!("{base}/issuetype/{}", issue_type.id),
        "id": issue_type.id,
        "description": issue_type.description,
        "iconUrl": format!("{}/images/icons/issuetypes/{}.png", state.base_url, issue_type.name.to_lowercase()),
        "name": issue_type.name,
        "subtask": issue_type.subtask,
        "hierarchyLevel": if issue_type.subtask { -1 } else { 0 },
    })
}

pub fn project_json(state: &JiraState, project: &ProjectDef, version: ApiVersion) -> Value {
    let base = api_base(state, version);
    json!({
        "self": format!("{base}/project/{}", project.id),
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
        "simplified": false,
        "avatarUrls": avatar_urls(&project.key),
    })
}

pub fn priority_json(state: &JiraState, priority: &PriorityDef, version: ApiVersion) -> Value {
    let base = api_base(state, version);
    json!({
        "self": format!("{base}/priority/{}", priority.id),
        "iconUrl": format!("{}/images/icons/priorities/{}.svg", state.base_url, priority.name.to_lowercase()),
        "name": priority.name,
        "id": priority.id,
    })
}

pub fn rich_text_json(text: Option<&super::model::RichText>, version: ApiVersion) -> Value {
    match (text, version) {
        (None, _) => Value::Null,
        (Some(t), ApiVersion::V3) => t.as_adf(),
        (Some(t), ApiVersion::V2) => Value::String(t.as_wiki()),
    }
}

pub fn comment_json(
    state: &JiraState,
    issue: &Issue,
    comment: &Comment,
    version: ApiVersion,
) -> Value {
    let base = api_base(state, version);
    let mut value = json!({
        "self": format!("{base}/issue/{}/comment/{}", issue.id, comment.id),
        "id": comment.id.to_string(),
        "author": user_ref_json(state, Some(&comment.author), version),
        "body": rich_text_json(Some(&comment.body), version),
        "updateAuthor": user_ref_json(state, Some(&comment.update_author), version),
        "created": jira_timestamp(comment.created_ms),
        "updated": jira_timestamp(comment.updated_ms),
    });
    if let Some(map) = value.as_object_mut() {
        if version == ApiVersion::V3 {
            map.insert("jsdPublic".into(), Value::Bool(true));
        }
        if let Some(visibility) = &comment.visibility {
            map.insert("visibility".into(), visibility.clone());
        }
    }
    value
}

pub fn attachment_json(state: &JiraState, attachment: &Attachment, version: ApiVersion) -> Value {
    let base = api_base(state, version);
    json!({
        "self": format!("{base}/attachment/{}", attachment.id),
        "id": attachment.id.to_string(),
        "filename": attachment.filename,
        "author": user_ref_json(state, Some(&attachment.author), version),
        "created": jira_timestamp(attachment.created_ms),
        "size": attachment.size,
        "mimeType": attachment.mime_type,
        "content": format!("{base}/attachment/content/{}", attachment.id),
    })
}

pub fn change_items_json(entry: &ChangelogEntry) -> Value {
    Value::Array(
        entry
            .items
            .iter()
            .map(|item| {
                json!({
                    "field": item.field,
                    "fieldtype": item.fieldtype,
                    "fieldId": item.field_id,
                    "from": item.from,
                    "fromString": item.from_string,
                    "to": item.to,
                    "toString": item.to_string,
                })
            })
            .collect(),
    )
}

pub fn changelog_entry_json(
    state: &JiraState,
    entry: &ChangelogEntry,
    version: ApiVersion,
) -> Value {
    json!({
        "id": entry.id.to_string(),
        "author": user_ref_json(state, Some(&entry.author), version),
        "created": jira_timestamp(entry.created_ms),
        "items": change_items_json(entry),
    })
}

pub fn transition_json(
    state: &JiraState,
    transition: &TransitionDef,
    workflow_to: Option<&StatusDef>,
    version: ApiVersion,
) -> Value {
    json!({
        "id": transition.id,
        "name": transition.name,
        "to": workflow_to.map(|s| status_json(state, s, version)).unwrap_or(Value::Null),
        "hasScreen": false,
        "isGlobal": transition.from.is_empty(),
        "isInitial": false,
        "isAvailable": true,
        "isConditional": false,
        "isLooped": false,
    })
}

/// Every field of an issue, keyed by field id (before selection).
fn all_fields(state: &JiraState, issue: &Issue, version: ApiVersion) -> Map<String, Value> {
    let mut fields = Map::new();
    let project = state.project_by_id(&issue.project_id);
    let issue_type =
        project.and_then(|p| p.issue_types.iter().find(|t| t.id == issue.issue_type_id));
    let status = project.and_then(|p| p.workflow.status(&issue.status_id));
    let priority = issue
        .priority_id
        .as_deref()
        .and_then(|id| state.seed.priorities.iter().find(|p| p.id == id));
    let base = api_base(state, version);
    fields.insert("summary".into(), Value::String(issue.summary.clone()));
    fields.insert(
        "description".into(),
        rich_text_json(issue.description.as_ref(), version),
    );
    fields.insert(
        "environment".into(),
        rich_text_json(issue.environment.as_ref(), version),
    );
    fields.insert(
        "issuetype".into(),
        match issue_type {
            Some(t) => issue_type_json(state, t, version),
            None => json!({"id": issue.issue_type_id}),
        },
    );
    fields.insert(
        "project".into(),
        match project {
            Some(p) => project_json(state, p, version),
            None => json!({"id": issue.project_id}),
        },
    );
    fields.insert(
        "status".into(),
        match status {
            Some(s) => status_json(state, s, version),
            None => json!({"id": issue.status_id}),
        },
    );
    fields.insert(
        "priority".into(),
        priority
            .map(|p| priority_json(state, p, version))
            .unwrap_or(Value::Null),
    );
    fields.insert("labels".into(), json!(issue.labels));
    fields.insert(
        "assignee".into(),
        user_ref_json(state, issue.assignee.as_deref(), version),
    );
    fields.insert(
        "reporter".into(),
        user_ref_json(state, issue.reporter.as_deref(), version),
    );
    fields.insert(
        "creator".into(),
        user_ref_json(state, Some(&issue.creator), version),
    );
    fields.insert(
        "created".into(),
        Value::String(jira_timestamp(issue.created_ms)),
    );
    fields.insert(
        "updated".into(),
        Value::String(jira_timestamp(issue.updated_ms)),
    );
    fields.insert(
        "statuscategorychangedate".into(),
        Value::String(jira_timestamp(issue.status_category_changed_ms)),
    );
    fields.insert(
        "resolution".into(),
        match &issue.resolution {
            Some(r) => json!({"self": format!("{base}/resolution/{}", r.id), "id": r.id, "name": r.name, "description": ""}),
            None => Value::Null,
        },
    );
    fields.insert(
        "resolutiondate".into(),
        issue
            .resolution_ms
            .map(|ms| Value::String(jira_timestamp(ms)))
            .unwrap_or(Value::Null),
    );
    fields.insert(
        "duedate".into(),
        issue
            .duedate
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    let comments: Vec<Value> = issue
        .comments
        .iter()
        .map(|c| comment_json(state, issue, c, version))
        .collect();
    fields.insert(
        "comment".into(),
        json!({
            "self": format!("{base}/issue/{}/comment", issue.id),
            "comments": comments,
            "maxResults": comments.len(),
            "total": comments.len(),
            "startAt": 0,
        }),
    );
    fields.insert(
        "attachment".into(),
        Value::Array(
            issue
                .attachments
                .iter()
                .map(|a| attachment_json(state, a, version))
                .collect(),
        ),
    );
    for (id, value) in &issue.custom_fields {
        fields.insert(id.clone(), value.clone());
    }
    fields
}

/// What to add around the fields (`expand`, `properties` parameters).
#[derive(Clone, Debug, Default)]
pub struct IssueExtras {
    pub expand: BTreeSet<String>,
    pub properties: Vec<String>,
}

impl IssueExtras {
    pub fn parse(expand: Option<&str>, properties: &[String]) -> Self {
        IssueExtras {
            expand: expand
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            properties: properties
                .iter()
                .flat_map(|p| p.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

pub fn field_names() -> Value {
    json!({
        "summary": "Summary", "description": "Description", "environment": "Environment",
        "issuetype": "Issue Type", "project": "Project", "status": "Status", "priority": "Priority",
        "labels": "Labels", "assignee": "Assignee", "reporter": "Reporter", "creator": "Creator",
        "created": "Created", "updated": "Updated", "resolution": "Resolution",
        "resolutiondate": "Resolved", "duedate": "Due date", "comment": "Comment",
        "attachment": "Attachment", "statuscategorychangedate": "Status Category Changed",
    })
}

pub fn issue_json(
    state: &JiraState,
    issue: &Issue,
    version: ApiVersion,
    selection: &FieldSelection,
    extras: &IssueExtras,
) -> Value {
    let base = api_base(state, version);
    let fields: Map<String, Value> = all_fields(state, issue, version)
        .into_iter()
        .filter(|(name, _)| selection.includes(name))
        .collect();
    let mut out = Map::new();
    out.insert(
        "expand".into(),
        Value::String(
            "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
                .into(),
        ),
    );
    out.insert("id".into(), Value::String(issue.id.to_string()));
    out.insert(
        "self".into(),
        Value::String(format!("{base}/issue/{}", issue.id)),
    );
    out.insert("key".into(), Value::String(issue.key.clone()));
    out.insert("fields".into(), Value::Object(fields));
    if extras.expand.contains("changelog") {
        let histories: Vec<Value> = issue
            .changelog
            .iter()
            .rev()
            .map(|e| changelog_entry_json(state, e, version))
            .collect();
        out.insert(
            "changelog".into(),
            json!({"startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories}),
        );
    }
    if extras.expand.contains("transitions") {
        out.insert(
            "transitions".into(),
            Value::Array(state.transitions_json(issue, version)),
        );
    }
    if extras.expand.contains("names") {
        out.insert("names".into(), field_names());
    }
    if extras.expand.contains("renderedFields") {
        let rendered = |t: Option<&super::model::RichText>| {
            t.map(|t| Value::String(format!("<p>{}</p>", html_escape(&t.as_wiki()))))
                .unwrap_or(Value::Null)
        };
        out.insert(
            "renderedFields".into(),
            json!({
                "description": rendered(issue.description.as_ref()),
                "environment": rendered(issue.environment.as_ref()),
            }),
        );
    }
    if !extras.properties.is_empty() {
        let wanted: Map<String, Value> = issue
            .properties
            .iter()
            .filter(|(k, _)| extras.properties.iter().any(|p| p == *k || p == "*all"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert("properties".into(), Value::Object(wanted));
    }
    Value::Object(out)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br/>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selection_follows_jira_rules() {
        let all = FieldSelection::parse(&[], "*all");
        assert!(all.includes("comment"));
        let nav = FieldSelection::parse(&["*navigable,-labels".into()], "*all");
        assert!(!nav.includes("comment"));
        assert!(!nav.includes("labels"));
        assert!(nav.includes("summary"));
        let ids = FieldSelection::parse(&[], "id");
        assert!(!ids.includes("summary"));
        let some = FieldSelection::parse(&["summary".into(), "status".into()], "*all");
        assert!(some.includes("status") && !some.includes("labels"));
    }
}
