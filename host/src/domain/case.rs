//! Cases: the unit of work a finding (or a person) opens, and the vocabulary of its fields.
//!
//! Why: statuses, priorities, types and the key format are shared by the store, the HTTP API and
//! the connectors; their wire names must be spelled the same everywhere.
//! Invariants:
//! - a case key is `<PROJECT KEY>-<n>` with `n` ≥ 1 assigned once per project key, never reused;
//! - status is one of OPEN, IN_PROGRESS, CLOSED; its group and display name follow from it;
//! - closing a case sets `closed_at`, reopening clears it; status never touches findings;
//! - custom attributes are `{key: [string]}` with non-empty keys.

use std::collections::BTreeMap;

use super::timeline::TimelineEvent;

/// Type id Datadog gives the built-in STANDARD case type (seen in every recorded CreateCase).
pub const STANDARD_CASE_TYPE_ID: &str = "00000000-0000-0000-0000-000000000001";
/// Type id casebridge gives SECURITY cases (cases opened from findings). Datadog's own value for
/// this built-in type is not in the recordings; this one is casebridge's choice.
pub const SECURITY_CASE_TYPE_ID: &str = "00000000-0000-0000-0000-000000000002";

/// Longest case title accepted.
pub const MAX_TITLE_LEN: usize = 1_000;
/// Longest case description or comment accepted.
pub const MAX_TEXT_LEN: usize = 100_000;

/// Deprecated-but-universal case status (Datadog `CaseStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseStatus {
    Open,
    InProgress,
    Closed,
}

/// Statuses Datadog lists in its "invalid status" error (every case type's statuses).
pub const DATADOG_STATUS_NAMES: [&str; 14] = [
    "NOT_STARTED",
    "IN_PROGRESS",
    "CLOSED",
    "ACKNOWLEDGED",
    "TRIGGERED",
    "PENDING_APPROVAL",
    "COMPLETED",
    "CANCELLED",
    "DECLINED",
    "SUNKNOWN",
    "OPEN",
    "RESOLVED",
    "APPROVED",
    "IMPLEMENTING",
];

/// Why a status could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// Not a status Datadog knows at all (answered with Datadog's own wording).
    #[error("invalid status {0}. Must be one of {list}", list = DATADOG_STATUS_NAMES.join(", "))]
    Invalid(String),
    /// A Datadog status of another case type; casebridge cases only have three.
    #[error("status {0} is not available for casebridge cases; use OPEN, IN_PROGRESS or CLOSED (status_name Open, In Progress or Closed)")]
    Unsupported(String),
    #[error(
        "status_name {0:?} is not a status of this case type; use Open, In Progress or Closed"
    )]
    UnknownName(String),
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 3] = [CaseStatus::Open, CaseStatus::InProgress, CaseStatus::Closed];

    /// `status` on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "OPEN",
            CaseStatus::InProgress => "IN_PROGRESS",
            CaseStatus::Closed => "CLOSED",
        }
    }

    /// `status_group`.
    pub fn group(self) -> &'static str {
        match self {
            CaseStatus::Open => "SG_OPEN",
            CaseStatus::InProgress => "SG_IN_PROGRESS",
            CaseStatus::Closed => "SG_CLOSED",
        }
    }

    /// `status_name` (display name).
    pub fn display_name(self) -> &'static str {
        match self {
            CaseStatus::Open => "Open",
            CaseStatus::InProgress => "In Progress",
            CaseStatus::Closed => "Closed",
        }
    }

    /// Lower-case form used in `workflow.integrations.cases[].status` and in search filters.
    pub fn lower(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::InProgress => "in_progress",
            CaseStatus::Closed => "closed",
        }
    }

    /// Parses a stored or requested `status`.
    pub fn parse(value: &str) -> Result<CaseStatus, StatusError> {
        match value {
            "OPEN" => Ok(CaseStatus::Open),
            "IN_PROGRESS" => Ok(CaseStatus::InProgress),
            "CLOSED" => Ok(CaseStatus::Closed),
            other if DATADOG_STATUS_NAMES.contains(&other) => {
                Err(StatusError::Unsupported(other.to_string()))
            }
            other => Err(StatusError::Invalid(other.to_string())),
        }
    }

    /// Parses a `status_name` (display name, case-insensitive; the status itself is accepted too).
    pub fn parse_name(value: &str) -> Result<CaseStatus, StatusError> {
        let normalized = value.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        match normalized.as_str() {
            "open" => Ok(CaseStatus::Open),
            "in progress" => Ok(CaseStatus::InProgress),
            "closed" => Ok(CaseStatus::Closed),
            _ => Err(StatusError::UnknownName(value.to_string())),
        }
    }

    /// Parses a search-filter value (`open`, `in_progress`, `closed`, any case).
    pub fn parse_filter(value: &str) -> Option<CaseStatus> {
        CaseStatus::parse(&value.to_ascii_uppercase())
            .ok()
            .or_else(|| CaseStatus::parse_name(value).ok())
    }

    /// Sort rank (open first).
    pub fn rank(self) -> i64 {
        match self {
            CaseStatus::Open => 0,
            CaseStatus::InProgress => 1,
            CaseStatus::Closed => 2,
        }
    }
}

