//! Webhook events in Atlassian's payload shapes, queued in the state's outbox.
//!
//! Invariant: events are rendered at the moment of the change (so the payload shows the issue as
//! it was right after it), in the configured webhook representation (v2 by default).

use serde_json::{json, Value};

use super::JiraState;
use crate::common::outbound::OutboundEvent;
use crate::jira::model::{ChangeItem, ChangelogEntry, Issue};
use crate::jira::render::{self, FieldSelection};

/// What an issue webhook is about (besides who and which issue).
pub(super) struct IssueEvent<'a> {
    /// `jira:issue_created`, `jira:issue_updated`, `jira:issue_deleted`.
    pub(super) name: &'a str,
    /// `issue_event_type_name`, e.g. `issue_generic`, `issue_assigned`, `issue_commented`.
    pub(super) type_name: &'a str,
    pub(super) changelog: Option<&'a ChangelogEntry>,
    pub(super) comment: Option<Value>,
}

impl JiraState {
    pub(super) fn webhook_issue(&self, issue: &Issue) -> Value {
        render::issue_json(
            self,
            issue,
            self.webhook_format,
            &FieldSelection::all(),
            &Default::default(),
        )
    }

    pub(super) fn webhook_user(&self, actor: &str) -> Value {
        render::user_ref_json(self, Some(actor), self.webhook_format)
    }

    pub(super) fn emit_issue_event(
        &mut self,
        event: IssueEvent<'_>,
        actor: &str,
        issue: &Issue,
        now: i64,
    ) {
        let IssueEvent {
            name: webhook_event,
            type_name,
            changelog,
            comment,
        } = event;
        let mut body = json!({
            "timestamp": now,
            "webhookEvent": webhook_event,
            "issue_event_type_name": type_name,
            "user": self.webhook_user(actor),
            "issue": self.webhook_issue(issue),
        });
        if let Some(map) = body.as_object_mut() {
            if let Some(entry) = changelog {
                map.insert(
                    "changelog".into(),
                    json!({"id": entry.id.to_string(), "items": render::change_items_json(entry)}),
                );
            }
            if let Some(comment) = comment {
                map.insert("comment".into(), comment);
            }
        }
        self.outbox.push(OutboundEvent {
            event: webhook_event.to_string(),
            body,
            secondary: false,
        });
    }

    pub(super) fn emit_comment_event(
        &mut self,
        event: &str,
        issue: &Issue,
        comment: Value,
        now: i64,
        secondary: bool,
    ) {
        let body = json!({
            "timestamp": now,
            "webhookEvent": event,
            "comment": comment,
            "issue": self.webhook_issue(issue),
        });
        self.outbox.push(OutboundEvent {
            event: event.to_string(),
            body,
            secondary,
        });
    }

    pub(super) fn record_changelog(
        &mut self,
        issue_id: u64,
        actor: &str,
        items: Vec<ChangeItem>,
        now: i64,
    ) -> Option<ChangelogEntry> {
        if items.is_empty() {
            return None;
        }
        self.next_changelog_id += 1;
        let entry = ChangelogEntry {
            id: self.next_changelog_id,
            author: actor.to_string(),
            created_ms: now,
            items,
        };
        let issue = self.issues.get_mut(&issue_id)?;
        issue.changelog.push(entry.clone());
        issue.updated_ms = issue.updated_ms.max(now);
        Some(entry)
    }
}
