//! Remembers every "come back later" the double has told a client and counts the requests that
//! came back too early.
//!
//! Scope: a plain 429/503 covers the whole backend; a Jira 429 with
//! `RateLimit-Reason: jira-per-issue-on-write` covers only the issue it was about. Invariants: a
//! request is checked before its own response can extend a window; an early request is counted
//! once per window it violates; windows never shrink (a later, shorter Retry-After does not undo
//! an earlier, longer one).

use std::collections::HashMap;

use serde::Serialize;

/// One request that arrived before the Retry-After it was given had elapsed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RetryAfterViolation {
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// `"backend"` or `"issue:<KEY>"`.
    pub scope: String,
    /// When the client was allowed back.
    pub allowed_from_ms: i64,
    /// How early the request was.
    pub early_by_ms: i64,
}

#[derive(Debug, Default)]
pub struct RetryAfterTracker {
    backend_until_ms: Option<i64>,
    issue_until_ms: HashMap<String, i64>,
    violations: Vec<RetryAfterViolation>,
}

impl RetryAfterTracker {
    /// Checks an incoming request against the open windows, recording violations.
    pub fn check(&mut self, now_ms: i64, method: &str, path: &str, issue: Option<&str>) {
        if let Some(until) = self.backend_until_ms {
            if now_ms < until {
                self.violations.push(RetryAfterViolation {
                    at_ms: now_ms,
                    method: method.to_string(),
                    path: path.to_string(),
                    scope: "backend".into(),
                    allowed_from_ms: until,
                    early_by_ms: until - now_ms,
                });
            }
        }
        if let Some(key) = issue {
            if let Some(until) = self.issue_until_ms.get(key).copied() {
                if now_ms < until {
                    self.violations.push(RetryAfterViolation {
                        at_ms: now_ms,
                        method: method.to_string(),
                        path: path.to_string(),
                        scope: format!("issue:{key}"),
                        allowed_from_ms: until,
                        early_by_ms: until - now_ms,
                    });
                }
            }
        }
    }

    /// Records that the backend told clients to wait `secs` seconds from `now_ms`.
    pub fn told_backend(&mut self, now_ms: i64, secs: u64) {
        let until = now_ms + (secs as i64) * 1000;
        self.backend_until_ms = Some(self.backend_until_ms.map_or(until, |u| u.max(until)));
    }

    /// Records that clients must leave one issue alone for `secs` seconds.
    pub fn told_issue(&mut self, now_ms: i64, issue: &str, secs: u64) {
        let until = now_ms + (secs as i64) * 1000;
        let entry = self
            .issue_until_ms
            .entry(issue.to_string())
            .or_insert(until);
        *entry = (*entry).max(until);
    }

    pub fn violations(&self) -> Vec<RetryAfterViolation> {
        self.violations.clone()
    }

    pub fn clear(&mut self) {
        *self = RetryAfterTracker::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_inside_the_window_only() {
        let mut t = RetryAfterTracker::default();
        t.told_backend(1_000, 2);
        t.check(1_500, "GET", "/a", None);
        t.check(3_000, "GET", "/a", None);
        assert_eq!(t.violations().len(), 1);
        assert_eq!(t.violations()[0].early_by_ms, 1_500);
    }

    #[test]
    fn per_issue_window_ignores_other_issues() {
        let mut t = RetryAfterTracker::default();
        t.told_issue(0, "SEC-1", 5);
        t.check(100, "PUT", "/rest/api/3/issue/SEC-2", Some("SEC-2"));
        assert!(t.violations().is_empty());
        t.check(100, "PUT", "/rest/api/3/issue/SEC-1", Some("SEC-1"));
        assert_eq!(t.violations()[0].scope, "issue:SEC-1");
    }
}
