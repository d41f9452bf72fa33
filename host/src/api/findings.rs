//! ListSecurityFindings (`GET /api/v2/security/findings`) and SearchSecurityFindings
//! (`POST /api/v2/security/findings/search`).
//!
//! Why: the official Datadog clients list and page findings through these two operations;
//! casebridge answers them with the same envelope (findings-schema.md §2).
//!
//! Invariants:
//! - `filter[query]` / `data.attributes.filter` default to `*`; a query that does not parse is a
//!   400 naming the parameter, the byte position and the cause.
//! - `page[limit]` / `page.limit` is 1–150 (default 10); `sort` is `@detection_changed_at` or
//!   `-@detection_changed_at` (default descending); anything else is a 400 naming it.
//! - `meta.page.after` (and `links.next`) are present only when another matching finding exists
//!   (or the scan budget ran out: `meta.status: "timeout"`); the cursor is opaque, encodes the
//!   last position served and the sort it belongs to, and a cursor that is not one of ours, or
//!   is sent with the other sort, is a 400.
//! - `attributes.timestamp` is `detection_changed_at`, in milliseconds.

use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use base64::Engine;
use casebridge_query::{ParseError, Query};
use serde_json::{json, Map, Value};

use super::auth::{Principal, Scope};
use super::body::Field;
use super::error::{ApiError, ApiResult};
use super::json::JsonApi;
use super::AppState;
use crate::domain::finding::wire::api_item;
use crate::store::findings::{ListPosition, ListRequest, ScanBudget, SortDirection};
use crate::store::now_ms;

/// Path of ListSecurityFindings (also the base of `links.next`).
pub const LIST_PATH: &str = "/api/v2/security/findings";
/// Default and bounds of the page size.
pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 150;

const SORT_ASC: &str = "@detection_changed_at";
const SORT_DESC: &str = "-@detection_changed_at";

/// A list or search request after validation.
#[derive(Debug)]
struct Listing {
    query_text: String,
    query: Query,
    limit: usize,
    cursor: Option<ListPosition>,
    direction: SortDirection,
}

fn invalid_parameter(name: &str, expected: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "invalid parameter {name:?} in \"query\"; {expected}"
    ))
    .with_title("Invalid Parameter")
}

fn describe_parse_error(text: &str, err: &ParseError) -> String {
    format!(
        "invalid query at position {}: {} (query: {text:?})",
        err.position, err.kind
    )
}

fn parse_direction(text: Option<&str>) -> Option<SortDirection> {
    match text {
        None => Some(SortDirection::Descending),
        Some(SORT_DESC) => Some(SortDirection::Descending),
        Some(SORT_ASC) => Some(SortDirection::Ascending),
        Some(_) => None,
    }
}

fn sort_name(direction: SortDirection) -> &'static str {
    match direction {
        SortDirection::Ascending => SORT_ASC,
        SortDirection::Descending => SORT_DESC,
    }
}

/// The opaque cursor: base64url of `{"d": detection_changed_at, "i": id, "s": sort}`.
fn encode_cursor(position: &ListPosition, direction: SortDirection) -> String {
    let payload = json!({
        "d": position.detection_changed_at,
        "i": position.id,
        "s": sort_name(direction),
    });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string())
}

/// Why a cursor was refused (the caller names the parameter).
fn decode_cursor(text: &str, direction: SortDirection) -> Result<ListPosition, String> {
    let not_ours = || "not a cursor issued by this API (use meta.page.after as given)".to_string();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| not_ours())?;
    let payload: Value = serde_json::from_slice(&bytes).map_err(|_| not_ours())?;
    let (Some(at), Some(id), Some(sort)) = (
        payload.get("d").and_then(Value::as_i64),
        payload.get("i").and_then(Value::as_str),
        payload.get("s").and_then(Value::as_str),
    ) else {
        return Err(not_ours());
    };
    if id.chars().any(char::is_control) {
        return Err(not_ours());
    }
    if sort != sort_name(direction) {
        return Err(format!(
            "the cursor was issued for sort {sort:?}, but this request sorts by {:?}; send the same sort",
            sort_name(direction)
        ));
    }
    Ok(ListPosition {
        detection_changed_at: at,
        id: id.to_string(),
    })
}

