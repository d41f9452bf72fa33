//! Control-API pieces both doubles share: faults, rate limit, Retry-After violations, request
//! log, clock, and outbound (webhook/notification) configuration.
//!
//! Invariant: control routes act on the double itself and are never recorded in the request log
//! nor subjected to faults; bad control input gets 400 `{"error": "..."}`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::clock::Clock;
use super::faults::{FaultSpec, RateLimit};
use super::observe::Observer;
use super::outbound::{Outbound, RetryPolicy, WebhookTarget};

/// What the shared control routes need.
#[derive(Clone)]
pub struct ControlCore {
    pub observer: Arc<Observer>,
    pub outbound: Outbound,
    pub clock: Clock,
    /// Name of the outbound resource in routes: `webhook` (Jira) or `notifications` (ServiceNow).
    pub outbound_name: &'static str,
}

pub fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

pub fn not_found(message: impl Into<String>) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

pub fn ok_json(value: Value) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

/// A control request body that could not be read; answers 400 `{"error": …}`.
#[derive(Debug)]
pub struct BadControlBody(pub String);

impl IntoResponse for BadControlBody {
    fn into_response(self) -> Response {
        bad_request(self.0)
    }
}

/// Parses a control body (empty means `{}`).
pub fn parse_body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, BadControlBody> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        &bytes[..]
    };
    serde_json::from_slice(text).map_err(|e| BadControlBody(format!("invalid control body: {e}")))
}

#[derive(Deserialize)]
struct Count {
    count: u32,
}

#[derive(Deserialize)]
struct Advance {
    ms: i64,
}

#[derive(Deserialize)]
struct Seed {
    seed: u64,
}

#[derive(Deserialize)]
struct Wait {
    #[serde(default = "default_wait")]
    timeout_ms: u64,
}

fn default_wait() -> u64 {
    5_000
}

pub fn router(core: ControlCore) -> Router {
    let name = core.outbound_name;
    Router::new()
        .route("/_double/requests", get(requests).delete(clear_requests))
        .route(
            "/_double/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_double/faults/seed", post(reseed))
        .route("/_double/faults/{id}", delete(remove_fault))
        .route(
            "/_double/rate-limit",
            get(get_rate_limit)
                .put(set_rate_limit)
                .delete(clear_rate_limit),
        )
        .route(
            "/_double/retry-after-violations",
            get(retry_after_violations),
        )
        .route("/_double/clock", get(clock_now))
        .route("/_double/clock/advance", post(clock_advance))
        .route(
            &format!("/_double/{name}"),
            get(get_target).put(set_target).delete(clear_target),
        )
        .route(
            &format!("/_double/{name}/retry"),
            axum::routing::put(set_retry),
        )
        .route(&format!("/_double/{name}/drop"), post(drop_next))
        .route(&format!("/_double/{name}/deliveries"), get(deliveries))
        .route(&format!("/_double/{name}/wait"), post(wait_idle))
        .with_state(core)
}

async fn requests(State(core): State<ControlCore>, RawQuery(raw): RawQuery) -> Response {
    let since = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "since")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0);
    ok_json(json!(core.observer.log().since(since)))
}

async fn clear_requests(State(core): State<ControlCore>) -> Response {
    core.observer.log().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(core): State<ControlCore>) -> Response {
    ok_json(json!(core.observer.faults().list()))
}

async fn add_fault(State(core): State<ControlCore>, body: Bytes) -> Response {
    let spec: FaultSpec = match parse_body(&body) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    match core.observer.faults().add(spec) {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn clear_faults(State(core): State<ControlCore>) -> Response {
    core.observer.faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn remove_fault(State(core): State<ControlCore>, Path(id): Path<u64>) -> Response {
    if core.observer.faults().remove(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found(format!("no fault {id}"))
    }
}

async fn reseed(State(core): State<ControlCore>, body: Bytes) -> Response {
    match parse_body::<Seed>(&body) {
        Ok(s) => {
            core.observer.faults().reseed(s.seed);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn get_rate_limit(State(core): State<ControlCore>) -> Response {
    ok_json(json!(core.observer.rate_limit()))
}

async fn set_rate_limit(State(core): State<ControlCore>, body: Bytes) -> Response {
    match parse_body::<RateLimit>(&body) {
        Ok(limit) if limit.per_second > 0.0 => {
            core.observer.set_rate_limit(Some(limit));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => bad_request("per_second must be positive"),
        Err(e) => e.into_response(),
    }
}

async fn clear_rate_limit(State(core): State<ControlCore>) -> Response {
    core.observer.set_rate_limit(None);
    StatusCode::NO_CONTENT.into_response()
}

async fn retry_after_violations(State(core): State<ControlCore>) -> Response {
    let violations = core.observer.retry_after().violations();
    ok_json(json!({"count": violations.len(), "violations": violations}))
}

async fn clock_now(State(core): State<ControlCore>) -> Response {
    ok_json(json!({"now_ms": core.clock.now_ms(), "offset_ms": core.clock.offset_ms()}))
}

async fn clock_advance(State(core): State<ControlCore>, body: Bytes) -> Response {
    match parse_body::<Advance>(&body) {
        Ok(a) if a.ms >= 0 => {
            core.clock.advance(a.ms);
            ok_json(json!({"now_ms": core.clock.now_ms(), "offset_ms": core.clock.offset_ms()}))
        }
        Ok(_) => bad_request("the clock only moves forward"),
        Err(e) => e.into_response(),
    }
}

async fn get_target(State(core): State<ControlCore>) -> Response {
    let target = core
        .outbound
        .target()
        .map(|t| json!({"url": t.url, "has_secret": t.secret.is_some()}));
    ok_json(json!(target))
}

async fn set_target(State(core): State<ControlCore>, body: Bytes) -> Response {
    match parse_body::<WebhookTarget>(&body) {
        Ok(target) => match url::Url::parse(&target.url) {
            Ok(_) => {
                core.outbound.set_target(Some(target));
                StatusCode::NO_CONTENT.into_response()
            }
            Err(e) => bad_request(format!("invalid url: {e}")),
        },
        Err(e) => e.into_response(),
    }
}

async fn clear_target(State(core): State<ControlCore>) -> Response {
    core.outbound.set_target(None);
    StatusCode::NO_CONTENT.into_response()
}

async fn set_retry(State(core): State<ControlCore>, body: Bytes) -> Response {
    match parse_body::<RetryPolicy>(&body) {
        Ok(policy) => {
            core.outbound.set_policy(policy);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn drop_next(State(core): State<ControlCore>, body: Bytes) -> Response {
    match parse_body::<Count>(&body) {
        Ok(c) => {
            core.outbound.drop_next(c.count);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn deliveries(State(core): State<ControlCore>) -> Response {
    ok_json(json!(core.outbound.records()))
}

async fn wait_idle(State(core): State<ControlCore>, body: Bytes) -> Response {
    match parse_body::<Wait>(&body) {
        Ok(w) => {
            let idle = core
                .outbound
                .wait_idle(Duration::from_millis(w.timeout_ms))
                .await;
            ok_json(json!({"idle": idle}))
        }
        Err(e) => e.into_response(),
    }
}
