//! The HTTP middleware every product route runs behind: request log, contract inspection,
//! Retry-After bookkeeping, the per-second token bucket and injected faults, in that order.
//!
//! Invariants: every request to a product route is logged exactly once (including those answered
//! by a fault or dropped); the request body is buffered once and handed to the handler unchanged;
//! a response carrying `Retry-After` (429 or 503, from a fault or a handler) opens a window that
//! the next requests are checked against; control routes (`/_double/…`) never pass through here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::clock::Clock;
use super::faults::{FaultEngine, FaultKind, RateLimit, Throttled, TokenBucket};
use super::request_log::{
    auth_scheme_of, is_loggable_header, loggable_body, RequestLog, RequestRecord,
};
use super::retry_after::RetryAfterTracker;
use super::time_format::iso_minute;
use super::Backend;

/// Largest request body the doubles accept (attachments included).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The Jira per-issue rate-limit reason; its Retry-After window covers only that issue.
pub const PER_ISSUE_REASON: &str = "jira-per-issue-on-write";

/// Looks at every request before it is served (the Jira contract validator implements this).
pub trait RequestInspector: Send + Sync {
    fn inspect(
        &self,
        seq: u64,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    );
}

/// Per-server observation and fault state.
pub struct Observer {
    pub backend: Backend,
    pub clock: Clock,
    faults: Mutex<FaultEngine>,
    bucket: Mutex<Option<TokenBucket>>,
    retry_after: Mutex<RetryAfterTracker>,
    log: Mutex<RequestLog>,
    inspector: Option<Arc<dyn RequestInspector>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Observer {
    pub fn new(
        backend: Backend,
        clock: Clock,
        fault_seed: u64,
        inspector: Option<Arc<dyn RequestInspector>>,
    ) -> Self {
        Observer {
            backend,
            clock,
            faults: Mutex::new(FaultEngine::new(fault_seed)),
            bucket: Mutex::new(None),
            retry_after: Mutex::new(RetryAfterTracker::default()),
            log: Mutex::new(RequestLog::default()),
            inspector,
        }
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultEngine> {
        lock(&self.faults)
    }

    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let now = self.clock.now_ms();
        *lock(&self.bucket) = limit.map(|l| TokenBucket::new(l, now));
    }

    pub fn rate_limit(&self) -> Option<RateLimit> {
        lock(&self.bucket).as_ref().map(|b| b.limit.clone())
    }

    pub fn retry_after(&self) -> MutexGuard<'_, RetryAfterTracker> {
        lock(&self.retry_after)
    }

    pub fn log(&self) -> MutexGuard<'_, RequestLog> {
        lock(&self.log)
    }

    /// Clears faults, the rate limit, Retry-After windows and the request log; reseeds the RNG.
    pub fn reset(&self, fault_seed: u64) {
        {
            let mut faults = self.faults();
            faults.clear();
            faults.reseed(fault_seed);
        }
        *lock(&self.bucket) = None;
        self.retry_after().clear();
        self.log().clear();
    }
}

/// The issue a Jira request is about (`/rest/api/{2,3}/issue/{key}/…`), for per-issue limits.
pub fn jira_issue_scope(path: &str) -> Option<String> {
    let rest = path
        .strip_prefix("/rest/api/3/issue/")
        .or_else(|| path.strip_prefix("/rest/api/2/issue/"))?;
    let key = rest.split('/').next()?;
    if key.is_empty() || matches!(key, "bulk" | "createmeta" | "picker" | "properties") {
        return None;
    }
    Some(key.to_string())
}

fn error_body(backend: Backend, message: &str, detail: &str) -> serde_json::Value {
    match backend {
        Backend::Jira => json!({"errorMessages": [message], "errors": {}}),
        Backend::ServiceNow => {
            json!({"error": {"message": message, "detail": detail}, "status": "failure"})
        }
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn set_header(response: &mut Response, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
}

/// A 429 in the product's shape. `throttled` is set when the token bucket refused the request.
pub fn rate_limited_response(
    backend: Backend,
    now_ms: i64,
    retry_after_secs: u64,
    reason: Option<&str>,
    throttled: Option<Throttled>,
) -> Response {
    let limit = throttled.map(|t| t.capacity).unwrap_or(100);
    let detail = match throttled {
        Some(t) => format!(
            "Rate limit of {} requests per second for Table API exceeded",
            t.capacity
        ),
        None => format!("Rate limit of {limit} requests per hour for Table API exceeded"),
    };
    let mut response = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        error_body(backend, "Rate limit exceeded", &detail),
    );
    set_header(&mut response, "retry-after", retry_after_secs.to_string());
    let reset_ms = now_ms + retry_after_secs as i64 * 1000;
    match backend {
        Backend::Jira => {
            set_header(
                &mut response,
                "ratelimit-reason",
                reason.unwrap_or("jira-burst-based").to_string(),
            );
            set_header(&mut response, "x-ratelimit-limit", limit.to_string());
            set_header(&mut response, "x-ratelimit-remaining", "0".into());
            set_header(&mut response, "x-ratelimit-nearlimit", "true".into());
            set_header(&mut response, "x-ratelimit-reset", iso_minute(reset_ms));
            if let Some(t) = throttled {
                set_header(&mut response, "x-ratelimit-interval-seconds", "1".into());
                set_header(
                    &mut response,
                    "x-ratelimit-fillrate",
                    t.fill_rate.to_string(),
                );
            }
        }
        Backend::ServiceNow => {
            set_header(&mut response, "x-ratelimit-limit", limit.to_string());
            set_header(
                &mut response,
                "x-ratelimit-reset",
                (reset_ms.div_euclid(1000)).to_string(),
            );
            set_header(
                &mut response,
                "x-ratelimit-rule",
                "d3f1c0de5a1b4c2e9f0a7b6c5d4e3f21".into(),
            );
        }
    }
    response
}

fn fault_response(backend: Backend, kind: &FaultKind, now_ms: i64) -> Response {
    match kind {
        FaultKind::RateLimited {
            retry_after_secs,
            reason,
        } => rate_limited_response(backend, now_ms, *retry_after_secs, reason.as_deref(), None),
        FaultKind::Unavailable { retry_after_secs } => {
            let mut response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                error_body(
                    backend,
                    "Service Unavailable",
                    "The instance is temporarily unavailable",
                ),
            );
            if let Some(secs) = retry_after_secs {
                set_header(&mut response, "retry-after", secs.to_string());
            }
            response
        }
        FaultKind::ServerError => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body(
                backend,
                "Internal server error",
                "An unexpected error occurred while processing the request",
            ),
        ),
        FaultKind::Slow { .. } | FaultKind::DropConnection | FaultKind::DropAfterProcessing => {
            dropped_connection_response()
        }
    }
}

