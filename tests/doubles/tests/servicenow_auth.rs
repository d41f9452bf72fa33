//! ServiceNow double: Basic auth, OAuth tokens from `/oauth_token.do` (password, refresh,
//! client_credentials), expiry by the double's clock, and the 401 envelope.

mod support;

use std::time::Duration;

use casebridge_doubles::servicenow::auth::OAuthSettings;
use casebridge_doubles::servicenow::tables::seed_names;
use serde_json::{json, Value};
use support::{client, servicenow};

async fn token(base: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(format!("{base}/oauth_token.do"))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn password_grant_tokens_authenticate_until_they_expire_and_refresh_renews_them() {
    let double = servicenow().await;
    let base = double.base_url().to_string();
    let creds = double.credentials();
    let r = token(
        &base,
        &[
            ("grant_type", "password"),
            ("client_id", &creds.client_id),
            ("client_secret", &creds.client_secret),
            ("username", &creds.username),
            ("password", &creds.password),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let issued: Value = r.json().await.unwrap();
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["expires_in"], 1800);
    assert_eq!(issued["scope"], "useraccount");
    let access = issued["access_token"].as_str().unwrap().to_string();
    let refresh = issued["refresh_token"].as_str().unwrap().to_string();

    let get = |token: String| {
        let base = base.clone();
        async move {
            client()
                .get(format!("{base}/api/now/table/incident"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(get(access.clone()).await.status(), 200);
    let created = client()
        .post(format!("{base}/api/now/table/incident"))
        .bearer_auth(&access)
        .json(&json!({"short_description": "via oauth"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(created["result"]["sys_created_by"], seed_names::API_USER);

    double.advance_clock(Duration::from_secs(1801));
    let expired = get(access.clone()).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap(),
        json!({"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"})
    );

    let r = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &creds.client_id),
            ("client_secret", &creds.client_secret),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let renewed: Value = r.json().await.unwrap();
    assert_ne!(renewed["access_token"], issued["access_token"]);
    assert_eq!(renewed["refresh_token"], refresh);
    assert_eq!(
        get(renewed["access_token"].as_str().unwrap().to_string())
            .await
            .status(),
        200
    );

    let bad_refresh = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &creds.client_id),
            ("client_secret", &creds.client_secret),
            ("refresh_token", "nope"),
        ],
    )
    .await;
    assert_eq!(bad_refresh.status(), 401);
    assert_eq!(
        bad_refresh.json::<Value>().await.unwrap(),
        json!({"error": "server_error", "error_description": "access_denied"})
    );
}

#[tokio::test]
async fn token_expiry_and_client_credentials_are_configurable() {
    let double = servicenow().await;
    let base = double.base_url().to_string();
    let creds = double.credentials();
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", creds.client_id.as_str()),
        ("client_secret", creds.client_secret.as_str()),
    ];
    assert_eq!(
        token(&base, &cc).await.status(),
        401,
        "client_credentials is off by default"
    );
    double.set_oauth_settings(OAuthSettings {
        access_token_ttl_secs: 5,
        refresh_token_ttl_secs: 60,
        client_credentials_enabled: true,
    });
    let r = token(&base, &cc).await;
    assert_eq!(r.status(), 200);
    let issued: Value = r.json().await.unwrap();
    assert_eq!(issued["expires_in"], 5);
    assert!(issued.get("refresh_token").is_none());
    let access = issued["access_token"].as_str().unwrap();
    let ok = client()
        .get(format!("{base}/api/now/table/sys_user"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    double.advance_clock(Duration::from_secs(6));
    let late = client()
        .get(format!("{base}/api/now/table/sys_user"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 401);

    let pw = token(
        &base,
        &[
            ("grant_type", "password"),
            ("client_id", &creds.client_id),
            ("client_secret", &creds.client_secret),
            ("username", &creds.username),
            ("password", &creds.password),
        ],
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    double.advance_clock(Duration::from_secs(61));
    let r = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &creds.client_id),
            ("client_secret", &creds.client_secret),
            ("refresh_token", pw["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(r.status(), 401, "refresh tokens expire too");
}

#[tokio::test]
async fn wrong_credentials_are_refused_everywhere() {
    let double = servicenow().await;
    let base = double.base_url().to_string();
    let creds = double.credentials();
    for form in [
        vec![
            ("grant_type", "password"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", "wrong"),
            ("username", creds.username.as_str()),
            ("password", creds.password.as_str()),
        ],
        vec![
            ("grant_type", "password"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
            ("username", creds.username.as_str()),
            ("password", "wrong"),
        ],
        vec![
            ("grant_type", "magic"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
        ],
    ] {
        let r = token(&base, &form).await;
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error_description"],
            "access_denied"
        );
    }
    let r = client()
        .get(format!("{base}/api/now/table/incident"))
        .basic_auth(&creds.username, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["message"],
        "User Not Authenticated"
    );
    let r = client()
        .get(format!("{base}/api/now/table/incident"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let log = double.requests();
    assert!(
        log.iter()
            .all(|r| !r.body.contains(&creds.password) && !r.body.contains(&creds.client_secret)),
        "secrets never reach the request log"
    );
    assert_eq!(log.last().unwrap().auth_scheme, "none");
    assert_eq!(log[log.len() - 2].auth_scheme, "basic");
}
