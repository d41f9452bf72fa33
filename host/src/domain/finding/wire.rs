//! The finding on the wire: the ListSecurityFindings item shape, read (ingest) and written
//! (list and search responses), and the plain finding objects of the schema page (import).
//!
//! Why: a list response must be re-ingestable as it is, so reading and writing the item shape
//! live side by side, and the HTTP ingest and the CLI import read findings with the same code.
//!
//! Item shape (findings-schema.md §2):
//! `{"id", "type": "finding", "attributes": {"attributes": {…schema attributes…}, "tags": […],
//! "timestamp": <detection_changed_at, ms>}}`.
//!
//! Invariants: `id` equals `attributes.attributes.finding_id` (filled in when absent); tags live
//! in `attributes.tags` (accepted inside `attributes.attributes` too, when not contradicting);
//! `timestamp` is derived from `detection_changed_at` and ignored on input (only its type is
//! checked); computed `workflow.integrations` appear only in output.

use serde_json::{Map, Value};

use super::validate::{finding_from_document, json_type, keys, FieldError, PathSegment};
use super::Finding;

/// The JSON:API `type` of a finding.
pub const FINDING_TYPE: &str = "finding";

/// A finding refused on input: the id it claimed (if readable) and every problem found, with
/// paths from the item itself (callers put the item's own position in front).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedItem {
    pub id: Option<String>,
    pub errors: Vec<FieldError>,
}

fn rejected(id: Option<String>, errors: Vec<FieldError>) -> RejectedItem {
    RejectedItem { id, errors }
}

