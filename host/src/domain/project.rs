//! Projects: the containers of cases, and the prefix of their case keys.
//!
//! Why: a case key (`SEC-42`) is how people and ticketing backends refer to a case; its prefix is
//! the project key, so the key rules live in one place.
//! Invariants:
//! - a project key is 2–10 characters, uppercase ASCII letters and digits, starting with a
//!   letter (the rule Jira applies to its own project keys), and never `CASE` (reserved by
//!   Datadog Case Management);
//! - a project key never changes after creation (case keys embed it);
//! - integration settings (Jira, ServiceNow, Case Management) are JSON objects or absent; their
//!   contents belong to the connectors that read them.

use serde_json::{Map, Value};

/// Longest project key accepted.
pub const MAX_PROJECT_KEY_LEN: usize = 10;
/// Longest project name accepted.
pub const MAX_PROJECT_NAME_LEN: usize = 200;

/// Why a project key or name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectRuleError {
    #[error("project key {0:?} is invalid: use 2 to 10 uppercase letters and digits, starting with a letter (for example SEC)")]
    InvalidKey(String),
    #[error("project key \"CASE\" is reserved; choose another key")]
    ReservedKey,
    #[error("project name must not be empty")]
    EmptyName,
    #[error("project name is longer than {MAX_PROJECT_NAME_LEN} characters")]
    NameTooLong,
    #[error("settings.{0} must be a JSON object")]
    SettingsNotObject(String),
}

/// Checks a project key against the rules above.
pub fn validate_project_key(key: &str) -> Result<(), ProjectRuleError> {
    if key == "CASE" {
        return Err(ProjectRuleError::ReservedKey);
    }
    let mut chars = key.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_uppercase());
    let rest_ok = key
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !starts_with_letter || !rest_ok || key.len() < 2 || key.len() > MAX_PROJECT_KEY_LEN {
        return Err(ProjectRuleError::InvalidKey(key.to_string()));
    }
    Ok(())
}

/// Checks a project name (trimmed) and returns it.
pub fn validate_project_name(name: &str) -> Result<String, ProjectRuleError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ProjectRuleError::EmptyName);
    }
    if name.chars().count() > MAX_PROJECT_NAME_LEN {
        return Err(ProjectRuleError::NameTooLong);
    }
    Ok(name.to_string())
}

/// The integration settings a project can carry, one slot per ticketing backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrationSlot {
    Jira,
    ServiceNow,
    CaseManagement,
}

impl IntegrationSlot {
    pub const ALL: [IntegrationSlot; 3] = [
        IntegrationSlot::Jira,
        IntegrationSlot::ServiceNow,
        IntegrationSlot::CaseManagement,
    ];

    /// The key of the slot inside `ProjectSettings` on the wire (Datadog's names for Jira and
    /// ServiceNow; casebridge's own for the Case Management connector).
    pub fn settings_key(self) -> &'static str {
        match self {
            IntegrationSlot::Jira => "integration_jira",
            IntegrationSlot::ServiceNow => "integration_service_now",
            IntegrationSlot::CaseManagement => "integration_case_management",
        }
    }

    /// The storage column holding the slot.
    pub fn column(self) -> &'static str {
        match self {
            IntegrationSlot::Jira => "jira_settings",
            IntegrationSlot::ServiceNow => "servicenow_settings",
            IntegrationSlot::CaseManagement => "case_management_settings",
        }
    }

    /// The slot a settings key names, if any.
    pub fn from_settings_key(key: &str) -> Option<IntegrationSlot> {
        IntegrationSlot::ALL
            .into_iter()
            .find(|slot| slot.settings_key() == key)
    }
}

/// A project as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub key: String,
    /// `ProjectSettings` without the integration slots.
    pub settings: Map<String, Value>,
    pub jira: Option<Map<String, Value>>,
    pub servicenow: Option<Map<String, Value>>,
    pub case_management: Option<Map<String, Value>>,
    pub enabled_custom_case_types: Vec<String>,
    pub team_uuid: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