/// Case priority (Datadog `CasePriority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CasePriority {
    NotDefined,
    P1,
    P2,
    P3,
    P4,
    P5,
}

/// An unknown priority, answered with Datadog's own wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid priority {0}. Must be one of P1, P2, P3, P4, P5, NOT_DEFINED")]
pub struct PriorityError(pub String);

impl CasePriority {
    pub const ALL: [CasePriority; 6] = [
        CasePriority::NotDefined,
        CasePriority::P1,
        CasePriority::P2,
        CasePriority::P3,
        CasePriority::P4,
        CasePriority::P5,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CasePriority::NotDefined => "NOT_DEFINED",
            CasePriority::P1 => "P1",
            CasePriority::P2 => "P2",
            CasePriority::P3 => "P3",
            CasePriority::P4 => "P4",
            CasePriority::P5 => "P5",
        }
    }

    pub fn parse(value: &str) -> Result<CasePriority, PriorityError> {
        CasePriority::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| PriorityError(value.to_string()))
    }

    /// Sort rank: P1 is the most urgent; NOT_DEFINED comes last.
    pub fn rank(self) -> i64 {
        match self {
            CasePriority::P1 => 1,
            CasePriority::P2 => 2,
            CasePriority::P3 => 3,
            CasePriority::P4 => 4,
            CasePriority::P5 => 5,
            CasePriority::NotDefined => 6,
        }
    }
}

/// Case type (`attributes.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseType {
    /// Datadog's built-in general-purpose type.
    Standard,
    /// Cases about security findings.
    Security,
}

impl CaseType {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseType::Standard => "STANDARD",
            CaseType::Security => "SECURITY",
        }
    }

    pub fn type_id(self) -> &'static str {
        match self {
            CaseType::Standard => STANDARD_CASE_TYPE_ID,
            CaseType::Security => SECURITY_CASE_TYPE_ID,
        }
    }

    pub fn parse(value: &str) -> Option<CaseType> {
        match value.to_ascii_uppercase().as_str() {
            "STANDARD" => Some(CaseType::Standard),
            "SECURITY" => Some(CaseType::Security),
            _ => None,
        }
    }

    /// The type a `type_id` names (only the two built-in types exist in casebridge).
    pub fn from_type_id(type_id: &str) -> Option<CaseType> {
        match type_id {
            STANDARD_CASE_TYPE_ID => Some(CaseType::Standard),
            SECURITY_CASE_TYPE_ID => Some(CaseType::Security),
            _ => None,
        }
    }
}

/// Where a case came from (`creation_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreationSource {
    /// Created through CreateCase (the recorded value for hand-made cases).
    Manual,
    /// Created from security findings (CreateCases, ticket creation rules).
    SecurityFinding,
}

