//! Validation of an incoming finding document, with errors that name the offending path.
//!
//! Why: findings arrive from scanners, exports and people; a bad one must be refused with an
//! error a person can act on ("severity: must be one of critical, high, …; got \"urgent\""), and
//! a good one must be stored exactly as it came.
//!
//! What is checked: the core attributes casebridge reads (identity, type, severity, status,
//! title, resource, timestamps), the types of the other core attributes, that every known
//! namespace is an object, and the workflow parts casebridge acts on (`workflow.mute`,
//! `workflow.triage.assignee`). Everything else inside a namespace is kept as it comes: the
//! schema's own examples disagree with its enums there (see findings-schema.md §8).
//!
//! Invariants: a document that passes becomes a [`Finding`] whose typed fields agree with it;
//! `workflow.integrations` and `workflow.automations` are removed (computed by casebridge, never
//! taken from clients); every error carries the full path from the document root.

use std::fmt;

use serde_json::{Map, Value};

use super::{ApiOverrides, Finding, FindingType, MuteReason, Severity, Status};

/// Longest accepted finding id.
pub const MAX_ID_LEN: usize = 512;

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A problem at a path of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// From the document root; empty means the document itself.
    pub path: Vec<PathSegment>,
    pub detail: String,
}

impl FieldError {
    pub fn new(path: Vec<PathSegment>, detail: impl Into<String>) -> Self {
        FieldError {
            path,
            detail: detail.into(),
        }
    }

    /// The same error seen from a parent: `prefix` is put in front of the path.
    pub fn under(mut self, prefix: &[PathSegment]) -> Self {
        let mut path = prefix.to_vec();
        path.append(&mut self.path);
        self.path = path;
        self
    }

    /// `data[3].attributes.attributes.severity`.
    pub fn dotted_path(&self) -> String {
        dotted(&self.path)
    }

    /// JSON Pointer (RFC 6901): `/data/3/attributes/attributes/severity`.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            out.push('/');
            match segment {
                PathSegment::Key(key) => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
                PathSegment::Index(index) => out.push_str(&index.to_string()),
            }
        }
        out
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.detail)
        } else {
            write!(f, "{}: {}", self.dotted_path(), self.detail)
        }
    }
}

