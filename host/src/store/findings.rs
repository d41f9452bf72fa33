//! Findings in the database: idempotent bulk upsert, reads, the filtered listing with its stable
//! cursor, mute/unmute, assignee updates and the mute expiry sweep.
//!
//! Why: the API ingest, the CLI import, the listing API and the workflow operations must all
//! write and read findings the same way, on SQLite and PostgreSQL alike.
//!
//! Invariants:
//! - A finding id is stored once; re-sending it merges into the stored row by the rules of
//!   [`Finding::merged_with`] and reports created / updated / unchanged per item.
//! - Every write checks the row `version` it read (optimistic concurrency): a concurrent writer
//!   (another request, another replica) makes the whole batch retry from fresh reads, so no
//!   update is lost and no id is inserted twice.
//! - Reads apply mute expiry at read time ([`Finding::apply_mute_expiry`]); the sweep
//!   [`Store::reopen_expired_mutes`] only makes that durable.
//! - The listing is ordered by (`detection_changed_at`, `id`), ids comparing bytewise on both
//!   engines, so a cursor naming the last row seen resumes exactly after it in either
//!   direction, ties included. SQL pre-filters are sound (never drop a row the query matches);
//!   the query itself decides every row it returns.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Store, StoreError, Tx};
use crate::domain::finding::{Actor, ApiOverrides, Finding, MuteChange, UpsertResult};

mod listing;
mod report;

pub use listing::{ListPage, ListPosition, ListRequest, ListedFinding, ScanBudget, SortDirection};
pub use report::{AcceptedItem, IngestReport, RefusedItem};

/// Rows inserted per multi-row INSERT (17 columns each, far below both engines' bind limits).
const INSERT_ROWS_PER_STATEMENT: usize = 100;
/// Ids per `IN (…)` lookup.
const IDS_PER_LOOKUP: usize = 500;
/// Attempts of a batch write before a conflict is reported.
const MAX_ATTEMPTS: usize = 5;

const COLUMNS: &str = "id, finding_type, severity, status, source_status, title, resource_id, \
     detection_changed_at, first_seen_at, last_seen_at, mute_expire_at, attributes, tags, \
     api_overrides, version, ingested_at, updated_at";
const READ_COLUMNS: &str = "id, attributes, tags, source_status, api_overrides, version";

/// Result of an assignee update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignOutcome {
    pub updated: Vec<String>,
    pub missing: Vec<String>,
}

/// A stored finding with the version it was read at.
struct Versioned {
    finding: Finding,
    version: i64,
}

/// What to do with one id at the end of a batch.
enum Pending {
    Insert(Finding),
    Update { finding: Finding, version: i64 },
}

impl Pending {
    fn id(&self) -> &str {
        match self {
            Pending::Insert(finding) | Pending::Update { finding, .. } => finding.id(),
        }
    }
}

fn is_retryable(err: &StoreError) -> bool {
    match err {
        StoreError::Database(sqlx::Error::Database(db)) => matches!(
            db.code().as_deref(),
            // SQLite busy / busy snapshot / busy recovery; PostgreSQL serialization, deadlock.
            Some("5") | Some("517") | Some("261") | Some("40001") | Some("40P01")
        ),
        _ => false,
    }
}

fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode(row: &AnyRow) -> Result<Versioned, StoreError> {
    let id: String = row.try_get("id")?;
    let attributes: String = row.try_get("attributes")?;
    let tags: String = row.try_get("tags")?;
    let source_status: String = row.try_get("source_status")?;
    let overrides: String = row.try_get("api_overrides")?;
    let version: i64 = row.try_get("version")?;
    let document: Value = serde_json::from_str(&attributes)
        .map_err(|e| StoreError::Corrupt(format!("finding {id}: attributes: {e}")))?;
    let tags: Vec<String> = serde_json::from_str(&tags)
        .map_err(|e| StoreError::Corrupt(format!("finding {id}: tags: {e}")))?;
    let overrides: ApiOverrides = serde_json::from_str(&overrides)
        .map_err(|e| StoreError::Corrupt(format!("finding {id}: api_overrides: {e}")))?;
    let finding = Finding::from_stored(&id, document, tags, &source_status, overrides)
        .map_err(StoreError::Corrupt)?;
    Ok(Versioned { finding, version })
}

fn to_json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("serializing: {e}")))
}

