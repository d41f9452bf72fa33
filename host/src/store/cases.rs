//! Cases in storage: numbering, creation with findings, changes, deletion, and read views.
//!
//! Why: a case and everything that must change with it (its number, its timeline, its finding
//! links, its attribute index) are written together or not at all.
//! Invariants:
//! - the case number comes from `UPDATE case_key_counters SET next_number = next_number + 1 …
//!   RETURNING`, the first write of the creating transaction: atomic under concurrent writers on
//!   PostgreSQL (row lock) and SQLite (`BEGIN IMMEDIATE`), never `MAX()+1`, never reused;
//! - creating a case, linking its findings and writing its CASE_CREATED cell is one transaction;
//!   so is every change and the timeline cell that records it;
//! - deleting a case unlinks its findings (which stay as they are), detaches its ticket links
//!   and removes its timeline, in one transaction;
//! - transactions that create cases or change finding links lock the projects concerned first
//!   (`Store::lock_projects`), then case rows.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::finding_cases::link_findings;
use super::timeline::append_event;
use super::{now_ms, Store, StoreError, Tx};
use crate::domain::case::{
    case_key, looks_like_case_key, Case, CaseChange, CasePriority, CaseStatus, CaseType,
    CreationSource, CustomAttributes, Insight, NewCase,
};
use crate::domain::ticket_link::TicketLink;
use crate::domain::timeline::TimelineEvent;

pub(crate) const CASE_COLUMNS: &str = "c.id, c.project_id, c.case_number, c.case_key, c.title, \
     c.description, c.status, c.priority, c.case_type, c.type_id, c.creation_source, c.assignee_id, \
     c.attributes, c.created_by, c.modified_by, c.created_at, c.modified_at, c.closed_at, c.archived_at";

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("cases.{column} holds unknown value {value:?}"))
}

pub(crate) fn case_from_row(row: &AnyRow) -> Result<Case, StoreError> {
    let status: String = row.try_get("status")?;
    let priority: String = row.try_get("priority")?;
    let case_type: String = row.try_get("case_type")?;
    let source: String = row.try_get("creation_source")?;
    let attributes: String = row.try_get("attributes")?;
    Ok(Case {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        number: row.try_get("case_number")?,
        key: row.try_get("case_key")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        status: CaseStatus::parse(&status).map_err(|_| corrupt("status", &status))?,
        priority: CasePriority::parse(&priority).map_err(|_| corrupt("priority", &priority))?,
        case_type: CaseType::parse(&case_type).ok_or_else(|| corrupt("case_type", &case_type))?,
        type_id: row.try_get("type_id")?,
        creation_source: CreationSource::parse(&source)
            .ok_or_else(|| corrupt("creation_source", &source))?,
        assignee_id: row.try_get("assignee_id")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Corrupt(format!("cases.attributes: {e}")))?,
        created_by: row.try_get("created_by")?,
        modified_by: row.try_get("modified_by")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
        closed_at: row.try_get("closed_at")?,
        archived_at: row.try_get("archived_at")?,
    })
}

/// A case with what its responses show beside its own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseView {
    pub case: Case,
    /// Linked findings, in the order they were linked.
    pub insights: Vec<Insight>,
    /// Live ticket links.
    pub tickets: Vec<TicketLink>,
    pub comment_count: i64,
}

/// Reads one case by id (or key when `by_key`) inside `tx`, locking it on PostgreSQL.
pub(crate) async fn lock_case(
    store: &Store,
    tx: &mut Tx,
    id_or_key: &str,
) -> Result<Option<Case>, StoreError> {
    let (column, value) = case_lookup(id_or_key);
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases c WHERE c.{column} = $1{}",
        store.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(case_from_row).transpose()
}

/// Which column a path parameter names: a key (`SEC-42`, case-insensitive) or an id.
fn case_lookup(id_or_key: &str) -> (&'static str, String) {
    if looks_like_case_key(id_or_key) {
        ("case_key", id_or_key.to_ascii_uppercase())
    } else {
        ("id", id_or_key.to_string())
    }
}