/// Reads one element of an ingest body's `data` array.
pub fn finding_from_api_item(item: Value) -> Result<Finding, RejectedItem> {
    let Value::Object(mut item) = item else {
        return Err(rejected(
            None,
            vec![FieldError::new(
                Vec::new(),
                format!("must be a finding object, got {}", json_type(&item)),
            )],
        ));
    };
    let mut errors = Vec::new();
    let declared_id = match item.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => {
            errors.push(FieldError::new(
                keys(&["id"]),
                format!("must be a string, got {}", json_type(other)),
            ));
            None
        }
    };
    match item.get("type") {
        Some(Value::String(t)) if t == FINDING_TYPE => {}
        Some(Value::String(t)) => errors.push(FieldError::new(
            keys(&["type"]),
            format!("got type {t:?} expected one of {FINDING_TYPE:?}"),
        )),
        None | Some(Value::Null) => errors.push(FieldError::new(
            keys(&["type"]),
            format!("is required (\"{FINDING_TYPE}\")"),
        )),
        Some(other) => errors.push(FieldError::new(
            keys(&["type"]),
            format!(
                "must be the string \"{FINDING_TYPE}\", got {}",
                json_type(other)
            ),
        )),
    }
    let outer = match item.remove("attributes") {
        Some(Value::Object(outer)) => Some(outer),
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                keys(&["attributes"]),
                "is required: {\"attributes\": {…schema attributes…}, \"tags\": […]}",
            ));
            None
        }
        Some(other) => {
            errors.push(FieldError::new(
                keys(&["attributes"]),
                format!("must be an object, got {}", json_type(&other)),
            ));
            None
        }
    };
    let Some(mut outer) = outer else {
        return Err(rejected(declared_id, errors));
    };
    if let Some(timestamp) = outer.get("timestamp").filter(|t| !t.is_null()) {
        if timestamp.as_i64().is_none() {
            errors.push(FieldError::new(
                keys(&["attributes", "timestamp"]),
                format!("must be an integer, got {}", json_type(timestamp)),
            ));
        }
    }
    let document = match outer.remove("attributes") {
        Some(Value::Object(doc)) => doc,
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                keys(&["attributes", "attributes"]),
                "is required (the finding's schema attributes)",
            ));
            return Err(rejected(declared_id, errors));
        }
        Some(other) => {
            errors.push(FieldError::new(
                keys(&["attributes", "attributes"]),
                format!("must be an object, got {}", json_type(&other)),
            ));
            return Err(rejected(declared_id, errors));
        }
    };
    let id = declared_id.clone().or_else(|| {
        document
            .get("finding_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(id) = id else {
        errors.push(FieldError::new(
            keys(&["id"]),
            "is required (or attributes.attributes.finding_id)",
        ));
        return Err(rejected(None, errors));
    };
    let outer_tags = outer.remove("tags");
    let (document, tags) = split_tags(
        document,
        outer_tags,
        &keys(&["attributes", "tags"]),
        &keys(&["attributes", "attributes"]),
        &mut errors,
    );
    finish(
        id,
        document,
        tags,
        &keys(&["attributes", "attributes"]),
        errors,
    )
}

/// Reads a plain finding object (root-level `finding_id`, `tags` inside), as the schema page
/// shows them.
pub fn finding_from_plain(object: Value) -> Result<Finding, RejectedItem> {
    let Value::Object(document) = object else {
        return Err(rejected(
            None,
            vec![FieldError::new(
                Vec::new(),
                format!("must be a finding object, got {}", json_type(&object)),
            )],
        ));
    };
    let mut errors = Vec::new();
    let id = match document.get("finding_id") {
        Some(Value::String(id)) => id.clone(),
        Some(other) if !other.is_null() => {
            return Err(rejected(
                None,
                vec![FieldError::new(
                    keys(&["finding_id"]),
                    format!("must be a string, got {}", json_type(other)),
                )],
            ))
        }
        _ => {
            return Err(rejected(
                None,
                vec![FieldError::new(keys(&["finding_id"]), "is required")],
            ))
        }
    };
    let (document, tags) = split_tags(document, None, &keys(&["tags"]), &[], &mut errors);
    finish(id, document, tags, &[], errors)
}

/// Takes the tags out of the document; `outer` (the API's `attributes.tags`) wins when both
/// are given and agree.
fn split_tags(
    mut document: Map<String, Value>,
    outer: Option<Value>,
    outer_path: &[PathSegment],
    document_path: &[PathSegment],
    errors: &mut Vec<FieldError>,
) -> (Map<String, Value>, Value) {
    let inner = document.remove("tags").filter(|t| !t.is_null());
    let outer = outer.filter(|t| !t.is_null());
    let tags = match (outer, inner) {
        (Some(outer), Some(inner)) if outer != inner => {
            let mut path = document_path.to_vec();
            path.push(PathSegment::Key("tags".into()));
            errors.push(FieldError::new(
                path,
                format!(
                    "differs from {}; send the tags in one place",
                    super::validate::dotted(outer_path)
                ),
            ));
            outer
        }
        (Some(tags), _) | (None, Some(tags)) => tags,
        (None, None) => Value::Array(Vec::new()),
    };
    (document, tags)
}

fn finish(
    id: String,
    document: Map<String, Value>,
    tags: Value,
    document_path: &[PathSegment],
    mut errors: Vec<FieldError>,
) -> Result<Finding, RejectedItem> {
    match finding_from_document(&id, Value::Object(document), tags) {
        Ok(finding) if errors.is_empty() => Ok(finding),
        Ok(_) => Err(rejected(Some(id), errors)),
        Err(found) => {
            // Tag errors are reported where the tags came from; the rest under the document.
            for error in found {
                let is_tags =
                    matches!(error.path.first(), Some(PathSegment::Key(k)) if k == "tags");
                let prefix: &[PathSegment] = if is_tags && !document_path.is_empty() {
                    &[PathSegment::Key("attributes".into())]
                } else {
                    document_path
                };
                errors.push(error.under(prefix));
            }
            Err(rejected(Some(id), errors))
        }
    }
}

/// The ListSecurityFindings item for `finding`, with casebridge's computed
/// `workflow.integrations` (when there are any) merged into the document.
pub fn api_item(finding: &Finding, integrations: Option<&Value>) -> Value {
    let mut document = finding.document().clone();
    if let Some(integrations) = integrations {
        let workflow = document
            .entry("workflow")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(workflow) = workflow.as_object_mut() {
            workflow.insert("integrations".into(), integrations.clone());
        }
    }
    let mut attributes = Map::new();
    attributes.insert("attributes".into(), Value::Object(document));
    attributes.insert(
        "tags".into(),
        Value::Array(finding.tags().iter().cloned().map(Value::String).collect()),
    );
    attributes.insert(
        "timestamp".into(),
        Value::from(finding.detection_changed_at()),
    );
    let mut item = Map::new();
    item.insert("id".into(), Value::String(finding.id().to_string()));
    item.insert("type".into(), Value::String(FINDING_TYPE.into()));
    item.insert("attributes".into(), Value::Object(attributes));
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "finding_type": "secret", "severity": "high", "status": "open", "title": "Key",
            "first_seen_at": 1, "last_seen_at": 2, "detection_changed_at": 2
        })
    }

    fn item() -> Value {
        json!({"id": "f1", "type": "finding",
               "attributes": {"attributes": doc(), "tags": ["env:prod"], "timestamp": 2}})
    }

    fn messages(rejected: RejectedItem) -> Vec<String> {
        rejected.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_listed_item_reads_back_to_the_same_item() {
        let finding = finding_from_api_item(item()).unwrap();
        let out = api_item(&finding, None);
        let again = finding_from_api_item(out.clone()).unwrap();
        assert_eq!(finding, again);
        assert_eq!(out["attributes"]["attributes"]["finding_id"], "f1");
        assert_eq!(out["attributes"]["tags"], json!(["env:prod"]));
        assert_eq!(out["attributes"]["timestamp"], 2);
    }

    #[test]
    fn a_wrong_type_is_named() {
        let mut bad = item();
        bad["type"] = json!("findingz");
        let rejected = finding_from_api_item(bad).unwrap_err();
        assert_eq!(rejected.id.as_deref(), Some("f1"));
        assert_eq!(
            messages(rejected),
            vec!["type: got type \"findingz\" expected one of \"finding\""]
        );
    }

    #[test]
    fn document_errors_are_reported_under_attributes_attributes() {
        let mut bad = item();
        bad["attributes"]["attributes"]["severity"] = json!(3);
        bad["attributes"]["tags"] = json!([1]);
        assert_eq!(
            messages(finding_from_api_item(bad).unwrap_err()),
            vec![
                "attributes.tags[0]: must be a string (\"key:value\"), got an integer",
                "attributes.attributes.severity: must be a string, got an integer",
            ]
        );
    }

    #[test]
    fn missing_attributes_are_named() {
        let rejected = finding_from_api_item(json!({"id": "f1", "type": "finding"})).unwrap_err();
        assert!(messages(rejected)[0].starts_with("attributes: is required"));
    }

    #[test]
    fn the_id_may_come_from_finding_id() {
        let mut it = item();
        it.as_object_mut().unwrap().remove("id");
        it["attributes"]["attributes"]["finding_id"] = json!("f9");
        assert_eq!(finding_from_api_item(it).unwrap().id(), "f9");
    }

    #[test]
    fn tags_inside_the_document_are_accepted_unless_they_contradict() {
        let mut it = item();
        it["attributes"].as_object_mut().unwrap().remove("tags");
        it["attributes"]["attributes"]["tags"] = json!(["team:a"]);
        assert_eq!(
            finding_from_api_item(it.clone()).unwrap().tags(),
            ["team:a"]
        );
        it["attributes"]["tags"] = json!(["team:b"]);
        assert_eq!(
            messages(finding_from_api_item(it).unwrap_err()),
            vec!["attributes.attributes.tags: differs from attributes.tags; send the tags in one place"]
        );
    }

    #[test]
    fn plain_schema_objects_carry_their_tags_inside() {
        let mut plain = doc();
        plain["finding_id"] = json!("p1");
        plain["tags"] = json!(["source:datadog"]);
        let f = finding_from_plain(plain).unwrap();
        assert_eq!(f.id(), "p1");
        assert_eq!(f.tags(), ["source:datadog"]);
        assert!(f.document().get("tags").is_none());
    }

    #[test]
    fn computed_integrations_are_shown_in_output_only() {
        let finding = finding_from_api_item(item()).unwrap();
        let integrations = json!({"cases": [{"key": "SEC-12"}]});
        let out = api_item(&finding, Some(&integrations));
        assert_eq!(
            out["attributes"]["attributes"]["workflow"]["integrations"]["cases"][0]["key"],
            "SEC-12"
        );
        assert!(finding.document().get("workflow").is_none());
    }
}