async fn load_for_update(
    tx: &mut Tx,
    ids: &[String],
) -> Result<HashMap<String, Versioned>, StoreError> {
    // Rows are locked in id order on PostgreSQL so concurrent writers of overlapping batches
    // queue behind each other instead of deadlocking; SQLite writers hold the database lock
    // (`BEGIN IMMEDIATE`) already.
    let lock = if tx.backend_name() == "PostgreSQL" {
        " ORDER BY id FOR UPDATE"
    } else {
        ""
    };
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_LOOKUP) {
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM findings WHERE id IN ({}){lock}",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let stored = decode(&row)?;
            found.insert(stored.finding.id().to_string(), stored);
        }
    }
    Ok(found)
}

async fn insert_many(tx: &mut Tx, findings: &[Finding], now: i64) -> Result<(), WriteError> {
    for chunk in findings.chunks(INSERT_ROWS_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(i * 17 + 1, 17)))
            .collect();
        let sql = format!(
            "INSERT INTO findings ({COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for finding in chunk {
            query = query
                .bind(finding.id().to_string())
                .bind(finding.finding_type().as_str())
                .bind(finding.severity().as_str())
                .bind(finding.status().as_str())
                .bind(finding.source_status().as_str())
                .bind(finding.title().to_string())
                .bind(finding.resource_id().map(str::to_string))
                .bind(finding.detection_changed_at())
                .bind(finding.first_seen_at())
                .bind(finding.last_seen_at())
                .bind(finding.mute_expire_at())
                .bind(to_json_text(finding.document())?)
                .bind(to_json_text(&finding.tags())?)
                .bind(to_json_text(&finding.overrides())?)
                .bind(1_i64)
                .bind(now)
                .bind(now);
        }
        let done = query.execute(&mut **tx).await.map_err(StoreError::from)?;
        if done.rows_affected() != chunk.len() as u64 {
            return Err(WriteError::Conflict);
        }
    }
    Ok(())
}

async fn update_one(
    tx: &mut Tx,
    finding: &Finding,
    version: i64,
    now: i64,
) -> Result<(), WriteError> {
    let done = sqlx::query(
        "UPDATE findings SET finding_type = $1, severity = $2, status = $3, source_status = $4, \
         title = $5, resource_id = $6, detection_changed_at = $7, first_seen_at = $8, \
         last_seen_at = $9, mute_expire_at = $10, attributes = $11, tags = $12, \
         api_overrides = $13, version = $14, updated_at = $15 \
         WHERE id = $16 AND version = $17",
    )
    .bind(finding.finding_type().as_str())
    .bind(finding.severity().as_str())
    .bind(finding.status().as_str())
    .bind(finding.source_status().as_str())
    .bind(finding.title().to_string())
    .bind(finding.resource_id().map(str::to_string))
    .bind(finding.detection_changed_at())
    .bind(finding.first_seen_at())
    .bind(finding.last_seen_at())
    .bind(finding.mute_expire_at())
    .bind(to_json_text(finding.document())?)
    .bind(to_json_text(&finding.tags())?)
    .bind(to_json_text(&finding.overrides())?)
    .bind(version + 1)
    .bind(now)
    .bind(finding.id().to_string())
    .bind(version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(WriteError::Conflict)
    }
}

/// A write that lost a race (retry from fresh reads), or a database error.
enum WriteError {
    Conflict,
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(err: StoreError) -> Self {
        if is_retryable(&err) {
            WriteError::Conflict
        } else {
            WriteError::Store(err)
        }
    }
}

async fn write_pending(tx: &mut Tx, mut pending: Vec<Pending>, now: i64) -> Result<(), WriteError> {
    // A fixed (id) order of writes keeps concurrent transactions from locking rows in
    // opposite orders.
    pending.sort_by(|a, b| a.id().cmp(b.id()));
    let mut inserts = Vec::new();
    for item in pending {
        match item {
            Pending::Insert(finding) => inserts.push(finding),
            Pending::Update { finding, version } => update_one(tx, &finding, version, now).await?,
        }
    }
    insert_many(tx, &inserts, now).await
}

/// A transaction handed back with the outcome of one attempt.
type AttemptFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Tx, Result<T, WriteError>)> + Send + 'a>>;

