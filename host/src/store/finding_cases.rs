//! Findings ↔ cases: linking, moving, detaching, and the `workflow.integrations` read model.
//!
//! Why: the product rule "a finding belongs to at most one case at a time per project" is
//! enforced here (and by the primary key of `finding_cases`), and findings list/search needs each
//! finding's cases and tickets in a fixed number of queries.
//! Invariants:
//! - linking a finding already in another case of the same project *moves* it, in the same
//!   transaction, and the old case's timeline gets a FINDINGS_MOVED_OUT cell naming the new case;
//! - linking a finding already in the target case changes nothing;
//! - detaching removes links only; the `findings` rows (status, mute) are never written here;
//! - [`Store::finding_integrations`] runs one query whatever the batch size (≤ 150 ids by the
//!   findings API's page limit), and answers an entry for every id asked.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};
use sqlx::Row;

use super::cases::{lock_case, touch_case, CASE_COLUMNS};
use super::timeline::{append_event, reserve_seq, CaseSeq};
use super::write_tx::placeholders;
use super::{now_ms, Store, StoreError, Tx};
use crate::domain::case::{Case, CaseStatus, Insight};
use crate::domain::timeline::{MovedFrom, TimelineEvent};

/// Distinct ids, first occurrence order.
fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Fails with `NotFound("finding")` unless every id is a stored finding.
async fn require_findings(tx: &mut Tx, ids: &[String]) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT id FROM findings WHERE id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id);
    }
    let found = query.fetch_all(&mut **tx).await?;
    if found.len() != ids.len() {
        return Err(StoreError::NotFound("finding"));
    }
    Ok(())
}

