//! The HTTP API: Datadog API v2 wire shapes for findings ticketing and Case Management,
//! plus casebridge's own extensions (ingest, admin).
//!
//! Why: existing Datadog clients must work against casebridge unchanged.
//! Invariants:
//! - Every error is a JSON:API error body `{"errors":[{"status","title","detail"}]}` with a 4xx
//!   for client mistakes (malformed JSON, wrong `type`, unknown ids, oversize bodies) and a 5xx
//!   only for faults of casebridge or its database. Handlers never panic.
//! - Every route except `/health` and `/ready` requires an API key (see `auth`).

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use axum::Router;

use crate::store::Store;

pub mod auth;
pub mod body;
pub mod case_timeline;
pub mod case_wire;
pub mod cases;
pub mod error;
pub mod finding_cases;
pub mod finding_workflow;
pub mod findings;
pub mod health;
pub mod ingest;
pub mod json;
pub mod outbox;
pub mod projects;
pub mod query_params;
pub mod users;

/// Largest request body accepted (ingest of 1,000+ findings fits comfortably).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        AppState { store }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route(findings::LIST_PATH, get(findings::list))
        .route("/api/v2/security/findings/search", post(findings::search))
        .route("/api/v2/security/findings/ingest", post(ingest::ingest))
        .route(
            "/api/v2/security/findings/mute",
            patch(finding_workflow::mute),
        )
        .route(
            "/api/v2/security/findings/assignee",
            patch(finding_workflow::assignee),
        )
        .merge(projects::routes())
        .merge(cases::routes())
        .merge(case_timeline::routes())
        .merge(finding_cases::routes())
        .merge(users::routes())
        .merge(outbox::routes())
        .fallback(error::not_found_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
