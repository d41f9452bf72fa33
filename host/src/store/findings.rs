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
use std::time::{Duration, Instant};

use casebridge_query::{EqualityConstraint, Field, Query};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Store, StoreError, Tx};
use crate::domain::finding::query_view::FindingQueryView;
use crate::domain::finding::wire::RejectedItem;
use crate::domain::finding::{Actor, ApiOverrides, FieldError, Finding, MuteChange, UpsertResult};

/// Rows inserted per multi-row INSERT (17 columns each, far below both engines' bind limits).
const INSERT_ROWS_PER_STATEMENT: usize = 100;
/// Ids per `IN (…)` lookup.
const IDS_PER_LOOKUP: usize = 500;
/// Attempts of a batch write before a conflict is reported.
const MAX_ATTEMPTS: usize = 5;
/// Rows fetched per round trip while scanning for matches.
const SCAN_BATCH: i64 = 256;
/// Largest value list pushed into SQL for one constraint.
const MAX_PUSHED_VALUES: usize = 32;

const COLUMNS: &str = "id, finding_type, severity, status, source_status, title, resource_id, \
     detection_changed_at, first_seen_at, last_seen_at, mute_expire_at, attributes, tags, \
     api_overrides, version, ingested_at, updated_at";
const READ_COLUMNS: &str = "id, attributes, tags, source_status, api_overrides, version";

/// Which way the listing runs on `detection_changed_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Ascending,
    Descending,
}

/// A position in the listing: the last row seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub detection_changed_at: i64,
    pub id: String,
}

/// How much work one listing call may do before answering with what it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanBudget {
    pub max_rows: usize,
    pub max_elapsed: Duration,
}

impl Default for ScanBudget {
    fn default() -> Self {
        ScanBudget {
            max_rows: 100_000,
            max_elapsed: Duration::from_secs(10),
        }
    }
}

/// One listing call.
#[derive(Debug, Clone)]
pub struct ListRequest<'a> {
    pub query: &'a Query,
    pub limit: usize,
    pub after: Option<ListPosition>,
    pub direction: SortDirection,
    pub now: i64,
    pub budget: ScanBudget,
}

/// A listed finding with its computed `workflow.integrations` (if any).
#[derive(Debug, Clone)]
pub struct ListedFinding {
    pub finding: Finding,
    pub integrations: Option<Value>,
}

/// One page of the listing.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub findings: Vec<ListedFinding>,
    /// Where the next page starts; `None` when no further finding matches.
    pub next: Option<ListPosition>,
    /// The scan budget ran out before the page was complete (`meta.status: "timeout"`).
    pub timed_out: bool,
    /// Rows read from the database (after the SQL pre-filter).
    pub scanned: usize,
}

/// One accepted item of an ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedItem {
    /// Position in the caller's list.
    pub index: usize,
    pub id: String,
    pub result: UpsertResult,
}

/// One refused item of an ingest (error paths are relative to the item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedItem {
    pub index: usize,
    pub id: Option<String>,
    pub errors: Vec<FieldError>,
}

/// What an ingest did, item by item: valid items are stored even when others are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: Vec<AcceptedItem>,
    pub refused: Vec<RefusedItem>,
}

impl IngestReport {
    pub fn count(&self, result: UpsertResult) -> usize {
        self.accepted.iter().filter(|a| a.result == result).count()
    }

    /// Appends another report (e.g. the next chunk of an import).
    pub fn extend(&mut self, other: IngestReport) {
        self.accepted.extend(other.accepted);
        self.refused.extend(other.refused);
    }
}

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