async fn upsert_attempt(
    tx: &mut Tx,
    findings: &[Finding],
    ids: &[String],
    now: i64,
) -> Result<Vec<UpsertResult>, WriteError> {
    let mut stored = load_for_update(tx, ids).await?;
    // id -> (current state, version read, needs writing)
    let mut current: HashMap<&str, (Finding, Option<i64>, bool)> = HashMap::new();
    let mut results = Vec::with_capacity(findings.len());
    for incoming in findings {
        let id = incoming.id();
        let entry = current.remove(id).or_else(|| {
            stored.remove(id).map(|s| {
                let mut finding = s.finding;
                finding.apply_mute_expiry(now);
                (finding, Some(s.version), false)
            })
        });
        let next = match entry {
            None => {
                let mut created = incoming.clone();
                created.apply_mute_expiry(now);
                results.push(UpsertResult::Created);
                (created, None, true)
            }
            Some((existing, version, dirty)) => match existing.merged_with(incoming.clone(), now) {
                Some(merged) => {
                    results.push(UpsertResult::Updated);
                    (merged, version, true)
                }
                None => {
                    results.push(UpsertResult::Unchanged);
                    (existing, version, dirty)
                }
            },
        };
        current.insert(id, next);
    }
    let pending: Vec<Pending> = current
        .into_values()
        .filter(|(_, _, dirty)| *dirty)
        .map(|(finding, version, _)| match version {
            None => Pending::Insert(finding),
            Some(version) => Pending::Update { finding, version },
        })
        .collect();
    write_pending(tx, pending, now).await?;
    Ok(results)
}

/// Returns false (and changes nothing) when some id is unknown.
async fn mute_attempt(
    tx: &mut Tx,
    ids: &[String],
    change: &MuteChange,
    actor: &Actor,
    now: i64,
) -> Result<bool, WriteError> {
    let stored = load_for_update(tx, ids).await?;
    if stored.len() != ids.len() {
        return Ok(false);
    }
    let mut pending = Vec::with_capacity(stored.len());
    for Versioned {
        mut finding,
        version,
    } in stored.into_values()
    {
        finding.apply_mute_expiry(now);
        finding.apply_mute(change, actor, now);
        pending.push(Pending::Update { finding, version });
    }
    write_pending(tx, pending, now).await?;
    Ok(true)
}

/// Returns the ids updated.
async fn assign_attempt(
    tx: &mut Tx,
    ids: &[String],
    assignee: Option<&Actor>,
    by: &Actor,
    now: i64,
) -> Result<Vec<String>, WriteError> {
    let stored = load_for_update(tx, ids).await?;
    let mut pending = Vec::with_capacity(stored.len());
    let mut updated = Vec::with_capacity(stored.len());
    for (
        id,
        Versioned {
            mut finding,
            version,
        },
    ) in stored
    {
        finding.apply_mute_expiry(now);
        finding.apply_assignee(assignee, by, now);
        pending.push(Pending::Update { finding, version });
        updated.push(id);
    }
    write_pending(tx, pending, now).await?;
    Ok(updated)
}

impl Store {
    /// Runs `attempt` in a fresh transaction (handed over and handed back) until it commits
    /// without a conflict.
    async fn with_retries<'a, T, F>(&self, what: &str, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut(Tx) -> AttemptFuture<'a, T>,
    {
        for round in 0..MAX_ATTEMPTS {
            let tx = self.begin_write().await?;
            let (tx, outcome) = attempt(tx).await;
            match outcome {
                Ok(value) => match tx.commit().await {
                    Ok(()) => return Ok(value),
                    Err(err) => {
                        let err = StoreError::from(err);
                        if !is_retryable(&err) {
                            return Err(err);
                        }
                    }
                },
                Err(WriteError::Conflict) => {
                    let _ = tx.rollback().await;
                }
                Err(WriteError::Store(err)) => {
                    let _ = tx.rollback().await;
                    return Err(err);
                }
            }
            tracing::debug!(what, round, "findings write conflicted; retrying");
            tokio::time::sleep(Duration::from_millis(5 << round)).await;
        }
        Err(StoreError::Conflict(format!(
            "{what}: concurrent writes kept conflicting; try again"
        )))
    }

    /// Stores findings, merging each into its stored version by id. Results are in input order;
    /// an id repeated within the batch is applied in order (created, then updated/unchanged).
    pub async fn upsert_findings(
        &self,
        findings: Vec<Finding>,
        now: i64,
    ) -> Result<Vec<UpsertResult>, StoreError> {
        if findings.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = findings.iter().map(|f| f.id().to_string()).collect();
        ids.sort();
        ids.dedup();
        let findings = &findings;
        let ids = &ids;
        self.with_retries("ingest", move |mut tx| {
            Box::pin(async move {
                let outcome = upsert_attempt(&mut tx, findings, ids, now).await;
                (tx, outcome)
            })
        })
        .await
    }