impl CreationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CreationSource::Manual => "MANUAL",
            CreationSource::SecurityFinding => "CS_SECURITY_FINDING",
        }
    }

    pub fn parse(value: &str) -> Option<CreationSource> {
        match value {
            "MANUAL" => Some(CreationSource::Manual),
            "CS_SECURITY_FINDING" => Some(CreationSource::SecurityFinding),
            _ => None,
        }
    }
}

/// Custom attributes of a case: `{key: [string]}`, keys sorted.
pub type CustomAttributes = BTreeMap<String, Vec<String>>;

/// Why a field value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseFieldError {
    #[error("title must not be empty")]
    EmptyTitle,
    #[error("title is longer than {MAX_TITLE_LEN} characters")]
    TitleTooLong,
    #[error("{0} is longer than {MAX_TEXT_LEN} characters")]
    TextTooLong(&'static str),
    #[error("attribute keys must not be empty")]
    EmptyAttributeKey,
}

/// Checks a title (trimmed) and returns it.
pub fn validate_title(title: &str) -> Result<String, CaseFieldError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(CaseFieldError::EmptyTitle);
    }
    if title.chars().count() > MAX_TITLE_LEN {
        return Err(CaseFieldError::TitleTooLong);
    }
    Ok(title.to_string())
}

/// Checks a description or comment length.
pub fn validate_text(field: &'static str, text: &str) -> Result<(), CaseFieldError> {
    if text.chars().count() > MAX_TEXT_LEN {
        return Err(CaseFieldError::TextTooLong(field));
    }
    Ok(())
}

/// Checks custom attribute keys.
pub fn validate_attributes(attributes: &CustomAttributes) -> Result<(), CaseFieldError> {
    if attributes.keys().any(|k| k.trim().is_empty()) {
        return Err(CaseFieldError::EmptyAttributeKey);
    }
    Ok(())
}

/// `<PROJECT KEY>-<n>`.
pub fn case_key(project_key: &str, number: i64) -> String {
    format!("{project_key}-{number}")
}

/// Whether a path parameter looks like a case key (`SEC-42`, any letter case).
pub fn looks_like_case_key(value: &str) -> bool {
    match value.rsplit_once('-') {
        Some((prefix, number)) => {
            !prefix.is_empty()
                && prefix.chars().all(|c| c.is_ascii_alphanumeric())
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// A finding linked to a case (one `insights[]` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insight {
    pub finding_id: String,
    pub attached_at: i64,
}

impl Insight {
    /// `type` of a finding insight.
    pub const TYPE: &'static str = "SECURITY_FINDING";

    /// `ref`: the finding's direct link, in the form Datadog documents (`/security/finding/<id>`).
    pub fn reference(&self) -> String {
        format!(
            "/security/finding/{}",
            encode_path_segment(&self.finding_id)
        )
    }
}

fn encode_path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'=') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: String,
    pub project_id: String,
    pub number: i64,
    pub key: String,
    pub title: String,
    pub description: String,
    pub status: CaseStatus,
    pub priority: CasePriority,
    pub case_type: CaseType,
    pub type_id: String,
    pub creation_source: CreationSource,
    pub assignee_id: Option<String>,
    pub attributes: CustomAttributes,
    pub created_by: Option<String>,
    pub modified_by: Option<String>,
    pub created_at: i64,
    pub modified_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub archived_at: Option<i64>,
}

impl Case {
    /// When the case last changed (creation if never modified).
    pub fn updated_at(&self) -> i64 {
        self.modified_at.unwrap_or(self.created_at)
    }
}

/// What a new case starts with (validated by the caller through [`validate_title`] and friends).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub project_id: String,
    pub title: String,
    pub description: String,
    pub priority: CasePriority,
    pub status: CaseStatus,
    pub case_type: CaseType,
    pub creation_source: CreationSource,
    pub assignee_id: Option<String>,
    pub attributes: CustomAttributes,
    /// Findings to link at creation, in order (moved here from other cases of the project).
    pub finding_ids: Vec<String>,
}

