//! API keys and the users that own them.
//!
//! Why: Datadog clients authenticate with `DD-API-KEY` + `DD-APPLICATION-KEY` (or a bearer
//! token); casebridge checks those against keys it stores hashed, each with scopes.
//! Invariants: clear key values exist only in the return value of [`Store::create_api_key`];
//! the database holds SHA-256 digests; a revoked key never authenticates.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{now_ms, Store, StoreError};

/// The clear values of a new key pair, shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewApiKey {
    pub id: String,
    pub user_id: String,
    pub api_key: String,
    pub app_key: String,
}

/// A stored key, as authentication sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub user_handle: String,
    pub user_name: String,
    pub scopes: Vec<String>,
}

/// SHA-256 hex digest of a key value.
pub fn key_digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

impl Store {
    /// Creates a key pair owned by the user `handle` (created if new) with the given scopes.
    pub async fn create_api_key(
        &self,
        name: &str,
        handle: &str,
        scopes: &[String],
    ) -> Result<NewApiKey, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let existing = sqlx::query("SELECT id FROM users WHERE handle = $1")
            .bind(handle)
            .fetch_optional(&mut *tx)
            .await?;
        let user_id = match existing {
            Some(row) => row.try_get::<String, _>("id")?,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                sqlx::query(
                    "INSERT INTO users (id, handle, name, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&id)
                .bind(handle)
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        // Datadog API keys are 32 hex characters, application keys 40.
        let key = NewApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.clone(),
            api_key: random_hex(16),
            app_key: random_hex(20),
        };
        sqlx::query(
            "INSERT INTO api_keys (id, name, user_id, api_key_hash, app_key_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(name)
        .bind(&user_id)
        .bind(key_digest(&key.api_key))
        .bind(key_digest(&key.app_key))
        .bind(scopes.join(","))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    /// The live key whose API key and application key digests match (both must belong to it).
    pub async fn find_api_key(
        &self,
        api_key: &str,
        app_key: &str,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        self.find_key_where(
            "k.api_key_hash = $1 AND k.app_key_hash = $2",
            &[key_digest(api_key), key_digest(app_key)],
        )
        .await
    }

    /// The live key whose application key matches (bearer authentication).
    pub async fn find_api_key_by_app_key(
        &self,
        app_key: &str,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        self.find_key_where("k.app_key_hash = $1", &[key_digest(app_key)])
            .await
    }

    async fn find_key_where(
        &self,
        condition: &str,
        digests: &[String],
    ) -> Result<Option<StoredApiKey>, StoreError> {
        let sql = format!(
            "SELECT k.id, k.name, k.user_id, k.scopes, u.handle, u.name AS user_name \
             FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE {condition} AND k.revoked_at IS NULL"
        );
        let mut query = sqlx::query(&sql);
        for digest in digests {
            query = query.bind(digest);
        }
        let Some(row) = query.fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let scopes: String = row.try_get("scopes")?;
        Ok(Some(StoredApiKey {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            user_id: row.try_get("user_id")?,
            user_handle: row.try_get("handle")?,
            user_name: row.try_get("user_name")?,
            scopes: scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }))
    }

    /// Revokes a key by id; returns whether a live key was revoked.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
