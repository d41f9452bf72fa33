//! Jira's configuration (projects, issue types, workflows, users, credentials) and the entities
//! the double keeps (issues with comments, changelog, properties, attachments).
//!
//! Invariants: a workflow's transitions only name statuses of that workflow and its initial
//! status exists (checked by [`Workflow::check`]); issue keys are `<PROJECT>-<n>` with `n`
//! increasing per project and never reused; ids are numeric strings, unique per entity kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Jira's three status categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCategory {
    New,
    Indeterminate,
    Done,
}

impl StatusCategory {
    pub fn key(self) -> &'static str {
        match self {
            StatusCategory::New => "new",
            StatusCategory::Indeterminate => "indeterminate",
            StatusCategory::Done => "done",
        }
    }
    pub fn id(self) -> u32 {
        match self {
            StatusCategory::New => 2,
            StatusCategory::Indeterminate => 4,
            StatusCategory::Done => 3,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            StatusCategory::New => "To Do",
            StatusCategory::Indeterminate => "In Progress",
            StatusCategory::Done => "Done",
        }
    }
    pub fn color(self) -> &'static str {
        match self {
            StatusCategory::New => "blue-gray",
            StatusCategory::Indeterminate => "yellow",
            StatusCategory::Done => "green",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusDef {
    pub id: String,
    pub name: String,
    pub category: StatusCategory,
}

/// A workflow transition. `from` empty means global (available from every other status).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransitionDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub from: Vec<String>,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub statuses: Vec<StatusDef>,
    pub transitions: Vec<TransitionDef>,
    pub initial_status: String,
}

/// Why a workflow definition was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WorkflowError {
    #[error("the initial status {0} is not one of the workflow's statuses")]
    UnknownInitial(String),
    #[error("transition {0} names unknown status {1}")]
    UnknownStatus(String, String),
    #[error("duplicate id {0}")]
    Duplicate(String),
}

impl Workflow {
    /// Jira's simplified default: To Do → In Progress → Done, plus Done → To Do "Reopen".
    /// Done is not reachable directly from To Do.
    pub fn default_software() -> Self {
        let status = |id: &str, name: &str, category| StatusDef {
            id: id.into(),
            name: name.into(),
            category,
        };
        let transition = |id: &str, name: &str, from: &str, to: &str| TransitionDef {
            id: id.into(),
            name: name.into(),
            from: vec![from.into()],
            to: to.into(),
        };
        Workflow {
            statuses: vec![
                status("10000", "To Do", StatusCategory::New),
                status("3", "In Progress", StatusCategory::Indeterminate),
                status("10001", "Done", StatusCategory::Done),
            ],
            transitions: vec![
                transition("11", "Start Progress", "10000", "3"),
                transition("21", "Done", "3", "10001"),
                transition("31", "Reopen", "10001", "10000"),
            ],
            initial_status: "10000".into(),
        }
    }

