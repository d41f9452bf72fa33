//! Durable state: findings, projects, cases, ticket links, keys, plugins, sync state.
//!
//! Why: one storage interface over two engines, so the embedded default (SQLite) and the
//! multi-replica deployment (PostgreSQL) run the same code and the same test suite.
//!
//! Invariants:
//! - SQL is written once, with `$1, $2…` placeholders (SQLite accepts `$NNN` too) and only
//!   portable types: BIGINT for integers and booleans (0/1), TEXT for strings and JSON,
//!   BLOB/BYTEA for bytes (see the two migration folders, which must stay equivalent).
//! - Writes that belong together run in one transaction ([`Store::begin`]).
//! - Every error leaving this module is a [`StoreError`]; callers never see sqlx types.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub mod case_search;
pub mod cases;
pub mod finding_cases;
pub mod findings;
pub mod keys;
pub mod projects;
pub mod test_support;
pub mod ticket_links;
pub mod timeline;
pub mod users;
pub mod write_tx;

/// The two engines casebridge runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, single machine (the default).
    Sqlite,
    /// Shared by several host replicas.
    Postgres,
}

impl Backend {
    /// Which engine a database URL points at.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(
                url.split(':').next().unwrap_or_default().to_string(),
            ))
        }
    }
}

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme {0:?} (use sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller passed something the store refuses to write (a programming or client mistake).
    #[error("invalid: {0}")]
    Invalid(String),
}

impl StoreError {
    /// True when the database refused a write because of a uniqueness constraint.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
            _ => false,
        }
    }
}

/// An open transaction; commit it or it rolls back when dropped.
pub type Tx = Transaction<'static, Any>;

/// Handle to the database. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Wakes this process's sync workers after an outbox enqueue commits (see `crate::sync`).
    outbox_wake: Arc<tokio::sync::Notify>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connects (creating the SQLite file if needed) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let pool = match backend {
            Backend::Sqlite => {
                options
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => options.max_connections(16).connect(url).await?,
        };
        let store = Store {
            pool,
            backend,
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for the store's own submodules.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The signal this process's sync workers wait on; notify it after committing a transaction
    /// that enqueued outbox effects ([`crate::sync::outbox::wake`]) so they are picked up at once
    /// instead of at the next poll. Shared by every clone of this store, not across processes.
    pub fn outbox_wake(&self) -> &Arc<tokio::sync::Notify> {
        &self.outbox_wake
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: Option<AnyRow> = sqlx::query("SELECT 1").fetch_optional(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Current time in milliseconds since the Unix epoch, the unit every stored timestamp uses.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
