//! Things attached to an issue: comments, the assignee, entity properties and attachments.
//!
//! Invariants: every comment change raises `comment_*` plus `jira:issue_updated`; an assignment
//! that changes nothing raises nothing; attachments over the size cap are refused whole.

use axum::http::StatusCode;
use serde_json::Value;

use super::fields::{field_error, FieldChange};
use super::{JiraState, NewAttachment};
use crate::jira::error::JiraError;
use crate::jira::model::{ApiVersion, Attachment, ChangeItem, Comment, Issue, RichText};
use crate::jira::render;

use super::events::IssueEvent;

impl JiraState {
    pub fn add_comment(
        &mut self,
        actor: &str,
        id_or_key: &str,
        body: RichText,
        visibility: Option<Value>,
        now: i64,
    ) -> Result<(u64, u64), JiraError> {
        let issue_id = self.issue(id_or_key)?.id;
        self.next_comment_id += 1;
        let comment = Comment {
            id: self.next_comment_id,
            body,
            author: actor.to_string(),
            update_author: actor.to_string(),
            created_ms: now,
            updated_ms: now,
            visibility,
        };
        let issue = self
            .issues
            .get_mut(&issue_id)
            .ok_or_else(JiraError::issue_not_found)?;
        issue.comments.push(comment.clone());
        issue.updated_ms = issue.updated_ms.max(now);
        let snapshot = issue.clone();
        let comment_json = render::comment_json(self, &snapshot, &comment, self.webhook_format);
        self.emit_comment_event(
            "comment_created",
            &snapshot,
            comment_json.clone(),
            now,
            false,
        );
        self.emit_issue_event(
            IssueEvent {
                name: "jira:issue_updated",
                type_name: "issue_commented",
                changelog: None,
                comment: Some(comment_json),
            },
            actor,
            &snapshot,
            now,
        );
        Ok((issue_id, comment.id))
    }

    pub fn update_comment(
        &mut self,
        actor: &str,
        id_or_key: &str,
        comment_id: &str,
        body: RichText,
        visibility: Option<Value>,
        now: i64,
    ) -> Result<(), JiraError> {
        let issue_id = self.issue(id_or_key)?.id;
        let issue = self
            .issues
            .get_mut(&issue_id)
            .ok_or_else(JiraError::issue_not_found)?;
        let comment = issue
            .comments
            .iter_mut()
            .find(|c| c.id.to_string() == comment_id)
            .ok_or_else(|| {
                JiraError::message(
                    StatusCode::NOT_FOUND,
                    format!("Can not find a comment for the id: {comment_id}."),
                )
            })?;
        comment.body = body;
        comment.update_author = actor.to_string();
        comment.updated_ms = now;
        if visibility.is_some() {
            comment.visibility = visibility;
        }
        let comment = comment.clone();
        issue.updated_ms = issue.updated_ms.max(now);
        let snapshot = issue.clone();
        let comment_json = render::comment_json(self, &snapshot, &comment, self.webhook_format);
        self.emit_comment_event(
            "comment_updated",
            &snapshot,
            comment_json.clone(),
            now,
            false,
        );
        self.emit_issue_event(
            IssueEvent {
                name: "jira:issue_updated",
                type_name: "issue_comment_edited",
                changelog: None,
                comment: Some(comment_json),
            },
            actor,
            &snapshot,
            now,
        );
        Ok(())
    }

    pub fn delete_comment(
        &mut self,
        actor: &str,
        id_or_key: &str,
        comment_id: &str,
        now: i64,
    ) -> Result<(), JiraError> {
        let issue_id = self.issue(id_or_key)?.id;
        let issue = self
            .issues
            .get_mut(&issue_id)
            .ok_or_else(JiraError::issue_not_found)?;
        let position = issue
            .comments
            .iter()
            .position(|c| c.id.to_string() == comment_id)
            .ok_or_else(|| {
                JiraError::message(
                    StatusCode::NOT_FOUND,
                    format!("Can not find a comment for the id: {comment_id}."),
                )
            })?;
        let comment = issue.comments.remove(position);
        issue.updated_ms = issue.updated_ms.max(now);
        let snapshot = issue.clone();
        let comment_json = render::comment_json(self, &snapshot, &comment, self.webhook_format);
        self.emit_comment_event(
            "comment_deleted",
            &snapshot,
            comment_json.clone(),
            now,
            false,
        );
        self.emit_issue_event(
            IssueEvent {
                name: "jira:issue_updated",
                type_name: "issue_comment_deleted",
                changelog: None,
                comment: Some(comment_json),
            },
            actor,
            &snapshot,
            now,
        );
        Ok(())
    }

