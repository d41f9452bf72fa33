//! Runtime settings of a casebridge process, from flags and environment.
//!
//! Why: every subcommand needs the same answer to "which database" and "where is the data dir".
//! Invariants: without `DATABASE_URL` the store is an SQLite file inside the data dir, created on
//! first start; a URL is never logged with its password.

use std::path::{Path, PathBuf};

/// Name of the SQLite file created in the data dir when no database URL is given.
pub const SQLITE_FILE_NAME: &str = "casebridge.db";

/// The database to use: an explicit URL wins, else an SQLite file under `data_dir`.
pub fn database_url(explicit: Option<&str>, data_dir: &Path) -> std::io::Result<String> {
    if let Some(url) = explicit.filter(|u| !u.trim().is_empty()) {
        return Ok(url.to_string());
    }
    std::fs::create_dir_all(data_dir)?;
    let file: PathBuf = data_dir.join(SQLITE_FILE_NAME);
    Ok(format!("sqlite://{}?mode=rwc", file.display()))
}

/// The URL with any password replaced, fit for logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_url_wins_over_data_dir() {
        let url = database_url(Some("postgres://u@h/db"), Path::new("/nonexistent")).unwrap();
        assert_eq!(url, "postgres://u@h/db");
    }

    #[test]
    fn default_is_an_sqlite_file_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let url = database_url(None, dir.path()).unwrap();
        assert!(url.starts_with("sqlite://"));
        assert!(url.contains(SQLITE_FILE_NAME));
    }

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(
            redacted("postgres://user:secret@localhost/db"),
            "postgres://user:***@localhost/db"
        );
    }
}
