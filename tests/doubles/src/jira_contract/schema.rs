//! The OpenAPI 3.0 schema subset the Jira spec uses, applied to request bodies.
//!
//! Supported: `$ref` into `#/components/schemas`, `type`, `nullable`, `enum`, `properties`,
//! `required`, `additionalProperties` (bool or schema), `items`, `allOf`/`oneOf`/`anyOf`,
//! `readOnly` (a read-only property present in a request is a violation), `minLength`/`maxLength`,
//! `minItems`/`maxItems`, `uniqueItems`, `minimum`/`maximum`, `minProperties`/`maxProperties`, and
//! the `int32`/`int64` formats. Other keywords are ignored (they do not constrain requests or do
//! not occur). Invariants: validation is total (never panics, bounded recursion), and every
//! violation carries a JSON path (`$.fields.summary`, `$.issueUpdates[0]`).

use serde_json::Value;

/// Recursion guard for pathological specs (the data bounds real recursion anyway).
const MAX_DEPTH: usize = 64;

/// One schema violation: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    pub json_path: String,
    pub message: String,
}

/// Validates JSON values against schemas inside one OpenAPI document.
pub struct SchemaValidator<'a> {
    root: &'a Value,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn child_path(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", serde_json::to_string(key).unwrap_or_default())
    }
}

impl<'a> SchemaValidator<'a> {
    pub fn new(root: &'a Value) -> Self {
        SchemaValidator { root }
    }