impl NewCase {
    /// A manual STANDARD case with defaults.
    pub fn manual(project_id: &str, title: &str) -> NewCase {
        NewCase {
            project_id: project_id.to_string(),
            title: title.to_string(),
            description: String::new(),
            priority: CasePriority::NotDefined,
            status: CaseStatus::Open,
            case_type: CaseType::Standard,
            creation_source: CreationSource::Manual,
            assignee_id: None,
            attributes: CustomAttributes::new(),
            finding_ids: Vec::new(),
        }
    }

    /// A SECURITY case opened from findings.
    pub fn from_findings(project_id: &str, title: &str, finding_ids: Vec<String>) -> NewCase {
        NewCase {
            case_type: CaseType::Security,
            creation_source: CreationSource::SecurityFinding,
            finding_ids,
            ..NewCase::manual(project_id, title)
        }
    }
}

/// One change to a case; each becomes one timeline event.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseChange {
    Status(CaseStatus),
    Priority(CasePriority),
    Assign(String),
    Unassign,
    Archive,
    Unarchive,
    Title(String),
    Description(String),
    Attributes(CustomAttributes),
}

impl Case {
    /// The case after `change`, and the timeline event recording it; `None` when the change
    /// would not alter anything (setting the current status, archiving an archived case…).
    pub fn apply(
        &self,
        change: &CaseChange,
        actor: Option<&str>,
        now: i64,
    ) -> Option<(Case, TimelineEvent)> {
        let mut next = self.clone();
        let event = match change {
            CaseChange::Status(status) => {
                if *status == self.status {
                    return None;
                }
                next.status = *status;
                next.closed_at = (*status == CaseStatus::Closed).then_some(now);
                TimelineEvent::StatusChanged {
                    from: self.status,
                    to: *status,
                }
            }
            CaseChange::Priority(priority) => {
                if *priority == self.priority {
                    return None;
                }
                next.priority = *priority;
                TimelineEvent::PriorityChanged {
                    from: self.priority,
                    to: *priority,
                }
            }
            CaseChange::Assign(user_id) => {
                if self.assignee_id.as_deref() == Some(user_id.as_str()) {
                    return None;
                }
                next.assignee_id = Some(user_id.clone());
                TimelineEvent::Assigned {
                    assignee_id: user_id.clone(),
                    previous: self.assignee_id.clone(),
                }
            }
            CaseChange::Unassign => {
                let previous = self.assignee_id.clone()?;
                next.assignee_id = None;
                TimelineEvent::Unassigned { previous }
            }
            CaseChange::Archive => {
                if self.archived_at.is_some() {
                    return None;
                }
                next.archived_at = Some(now);
                TimelineEvent::Archived
            }
            CaseChange::Unarchive => {
                self.archived_at?;
                next.archived_at = None;
                TimelineEvent::Unarchived
            }
            CaseChange::Title(title) => {
                if *title == self.title {
                    return None;
                }
                next.title = title.clone();
                TimelineEvent::TitleChanged {
                    from: self.title.clone(),
                    to: title.clone(),
                }
            }
            CaseChange::Description(description) => {
                if *description == self.description {
                    return None;
                }
                next.description = description.clone();
                TimelineEvent::DescriptionChanged {
                    from: self.description.clone(),
                    to: description.clone(),
                }
            }
            CaseChange::Attributes(attributes) => {
                if *attributes == self.attributes {
                    return None;
                }
                next.attributes = attributes.clone();
                TimelineEvent::AttributesChanged {
                    from: self.attributes.clone(),
                    to: attributes.clone(),
                }
            }
        };
        next.modified_at = Some(now);
        next.modified_by = actor.map(str::to_string);
        Some((next, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_group_and_name_follow_the_status() {
        assert_eq!(CaseStatus::InProgress.group(), "SG_IN_PROGRESS");
        assert_eq!(CaseStatus::InProgress.display_name(), "In Progress");
        assert_eq!(CaseStatus::Closed.group(), "SG_CLOSED");
    }

    #[test]
    fn unknown_status_uses_datadogs_wording() {
        let err = CaseStatus::parse("OPENED").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid status OPENED. Must be one of NOT_STARTED, IN_PROGRESS, CLOSED, ACKNOWLEDGED, \
             TRIGGERED, PENDING_APPROVAL, COMPLETED, CANCELLED, DECLINED, SUNKNOWN, OPEN, RESOLVED, \
             APPROVED, IMPLEMENTING"
        );
    }

    #[test]
    fn other_datadog_statuses_are_named_as_unsupported() {
        assert_eq!(
            CaseStatus::parse("RESOLVED"),
            Err(StatusError::Unsupported("RESOLVED".into()))
        );
    }

    #[test]
    fn status_names_are_matched_loosely() {
        assert_eq!(
            CaseStatus::parse_name("in progress"),
            Ok(CaseStatus::InProgress)
        );
        assert_eq!(CaseStatus::parse_name("Closed"), Ok(CaseStatus::Closed));
        assert!(CaseStatus::parse_name("Done").is_err());
    }

    #[test]
    fn unknown_priority_uses_datadogs_wording() {
        assert_eq!(
            CasePriority::parse("P1234").unwrap_err().to_string(),
            "invalid priority P1234. Must be one of P1, P2, P3, P4, P5, NOT_DEFINED"
        );
    }

    #[test]
    fn case_keys_are_recognised() {
        assert!(looks_like_case_key("SEC-42"));
        assert!(looks_like_case_key("sec-1"));
        assert!(!looks_like_case_key("67d80aa3-36ff-44b9-a694-c501a7591737"));
        assert!(!looks_like_case_key("wrong-case-id"));
        assert!(!looks_like_case_key("SEC-"));
    }

    #[test]
    fn insight_refs_escape_the_finding_id() {
        let insight = Insight {
            finding_id: "ab/c+d==".into(),
            attached_at: 0,
        };
        assert_eq!(insight.reference(), "/security/finding/ab%2Fc%2Bd==");
    }

    #[test]
    fn blank_titles_are_refused() {
        assert_eq!(validate_title("  "), Err(CaseFieldError::EmptyTitle));
    }

    fn sample_case() -> Case {
        Case {
            id: "c1".into(),
            project_id: "p1".into(),
            number: 1,
            key: "SEC-1".into(),
            title: "t".into(),
            description: String::new(),
            status: CaseStatus::Open,
            priority: CasePriority::NotDefined,
            case_type: CaseType::Security,
            type_id: SECURITY_CASE_TYPE_ID.into(),
            creation_source: CreationSource::SecurityFinding,
            assignee_id: None,
            attributes: CustomAttributes::new(),
            created_by: None,
            modified_by: None,
            created_at: 10,
            modified_at: None,
            closed_at: None,
            archived_at: None,
        }
    }

    #[test]
    fn closing_sets_closed_at_and_reopening_clears_it() {
        let case = sample_case();
        let (closed, event) = case
            .apply(&CaseChange::Status(CaseStatus::Closed), Some("u1"), 50)
            .unwrap();
        assert_eq!(closed.closed_at, Some(50));
        assert_eq!(closed.modified_at, Some(50));
        assert_eq!(closed.modified_by.as_deref(), Some("u1"));
        assert_eq!(event.cell_type(), "STATUS_CHANGED");
        let (reopened, _) = closed
            .apply(&CaseChange::Status(CaseStatus::Open), None, 60)
            .unwrap();
        assert_eq!(reopened.closed_at, None);
    }

    #[test]
    fn a_change_to_the_current_value_is_a_no_op() {
        let case = sample_case();
        assert!(case
            .apply(&CaseChange::Status(CaseStatus::Open), None, 1)
            .is_none());
        assert!(case.apply(&CaseChange::Unassign, None, 1).is_none());
        assert!(case.apply(&CaseChange::Unarchive, None, 1).is_none());
    }

    #[test]
    fn archiving_stamps_archived_at() {
        let (archived, event) = sample_case().apply(&CaseChange::Archive, None, 7).unwrap();
        assert_eq!(archived.archived_at, Some(7));
        assert_eq!(event, TimelineEvent::Archived);
    }
}