    pub fn check(&self) -> Result<(), WorkflowError> {
        let known = |id: &str| self.statuses.iter().any(|s| s.id == id);
        if !known(&self.initial_status) {
            return Err(WorkflowError::UnknownInitial(self.initial_status.clone()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.statuses {
            if !seen.insert(format!("s{}", s.id)) {
                return Err(WorkflowError::Duplicate(s.id.clone()));
            }
        }
        for t in &self.transitions {
            if !seen.insert(format!("t{}", t.id)) {
                return Err(WorkflowError::Duplicate(t.id.clone()));
            }
            for id in t.from.iter().chain(std::iter::once(&t.to)) {
                if !known(id) {
                    return Err(WorkflowError::UnknownStatus(t.id.clone(), id.clone()));
                }
            }
        }
        Ok(())
    }

    pub fn status(&self, id: &str) -> Option<&StatusDef> {
        self.statuses.iter().find(|s| s.id == id)
    }

    /// Transitions available from `status_id`.
    pub fn available_from(&self, status_id: &str) -> Vec<&TransitionDef> {
        self.transitions
            .iter()
            .filter(|t| {
                if t.from.is_empty() {
                    t.to != status_id
                } else {
                    t.from.iter().any(|f| f == status_id)
                }
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueTypeDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub subtask: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectDef {
    pub id: String,
    pub key: String,
    pub name: String,
    pub issue_types: Vec<IssueTypeDef>,
    #[serde(default = "Workflow::default_software")]
    pub workflow: Workflow,
    /// Account id of the default assignee (`"-1"` on assign), if any.
    #[serde(default)]
    pub default_assignee: Option<String>,
}

/// A Jira user. Cloud identifies users by `account_id`; Data Center by `name`/`key`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserDef {
    pub account_id: String,
    pub email: String,
    pub display_name: String,
    pub name: String,
    pub key: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn yes() -> bool {
    true
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorityDef {
    pub id: String,
    pub name: String,
}

/// Email + API token for Basic auth (Cloud).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BasicCredential {
    pub email: String,
    pub api_token: String,
}

/// What kind of bearer token a credential is (for the report; both authenticate the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BearerKind {
    /// An OAuth 2.0 (3LO) access token (Cloud).
    Oauth,
    /// A Data Center personal access token.
    Pat,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BearerCredential {
    pub token: String,
    pub account_id: String,
    pub kind: BearerKind,
}

/// Everything the Jira double starts with (and returns to on reset). Missing keys in a seed
/// file take the default seed's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JiraSeed {
    pub projects: Vec<ProjectDef>,
    pub users: Vec<UserDef>,
    pub priorities: Vec<PriorityDef>,
    pub basic_credentials: Vec<BasicCredential>,
    pub bearer_credentials: Vec<BearerCredential>,
    /// The account id "human" control-API actions are attributed to by default.
    pub human_account_id: String,
}

/// Account ids of the default seed, for tests.
pub mod seed_ids {
    pub const BOT_ACCOUNT_ID: &str = "5b10ac8d82e05b22cc7d4ef5";
    pub const BOT_EMAIL: &str = "casebridge-bot@example.com";
    pub const BOT_API_TOKEN: &str = "ATATT-casebridge-bot-token";
    pub const BOT_OAUTH_TOKEN: &str = "oauth-access-token-casebridge";
    pub const DC_USER_NAME: &str = "svc-casebridge";
    pub const DC_ACCOUNT_ID: &str = "dc-svc-casebridge";
    pub const DC_PAT: &str = "dc-personal-access-token-casebridge";
    pub const ALICE_ACCOUNT_ID: &str = "5b10a2844c20165700ede21g";
    pub const BOB_ACCOUNT_ID: &str = "5b109f2e9729b51b54dc274d";
}

impl Default for JiraSeed {
    /// Project `SEC` (Task 10001, Bug 10002, default workflow); users: the casebridge bot
    /// (Cloud, email + API token, and an OAuth token), a DC service user with a PAT, and two
    /// humans (Alice, Bob); priorities Highest..Lowest (ids 1..5).
    fn default() -> Self {
        use seed_ids::*;
        let user = |account_id: &str, email: &str, display: &str, name: &str| UserDef {
            account_id: account_id.into(),
            email: email.into(),
            display_name: display.into(),
            name: name.into(),
            key: format!("JIRAUSER{}", name.len() * 1000 + display.len()),
            active: true,
            time_zone: "UTC".into(),
        };
        JiraSeed {
            projects: vec![ProjectDef {
                id: "10000".into(),
                key: "SEC".into(),
                name: "Security".into(),
                issue_types: vec![
                    IssueTypeDef {
                        id: "10001".into(),
                        name: "Task".into(),
                        description: "A small, distinct piece of work.".into(),
                        subtask: false,
                    },
                    IssueTypeDef {
                        id: "10002".into(),
                        name: "Bug".into(),
                        description: "A problem or error.".into(),
                        subtask: false,
                    },
                ],
                workflow: Workflow::default_software(),
                default_assignee: None,
            }],
            users: vec![
                user(
                    BOT_ACCOUNT_ID,
                    BOT_EMAIL,
                    "casebridge bot",
                    "casebridge-bot",
                ),
                user(
                    DC_ACCOUNT_ID,
                    "svc-casebridge@example.com",
                    "casebridge service",
                    DC_USER_NAME,
                ),
                user(
                    ALICE_ACCOUNT_ID,
                    "alice@example.com",
                    "Alice Analyst",
                    "alice",
                ),
                user(BOB_ACCOUNT_ID, "bob@example.com", "Bob Builder", "bob"),
            ],
            priorities: ["Highest", "High", "Medium", "Low", "Lowest"]
                .iter()
                .enumerate()
                .map(|(i, name)| PriorityDef {
                    id: (i + 1).to_string(),
                    name: (*name).into(),
                })
                .collect(),
            basic_credentials: vec![BasicCredential {
                email: BOT_EMAIL.into(),
                api_token: BOT_API_TOKEN.into(),
            }],
            bearer_credentials: vec![
                BearerCredential {
                    token: BOT_OAUTH_TOKEN.into(),
                    account_id: BOT_ACCOUNT_ID.into(),
                    kind: BearerKind::Oauth,
                },
                BearerCredential {
                    token: DC_PAT.into(),
                    account_id: DC_ACCOUNT_ID.into(),
                    kind: BearerKind::Pat,
                },
            ],
            human_account_id: ALICE_ACCOUNT_ID.into(),
        }
    }
}

/// Rich text as stored: whichever form the writer used. v3 renders ADF, v2 renders wiki text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", content = "value", rename_all = "snake_case")]
pub enum RichText {
    Adf(Value),
    Wiki(String),
}

impl RichText {
    pub fn as_adf(&self) -> Value {
        match self {
            RichText::Adf(v) => v.clone(),
            RichText::Wiki(s) => super::adf::from_wiki(s),
        }
    }
    pub fn as_wiki(&self) -> String {
        match self {
            RichText::Adf(v) => super::adf::to_wiki(v),
            RichText::Wiki(s) => s.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub body: RichText,
    pub author: String,
    pub update_author: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    #[serde(default)]
    pub visibility: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeItem {
    pub field: String,
    pub fieldtype: String,
    pub field_id: String,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangelogEntry {
    pub id: u64,
    pub author: String,
    pub created_ms: i64,
    pub items: Vec<ChangeItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: u64,
    pub filename: String,
    pub mime_type: String,
    pub size: usize,
    pub author: String,
    pub created_ms: i64,
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// A transition that was performed, kept for inspection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppliedTransition {
    pub transition_id: String,
    pub name: String,
    pub from_status: String,
    pub to_status: String,
    pub by: String,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub id: u64,
    pub key: String,
    pub number: u64,
    pub project_id: String,
    pub issue_type_id: String,
    pub status_id: String,
    pub summary: String,
    pub description: Option<RichText>,
    pub environment: Option<RichText>,
    pub priority_id: Option<String>,
    pub labels: Vec<String>,
    pub assignee: Option<String>,
    pub reporter: Option<String>,
    pub creator: String,
    pub duedate: Option<String>,
    pub resolution: Option<Resolution>,
    pub resolution_ms: Option<i64>,
    pub status_category_changed_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// `customfield_*` values exactly as written.
    pub custom_fields: BTreeMap<String, Value>,
    pub comments: Vec<Comment>,
    pub changelog: Vec<ChangelogEntry>,
    pub properties: BTreeMap<String, Value>,
    pub attachments: Vec<Attachment>,
    pub transitions_applied: Vec<AppliedTransition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_workflow_has_no_direct_path_from_to_do_to_done() {
        let wf = Workflow::default_software();
        assert_eq!(wf.check(), Ok(()));
        let from_todo: Vec<_> = wf
            .available_from("10000")
            .iter()
            .map(|t| t.to.clone())
            .collect();
        assert_eq!(from_todo, vec!["3".to_string()]);
        let from_done: Vec<_> = wf
            .available_from("10001")
            .iter()
            .map(|t| t.name.clone())
            .collect();
        assert_eq!(from_done, vec!["Reopen".to_string()]);
    }

    #[test]
    fn workflow_check_rejects_unknown_statuses() {
        let mut wf = Workflow::default_software();
        wf.transitions[0].to = "999".into();
        assert!(matches!(
            wf.check(),
            Err(WorkflowError::UnknownStatus(_, _))
        ));
    }
}

/// Which REST API a request came through: Cloud v3 (ADF, accountId) or v2 as Data Center
/// speaks it (wiki-markup strings, `name`/`key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    V2,
    V3,
}

impl ApiVersion {
    pub fn number(self) -> u8 {
        match self {
            ApiVersion::V2 => 2,
            ApiVersion::V3 => 3,
        }
    }
}