/// Renders a path as `a.b[2].c`.
pub fn dotted(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            PathSegment::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// Builds a path of keys.
pub fn keys(parts: &[&str]) -> Vec<PathSegment> {
    parts
        .iter()
        .map(|p| PathSegment::Key((*p).to_string()))
        .collect()
}

/// All errors on one line.
pub fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The JSON type of a value, for error messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Namespaces that must be objects when present.
const OBJECT_NAMESPACES: [&str; 24] = [
    "advisory",
    "api_endpoint",
    "cloud_resource",
    "code_location",
    "compliance",
    "container_image",
    "detection_tool",
    "git",
    "host",
    "iac_resource",
    "k8s",
    "metadata",
    "package",
    "remediation",
    "risk",
    "risk_details",
    "rule",
    "runtime_context",
    "secret",
    "sensitive_data",
    "service",
    "severity_details",
    "source_finding_raw_data",
    "vulnerability",
];

/// Core attributes holding milliseconds since the epoch (required ones are checked separately).
const OPTIONAL_TIMESTAMPS: [&str; 1] = ["last_detected_at"];

/// Core attributes holding non-negative integers.
const OPTIONAL_COUNTS: [&str; 3] = [
    "exposure_time_seconds",
    "time_to_acknowledge",
    "time_to_resolution",
];

struct Checker<'a> {
    doc: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Checker<'a> {
    fn error(&mut self, path: &[&str], detail: impl Into<String>) {
        self.errors.push(FieldError::new(keys(path), detail));
    }

    /// The value at a path of keys, treating `null` as absent.
    fn at(&self, path: &[&str]) -> Option<&'a Value> {
        let (first, rest) = path.split_first()?;
        let mut value = self.doc.get(*first)?;
        for key in rest {
            value = value.as_object()?.get(*key)?;
        }
        (!value.is_null()).then_some(value)
    }

    fn required_string(&mut self, path: &[&str]) -> Option<&'a str> {
        match self.at(path) {
            None => {
                self.error(path, "is required");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.error(path, "must not be empty");
                None
            }
            Some(Value::String(s)) => self.text(path, s),
            Some(other) => {
                self.error(path, format!("must be a string, got {}", json_type(other)));
                None
            }
        }
    }

    /// Strings may hold any character except NUL (PostgreSQL cannot store it in a text column).
    fn text(&mut self, path: &[&str], s: &'a str) -> Option<&'a str> {
        if s.contains('\0') {
            self.error(path, "must not contain NUL characters (\\u0000)");
            None
        } else {
            Some(s)
        }
    }

    fn optional_string(&mut self, path: &[&str]) -> Option<&'a str> {
        match self.at(path)? {
            Value::String(s) => self.text(path, s),
            other => {
                self.error(path, format!("must be a string, got {}", json_type(other)));
                None
            }
        }
    }

    fn optional_bool(&mut self, path: &[&str]) -> Option<bool> {
        match self.at(path)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.error(
                    path,
                    format!(
                        "must be a boolean (true or false), got {}",
                        json_type(other)
                    ),
                );
                None
            }
        }
    }

    fn timestamp(&mut self, path: &[&str], required: bool) -> Option<i64> {
        let Some(value) = self.at(path) else {
            if required {
                self.error(path, "is required (milliseconds since the Unix epoch)");
            }
            return None;
        };
        match value.as_i64() {
            Some(ms) if ms >= 0 => Some(ms),
            _ => {
                self.error(
                    path,
                    format!(
                        "must be a non-negative integer (milliseconds since the Unix epoch), got {}",
                        describe(value)
                    ),
                );
                None
            }
        }
    }

    fn count(&mut self, path: &[&str]) {
        if let Some(value) = self.at(path) {
            if value.as_u64().is_none() {
                self.error(
                    path,
                    format!("must be a non-negative integer, got {}", describe(value)),
                );
            }
        }
    }

    fn enumerated<T>(
        &mut self,
        path: &[&str],
        required: bool,
        parse: fn(&str) -> Option<T>,
        allowed: fn() -> String,
    ) -> Option<T> {
        let text = if required {
            self.required_string(path)?
        } else {
            self.optional_string(path)?
        };
        let parsed = parse(text);
        if parsed.is_none() {
            self.error(path, format!("must be one of {}; got {text:?}", allowed()));
        }
        parsed
    }

    fn object(&mut self, path: &[&str]) -> Option<&'a Map<String, Value>> {
        match self.at(path)? {
            Value::Object(map) => Some(map),
            other => {
                self.error(path, format!("must be an object, got {}", json_type(other)));
                None
            }
        }
    }

    fn string_array(&mut self, path: &[&str]) {
        match self.at(path) {
            None => {}
            Some(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        let mut at = keys(path);
                        at.push(PathSegment::Index(index));
                        self.errors.push(FieldError::new(
                            at,
                            format!("must be a string, got {}", json_type(item)),
                        ));
                    }
                }
            }
            Some(other) => self.error(
                path,
                format!("must be an array of strings, got {}", json_type(other)),
            ),
        }
    }

    fn actor(&mut self, path: &[&str]) {
        if self.object(path).is_none() {
            return;
        }
        let mut id = path.to_vec();
        id.push("id");
        let mut name = path.to_vec();
        name.push("name");
        self.optional_string(&id);
        self.optional_string(&name);
    }
}

/// A value for an error message: its JSON text when short, else its type.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 40 {
        text
    } else {
        json_type(value).to_string()
    }
}

