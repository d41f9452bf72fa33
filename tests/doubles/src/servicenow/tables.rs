//! The ServiceNow tables the double serves, their columns, and the seed data.
//!
//! Column kinds decide how values render (`sysparm_display_value`, reference links), how queries
//! compare them, and which writes are special (journal fields). Invariants: every table has the
//! `sys_*` system columns; reference columns name a table that exists here; seed sys_ids are
//! deterministic (derived from the seed names) so tests can hard-code them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a column behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Integer,
    Boolean,
    DateTime,
    /// A reference to a record of the named table (`task` means incident or sn_si_incident).
    Reference(&'static str),
    /// A choice list (labels in `sys_choice`).
    Choice,
    /// A journal field: writes append to `sys_journal_field`, reads give `""`.
    Journal,
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: ColumnKind,
}

/// A table definition.
#[derive(Clone, Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub label: &'static str,
    /// Prefix of auto-numbers (`INC`, `SIR`), if the table numbers its records.
    pub number_prefix: Option<&'static str>,
    /// The column shown as a reference's display value.
    pub display_column: &'static str,
    pub columns: Vec<Column>,
}

impl TableDef {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn is_task(&self) -> bool {
        matches!(self.name, "incident" | "sn_si_incident")
    }
}

fn col(name: &'static str, label: &'static str, kind: ColumnKind) -> Column {
    Column { name, label, kind }
}

fn system_columns() -> Vec<Column> {
    use ColumnKind::*;
    vec![
        col("sys_id", "Sys ID", Text),
        col("sys_created_on", "Created", DateTime),
        col("sys_created_by", "Created by", Text),
        col("sys_updated_on", "Updated", DateTime),
        col("sys_updated_by", "Updated by", Text),
        col("sys_mod_count", "Updates", Integer),
        col("sys_class_name", "Class", Text),
    ]
}

fn task_columns() -> Vec<Column> {
    use ColumnKind::*;
    vec![
        col("number", "Number", Text),
        col("short_description", "Short description", Text),
        col("description", "Description", Text),
        col("state", "State", Choice),
        col("impact", "Impact", Choice),
        col("urgency", "Urgency", Choice),
        col("priority", "Priority", Choice),
        col(
            "assignment_group",
            "Assignment group",
            Reference("sys_user_group"),
        ),
        col("assigned_to", "Assigned to", Reference("sys_user")),
        col("caller_id", "Caller", Reference("sys_user")),
        col("opened_by", "Opened by", Reference("sys_user")),
        col("cmdb_ci", "Configuration item", Reference("cmdb_ci_server")),
        col("correlation_id", "Correlation ID", Text),
        col("correlation_display", "Correlation display", Text),
        col("close_code", "Resolution code", Choice),
        col("close_notes", "Resolution notes", Text),
        col("category", "Category", Text),
        col("subcategory", "Subcategory", Text),
        col("comments", "Additional comments", Journal),
        col("work_notes", "Work notes", Journal),
        col("opened_at", "Opened", DateTime),
        col("resolved_at", "Resolved", DateTime),
        col("resolved_by", "Resolved by", Reference("sys_user")),
        col("closed_at", "Closed", DateTime),
        col("closed_by", "Closed by", Reference("sys_user")),
        col("active", "Active", Boolean),
        col("contact_type", "Channel", Text),
    ]
}

