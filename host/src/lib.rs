//! casebridge: security findings become tickets, and both sides stay in sync.
//!
//! The modules follow the data path:
//! finding → route (routing policy) → case → map (mapping policy) → connector → ticket → sync back.
//!
//! - [`domain`]: findings, projects, cases, ticket links; pure types and rules, no I/O.
//! - [`store`]: durable state on SQLite (embedded default) or PostgreSQL, one interface.
//! - [`api`]: the HTTP API, wire-compatible with Datadog API v2 for these operations.
//! - [`plugins`]: the WebAssembly component runtime that hosts connectors and policies.
//! - [`sync`]: the durable outbox that carries every remote effect to its backend, in order.
//! - [`cli`]: the `casebridge` command.

pub mod api;
pub mod cli;
pub mod config;
pub mod domain;
pub mod plugins;
pub mod store;
pub mod sync;
pub mod telemetry;
