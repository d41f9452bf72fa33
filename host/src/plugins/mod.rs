//! The WebAssembly component runtime that hosts connectors and policies (WIT: `wit/v0.1`).
//!
//! Why: every ticketing backend and every mapping or routing policy is untrusted code that runs
//! in a sandbox with limits, an egress allow-list and no secrets.