/// All tables served by the double.
pub fn all_tables() -> Vec<TableDef> {
    use ColumnKind::*;
    let with_system = |mut cols: Vec<Column>| {
        cols.extend(system_columns());
        cols
    };
    let mut incident = task_columns();
    incident.push(col("incident_state", "Incident state", Choice));
    incident.push(col("hold_reason", "On hold reason", Choice));
    incident.push(col("severity", "Severity", Choice));
    let mut security = task_columns();
    security.push(col("severity", "Severity", Choice));
    security.push(col("risk_score", "Risk score", Integer));
    security.push(col("business_criticality", "Business criticality", Choice));
    security.push(col("substate", "Substate", Choice));
    vec![
        TableDef {
            name: "incident",
            label: "Incident",
            number_prefix: Some("INC"),
            display_column: "number",
            columns: with_system(incident),
        },
        TableDef {
            name: "sn_si_incident",
            label: "Security Incident",
            number_prefix: Some("SIR"),
            display_column: "number",
            columns: with_system(security),
        },
        TableDef {
            name: "sys_choice",
            label: "Choices",
            number_prefix: None,
            display_column: "label",
            columns: with_system(vec![
                col("name", "Table", Text),
                col("element", "Element", Text),
                col("value", "Value", Text),
                col("label", "Label", Text),
                col("sequence", "Sequence", Integer),
                col("language", "Language", Text),
                col("inactive", "Inactive", Boolean),
            ]),
        },
        TableDef {
            name: "sys_journal_field",
            label: "Journal Entry",
            number_prefix: None,
            display_column: "value",
            columns: with_system(vec![
                col("element", "Element", Text),
                col("element_id", "Element ID", Text),
                col("name", "Table name", Text),
                col("value", "Value", Text),
            ]),
        },
        TableDef {
            name: "task_sla",
            label: "Task SLA",
            number_prefix: None,
            display_column: "sla",
            columns: with_system(vec![
                col("task", "Task", Reference("task")),
                col("sla", "SLA definition", Text),
                col("stage", "Stage", Choice),
                col("has_breached", "Has breached", Boolean),
                col("active", "Active", Boolean),
                col("start_time", "Start time", DateTime),
                col("end_time", "Stop time", DateTime),
                col("planned_end_time", "Planned end time", DateTime),
                col("pause_duration", "Pause duration (s)", Integer),
                col("pause_time", "Pause time", DateTime),
                col("percentage", "Actual elapsed percentage", Text),
                col("business_percentage", "Business elapsed percentage", Text),
            ]),
        },
        TableDef {
            name: "cmdb_ci_server",
            label: "Server",
            number_prefix: None,
            display_column: "name",
            columns: with_system(vec![
                col("name", "Name", Text),
                col("ip_address", "IP Address", Text),
                col("fqdn", "Fully qualified domain name", Text),
                col("os", "Operating System", Text),
                col("serial_number", "Serial number", Text),
                col("operational_status", "Operational status", Choice),
                col(
                    "support_group",
                    "Support group",
                    Reference("sys_user_group"),
                ),
            ]),
        },
        TableDef {
            name: "sys_user",
            label: "User",
            number_prefix: None,
            display_column: "name",
            columns: with_system(vec![
                col("user_name", "User ID", Text),
                col("name", "Name", Text),
                col("first_name", "First name", Text),
                col("last_name", "Last name", Text),
                col("email", "Email", Text),
                col("title", "Title", Text),
                col("active", "Active", Boolean),
            ]),
        },
        TableDef {
            name: "sys_user_group",
            label: "Group",
            number_prefix: None,
            display_column: "name",
            columns: with_system(vec![
                col("name", "Name", Text),
                col("description", "Description", Text),
                col("email", "Group email", Text),
                col("manager", "Manager", Reference("sys_user")),
                col("active", "Active", Boolean),
            ]),
        },
        TableDef {
            name: "sys_attachment",
            label: "Attachment",
            number_prefix: None,
            display_column: "file_name",
            columns: with_system(vec![
                col("file_name", "File name", Text),
                col("table_name", "Table name", Text),
                col("table_sys_id", "Table sys ID", Text),
                col("content_type", "Content type", Text),
                col("size_bytes", "Size bytes", Integer),
                col("size_compressed", "Compressed size", Integer),
            ]),
        },
        TableDef {
            name: "sys_db_object",
            label: "Table",
            number_prefix: None,
            display_column: "label",
            columns: with_system(vec![col("name", "Name", Text), col("label", "Label", Text)]),
        },
    ]
}

/// A deterministic 32-hex sys_id derived from a seed name.
pub fn seed_sys_id(kind: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{name}").as_bytes());
    hex::encode(&digest[..16])
}

/// A random 32-hex sys_id.
pub fn new_sys_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnUser {
    pub user_name: String,
    pub name: String,
    #[serde(default)]
    pub email: String,
    /// Password for Basic auth and the OAuth password grant (none: cannot log in).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnServer {
    pub name: String,
    pub ip_address: String,
    #[serde(default)]
    pub fqdn: String,
    #[serde(default)]
    pub os: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// `user_name` the `client_credentials` grant acts as ("OAuth Application User").
    #[serde(default)]
    pub application_user: Option<String>,
}

/// One `sys_choice` row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChoiceSeed {
    pub table: String,
    pub element: String,
    pub value: String,
    pub label: String,
}

/// Users, groups, CMDB servers, OAuth clients and choice lists the double starts with. Missing
/// keys in a seed file take the default seed's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceNowSeed {
    pub users: Vec<SnUser>,
    pub groups: Vec<SnGroup>,
    pub servers: Vec<SnServer>,
    pub oauth_clients: Vec<OAuthClient>,
    pub choices: Vec<ChoiceSeed>,
    /// `user_name` that control-API ("human") actions are attributed to by default.
    pub human_user_name: String,
}

/// Names in the default seed, for tests.
pub mod seed_names {
    pub const API_USER: &str = "casebridge.integration";
    pub const API_PASSWORD: &str = "casebridge-password";
    pub const HUMAN_USER: &str = "ivy.itil";
    pub const OAUTH_CLIENT_ID: &str = "casebridge-oauth-client";
    pub const OAUTH_CLIENT_SECRET: &str = "casebridge-oauth-secret";
    pub const SECURITY_GROUP: &str = "Security Operations";
}

fn choices(table: &str, element: &str, rows: &[(&str, &str)]) -> Vec<ChoiceSeed> {
    rows.iter()
        .map(|(value, label)| ChoiceSeed {
            table: table.into(),
            element: element.into(),
            value: (*value).into(),
            label: (*label).into(),
        })
        .collect()
}

