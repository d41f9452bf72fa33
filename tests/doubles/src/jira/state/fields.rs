//! Turning `fields` / `update` request bodies into validated field changes, and applying them
//! with the changelog items Jira records.
//!
//! Invariants: every field error in a request is collected before anything changes (Jira reports
//! them together); v3 rich text must be valid ADF and v2 rich text must be a string; users are
//! named by `accountId` on v3 and `name`/`key` on v2; only values that really change produce
//! changelog items.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::JiraState;
use crate::jira::adf;
use crate::jira::error::{JiraError, NOT_ADF, NOT_A_STRING};
use crate::jira::model::{ApiVersion, ChangeItem, Issue, ProjectDef, Resolution, RichText};

const CANNOT_SET: &str = "cannot be set. It is not on the appropriate screen, or unknown.";

/// Field changes plus comments requested through `update.comment[].add` (body, visibility).
pub(super) type ParsedChanges = (Vec<FieldChange>, Vec<(RichText, Option<Value>)>);

/// A parsed, validated change to one field.
#[derive(Debug, Clone)]
pub(super) enum FieldChange {
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

pub(super) fn field_error(field: &str, message: impl Into<String>) -> JiraError {
    JiraError::field(field, message)
}

pub(super) fn cannot_set(field: &str) -> String {
    format!("Field '{field}' {CANNOT_SET}")
}

impl JiraState {
    pub(super) fn parse_rich_text(
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

    pub(super) fn parse_user_ref(
        &self,
        value: &Value,
        version: ApiVersion,
    ) -> Result<Option<String>, String> {
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

    pub(super) fn parse_field(
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
    pub(super) fn parse_changes(
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
    pub(super) fn apply_changes(
        &self,
        issue: &mut Issue,
        changes: Vec<FieldChange>,
    ) -> Vec<ChangeItem> {
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
}
