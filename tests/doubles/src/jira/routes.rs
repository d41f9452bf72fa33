//! The Jira REST surface: v3 (Cloud) and v2 (Data Center) routes over the shared state.
//!
//! Handlers parse and validate the wire shapes, call [`JiraState`](super::state::JiraState), and
//! render responses for the API version the caller used. Invariants: status codes and bodies
//! follow the spec/notes (201 create, 204 edit/transition/assign, ErrorCollection errors); a
//! malformed body is a 400 ErrorCollection, never a 500; the per-request [`Actor`] comes from the
//! auth middleware.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{middleware, Extension, Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use super::auth::{authenticate, Actor};
use super::error::JiraError;
use super::jql::{self, EvalContext};
use super::model::ApiVersion;
use super::render::{self, FieldSelection, IssueExtras};
use super::state::{JiraState, NewAttachment};
use super::JiraShared;
use crate::common::multipart;
use crate::common::observe::observe;
use crate::common::time_format::jira_timestamp;

#[derive(Clone)]
struct Ctx {
    shared: Arc<JiraShared>,
    version: ApiVersion,
}

type Reply = Result<Response, JiraError>;

/// Query string as a multimap.
struct Query(BTreeMap<String, Vec<String>>);

impl Query {
    fn parse(raw: Option<String>) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Query(map)
    }
    fn one(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str)
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }
    fn number(&self, name: &str, default: i64) -> Result<i64, JiraError> {
        match self.one(name) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                JiraError::bad_request(format!(
                    "The value '{v}' of parameter '{name}' is not a valid number."
                ))
            }),
        }
    }
    fn flag(&self, name: &str) -> bool {
        self.one(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

fn parse_json(bytes: &Bytes) -> Result<Value, JiraError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(JiraError::bad_request(
            "No content to map due to end-of-input",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        JiraError::bad_request(format!(
            "Unexpected character in JSON body (line {}, column {})",
            e.line(),
            e.column()
        ))
        .with_detail(e.to_string())
    })
}

fn json_reply(status: StatusCode, body: Value) -> Reply {
    Ok((status, Json(body)).into_response())
}

fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn issue_self(state: &JiraState, version: ApiVersion, id: u64) -> String {
    format!("{}/issue/{id}", render::api_base(state, version))
}

pub fn router(shared: Arc<JiraShared>) -> Router {
    let observer = shared.observer.clone();
    let api = |version| {
        let mut r = Router::new()
            .route("/myself", get(myself))
            .route("/serverInfo", get(server_info))
            .route("/project", get(list_projects))
            .route("/project/{project}", get(get_project))
            .route("/issue", post(create_issue))
            .route("/issue/bulk", post(bulk_create))
            .route(
                "/issue/createmeta/{project}/issuetypes",
                get(createmeta_issue_types),
            )
            .route(
                "/issue/createmeta/{project}/issuetypes/{issue_type}",
                get(createmeta_fields),
            )
            .route(
                "/issue/{key}",
                get(get_issue).put(edit_issue).delete(delete_issue),
            )
            .route(
                "/issue/{key}/transitions",
                get(get_transitions).post(do_transition),
            )
            .route("/issue/{key}/comment", get(get_comments).post(add_comment))
            .route(
                "/issue/{key}/comment/{id}",
                get(get_comment).put(update_comment).delete(delete_comment),
            )
            .route("/issue/{key}/assignee", put(assign))
            .route("/issue/{key}/changelog", get(changelog))
            .route("/issue/{key}/properties", get(list_properties))
            .route(
                "/issue/{key}/properties/{prop}",
                get(get_property).put(set_property).delete(delete_property),
            )
            .route("/issue/{key}/attachments", post(add_attachments))
            .route("/attachment/{id}", get(attachment_meta))
            .route("/attachment/content/{id}", get(attachment_content))
            .route("/search", get(legacy_search_get).post(legacy_search_post));
        if version == ApiVersion::V3 {
            r = r.route("/search/jql", get(search_jql_get).post(search_jql_post));
        }
        r.with_state(Ctx {
            shared: shared.clone(),
            version,
        })
    };
    Router::new()
        .nest("/rest/api/3", api(ApiVersion::V3))
        .nest("/rest/api/2", api(ApiVersion::V2))
        .fallback(unknown_resource)
        .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
        .layer(middleware::from_fn_with_state(observer, observe))
}

async fn unknown_resource(uri: axum::http::Uri) -> Response {
    JiraError::message(StatusCode::NOT_FOUND, format!("null for uri: {uri}")).into_response()
}

// ---- users, server, projects ------------------------------------------------------------------

async fn myself(State(ctx): State<Ctx>, Extension(Actor(actor)): Extension<Actor>) -> Reply {
    ctx.shared.read(|s| match s.user(&actor) {
        Some(u) => {
            let mut body = render::user_json(s, u, ctx.version);
            if let Some(map) = body.as_object_mut() {
                map.insert("locale".into(), json!("en_US"));
                map.insert("groups".into(), json!({"size": 1, "items": []}));
                map.insert("applicationRoles".into(), json!({"size": 1, "items": []}));
            }
            json_reply(StatusCode::OK, body)
        }
        None => Err(JiraError::message(
            StatusCode::UNAUTHORIZED,
            "You are not authenticated.",
        )),
    })
}

async fn server_info(State(ctx): State<Ctx>) -> Reply {
    let now = ctx.shared.clock.now_ms();
    let deployment = match ctx.version {
        ApiVersion::V3 => "Cloud",
        ApiVersion::V2 => "Server",
    };
    let version = match ctx.version {
        ApiVersion::V3 => ("1001.0.0-SNAPSHOT", json!([1001, 0, 0])),
        ApiVersion::V2 => ("10.3.2", json!([10, 3, 2])),
    };
    json_reply(
        StatusCode::OK,
        json!({
            "baseUrl": ctx.shared.base_url,
            "displayUrl": ctx.shared.base_url,
            "version": version.0,
            "versionNumbers": version.1,
            "deploymentType": deployment,
            "buildNumber": 100_000,
            "buildDate": "2026-01-01T00:00:00.000+0000",
            "serverTime": jira_timestamp(now),
            "scmInfo": "casebridge-doubles",
            "serverTitle": "casebridge Jira double",
            "serverTimeZone": "UTC",
        }),
    )
}

async fn list_projects(State(ctx): State<Ctx>) -> Reply {
    let body = ctx.shared.read(|s| {
        Value::Array(
            s.seed
                .projects
                .iter()
                .map(|p| render::project_json(s, p, ctx.version))
                .collect(),
        )
    });
    json_reply(StatusCode::OK, body)
}

async fn get_project(State(ctx): State<Ctx>, Path(project): Path<String>) -> Reply {
    ctx.shared.read(|s| match s.project_by_id_or_key(&project) {
        Some(p) => {
            let mut body = render::project_json(s, p, ctx.version);
            if let Some(map) = body.as_object_mut() {
                map.insert(
                    "issueTypes".into(),
                    Value::Array(
                        p.issue_types
                            .iter()
                            .map(|t| render::issue_type_json(s, t, ctx.version))
                            .collect(),
                    ),
                );
            }
            json_reply(StatusCode::OK, body)
        }
        None => Err(JiraError::message(
            StatusCode::NOT_FOUND,
            format!("No project could be found with key '{project}'."),
        )),
    })
}

async fn createmeta_issue_types(
    State(ctx): State<Ctx>,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let q = Query::parse(raw);
    let start = q.number("startAt", 0)?.max(0) as usize;
    let max = q.number("maxResults", 50)?;
    if max > 200 {
        return Err(JiraError::bad_request(
            "Parameter 'maxResults' must not exceed the limit '200'",
        ));
    }
    ctx.shared.read(|s| {
        let p = s.project_by_id_or_key(&project).ok_or_else(|| {
            JiraError::message(StatusCode::NOT_FOUND, format!("No project could be found with key '{project}'."))
        })?;
        let types: Vec<Value> = p
            .issue_types
            .iter()
            .skip(start)
            .take(max.max(0) as usize)
            .map(|t| render::issue_type_json(s, t, ctx.version))
            .collect();
        json_reply(
            StatusCode::OK,
            json!({"issueTypes": types, "maxResults": max, "startAt": start, "total": p.issue_types.len()}),
        )
    })
}

async fn createmeta_fields(
    State(ctx): State<Ctx>,
    Path((project, issue_type)): Path<(String, String)>,
) -> Reply {
    ctx.shared.read(|s| {
        let p = s.project_by_id_or_key(&project).ok_or_else(|| {
            JiraError::message(StatusCode::NOT_FOUND, format!("No project could be found with key '{project}'."))
        })?;
        if !p.issue_types.iter().any(|t| t.id == issue_type) {
            return Err(JiraError::message(StatusCode::NOT_FOUND, format!("Issue type with id '{issue_type}' does not exist.")));
        }
        let rich = if ctx.version == ApiVersion::V3 { "doc" } else { "string" };
        let field = |id: &str, name: &str, required: bool, schema: Value| {
            json!({"fieldId": id, "key": id, "name": name, "required": required, "schema": schema,
                   "operations": ["set"], "hasDefaultValue": false})
        };
        let priorities: Vec<Value> = s.seed.priorities.iter().map(|pr| render::priority_json(s, pr, ctx.version)).collect();
        let mut priority = field("priority", "Priority", false, json!({"type": "priority", "system": "priority"}));
        if let Some(map) = priority.as_object_mut() {
            map.insert("allowedValues".into(), Value::Array(priorities));
        }
        let fields = vec![
            field("summary", "Summary", true, json!({"type": "string", "system": "summary"})),
            field("issuetype", "Issue Type", true, json!({"type": "issuetype", "system": "issuetype"})),
            field("project", "Project", true, json!({"type": "project", "system": "project"})),
            field("description", "Description", false, json!({"type": rich, "system": "description"})),
            priority,
            field("labels", "Labels", false, json!({"type": "array", "items": "string", "system": "labels"})),
            field("assignee", "Assignee", false, json!({"type": "user", "system": "assignee"})),
            field("reporter", "Reporter", false, json!({"type": "user", "system": "reporter"})),
            field("duedate", "Due date", false, json!({"type": "date", "system": "duedate"})),
        ];
        let total = fields.len();
        json_reply(
            StatusCode::OK,
            json!({"fields": fields.clone(), "results": fields, "maxResults": 50, "startAt": 0, "total": total}),
        )
    })
}

// ---- issues -----------------------------------------------------------------------------------

async fn create_issue(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    body: Bytes,
) -> Reply {
    let body = parse_json(&body)?;
    let version = ctx.version;
    let created = ctx
        .shared
        .mutate(|s, now| s.create_issue(&actor, &body, version, now))?;
    let self_url = ctx.shared.read(|s| issue_self(s, version, created.id));
    let mut reply = json!({"id": created.id.to_string(), "key": created.key, "self": self_url});
    if let (Some(result), Some(map)) = (&created.transition, reply.as_object_mut()) {
        map.insert(
            "transition".into(),
            match result {
                Ok(()) => {
                    json!({"status": 204, "errorCollection": {"errorMessages": [], "errors": {}}})
                }
                Err(e) => json!({"status": e.status.as_u16(), "errorCollection": e.body()}),
            },
        );
    }
    json_reply(StatusCode::CREATED, reply)
}

async fn bulk_create(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    body: Bytes,
) -> Reply {
    let body = parse_json(&body)?;
    let Some(updates) = body.get("issueUpdates").and_then(Value::as_array) else {
        return Err(JiraError::bad_request(
            "'issueUpdates' must be an array of issue create requests.",
        ));
    };
    if updates.len() > 50 {
        return Err(JiraError::bad_request(
            "You can create at most 50 issues in one bulk request.",
        ));
    }
    let version = ctx.version;
    let mut issues = Vec::new();
    let mut errors = Vec::new();
    for (index, update) in updates.iter().enumerate() {
        match ctx
            .shared
            .mutate(|s, now| s.create_issue(&actor, update, version, now))
        {
            Ok(created) => {
                let self_url = ctx.shared.read(|s| issue_self(s, version, created.id));
                issues.push(
                    json!({"id": created.id.to_string(), "key": created.key, "self": self_url}),
                );
            }
            Err(e) => errors.push(json!({
                "elementErrors": e.body(),
                "failedElementNumber": index,
                "status": e.status.as_u16(),
            })),
        }
    }
    let status = if issues.is_empty() && !errors.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::CREATED
    };
    json_reply(status, json!({"issues": issues, "errors": errors}))
}

