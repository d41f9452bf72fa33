//! The ServiceNow REST surface: Table API, Attachment API and the OAuth token endpoint.
//!
//! Invariants: list responses carry `X-Total-Count` and (unless suppressed) a `Link` header with
//! first/prev/next/last; POST answers 201 with `Location`; PATCH/PUT answer 200 with the full
//! record; DELETE answers 204; `X-no-response-body: true` drops the body of POST/PATCH/PUT;
//! `/api/now/v1/table` answers 404 for an empty list (v2 and unversioned answer `[]`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Extension, Json, Router};
use serde_json::{json, Map, Value};

use super::auth::{authenticate, token_endpoint, SnActor};
use super::error::SnError;
use super::query;
use super::render::{self, DisplayMode, ReadOptions};
use super::state::NewAttachment;
use super::ServiceNowShared;
use crate::common::observe::observe;

#[derive(Clone, Copy, PartialEq, Eq)]
enum TableApiVersion {
    Unversioned,
    V1,
    V2,
}

#[derive(Clone)]
struct Ctx {
    shared: Arc<ServiceNowShared>,
    version: TableApiVersion,
}

type Reply = Result<Response, SnError>;

struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(raw: &Option<String>) -> Self {
        Params(
            url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            display: DisplayMode::parse(self.get("sysparm_display_value")),
            exclude_reference_link: self.flag("sysparm_exclude_reference_link"),
            fields: self
                .get("sysparm_fields")
                .filter(|f| !f.trim().is_empty())
                .map(|f| {
                    f.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }),
        }
    }
}

pub fn router(shared: Arc<ServiceNowShared>) -> Router {
    let observer = shared.observer.clone();
    let table_api = |version| {
        Router::new()
            .route("/{table}", get(list).post(insert))
            .route(
                "/{table}/{sys_id}",
                get(get_one).put(update).patch(update).delete(delete_one),
            )
            .with_state(Ctx {
                shared: shared.clone(),
                version,
            })
    };
    let attachment_api = Router::new()
        .route("/", get(list_attachments))
        .route("/file", post(upload_attachment))
        .route("/{sys_id}", get(attachment_meta).delete(delete_attachment))
        .route("/{sys_id}/file", get(attachment_file))
        .with_state(Ctx {
            shared: shared.clone(),
            version: TableApiVersion::Unversioned,
        });
    let api = Router::new()
        .nest("/api/now/table", table_api(TableApiVersion::Unversioned))
        .nest("/api/now/v1/table", table_api(TableApiVersion::V1))
        .nest("/api/now/v2/table", table_api(TableApiVersion::V2))
        .nest("/api/now/attachment", attachment_api.clone())
        .nest("/api/now/v1/attachment", attachment_api)
        .fallback(unknown)
        .layer(middleware::from_fn_with_state(shared.clone(), authenticate));
    Router::new()
        .route("/oauth_token.do", post(token_endpoint))
        .with_state(shared)
        .merge(api)
        .layer(middleware::from_fn_with_state(observer, observe))
}

async fn unknown() -> Response {
    SnError::new(
        StatusCode::BAD_REQUEST,
        "Requested URI does not represent any resource",
        None,
    )
    .into_response()
}

fn result(status: StatusCode, value: Value) -> Response {
    (status, Json(json!({"result": value}))).into_response()
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, SnError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(SnError::bad_json()),
    }
}

