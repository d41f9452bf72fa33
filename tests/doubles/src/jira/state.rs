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

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::adf;
use super::error::{JiraError, NOT_ADF, NOT_A_STRING};
use super::jql::{self, EvalContext, IssueFacts, Literal, Op, Operand, Query, UserFacts};
use super::model::{
    ApiVersion, AppliedTransition, Attachment, ChangeItem, ChangelogEntry, Comment, Issue,
    IssueTypeDef, JiraSeed, ProjectDef, Resolution, RichText, StatusCategory, UserDef, Workflow,
};
use super::render::{self, FieldSelection};
use crate::common::outbound::OutboundEvent;

const CANNOT_SET: &str = "cannot be set. It is not on the appropriate screen, or unknown.";

/// A parsed, validated change to one field.
#[derive(Debug, Clone)]
enum FieldChange {
    Summary(String),
    Description(Option<RichText>),
    Environment(Option<RichText>),
    Priority(Option<String>),
    Labels(Vec<String>),
    Assignee(Option<String>),
    Reporter(Option<String>),
    DueDate(Option<String>),
    IssueType(String),
    Resolution(Option<Resolution>),
    Custom(String, Value),
}

/// Field changes plus comments requested through `update.comment[].add` (body, visibility).
type ParsedChanges = (Vec<FieldChange>, Vec<(RichText, Option<Value>)>);

/// Result of a successful create.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: u64,
    pub key: String,
    /// Outcome of the optional `transition` in the create body.
    pub transition: Option<Result<(), JiraError>>,
}

/// What an issue webhook is about (besides who and which issue).
struct IssueEvent<'a> {
    /// `jira:issue_created`, `jira:issue_updated`, `jira:issue_deleted`.
    name: &'a str,
    /// `issue_event_type_name`, e.g. `issue_generic`, `issue_assigned`, `issue_commented`.
    type_name: &'a str,
    changelog: Option<&'a ChangelogEntry>,
    comment: Option<Value>,
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

fn field_error(field: &str, message: impl Into<String>) -> JiraError {
    JiraError::field(field, message)
}