async fn write_attribute_index(
    tx: &mut Tx,
    case_id: &str,
    attributes: &CustomAttributes,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM case_attribute_values WHERE case_id = $1")
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    for (key, values) in attributes {
        let mut seen: Vec<&String> = values.iter().collect();
        seen.sort();
        seen.dedup();
        for value in seen {
            sqlx::query(
                "INSERT INTO case_attribute_values (case_id, attr_key, attr_value) VALUES ($1, $2, $3)",
            )
            .bind(case_id)
            .bind(key)
            .bind(value)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

fn attributes_text(attributes: &CustomAttributes) -> Result<String, StoreError> {
    serde_json::to_string(attributes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Numbers and inserts a case inside `tx` (no findings); `NotFound("project")` / `("user")`.
pub(crate) async fn insert_case(
    tx: &mut Tx,
    new: &NewCase,
    actor: Option<&str>,
    now: i64,
) -> Result<Case, StoreError> {
    let counter = sqlx::query(
        "UPDATE case_key_counters SET next_number = next_number + 1 \
         WHERE project_key = (SELECT project_key FROM projects WHERE id = $1) \
         RETURNING next_number, project_key",
    )
    .bind(&new.project_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound("project"))?;
    let number: i64 = counter.try_get::<i64, _>("next_number")? - 1;
    let project_key: String = counter.try_get("project_key")?;
    if let Some(assignee) = &new.assignee_id {
        let found = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(assignee)
            .fetch_optional(&mut **tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound("user"));
        }
    }
    let case = Case {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: new.project_id.clone(),
        number,
        key: case_key(&project_key, number),
        title: new.title.clone(),
        description: new.description.clone(),
        status: new.status,
        priority: new.priority,
        case_type: new.case_type,
        type_id: new.case_type.type_id().to_string(),
        creation_source: new.creation_source,
        assignee_id: new.assignee_id.clone(),
        attributes: new.attributes.clone(),
        created_by: actor.map(str::to_string),
        modified_by: None,
        created_at: now,
        modified_at: None,
        closed_at: (new.status == CaseStatus::Closed).then_some(now),
        archived_at: None,
    };
    sqlx::query(
        "INSERT INTO cases (id, project_id, case_number, case_key, title, description, status, \
         priority, case_type, type_id, creation_source, assignee_id, attributes, created_by, \
         created_at, closed_at, event_seq, link_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0, 0)",
    )
    .bind(&case.id)
    .bind(&case.project_id)
    .bind(case.number)
    .bind(&case.key)
    .bind(&case.title)
    .bind(&case.description)
    .bind(case.status.as_str())
    .bind(case.priority.as_str())
    .bind(case.case_type.as_str())
    .bind(&case.type_id)
    .bind(case.creation_source.as_str())
    .bind(case.assignee_id.clone())
    .bind(attributes_text(&case.attributes)?)
    .bind(case.created_by.clone())
    .bind(case.created_at)
    .bind(case.closed_at)
    .execute(&mut **tx)
    .await?;
    write_attribute_index(tx, &case.id, &case.attributes).await?;
    let created = TimelineEvent::CaseCreated {
        title: case.title.clone(),
        creation_source: case.creation_source.as_str(),
    };
    append_event(tx, &case.id, &created, actor, now).await?;
    Ok(case)
}

/// Writes every mutable column of `case` (after a [`Case::apply`]).
pub(crate) async fn write_case(tx: &mut Tx, case: &Case) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE cases SET title = $1, description = $2, status = $3, priority = $4, \
         assignee_id = $5, attributes = $6, modified_by = $7, modified_at = $8, closed_at = $9, \
         archived_at = $10 WHERE id = $11",
    )
    .bind(&case.title)
    .bind(&case.description)
    .bind(case.status.as_str())
    .bind(case.priority.as_str())
    .bind(case.assignee_id.clone())
    .bind(attributes_text(&case.attributes)?)
    .bind(case.modified_by.clone())
    .bind(case.modified_at)
    .bind(case.closed_at)
    .bind(case.archived_at)
    .bind(&case.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a case as modified (its findings changed) inside `tx`.
pub(crate) async fn touch_case(
    tx: &mut Tx,
    case_id: &str,
    actor: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE cases SET modified_at = $1, modified_by = $2 WHERE id = $3")
        .bind(now)
        .bind(actor.map(str::to_string))
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Creates one case (and links its findings). Errors: `NotFound("project" | "user" |
    /// "finding")`.
    pub async fn create_case(
        &self,
        new: &NewCase,
        actor: Option<&str>,
    ) -> Result<Case, StoreError> {
        let mut created = self.create_cases(std::slice::from_ref(new), actor).await?;
        created.pop().ok_or(StoreError::NotFound("case"))
    }

    /// Creates several cases in one transaction: all of them or none.
    pub async fn create_cases(
        &self,
        news: &[NewCase],
        actor: Option<&str>,
    ) -> Result<Vec<Case>, StoreError> {
        let projects: Vec<String> = news.iter().map(|n| n.project_id.clone()).collect();
        let projects = &projects;
        self.retry_lost_races(|| async move {
            let mut tx = self.begin_write().await?;
            self.lock_projects(&mut tx, projects).await?;
            let now = now_ms();
            let mut created = Vec::with_capacity(news.len());
            for new in news {
                let case = insert_case(&mut tx, new, actor, now).await?;
                if !new.finding_ids.is_empty() {
                    link_findings(self, &mut tx, &case, &new.finding_ids, actor, now, false)
                        .await?;
                }
                created.push(case);
            }
            tx.commit().await?;
            Ok(created)
        })
        .await
    }

    /// A case by id or by key (`SEC-42`).
    pub async fn find_case(&self, id_or_key: &str) -> Result<Option<Case>, StoreError> {
        let (column, value) = case_lookup(id_or_key);
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE c.{column} = $1");
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(case_from_row).transpose()
    }

    /// Applies one change and records it on the timeline. `None` when the case does not exist;
    /// `NotFound("user")` when assigning to an unknown user. A change to the current value is
    /// a no-op (no cell, no modification).
    pub async fn change_case(
        &self,
        id_or_key: &str,
        change: &CaseChange,
        actor: Option<&str>,
    ) -> Result<Option<Case>, StoreError> {
        self.retry_lost_races(|| async move {
            let mut tx = self.begin_write().await?;
            let Some(case) = lock_case(self, &mut tx, id_or_key).await? else {
                return Ok(None);
            };
            let now = now_ms();
            let Some((next, event)) = case.apply(change, actor, now) else {
                return Ok(Some(case));
            };
            if let CaseChange::Assign(user_id) = change {
                let found = sqlx::query("SELECT id FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("user"));
                }
            }
            write_case(&mut tx, &next).await?;
            if let CaseChange::Attributes(attributes) = change {
                write_attribute_index(&mut tx, &next.id, attributes).await?;
            }
            append_event(&mut tx, &next.id, &event, actor, now).await?;
            tx.commit().await?;
            Ok(Some(next))
        })
        .await
    }

    /// Deletes a case (see the module invariants); false when it did not exist.
    pub async fn delete_case(&self, id_or_key: &str) -> Result<bool, StoreError> {
        let Some(found) = self.find_case(id_or_key).await? else {
            return Ok(false);
        };
        let found = &found;
        self.retry_lost_races(|| async move {
            let mut tx = self.begin_write().await?;
            self.lock_projects(&mut tx, std::slice::from_ref(&found.project_id))
                .await?;
            let Some(case) = lock_case(self, &mut tx, &found.id).await? else {
                return Ok(false);
            };
            let now = now_ms();
            sqlx::query(
                "UPDATE ticket_links SET case_id = NULL, detached_at = $1, updated_at = $1 \
                 WHERE case_id = $2",
            )
            .bind(now)
            .bind(&case.id)
            .execute(&mut *tx)
            .await?;
            for table in ["finding_cases", "case_timeline", "case_attribute_values"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE case_id = $1"))
                    .bind(&case.id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM cases WHERE id = $1")
                .bind(&case.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Views of `cases` (insights, live tickets, comment counts) with three queries in all.
    pub async fn case_views(&self, cases: Vec<Case>) -> Result<Vec<CaseView>, StoreError> {
        let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
        let mut insights = self.case_insights(&ids).await?;
        let mut tickets = self.ticket_links_for_cases(&ids).await?;
        let counts: HashMap<String, i64> = self.comment_counts(&ids).await?;
        Ok(cases
            .into_iter()
            .map(|case| CaseView {
                insights: insights.remove(&case.id).unwrap_or_default(),
                tickets: tickets.remove(&case.id).unwrap_or_default(),
                comment_count: counts.get(&case.id).copied().unwrap_or(0),
                case,
            })
            .collect())
    }

    /// The view of one case by id or key.
    pub async fn case_view(&self, id_or_key: &str) -> Result<Option<CaseView>, StoreError> {
        let Some(case) = self.find_case(id_or_key).await? else {
            return Ok(None);
        };
        Ok(self.case_views(vec![case]).await?.pop())
    }
}