fn position_of(finding: &Finding) -> ListPosition {
    ListPosition {
        detection_changed_at: finding.detection_changed_at(),
        id: finding.id().to_string(),
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
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_LOOKUP) {
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM findings WHERE id IN ({})",
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

async fn write_pending(tx: &mut Tx, pending: Vec<Pending>, now: i64) -> Result<(), WriteError> {
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
            let tx = self.begin().await?;
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

    /// Ingests read items (see [`crate::domain::finding::wire`]): the valid ones are upserted
    /// together, the refused ones reported. `first_index` is the position of `items[0]` in the
    /// caller's list. The HTTP ingest and `casebridge findings import` both come through here.
    pub async fn ingest_findings(
        &self,
        items: Vec<Result<Finding, RejectedItem>>,
        first_index: usize,
        now: i64,
    ) -> Result<IngestReport, StoreError> {
        let mut report = IngestReport::default();
        let mut valid = Vec::with_capacity(items.len());
        let mut positions = Vec::with_capacity(items.len());
        for (offset, item) in items.into_iter().enumerate() {
            match item {
                Ok(finding) => {
                    positions.push(first_index + offset);
                    valid.push(finding);
                }
                Err(rejected) => report.refused.push(RefusedItem {
                    index: first_index + offset,
                    id: rejected.id,
                    errors: rejected.errors,
                }),
            }
        }
        let ids: Vec<String> = valid.iter().map(|f| f.id().to_string()).collect();
        let results = self.upsert_findings(valid, now).await?;
        report.accepted = positions
            .into_iter()
            .zip(ids)
            .zip(results)
            .map(|((index, id), result)| AcceptedItem { index, id, result })
            .collect();
        Ok(report)
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
    /// THE SEAM: the lead wires this to `Store::finding_integrations(&[String])` (written on the
    /// `cases` branch) when merging. Until then it returns an empty map: no finding shows or
    /// matches `workflow.integrations`. Both the listing filter and the API responses read
    /// integrations only through this function.
    pub async fn computed_integrations(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Value>, StoreError> {
        let _ = ids;
        Ok(HashMap::new())
    }

    /// One page of findings matching `request.query`, in `request.direction` after
    /// `request.after`.
    pub async fn list_findings(&self, request: &ListRequest<'_>) -> Result<ListPage, StoreError> {
        let started = Instant::now();
        let filter = PreFilter::from_query(request.query, request.now);
        let needs_integrations = request.query.attribute_paths().iter().any(|path| {
            let segments = path.segments();
            segments.first().is_some_and(|s| s == "workflow")
                && segments.get(1).is_none_or(|s| s == "integrations")
        });
        let mut position = request.after.clone();
        let mut matched: Vec<ListedFinding> = Vec::new();
        let mut scanned = 0usize;
        loop {
            let rows = self
                .scan_batch(&filter, position.as_ref(), request.direction)
                .await?;
            let exhausted = (rows.len() as i64) < SCAN_BATCH;
            let mut batch = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut finding = decode(row)?.finding;
                finding.apply_mute_expiry(request.now);
                batch.push(finding);
            }
            let integrations = if needs_integrations && !batch.is_empty() {
                let ids: Vec<String> = batch.iter().map(|f| f.id().to_string()).collect();
                self.computed_integrations(&ids).await?
            } else {
                HashMap::new()
            };
            for finding in batch {
                scanned += 1;
                let key = position_of(&finding);
                let computed = integrations.get(finding.id());
                if request
                    .query
                    .matches(&FindingQueryView::new(&finding, computed))
                {
                    if matched.len() == request.limit {
                        // One more match exists: the page is full and has a successor.
                        let next = matched.last().map(|m| position_of(&m.finding));
                        return self
                            .finish_page(matched, next, false, scanned, needs_integrations)
                            .await;
                    }
                    let computed = computed.cloned();
                    matched.push(ListedFinding {
                        finding,
                        integrations: computed,
                    });
                }
                position = Some(key);
                let out_of_budget = scanned >= request.budget.max_rows
                    || started.elapsed() >= request.budget.max_elapsed;
                if out_of_budget {
                    // A short page resumes after the last row scanned; a full one after its
                    // last finding (whether more match is not known yet).
                    let (next, timed_out) = if matched.len() < request.limit {
                        (position, true)
                    } else {
                        (matched.last().map(|m| position_of(&m.finding)), false)
                    };
                    return self
                        .finish_page(matched, next, timed_out, scanned, needs_integrations)
                        .await;
                }
            }
            if exhausted {
                return self
                    .finish_page(matched, None, false, scanned, needs_integrations)
                    .await;
            }
        }
    }

    async fn finish_page(
        &self,
        mut findings: Vec<ListedFinding>,
        next: Option<ListPosition>,
        timed_out: bool,
        scanned: usize,
        integrations_known: bool,
    ) -> Result<ListPage, StoreError> {
        if !integrations_known && !findings.is_empty() {
            let ids: Vec<String> = findings
                .iter()
                .map(|f| f.finding.id().to_string())
                .collect();
            let mut computed = self.computed_integrations(&ids).await?;
            for listed in &mut findings {
                listed.integrations = computed.remove(listed.finding.id());
            }
        }
        Ok(ListPage {
            findings,
            next,
            timed_out,
            scanned,
        })
    }

    async fn scan_batch(
        &self,
        filter: &PreFilter,
        after: Option<&ListPosition>,
        direction: SortDirection,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut conditions = filter.conditions.clone();
        let mut binds = filter.binds.clone();
        let (cmp, order) = match direction {
            SortDirection::Ascending => (">", "ASC"),
            SortDirection::Descending => ("<", "DESC"),
        };
        if let Some(after) = after {
            let n = binds.len();
            conditions.push(format!(
                "(detection_changed_at {cmp} ${a} OR (detection_changed_at = ${a} AND id {cmp} ${b}))",
                a = n + 1,
                b = n + 2
            ));
            binds.push(Bind::Int(after.detection_changed_at));
            binds.push(Bind::Text(after.id.clone()));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM findings {where_clause} \
             ORDER BY detection_changed_at {order}, id {order} LIMIT {SCAN_BATCH}"
        );
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = match bind {
                Bind::Int(v) => query.bind(v),
                Bind::Text(v) => query.bind(v),
            };
        }
        Ok(query.fetch_all(self.pool()).await?)
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

#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Text(String),
}

/// SQL conditions implied by a query (sound: every row the query matches satisfies them).
#[derive(Debug, Clone, Default)]
struct PreFilter {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl PreFilter {
    fn from_query(query: &Query, now: i64) -> PreFilter {
        let mut filter = PreFilter::default();
        for constraint in query.equality_constraints() {
            filter.push(&constraint, now);
        }
        filter
    }

    fn next(&self) -> usize {
        self.binds.len() + 1
    }

    fn push(&mut self, constraint: &EqualityConstraint<'_>, now: i64) {
        // (A value with NUL matches no stored text; PostgreSQL refuses it as a parameter.)
        if constraint.values.is_empty()
            || constraint.values.len() > MAX_PUSHED_VALUES
            || constraint.values.iter().any(|v| v.contains('\0'))
        {
            return;
        }
        match constraint.field {
            Field::Attribute(path) => {
                let [name] = path.segments() else {
                    return;
                };
                let column = match name.as_str() {
                    "finding_type" | "severity" | "resource_id" => name.clone(),
                    // The status as of `now`: an expired mute shows the source status.
                    "status" => {
                        let n = self.next();
                        self.binds.push(Bind::Int(now));
                        format!(
                            "(CASE WHEN status = 'muted' AND mute_expire_at IS NOT NULL \
                             AND mute_expire_at <= ${n} THEN source_status ELSE status END)"
                        )
                    }
                    _ => return,
                };
                let start = self.next();
                for value in &constraint.values {
                    self.binds.push(Bind::Text((*value).to_string()));
                }
                self.conditions.push(format!(
                    "{column} IN ({})",
                    placeholders(start, constraint.values.len())
                ));
            }
            Field::Tag(key) => {
                // Tags are stored as a JSON array of strings; a tag `key:value` appears in it as
                // its JSON string literal. (SQLite's LIKE ignores ASCII case: still sound.)
                let mut alternatives = Vec::new();
                for value in &constraint.values {
                    let Ok(literal) = serde_json::to_string(&format!("{key}:{value}")) else {
                        return;
                    };
                    let n = self.next();
                    self.binds
                        .push(Bind::Text(format!("%{}%", like_escape(&literal))));
                    alternatives.push(format!("tags LIKE ${n} ESCAPE '\\'"));
                }
                self.conditions
                    .push(format!("({})", alternatives.join(" OR ")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_constraints_become_sql_conditions() {
        let query =
            Query::parse("@severity:(critical OR high) @status:open team:platform").unwrap();
        let filter = PreFilter::from_query(&query, 42);
        assert_eq!(filter.conditions.len(), 3, "{:?}", filter.conditions);
        assert!(filter.conditions[0].starts_with("severity IN ($1, $2)"));
        assert!(filter.conditions[1].contains("THEN source_status ELSE status END) IN ($4)"));
        assert_eq!(filter.conditions[2], "(tags LIKE $5 ESCAPE '\\')");
        match &filter.binds[4] {
            Bind::Text(pattern) => assert_eq!(pattern, "%\"team:platform\"%"),
            Bind::Int(_) => panic!("expected a text bind"),
        }
    }

    #[test]
    fn negations_wildcards_and_deep_paths_are_not_pushed_down() {
        for text in [
            "-@severity:low",
            "@severity:crit*",
            "@rule.id:x",
            "@severity:low OR team:x",
        ] {
            let filter = PreFilter::from_query(&Query::parse(text).unwrap(), 0);
            assert!(
                filter.conditions.is_empty(),
                "{text}: {:?}",
                filter.conditions
            );
        }
    }

    #[test]
    fn like_wildcards_in_tag_values_are_escaped() {
        assert_eq!(like_escape(r"a%b_c\d"), r"a\%b\_c\\d");
    }
}