    /// Follows `$ref` chains to the schema they name.
    pub fn resolve(&self, schema: &'a Value) -> Option<&'a Value> {
        let mut current = schema;
        for _ in 0..16 {
            match current.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let pointer = reference.strip_prefix('#')?;
                    current = self.root.pointer(pointer)?;
                }
                None => return Some(current),
            }
        }
        None
    }

    /// All violations of `value` against `schema`, paths rooted at `path`.
    pub fn validate(&self, schema: &'a Value, value: &Value, path: &str) -> Vec<SchemaViolation> {
        let mut out = Vec::new();
        self.check(schema, value, path, 0, &mut out);
        out
    }

    fn is_read_only(&self, schema: &'a Value) -> bool {
        if schema.get("readOnly").and_then(Value::as_bool) == Some(true) {
            return true;
        }
        self.resolve(schema)
            .and_then(|s| s.get("readOnly"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    fn push(out: &mut Vec<SchemaViolation>, path: &str, message: impl Into<String>) {
        out.push(SchemaViolation {
            json_path: path.to_string(),
            message: message.into(),
        });
    }

    fn check(
        &self,
        schema: &'a Value,
        value: &Value,
        path: &str,
        depth: usize,
        out: &mut Vec<SchemaViolation>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(schema) = self.resolve(schema) else {
            Self::push(out, path, "the spec has an unresolvable $ref here");
            return;
        };
        let Some(obj) = schema.as_object() else {
            return; // `true`/`{}`-like: anything goes
        };
        let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);

        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(sub, value, path, depth + 1, out);
            }
        }
        if let Some(any) = obj.get("anyOf").and_then(Value::as_array) {
            let passes = any.iter().any(|sub| {
                let mut scratch = Vec::new();
                self.check(sub, value, path, depth + 1, &mut scratch);
                scratch.is_empty()
            });
            if !(passes || value.is_null() && nullable) {
                Self::push(
                    out,
                    path,
                    format!("does not match any of the {} anyOf alternatives", any.len()),
                );
            }
        }
        if let Some(one) = obj.get("oneOf").and_then(Value::as_array) {
            let matching = one
                .iter()
                .filter(|sub| {
                    let mut scratch = Vec::new();
                    self.check(sub, value, path, depth + 1, &mut scratch);
                    scratch.is_empty()
                })
                .count();
            if matching != 1 && !(value.is_null() && nullable) {
                Self::push(
                    out,
                    path,
                    format!(
                        "matches {matching} of the {} oneOf alternatives (exactly one required)",
                        one.len()
                    ),
                );
            }
        }

        if value.is_null() {
            let declared = obj.get("type").and_then(Value::as_str);
            let has_enum = obj.contains_key("enum");
            if !nullable && (declared.is_some() || has_enum) {
                Self::push(
                    out,
                    path,
                    format!(
                        "null is not allowed (expected {})",
                        declared.unwrap_or("an enum value")
                    ),
                );
            }
            return;
        }

        if let Some(expected) = obj.get("type").and_then(Value::as_str) {
            let actual = type_name(value);
            let ok = match expected {
                "number" => matches!(actual, "number" | "integer"),
                other => other == actual,
            };
            if !ok {
                Self::push(out, path, format!("expected {expected}, got {actual}"));
                return;
            }
        }

        if let Some(allowed) = obj.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
                Self::push(
                    out,
                    path,
                    format!("{value} is not one of [{}]", list.join(", ")),
                );
            }
        }

        match value {
            Value::String(s) => {
                let length = s.chars().count() as u64;
                if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
                    if length > max {
                        Self::push(out, path, format!("string longer than maxLength {max}"));
                    }
                }
                if let Some(min) = obj.get("minLength").and_then(Value::as_u64) {
                    if length < min {
                        Self::push(out, path, format!("string shorter than minLength {min}"));
                    }
                }
            }
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
                        if f > max {
                            Self::push(out, path, format!("{f} is greater than maximum {max}"));
                        }
                    }
                    if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
                        if f < min {
                            Self::push(out, path, format!("{f} is less than minimum {min}"));
                        }
                    }
                    if obj.get("format").and_then(Value::as_str) == Some("int32")
                        && !(i32::MIN as f64..=i32::MAX as f64).contains(&f)
                    {
                        Self::push(out, path, "integer out of int32 range");
                    }
                }
            }
            Value::Array(items) => {
                if let Some(max) = obj.get("maxItems").and_then(Value::as_u64) {
                    if items.len() as u64 > max {
                        Self::push(out, path, format!("more than maxItems {max} items"));
                    }
                }
                if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
                    if (items.len() as u64) < min {
                        Self::push(out, path, format!("fewer than minItems {min} items"));
                    }
                }
                if obj.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
                    for (i, item) in items.iter().enumerate() {
                        if items[..i].contains(item) {
                            Self::push(
                                out,
                                &format!("{path}[{i}]"),
                                "duplicate item in a uniqueItems array",
                            );
                        }
                    }
                }
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"), depth + 1, out);
                    }
                }
            }
            Value::Object(map) => {
                let properties = obj.get("properties").and_then(Value::as_object);
                if let Some(required) = obj.get("required").and_then(Value::as_array) {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !map.contains_key(name) {
                            Self::push(
                                out,
                                &child_path(path, name),
                                "required property is missing",
                            );
                        }
                    }
                }
                if let Some(max) = obj.get("maxProperties").and_then(Value::as_u64) {
                    if map.len() as u64 > max {
                        Self::push(
                            out,
                            path,
                            format!("more than maxProperties {max} properties"),
                        );
                    }
                }
                if let Some(min) = obj.get("minProperties").and_then(Value::as_u64) {
                    if (map.len() as u64) < min {
                        Self::push(
                            out,
                            path,
                            format!("fewer than minProperties {min} properties"),
                        );
                    }
                }
                for (key, item) in map {
                    let item_path = child_path(path, key);
                    match properties.and_then(|p| p.get(key)) {
                        Some(prop_schema) => {
                            if self.is_read_only(prop_schema) {
                                Self::push(
                                    out,
                                    &item_path,
                                    "read-only property must not be sent in a request",
                                );
                            }
                            self.check(prop_schema, item, &item_path, depth + 1, out);
                        }
                        None => match obj.get("additionalProperties") {
                            Some(Value::Bool(false)) => {
                                Self::push(out, &item_path, "property is not allowed by the schema (additionalProperties: false)");
                            }
                            Some(extra) if extra.is_object() => {
                                self.check(extra, item, &item_path, depth + 1, out);
                            }
                            _ => {}
                        },
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root() -> Value {
        json!({"components": {"schemas": {
            "Thing": {"type": "object", "additionalProperties": false, "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 5},
                    "id": {"type": "string", "readOnly": true},
                    "kind": {"type": "string", "enum": ["a", "b"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "maybe": {"type": "integer", "nullable": true},
                    "parent": {"allOf": [{"$ref": "#/components/schemas/Thing"}]},
                    "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]}
                }}
        }}})
    }

    #[test]
    fn reports_each_kind_of_violation_with_a_path() {
        let root = root();
        let v = SchemaValidator::new(&root);
        let schema = json!({"$ref": "#/components/schemas/Thing"});
        let ok = v.validate(
            &schema,
            &json!({"name": "x", "tags": ["a"], "maybe": null, "either": 3}),
            "$",
        );
        assert!(ok.is_empty(), "{ok:?}");
        let bad = v.validate(
            &schema,
            &json!({"id": "1", "kind": "c", "tags": [1], "extra": true, "parent": {"name": "toolong"}, "either": true}),
            "$",
        );
        let paths: Vec<&str> = bad.iter().map(|b| b.json_path.as_str()).collect();
        assert!(paths.contains(&"$.name"), "{bad:?}");
        assert!(paths.contains(&"$.id"));
        assert!(paths.contains(&"$.kind"));
        assert!(paths.contains(&"$.tags[0]"));
        assert!(paths.contains(&"$.extra"));
        assert!(paths.contains(&"$.parent.name"));
        assert!(paths.contains(&"$.either"));
    }

    #[test]
    fn null_needs_nullable() {
        let root = root();
        let v = SchemaValidator::new(&root);
        let errors = v.validate(&json!({"type": "string"}), &Value::Null, "$.x");
        assert_eq!(errors.len(), 1);
        assert!(v.validate(&json!({}), &Value::Null, "$").is_empty());
    }
}
