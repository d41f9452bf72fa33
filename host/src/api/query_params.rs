//! Query-string parameters with JSON:API errors (`page[size]=abc` is a named 400, not axum's
//! plain-text rejection).
//!
//! Invariants: unknown parameters are ignored; a repeated parameter keeps its last value; every
//! refusal names the parameter and what it accepts.

use std::collections::HashMap;

use super::error::ApiError;

/// Decoded query parameters.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    /// Parses a raw query string (`None` when the URI has none).
    pub fn parse(raw: Option<&str>) -> QueryParams {
        QueryParams(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A string parameter; empty values count as absent.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// An integer parameter within `min..=max`, `default` when absent.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(raw) = self.str(name) else {
            return Ok(default);
        };
        let value: i64 = raw.trim().parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid parameter {name:?}: {raw:?} is not an integer"
            ))
        })?;
        if value < min || value > max {
            return Err(ApiError::bad_request(format!(
                "invalid parameter {name:?}: must be between {min} and {max}, got {value}"
            )));
        }
        Ok(value)
    }

    /// A boolean parameter (`true` / `false`), `default` when absent.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.str(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "invalid parameter {name:?}: {v:?} is not true or false"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_names_are_decoded() {
        let params = QueryParams::parse(Some("page%5Bsize%5D=2&filter=status%3Aclosed"));
        assert_eq!(params.int("page[size]", 10, 1, 100).unwrap(), 2);
        assert_eq!(params.str("filter"), Some("status:closed"));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let params = QueryParams::parse(Some("page[size]=abc&sort[asc]=maybe&page[number]=-1"));
        assert!(params
            .int("page[size]", 10, 1, 100)
            .unwrap_err()
            .detail
            .contains("page[size]"));
        assert!(params.bool("sort[asc]", false).is_err());
        assert!(params.int("page[number]", 0, 0, 1000).is_err());
        assert_eq!(params.int("absent", 7, 0, 10).unwrap(), 7);
    }
}
