//! Timestamp renderings the two products use on the wire.
//!
//! Jira: `2021-01-17T12:34:00.000+0000`. ServiceNow: `2021-01-17 12:34:00` (UTC, one-second
//! resolution). Invariant: every function takes epoch milliseconds (UTC) and never panics on
//! out-of-range input (it falls back to the epoch).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

fn to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| Utc.timestamp_millis_opt(0).single().unwrap_or_default())
}

/// Jira's REST timestamp format, e.g. `2021-01-17T12:34:00.000+0000`.
pub fn jira_timestamp(ms: i64) -> String {
    to_datetime(ms)
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// ServiceNow's `glide_date_time` value format in UTC, e.g. `2021-01-17 12:34:00`.
pub fn servicenow_timestamp(ms: i64) -> String {
    to_datetime(ms).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Parses ServiceNow's `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD`) as UTC epoch milliseconds.
pub fn parse_servicenow_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(dt) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Some(dt.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_millis())
}

/// ISO-8601 minute-precision timestamp used by Jira's `X-RateLimit-Reset` (`yyyy-MM-ddTHH:mmZ`).
pub fn iso_minute(ms: i64) -> String {
    to_datetime(ms).format("%Y-%m-%dT%H:%MZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_products_formats() {
        let ms = 1_610_886_840_123; // 2021-01-17T12:34:00.123Z
        assert_eq!(jira_timestamp(ms), "2021-01-17T12:34:00.123+0000");
        assert_eq!(servicenow_timestamp(ms), "2021-01-17 12:34:00");
        assert_eq!(
            parse_servicenow_timestamp("2021-01-17 12:34:00"),
            Some(1_610_886_840_000)
        );
        assert_eq!(iso_minute(ms), "2021-01-17T12:34Z");
    }
}