/// Links `finding_ids` to `case` inside `tx` (moving them from other cases of its project).
/// The caller holds the lock of the case's project ([`Store::lock_projects`]).
/// `touch_target` marks the case modified (false at creation, where the case is new).
pub(crate) async fn link_findings(
    store: &Store,
    tx: &mut Tx,
    case: &Case,
    finding_ids: &[String],
    actor: Option<&str>,
    now: i64,
    touch_target: bool,
) -> Result<(), StoreError> {
    let ids = distinct(finding_ids);
    if ids.is_empty() {
        return Ok(());
    }
    require_findings(tx, &ids).await?;
    let sql = format!(
        "SELECT finding_id, case_id FROM finding_cases WHERE project_id = $1 AND finding_id IN ({}){}",
        placeholders(2, ids.len()),
        store.for_update()
    );
    let mut query = sqlx::query(&sql).bind(&case.project_id);
    for id in &ids {
        query = query.bind(id);
    }
    let mut current: HashMap<String, String> = HashMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        current.insert(row.try_get("finding_id")?, row.try_get("case_id")?);
    }
    // Old case id → findings leaving it (sorted, so locks are taken in a stable order).
    let mut moved: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut to_link = Vec::new();
    for id in &ids {
        match current.get(id) {
            Some(owner) if *owner == case.id => {}
            Some(owner) => {
                moved.entry(owner.clone()).or_default().push(id.clone());
                to_link.push(id.clone());
            }
            None => to_link.push(id.clone()),
        }
    }
    if to_link.is_empty() {
        return Ok(());
    }
    let first_seq = reserve_seq(tx, &case.id, CaseSeq::Links, to_link.len() as i64)
        .await?
        .ok_or(StoreError::NotFound("case"))?;
    for (offset, id) in to_link.iter().enumerate() {
        let seq = first_seq + offset as i64;
        if current.contains_key(id) {
            sqlx::query(
                "UPDATE finding_cases SET case_id = $1, seq = $2, attached_by = $3, attached_at = $4 \
                 WHERE finding_id = $5 AND project_id = $6",
            )
            .bind(&case.id)
            .bind(seq)
            .bind(actor.map(str::to_string))
            .bind(now)
            .bind(id)
            .bind(&case.project_id)
            .execute(&mut **tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO finding_cases (finding_id, project_id, case_id, seq, attached_by, attached_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&case.project_id)
            .bind(&case.id)
            .bind(seq)
            .bind(actor.map(str::to_string))
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    let mut moved_from = Vec::new();
    if !moved.is_empty() {
        let old_ids: Vec<String> = moved.keys().cloned().collect();
        let sql = format!(
            "SELECT id, case_key FROM cases WHERE id IN ({})",
            placeholders(1, old_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in &old_ids {
            query = query.bind(id);
        }
        let mut keys = HashMap::new();
        for row in query.fetch_all(&mut **tx).await? {
            keys.insert(
                row.try_get::<String, _>("id")?,
                row.try_get::<String, _>("case_key")?,
            );
        }
        for (old_case, findings) in &moved {
            let event = TimelineEvent::FindingsMovedOut {
                finding_ids: findings.clone(),
                to_case_id: case.id.clone(),
                to_case_key: case.key.clone(),
            };
            append_event(tx, old_case, &event, actor, now).await?;
            touch_case(tx, old_case, actor, now).await?;
            moved_from.push(MovedFrom {
                case_id: old_case.clone(),
                case_key: keys.get(old_case).cloned().unwrap_or_default(),
                finding_ids: findings.clone(),
            });
        }
    }
    let event = TimelineEvent::FindingsAttached {
        finding_ids: to_link,
        moved_from,
    };
    append_event(tx, &case.id, &event, actor, now).await?;
    if touch_target {
        touch_case(tx, &case.id, actor, now).await?;
    }
    Ok(())
}

/// Which cases lost which findings in a detach.
pub type Detached = BTreeMap<String, Vec<String>>;

impl Store {
    /// Links findings to an existing case (by id or key), moving them from other cases of its
    /// project. `None` when the case does not exist; `NotFound("finding")` when any finding
    /// does not exist (then nothing is linked).
    pub async fn attach_findings(
        &self,
        case_id_or_key: &str,
        finding_ids: &[String],
        actor: Option<&str>,
    ) -> Result<Option<Case>, StoreError> {
        let Some(found) = self.find_case(case_id_or_key).await? else {
            return Ok(None);
        };
        let found = &found;
        let attached = self
            .retry_lost_races(|| async move {
                let mut tx = self.begin_write().await?;
                self.lock_projects(&mut tx, std::slice::from_ref(&found.project_id))
                    .await?;
                let Some(case) = lock_case(self, &mut tx, &found.id).await? else {
                    return Ok(None);
                };
                link_findings(self, &mut tx, &case, finding_ids, actor, now_ms(), true).await?;
                tx.commit().await?;
                Ok(Some(case.id))
            })
            .await?;
        match attached {
            Some(id) => self.find_case(&id).await,
            None => Ok(None),
        }
    }

    /// Unlinks findings from every case they are linked to (in any project). Fails with
    /// `NotFound("finding")` when any finding does not exist; findings without a case are fine.
    pub async fn detach_findings(
        &self,
        finding_ids: &[String],
        actor: Option<&str>,
    ) -> Result<Detached, StoreError> {
        let ids = distinct(finding_ids);
        if ids.is_empty() {
            return Ok(Detached::new());
        }
        let ids = &ids;
        self.retry_lost_races(|| async move {
            let mut tx = self.begin_write().await?;
            require_findings(&mut tx, ids).await?;
            let list = placeholders(1, ids.len());
            // Which projects are concerned; lock them, then read the links under the locks.
            let sql = format!(
                "SELECT DISTINCT project_id FROM finding_cases WHERE finding_id IN ({list})"
            );
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(id);
            }
            let mut projects = Vec::new();
            for row in query.fetch_all(&mut *tx).await? {
                projects.push(row.try_get::<String, _>("project_id")?);
            }
            self.lock_projects(&mut tx, &projects).await?;
            let sql = format!(
                "SELECT finding_id, case_id FROM finding_cases WHERE finding_id IN ({list}){}",
                self.for_update()
            );
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(id);
            }
            let mut detached = Detached::new();
            for row in query.fetch_all(&mut *tx).await? {
                detached
                    .entry(row.try_get("case_id")?)
                    .or_default()
                    .push(row.try_get("finding_id")?);
            }
            if detached.is_empty() {
                return Ok(detached);
            }
            let sql = format!("DELETE FROM finding_cases WHERE finding_id IN ({list})");
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(id);
            }
            query.execute(&mut *tx).await?;
            let now = now_ms();
            for (case_id, findings) in &detached {
                let event = TimelineEvent::FindingsDetached {
                    finding_ids: findings.clone(),
                };
                append_event(&mut tx, case_id, &event, actor, now).await?;
                touch_case(&mut tx, case_id, actor, now).await?;
            }
            tx.commit().await?;
            Ok(detached)
        })
        .await
    }

    /// Linked findings per case, in link order (one query).
    pub async fn case_insights(
        &self,
        case_ids: &[String],
    ) -> Result<HashMap<String, Vec<Insight>>, StoreError> {
        if case_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT case_id, finding_id, attached_at FROM finding_cases WHERE case_id IN ({}) \
             ORDER BY case_id, seq",
            placeholders(1, case_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in case_ids {
            query = query.bind(id);
        }
        let mut out: HashMap<String, Vec<Insight>> = HashMap::new();
        for row in query.fetch_all(self.pool()).await? {
            out.entry(row.try_get("case_id")?)
                .or_default()
                .push(Insight {
                    finding_id: row.try_get("finding_id")?,
                    attached_at: row.try_get("attached_at")?,
                });
        }
        Ok(out)
    }

    /// The cases a finding is linked to (at most one per project), oldest first.
    pub async fn cases_of_finding(&self, finding_id: &str) -> Result<Vec<Case>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM finding_cases fc JOIN cases c ON c.id = fc.case_id \
             WHERE fc.finding_id = $1 ORDER BY c.created_at, c.id"
        );
        let rows = sqlx::query(&sql)
            .bind(finding_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(super::cases::case_from_row).collect()
    }

    /// Titles of the stored findings among `ids` (absent ids are not in the map).
    pub async fn finding_titles(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let ids = distinct(ids);
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT id, title FROM findings WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("title")?)))
            .collect()
    }

    /// `workflow.integrations` for each finding id asked (findings-schema §6.26):
    ///
    /// ```json
    /// {"cases": [{"id", "key", "title", "status", "created_at", "created_by": {"id","name"},
    ///             "updated_at", "updated_by": {"id","name"}, "assignee": {"id","name"},
    ///             "jira_issue": {"key","status","url"},
    ///             "servicenow_ticket": {"state","sys_id","table_name","url"}}],
    ///  "jira": ["KEY-1"]}
    /// ```
    ///
    /// Every requested id gets an entry (empty arrays when it has no case). `status` is the
    /// lower-case case status (`open`, `in_progress`, `closed`) as in the schema's examples;
    /// timestamps are milliseconds. Optional members are omitted when unknown. One query.
    pub async fn finding_integrations(
        &self,
        finding_ids: &[String],
    ) -> Result<HashMap<String, Value>, StoreError> {
        let ids = distinct(finding_ids);
        let mut cases: HashMap<String, Vec<Value>> =
            ids.iter().map(|id| (id.clone(), Vec::new())).collect();
        let mut jira: HashMap<String, Vec<String>> = HashMap::new();
        if !ids.is_empty() {
            let sql = format!(
                "SELECT fc.finding_id, c.id, c.case_key, c.title, c.status, c.created_at, c.modified_at, \
                 c.created_by, cu.name AS created_by_name, c.modified_by, mu.name AS modified_by_name, \
                 c.assignee_id, au.name AS assignee_name, \
                 j.external_key AS jira_key, j.remote_status AS jira_status, j.url AS jira_url, \
                 s.external_id AS sn_sys_id, s.remote_status AS sn_state, s.table_name AS sn_table, \
                 s.url AS sn_url \
                 FROM finding_cases fc \
                 JOIN cases c ON c.id = fc.case_id \
                 LEFT JOIN users cu ON cu.id = c.created_by \
                 LEFT JOIN users mu ON mu.id = c.modified_by \
                 LEFT JOIN users au ON au.id = c.assignee_id \
                 LEFT JOIN ticket_links j ON j.case_id = c.id AND j.backend = 'jira' \
                 LEFT JOIN ticket_links s ON s.case_id = c.id AND s.backend = 'servicenow' \
                 WHERE fc.finding_id IN ({}) \
                 ORDER BY fc.finding_id, c.created_at, c.id",
                placeholders(1, ids.len())
            );
            let mut query = sqlx::query(&sql);
            for id in &ids {
                query = query.bind(id);
            }
            for row in query.fetch_all(self.pool()).await? {
                let finding_id: String = row.try_get("finding_id")?;
                let status: String = row.try_get("status")?;
                let status = CaseStatus::parse(&status)
                    .map(CaseStatus::lower)
                    .map_err(|_| StoreError::Corrupt(format!("cases.status {status:?}")))?;
                let created_at: i64 = row.try_get("created_at")?;
                let modified_at: Option<i64> = row.try_get("modified_at")?;
                let mut entry = Map::new();
                entry.insert("id".into(), json!(row.try_get::<String, _>("id")?));
                entry.insert("key".into(), json!(row.try_get::<String, _>("case_key")?));
                entry.insert("title".into(), json!(row.try_get::<String, _>("title")?));
                entry.insert("status".into(), json!(status));
                entry.insert("created_at".into(), json!(created_at));
                entry.insert(
                    "updated_at".into(),
                    json!(modified_at.unwrap_or(created_at)),
                );
                let created_by =
                    person(row.try_get("created_by")?, row.try_get("created_by_name")?);
                let modified_by = person(
                    row.try_get("modified_by")?,
                    row.try_get("modified_by_name")?,
                );
                if let Some(p) = &created_by {
                    entry.insert("created_by".into(), p.clone());
                }
                if let Some(p) = modified_by.or(created_by) {
                    entry.insert("updated_by".into(), p);
                }
                if let Some(p) = person(row.try_get("assignee_id")?, row.try_get("assignee_name")?)
                {
                    entry.insert("assignee".into(), p);
                }
                let jira_key: Option<String> = row.try_get("jira_key")?;
                if let Some(key) = &jira_key {
                    let mut issue = Map::new();
                    issue.insert("key".into(), json!(key));
                    insert_some(&mut issue, "status", row.try_get("jira_status")?);
                    insert_some(&mut issue, "url", row.try_get("jira_url")?);
                    entry.insert("jira_issue".into(), Value::Object(issue));
                    let keys = jira.entry(finding_id.clone()).or_default();
                    if !keys.contains(key) {
                        keys.push(key.clone());
                    }
                }
                let sys_id: Option<String> = row.try_get("sn_sys_id")?;
                let sn_url: Option<String> = row.try_get("sn_url")?;
                if sys_id.is_some() || sn_url.is_some() {
                    let mut ticket = Map::new();
                    insert_some(&mut ticket, "state", row.try_get("sn_state")?);
                    insert_some(&mut ticket, "sys_id", sys_id);
                    insert_some(&mut ticket, "table_name", row.try_get("sn_table")?);
                    insert_some(&mut ticket, "url", sn_url);
                    entry.insert("servicenow_ticket".into(), Value::Object(ticket));
                }
                cases
                    .entry(finding_id)
                    .or_default()
                    .push(Value::Object(entry));
            }
        }
        Ok(cases
            .into_iter()
            .map(|(id, cases)| {
                let keys = jira.remove(&id).unwrap_or_default();
                (id, json!({"cases": cases, "jira": keys}))
            })
            .collect())
    }
}

fn person(id: Option<String>, name: Option<String>) -> Option<Value> {
    id.map(|id| json!({"id": id, "name": name.unwrap_or_default()}))
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        map.insert(key.to_string(), json!(value));
    }
}
