//! SearchCases in SQL: a parsed filter, a sort and a page become two portable queries.
//!
//! Why: paging must happen in the database (cases grow without bound), and the same SQL must run
//! on SQLite and PostgreSQL.
//! Invariants:
//! - every user value is a bound parameter, never spliced into SQL text;
//! - the order is total (ties broken by case number then id), so pages never overlap or skip;
//! - `total` counts every case matching the filter, independent of the page.

use sqlx::Row;

use super::cases::{case_from_row, CASE_COLUMNS};
use super::write_tx::placeholders;
use super::{Store, StoreError};
use crate::domain::case::{Case, CasePriority, CaseStatus};
use crate::domain::case_filter::{ArchivedFilter, CaseFilter, FilterField};

/// What SearchCases sorts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseSortField {
    CreatedAt,
    Priority,
    Status,
}

impl CaseSortField {
    pub fn parse(value: &str) -> Option<CaseSortField> {
        match value {
            "created_at" => Some(CaseSortField::CreatedAt),
            "priority" => Some(CaseSortField::Priority),
            "status" => Some(CaseSortField::Status),
            _ => None,
        }
    }
}

/// A search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSearch {
    pub filter: CaseFilter,
    pub sort: CaseSortField,
    pub ascending: bool,
    pub page_size: i64,
    /// One-based.
    pub page_number: i64,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct CasePage {
    pub cases: Vec<Case>,
    pub total: i64,
}

/// A WHERE clause with its bound values, in order.
struct Where {
    clauses: Vec<String>,
    values: Vec<String>,
}

impl Where {
    fn next(&self) -> usize {
        self.values.len() + 1
    }

    fn list(&mut self, values: impl IntoIterator<Item = String>) -> String {
        let values: Vec<String> = values.into_iter().collect();
        let start = self.next();
        let text = placeholders(start, values.len());
        self.values.extend(values);
        text
    }
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn build_where(filter: &CaseFilter) -> Where {
    let mut w = Where {
        clauses: Vec::new(),
        values: Vec::new(),
    };
    match filter.archived {
        ArchivedFilter::Exclude => w.clauses.push("c.archived_at IS NULL".into()),
        ArchivedFilter::Only => w.clauses.push("c.archived_at IS NOT NULL".into()),
        ArchivedFilter::Any => {}
    }
    for term in &filter.terms {
        let clause = match &term.field {
            FilterField::Status(statuses) => {
                let list = w.list(statuses.iter().map(|s| s.as_str().to_string()));
                format!("c.status IN ({list})")
            }
            FilterField::Priority(priorities) => {
                let list = w.list(priorities.iter().map(|p| p.as_str().to_string()));
                format!("c.priority IN ({list})")
            }
            FilterField::Project(projects) => {
                let keys = w.list(projects.iter().map(|p| p.to_ascii_uppercase()));
                let ids = w.list(projects.iter().cloned());
                format!(
                    "c.project_id IN (SELECT id FROM projects WHERE project_key IN ({keys}) OR id IN ({ids}))"
                )
            }
            FilterField::Assignee(users) => {
                let ids = w.list(users.iter().cloned());
                let handles = w.list(users.iter().cloned());
                format!(
                    "c.assignee_id IN (SELECT id FROM users WHERE id IN ({ids}) OR handle IN ({handles}))"
                )
            }
            FilterField::Key(keys) => {
                let list = w.list(keys.iter().cloned());
                format!("c.case_key IN ({list})")
            }
            FilterField::Type(types) => {
                let list = w.list(types.iter().map(|t| t.as_str().to_string()));
                format!("c.case_type IN ({list})")
            }
            FilterField::CreationSource(sources) => {
                let list = w.list(sources.iter().map(|s| s.as_str().to_string()));
                format!("c.creation_source IN ({list})")
            }
            FilterField::Attribute { key, values } => {
                let key_param = w.list([key.clone()]);
                let list = w.list(values.iter().cloned());
                format!(
                    "EXISTS (SELECT 1 FROM case_attribute_values v WHERE v.case_id = c.id \
                     AND v.attr_key = {key_param} AND v.attr_value IN ({list}))"
                )
            }
            FilterField::Text(text) => {
                let p = w.list([like_pattern(text)]);
                format!(
                    "(LOWER(c.title) LIKE {p} ESCAPE '\\' OR LOWER(c.description) LIKE {p} ESCAPE '\\' \
                     OR LOWER(c.case_key) LIKE {p} ESCAPE '\\')"
                )
            }
        };
        w.clauses.push(if term.negated {
            format!("NOT ({clause})")
        } else {
            clause
        });
    }
    w
}

fn rank_expression(column: &str, ranks: impl Iterator<Item = (&'static str, i64)>) -> String {
    let arms: String = ranks
        .map(|(value, rank)| format!(" WHEN '{value}' THEN {rank}"))
        .collect();
    format!("CASE {column}{arms} ELSE 99 END")
}

fn order_by(sort: CaseSortField, ascending: bool) -> String {
    let dir = if ascending { "ASC" } else { "DESC" };
    match sort {
        CaseSortField::CreatedAt => {
            format!("c.created_at {dir}, c.case_number {dir}, c.id {dir}")
        }
        CaseSortField::Priority => {
            let rank = rank_expression(
                "c.priority",
                CasePriority::ALL.iter().map(|p| (p.as_str(), p.rank())),
            );
            format!("{rank} {dir}, c.created_at DESC, c.id DESC")
        }
        CaseSortField::Status => {
            let rank = rank_expression(
                "c.status",
                CaseStatus::ALL.iter().map(|s| (s.as_str(), s.rank())),
            );
            format!("{rank} {dir}, c.created_at DESC, c.id DESC")
        }
    }
}

impl Store {
    /// One page of cases matching `search`, plus the total number of matches.
    pub async fn search_cases(&self, search: &CaseSearch) -> Result<CasePage, StoreError> {
        let w = build_where(&search.filter);
        let condition = if w.clauses.is_empty() {
            "1 = 1".to_string()
        } else {
            w.clauses.join(" AND ")
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM cases c WHERE {condition}");
        let mut count = sqlx::query(&count_sql);
        for value in &w.values {
            count = count.bind(value);
        }
        let total: i64 = count.fetch_one(self.pool()).await?.try_get("n")?;

        let limit = w.next();
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases c WHERE {condition} ORDER BY {} LIMIT ${limit} OFFSET ${}",
            order_by(search.sort, search.ascending),
            limit + 1
        );
        let mut query = sqlx::query(&sql);
        for value in &w.values {
            query = query.bind(value);
        }
        let offset = (search.page_number.max(1) - 1).saturating_mul(search.page_size);
        let rows = query
            .bind(search.page_size)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let cases = rows.iter().map(case_from_row).collect::<Result<_, _>>()?;
        Ok(CasePage { cases, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::case_filter::parse_filter;

    #[test]
    fn user_values_are_bound_not_spliced() {
        let filter = parse_filter("team:\"x') OR 1=1 --\" status:open").unwrap();
        let w = build_where(&filter);
        let sql = w.clauses.join(" AND ");
        assert!(!sql.contains("1=1"), "{sql}");
        assert!(w.values.iter().any(|v| v.contains("1=1")));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
    }
}