async fn get_issue(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let q = Query::parse(raw);
    let selection = FieldSelection::parse(&q.all("fields"), "*all");
    let extras = IssueExtras::parse(q.one("expand"), &q.all("properties"));
    ctx.shared.read(|s| {
        let issue = s.issue(&key)?;
        json_reply(
            StatusCode::OK,
            render::issue_json(s, issue, ctx.version, &selection, &extras),
        )
    })
}

async fn edit_issue(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Reply {
    let q = Query::parse(raw);
    let body = parse_json(&body)?;
    let version = ctx.version;
    ctx.shared
        .mutate(|s, now| s.edit_issue(&actor, &key, &body, version, now))?;
    if q.flag("returnIssue") {
        let extras = IssueExtras::parse(q.one("expand"), &[]);
        return ctx.shared.read(|s| {
            let issue = s.issue(&key)?;
            json_reply(
                StatusCode::OK,
                render::issue_json(s, issue, version, &FieldSelection::all(), &extras),
            )
        });
    }
    no_content()
}

async fn delete_issue(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path(key): Path<String>,
) -> Reply {
    ctx.shared
        .mutate(|s, now| s.delete_issue(&actor, &key, now))?;
    no_content()
}

async fn get_transitions(State(ctx): State<Ctx>, Path(key): Path<String>) -> Reply {
    ctx.shared.read(|s| {
        let issue = s.issue(&key)?;
        json_reply(
            StatusCode::OK,
            json!({"expand": "transitions", "transitions": s.transitions_json(issue, ctx.version)}),
        )
    })
}

async fn do_transition(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_json(&body)?;
    let version = ctx.version;
    ctx.shared
        .mutate(|s, now| s.do_transition(&actor, &key, &body, version, now))?;
    no_content()
}

async fn assign(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_json(&body)?;
    let version = ctx.version;
    ctx.shared.mutate(|s, now| {
        let issue = s.issue(&key)?.clone();
        let target = s.parse_assignee_body(&issue, &body, version)?;
        s.assign(&actor, &key, target, now)
    })?;
    no_content()
}

async fn changelog(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let q = Query::parse(raw);
    let start = q.number("startAt", 0)?.max(0) as usize;
    let max = q.number("maxResults", 100)?.clamp(1, 100) as usize;
    ctx.shared.read(|s| {
        let issue = s.issue(&key)?;
        let total = issue.changelog.len();
        let values: Vec<Value> = issue
            .changelog
            .iter()
            .skip(start)
            .take(max)
            .map(|e| render::changelog_entry_json(s, e, ctx.version))
            .collect();
        let base = format!(
            "{}/issue/{}/changelog",
            render::api_base(s, ctx.version),
            issue.key
        );
        let is_last = start + values.len() >= total;
        let mut body = json!({
            "self": format!("{base}?startAt={start}&maxResults={max}"),
            "maxResults": max,
            "startAt": start,
            "total": total,
            "isLast": is_last,
            "values": values,
        });
        if !is_last {
            if let Some(map) = body.as_object_mut() {
                map.insert(
                    "nextPage".into(),
                    json!(format!("{base}?startAt={}&maxResults={max}", start + max)),
                );
            }
        }
        json_reply(StatusCode::OK, body)
    })
}

// ---- comments -----------------------------------------------------------------------------------

async fn get_comments(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let q = Query::parse(raw);
    let start = q.number("startAt", 0)?.max(0) as usize;
    let max = q.number("maxResults", 5000)?.clamp(0, 5000) as usize;
    let order = q.one("orderBy").unwrap_or("created").to_string();
    if !matches!(order.as_str(), "created" | "-created" | "+created") {
        return Err(JiraError::bad_request(
            "orderBy must be 'created' or '-created'.",
        ));
    }
    ctx.shared.read(|s| {
        let issue = s.issue(&key)?;
        let mut comments: Vec<&super::model::Comment> = issue.comments.iter().collect();
        if order == "-created" {
            comments.reverse();
        }
        let page: Vec<Value> = comments
            .iter()
            .skip(start)
            .take(max)
            .map(|c| render::comment_json(s, issue, c, ctx.version))
            .collect();
        json_reply(
            StatusCode::OK,
            json!({"startAt": start, "maxResults": max, "total": issue.comments.len(), "comments": page}),
        )
    })
}

async fn get_comment(State(ctx): State<Ctx>, Path((key, id)): Path<(String, String)>) -> Reply {
    ctx.shared.read(|s| {
        let issue = s.issue(&key)?;
        let comment = issue
            .comments
            .iter()
            .find(|c| c.id.to_string() == id)
            .ok_or_else(|| {
                JiraError::message(
                    StatusCode::NOT_FOUND,
                    format!("Can not find a comment for the id: {id}."),
                )
            })?;
        json_reply(
            StatusCode::OK,
            render::comment_json(s, issue, comment, ctx.version),
        )
    })
}

fn comment_reply(ctx: &Ctx, key: &str, comment_id: u64, status: StatusCode) -> Reply {
    ctx.shared.read(|s| {
        let issue = s.issue(key)?;
        let comment = issue
            .comments
            .iter()
            .find(|c| c.id == comment_id)
            .ok_or_else(JiraError::issue_not_found)?;
        json_reply(status, render::comment_json(s, issue, comment, ctx.version))
    })
}

async fn add_comment(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_json(&body)?;
    let text =
        JiraState::parse_comment_body(body.get("body").unwrap_or(&Value::Null), ctx.version)?;
    let visibility = body.get("visibility").cloned().filter(|v| !v.is_null());
    let (_, comment_id) = ctx
        .shared
        .mutate(|s, now| s.add_comment(&actor, &key, text, visibility, now))?;
    comment_reply(&ctx, &key, comment_id, StatusCode::CREATED)
}

async fn update_comment(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = parse_json(&body)?;
    let text =
        JiraState::parse_comment_body(body.get("body").unwrap_or(&Value::Null), ctx.version)?;
    let visibility = body.get("visibility").cloned().filter(|v| !v.is_null());
    ctx.shared
        .mutate(|s, now| s.update_comment(&actor, &key, &id, text, visibility, now))?;
    let comment_id = id
        .parse::<u64>()
        .map_err(|_| JiraError::issue_not_found())?;
    comment_reply(&ctx, &key, comment_id, StatusCode::OK)
}

async fn delete_comment(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path((key, id)): Path<(String, String)>,
) -> Reply {
    ctx.shared
        .mutate(|s, now| s.delete_comment(&actor, &key, &id, now))?;
    no_content()
}

// ---- properties ---------------------------------------------------------------------------------

async fn list_properties(State(ctx): State<Ctx>, Path(key): Path<String>) -> Reply {
    ctx.shared.read(|s| {
        let issue = s.issue(&key)?;
        let base = format!(
            "{}/issue/{}/properties",
            render::api_base(s, ctx.version),
            issue.id
        );
        let keys: Vec<Value> = issue
            .properties
            .keys()
            .map(|k| json!({"self": format!("{base}/{k}"), "key": k}))
            .collect();
        json_reply(StatusCode::OK, json!({"keys": keys}))
    })
}

async fn get_property(State(ctx): State<Ctx>, Path((key, prop)): Path<(String, String)>) -> Reply {
    ctx.shared.read(|s| {
        let issue = s.issue(&key)?;
        match issue.properties.get(&prop) {
            Some(value) => json_reply(StatusCode::OK, json!({"key": prop, "value": value})),
            None => Err(JiraError::message(
                StatusCode::NOT_FOUND,
                format!("The property with key '{prop}' does not exist."),
            )),
        }
    })
}

async fn set_property(
    State(ctx): State<Ctx>,
    Path((key, prop)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let value = parse_json(&body)?;
    if body.len() > 32_768 {
        return Err(JiraError::bad_request(
            "The property value exceeds the maximum size of 32768 bytes.",
        ));
    }
    let created = ctx
        .shared
        .mutate(|s, _| s.set_property(&key, &prop, value))?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
    .into_response())
}

async fn delete_property(
    State(ctx): State<Ctx>,
    Path((key, prop)): Path<(String, String)>,
) -> Reply {
    ctx.shared.mutate(|s, _| s.delete_property(&key, &prop))?;
    no_content()
}

// ---- attachments --------------------------------------------------------------------------------

async fn add_attachments(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let token_ok = headers
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("no-check") || v.eq_ignore_ascii_case("nocheck"));
    if !token_ok {
        let mut response = (StatusCode::FORBIDDEN, "XSRF check failed").into_response();
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
        return Ok(response);
    }
    ctx.shared.read(|s| s.issue(&key).map(|_| ()))?;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parts = multipart::parse(content_type, &body).map_err(|e| {
        JiraError::message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Could not read the multipart request: {e}"),
        )
    })?;
    let files: Vec<NewAttachment> = parts
        .into_iter()
        .filter(|p| p.name == "file")
        .map(|p| NewAttachment {
            filename: p.filename.unwrap_or_else(|| "unnamed".into()),
            mime_type: p
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            data: p.data,
        })
        .collect();
    let version = ctx.version;
    let ids = ctx
        .shared
        .mutate(|s, now| s.add_attachments(&actor, &key, files, now))?;
    ctx.shared.read(|s| {
        let list: Vec<Value> = ids
            .iter()
            .filter_map(|id| s.attachment(&id.to_string()))
            .map(|(_, a)| render::attachment_json(s, a, version))
            .collect();
        json_reply(StatusCode::OK, Value::Array(list))
    })
}

