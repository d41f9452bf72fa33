//! Throwaway databases for tests, on both engines.
//!
//! Why: the same storage suite runs on SQLite and PostgreSQL; each test needs an empty database
//! that no other concurrently running test touches.
//! Invariants: SQLite databases live in a temp dir removed on drop; PostgreSQL tests get their own
//! schema (via `search_path`) in the database named by `CASEBRIDGE_TEST_POSTGRES_URL`
//! (default `postgres://root@127.0.0.1:5432/test`), dropped on a best-effort basis.

use super::{Store, StoreError};

/// Default server used by PostgreSQL tests.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://root@127.0.0.1:5432/test";

/// A store plus whatever keeps its database alive.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    /// An empty SQLite database in a fresh temp dir.
    pub async fn sqlite() -> Result<TestDb, StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url).await?;
        Ok(TestDb {
            store,
            url,
            _dir: Some(dir),
            schema: None,
        })
    }

    /// An empty PostgreSQL schema of its own.
    pub async fn postgres() -> Result<TestDb, StoreError> {
        let base = std::env::var("CASEBRIDGE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_string());
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&base).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await?;
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let store = Store::connect(&url).await?;
        Ok(TestDb {
            store,
            url,
            _dir: None,
            schema: Some((base, schema)),
        })
    }

    /// Drops the PostgreSQL schema (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema {
            if let Ok(admin) = sqlx::AnyPool::connect(&base).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&admin)
                    .await;
                admin.close().await;
            }
        }
    }
}
