//! The Jira double's state and every operation that changes it.
//!
//! Both APIs (v2/DC and v3/Cloud), the control API and the Rust handle call into this one type,
//! so an issue written through one is read the same way through the others. Each change records
//! changelog items and queues webhook events (rendered as Atlassian sends them) in an outbox the
//! caller hands to the delivery queue after releasing the lock.
//!
//! Invariants: an issue's status always belongs to its project's workflow and only changes
//! through an available transition; every field change that Jira would log produces a changelog
//! entry and a `jira:issue_updated` event; `updated` moves forward on every change; validation
//! happens before any mutation, so a refused request changes nothing.

mod events;
mod fields;
mod parts;
mod search;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::JiraError;
use super::model::{
    ApiVersion, AppliedTransition, ChangeItem, ChangelogEntry, Issue, IssueTypeDef, JiraSeed,
    ProjectDef, Resolution, StatusCategory, UserDef, Workflow,
};
use super::render;
use crate::common::outbound::OutboundEvent;
use events::IssueEvent;
use fields::{cannot_set, field_error, FieldChange};

/// Result of a successful create.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: u64,
    pub key: String,
    /// Outcome of the optional `transition` in the create body.
    pub transition: Option<Result<(), JiraError>>,
}

/// A file to attach.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: String,
    pub mime_type: String,
    pub data: Vec<u8>,
}

pub struct JiraState {
    pub seed: JiraSeed,
    pub base_url: String,
    pub webhook_format: ApiVersion,
    pub attachment_max_bytes: usize,
    pub issues: BTreeMap<u64, Issue>,
    next_issue_id: u64,
    next_comment_id: u64,
    next_changelog_id: u64,
    next_attachment_id: u64,
    project_counters: BTreeMap<String, u64>,
    outbox: Vec<OutboundEvent>,
}

impl JiraState {
    pub fn new(
        seed: JiraSeed,
        base_url: String,
        webhook_format: ApiVersion,
        attachment_max_bytes: usize,
    ) -> Self {
        JiraState {
            seed,
            base_url,
            webhook_format,
            attachment_max_bytes,
            issues: BTreeMap::new(),
            next_issue_id: 10000,
            next_comment_id: 10000,
            next_changelog_id: 10000,
            next_attachment_id: 10000,
            project_counters: BTreeMap::new(),
            outbox: Vec::new(),
        }
    }

    /// Events queued since the last call.
    pub fn take_outbox(&mut self) -> Vec<OutboundEvent> {
        std::mem::take(&mut self.outbox)
    }

    // ---- lookups -------------------------------------------------------------------------

    pub fn user(&self, account_id: &str) -> Option<&UserDef> {
        self.seed.users.iter().find(|u| u.account_id == account_id)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&UserDef> {
        self.seed
            .users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// Data Center lookup by username or user key.
    pub fn user_by_name(&self, name: &str) -> Option<&UserDef> {
        self.seed
            .users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name) || u.key == name)
    }

    pub fn project_by_id(&self, id: &str) -> Option<&ProjectDef> {
        self.seed.projects.iter().find(|p| p.id == id)
    }

    pub fn project_by_id_or_key(&self, id_or_key: &str) -> Option<&ProjectDef> {
        self.seed
            .projects
            .iter()
            .find(|p| p.id == id_or_key || p.key.eq_ignore_ascii_case(id_or_key))
    }

    fn project_mut(&mut self, id_or_key: &str) -> Option<&mut ProjectDef> {
        self.seed
            .projects
            .iter_mut()
            .find(|p| p.id == id_or_key || p.key.eq_ignore_ascii_case(id_or_key))
    }

    /// Resolves an issue id or key (case-insensitive) to its id.
    pub fn find_issue_id(&self, id_or_key: &str) -> Option<u64> {
        if let Ok(id) = id_or_key.parse::<u64>() {
            return self.issues.contains_key(&id).then_some(id);
        }
        self.issues
            .values()
            .find(|i| i.key.eq_ignore_ascii_case(id_or_key))
            .map(|i| i.id)
    }

    pub fn issue(&self, id_or_key: &str) -> Result<&Issue, JiraError> {
        self.find_issue_id(id_or_key)
            .and_then(|id| self.issues.get(&id))
            .ok_or_else(JiraError::issue_not_found)
    }

    fn workflow_of(&self, issue: &Issue) -> Option<&Workflow> {
        self.project_by_id(&issue.project_id).map(|p| &p.workflow)
    }