async fn attachment_meta(State(ctx): State<Ctx>, Path(id): Path<String>) -> Reply {
    ctx.shared.read(|s| match s.attachment(&id) {
        Some((_, a)) => json_reply(StatusCode::OK, render::attachment_json(s, a, ctx.version)),
        None => Err(JiraError::message(
            StatusCode::NOT_FOUND,
            format!("The attachment with id '{id}' does not exist."),
        )),
    })
}

async fn attachment_content(State(ctx): State<Ctx>, Path(id): Path<String>) -> Reply {
    ctx.shared.read(|s| match s.attachment(&id) {
        Some((_, a)) => {
            let mut response = a.content.clone().into_response();
            if let Ok(v) = HeaderValue::from_str(&a.mime_type) {
                response.headers_mut().insert("content-type", v);
            }
            Ok(response)
        }
        None => Err(JiraError::message(
            StatusCode::NOT_FOUND,
            format!("The attachment with id '{id}' does not exist."),
        )),
    })
}

// ---- search -------------------------------------------------------------------------------------

/// Search inputs common to GET and POST.
struct SearchRequest {
    jql: String,
    max_results: Option<i64>,
    fields: Vec<String>,
    expand: Option<String>,
    properties: Vec<String>,
    next_page_token: Option<String>,
    start_at: i64,
}