    /// Parses an assign body: v3 `{"accountId": …}`, v2 `{"name": …}` (or `key`); `null`
    /// unassigns, `"-1"` means the project's default assignee.
    pub fn parse_assignee_body(
        &self,
        issue: &Issue,
        body: &Value,
        version: ApiVersion,
    ) -> Result<Option<String>, JiraError> {
        let Some(obj) = body.as_object() else {
            return Err(JiraError::bad_request(
                "The request body must be a user object.",
            ));
        };
        let identifiers: Vec<&str> = ["accountId", "name", "key"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        if identifiers.len() > 1 {
            return Err(JiraError::bad_request(
                "Only one of 'accountId', 'name' and 'key' may be given.",
            ));
        }
        let (field, value) = match (version, identifiers.first()) {
            (ApiVersion::V3, Some(&"accountId")) => ("accountId", &obj["accountId"]),
            (ApiVersion::V2, Some(&f)) if f == "name" || f == "key" => (f, &obj[f]),
            (ApiVersion::V3, _) => {
                return Err(JiraError::bad_request(
                    "'accountId' must be specified to assign an issue.",
                ))
            }
            (ApiVersion::V2, _) => {
                return Err(JiraError::bad_request(
                    "'name' must be specified to assign an issue.",
                ))
            }
        };
        match value {
            Value::Null => Ok(None),
            Value::String(s) if s == "-1" => Ok(self
                .project_by_id(&issue.project_id)
                .and_then(|p| p.default_assignee.clone())),
            Value::String(s) => {
                let user = if field == "accountId" {
                    self.user(s)
                } else {
                    self.user_by_name(s)
                };
                match user {
                    Some(u) if u.active => Ok(Some(u.account_id.clone())),
                    Some(_) => Err(field_error(
                        "assignee",
                        format!("User '{s}' cannot be assigned issues."),
                    )),
                    None => Err(field_error(
                        "assignee",
                        format!("User '{s}' does not exist."),
                    )),
                }
            }
            _ => Err(JiraError::bad_request(format!(
                "'{field}' must be a string or null."
            ))),
        }
    }

    pub fn assign(
        &mut self,
        actor: &str,
        id_or_key: &str,
        account_id: Option<String>,
        now: i64,
    ) -> Result<(), JiraError> {
        let issue_id = self.issue(id_or_key)?.id;
        if let Some(id) = &account_id {
            if self.user(id).is_none() {
                return Err(field_error(
                    "assignee",
                    format!("User '{id}' does not exist."),
                ));
            }
        }
        self.apply_and_emit(
            actor,
            issue_id,
            vec![FieldChange::Assignee(account_id)],
            now,
        );
        Ok(())
    }

    /// Sets an entity property; returns whether it was newly created.
    pub fn set_property(
        &mut self,
        id_or_key: &str,
        key: &str,
        value: Value,
    ) -> Result<bool, JiraError> {
        if key.is_empty() || key.chars().count() > 255 {
            return Err(JiraError::bad_request(
                "The property key must be between 1 and 255 characters.",
            ));
        }
        let issue_id = self.issue(id_or_key)?.id;
        let issue = self
            .issues
            .get_mut(&issue_id)
            .ok_or_else(JiraError::issue_not_found)?;
        Ok(issue.properties.insert(key.to_string(), value).is_none())
    }

    pub fn delete_property(&mut self, id_or_key: &str, key: &str) -> Result<(), JiraError> {
        let issue_id = self.issue(id_or_key)?.id;
        let issue = self
            .issues
            .get_mut(&issue_id)
            .ok_or_else(JiraError::issue_not_found)?;
        issue.properties.remove(key).map(|_| ()).ok_or_else(|| {
            JiraError::message(
                StatusCode::NOT_FOUND,
                format!("The property with key '{key}' does not exist."),
            )
        })
    }

    pub fn add_attachments(
        &mut self,
        actor: &str,
        id_or_key: &str,
        files: Vec<NewAttachment>,
        now: i64,
    ) -> Result<Vec<u64>, JiraError> {
        let issue_id = self.issue(id_or_key)?.id;
        if files.is_empty() {
            return Err(JiraError::bad_request(
                "The request did not contain any file parts named 'file'.",
            ));
        }
        if files.len() > 60 {
            return Err(JiraError::message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "More than 60 files were uploaded in one request.",
            ));
        }
        for file in &files {
            if file.data.len() > self.attachment_max_bytes {
                return Err(JiraError::message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "The file '{}' is too large. The maximum attachment size is {} bytes.",
                        file.filename, self.attachment_max_bytes
                    ),
                ));
            }
        }
        let mut ids = Vec::new();
        let mut items = Vec::new();
        for file in files {
            self.next_attachment_id += 1;
            let id = self.next_attachment_id;
            items.push(ChangeItem {
                field: "Attachment".into(),
                fieldtype: "jira".into(),
                field_id: "attachment".into(),
                from: None,
                from_string: None,
                to: Some(id.to_string()),
                to_string: Some(file.filename.clone()),
            });
            let attachment = Attachment {
                id,
                size: file.data.len(),
                filename: file.filename,
                mime_type: file.mime_type,
                author: actor.to_string(),
                created_ms: now,
                content: file.data,
            };
            if let Some(issue) = self.issues.get_mut(&issue_id) {
                issue.attachments.push(attachment);
            }
            ids.push(id);
        }
        if let Some(entry) = self.record_changelog(issue_id, actor, items, now) {
            if let Some(snapshot) = self.issues.get(&issue_id).cloned() {
                self.emit_issue_event(
                    IssueEvent {
                        name: "jira:issue_updated",
                        type_name: "issue_updated",
                        changelog: Some(&entry),
                        comment: None,
                    },
                    actor,
                    &snapshot,
                    now,
                );
            }
        }
        Ok(ids)
    }

    pub fn attachment(&self, id: &str) -> Option<(&Issue, &Attachment)> {
        self.issues.values().find_map(|issue| {
            issue
                .attachments
                .iter()
                .find(|a| a.id.to_string() == id)
                .map(|a| (issue, a))
        })
    }
}
