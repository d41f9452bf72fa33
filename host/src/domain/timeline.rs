//! Case timelines: comments and the events every change to a case leaves behind.
//!
//! Why: a case's history (who changed what, which findings came and went, where a moved finding
//! went) must be readable from the case itself, and connectors mirror comments to tickets.
//! Invariants:
//! - every change to a case adds exactly one cell, in the same transaction as the change;
//! - cells are ordered by a per-case sequence, never by wall-clock time alone;
//! - only COMMENT cells can be edited or deleted; deletion is soft (`deleted_at`), so a deleted
//!   comment stays distinguishable from one that never existed.

use serde_json::{json, Value};

use super::case::{CasePriority, CaseStatus, CustomAttributes};

/// Cell type of a comment (the only type Datadog's public schema names).
pub const COMMENT: &str = "COMMENT";

/// A timeline cell as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineCell {
    pub id: String,
    pub case_id: String,
    pub seq: i64,
    pub cell_type: String,
    pub content: Value,
    pub author_id: Option<String>,
    pub created_at: i64,
    pub modified_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

impl TimelineCell {
    pub fn is_comment(&self) -> bool {
        self.cell_type == COMMENT
    }
}

/// What happened to a case; each variant is one cell type.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineEvent {
    Comment {
        message: String,
    },
    CaseCreated {
        title: String,
        creation_source: &'static str,
    },
    StatusChanged {
        from: CaseStatus,
        to: CaseStatus,
    },
    PriorityChanged {
        from: CasePriority,
        to: CasePriority,
    },
    Assigned {
        assignee_id: String,
        previous: Option<String>,
    },
    Unassigned {
        previous: String,
    },
    Archived,
    Unarchived,
    TitleChanged {
        from: String,
        to: String,
    },
    DescriptionChanged {
        from: String,
        to: String,
    },
    AttributesChanged {
        from: CustomAttributes,
        to: CustomAttributes,
    },
    /// Findings linked to this case; `moved_from` names the cases of the same project they left.
    FindingsAttached {
        finding_ids: Vec<String>,
        moved_from: Vec<MovedFrom>,
    },
    /// Findings unlinked from this case by a detach request.
    FindingsDetached {
        finding_ids: Vec<String>,
    },
    /// Findings that left this case for another case of the same project.
    FindingsMovedOut {
        finding_ids: Vec<String>,
        to_case_id: String,
        to_case_key: String,
    },
    /// A ticket on an external backend was linked (or its creation failed).
    TicketLinked {
        backend: &'static str,
        key: Option<String>,
        url: Option<String>,
        creation_status: &'static str,
    },
}

/// The earlier case of findings that moved into another case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedFrom {
    pub case_id: String,
    pub case_key: String,
    pub finding_ids: Vec<String>,
}

impl TimelineEvent {
    /// The stored and served `type` of the cell.
    pub fn cell_type(&self) -> &'static str {
        match self {
            TimelineEvent::Comment { .. } => COMMENT,
            TimelineEvent::CaseCreated { .. } => "CASE_CREATED",
            TimelineEvent::StatusChanged { .. } => "STATUS_CHANGED",
            TimelineEvent::PriorityChanged { .. } => "PRIORITY_CHANGED",
            TimelineEvent::Assigned { .. } => "ASSIGNED",
            TimelineEvent::Unassigned { .. } => "UNASSIGNED",
            TimelineEvent::Archived => "ARCHIVED",
            TimelineEvent::Unarchived => "UNARCHIVED",
            TimelineEvent::TitleChanged { .. } => "TITLE_CHANGED",
            TimelineEvent::DescriptionChanged { .. } => "DESCRIPTION_CHANGED",
            TimelineEvent::AttributesChanged { .. } => "ATTRIBUTES_CHANGED",
            TimelineEvent::FindingsAttached { .. } => "FINDINGS_ATTACHED",
            TimelineEvent::FindingsDetached { .. } => "FINDINGS_DETACHED",
            TimelineEvent::FindingsMovedOut { .. } => "FINDINGS_MOVED_OUT",
            TimelineEvent::TicketLinked { .. } => "TICKET_LINKED",
        }
    }

    /// The stored and served `cell_content` of the cell.
    pub fn content(&self) -> Value {
        match self {
            TimelineEvent::Comment { message } => json!({"message": message}),
            TimelineEvent::CaseCreated {
                title,
                creation_source,
            } => json!({"title": title, "creation_source": creation_source}),
            TimelineEvent::StatusChanged { from, to } => {
                json!({"from": from.as_str(), "to": to.as_str()})
            }
            TimelineEvent::PriorityChanged { from, to } => {
                json!({"from": from.as_str(), "to": to.as_str()})
            }
            TimelineEvent::Assigned {
                assignee_id,
                previous,
            } => json!({"assignee_id": assignee_id, "previous_assignee_id": previous}),
            TimelineEvent::Unassigned { previous } => json!({"previous_assignee_id": previous}),
            TimelineEvent::Archived | TimelineEvent::Unarchived => json!({}),
            TimelineEvent::TitleChanged { from, to }
            | TimelineEvent::DescriptionChanged { from, to } => json!({"from": from, "to": to}),
            TimelineEvent::AttributesChanged { from, to } => json!({"from": from, "to": to}),
            TimelineEvent::FindingsAttached {
                finding_ids,
                moved_from,
            } => json!({
                "finding_ids": finding_ids,
                "moved_from": moved_from.iter().map(|m| json!({
                    "case_id": m.case_id,
                    "case_key": m.case_key,
                    "finding_ids": m.finding_ids,
                })).collect::<Vec<_>>(),
            }),
            TimelineEvent::FindingsDetached { finding_ids } => {
                json!({"finding_ids": finding_ids})
            }
            TimelineEvent::FindingsMovedOut {
                finding_ids,
                to_case_id,
                to_case_key,
            } => json!({
                "finding_ids": finding_ids,
                "to_case_id": to_case_id,
                "to_case_key": to_case_key,
            }),
            TimelineEvent::TicketLinked {
                backend,
                key,
                url,
                creation_status,
            } => json!({
                "backend": backend,
                "key": key,
                "url": url,
                "creation_status": creation_status,
            }),
        }
    }
}

/// Why a comment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentError {
    #[error("comment must not be empty")]
    Empty,
    #[error("comment is longer than {} characters", super::case::MAX_TEXT_LEN)]
    TooLong,
}

/// Checks a comment message.
pub fn validate_comment(message: &str) -> Result<(), CommentError> {
    if message.trim().is_empty() {
        return Err(CommentError::Empty);
    }
    if message.chars().count() > super::case::MAX_TEXT_LEN {
        return Err(CommentError::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_carry_their_message() {
        let event = TimelineEvent::Comment {
            message: "Hello".into(),
        };
        assert_eq!(event.cell_type(), "COMMENT");
        assert_eq!(event.content(), json!({"message": "Hello"}));
    }

    #[test]
    fn a_move_names_the_destination_case() {
        let event = TimelineEvent::FindingsMovedOut {
            finding_ids: vec!["f1".into()],
            to_case_id: "c2".into(),
            to_case_key: "SEC-2".into(),
        };
        assert_eq!(event.content()["to_case_key"], "SEC-2");
    }

    #[test]
    fn blank_comments_are_refused() {
        assert_eq!(validate_comment(" \n"), Err(CommentError::Empty));
    }
}
