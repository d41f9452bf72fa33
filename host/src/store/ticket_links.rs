//! Ticket links in storage: what connectors report about the tickets they create or attach.
//!
//! Why: responses (`jira_issue`, `servicenow_ticket`, `workflow.integrations`) and the sync
//! engine read these rows; connectors write them through the functions here.
//! Invariants:
//! - one live link per (case, backend): reporting again for the same backend updates the link;
//! - every new or replaced link adds a TICKET_LINKED cell to the case, in the same transaction;
//! - detached links (case or project deleted) are kept with `case_id` NULL and are never listed
//!   as a case's tickets.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::cases::lock_case;
use super::timeline::append_event;
use super::write_tx::placeholders;
use super::{now_ms, Store, StoreError};
use crate::domain::ticket_link::{CreationStatus, NewTicketLink, TicketBackend, TicketLink};
use crate::domain::timeline::TimelineEvent;

const LINK_COLUMNS: &str = "id, case_id, backend, account, external_id, external_key, url, \
     table_name, creation_status, error_message, remote_status, created_at, updated_at, detached_at";

fn link_from_row(row: &AnyRow) -> Result<TicketLink, StoreError> {
    let backend: String = row.try_get("backend")?;
    let status: String = row.try_get("creation_status")?;
    Ok(TicketLink {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        backend: TicketBackend::parse(&backend)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket_links.backend {backend:?}")))?,
        account: row.try_get("account")?,
        external_id: row.try_get("external_id")?,
        external_key: row.try_get("external_key")?,
        url: row.try_get("url")?,
        table_name: row.try_get("table_name")?,
        creation_status: CreationStatus::parse(&status).ok_or_else(|| {
            StoreError::Corrupt(format!("ticket_links.creation_status {status:?}"))
        })?,
        error_message: row.try_get("error_message")?,
        remote_status: row.try_get("remote_status")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        detached_at: row.try_get("detached_at")?,
    })
}

impl Store {
    /// Records (or replaces) a case's ticket on `link.backend`. `NotFound("case")` when the case
    /// does not exist; `Conflict` when the report is incomplete (see `NewTicketLink::validate`).
    pub async fn link_ticket(
        &self,
        case_id_or_key: &str,
        link: &NewTicketLink,
        actor: Option<&str>,
    ) -> Result<TicketLink, StoreError> {
        link.validate()
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        self.retry_lost_races(|| async move {
            let mut tx = self.begin_write().await?;
            let case = lock_case(self, &mut tx, case_id_or_key)
                .await?
                .ok_or(StoreError::NotFound("case"))?;
            let now = now_ms();
            let sql = format!(
                "SELECT {LINK_COLUMNS} FROM ticket_links WHERE case_id = $1 AND backend = $2"
            );
            let existing = sqlx::query(&sql)
                .bind(&case.id)
                .bind(link.backend.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let (id, created_at) = match existing {
                Some(row) => {
                    let old = link_from_row(&row)?;
                    (old.id, old.created_at)
                }
                None => (uuid::Uuid::new_v4().to_string(), now),
            };
            sqlx::query("DELETE FROM ticket_links WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO ticket_links (id, case_id, backend, account, external_id, external_key, \
                 url, table_name, creation_status, error_message, remote_status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&id)
            .bind(&case.id)
            .bind(link.backend.as_str())
            .bind(link.account.clone())
            .bind(link.external_id.clone())
            .bind(link.external_key.clone())
            .bind(link.url.clone())
            .bind(link.table_name.clone())
            .bind(link.creation_status.as_str())
            .bind(link.error_message.clone())
            .bind(link.remote_status.clone())
            .bind(created_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let event = TimelineEvent::TicketLinked {
                backend: link.backend.as_str(),
                key: link.external_key.clone(),
                url: link.url.clone(),
                creation_status: link.creation_status.as_str(),
            };
            append_event(&mut tx, &case.id, &event, actor, now).await?;
            tx.commit().await?;
            Ok(TicketLink {
                id,
                case_id: Some(case.id),
                backend: link.backend,
                account: link.account.clone(),
                external_id: link.external_id.clone(),
                external_key: link.external_key.clone(),
                url: link.url.clone(),
                table_name: link.table_name.clone(),
                creation_status: link.creation_status,
                error_message: link.error_message.clone(),
                remote_status: link.remote_status.clone(),
                created_at,
                updated_at: now,
                detached_at: None,
            })
        })
        .await
    }

    /// Records the ticket's status on its backend as last seen by the sync engine; false when
    /// no live link has that id.
    pub async fn set_ticket_remote_status(
        &self,
        link_id: &str,
        remote_status: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE ticket_links SET remote_status = $1, updated_at = $2 \
             WHERE id = $3 AND case_id IS NOT NULL",
        )
        .bind(remote_status)
        .bind(now_ms())
        .bind(link_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The live link for an external ticket (e.g. Jira key `SEC-12`), if any.
    pub async fn find_ticket_link(
        &self,
        backend: TicketBackend,
        external_key: &str,
    ) -> Result<Option<TicketLink>, StoreError> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM ticket_links \
             WHERE backend = $1 AND external_key = $2 AND case_id IS NOT NULL \
             ORDER BY created_at LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(backend.as_str())
            .bind(external_key)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    /// A link by id, live or detached.
    pub async fn get_ticket_link(&self, id: &str) -> Result<Option<TicketLink>, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM ticket_links WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    /// Live links per case (one query).
    pub async fn ticket_links_for_cases(
        &self,
        case_ids: &[String],
    ) -> Result<HashMap<String, Vec<TicketLink>>, StoreError> {
        if case_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM ticket_links WHERE case_id IN ({}) ORDER BY backend",
            placeholders(1, case_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in case_ids {
            query = query.bind(id);
        }
        let mut out: HashMap<String, Vec<TicketLink>> = HashMap::new();
        for row in query.fetch_all(self.pool()).await? {
            let link = link_from_row(&row)?;
            if let Some(case_id) = link.case_id.clone() {
                out.entry(case_id).or_default().push(link);
            }
        }
        Ok(out)
    }
}