/// Validates a finding document with id `id` and its tags (a JSON array of strings).
/// Tags are passed separately: the API keeps them beside the document, not inside it.
pub fn finding_from_document(
    id: &str,
    document: Value,
    tags: Value,
) -> Result<Finding, Vec<FieldError>> {
    let Value::Object(mut doc) = document else {
        return Err(vec![FieldError::new(
            Vec::new(),
            format!(
                "the finding must be an object, got {}",
                json_type(&document)
            ),
        )]);
    };
    let mut errors = Vec::new();
    if id.trim().is_empty() {
        errors.push(FieldError::new(keys(&["finding_id"]), "must not be empty"));
    } else if id.len() > MAX_ID_LEN {
        errors.push(FieldError::new(
            keys(&["finding_id"]),
            format!("is longer than {MAX_ID_LEN} bytes"),
        ));
    } else if id.chars().any(char::is_control) {
        errors.push(FieldError::new(
            keys(&["finding_id"]),
            "must not contain control characters",
        ));
    }
    match doc.get("finding_id") {
        None | Some(Value::Null) => {
            doc.insert("finding_id".into(), Value::String(id.to_string()));
        }
        Some(Value::String(given)) if given == id => {}
        Some(Value::String(given)) => errors.push(FieldError::new(
            keys(&["finding_id"]),
            format!("{given:?} differs from the finding's id {id:?}"),
        )),
        Some(other) => errors.push(FieldError::new(
            keys(&["finding_id"]),
            format!("must be a string, got {}", json_type(other)),
        )),
    }
    // Computed by casebridge; never taken from clients.
    if let Some(Value::Object(workflow)) = doc.get_mut("workflow") {
        for key in super::COMPUTED_WORKFLOW_KEYS {
            workflow.remove(key);
        }
    }
    let tags = check_tags(tags, &mut errors);

    let mut check = Checker {
        doc: &doc,
        errors: Vec::new(),
    };
    let finding_type = check.enumerated(
        &["finding_type"],
        true,
        FindingType::parse,
        FindingType::allowed,
    );
    let severity = check.enumerated(&["severity"], true, Severity::parse, Severity::allowed);
    check.enumerated(
        &["base_severity"],
        false,
        Severity::parse,
        Severity::allowed,
    );
    let status = check.enumerated(&["status"], true, Status::parse, Status::allowed);
    let title = check.required_string(&["title"]).map(str::to_string);
    check.optional_string(&["description"]);
    let resource_id = check.optional_string(&["resource_id"]).map(str::to_string);
    check.optional_string(&["resource_name"]);
    check.optional_string(&["resource_type"]);
    let first_seen_at = check.timestamp(&["first_seen_at"], true);
    let last_seen_at = check.timestamp(&["last_seen_at"], true);
    let detection_changed_at = check.timestamp(&["detection_changed_at"], true);
    if let (Some(first), Some(last)) = (first_seen_at, last_seen_at) {
        if last < first {
            check.error(
                &["last_seen_at"],
                format!("{last} is before first_seen_at {first}"),
            );
        }
    }
    for key in OPTIONAL_TIMESTAMPS {
        check.timestamp(&[key], false);
    }
    for key in OPTIONAL_COUNTS {
        check.count(&[key]);
    }
    check.string_array(&["origin"]);
    check.string_array(&["related_services"]);
    check.optional_bool(&["is_in_security_inbox"]);
    for namespace in OBJECT_NAMESPACES {
        check.object(&[namespace]);
    }
    if let Some(value) = check.at(&["additional_resources"]) {
        if !value.is_array() {
            check.error(
                &["additional_resources"],
                format!("must be an array of objects, got {}", json_type(value)),
            );
        }
    }
    let is_muted = check_workflow(&mut check);
    errors.append(&mut check.errors);

    // A scanner-side `muted` status is a mute over an open detection.
    let mut source_status = status;
    if status == Some(Status::Muted) {
        if is_muted == Some(false) {
            errors.push(FieldError::new(
                keys(&["status"]),
                "is \"muted\" but workflow.mute.is_muted is false",
            ));
        }
        source_status = Some(Status::Open);
    }

    match (
        finding_type,
        severity,
        source_status,
        title,
        first_seen_at,
        last_seen_at,
        detection_changed_at,
    ) {
        (
            Some(finding_type),
            Some(severity),
            Some(source_status),
            Some(title),
            Some(first),
            Some(last),
            Some(changed),
        ) if errors.is_empty() => {
            if status == Some(Status::Muted) && is_muted.is_none() {
                let workflow = doc
                    .entry("workflow")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(workflow) = workflow.as_object_mut() {
                    let mute = workflow
                        .entry("mute")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Some(mute) = mute.as_object_mut() {
                        mute.insert("is_muted".into(), Value::Bool(true));
                    }
                }
            }
            let mut finding = Finding {
                id: id.to_string(),
                finding_type,
                severity,
                status: source_status,
                source_status,
                title,
                resource_id,
                first_seen_at: first,
                last_seen_at: last,
                detection_changed_at: changed,
                tags,
                document: doc,
                overrides: ApiOverrides::default(),
            };
            finding.refresh_status();
            Ok(finding)
        }
        _ => Err(errors),
    }
}