/// `GET /api/v2/security/findings`.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::FindingsRead)?;
    let started = Instant::now();
    let listing = listing_from_query_string(raw.as_deref().unwrap_or(""))?;
    respond(&state, &headers, listing, started)
        .await
        .map(JsonApi)
}

/// `POST /api/v2/security/findings/search`.
pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    JsonApi(body): JsonApi<Value>,
) -> ApiResult<JsonApi<Value>> {
    principal.require(Scope::FindingsRead)?;
    let started = Instant::now();
    let listing = listing_from_search_body(&body)?;
    respond(&state, &headers, listing, started)
        .await
        .map(JsonApi)
}

fn listing_from_query_string(raw: &str) -> Result<Listing, ApiError> {
    let mut filter: Option<String> = None;
    let mut limit: Option<String> = None;
    let mut cursor: Option<String> = None;
    let mut sort: Option<String> = None;
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let slot = match key.as_ref() {
            "filter[query]" => &mut filter,
            "page[limit]" => &mut limit,
            "page[cursor]" => &mut cursor,
            "sort" => &mut sort,
            _ => continue,
        };
        if slot.is_some() {
            return Err(invalid_parameter(&key, "it was given more than once"));
        }
        *slot = Some(value.into_owned());
    }
    let direction = parse_direction(sort.as_deref()).ok_or_else(|| {
        invalid_parameter(
            "sort",
            format!(
                "expected one of {SORT_ASC:?}, {SORT_DESC:?}, got {:?}",
                sort.as_deref().unwrap_or_default()
            ),
        )
    })?;
    let limit = match limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
            _ => {
                return Err(invalid_parameter(
                    "page[limit]",
                    format!("expected an integer between 1 and {MAX_LIMIT}, got {text:?}"),
                ))
            }
        },
    };
    let cursor = match cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(
            decode_cursor(text, direction).map_err(|why| invalid_parameter("page[cursor]", why))?,
        ),
    };
    let query_text = filter.unwrap_or_else(|| "*".to_string());
    let query = Query::parse(&query_text).map_err(|err| {
        invalid_parameter("filter[query]", describe_parse_error(&query_text, &err))
    })?;
    Ok(Listing {
        query_text,
        query,
        limit,
        cursor,
        direction,
    })
}

fn listing_from_search_body(body: &Value) -> Result<Listing, ApiError> {
    let root = Field::root(body);
    root.required_object()?;
    let data = root.get("data");
    data.object()?;
    let attributes = data.get("attributes");
    attributes.object()?;
    let sort_field = attributes.get("sort");
    let sort = sort_field.string()?;
    let direction = parse_direction(sort).ok_or_else(|| {
        sort_field.error(format!(
            "expected one of {SORT_ASC:?}, {SORT_DESC:?}, got {:?}",
            sort.unwrap_or_default()
        ))
    })?;
    let page = attributes.get("page");
    page.object()?;
    let limit_field = page.get("limit");
    let limit = match limit_field.value() {
        None => DEFAULT_LIMIT,
        Some(value) => match value.as_i64() {
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
            _ => {
                return Err(limit_field.error(format!(
                    "must be an integer between 1 and {MAX_LIMIT}, got {value}"
                )))
            }
        },
    };
    let cursor_field = page.get("cursor");
    let cursor = match cursor_field.string()?.filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(decode_cursor(text, direction).map_err(|why| cursor_field.error(why))?),
    };
    let filter_field = attributes.get("filter");
    let query_text = filter_field.string()?.unwrap_or("*").to_string();
    let query = Query::parse(&query_text)
        .map_err(|err| filter_field.error(describe_parse_error(&query_text, &err)))?;
    Ok(Listing {
        query_text,
        query,
        limit,
        cursor,
        direction,
    })
}

/// The URL of the next page, as a GET (absolute when the request named its host).
fn next_link(headers: &HeaderMap, listing: &Listing, cursor: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filter[query]", &listing.query_text)
        .append_pair("page[cursor]", cursor)
        .append_pair("page[limit]", &listing.limit.to_string())
        .append_pair("sort", sort_name(listing.direction))
        .finish();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()));
    match host {
        Some(host) => {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .filter(|p| *p == "https" || *p == "http")
                .unwrap_or("http");
            format!("{scheme}://{host}{LIST_PATH}?{query}")
        }
        None => format!("{LIST_PATH}?{query}"),
    }
}

