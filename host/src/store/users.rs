//! Users as cases see them: assignees, authors, creators.
//!
//! Why: case responses name users (relationships and `included`), and assignment must refuse a
//! user that does not exist. The `users` table itself comes from the keys migration (0150).
//! Invariants: handles are unique; users are never deleted here (cases keep pointing at them).

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::write_tx::placeholders;
use super::{now_ms, Store, StoreError};

/// A user record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub email: Option<String>,
    pub created_at: i64,
}

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id")?,
        handle: row.try_get("handle")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        created_at: row.try_get("created_at")?,
    })
}

const USER_COLUMNS: &str = "id, handle, name, email, created_at";

impl Store {
    /// Creates a user; a taken handle is a [`StoreError::Conflict`].
    pub async fn create_user(
        &self,
        handle: &str,
        name: &str,
        email: Option<&str>,
    ) -> Result<User, StoreError> {
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            handle: handle.to_string(),
            name: name.to_string(),
            email: email.map(str::to_string),
            created_at: now_ms(),
        };
        let inserted = sqlx::query(
            "INSERT INTO users (id, handle, name, email, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.handle)
        .bind(&user.name)
        .bind(user.email.clone())
        .bind(user.created_at)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(user),
            Err(err) => {
                let err = StoreError::from(err);
                if err.is_unique_violation() {
                    Err(StoreError::Conflict(format!(
                        "a user with handle {handle:?} already exists"
                    )))
                } else {
                    Err(err)
                }
            }
        }
    }

    /// One user by id.
    pub async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, by handle.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY handle");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// The users among `ids` that exist (one query).
    pub async fn users_by_ids(&self, ids: &[String]) -> Result<HashMap<String, User>, StoreError> {
        let mut unique: Vec<&String> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        if unique.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id IN ({})",
            placeholders(1, unique.len())
        );
        let mut query = sqlx::query(&sql);
        for id in &unique {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| user_from_row(row).map(|u| (u.id.clone(), u)))
            .collect()
    }
}