/// A response whose body fails immediately: hyper aborts the connection, so the client gets a
/// reset / incomplete message instead of a response it can use.
pub fn dropped_connection_response() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault injection: connection dropped",
        ))
    });
    Response::new(Body::from_stream(failing))
}

/// The middleware. Mount with `axum::middleware::from_fn_with_state(observer, observe)`.
pub async fn observe(
    State(observer): State<Arc<Observer>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let now = observer.clock.now_ms();
    let (parts, body) = request.into_parts();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let auth_scheme = auth_scheme_of(
        parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
    );
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter(|(name, _)| is_loggable_header(name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).to_string(),
            )
        })
        .collect();
    let seq = observer.log().next_seq();

    let (response, fault_label, body_text) = match axum::body::to_bytes(body, MAX_BODY_BYTES).await
    {
        Err(_) => {
            let response = json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_body(
                    observer.backend,
                    "Request entity too large",
                    "The request body exceeds the maximum size",
                ),
            );
            (response, None, "<body too large>".to_string())
        }
        Ok(bytes) => {
            if let Some(inspector) = &observer.inspector {
                inspector.inspect(seq, &method, &path, &query, &parts.headers, &bytes);
            }
            let body_text = loggable_body(content_type.as_deref(), &bytes);
            let issue = match observer.backend {
                Backend::Jira => jira_issue_scope(&path),
                Backend::ServiceNow => None,
            };
            observer
                .retry_after()
                .check(now, &method, &path, issue.as_deref());
            let throttled = lock(&observer.bucket)
                .as_mut()
                .and_then(|b| b.try_take(now).err());
            let (response, label) = if let Some(t) = throttled {
                (
                    rate_limited_response(observer.backend, now, t.retry_after_secs, None, Some(t)),
                    Some("rate_limit".to_string()),
                )
            } else {
                let fault = observer.faults().pick(&method, &path);
                let request = Request::from_parts(parts, Body::from(bytes));
                match fault {
                    None => (next.run(request).await, None),
                    Some(FaultKind::Slow { delay_ms }) => {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                        (next.run(request).await, Some("slow".to_string()))
                    }
                    Some(FaultKind::DropAfterProcessing) => {
                        let served = next.run(request).await;
                        let label = format!(
                            "drop_after_processing (would have been {})",
                            served.status().as_u16()
                        );
                        (dropped_connection_response(), Some(label))
                    }
                    Some(kind) => (
                        fault_response(observer.backend, &kind, now),
                        Some(kind.label().to_string()),
                    ),
                }
            };
            if let Some(secs) = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                let per_issue = response
                    .headers()
                    .get("ratelimit-reason")
                    .is_some_and(|v| v.as_bytes() == PER_ISSUE_REASON.as_bytes());
                let mut tracker = observer.retry_after();
                match (&issue, per_issue) {
                    (Some(key), true) => tracker.told_issue(now, key, secs),
                    _ => tracker.told_backend(now, secs),
                }
            }
            (response, label, body_text)
        }
    };

    let dropped = fault_label.as_deref().is_some_and(|l| {
        l.starts_with("drop_connection") || l.starts_with("drop_after_processing")
    });
    observer.log().push(RequestRecord {
        seq,
        at_ms: now,
        method,
        path,
        query,
        headers,
        body: body_text,
        status: if dropped {
            None
        } else {
            Some(response.status().as_u16())
        },
        auth_scheme,
        fault: fault_label,
        duration_ms: started.elapsed().as_millis() as u64,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_issue_a_jira_path_is_about() {
        assert_eq!(
            jira_issue_scope("/rest/api/3/issue/SEC-4/transitions").as_deref(),
            Some("SEC-4")
        );
        assert_eq!(
            jira_issue_scope("/rest/api/2/issue/10001").as_deref(),
            Some("10001")
        );
        assert_eq!(jira_issue_scope("/rest/api/3/issue/bulk"), None);
        assert_eq!(jira_issue_scope("/rest/api/3/search/jql"), None);
    }
}
