//! Request and response bodies as JSON:API documents.
//!
//! Why: axum's own `Json` extractor answers bad bodies with plain-text errors; clients of this API
//! expect a JSON:API error naming what was wrong with the body.
//! Invariants: a malformed, mistyped or wrongly shaped body is a 400 (415 for a non-JSON content
//! type, 413 when over the size limit) whose `detail` says where the problem is; never a 500.

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{ApiError, JSON_API};

/// A JSON request body that fails with a JSON:API error, or a JSON:API response body.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonApi<T>(pub T);

impl<S, T> FromRequest<S> for JsonApi<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !content_type.is_empty() && !content_type.contains("json") {
            return Err(ApiError::unsupported_media_type(format!(
                "expected a JSON body (application/json or {JSON_API}), got {content_type}"
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        parse_body(&bytes).map(JsonApi)
    }
}

/// Parses a JSON body, naming the path of the first problem.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "request body is empty; a JSON document is required",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error_lite(de)
}

fn serde_path_to_error_lite<'de, T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, ApiError> {
    T::deserialize(de).map_err(|e| {
        let kind = if e.is_syntax() || e.is_eof() {
            "malformed JSON"
        } else {
            "invalid request body"
        };
        ApiError::bad_request(format!("{kind}: {e}"))
    })
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large(format!(
            "request body is larger than {} bytes",
            super::MAX_BODY_BYTES
        ))
    } else {
        ApiError::bad_request(format!("could not read the request body: {rejection}"))
    }
}

/// Maps axum's own JSON rejection, for handlers that still use `axum::Json`.
pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(rejection.body_text()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::unsupported_media_type(rejection.body_text())
        }
        _ => ApiError::bad_request(rejection.body_text()),
    }
}

impl<T: Serialize> IntoResponse for JsonApi<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => ([(axum::http::header::CONTENT_TYPE, JSON_API)], body).into_response(),
            Err(e) => {
                ApiError::internal(format!("response serialization failed: {e}")).into_response()
            }
        }
    }
}

/// A JSON:API response with a status other than 200.
pub fn with_status<T: Serialize>(status: StatusCode, body: T) -> Response {
    let mut response = JsonApi(body).into_response();
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        data: Vec<u32>,
    }

    #[test]
    fn malformed_json_is_named() {
        let err = parse_body::<Body>(b"{\"data\": [1,").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.detail.starts_with("malformed JSON"), "{}", err.detail);
    }

    #[test]
    fn wrong_shape_names_the_field() {
        let err = parse_body::<Body>(b"{\"data\": \"x\"}").unwrap_err();
        assert!(
            err.detail.starts_with("invalid request body"),
            "{}",
            err.detail
        );
    }

    #[test]
    fn empty_body_is_a_400() {
        let err = parse_body::<Body>(b"  ").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }
}
