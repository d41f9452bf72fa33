//! The domain: findings, projects, cases, ticket links and the rules that bind them.
//!
//! Why: the invariants of the product documents live here, in plain types with no I/O, so the
//! store, the API and the sync engine all enforce the same rules.
//! Invariants (from the seeds): a finding belongs to at most one case at a time per project;
//! closing a case does not close its findings; deleting a case leaves its findings open and
//! unlinked; only remediation or muting closes a finding.

pub mod case;
pub mod case_filter;
pub mod finding;
pub mod project;
pub mod ticket_link;
pub mod timeline;