    pub fn transitions_json(&self, issue: &Issue, version: ApiVersion) -> Vec<Value> {
        let Some(workflow) = self.workflow_of(issue) else {
            return Vec::new();
        };
        workflow
            .available_from(&issue.status_id)
            .into_iter()
            .map(|t| render::transition_json(self, t, workflow.status(&t.to), version))
            .collect()
    }

    fn display_of(&self, account_id: Option<&str>) -> Option<String> {
        account_id.map(|id| {
            self.user(id)
                .map(|u| u.display_name.clone())
                .unwrap_or_else(|| id.to_string())
        })
    }

    // ---- operations ------------------------------------------------------------------------

    /// `POST /issue`: validates the whole body first, then creates the issue.
    pub fn create_issue(
        &mut self,
        actor: &str,
        body: &Value,
        version: ApiVersion,
        now: i64,
    ) -> Result<Created, JiraError> {
        let obj = body.as_object().ok_or_else(|| {
            JiraError::bad_request(
                "Can not deserialize instance of IssueUpdateBean out of non-object token",
            )
        })?;
        let fields =
            match obj.get("fields") {
                None => None,
                Some(Value::Object(map)) => Some(map),
                Some(_) => return Err(JiraError::bad_request(
                    "Can not deserialize instance of java.util.HashMap out of START_ARRAY token",
                )),
            };
        let update = match obj.get("update") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(JiraError::bad_request("'update' must be an object")),
        };
        let empty = Map::new();
        let fields_ref = fields.unwrap_or(&empty);
        let mut errors = BTreeMap::new();
        let project = match fields_ref.get("project") {
            Some(p) => {
                let id = p.get("id").and_then(Value::as_str);
                let key = p.get("key").and_then(Value::as_str);
                id.or(key)
                    .and_then(|v| self.project_by_id_or_key(v))
                    .cloned()
            }
            None => None,
        };
        let Some(project) = project else {
            errors.insert(
                "project".to_string(),
                "Specify a valid project ID or key".to_string(),
            );
            if !fields_ref.contains_key("summary") {
                errors.insert(
                    "summary".into(),
                    "You must specify a summary of the issue.".into(),
                );
            }
            return Err(JiraError::from_fields(errors));
        };
        let issue_type: Option<IssueTypeDef> = match fields_ref.get("issuetype") {
            None => {
                errors.insert("issuetype".into(), "Specify an issue type".into());
                None
            }
            Some(v) => {
                let id = v.get("id").and_then(Value::as_str);
                let name = v.get("name").and_then(Value::as_str);
                let found = project
                    .issue_types
                    .iter()
                    .find(|t| {
                        Some(t.id.as_str()) == id
                            || name.is_some_and(|n| n.eq_ignore_ascii_case(&t.name))
                    })
                    .cloned();
                if found.is_none() {
                    errors.insert(
                        "issuetype".into(),
                        if id.is_none() && name.is_none() {
                            "Specify an issue type".into()
                        } else {
                            "The issue type selected is invalid.".into()
                        },
                    );
                }
                found
            }
        };
        let has_summary =
            fields_ref.contains_key("summary") || update.is_some_and(|u| u.contains_key("summary"));
        if !has_summary {
            errors.insert(
                "summary".into(),
                "You must specify a summary of the issue.".into(),
            );
        }
        let parsed = self.parse_changes(
            &project,
            Some(fields_ref),
            update,
            version,
            &[],
            &["project", "issuetype"],
        );
        let (changes, comments) = match parsed {
            Ok(ok) => ok,
            Err(mut e) => {
                for (k, v) in errors {
                    e.errors.entry(k).or_insert(v);
                }
                return Err(e);
            }
        };
        if !errors.is_empty() {
            return Err(JiraError::from_fields(errors));
        }
        let Some(issue_type) = issue_type else {
            return Err(field_error("issuetype", "Specify an issue type"));
        };
        let properties = match obj.get("properties") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match (item.get("key").and_then(Value::as_str), item.get("value")) {
                        (Some(k), Some(v)) if !k.is_empty() && k.len() <= 255 => {
                            out.push((k.to_string(), v.clone()))
                        }
                        _ => return Err(JiraError::bad_request(
                            "Each issue property needs a 'key' (1-255 characters) and a 'value'.",
                        )),
                    }
                }
                out
            }
            Some(_) => return Err(JiraError::bad_request("'properties' must be an array")),
        };

        let counter = self.project_counters.entry(project.id.clone()).or_insert(0);
        *counter += 1;
        let number = *counter;
        self.next_issue_id += 1;
        let id = self.next_issue_id;
        let mut issue = Issue {
            id,
            key: format!("{}-{}", project.key, number),
            number,
            project_id: project.id.clone(),
            issue_type_id: issue_type.id.clone(),
            status_id: project.workflow.initial_status.clone(),
            summary: String::new(),
            description: None,
            environment: None,
            priority_id: self
                .seed
                .priorities
                .get(2)
                .or(self.seed.priorities.first())
                .map(|p| p.id.clone()),
            labels: Vec::new(),
            assignee: project.default_assignee.clone(),
            reporter: Some(actor.to_string()),
            creator: actor.to_string(),
            duedate: None,
            resolution: None,
            resolution_ms: None,
            status_category_changed_ms: now,
            created_ms: now,
            updated_ms: now,
            custom_fields: BTreeMap::new(),
            comments: Vec::new(),
            changelog: Vec::new(),
            properties: properties.into_iter().collect(),
            attachments: Vec::new(),
            transitions_applied: Vec::new(),
        };
        self.apply_changes(&mut issue, changes);
        let key = issue.key.clone();
        self.issues.insert(id, issue.clone());
        self.emit_issue_event(
            IssueEvent {
                name: "jira:issue_created",
                type_name: "issue_created",
                changelog: None,
                comment: None,
            },
            actor,
            &issue,
            now,
        );
        for (body, visibility) in comments {
            self.add_comment(actor, &key, body, visibility, now)?;
        }
        let transition = obj.get("transition").filter(|t| !t.is_null()).map(|t| {
            let tid = t
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            self.transition(actor, &key, &tid, now)
        });
        Ok(Created {
            id,
            key,
            transition,
        })
    }

    /// `PUT /issue/{k}`.
    pub fn edit_issue(
        &mut self,
        actor: &str,
        id_or_key: &str,
        body: &Value,
        version: ApiVersion,
        now: i64,
    ) -> Result<(), JiraError> {
        let issue = self.issue(id_or_key)?.clone();
        let obj = body.as_object().ok_or_else(|| {
            JiraError::bad_request(
                "Can not deserialize instance of IssueUpdateBean out of non-object token",
            )
        })?;
        let fields =
            match obj.get("fields") {
                None | Some(Value::Null) => None,
                Some(Value::Object(m)) => Some(m),
                Some(_) => return Err(JiraError::bad_request(
                    "Can not deserialize instance of java.util.HashMap out of START_ARRAY token",
                )),
            };
        let update = match obj.get("update") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(JiraError::bad_request("'update' must be an object")),
        };
        let mut errors = BTreeMap::new();
        for name in [
            "project",
            "status",
            "creator",
            "created",
            "updated",
            "resolutiondate",
            "comment",
            "attachment",
        ] {
            if fields.is_some_and(|f| f.contains_key(name)) {
                errors.insert(name.to_string(), cannot_set(name));
            }
        }
        if !errors.is_empty() {
            return Err(JiraError::from_fields(errors));
        }
        let project = self
            .project_by_id(&issue.project_id)
            .cloned()
            .ok_or_else(|| {
                JiraError::message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "The issue's project no longer exists.",
                )
            })?;
        let (changes, comments) =
            self.parse_changes(&project, fields, update, version, &issue.labels, &[])?;
        self.apply_and_emit(actor, issue.id, changes, now);
        for (body, visibility) in comments {
            self.add_comment(actor, &issue.key, body, visibility, now)?;
        }
        Ok(())
    }

    fn apply_and_emit(
        &mut self,
        actor: &str,
        issue_id: u64,
        changes: Vec<FieldChange>,
        now: i64,
    ) -> Option<ChangelogEntry> {
        let mut issue = self.issues.get(&issue_id)?.clone();
        let items = self.apply_changes(&mut issue, changes);
        if items.is_empty() {
            return None;
        }
        let only_assignee = items.iter().all(|i| i.field == "assignee");
        self.issues.insert(issue_id, issue);
        let entry = self.record_changelog(issue_id, actor, items, now)?;
        let snapshot = self.issues.get(&issue_id)?.clone();
        let type_name = if only_assignee {
            "issue_assigned"
        } else {
            "issue_updated"
        };
        self.emit_issue_event(
            IssueEvent {
                name: "jira:issue_updated",
                type_name,
                changelog: Some(&entry),
                comment: None,
            },
            actor,
            &snapshot,
            now,
        );
        Some(entry)
    }

    /// `POST /issue/{k}/transitions` body handling.
    pub fn do_transition(
        &mut self,
        actor: &str,
        id_or_key: &str,
        body: &Value,
        version: ApiVersion,
        now: i64,
    ) -> Result<(), JiraError> {
        let issue = self.issue(id_or_key)?.clone();
        let Some(obj) = body.as_object() else {
            return Err(JiraError::bad_request(
                "Can not deserialize instance of IssueUpdateBean out of non-object token",
            ));
        };
        let transition_id = match obj.get("transition") {
            Some(t) => match t.get("id") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(JiraError::bad_request("Missing 'transition' identifier")),
            },
            None => return Err(JiraError::bad_request("Missing 'transition' identifier")),
        };
        let workflow = self.workflow_of(&issue).cloned().ok_or_else(|| {
            JiraError::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The issue's workflow no longer exists.",
            )
        })?;
        if !workflow
            .available_from(&issue.status_id)
            .iter()
            .any(|t| t.id == transition_id)
        {
            return Err(JiraError::bad_request(format!(
                "Transition id '{transition_id}' is not valid for this issue."
            )));
        }
        let project = self
            .project_by_id(&issue.project_id)
            .cloned()
            .ok_or_else(|| {
                JiraError::message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "The issue's project no longer exists.",
                )
            })?;
        let fields = obj.get("fields").and_then(Value::as_object);
        let update = obj.get("update").and_then(Value::as_object);
        let (changes, comments) =
            self.parse_changes(&project, fields, update, version, &issue.labels, &[])?;
        self.transition_with(actor, issue.id, &transition_id, changes, now)?;
        for (body, visibility) in comments {
            self.add_comment(actor, &issue.key, body, visibility, now)?;
        }
        Ok(())
    }

    /// Performs a transition by id or (case-insensitive) name, as a human would in the UI.
    pub fn transition(
        &mut self,
        actor: &str,
        id_or_key: &str,
        transition: &str,
        now: i64,
    ) -> Result<(), JiraError> {
        let issue = self.issue(id_or_key)?.clone();
        let workflow = self.workflow_of(&issue).cloned().ok_or_else(|| {
            JiraError::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The issue's workflow no longer exists.",
            )
        })?;
        let available = workflow.available_from(&issue.status_id);
        let chosen = available
            .iter()
            .find(|t| t.id == transition)
            .or_else(|| {
                available
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(transition))
            })
            .or_else(|| {
                available.iter().find(|t| {
                    workflow
                        .status(&t.to)
                        .is_some_and(|s| s.name.eq_ignore_ascii_case(transition))
                })
            })
            .map(|t| t.id.clone())
            .ok_or_else(|| {
                JiraError::bad_request(format!(
                    "Transition id '{transition}' is not valid for this issue."
                ))
            })?;
        self.transition_with(actor, issue.id, &chosen, Vec::new(), now)
    }

    fn transition_with(
        &mut self,
        actor: &str,
        issue_id: u64,
        transition_id: &str,
        changes: Vec<FieldChange>,
        now: i64,
    ) -> Result<(), JiraError> {
        let mut issue = self
            .issues
            .get(&issue_id)
            .cloned()
            .ok_or_else(JiraError::issue_not_found)?;
        let workflow = self.workflow_of(&issue).cloned().ok_or_else(|| {
            JiraError::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The issue's workflow no longer exists.",
            )
        })?;
        let transition = workflow
            .transitions
            .iter()
            .find(|t| t.id == transition_id)
            .cloned()
            .ok_or_else(|| {
                JiraError::bad_request(format!(
                    "Transition id '{transition_id}' is not valid for this issue."
                ))
            })?;
        let from = workflow.status(&issue.status_id).cloned();
        let to = workflow.status(&transition.to).cloned().ok_or_else(|| {
            JiraError::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The transition's target status no longer exists.",
            )
        })?;
        let mut items = vec![ChangeItem {
            field: "status".into(),
            fieldtype: "jira".into(),
            field_id: "status".into(),
            from: Some(issue.status_id.clone()),
            from_string: from.as_ref().map(|s| s.name.clone()),
            to: Some(to.id.clone()),
            to_string: Some(to.name.clone()),
        }];
        let old_category = from.as_ref().map(|s| s.category);
        issue.status_id = to.id.clone();
        if old_category != Some(to.category) {
            issue.status_category_changed_ms = now;
        }
        let mut all_changes = changes;
        let explicit_resolution = all_changes
            .iter()
            .any(|c| matches!(c, FieldChange::Resolution(_)));
        if !explicit_resolution {
            if to.category == StatusCategory::Done && issue.resolution.is_none() {
                all_changes.push(FieldChange::Resolution(Some(Resolution {
                    id: "10000".into(),
                    name: "Done".into(),
                })));
            } else if to.category != StatusCategory::Done && issue.resolution.is_some() {
                all_changes.push(FieldChange::Resolution(None));
            }
        }
        items.extend(self.apply_changes(&mut issue, all_changes));
        issue.resolution_ms = issue
            .resolution
            .as_ref()
            .map(|_| issue.resolution_ms.unwrap_or(now));
        issue.transitions_applied.push(AppliedTransition {
            transition_id: transition.id.clone(),
            name: transition.name.clone(),
            from_status: from.map(|s| s.name).unwrap_or_default(),
            to_status: to.name.clone(),
            by: actor.to_string(),
            at_ms: now,
        });
        self.issues.insert(issue_id, issue);
        let entry = self
            .record_changelog(issue_id, actor, items, now)
            .ok_or_else(JiraError::issue_not_found)?;
        let snapshot = self
            .issues
            .get(&issue_id)
            .cloned()
            .ok_or_else(JiraError::issue_not_found)?;
        self.emit_issue_event(
            IssueEvent {
                name: "jira:issue_updated",
                type_name: "issue_generic",
                changelog: Some(&entry),
                comment: None,
            },
            actor,
            &snapshot,
            now,
        );
        Ok(())
    }

    /// Edits fields as a human (v3 semantics for rich text and users).
    pub fn edit_fields(
        &mut self,
        actor: &str,
        id_or_key: &str,
        fields: &Value,
        now: i64,
    ) -> Result<(), JiraError> {
        self.edit_issue(
            actor,
            id_or_key,
            &json!({"fields": fields}),
            ApiVersion::V3,
            now,
        )
    }

    pub fn delete_issue(
        &mut self,
        actor: &str,
        id_or_key: &str,
        now: i64,
    ) -> Result<(), JiraError> {
        let issue_id = self.issue(id_or_key)?.id;
        let issue = self
            .issues
            .remove(&issue_id)
            .ok_or_else(JiraError::issue_not_found)?;
        self.emit_issue_event(
            IssueEvent {
                name: "jira:issue_deleted",
                type_name: "issue_deleted",
                changelog: None,
                comment: None,
            },
            actor,
            &issue,
            now,
        );
        for comment in &issue.comments {
            let comment_json = render::comment_json(self, &issue, comment, self.webhook_format);
            self.emit_comment_event("comment_deleted", &issue, comment_json, now, true);
        }
        Ok(())
    }

    // ---- configuration changes (control API) ------------------------------------------------

    /// Deletes a project: later creates in it fail with Jira's "valid project" error.
    pub fn delete_project(&mut self, id_or_key: &str) -> bool {
        let before = self.seed.projects.len();
        self.seed
            .projects
            .retain(|p| !(p.id == id_or_key || p.key.eq_ignore_ascii_case(id_or_key)));
        before != self.seed.projects.len()
    }

    pub fn delete_issue_type(&mut self, project: &str, issue_type: &str) -> bool {
        match self.project_mut(project) {
            Some(p) => {
                let before = p.issue_types.len();
                p.issue_types
                    .retain(|t| !(t.id == issue_type || t.name.eq_ignore_ascii_case(issue_type)));
                before != p.issue_types.len()
            }
            None => false,
        }
    }

    pub fn set_workflow(&mut self, project: &str, workflow: Workflow) -> Result<(), String> {
        workflow.check().map_err(|e| e.to_string())?;
        let p = self
            .project_mut(project)
            .ok_or_else(|| format!("no project {project}"))?;
        p.workflow = workflow;
        Ok(())
    }

    pub fn add_project(&mut self, project: ProjectDef) -> Result<(), String> {
        project.workflow.check().map_err(|e| e.to_string())?;
        if self
            .seed
            .projects
            .iter()
            .any(|p| p.id == project.id || p.key.eq_ignore_ascii_case(&project.key))
        {
            return Err(format!("project {} already exists", project.key));
        }
        self.seed.projects.push(project);
        Ok(())
    }

    pub fn add_user(&mut self, user: UserDef) -> Result<(), String> {
        if self
            .seed
            .users
            .iter()
            .any(|u| u.account_id == user.account_id)
        {
            return Err(format!("user {} already exists", user.account_id));
        }
        self.seed.users.push(user);
        Ok(())
    }
}