fn strings(value: Option<&Value>) -> Result<Vec<String>, JiraError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| JiraError::bad_request("Expected an array of strings."))
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(_) => Err(JiraError::bad_request("Expected an array of strings.")),
    }
}

fn search_from_body(body: &Value) -> Result<SearchRequest, JiraError> {
    let obj = body
        .as_object()
        .ok_or_else(|| JiraError::bad_request("The search request must be a JSON object."))?;
    let expand = match obj.get("expand") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    Ok(SearchRequest {
        jql: obj
            .get("jql")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        max_results: obj.get("maxResults").and_then(Value::as_i64),
        fields: strings(obj.get("fields"))?,
        expand,
        properties: strings(obj.get("properties"))?,
        next_page_token: obj
            .get("nextPageToken")
            .and_then(Value::as_str)
            .map(str::to_string),
        start_at: obj.get("startAt").and_then(Value::as_i64).unwrap_or(0),
    })
}

fn search_from_query(q: &Query) -> Result<SearchRequest, JiraError> {
    Ok(SearchRequest {
        jql: q.one("jql").unwrap_or("").to_string(),
        max_results: match q.one("maxResults") {
            None => None,
            Some(_) => Some(q.number("maxResults", 50)?),
        },
        fields: q.all("fields"),
        expand: q.one("expand").map(str::to_string),
        properties: q.all("properties"),
        next_page_token: q.one("nextPageToken").map(str::to_string),
        start_at: q.number("startAt", 0)?,
    })
}

