//! The findings listing: a page of findings matching a query, after a cursor, in either
//! direction on (`detection_changed_at`, `id`).
//!
//! Why: ListSecurityFindings and SearchSecurityFindings page through possibly many findings
//! with a query language richer than SQL; the database narrows the rows on the simple parts of
//! the query and the query decides the rest.
//!
//! Invariants: rows are scanned in (`detection_changed_at`, `id`) order (ids bytewise on both
//! engines), so a position resumes exactly after the last row seen, ties included; the SQL
//! pre-filter is sound (never drops a row the query matches); a page has a successor position
//! only when one more match is known to exist, or when the scan budget ran out (then the
//! position is the last row scanned and the page is marked `timed_out`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use casebridge_query::{EqualityConstraint, Field, Query};
use serde_json::Value;
use sqlx::any::AnyRow;

use super::{decode, placeholders, READ_COLUMNS};
use crate::domain::finding::query_view::FindingQueryView;
use crate::domain::finding::Finding;
use crate::store::{Store, StoreError};

/// Rows fetched per round trip while scanning for matches.
const SCAN_BATCH: i64 = 256;
/// Largest value list pushed into SQL for one constraint.
const MAX_PUSHED_VALUES: usize = 32;

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

fn position_of(finding: &Finding) -> ListPosition {
    ListPosition {
        detection_changed_at: finding.detection_changed_at(),
        id: finding.id().to_string(),
    }
}

impl Store {
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
