//! JQL search over the state: what each issue looks like to JQL, Jira's checks on values that
//! name nothing, and ordering.
//!
//! Invariant: a query naming an unknown project, status, issue type, priority, user or issue key
//! fails as a whole with Jira's messages, before any issue is evaluated.

use axum::http::StatusCode;

use super::JiraState;
use crate::jira::error::JiraError;
use crate::jira::jql::{self, EvalContext, IssueFacts, Literal, Op, Operand, Query, UserFacts};
use crate::jira::model::{Issue, RichText};

impl JiraState {
    pub(super) fn user_facts(&self, account_id: Option<&str>) -> Option<UserFacts> {
        let id = account_id?;
        Some(match self.user(id) {
            Some(u) => UserFacts {
                account_id: u.account_id.clone(),
                name: u.name.clone(),
                email: u.email.clone(),
                display_name: u.display_name.clone(),
            },
            None => UserFacts {
                account_id: id.to_string(),
                ..Default::default()
            },
        })
    }

    pub fn facts(&self, issue: &Issue) -> IssueFacts {
        let project = self.project_by_id(&issue.project_id);
        let status = project.and_then(|p| p.workflow.status(&issue.status_id));
        let priority = issue
            .priority_id
            .as_deref()
            .and_then(|id| self.seed.priorities.iter().find(|p| p.id == id));
        IssueFacts {
            id: issue.id,
            key: issue.key.clone(),
            number: issue.number,
            project_id: issue.project_id.clone(),
            project_key: project.map(|p| p.key.clone()).unwrap_or_default(),
            project_name: project.map(|p| p.name.clone()).unwrap_or_default(),
            labels: issue.labels.clone(),
            status_id: issue.status_id.clone(),
            status_name: status.map(|s| s.name.clone()).unwrap_or_default(),
            status_category: status
                .map(|s| s.category.key())
                .unwrap_or("new")
                .to_string(),
            updated_ms: issue.updated_ms,
            created_ms: issue.created_ms,
            assignee: self.user_facts(issue.assignee.as_deref()),
            reporter: self.user_facts(issue.reporter.as_deref()),
            issue_type_id: issue.issue_type_id.clone(),
            issue_type_name: project
                .and_then(|p| p.issue_types.iter().find(|t| t.id == issue.issue_type_id))
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            priority_id: issue.priority_id.clone(),
            priority_name: priority.map(|p| p.name.clone()),
            summary: issue.summary.clone(),
            description_text: issue
                .description
                .as_ref()
                .map(RichText::as_wiki)
                .unwrap_or_default(),
            comments_text: issue.comments.iter().map(|c| c.body.as_wiki()).collect(),
            resolution: issue.resolution.as_ref().map(|r| r.name.clone()),
            properties: issue.properties.clone(),
            custom_fields: issue.custom_fields.clone(),
        }
    }

    /// Jira refuses values that name nothing (unknown projects, statuses, users, issue keys).
    pub(super) fn check_values(&self, query: &Query) -> Result<(), JiraError> {
        let mut messages = Vec::new();
        for clause in query.clauses() {
            if !matches!(clause.op, Op::Eq | Op::NotEq | Op::In | Op::NotIn) {
                continue;
            }
            let values: Vec<&str> = match &clause.operand {
                Operand::One(Literal::Text(t)) => vec![t.as_str()],
                Operand::List(items) => items
                    .iter()
                    .filter_map(|l| match l {
                        Literal::Text(t) => Some(t.as_str()),
                        Literal::Function(_) => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for value in values {
                use crate::jira::jql::Field;
                let (known, field) = match &clause.field {
                    Field::Project => (
                        self.project_by_id_or_key(value).is_some()
                            || self
                                .seed
                                .projects
                                .iter()
                                .any(|p| p.name.eq_ignore_ascii_case(value)),
                        "project",
                    ),
                    Field::Status => (
                        self.seed.projects.iter().any(|p| {
                            p.workflow
                                .statuses
                                .iter()
                                .any(|s| s.id == value || s.name.eq_ignore_ascii_case(value))
                        }),
                        "status",
                    ),
                    Field::IssueType => (
                        self.seed.projects.iter().any(|p| {
                            p.issue_types
                                .iter()
                                .any(|t| t.id == value || t.name.eq_ignore_ascii_case(value))
                        }),
                        "issuetype",
                    ),
                    Field::Priority => (
                        self.seed
                            .priorities
                            .iter()
                            .any(|p| p.id == value || p.name.eq_ignore_ascii_case(value)),
                        "priority",
                    ),
                    Field::Assignee | Field::Reporter => (
                        self.seed.users.iter().any(|u| {
                            u.account_id == value
                                || u.name.eq_ignore_ascii_case(value)
                                || u.email.eq_ignore_ascii_case(value)
                                || u.display_name.eq_ignore_ascii_case(value)
                        }),
                        if clause.field == Field::Assignee {
                            "assignee"
                        } else {
                            "reporter"
                        },
                    ),
                    Field::Key => {
                        if self.find_issue_id(value).is_none() {
                            messages.push(format!(
                                "An issue with key '{value}' does not exist for field 'key'."
                            ));
                        }
                        continue;
                    }
                    _ => continue,
                };
                if !known {
                    messages.push(format!(
                        "The value '{value}' does not exist for the field '{field}'."
                    ));
                }
            }
        }
        if messages.is_empty() {
            Ok(())
        } else {
            let mut error = JiraError::new(StatusCode::BAD_REQUEST);
            error.messages = messages;
            Err(error)
        }
    }

    /// Runs a parsed query: ids of matching issues in result order.
    pub fn search(&self, query: &Query, ctx: &EvalContext) -> Result<Vec<u64>, JiraError> {
        self.check_values(query)?;
        let mut matched = Vec::new();
        for issue in self.issues.values() {
            let facts = self.facts(issue);
            let keep = match &query.filter {
                None => true,
                Some(expr) => {
                    jql::eval(expr, &facts, ctx).map_err(|e| JiraError::bad_request(e.0))?
                }
            };
            if keep {
                matched.push(facts);
            }
        }
        jql::sort(&mut matched, &query.order_by);
        Ok(matched.into_iter().map(|f| f.id).collect())
    }

    pub fn current_user_facts(&self, account_id: &str) -> Option<UserFacts> {
        self.user_facts(Some(account_id))
    }
}
