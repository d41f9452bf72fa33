//! Jira's error shape: `ErrorCollection = {"errorMessages":[…],"errors":{field:msg}}`.
//!
//! Invariant: every client mistake the Jira double reports goes through [`JiraError`], so the
//! body always has both keys (Jira always sends both, even when empty).

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const ISSUE_NOT_FOUND: &str = "Issue does not exist or you do not have permission to see it.";
pub const NOT_ADF: &str =
    "Operation value must be an Atlassian Document (see the Atlassian Document Format)";
pub const NOT_A_STRING: &str = "Operation value must be a string";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Jira {status}: {messages:?} {errors:?}")]
pub struct JiraError {
    pub status: StatusCode,
    pub messages: Vec<String>,
    pub errors: BTreeMap<String, String>,
    /// Extra diagnosis for test authors, sent as `X-Casebridge-Double-Detail` (not a Jira header).
    pub detail: Option<String>,
}

impl JiraError {
    pub fn new(status: StatusCode) -> Self {
        JiraError {
            status,
            messages: Vec::new(),
            errors: BTreeMap::new(),
            detail: None,
        }
    }

    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        let mut e = JiraError::new(status);
        e.messages.push(message.into());
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        JiraError::message(StatusCode::BAD_REQUEST, message)
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut e = JiraError::new(StatusCode::BAD_REQUEST);
        e.errors.insert(field.to_string(), message.into());
        e
    }

    pub fn from_fields(errors: BTreeMap<String, String>) -> Self {
        JiraError {
            status: StatusCode::BAD_REQUEST,
            messages: Vec::new(),
            errors,
            detail: None,
        }
    }

    pub fn issue_not_found() -> Self {
        JiraError::message(StatusCode::NOT_FOUND, ISSUE_NOT_FOUND)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn body(&self) -> serde_json::Value {
        json!({"errorMessages": self.messages, "errors": self.errors})
    }

    /// Body used inside bulk-create `elementErrors` and create `transition.errorCollection`.
    pub fn collection(&self) -> serde_json::Value {
        json!({"errorMessages": self.messages, "errors": self.errors, "status": self.status.as_u16()})
    }
}

impl IntoResponse for JiraError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(detail) = &self.detail {
            let clean: String = detail.chars().filter(|c| !c.is_control()).collect();
            if let Ok(value) = HeaderValue::from_str(&clean) {
                response
                    .headers_mut()
                    .insert("x-casebridge-double-detail", value);
            }
        }
        response
    }
}
