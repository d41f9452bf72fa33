//! ServiceNow authentication: Basic (user_name:password) and OAuth bearer tokens issued by
//! `POST /oauth_token.do` (`password` and `refresh_token` grants; `client_credentials` only when
//! enabled, as with `glide.oauth.inbound.client.credential.grant_type.enabled`).
//!
//! Invariants: tokens expire by the double's clock (so tests advance the clock instead of
//! sleeping); a refresh keeps the refresh token and issues a new access token; every token
//! failure answers 401 `{"error":"server_error","error_description":"access_denied"}`; API
//! requests without valid credentials get the 401 error envelope.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::SnError;
use super::ServiceNowShared;

/// The user name a request is authenticated as.
#[derive(Clone, Debug)]
pub struct SnActor(pub String);

/// OAuth behaviour, adjustable at runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OAuthSettings {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub client_credentials_enabled: bool,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            access_token_ttl_secs: 1800,
            refresh_token_ttl_secs: 100 * 24 * 3600,
            client_credentials_enabled: false,
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    user_name: String,
    client_id: String,
    expires_ms: i64,
}

/// Issued tokens.
#[derive(Debug, Default)]
pub struct TokenStore {
    access: HashMap<String, Token>,
    refresh: HashMap<String, Token>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenStore {
    pub fn clear(&mut self) {
        self.access.clear();
        self.refresh.clear();
    }

    fn user_for_access(&self, token: &str, now: i64) -> Option<String> {
        self.access
            .get(token)
            .filter(|t| t.expires_ms > now)
            .map(|t| t.user_name.clone())
    }
}

fn access_denied() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "server_error", "error_description": "access_denied"})),
    )
        .into_response()
}

fn check_password(shared: &ServiceNowShared, user_name: &str, password: &str) -> bool {
    shared.read(|s| {
        s.seed.users.iter().any(|u| {
            u.active && u.user_name == user_name && u.password.as_deref() == Some(password)
        })
    })
}

/// `POST /oauth_token.do`.
pub async fn token_endpoint(State(shared): State<Arc<ServiceNowShared>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let settings = shared.oauth_settings();
    let client_ok = shared.read(|s| {
        s.seed
            .oauth_clients
            .iter()
            .find(|c| {
                c.client_id == field("client_id") && c.client_secret == field("client_secret")
            })
            .cloned()
    });
    let Some(client) = client_ok else {
        return access_denied();
    };
    let now = shared.clock.now_ms();
    let user_name = match field("grant_type") {
        "password" => {
            if !check_password(&shared, field("username"), field("password")) {
                return access_denied();
            }
            field("username").to_string()
        }
        "refresh_token" => {
            let tokens = shared.tokens();
            match tokens.refresh.get(field("refresh_token")) {
                Some(t) if t.expires_ms > now && t.client_id == client.client_id => {
                    t.user_name.clone()
                }
                _ => return access_denied(),
            }
        }
        "client_credentials" if settings.client_credentials_enabled => {
            match &client.application_user {
                Some(user) => user.clone(),
                None => return access_denied(),
            }
        }
        _ => return access_denied(),
    };
    let access = random_token();
    let refresh = if field("grant_type") == "refresh_token" {
        field("refresh_token").to_string()
    } else {
        random_token()
    };
    {
        let mut tokens = shared.tokens();
        tokens.access.insert(
            access.clone(),
            Token {
                user_name: user_name.clone(),
                client_id: client.client_id.clone(),
                expires_ms: now + settings.access_token_ttl_secs as i64 * 1000,
            },
        );
        if field("grant_type") != "refresh_token" {
            tokens.refresh.insert(
                refresh.clone(),
                Token {
                    user_name,
                    client_id: client.client_id.clone(),
                    expires_ms: now + settings.refresh_token_ttl_secs as i64 * 1000,
                },
            );
        }
    }
    let mut body = json!({
        "access_token": access,
        "scope": "useraccount",
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_secs,
    });
    if field("grant_type") != "client_credentials" {
        if let Some(map) = body.as_object_mut() {
            map.insert("refresh_token".into(), json!(refresh));
        }
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// Resolves an `Authorization` header to a user name.
pub fn user_for(shared: &ServiceNowShared, header: &str) -> Option<String> {
    let (scheme, credential) = header.trim().split_once(' ')?;
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credential)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        return check_password(shared, user, password).then(|| user.to_string());
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let now = shared.clock.now_ms();
        return shared.tokens().user_for_access(credential, now);
    }
    None
}

/// Middleware for `/api/now/…`.
pub async fn authenticate(
    State(shared): State<Arc<ServiceNowShared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match header.and_then(|h| user_for(&shared, &h)) {
        Some(user) => {
            request.extensions_mut().insert(SnActor(user));
            next.run(request).await
        }
        None => {
            let mut response = SnError::unauthenticated().into_response();
            if let Ok(v) = "Basic realm=\"Service-now\"".parse() {
                response.headers_mut().insert("www-authenticate", v);
            }
            response
        }
    }
}
