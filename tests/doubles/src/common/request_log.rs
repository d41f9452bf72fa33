//! The request log: what each client request looked like and how the double answered.
//!
//! Invariants: credentials never enter the log (`Authorization`, `Cookie`, `Proxy-Authorization`
//! and any header whose name mentions a token, secret or password are dropped; OAuth form bodies
//! have their secrets masked); sequence numbers are strictly increasing and survive `clear` so a
//! reader can page with `since`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Bodies longer than this are cut in the log (the double still processes them whole).
const MAX_LOGGED_BODY: usize = 64 * 1024;

/// One request as received, with its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub seq: u64,
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), empty when absent.
    pub query: String,
    /// Lower-cased header names; credential headers removed.
    pub headers: BTreeMap<String, String>,
    /// Body as UTF-8 text (lossy), or a size note for binary bodies.
    pub body: String,
    /// Response status; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// `basic`, `bearer`, `none`, or the scheme name the client sent.
    pub auth_scheme: String,
    /// Injected fault, if any (`rate_limited`, `slow`, …, or `rate_limit` for the token bucket).
    pub fault: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    records: Vec<RequestRecord>,
    next_seq: u64,
}

impl RequestLog {
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn push(&mut self, record: RequestRecord) {
        self.records.push(record);
    }

    /// Records with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<RequestRecord> {
        self.records
            .iter()
            .filter(|r| r.seq > since)
            .cloned()
            .collect()
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }
}

/// Whether a header may appear in the log.
pub fn is_loggable_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !(lower == "authorization"
        || lower == "cookie"
        || lower == "proxy-authorization"
        || lower.contains("token") && lower != "x-atlassian-token"
        || lower.contains("secret")
        || lower.contains("password")
        || lower.contains("api-key"))
}

/// Renders a body for the log, masking OAuth form secrets.
pub fn loggable_body(content_type: Option<&str>, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let is_form = content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let masked: Vec<String> = url::form_urlencoded::parse(body)
            .map(|(k, v)| {
                let secret = matches!(
                    k.as_ref(),
                    "password" | "client_secret" | "refresh_token" | "access_token"
                );
                if secret {
                    format!("{k}=***")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        return masked.join("&");
    }
    match std::str::from_utf8(body) {
        Ok(text) if text.len() <= MAX_LOGGED_BODY => text.to_string(),
        Ok(text) => {
            let mut cut = MAX_LOGGED_BODY;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…(+{} bytes)", &text[..cut], text.len() - cut)
        }
        Err(_) => format!("<{} bytes of binary data>", body.len()),
    }
}

/// The auth scheme named by an `Authorization` header.
pub fn auth_scheme_of(header: Option<&str>) -> String {
    match header {
        None => "none".into(),
        Some(value) => {
            let scheme = value.split_whitespace().next().unwrap_or("");
            match scheme.to_ascii_lowercase().as_str() {
                "basic" => "basic".into(),
                "bearer" => "bearer".into(),
                "" => "none".into(),
                other => other.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_logs_credentials() {
        assert!(!is_loggable_header("Authorization"));
        assert!(!is_loggable_header("x-api-key"));
        assert!(is_loggable_header("X-Atlassian-Token"));
        let body = loggable_body(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=password&username=a&password=hunter2&client_secret=s",
        );
        assert!(!body.contains("hunter2"));
        assert!(!body.contains("=s"));
        assert!(body.contains("username=a"));
    }
}