/// Out-of-box choice lists (incident from the Helsinki+ state model; `sn_si_incident` from the
/// notes' [U] list — confirm against a real instance via `sys_choice`).
pub fn default_choices() -> Vec<ChoiceSeed> {
    let incident_states = [
        ("1", "New"),
        ("2", "In Progress"),
        ("3", "On Hold"),
        ("6", "Resolved"),
        ("7", "Closed"),
        ("8", "Canceled"),
    ];
    let impact = [("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")];
    let priority = [
        ("1", "1 - Critical"),
        ("2", "2 - High"),
        ("3", "3 - Moderate"),
        ("4", "4 - Low"),
        ("5", "5 - Planning"),
    ];
    let close_codes = [
        ("Solution provided", "Solution provided"),
        ("Workaround provided", "Workaround provided"),
        ("Duplicate", "Duplicate"),
        ("Known error", "Known error"),
        ("User error", "User error"),
        ("No resolution provided", "No resolution provided"),
        ("Resolved by caller", "Resolved by caller"),
        ("Resolved by change", "Resolved by change"),
        ("Resolved by problem", "Resolved by problem"),
        ("Resolved by request", "Resolved by request"),
    ];
    let hold = [
        ("1", "Awaiting Caller"),
        ("5", "Awaiting Change"),
        ("3", "Awaiting Problem"),
        ("4", "Awaiting Vendor"),
    ];
    let sir_states = [
        ("10", "Draft"),
        ("16", "Analysis"),
        ("18", "Contain"),
        ("19", "Eradicate"),
        ("20", "Recover"),
        ("100", "Review"),
        ("3", "Closed"),
        ("7", "Cancelled"),
    ];
    let sir_close = [
        ("Resolved", "Resolved"),
        ("False positive", "False positive"),
        ("Duplicate", "Duplicate"),
        ("Canceled", "Canceled"),
        ("No action required", "No action required"),
    ];
    let severity = [("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")];
    let stage = [
        ("in_progress", "In progress"),
        ("paused", "Paused"),
        ("completed", "Completed"),
        ("cancelled", "Cancelled"),
    ];
    let mut out = Vec::new();
    out.extend(choices("incident", "state", &incident_states));
    out.extend(choices("incident", "incident_state", &incident_states));
    out.extend(choices("incident", "impact", &impact));
    out.extend(choices("incident", "urgency", &impact));
    out.extend(choices("incident", "priority", &priority));
    out.extend(choices("incident", "close_code", &close_codes));
    out.extend(choices("incident", "hold_reason", &hold));
    out.extend(choices("incident", "severity", &severity));
    out.extend(choices("sn_si_incident", "state", &sir_states));
    out.extend(choices("sn_si_incident", "impact", &impact));
    out.extend(choices("sn_si_incident", "urgency", &impact));
    out.extend(choices("sn_si_incident", "priority", &priority));
    out.extend(choices("sn_si_incident", "severity", &severity));
    out.extend(choices("sn_si_incident", "close_code", &sir_close));
    out.extend(choices("task_sla", "stage", &stage));
    out
}

impl Default for ServiceNowSeed {
    fn default() -> Self {
        use seed_names::*;
        let user = |user_name: &str, name: &str, password: Option<&str>| SnUser {
            user_name: user_name.into(),
            name: name.into(),
            email: format!("{user_name}@example.com"),
            password: password.map(str::to_string),
            active: true,
        };
        ServiceNowSeed {
            users: vec![
                user(API_USER, "casebridge Integration", Some(API_PASSWORD)),
                user(HUMAN_USER, "Ivy Itil", Some("ivy-password")),
                user("sam.soc", "Sam Soc", None),
                user("zpoa-shield-service", "Z Shield Service", None),
            ],
            groups: vec![
                SnGroup {
                    name: SECURITY_GROUP.into(),
                    description: "Security operations center".into(),
                },
                SnGroup {
                    name: "Network".into(),
                    description: "Network team".into(),
                },
            ],
            servers: vec![
                SnServer {
                    name: "web-prod-01".into(),
                    ip_address: "10.0.0.11".into(),
                    fqdn: "web-prod-01.example.com".into(),
                    os: "Linux Red Hat".into(),
                },
                SnServer {
                    name: "db-prod-01".into(),
                    ip_address: "10.0.0.12".into(),
                    fqdn: "db-prod-01.example.com".into(),
                    os: "Linux Ubuntu".into(),
                },
            ],
            oauth_clients: vec![OAuthClient {
                client_id: OAUTH_CLIENT_ID.into(),
                client_secret: OAUTH_CLIENT_SECRET.into(),
                application_user: Some(API_USER.into()),
            }],
            choices: default_choices(),
            human_user_name: HUMAN_USER.into(),
        }
    }
}

/// A stored record: every value is a string, as on the wire.
pub type Record = BTreeMap<String, String>;