fn fingerprint(jql: &str) -> u64 {
    // FNV-1a: stable across runs, enough to tell queries apart.
    jql.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn encode_token(offset: usize, jql: &str) -> String {
    let raw = json!({"o": offset, "q": fingerprint(jql).to_string()}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_token(token: &str, jql: &str) -> Result<usize, JiraError> {
    let invalid = || JiraError::bad_request("The provided next page token is invalid or expired.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if value.get("q").and_then(Value::as_str) != Some(fingerprint(jql).to_string().as_str()) {
        return Err(invalid());
    }
    value
        .get("o")
        .and_then(Value::as_u64)
        .map(|o| o as usize)
        .ok_or_else(invalid)
}

fn run_query(
    ctx: &Ctx,
    actor: &str,
    jql_text: &str,
    require_bounded: bool,
) -> Result<Vec<u64>, JiraError> {
    let query = jql::parse(jql_text).map_err(|e| JiraError::bad_request(e.0))?;
    if require_bounded && !query.is_bounded() {
        return Err(JiraError::bad_request(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ));
    }
    let now = ctx.shared.clock.now_ms();
    ctx.shared.read(|s| {
        let eval_ctx = EvalContext {
            now_ms: now,
            current_user: s.current_user_facts(actor),
        };
        s.search(&query, &eval_ctx)
    })
}

fn search_jql(ctx: &Ctx, actor: &str, request: SearchRequest) -> Reply {
    let ids = run_query(ctx, actor, &request.jql, true)?;
    let selection = FieldSelection::parse(&request.fields, "id");
    let only_ids = request
        .fields
        .iter()
        .flat_map(|f| f.split(','))
        .all(|f| matches!(f.trim(), "id" | "key" | ""));
    let cap = if only_ids { 5000 } else { 100 };
    let max = request.max_results.unwrap_or(50).clamp(1, cap) as usize;
    let offset = match &request.next_page_token {
        Some(token) => decode_token(token, &request.jql)?,
        None => 0,
    };
    let extras = IssueExtras::parse(request.expand.as_deref(), &request.properties);
    ctx.shared.read(|s| {
        let page: Vec<Value> = ids
            .iter()
            .skip(offset)
            .take(max)
            .filter_map(|id| s.issues.get(id))
            .map(|issue| render::issue_json(s, issue, ctx.version, &selection, &extras))
            .collect();
        let next = offset + page.len();
        let is_last = next >= ids.len();
        let mut body = json!({"issues": page, "isLast": is_last});
        if let Some(map) = body.as_object_mut() {
            if !is_last {
                map.insert(
                    "nextPageToken".into(),
                    json!(encode_token(next, &request.jql)),
                );
            }
            if extras.expand.contains("names") {
                map.insert("names".into(), render::field_names());
            }
        }
        json_reply(StatusCode::OK, body)
    })
}

async fn search_jql_get(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let request = search_from_query(&Query::parse(raw))?;
    search_jql(&ctx, &actor, request)
}

async fn search_jql_post(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    body: Bytes,
) -> Reply {
    let request = search_from_body(&parse_json(&body)?)?;
    search_jql(&ctx, &actor, request)
}

/// v2 (Data Center) offset search; on v3 the endpoint has been removed (CHANGE-2046).
fn legacy_search(ctx: &Ctx, actor: &str, request: SearchRequest) -> Reply {
    if ctx.version == ApiVersion::V3 {
        return Err(JiraError::message(
            StatusCode::GONE,
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
        ));
    }
    let ids = run_query(ctx, actor, &request.jql, false)?;
    let selection = FieldSelection::parse(&request.fields, "*navigable");
    let max = request.max_results.unwrap_or(50).clamp(0, 1000) as usize;
    let start = request.start_at.max(0) as usize;
    let extras = IssueExtras::parse(request.expand.as_deref(), &request.properties);
    ctx.shared.read(|s| {
        let page: Vec<Value> = ids
            .iter()
            .skip(start)
            .take(max)
            .filter_map(|id| s.issues.get(id))
            .map(|issue| render::issue_json(s, issue, ctx.version, &selection, &extras))
            .collect();
        json_reply(
            StatusCode::OK,
            json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": ids.len(), "issues": page}),
        )
    })
}

async fn legacy_search_get(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let request = search_from_query(&Query::parse(raw))?;
    legacy_search(&ctx, &actor, request)
}

async fn legacy_search_post(
    State(ctx): State<Ctx>,
    Extension(Actor(actor)): Extension<Actor>,
    body: Bytes,
) -> Reply {
    let request = search_from_body(&parse_json(&body)?)?;
    legacy_search(&ctx, &actor, request)
}
