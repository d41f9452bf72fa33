//! Reading JSON:API request bodies field by field, with errors that name the field.
//!
//! Why: serde's derive messages ("invalid type: string, expected a boolean at line 1 column 80")
//! do not say *which* field; clients of this API get `data.attributes.mute.is_muted: must be a
//! boolean, got a string`.
//! Invariants: every refusal is a 400 whose detail starts with the dotted path of the field;
//! `null` reads as absent; nothing here panics on any input.

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::finding::validate::json_type;

/// A field of a request body: where it is, and its value if present (not `null`).
#[derive(Debug, Clone)]
pub struct Field<'a> {
    path: String,
    value: Option<&'a Value>,
}

impl<'a> Field<'a> {
    /// The body itself (reported as `body`).
    pub fn root(value: &'a Value) -> Self {
        Field {
            path: String::new(),
            value: Some(value).filter(|v| !v.is_null()),
        }
    }

    /// The dotted path (`data.attributes.page.limit`).
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "body"
        } else {
            &self.path
        }
    }

    /// A member of this object (absent when this is not an object or has no such member).
    pub fn get(&self, key: &str) -> Field<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Field {
            path,
            value: self
                .value
                .and_then(Value::as_object)
                .and_then(|map| map.get(key))
                .filter(|v| !v.is_null()),
        }
    }

    /// An element of this array.
    pub fn index(&self, index: usize, value: &'a Value) -> Field<'a> {
        Field {
            path: format!("{}[{index}]", self.path()),
            value: Some(value).filter(|v| !v.is_null()),
        }
    }

    pub fn is_present(&self) -> bool {
        self.value.is_some()
    }

    pub fn value(&self) -> Option<&'a Value> {
        self.value
    }

    /// A 400 about this field.
    pub fn error(&self, detail: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(format!("{}: {detail}", self.path()))
    }

    fn missing(&self, what: &str) -> ApiError {
        ApiError::bad_request(format!("{} is required ({what})", self.path()))
    }

    fn wrong_type(&self, expected: &str, got: &Value) -> ApiError {
        self.error(format!("must be {expected}, got {}", json_type(got)))
    }

    pub fn object(&self) -> Result<Option<&'a Map<String, Value>>, ApiError> {
        match self.value {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.wrong_type("an object", other)),
        }
    }

    pub fn required_object(&self) -> Result<&'a Map<String, Value>, ApiError> {
        self.object()?.ok_or_else(|| self.missing("an object"))
    }

    pub fn string(&self) -> Result<Option<&'a str>, ApiError> {
        match self.value {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type("a string", other)),
        }
    }

    pub fn required_string(&self) -> Result<&'a str, ApiError> {
        self.string()?.ok_or_else(|| self.missing("a string"))
    }

    pub fn bool(&self) -> Result<Option<bool>, ApiError> {
        match self.value {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type("a boolean (true or false)", other)),
        }
    }

    pub fn required_bool(&self) -> Result<bool, ApiError> {
        self.bool()?.ok_or_else(|| self.missing("true or false"))
    }

    pub fn i64(&self) -> Result<Option<i64>, ApiError> {
        match self.value {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong_type("an integer", v)),
            Some(other) => Err(self.wrong_type("an integer", other)),
        }
    }

    pub fn array(&self) -> Result<Option<&'a Vec<Value>>, ApiError> {
        match self.value {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong_type("an array", other)),
        }
    }

    pub fn required_array(&self) -> Result<&'a Vec<Value>, ApiError> {
        self.array()?.ok_or_else(|| self.missing("an array"))
    }

    /// A JSON:API `type` member that must be `expected`.
    pub fn expect_type(&self, expected: &str) -> Result<(), ApiError> {
        let given = self
            .string()?
            .ok_or_else(|| self.missing(&format!("\"{expected}\"")))?;
        if given == expected {
            Ok(())
        } else {
            Err(self.error(format!("got type {given:?} expected one of {expected:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_dotted_path() {
        let body = json!({"data": {"attributes": {"mute": {"is_muted": "yes"}}}});
        let err = Field::root(&body)
            .get("data")
            .get("attributes")
            .get("mute")
            .get("is_muted")
            .required_bool()
            .unwrap_err();
        assert_eq!(
            err.detail,
            "data.attributes.mute.is_muted: must be a boolean (true or false), got a string"
        );
    }

    #[test]
    fn missing_and_null_fields_are_required_by_name() {
        let body = json!({"data": {"type": null}});
        let err = Field::root(&body)
            .get("data")
            .get("type")
            .expect_type("mute")
            .unwrap_err();
        assert_eq!(err.detail, "data.type is required (\"mute\")");
    }

    #[test]
    fn a_wrong_type_member_says_what_was_expected() {
        let body = json!({"data": {"type": "mutez"}});
        let err = Field::root(&body)
            .get("data")
            .get("type")
            .expect_type("mute")
            .unwrap_err();
        assert_eq!(
            err.detail,
            "data.type: got type \"mutez\" expected one of \"mute\""
        );
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn integers_refuse_fractions() {
        let body = json!({"n": 1.5});
        let err = Field::root(&body).get("n").i64().unwrap_err();
        assert_eq!(err.detail, "n: must be an integer, got a number");
    }
}
