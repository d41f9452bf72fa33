//! Checks requests against Atlassian's official Jira Cloud platform v3 OpenAPI document.
//!
//! Given (method, path, query, headers, body) it finds the templated path (literal segments win
//! over parameters, so `/issue/bulk` is not `/issue/{issueIdOrKey}`), the operation for the
//! method, then checks: the operation is not deprecated, required query parameters are present,
//! present query/path parameters fit their schemas, undeclared query parameters are not sent, the
//! body's media type is one the operation accepts, and a JSON body validates against the
//! operation's `requestBody` schema (see [`schema`]).
//!
//! Known contradictions inside the spec are listed in [`SPEC_ERRATA`]: where an operation's own
//! description allows what its schema forbids, the description wins and the violation is dropped.
//!
//! Invariants: the spec is vendored at `tests/contracts/jira/jira-cloud-platform-v3.openapi.json`
//! (relative to the workspace) and embedded at compile time, so the validator works from any
//! working directory; validation never panics.

pub mod schema;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use schema::SchemaValidator;

/// The official spec, embedded from the vendored copy.
pub const OFFICIAL_SPEC_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contracts/jira/jira-cloud-platform-v3.openapi.json"
));

/// Path of the vendored spec on disk (for tools that want to read it themselves).
pub const OFFICIAL_SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contracts/jira/jira-cloud-platform-v3.openapi.json"
);

/// A spec contradiction: `operation_id`'s description allows `value_kind` at `json_path`.
pub struct SpecErratum {
    pub operation_id: &'static str,
    pub json_path: &'static str,
    pub allows_null: bool,
    pub reason: &'static str,
}

/// The spec's `User` schema types `accountId` as a non-nullable string, but assignIssue's own
/// description says "If `name` or `accountId` is set to `null`, the issue is set to unassigned".
pub const SPEC_ERRATA: &[SpecErratum] = &[
    SpecErratum {
        operation_id: "assignIssue",
        json_path: "$.accountId",
        allows_null: true,
        reason: "assignIssue description: null unassigns",
    },
    SpecErratum {
        operation_id: "assignIssue",
        json_path: "$.name",
        allows_null: true,
        reason: "assignIssue description: null unassigns",
    },
];

/// One way a request departs from the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractViolation {
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
    /// `path`, `method`, `operation`, `query`, `content-type` or `body`.
    pub location: String,
    /// JSON path inside the body, or the parameter name.
    pub json_path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("the OpenAPI document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the OpenAPI document has no `paths` object")]
    NoPaths,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
struct Template {
    raw: String,
    segments: Vec<Segment>,
}

/// A loaded spec, ready to validate requests.
pub struct JiraContract {
    spec: Value,
    templates: Vec<Template>,
}