fn wants_no_body(headers: &HeaderMap) -> bool {
    headers
        .get("x-no-response-body")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn link_header(base: &str, params: &Params, offset: usize, limit: usize, total: usize) -> String {
    let page = |new_offset: usize| {
        let mut pairs: BTreeMap<String, String> = params.0.clone();
        pairs.insert("sysparm_offset".into(), new_offset.to_string());
        pairs.insert("sysparm_limit".into(), limit.to_string());
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        format!("{base}?{query}")
    };
    let last = if total == 0 || limit == 0 {
        0
    } else {
        ((total - 1) / limit) * limit
    };
    let mut links = vec![format!("<{}>;rel=\"first\"", page(0))];
    if offset > 0 {
        links.push(format!(
            "<{}>;rel=\"prev\"",
            page(offset.saturating_sub(limit))
        ));
    }
    if offset + limit < total {
        links.push(format!("<{}>;rel=\"next\"", page(offset + limit)));
    }
    links.push(format!("<{}>;rel=\"last\"", page(last)));
    links.join(",")
}

async fn list(State(ctx): State<Ctx>, Path(table): Path<String>, RawQuery(raw): RawQuery) -> Reply {
    let params = Params::parse(&raw);
    let options = params.read_options();
    let limit = params
        .get("sysparm_limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10_000);
    let offset = params
        .get("sysparm_offset")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let (rows, total) = ctx.shared.read(|s| {
        let def = s.table(&table)?;
        let q = query::parse(params.get("sysparm_query").unwrap_or(""), def, &s.tables);
        let matched = s.list(def, &q);
        let total = matched.len();
        let rows: Vec<Value> = matched
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| render::record_json(s, def, r, &options))
            .collect();
        Ok::<_, SnError>((rows, total))
    })?;
    if rows.is_empty() && ctx.version == TableApiVersion::V1 {
        return Err(SnError::not_found());
    }
    let mut response = result(StatusCode::OK, Value::Array(rows));
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        response.headers_mut().insert("x-total-count", v);
    }
    if !params.flag("sysparm_suppress_pagination_header") {
        let base = format!("{}/api/now/table/{table}", ctx.shared.base_url);
        if let Ok(v) = HeaderValue::from_str(&link_header(&base, &params, offset, limit, total)) {
            response.headers_mut().insert("link", v);
        }
    }
    Ok(response)
}