async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    listing: Listing,
    started: Instant,
) -> Result<Value, ApiError> {
    let page = state
        .store
        .list_findings(&ListRequest {
            query: &listing.query,
            limit: listing.limit,
            after: listing.cursor.clone(),
            direction: listing.direction,
            now: now_ms(),
            budget: ScanBudget::default(),
        })
        .await?;
    let data: Vec<Value> = page
        .findings
        .iter()
        .map(|listed| api_item(&listed.finding, listed.integrations.as_ref()))
        .collect();
    let mut links = Map::new();
    let mut page_meta = Map::new();
    if let Some(next) = &page.next {
        let cursor = encode_cursor(next, listing.direction);
        links.insert(
            "next".into(),
            Value::String(next_link(headers, &listing, &cursor)),
        );
        page_meta.insert("after".into(), Value::String(cursor));
    }
    Ok(json!({
        "data": data,
        "links": links,
        "meta": {
            "elapsed": started.elapsed().as_millis() as u64,
            "page": page_meta,
            "request_id": uuid::Uuid::new_v4().simple().to_string(),
            "status": if page.timed_out { "timeout" } else { "done" },
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_sort() {
        let position = ListPosition {
            detection_changed_at: 1_767_225_601_000,
            id: "ZGVm~x==".into(),
        };
        let cursor = encode_cursor(&position, SortDirection::Descending);
        assert_eq!(
            decode_cursor(&cursor, SortDirection::Descending).unwrap(),
            position
        );
        let err = decode_cursor(&cursor, SortDirection::Ascending).unwrap_err();
        assert!(
            err.contains("issued for sort \"-@detection_changed_at\""),
            "{err}"
        );
        assert!(decode_cursor("not-a-cursor", SortDirection::Descending).is_err());
        assert!(
            decode_cursor("e30", SortDirection::Descending).is_err(),
            "{{}} is not a cursor"
        );
    }

    #[test]
    fn query_string_defaults() {
        let listing = listing_from_query_string("").unwrap();
        assert_eq!(listing.limit, 10);
        assert_eq!(listing.direction, SortDirection::Descending);
        assert!(listing.query.is_match_all());
    }

    #[test]
    fn bracketed_parameters_may_be_percent_encoded() {
        let listing = listing_from_query_string(
            "filter%5Bquery%5D=%40severity%3Ahigh&page%5Blimit%5D=25&sort=%40detection_changed_at",
        )
        .unwrap();
        assert_eq!(listing.limit, 25);
        assert_eq!(listing.query_text, "@severity:high");
        assert_eq!(listing.direction, SortDirection::Ascending);
    }

    #[test]
    fn out_of_range_limits_name_the_parameter() {
        for bad in ["0", "151", "ten", "-1"] {
            let err = listing_from_query_string(&format!("page[limit]={bad}")).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(
                err.detail.starts_with("invalid parameter \"page[limit]\""),
                "{}",
                err.detail
            );
        }
    }

    #[test]
    fn a_bad_query_reports_position_and_cause() {
        let err = listing_from_query_string("filter[query]=%40severity%3A(critical").unwrap_err();
        assert!(err.detail.contains("\"filter[query]\""), "{}", err.detail);
        assert!(err.detail.contains("position 10"), "{}", err.detail);
        assert!(err.detail.contains("never closed"), "{}", err.detail);
    }

    #[test]
    fn search_body_errors_name_their_path() {
        let err =
            listing_from_search_body(&json!({"data": {"attributes": {"page": {"limit": 0}}}}))
                .unwrap_err();
        assert_eq!(
            err.detail,
            "data.attributes.page.limit: must be an integer between 1 and 150, got 0"
        );
        let err = listing_from_search_body(&json!({"data": {"attributes": {"sort": "title"}}}))
            .unwrap_err();
        assert!(
            err.detail
                .starts_with("data.attributes.sort: expected one of"),
            "{}",
            err.detail
        );
    }
}