    /// The findings with these ids that exist, in the order asked, as of `now`.
    pub async fn get_findings(&self, ids: &[String], now: i64) -> Result<Vec<Finding>, StoreError> {
        let mut found: HashMap<String, Finding> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_LOOKUP) {
            let sql = format!(
                "SELECT {READ_COLUMNS} FROM findings WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(self.pool()).await? {
                let mut finding = decode(&row)?.finding;
                finding.apply_mute_expiry(now);
                found.insert(finding.id().to_string(), finding);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Computed `workflow.integrations` of the given findings (cases, Jira issues, ServiceNow
    /// tickets attached to them), keyed by finding id; findings with none are absent.
    ///
    /// Both the listing filter and the API responses read integrations only through this
    /// function, so `@workflow.integrations.*` queries and responses always agree.
    pub async fn computed_integrations(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Value>, StoreError> {
        let mut all = self.finding_integrations(ids).await?;
        all.retain(|_, integrations| {
            let non_empty = |key: &str| {
                integrations
                    .get(key)
                    .and_then(Value::as_array)
                    .is_some_and(|list| !list.is_empty())
            };
            non_empty("cases") || non_empty("jira")
        });
        Ok(all)
    }

    /// Mutes or unmutes findings through the API. Every id must exist (else
    /// `StoreError::NotFound("finding")` and nothing changes); all change in one transaction.
    pub async fn mute_findings(
        &self,
        ids: &[String],
        change: &MuteChange,
        actor: &Actor,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let ids = &ids;
        let all_found = self
            .with_retries("mute", move |mut tx| {
                Box::pin(async move {
                    let outcome = mute_attempt(&mut tx, ids, change, actor, now).await;
                    (tx, outcome)
                })
            })
            .await?;
        if all_found {
            Ok(())
        } else {
            Err(StoreError::NotFound("finding"))
        }
    }

    /// Assigns (or with `None` unassigns) the findings that exist; reports the others.
    pub async fn assign_findings(
        &self,
        ids: &[String],
        assignee: Option<&Actor>,
        by: &Actor,
        now: i64,
    ) -> Result<AssignOutcome, StoreError> {
        let mut unique = ids.to_vec();
        unique.sort();
        unique.dedup();
        let unique = &unique;
        let updated = self
            .with_retries("assign", move |mut tx| {
                Box::pin(async move {
                    let outcome = assign_attempt(&mut tx, unique, assignee, by, now).await;
                    (tx, outcome)
                })
            })
            .await?;
        let mut outcome = AssignOutcome::default();
        for id in ids {
            if updated.contains(id) {
                if !outcome.updated.contains(id) {
                    outcome.updated.push(id.clone());
                }
            } else if !outcome.missing.contains(id) {
                outcome.missing.push(id.clone());
            }
        }
        Ok(outcome)
    }

    /// The user with this id as an actor (`{id, name}`), if casebridge knows them.
    pub async fn user_actor(&self, user_id: &str) -> Result<Option<Actor>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(Actor {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
            })
        })
        .transpose()
    }

    /// Persists the expiry of every mute whose `expire_at` is at or before `now`: the finding
    /// reopens. Returns how many findings were reopened. Safe to run from several replicas.
    pub async fn reopen_expired_mutes(&self, now: i64) -> Result<u64, StoreError> {
        let mut reopened = 0u64;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {READ_COLUMNS} FROM findings \
                 WHERE status = 'muted' AND mute_expire_at IS NOT NULL AND mute_expire_at <= $1 \
                 ORDER BY mute_expire_at LIMIT 500"
            ))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                return Ok(reopened);
            }
            let mut progressed = false;
            for row in &rows {
                let Versioned {
                    mut finding,
                    version,
                } = decode(row)?;
                if !finding.apply_mute_expiry(now) {
                    // Stored status and document disagree; rewrite the row consistently.
                    tracing::warn!(
                        finding = finding.id(),
                        "muted row without an active mute; repairing"
                    );
                }
                let mut tx = self.begin().await?;
                match update_one(&mut tx, &finding, version, now).await {
                    Ok(()) => {
                        tx.commit().await?;
                        reopened += 1;
                        progressed = true;
                    }
                    Err(WriteError::Conflict) => {
                        // Someone else wrote it meanwhile; their write applied expiry too.
                        let _ = tx.rollback().await;
                    }
                    Err(WriteError::Store(err)) => return Err(err),
                }
            }
            if !progressed && rows.len() < 500 {
                return Ok(reopened);
            }
        }
    }

    /// How many findings are stored (for tests, the CLI summary and metrics).
    pub async fn count_findings(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM findings")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