impl Project {
    /// The settings of one integration slot.
    pub fn integration(&self, slot: IntegrationSlot) -> Option<&Map<String, Value>> {
        match slot {
            IntegrationSlot::Jira => self.jira.as_ref(),
            IntegrationSlot::ServiceNow => self.servicenow.as_ref(),
            IntegrationSlot::CaseManagement => self.case_management.as_ref(),
        }
    }

    /// The full `ProjectSettings` object: plain settings plus every configured slot.
    pub fn settings_object(&self) -> Map<String, Value> {
        let mut settings = self.settings.clone();
        for slot in IntegrationSlot::ALL {
            if let Some(values) = self.integration(slot) {
                settings.insert(
                    slot.settings_key().to_string(),
                    Value::Object(values.clone()),
                );
            }
        }
        settings
    }
}

/// A new project, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProject {
    pub name: String,
    pub key: String,
    pub enabled_custom_case_types: Vec<String>,
    pub team_uuid: Option<String>,
}

impl NewProject {
    pub fn new(name: &str, key: &str) -> Result<NewProject, ProjectRuleError> {
        validate_project_key(key)?;
        Ok(NewProject {
            name: validate_project_name(name)?,
            key: key.to_string(),
            enabled_custom_case_types: Vec::new(),
            team_uuid: None,
        })
    }
}

/// A change to a project (PATCH): absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectChange {
    pub name: Option<String>,
    /// Top-level `ProjectSettings` entries to replace (integration slots excluded).
    pub settings: Map<String, Value>,
    /// Integration slots to replace; `Some(None)` clears a slot.
    pub integrations: Vec<(IntegrationSlot, Option<Map<String, Value>>)>,
    pub enabled_custom_case_types: Option<Vec<String>>,
    pub team_uuid: Option<String>,
}

impl ProjectChange {
    /// Splits a wire `settings` object into plain entries and integration slots. Each top-level
    /// entry replaces the stored one; `null` on a slot clears it.
    pub fn with_settings(mut self, settings: Map<String, Value>) -> Result<Self, ProjectRuleError> {
        for (key, value) in settings {
            match IntegrationSlot::from_settings_key(&key) {
                Some(slot) => match value {
                    Value::Object(map) => self.integrations.push((slot, Some(map))),
                    Value::Null => self.integrations.push((slot, None)),
                    _ => return Err(ProjectRuleError::SettingsNotObject(key)),
                },
                None => {
                    self.settings.insert(key, value);
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn project_keys_follow_the_jira_rule() {
        for ok in ["SEC", "DDFC", "CSMINV", "A1", "ABCDEFGHIJ"] {
            assert!(validate_project_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "S", "sec", "1SEC", "SE-C", "ABCDEFGHIJK", "SÉC"] {
            assert!(
                matches!(
                    validate_project_key(bad),
                    Err(ProjectRuleError::InvalidKey(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn case_is_a_reserved_project_key() {
        assert_eq!(
            validate_project_key("CASE"),
            Err(ProjectRuleError::ReservedKey)
        );
    }

    #[test]
    fn blank_project_names_are_refused() {
        assert_eq!(
            validate_project_name("   "),
            Err(ProjectRuleError::EmptyName)
        );
        assert_eq!(validate_project_name(" Sec ").unwrap(), "Sec");
    }

    #[test]
    fn settings_split_into_plain_entries_and_integration_slots() {
        let settings = json!({
            "notification": {"enabled": true},
            "integration_jira": {"enabled": true},
            "integration_service_now": null,
        });
        let change = ProjectChange::default()
            .with_settings(settings.as_object().unwrap().clone())
            .unwrap();
        assert!(change.settings.contains_key("notification"));
        assert_eq!(change.integrations.len(), 2);
        assert!(change
            .integrations
            .contains(&(IntegrationSlot::ServiceNow, None)));
    }

    #[test]
    fn an_integration_slot_must_be_an_object() {
        let settings = json!({"integration_jira": "yes"});
        let err = ProjectChange::default()
            .with_settings(settings.as_object().unwrap().clone())
            .unwrap_err();
        assert_eq!(
            err,
            ProjectRuleError::SettingsNotObject("integration_jira".into())
        );
    }
}