fn cannot_set(field: &str) -> String {
    format!("Field '{field}' {CANNOT_SET}")
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

    // ---- field parsing ---------------------------------------------------------------------

    fn parse_rich_text(
        value: &Value,
        version: ApiVersion,
        field: &str,
    ) -> Result<Option<RichText>, (String, String)> {
        match (value, version) {
            (Value::Null, _) => Ok(None),
            (Value::String(s), ApiVersion::V2) => Ok(Some(RichText::Wiki(s.clone()))),
            (_, ApiVersion::V2) => Err((
                NOT_A_STRING.to_string(),
                format!("{field} must be a wiki-markup string on v2"),
            )),
            (doc, ApiVersion::V3) => match adf::validate_document(doc) {
                Ok(()) => Ok(Some(RichText::Adf(doc.clone()))),
                Err(e) => Err((NOT_ADF.to_string(), format!("{field}: invalid ADF at {e}"))),
            },
        }
    }

    fn parse_user_ref(&self, value: &Value, version: ApiVersion) -> Result<Option<String>, String> {
        if value.is_null() {
            return Ok(None);
        }
        let Some(obj) = value.as_object() else {
            return Err("Operation value must be an object".into());
        };
        match version {
            ApiVersion::V3 => {
                let id = obj.get("accountId").or_else(|| obj.get("id"));
                match id {
                    Some(Value::Null) => Ok(None),
                    Some(Value::String(id)) => match self.user(id) {
                        Some(u) if u.active => Ok(Some(u.account_id.clone())),
                        Some(_) => Err(format!("User '{id}' cannot be assigned issues.")),
                        None => Err(format!("User '{id}' does not exist.")),
                    },
                    _ => Err("Specify the user by accountId".into()),
                }
            }
            ApiVersion::V2 => {
                let name = obj.get("name").or_else(|| obj.get("key"));
                match name {
                    Some(Value::Null) => Ok(None),
                    Some(Value::String(name)) => match self.user_by_name(name) {
                        Some(u) if u.active => Ok(Some(u.account_id.clone())),
                        Some(_) => Err(format!("User '{name}' cannot be assigned issues.")),
                        None => Err(format!("User '{name}' does not exist.")),
                    },
                    _ => Err("Specify the user by name".into()),
                }
            }
        }
    }

    fn parse_field(
        &self,
        project: &ProjectDef,
        name: &str,
        value: &Value,
        version: ApiVersion,
        details: &mut Vec<String>,
    ) -> Result<FieldChange, String> {
        match name {
            "summary" => match value {
                Value::String(s) if s.trim().is_empty() => {
                    Err("You must specify a summary of the issue.".into())
                }
                Value::String(s) if s.chars().count() > 255 => {
                    Err("Summary must be less than 255 characters.".into())
                }
                Value::String(s) => Ok(FieldChange::Summary(s.clone())),
                Value::Null => Err("You must specify a summary of the issue.".into()),
                _ => Err(NOT_A_STRING.into()),
            },
            "description" | "environment" => {
                let parsed =
                    Self::parse_rich_text(value, version, name).map_err(|(message, detail)| {
                        details.push(detail);
                        message
                    })?;
                Ok(if name == "description" {
                    FieldChange::Description(parsed)
                } else {
                    FieldChange::Environment(parsed)
                })
            }
            "priority" => {
                if value.is_null() {
                    return Ok(FieldChange::Priority(None));
                }
                let id = value.get("id").and_then(Value::as_str);
                let pname = value.get("name").and_then(Value::as_str);
                self.seed
                    .priorities
                    .iter()
                    .find(|p| {
                        Some(p.id.as_str()) == id
                            || pname.is_some_and(|n| n.eq_ignore_ascii_case(&p.name))
                    })
                    .map(|p| FieldChange::Priority(Some(p.id.clone())))
                    .ok_or_else(|| "The priority selected is invalid.".to_string())
            }
            "labels" => {
                let Some(items) = value.as_array() else {
                    return Err("Operation value must be an array of strings".into());
                };
                let mut labels = Vec::new();
                for item in items {
                    let Some(label) = item.as_str() else {
                        return Err("Operation value must be an array of strings".into());
                    };
                    if label.contains(char::is_whitespace) {
                        return Err(format!(
                            "The label '{label}' contains spaces which is invalid."
                        ));
                    }
                    if label.chars().count() > 255 {
                        return Err("The label must not exceed 255 characters.".into());
                    }
                    if !labels.iter().any(|l| l == label) {
                        labels.push(label.to_string());
                    }
                }
                Ok(FieldChange::Labels(labels))
            }
            "assignee" => self
                .parse_user_ref(value, version)
                .map(FieldChange::Assignee),
            "reporter" => self
                .parse_user_ref(value, version)
                .map(FieldChange::Reporter)
                .map_err(|_| "The reporter specified is not a user.".to_string()),
            "duedate" => match value {
                Value::Null => Ok(FieldChange::DueDate(None)),
                Value::String(s) if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
                    Ok(FieldChange::DueDate(Some(s.clone())))
                }
                Value::String(s) => Err(format!("Error parsing date string: {s}")),
                _ => Err(NOT_A_STRING.into()),
            },
            "issuetype" => {
                let id = value.get("id").and_then(Value::as_str);
                let tname = value.get("name").and_then(Value::as_str);
                if id.is_none() && tname.is_none() {
                    return Err("Specify an issue type".into());
                }
                project
                    .issue_types
                    .iter()
                    .find(|t| {
                        Some(t.id.as_str()) == id
                            || tname.is_some_and(|n| n.eq_ignore_ascii_case(&t.name))
                    })
                    .map(|t| FieldChange::IssueType(t.id.clone()))
                    .ok_or_else(|| "The issue type selected is invalid.".to_string())
            }
            "resolution" => {
                if value.is_null() {
                    return Ok(FieldChange::Resolution(None));
                }
                let rname = value.get("name").and_then(Value::as_str).unwrap_or("");
                let rid = value.get("id").and_then(Value::as_str).unwrap_or("");
                let known = [
                    ("10000", "Done"),
                    ("10001", "Won't Do"),
                    ("10002", "Duplicate"),
                    ("10003", "Cannot Reproduce"),
                ];
                known
                    .iter()
                    .find(|(id, n)| *id == rid || n.eq_ignore_ascii_case(rname))
                    .map(|(id, n)| {
                        FieldChange::Resolution(Some(Resolution {
                            id: (*id).into(),
                            name: (*n).into(),
                        }))
                    })
                    .ok_or_else(|| "The resolution selected is invalid.".to_string())
            }
            custom if custom.starts_with("customfield_") => {
                Ok(FieldChange::Custom(custom.to_string(), value.clone()))
            }
            other => Err(cannot_set(other)),
        }
    }

    /// Parses `fields` and `update` into changes, plus comments requested through
    /// `update.comment[].add`. Collects every field error, like Jira.
    fn parse_changes(
        &self,
        project: &ProjectDef,
        fields: Option<&Map<String, Value>>,
        update: Option<&Map<String, Value>>,
        version: ApiVersion,
        current_labels: &[String],
        skip: &[&str],
    ) -> Result<ParsedChanges, JiraError> {
        let mut errors = BTreeMap::new();
        let mut details = Vec::new();
        let mut changes = Vec::new();
        let mut comments = Vec::new();
        if let Some(fields) = fields {
            for (name, value) in fields {
                if skip.contains(&name.as_str()) {
                    continue;
                }
                if update.is_some_and(|u| u.contains_key(name)) {
                    errors.insert(
                        name.clone(),
                        format!("Field '{name}' cannot be set in both 'fields' and 'update'."),
                    );
                    continue;
                }
                match self.parse_field(project, name, value, version, &mut details) {
                    Ok(change) => changes.push(change),
                    Err(message) => {
                        errors.insert(name.clone(), message);
                    }
                }
            }
        }
        if let Some(update) = update {
            let mut labels = current_labels.to_vec();
            let mut labels_touched = false;
            for (name, ops) in update {
                let Some(ops) = ops.as_array() else {
                    errors.insert(name.clone(), "Operations must be an array".into());
                    continue;
                };
                for op in ops {
                    let Some((verb, value)) = op.as_object().and_then(|o| o.iter().next()) else {
                        errors.insert(
                            name.clone(),
                            "Each operation must be an object like {\"set\": …}".into(),
                        );
                        continue;
                    };
                    match (name.as_str(), verb.as_str()) {
                        ("comment", "add") => {
                            let body = value.get("body").cloned().unwrap_or(Value::Null);
                            match Self::parse_comment_body(&body, version) {
                                Ok(text) => comments.push((text, value.get("visibility").cloned())),
                                Err(e) => {
                                    errors.extend(e.errors);
                                    if let Some(d) = e.detail {
                                        details.push(d);
                                    }
                                }
                            }
                        }
                        ("labels", "add") | ("labels", "remove") | ("labels", "set") => {
                            labels_touched = true;
                            let result = match (verb.as_str(), value) {
                                ("add", Value::String(l)) if !l.contains(char::is_whitespace) => {
                                    if !labels.contains(l) {
                                        labels.push(l.clone());
                                    }
                                    Ok(())
                                }
                                ("remove", Value::String(l)) => {
                                    labels.retain(|x| x != l);
                                    Ok(())
                                }
                                ("set", v) => match self.parse_field(
                                    project,
                                    "labels",
                                    v,
                                    version,
                                    &mut details,
                                ) {
                                    Ok(FieldChange::Labels(new)) => {
                                        labels = new;
                                        Ok(())
                                    }
                                    Ok(_) => Ok(()),
                                    Err(m) => Err(m),
                                },
                                (_, Value::String(l)) => Err(format!(
                                    "The label '{l}' contains spaces which is invalid."
                                )),
                                _ => Err("Operation value must be a string".to_string()),
                            };
                            if let Err(m) = result {
                                errors.insert("labels".into(), m);
                            }
                        }
                        (field, "set") => {
                            match self.parse_field(project, field, value, version, &mut details) {
                                Ok(change) => changes.push(change),
                                Err(m) => {
                                    errors.insert(field.to_string(), m);
                                }
                            }
                        }
                        (field, verb) => {
                            errors.insert(
                                field.to_string(),
                                format!("Field '{field}' does not support operation '{verb}'"),
                            );
                        }
                    }
                }
            }
            if labels_touched {
                changes.push(FieldChange::Labels(labels));
            }
        }
        if errors.is_empty() {
            Ok((changes, comments))
        } else {
            let mut error = JiraError::from_fields(errors);
            if !details.is_empty() {
                error = error.with_detail(details.join("; "));
            }
            Err(error)
        }
    }

    /// Validates a comment body for the API version (ADF on v3, string on v2).
    pub fn parse_comment_body(body: &Value, version: ApiVersion) -> Result<RichText, JiraError> {
        match body {
            Value::Null => Err(field_error("comment", "Comment body can not be empty!")),
            Value::String(s) if version == ApiVersion::V2 => {
                if s.trim().is_empty() {
                    Err(field_error("comment", "Comment body can not be empty!"))
                } else {
                    Ok(RichText::Wiki(s.clone()))
                }
            }
            _ if version == ApiVersion::V2 => Err(field_error("comment", NOT_A_STRING)
                .with_detail("v2 comment bodies are wiki-markup strings")),
            doc => match adf::validate_document(doc) {
                Ok(()) => Ok(RichText::Adf(doc.clone())),
                Err(e) => Err(field_error("comment", NOT_ADF)
                    .with_detail(format!("comment body: invalid ADF at {e}"))),
            },
        }
    }

    /// Applies changes to an issue, returning the changelog items for what really changed.
    fn apply_changes(&self, issue: &mut Issue, changes: Vec<FieldChange>) -> Vec<ChangeItem> {
        let mut items = Vec::new();
        let item = |field: &str,
                    fieldtype: &str,
                    from: Option<String>,
                    from_string: Option<String>,
                    to: Option<String>,
                    to_string: Option<String>| ChangeItem {
            field: field.to_string(),
            fieldtype: fieldtype.to_string(),
            field_id: field.to_string(),
            from,
            from_string,
            to,
            to_string,
        };
        for change in changes {
            match change {
                FieldChange::Summary(s) => {
                    if issue.summary != s {
                        items.push(item(
                            "summary",
                            "jira",
                            None,
                            Some(issue.summary.clone()),
                            None,
                            Some(s.clone()),
                        ));
                        issue.summary = s;
                    }
                }
                FieldChange::Description(d) => {
                    if issue.description != d {
                        items.push(item(
                            "description",
                            "jira",
                            None,
                            issue.description.as_ref().map(RichText::as_wiki),
                            None,
                            d.as_ref().map(RichText::as_wiki),
                        ));
                        issue.description = d;
                    }
                }
                FieldChange::Environment(d) => {
                    if issue.environment != d {
                        items.push(item(
                            "environment",
                            "jira",
                            None,
                            issue.environment.as_ref().map(RichText::as_wiki),
                            None,
                            d.as_ref().map(RichText::as_wiki),
                        ));
                        issue.environment = d;
                    }
                }
                FieldChange::Priority(p) => {
                    if issue.priority_id != p {
                        let name = |id: &Option<String>| {
                            id.as_deref()
                                .and_then(|id| self.seed.priorities.iter().find(|x| x.id == id))
                                .map(|x| x.name.clone())
                        };
                        items.push(item(
                            "priority",
                            "jira",
                            issue.priority_id.clone(),
                            name(&issue.priority_id),
                            p.clone(),
                            name(&p),
                        ));
                        issue.priority_id = p;
                    }
                }
                FieldChange::Labels(l) => {
                    if issue.labels != l {
                        items.push(item(
                            "labels",
                            "jira",
                            None,
                            Some(issue.labels.join(" ")),
                            None,
                            Some(l.join(" ")),
                        ));
                        issue.labels = l;
                    }
                }
                FieldChange::Assignee(a) => {
                    if issue.assignee != a {
                        items.push(item(
                            "assignee",
                            "jira",
                            issue.assignee.clone(),
                            self.display_of(issue.assignee.as_deref()),
                            a.clone(),
                            self.display_of(a.as_deref()),
                        ));
                        issue.assignee = a;
                    }
                }
                FieldChange::Reporter(r) => {
                    if issue.reporter != r {
                        items.push(item(
                            "reporter",
                            "jira",
                            issue.reporter.clone(),
                            self.display_of(issue.reporter.as_deref()),
                            r.clone(),
                            self.display_of(r.as_deref()),
                        ));
                        issue.reporter = r;
                    }
                }
                FieldChange::DueDate(d) => {
                    if issue.duedate != d {
                        items.push(item(
                            "duedate",
                            "jira",
                            issue.duedate.clone(),
                            issue.duedate.clone(),
                            d.clone(),
                            d.clone(),
                        ));
                        issue.duedate = d;
                    }
                }
                FieldChange::IssueType(t) => {
                    if issue.issue_type_id != t {
                        let name = |id: &str| {
                            self.project_by_id(&issue.project_id)
                                .and_then(|p| p.issue_types.iter().find(|x| x.id == id))
                                .map(|x| x.name.clone())
                        };
                        items.push(item(
                            "issuetype",
                            "jira",
                            Some(issue.issue_type_id.clone()),
                            name(&issue.issue_type_id),
                            Some(t.clone()),
                            name(&t),
                        ));
                        issue.issue_type_id = t;
                    }
                }
                FieldChange::Resolution(r) => {
                    if issue.resolution != r {
                        items.push(item(
                            "resolution",
                            "jira",
                            issue.resolution.as_ref().map(|x| x.id.clone()),
                            issue.resolution.as_ref().map(|x| x.name.clone()),
                            r.as_ref().map(|x| x.id.clone()),
                            r.as_ref().map(|x| x.name.clone()),
                        ));
                        issue.resolution = r;
                    }
                }
                FieldChange::Custom(id, value) => {
                    let old = issue.custom_fields.get(&id).cloned().unwrap_or(Value::Null);
                    if old != value {
                        let text = |v: &Value| match v {
                            Value::Null => None,
                            Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        };
                        let mut change = item(&id, "custom", None, text(&old), None, text(&value));
                        change.field_id = id.clone();
                        items.push(change);
                        if value.is_null() {
                            issue.custom_fields.remove(&id);
                        } else {
                            issue.custom_fields.insert(id, value);
                        }
                    }
                }
            }
        }
        items
    }

    // ---- webhook events --------------------------------------------------------------------

    fn webhook_issue(&self, issue: &Issue) -> Value {
        render::issue_json(
            self,
            issue,
            self.webhook_format,
            &FieldSelection::all(),
            &Default::default(),
        )
    }

    fn webhook_user(&self, actor: &str) -> Value {
        render::user_ref_json(self, Some(actor), self.webhook_format)
    }

    fn emit_issue_event(&mut self, event: IssueEvent<'_>, actor: &str, issue: &Issue, now: i64) {
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

    fn emit_comment_event(
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

    fn record_changelog(
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

    // ---- search ----------------------------------------------------------------------------

    fn user_facts(&self, account_id: Option<&str>) -> Option<UserFacts> {
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
    fn check_values(&self, query: &Query) -> Result<(), JiraError> {
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
                use super::jql::Field;
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
