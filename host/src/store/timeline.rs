//! Case timelines in storage: events appended with the change they record, and comments.
//!
//! Why: see `domain::timeline`; this module is the only writer of `case_timeline`.
//! Invariants:
//! - a cell's `seq` comes from its case row (`cases.event_seq`, bumped with an UPDATE … RETURNING
//!   inside the caller's transaction), so positions are unique and dense (1, 2, 3…) per case even
//!   under concurrent writers;
//! - deleted comments keep their row with `deleted_at` set and are never listed.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::write_tx::placeholders;
use super::{now_ms, Store, StoreError, Tx};
use crate::domain::timeline::{TimelineCell, TimelineEvent, COMMENT};

const CELL_COLUMNS: &str =
    "id, case_id, seq, cell_type, content, author_id, created_at, modified_at, deleted_at";

fn cell_from_row(row: &AnyRow) -> Result<TimelineCell, StoreError> {
    let content: String = row.try_get("content")?;
    Ok(TimelineCell {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        seq: row.try_get("seq")?,
        cell_type: row.try_get("cell_type")?,
        content: serde_json::from_str(&content)
            .map_err(|e| StoreError::Corrupt(format!("case_timeline.content: {e}")))?,
        author_id: row.try_get("author_id")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// Which per-case sequence to draw from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaseSeq {
    /// Timeline cell positions (`cases.event_seq`).
    Timeline,
    /// Linked-finding positions (`cases.link_seq`).
    Links,
}

/// Reserves `count` consecutive positions of a case sequence; returns the first. `None` when the
/// case is missing.
pub(crate) async fn reserve_seq(
    tx: &mut Tx,
    case_id: &str,
    seq: CaseSeq,
    count: i64,
) -> Result<Option<i64>, StoreError> {
    let column = match seq {
        CaseSeq::Timeline => "event_seq",
        CaseSeq::Links => "link_seq",
    };
    let sql = format!(
        "UPDATE cases SET {column} = {column} + $1 WHERE id = $2 RETURNING {column} AS last_seq"
    );
    let row = sqlx::query(&sql)
        .bind(count)
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => {
            let last: i64 = row.try_get("last_seq")?;
            Ok(Some(last - count + 1))
        }
        None => Ok(None),
    }
}

/// Appends one event to a case's timeline inside `tx`.
pub(crate) async fn append_event(
    tx: &mut Tx,
    case_id: &str,
    event: &TimelineEvent,
    actor: Option<&str>,
    now: i64,
) -> Result<TimelineCell, StoreError> {
    let seq = reserve_seq(tx, case_id, CaseSeq::Timeline, 1)
        .await?
        .ok_or(StoreError::NotFound("case"))?;
    let cell = TimelineCell {
        id: uuid::Uuid::new_v4().to_string(),
        case_id: case_id.to_string(),
        seq,
        cell_type: event.cell_type().to_string(),
        content: event.content(),
        author_id: actor.map(str::to_string),
        created_at: now,
        modified_at: None,
        deleted_at: None,
    };
    sqlx::query(
        "INSERT INTO case_timeline (id, case_id, seq, cell_type, content, author_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&cell.id)
    .bind(&cell.case_id)
    .bind(cell.seq)
    .bind(&cell.cell_type)
    .bind(cell.content.to_string())
    .bind(cell.author_id.clone())
    .bind(cell.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(cell)
}

/// Outcome of editing or deleting a comment.
#[derive(Debug, Clone, PartialEq)]
pub enum CommentEdit {
    Done(Box<TimelineCell>),
    CaseNotFound,
    /// No cell with that id on that case.
    CellNotFound,
    /// The comment was deleted before.
    CellDeleted,
    /// The cell is an event, not a comment.
    NotAComment,
}

/// Which page of a timeline to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelinePage {
    pub size: i64,
    /// Zero-based.
    pub number: i64,
    /// Oldest first when true.
    pub ascending: bool,
}

impl Store {
    /// Adds a comment; `None` when the case does not exist.
    pub async fn add_comment(
        &self,
        case_id: &str,
        message: &str,
        actor: Option<&str>,
    ) -> Result<Option<TimelineCell>, StoreError> {
        let mut tx = self.begin_write().await?;
        let event = TimelineEvent::Comment {
            message: message.to_string(),
        };
        match append_event(&mut tx, case_id, &event, actor, now_ms()).await {
            Ok(cell) => {
                tx.commit().await?;
                Ok(Some(cell))
            }
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Replaces a comment's message.
    pub async fn update_comment(
        &self,
        case_id: &str,
        cell_id: &str,
        message: &str,
    ) -> Result<CommentEdit, StoreError> {
        self.edit_comment(case_id, cell_id, Some(message)).await
    }

    /// Soft-deletes a comment.
    pub async fn delete_comment(
        &self,
        case_id: &str,
        cell_id: &str,
    ) -> Result<CommentEdit, StoreError> {
        self.edit_comment(case_id, cell_id, None).await
    }

    async fn edit_comment(
        &self,
        case_id: &str,
        cell_id: &str,
        new_message: Option<&str>,
    ) -> Result<CommentEdit, StoreError> {
        let mut tx = self.begin_write().await?;
        let case_sql = format!("SELECT id FROM cases WHERE id = $1{}", self.for_update());
        if sqlx::query(&case_sql)
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Ok(CommentEdit::CaseNotFound);
        }
        let sql =
            format!("SELECT {CELL_COLUMNS} FROM case_timeline WHERE id = $1 AND case_id = $2");
        let Some(row) = sqlx::query(&sql)
            .bind(cell_id)
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(CommentEdit::CellNotFound);
        };
        let mut cell = cell_from_row(&row)?;
        if cell.deleted_at.is_some() {
            return Ok(CommentEdit::CellDeleted);
        }
        if !cell.is_comment() {
            return Ok(CommentEdit::NotAComment);
        }
        let now = now_ms();
        match new_message {
            Some(message) => {
                cell.content = TimelineEvent::Comment {
                    message: message.to_string(),
                }
                .content();
                cell.modified_at = Some(now);
                sqlx::query(
                    "UPDATE case_timeline SET content = $1, modified_at = $2 WHERE id = $3",
                )
                .bind(cell.content.to_string())
                .bind(now)
                .bind(&cell.id)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                cell.deleted_at = Some(now);
                sqlx::query("UPDATE case_timeline SET deleted_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&cell.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(CommentEdit::Done(Box::new(cell)))
    }

    /// One page of a case's live cells.
    pub async fn list_timeline(
        &self,
        case_id: &str,
        page: TimelinePage,
    ) -> Result<Vec<TimelineCell>, StoreError> {
        let direction = if page.ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {CELL_COLUMNS} FROM case_timeline WHERE case_id = $1 AND deleted_at IS NULL \
             ORDER BY seq {direction} LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(case_id)
            .bind(page.size)
            .bind(page.size.saturating_mul(page.number))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(cell_from_row).collect()
    }

    /// Live comment counts per case (cases without comments are absent).
    pub async fn comment_counts(
        &self,
        case_ids: &[String],
    ) -> Result<HashMap<String, i64>, StoreError> {
        if case_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT case_id, COUNT(*) AS n FROM case_timeline \
             WHERE cell_type = $1 AND deleted_at IS NULL AND case_id IN ({}) GROUP BY case_id",
            placeholders(2, case_ids.len())
        );
        let mut query = sqlx::query(&sql).bind(COMMENT);
        for id in case_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("case_id")?, row.try_get("n")?)))
            .collect()
    }

    /// Every cell of a case, deleted ones included (tests and audits).
    pub async fn timeline_cells(&self, case_id: &str) -> Result<Vec<TimelineCell>, StoreError> {
        let sql =
            format!("SELECT {CELL_COLUMNS} FROM case_timeline WHERE case_id = $1 ORDER BY seq");
        let rows = sqlx::query(&sql)
            .bind(case_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(cell_from_row).collect()
    }
}

/// The `message` of a comment cell.
pub fn comment_message(cell: &TimelineCell) -> Option<&str> {
    match &cell.content {
        Value::Object(map) => map.get("message").and_then(Value::as_str),
        _ => None,
    }
}
