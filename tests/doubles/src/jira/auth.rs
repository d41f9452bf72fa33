//! Jira authentication: Basic (email:API token, Cloud) and Bearer (OAuth access token on Cloud or
//! a Data Center personal access token), against the configured credentials.
//!
//! Invariants: a request without an accepted credential gets 401 with Jira's ErrorCollection and
//! `WWW-Authenticate`; the only anonymous operation is `serverInfo`; the authenticated account id
//! is handed to handlers as [`Actor`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::error::JiraError;
use super::JiraShared;

/// The account id a request is authenticated as.
#[derive(Clone, Debug)]
pub struct Actor(pub String);

fn unauthorized() -> Response {
    let mut response = JiraError::message(
        StatusCode::UNAUTHORIZED,
        "You are not authenticated. Authentication required to perform this operation.",
    )
    .into_response();
    response.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("OAuth realm=\"https%3A%2F%2Fexample.atlassian.net\""),
    );
    response.headers_mut().insert(
        "x-seraph-loginreason",
        HeaderValue::from_static("AUTHENTICATED_FAILED"),
    );
    response
}

/// Resolves an `Authorization` header value to an account id.
pub fn account_for(shared: &JiraShared, header: &str) -> Option<String> {
    let (scheme, credential) = header.trim().split_once(' ')?;
    let credential = credential.trim();
    let state = shared.lock_state();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credential)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (email, token) = text.split_once(':')?;
        let known = state
            .seed
            .basic_credentials
            .iter()
            .any(|c| c.email.eq_ignore_ascii_case(email) && c.api_token == token);
        if !known {
            return None;
        }
        return state
            .user_by_email(email)
            .filter(|u| u.active)
            .map(|u| u.account_id.clone());
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let cred = state
            .seed
            .bearer_credentials
            .iter()
            .find(|c| c.token == credential)?;
        return state
            .user(&cred.account_id)
            .filter(|u| u.active)
            .map(|u| u.account_id.clone());
    }
    None
}

/// Middleware for the REST routes.
pub async fn authenticate(
    State(shared): State<Arc<JiraShared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let anonymous_ok = request.uri().path().ends_with("/serverInfo");
    match header {
        Some(value) => match account_for(&shared, &value) {
            Some(account) => {
                request.extensions_mut().insert(Actor(account));
                next.run(request).await
            }
            None => unauthorized(),
        },
        None if anonymous_ok => next.run(request).await,
        None => unauthorized(),
    }
}