async fn get_one(
    State(ctx): State<Ctx>,
    Path((table, sys_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let options = Params::parse(&raw).read_options();
    ctx.shared.read(|s| {
        let def = s.table(&table)?;
        let record = s.get(def.name, &sys_id).ok_or_else(SnError::not_found)?;
        Ok(result(
            StatusCode::OK,
            render::record_json(s, def, record, &options),
        ))
    })
}

async fn insert(
    State(ctx): State<Ctx>,
    Extension(SnActor(actor)): Extension<SnActor>,
    Path(table): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let params = Params::parse(&raw);
    let input = parse_object(&body)?;
    let input_display = params.flag("sysparm_input_display_value");
    let sys_id = ctx
        .shared
        .mutate(|s, now| s.insert(&actor, &table, &input, input_display, now))?;
    let location = format!("{}/api/now/table/{table}/{sys_id}", ctx.shared.base_url);
    let mut response = if wants_no_body(&headers) {
        StatusCode::CREATED.into_response()
    } else {
        let options = params.read_options();
        ctx.shared.read(|s| {
            let def = s.table(&table)?;
            let record = s.get(def.name, &sys_id).ok_or_else(SnError::not_found)?;
            Ok::<_, SnError>(result(
                StatusCode::CREATED,
                render::record_json(s, def, record, &options),
            ))
        })?
    };
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert("location", v);
    }
    Ok(response)
}

async fn update(
    State(ctx): State<Ctx>,
    Extension(SnActor(actor)): Extension<SnActor>,
    Path((table, sys_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let params = Params::parse(&raw);
    let input = parse_object(&body)?;
    let input_display = params.flag("sysparm_input_display_value");
    ctx.shared
        .mutate(|s, now| s.update(&actor, &table, &sys_id, &input, input_display, now))?;
    if wants_no_body(&headers) {
        return Ok(StatusCode::OK.into_response());
    }
    let options = params.read_options();
    ctx.shared.read(|s| {
        let def = s.table(&table)?;
        let record = s.get(def.name, &sys_id).ok_or_else(SnError::not_found)?;
        Ok(result(
            StatusCode::OK,
            render::record_json(s, def, record, &options),
        ))
    })
}

async fn delete_one(
    State(ctx): State<Ctx>,
    Path((table, sys_id)): Path<(String, String)>,
) -> Reply {
    ctx.shared.mutate(|s, _| s.delete(&table, &sys_id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- attachments -----------------------------------------------------------------------------------

fn attachment_json(base: &str, record: &serde_json::Map<String, Value>) -> Value {
    let mut out = record.clone();
    let sys_id = record
        .get("sys_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    out.insert(
        "download_link".into(),
        json!(format!("{base}/api/now/attachment/{sys_id}/file")),
    );
    Value::Object(out)
}

fn render_attachment(ctx: &Ctx, sys_id: &str) -> Result<Value, SnError> {
    ctx.shared.read(|s| {
        let def = s.table("sys_attachment")?;
        let record = s
            .get("sys_attachment", sys_id)
            .ok_or_else(SnError::not_found)?;
        let options = ReadOptions {
            display: DisplayMode::Value,
            exclude_reference_link: true,
            fields: None,
        };
        let value = render::record_json(s, def, record, &options);
        Ok(attachment_json(
            &s.base_url,
            value.as_object().unwrap_or(&Map::new()),
        ))
    })
}

async fn upload_attachment(
    State(ctx): State<Ctx>,
    Extension(SnActor(actor)): Extension<SnActor>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let params = Params::parse(&raw);
    for required in ["table_name", "table_sys_id", "file_name"] {
        if params.get(required).is_none_or(str::is_empty) {
            return Err(SnError::new(
                StatusCode::BAD_REQUEST,
                format!("Missing parameter: {required}"),
                None,
            ));
        }
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let file = NewAttachment {
        table_name: params.get("table_name").unwrap_or("").to_string(),
        table_sys_id: params.get("table_sys_id").unwrap_or("").to_string(),
        file_name: params.get("file_name").unwrap_or("").to_string(),
        content_type,
        data: body.to_vec(),
    };
    let sys_id = ctx
        .shared
        .mutate(|s, now| s.add_attachment(&actor, file, now))?;
    let value = render_attachment(&ctx, &sys_id)?;
    let mut response = result(StatusCode::CREATED, value);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}/api/now/attachment/{sys_id}",
        ctx.shared.base_url
    )) {
        response.headers_mut().insert("location", v);
    }
    Ok(response)
}

async fn list_attachments(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Reply {
    let params = Params::parse(&raw);
    let limit = params
        .get("sysparm_limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1000);
    let offset = params
        .get("sysparm_offset")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let (rows, total) = ctx.shared.read(|s| {
        let def = s.table("sys_attachment")?;
        let q = query::parse(params.get("sysparm_query").unwrap_or(""), def, &s.tables);
        let matched = s.list(def, &q);
        let total = matched.len();
        let options = ReadOptions {
            display: DisplayMode::Value,
            exclude_reference_link: true,
            fields: None,
        };
        let rows: Vec<Value> = matched
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| {
                let v = render::record_json(s, def, r, &options);
                attachment_json(&s.base_url, v.as_object().unwrap_or(&Map::new()))
            })
            .collect();
        Ok::<_, SnError>((rows, total))
    })?;
    let mut response = result(StatusCode::OK, Value::Array(rows));
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        response.headers_mut().insert("x-total-count", v);
    }
    Ok(response)
}

async fn attachment_meta(State(ctx): State<Ctx>, Path(sys_id): Path<String>) -> Reply {
    Ok(result(StatusCode::OK, render_attachment(&ctx, &sys_id)?))
}

async fn attachment_file(State(ctx): State<Ctx>, Path(sys_id): Path<String>) -> Reply {
    ctx.shared.read(|s| {
        let record = s
            .get("sys_attachment", &sys_id)
            .ok_or_else(SnError::not_found)?;
        let content = s
            .attachment_content(&sys_id)
            .ok_or_else(SnError::not_found)?
            .to_vec();
        let mut response = content.into_response();
        if let Some(ct) = record
            .get("content_type")
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            response.headers_mut().insert("content-type", ct);
        }
        Ok(response)
    })
}

async fn delete_attachment(State(ctx): State<Ctx>, Path(sys_id): Path<String>) -> Reply {
    ctx.shared
        .mutate(|s, _| s.delete("sys_attachment", &sys_id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
