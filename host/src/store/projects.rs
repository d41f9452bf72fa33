//! Projects in storage: create, read, update (settings and integration slots), delete.
//!
//! Why: projects own cases and their key counter; deleting one must leave nothing dangling.
//! Invariants:
//! - a project key is unique among live projects and its case counter row
//!   (`case_key_counters`) outlives the project, so a recreated key continues its numbering;
//! - deleting a project, in one transaction: detaches its cases' ticket links (kept, without a
//!   case), unlinks its findings (findings themselves are untouched), deletes its cases and their
//!   timelines, then the project.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, Store, StoreError, Tx};
use crate::domain::project::{IntegrationSlot, NewProject, Project, ProjectChange};

const PROJECT_COLUMNS: &str = "id, name, project_key, settings, jira_settings, servicenow_settings, \
     case_management_settings, enabled_custom_case_types, team_uuid, created_by, created_at, modified_at";

fn json_object(column: &str, text: &str) -> Result<Map<String, Value>, StoreError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(StoreError::Corrupt(format!(
            "{column} is not a JSON object"
        ))),
        Err(e) => Err(StoreError::Corrupt(format!("{column}: {e}"))),
    }
}

fn optional_object(
    column: &str,
    text: Option<String>,
) -> Result<Option<Map<String, Value>>, StoreError> {
    text.map(|t| json_object(column, &t)).transpose()
}

fn project_from_row(row: &AnyRow) -> Result<Project, StoreError> {
    let settings: String = row.try_get("settings")?;
    let types: String = row.try_get("enabled_custom_case_types")?;
    Ok(Project {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key: row.try_get("project_key")?,
        settings: json_object("projects.settings", &settings)?,
        jira: optional_object("projects.jira_settings", row.try_get("jira_settings")?)?,
        servicenow: optional_object(
            "projects.servicenow_settings",
            row.try_get("servicenow_settings")?,
        )?,
        case_management: optional_object(
            "projects.case_management_settings",
            row.try_get("case_management_settings")?,
        )?,
        enabled_custom_case_types: serde_json::from_str(&types)
            .map_err(|e| StoreError::Corrupt(format!("projects.enabled_custom_case_types: {e}")))?,
        team_uuid: row.try_get("team_uuid")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
    })
}

fn to_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Creates a project; a key already used by a live project is a [`StoreError::Conflict`].
    pub async fn create_project(
        &self,
        new: &NewProject,
        actor: Option<&str>,
    ) -> Result<Project, StoreError> {
        let now = now_ms();
        let project = Project {
            id: uuid::Uuid::new_v4().to_string(),
            name: new.name.clone(),
            key: new.key.clone(),
            settings: Map::new(),
            jira: None,
            servicenow: None,
            case_management: None,
            enabled_custom_case_types: new.enabled_custom_case_types.clone(),
            team_uuid: new.team_uuid.clone(),
            created_by: actor.map(str::to_string),
            created_at: now,
            modified_at: now,
        };
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT id FROM projects WHERE project_key = $1")
            .bind(&project.key)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(key_taken(&project.key));
        }
        let inserted = sqlx::query(
            "INSERT INTO projects (id, name, project_key, settings, enabled_custom_case_types, \
             team_uuid, created_by, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(&project.key)
        .bind("{}")
        .bind(to_text(&project.enabled_custom_case_types)?)
        .bind(project.team_uuid.clone())
        .bind(project.created_by.clone())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(err) = inserted {
            let err = StoreError::from(err);
            return Err(if err.is_unique_violation() {
                key_taken(&project.key)
            } else {
                err
            });
        }
        sqlx::query(
            "INSERT INTO case_key_counters (project_key, next_number) VALUES ($1, 1) \
             ON CONFLICT (project_key) DO NOTHING",
        )
        .bind(&project.key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(project)
    }

    /// One project by id.
    pub async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(project_from_row).transpose()
    }

    /// Every project, by key.
    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY project_key");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(project_from_row).collect()
    }

    /// Applies a change; `None` when the project does not exist.
    pub async fn update_project(
        &self,
        id: &str,
        change: &ProjectChange,
    ) -> Result<Option<Project>, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1{}",
            self.for_update()
        );
        let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let mut project = project_from_row(&row)?;
        if let Some(name) = &change.name {
            project.name = name.clone();
        }
        for (key, value) in &change.settings {
            project.settings.insert(key.clone(), value.clone());
        }
        for (slot, values) in &change.integrations {
            *integration_mut(&mut project, *slot) = values.clone();
        }
        if let Some(types) = &change.enabled_custom_case_types {
            project.enabled_custom_case_types = types.clone();
        }
        if let Some(team) = &change.team_uuid {
            project.team_uuid = Some(team.clone());
        }
        project.modified_at = now_ms();
        write_project(&mut tx, &project).await?;
        tx.commit().await?;
        Ok(Some(project))
    }

    /// Replaces one integration slot (connectors' setup path); `None` when the project is missing.
    pub async fn set_project_integration(
        &self,
        id: &str,
        slot: IntegrationSlot,
        settings: Option<Map<String, Value>>,
    ) -> Result<Option<Project>, StoreError> {
        let change = ProjectChange {
            integrations: vec![(slot, settings)],
            ..ProjectChange::default()
        };
        self.update_project(id, &change).await
    }

    /// Deletes a project and its cases (see the module invariants); false when it did not exist.
    pub async fn delete_project(&self, id: &str) -> Result<bool, StoreError> {
        self.retry_lost_races(|| async move {
            let mut tx = self.begin_write().await?;
            let sql = format!("SELECT id FROM projects WHERE id = $1{}", self.for_update());
            if sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .is_none()
            {
                return Ok(false);
            }
            let now = now_ms();
            sqlx::query(
                "UPDATE ticket_links SET case_id = NULL, detached_at = $1, updated_at = $1 \
                 WHERE case_id IN (SELECT id FROM cases WHERE project_id = $2)",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM finding_cases WHERE project_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM case_timeline WHERE case_id IN (SELECT id FROM cases WHERE project_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM case_attribute_values WHERE case_id IN \
                 (SELECT id FROM cases WHERE project_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM cases WHERE project_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM projects WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}

fn key_taken(key: &str) -> StoreError {
    StoreError::Conflict(format!("a project with key {key} already exists"))
}

fn integration_mut(
    project: &mut Project,
    slot: IntegrationSlot,
) -> &mut Option<Map<String, Value>> {
    match slot {
        IntegrationSlot::Jira => &mut project.jira,
        IntegrationSlot::ServiceNow => &mut project.servicenow,
        IntegrationSlot::CaseManagement => &mut project.case_management,
    }
}

async fn write_project(tx: &mut Tx, project: &Project) -> Result<(), StoreError> {
    let slot_text = |slot: IntegrationSlot| -> Result<Option<String>, StoreError> {
        project.integration(slot).map(to_text).transpose()
    };
    sqlx::query(
        "UPDATE projects SET name = $1, settings = $2, jira_settings = $3, servicenow_settings = $4, \
         case_management_settings = $5, enabled_custom_case_types = $6, team_uuid = $7, \
         modified_at = $8 WHERE id = $9",
    )
    .bind(&project.name)
    .bind(to_text(&project.settings)?)
    .bind(slot_text(IntegrationSlot::Jira)?)
    .bind(slot_text(IntegrationSlot::ServiceNow)?)
    .bind(slot_text(IntegrationSlot::CaseManagement)?)
    .bind(to_text(&project.enabled_custom_case_types)?)
    .bind(project.team_uuid.clone())
    .bind(project.modified_at)
    .bind(&project.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
