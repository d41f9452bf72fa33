//! JSON:API error responses.
//!
//! Why: the live Datadog API answers errors as `{"errors":[{"status","title","detail"}]}` and the
//! official clients decode that body; casebridge answers every error the same way.
//! Invariants: the HTTP status and the body's `status` always agree; `detail` names the problem
//! in words a client can act on; internal errors are logged and answered without internals.
//! Case Management's recorded 404s also carry `"code": "resource_not_found"`; [`ApiError::with_code`]
//! adds such a code beside the usual members.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Content type of every API body (JSON:API).
pub const JSON_API: &str = "application/vnd.api+json";

/// An error answered to an API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    /// Machine-readable code (`resource_not_found`), only where Datadog sends one.
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        ApiError {
            status,
            title,
            detail: detail.into(),
            code: None,
        }
    }

    /// Adds a machine-readable `code` member to the error object.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// A custom title, for the few places where Datadog uses one ("Invalid Parameter", "Generic Error").
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
    }
    /// A fault of casebridge itself; the cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error answering a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }

    /// The JSON:API body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({
            "status": self.status.as_u16().to_string(),
            "title": self.title,
            "detail": self.detail,
        });
        if let (Some(code), Some(object)) = (self.code, error.as_object_mut()) {
            object.insert("code".to_string(), json!(code));
        }
        json!({ "errors": [error] })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, JSON_API)],
            body,
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(detail) => ApiError::conflict(detail),
            StoreError::Invalid(detail) => ApiError::bad_request(detail),
            other => ApiError::internal(other),
        }
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// Answer for paths no route serves.
pub async fn not_found_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// Answer for a known path with a method it does not serve.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_status_matches_http_status() {
        let err = ApiError::not_found("case not found");
        let body = err.body();
        assert_eq!(body["errors"][0]["status"], "404");
        assert_eq!(body["errors"][0]["title"], "Not Found");
        assert_eq!(body["errors"][0]["detail"], "case not found");
    }

    #[test]
    fn a_code_is_added_beside_the_usual_members() {
        let body = ApiError::not_found("case not found")
            .with_title("case not found")
            .with_code("resource_not_found")
            .body();
        assert_eq!(body["errors"][0]["code"], "resource_not_found");
        assert_eq!(body["errors"][0]["status"], "404");
        assert!(ApiError::bad_request("x").body()["errors"][0]
            .get("code")
            .is_none());
    }

    #[test]
    fn store_not_found_becomes_404() {
        let err: ApiError = StoreError::NotFound("project").into();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert_eq!(err.detail, "project not found");
    }
}
