//! ServiceNow's error envelope: `{"error":{"message":…,"detail":…},"status":"failure"}`.
//!
//! Invariant: every error the ServiceNow double returns from the Table/Attachment APIs uses this
//! envelope (OAuth token errors have their own shape, see `auth`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const NO_RECORD: &str = "No Record found";
pub const NO_RECORD_DETAIL: &str = "Record doesn't exist or ACL restricts the record retrieval";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("ServiceNow {status}: {message} ({detail:?})")]
pub struct SnError {
    pub status: StatusCode,
    pub message: String,
    pub detail: Option<String>,
}

impl SnError {
    pub fn new(status: StatusCode, message: impl Into<String>, detail: Option<String>) -> Self {
        SnError {
            status,
            message: message.into(),
            detail,
        }
    }

    pub fn not_found() -> Self {
        SnError::new(
            StatusCode::NOT_FOUND,
            NO_RECORD,
            Some(NO_RECORD_DETAIL.into()),
        )
    }

    pub fn invalid_table(table: &str) -> Self {
        SnError::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid table {table}"),
            None,
        )
    }

    pub fn bad_json() -> Self {
        SnError::new(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some("The payload is not valid JSON.".into()),
        )
    }

    pub fn unauthenticated() -> Self {
        SnError::new(
            StatusCode::UNAUTHORIZED,
            "User Not Authenticated",
            Some("Required to provide Auth information".into()),
        )
    }

    /// 403 for a data-policy violation; `labels` are the mandatory fields' labels.
    pub fn data_policy(labels: &[&str]) -> Self {
        SnError::new(
            StatusCode::FORBIDDEN,
            "Operation Failed",
            Some(format!(
                "Data Policy Exception: \n\tThe following fields are mandatory: {}",
                labels.join(", ")
            )),
        )
    }

    pub fn body(&self) -> Value {
        json!({"error": {"message": self.message, "detail": self.detail}, "status": "failure"})
    }
}

impl IntoResponse for SnError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
