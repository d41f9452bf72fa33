//! Machinery shared by both doubles: a controllable clock, fault injection, rate limiting,
//! Retry-After bookkeeping, the request log, outbound (webhook) delivery and the HTTP
//! middleware that ties them together.
//!
//! Invariant: nothing in here knows about Jira issues or ServiceNow records; backend-specific
//! wire shapes are chosen through [`Backend`].

pub mod clock;
pub mod control;
pub mod faults;
pub mod multipart;
pub mod observe;
pub mod outbound;
pub mod request_log;
pub mod retry_after;
pub mod time_format;

use serde::{Deserialize, Serialize};

/// Which product a server imitates; selects error bodies and rate-limit headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Jira,
    ServiceNow,
}