fn check_tags(tags: Value, errors: &mut Vec<FieldError>) -> Vec<String> {
    match tags {
        Value::Null => Vec::new(),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(tag) if !tag.trim().is_empty() => out.push(tag),
                    Value::String(_) => errors.push(FieldError::new(
                        vec![PathSegment::Key("tags".into()), PathSegment::Index(index)],
                        "must not be empty",
                    )),
                    other => errors.push(FieldError::new(
                        vec![PathSegment::Key("tags".into()), PathSegment::Index(index)],
                        format!(
                            "must be a string (\"key:value\"), got {}",
                            json_type(&other)
                        ),
                    )),
                }
            }
            out
        }
        other => {
            errors.push(FieldError::new(
                keys(&["tags"]),
                format!(
                    "must be an array of \"key:value\" strings, got {}",
                    json_type(&other)
                ),
            ));
            Vec::new()
        }
    }
}

/// Checks `workflow.mute` and `workflow.triage`; returns `workflow.mute.is_muted` if given.
fn check_workflow(check: &mut Checker<'_>) -> Option<bool> {
    check.object(&["workflow"])?;
    let mut is_muted = None;
    if check.object(&["workflow", "mute"]).is_some() {
        is_muted = check.optional_bool(&["workflow", "mute", "is_muted"]);
        if check.at(&["workflow", "mute", "is_muted"]).is_none() {
            check.error(&["workflow", "mute", "is_muted"], "is required in a mute");
        }
        // The schema's own example carries "Resource deleted" on an inactive mute; an active
        // mute must give a reason casebridge understands.
        if is_muted == Some(true) {
            check.enumerated(
                &["workflow", "mute", "reason"],
                false,
                MuteReason::parse,
                MuteReason::allowed,
            );
        } else {
            check.optional_string(&["workflow", "mute", "reason"]);
        }
        check.optional_string(&["workflow", "mute", "description"]);
        check.timestamp(&["workflow", "mute", "expire_at"], false);
        check.timestamp(&["workflow", "mute", "muted_at"], false);
        check.actor(&["workflow", "mute", "muted_by"]);
        check.optional_bool(&["workflow", "mute", "is_muted_by_rule"]);
        check.optional_string(&["workflow", "mute", "rule_id"]);
        check.optional_string(&["workflow", "mute", "rule_name"]);
    }
    if check.object(&["workflow", "triage"]).is_some()
        && check.object(&["workflow", "triage", "assignee"]).is_some()
    {
        check.required_string(&["workflow", "triage", "assignee", "id"]);
        check.optional_string(&["workflow", "triage", "assignee", "name"]);
        check.timestamp(&["workflow", "triage", "assignee", "updated_at"], false);
        check.actor(&["workflow", "triage", "assignee", "updated_by"]);
    }
    for part in ["due_date", "severity_override"] {
        check.object(&["workflow", part]);
    }
    check.timestamp(&["workflow", "auto_closed_at"], false);
    is_muted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "finding_type": "library_vulnerability", "severity": "critical", "status": "open",
            "title": "Log4Shell", "first_seen_at": 1, "last_seen_at": 2, "detection_changed_at": 2,
            "package": {"name": "log4j"}
        })
    }

    fn errors_of(document: Value) -> Vec<String> {
        finding_from_document("f1", document, json!(["env:prod"]))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_complete_finding_is_accepted_with_its_id_filled_in() {
        let f = finding_from_document("f1", doc(), json!(["env:prod"])).unwrap();
        assert_eq!(f.document()["finding_id"], "f1");
        assert_eq!(f.tags(), ["env:prod"]);
        assert_eq!(f.finding_type(), FindingType::LibraryVulnerability);
    }

    #[test]
    fn a_wrong_enum_value_names_the_path_and_the_allowed_values() {
        let mut d = doc();
        d["severity"] = json!("urgent");
        let errors = errors_of(d);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("severity: must be one of critical, high, medium, low, info, none, unknown; got \"urgent\""),
            "{errors:?}"
        );
    }

    #[test]
    fn every_missing_required_field_is_named() {
        let errors = errors_of(json!({"finding_type": "secret"}));
        for field in [
            "severity",
            "status",
            "title",
            "first_seen_at",
            "last_seen_at",
            "detection_changed_at",
        ] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("{field}: is required"))),
                "{field} not named in {errors:?}"
            );
        }
    }

    #[test]
    fn nested_type_errors_carry_the_full_path() {
        let mut d = doc();
        d["workflow"] = json!({"mute": {"is_muted": "yes"}, "triage": {"assignee": {"id": 7}}});
        d["origin"] = json!(["ci", 3]);
        let errors = errors_of(d);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("workflow.mute.is_muted: must be a boolean")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("workflow.triage.assignee.id: must be a string")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("origin[1]: must be a string")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_namespace_must_be_an_object() {
        let mut d = doc();
        d["rule"] = json!("def-000");
        assert_eq!(errors_of(d), vec!["rule: must be an object, got a string"]);
    }

    #[test]
    fn timestamps_must_be_integer_milliseconds() {
        let mut d = doc();
        d["first_seen_at"] = json!("2026-01-01");
        d["last_seen_at"] = json!(1.5);
        let errors = errors_of(d);
        assert!(
            errors[0].starts_with("first_seen_at: must be a non-negative integer"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("last_seen_at: must be a non-negative integer"),
            "{errors:?}"
        );
    }

    #[test]
    fn last_seen_before_first_seen_is_refused() {
        let mut d = doc();
        d["first_seen_at"] = json!(10);
        assert_eq!(
            errors_of(d),
            vec!["last_seen_at: 2 is before first_seen_at 10"]
        );
    }

    #[test]
    fn computed_workflow_parts_are_stripped() {
        let mut d = doc();
        d["workflow"] = json!({
            "integrations": {"cases": [{"key": "SEC-1"}]},
            "automations": [{"rule_id": "r"}],
            "due_date": {"due_at": 5}
        });
        let f = finding_from_document("f1", d, json!([])).unwrap();
        assert_eq!(f.document()["workflow"], json!({"due_date": {"due_at": 5}}));
    }

    #[test]
    fn a_mismatched_finding_id_is_refused() {
        let mut d = doc();
        d["finding_id"] = json!("other");
        assert_eq!(
            errors_of(d),
            vec!["finding_id: \"other\" differs from the finding's id \"f1\""]
        );
    }

    #[test]
    fn an_active_mute_needs_a_known_reason_but_an_inactive_record_is_kept_as_is() {
        let mut d = doc();
        d["workflow"] = json!({"mute": {"is_muted": false, "reason": "Resource deleted"}});
        assert!(finding_from_document("f1", d.clone(), json!([])).is_ok());
        d["workflow"]["mute"]["is_muted"] = json!(true);
        let errors = errors_of(d);
        assert!(
            errors[0].starts_with("workflow.mute.reason: must be one of none,"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_muted_status_implies_a_mute_over_an_open_detection() {
        let mut d = doc();
        d["status"] = json!("muted");
        let f = finding_from_document("f1", d.clone(), json!([])).unwrap();
        assert_eq!(f.status(), Status::Muted);
        assert_eq!(f.source_status(), Status::Open);
        assert_eq!(f.document()["workflow"]["mute"]["is_muted"], true);
        d["workflow"] = json!({"mute": {"is_muted": false}});
        assert_eq!(
            errors_of(d),
            vec!["status: is \"muted\" but workflow.mute.is_muted is false"]
        );
    }

    #[test]
    fn a_mute_on_an_open_finding_makes_it_muted() {
        let mut d = doc();
        d["workflow"] = json!({"mute": {"is_muted": true, "reason": "no_fix"}});
        let f = finding_from_document("f1", d, json!([])).unwrap();
        assert_eq!(f.status(), Status::Muted);
        assert_eq!(f.document()["status"], "muted");
    }

    #[test]
    fn bad_tags_are_named_by_index() {
        let errors: Vec<String> = finding_from_document("f1", doc(), json!(["ok:1", 5, ""]))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec![
                "tags[1]: must be a string (\"key:value\"), got an integer",
                "tags[2]: must not be empty"
            ]
        );
    }

    #[test]
    fn nul_characters_are_refused_in_checked_strings() {
        let mut d = doc();
        d["title"] = json!("bad\u{0}title");
        d["resource_id"] = json!("r\u{0}");
        assert_eq!(
            errors_of(d),
            vec![
                "title: must not contain NUL characters (\\u0000)",
                "resource_id: must not contain NUL characters (\\u0000)"
            ]
        );
    }

    #[test]
    fn pointers_escape_slashes_and_tildes() {
        let e = FieldError::new(
            vec![PathSegment::Key("a/b~c".into()), PathSegment::Index(2)],
            "x",
        );
        assert_eq!(e.pointer(), "/a~1b~0c/2");
        assert_eq!(e.dotted_path(), "a/b~c[2]");
    }
}