fn split_path(path: &str) -> Vec<&str> {
    path.trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

impl JiraContract {
    /// Parses an OpenAPI document.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        let spec: Value = serde_json::from_str(text)?;
        let paths = spec
            .get("paths")
            .and_then(Value::as_object)
            .ok_or(ContractError::NoPaths)?;
        let templates = paths
            .keys()
            .map(|raw| Template {
                raw: raw.clone(),
                segments: split_path(raw)
                    .into_iter()
                    .map(
                        |s| match s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_string()),
                            None => Segment::Literal(s.to_string()),
                        },
                    )
                    .collect(),
            })
            .collect();
        Ok(JiraContract { spec, templates })
    }

    /// The official spec, parsed once per process.
    pub fn official() -> Result<Arc<JiraContract>, Arc<ContractError>> {
        static CACHE: OnceLock<Result<Arc<JiraContract>, Arc<ContractError>>> = OnceLock::new();
        CACHE
            .get_or_init(|| {
                JiraContract::from_json(OFFICIAL_SPEC_JSON)
                    .map(Arc::new)
                    .map_err(Arc::new)
            })
            .clone()
    }

    /// The templated path a concrete path matches, with its path parameters.
    pub fn match_path(&self, path: &str) -> Option<(String, BTreeMap<String, String>)> {
        let parts = split_path(path);
        let mut best: Option<(usize, &Template, BTreeMap<String, String>)> = None;
        for template in &self.templates {
            if template.segments.len() != parts.len() {
                continue;
            }
            let mut params = BTreeMap::new();
            let mut literals = 0;
            let mut score_key = 0usize;
            let fits =
                template.segments.iter().zip(&parts).enumerate().all(
                    |(i, (seg, part))| match seg {
                        Segment::Literal(l) => {
                            literals += 1;
                            // Earlier literal segments weigh more (left-to-right specificity).
                            score_key += 1 << (parts.len() - i).min(40);
                            l == part
                        }
                        Segment::Param(name) => {
                            params.insert(name.clone(), (*part).to_string());
                            true
                        }
                    },
                );
            let _ = literals;
            if fits && best.as_ref().is_none_or(|(s, _, _)| score_key > *s) {
                best = Some((score_key, template, params));
            }
        }
        best.map(|(_, t, p)| (t.raw.clone(), p))
    }

    fn erratum_allows(
        operation_id: Option<&str>,
        json_path: &str,
        body_value: Option<&Value>,
    ) -> bool {
        SPEC_ERRATA.iter().any(|e| {
            Some(e.operation_id) == operation_id
                && e.json_path == json_path
                && e.allows_null
                && body_value.is_some_and(Value::is_null)
        })
    }

    /// Validates a raw request. `content_type` is the request's Content-Type header.
    pub fn validate(
        &self,
        method: &str,
        path: &str,
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        let violation = |location: &str, json_path: &str, message: String, op: Option<&str>| {
            ContractViolation {
                method: method.to_ascii_uppercase(),
                path: path.to_string(),
                operation_id: op.map(str::to_string),
                location: location.to_string(),
                json_path: json_path.to_string(),
                message,
            }
        };
        let Some((template, path_params)) = self.match_path(path) else {
            out.push(violation(
                "path",
                "",
                format!("no operation in the spec matches path {path}"),
                None,
            ));
            return out;
        };
        let method_lower = method.to_ascii_lowercase();
        let Some(operation) = self.spec.pointer(&format!(
            "/paths/{}/{}",
            template.replace('~', "~0").replace('/', "~1"),
            method_lower
        )) else {
            out.push(violation(
                "method",
                "",
                format!(
                    "{} is not defined for {template}",
                    method.to_ascii_uppercase()
                ),
                None,
            ));
            return out;
        };
        let op_id = operation.get("operationId").and_then(Value::as_str);
        if operation.get("deprecated").and_then(Value::as_bool) == Some(true) {
            out.push(violation(
                "operation",
                "",
                format!("{} {template} is deprecated", method.to_ascii_uppercase()),
                op_id,
            ));
        }
        let validator = SchemaValidator::new(&self.spec);

        // Parameters.
        let declared: Vec<&Value> = operation
            .get("parameters")
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(|x| validator.resolve(x)).collect())
            .unwrap_or_default();
        let mut query_values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            query_values
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        for param in &declared {
            let name = param.get("name").and_then(Value::as_str).unwrap_or("");
            let location = param.get("in").and_then(Value::as_str).unwrap_or("");
            let required = param.get("required").and_then(Value::as_bool) == Some(true);
            let schema = param.get("schema");
            let values: Vec<String> = match location {
                "query" => query_values.get(name).cloned().unwrap_or_default(),
                "path" => path_params.get(name).cloned().into_iter().collect(),
                _ => continue,
            };
            if values.is_empty() {
                if required {
                    out.push(violation(
                        location,
                        name,
                        format!("required {location} parameter '{name}' is missing"),
                        op_id,
                    ));
                }
                continue;
            }
            if let Some(schema) = schema.and_then(|s| validator.resolve(s)) {
                let is_array = schema.get("type").and_then(Value::as_str) == Some("array");
                let item_schema = if is_array {
                    schema.get("items").unwrap_or(&Value::Null)
                } else {
                    schema
                };
                let scalars: Vec<String> = if is_array {
                    values
                        .iter()
                        .flat_map(|v| v.split(',').map(str::to_string))
                        .collect()
                } else {
                    values.clone()
                };
                if !is_array && values.len() > 1 {
                    out.push(violation(
                        location,
                        name,
                        format!(
                            "parameter '{name}' is given {} times but is not an array",
                            values.len()
                        ),
                        op_id,
                    ));
                }
                for raw in scalars {
                    let typed = coerce_parameter(&raw, item_schema);
                    for v in validator.validate(item_schema, &typed, name) {
                        out.push(violation(
                            location,
                            name,
                            format!("'{raw}': {}", v.message),
                            op_id,
                        ));
                    }
                }
            }
        }
        for name in query_values.keys() {
            let is_declared = declared.iter().any(|p| {
                p.get("in").and_then(Value::as_str) == Some("query")
                    && p.get("name").and_then(Value::as_str) == Some(name)
            });
            if !is_declared {
                out.push(violation(
                    "query",
                    name,
                    format!("query parameter '{name}' is not defined for this operation"),
                    op_id,
                ));
            }
        }

        // Body.
        let request_body = operation
            .get("requestBody")
            .and_then(|b| validator.resolve(b));
        let media = content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|c| !c.is_empty());
        match request_body {
            None => {
                if !body.is_empty() {
                    out.push(violation(
                        "body",
                        "$",
                        "this operation takes no request body".into(),
                        op_id,
                    ));
                }
            }
            Some(rb) => {
                let required = rb.get("required").and_then(Value::as_bool) == Some(true);
                if body.is_empty() {
                    if required {
                        out.push(violation(
                            "body",
                            "$",
                            "a request body is required".into(),
                            op_id,
                        ));
                    }
                    return out;
                }
                let content = rb.get("content").and_then(Value::as_object);
                let accepted: Vec<String> = content
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                let media_type = media.clone().unwrap_or_else(|| "application/json".into());
                let chosen = content.and_then(|c| c.get(&media_type).or_else(|| c.get("*/*")));
                let Some(chosen) = chosen else {
                    out.push(violation(
                        "content-type",
                        "",
                        format!(
                            "content type {media_type} is not accepted; the operation takes {}",
                            accepted.join(", ")
                        ),
                        op_id,
                    ));
                    return out;
                };
                if media_type == "application/json" || media_type.ends_with("+json") {
                    match serde_json::from_slice::<Value>(body) {
                        Err(e) => out.push(violation(
                            "body",
                            "$",
                            format!("body is not valid JSON: {e}"),
                            op_id,
                        )),
                        Ok(value) => {
                            if let Some(schema) = chosen.get("schema") {
                                for v in validator.validate(schema, &value, "$") {
                                    let at = value_at(&value, &v.json_path);
                                    if Self::erratum_allows(op_id, &v.json_path, at) {
                                        continue;
                                    }
                                    out.push(violation("body", &v.json_path, v.message, op_id));
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Validates a request whose JSON body is already parsed.
    pub fn validate_json(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Vec<ContractViolation> {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let content_type = body.map(|_| "application/json");
        self.validate(method, path, query, content_type, &bytes)
    }
}

/// Turns a query-string value into the JSON type its schema expects, so `maxResults=50` is an
/// integer and `failFast=true` a boolean; anything unparsable stays a string (and then fails).
fn coerce_parameter(raw: &str, schema: &Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.into())),
        Some("number") => raw
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or_else(|| Value::String(raw.into())),
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.into()),
        },
        _ => Value::String(raw.into()),
    }
}

/// The value at a `$.a.b[0]` path (only simple keys; used for errata checks).
fn value_at<'v>(root: &'v Value, json_path: &str) -> Option<&'v Value> {
    let mut current = root;
    let rest = json_path.strip_prefix('$')?;
    for piece in rest.split('.').filter(|p| !p.is_empty()) {
        let (key, index) = match piece.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (piece, None),
        };
        if !key.is_empty() {
            current = current.get(key)?;
        }
        if let Some(i) = index {
            current = current.get(i)?;
        }
    }
    Some(current)
}
