//! A security finding as casebridge keeps it, and the rules of its workflow state.
//!
//! Why: ingest, the listing API, mute/assignee operations, the expiry sweep and the CLI import all
//! change or read the same finding; the rules that keep its `status` and `workflow` coherent live
//! here once, with no I/O.
//!
//! A finding is its schema **document** (the Datadog `attributes.attributes` object, kept as it
//! came: every namespaced detail object is stored verbatim) plus its tags, plus a few facts the
//! document cannot carry. The typed fields below are extracted from the document when it is
//! validated ([`validate`]) and kept in step by every method that changes it.
//!
//! Invariants:
//! - `document.finding_id == id`, `document.status == status`, and the document never holds
//!   `tags`, `workflow.integrations` or `workflow.automations` (the last two are computed by
//!   casebridge from cases, ticket links and rules; clients never set them).
//! - `source_status` is what the scanner last reported, never `muted` (a scanner-side mute is
//!   recorded as `workflow.mute`, with `open` underneath).
//! - `status` is derived, never set directly: `muted` while a mute is active (`is_muted` and not
//!   past `expire_at`) unless the detection is closed (`resolved` / `auto_closed` win: a
//!   remediated finding is closed whatever its mute says); otherwise `source_status`.
//! - A mute whose `expire_at` has passed is not active: [`Finding::apply_mute_expiry`] turns it
//!   into an inactive record (`is_muted: false`, other fields kept) and reopens the finding.
//!   Readers apply it at read time; the sweep persists it.
//! - Workflow parts set through casebridge's API (mute, triage assignee) are remembered in
//!   [`ApiOverrides`] with the time of the action; a later re-ingest replaces such a part only
//!   with a record of its own that is newer (`muted_at` / `assignee.updated_at`), so a scanner
//!   re-sending its stale view never undoes an action taken here. Parts that came from the
//!   source follow the source. A re-ingest that carries no `workflow.mute` (or no assignee)
//!   keeps the stored one: absence never clears workflow state.
//! - Re-ingest never moves a finding back in time: a snapshot with an older `last_seen_at` is
//!   ignored, and `first_seen_at` keeps the earliest value seen.

use std::fmt;

use serde_json::{Map, Value};

pub mod mute;
pub mod query_view;
pub mod validate;
pub mod wire;

pub use validate::{FieldError, PathSegment};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the exact wire spelling (case-sensitive, as the schema is).
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The allowed spellings, comma-separated, for error messages.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// `finding_type`: the twelve categories of the latest schema revision.
    FindingType {
        ApiSecurity => "api_security",
        AttackPath => "attack_path",
        RuntimeCodeVulnerability => "runtime_code_vulnerability",
        StaticCodeVulnerability => "static_code_vulnerability",
        HostAndContainerVulnerability => "host_and_container_vulnerability",
        IacMisconfiguration => "iac_misconfiguration",
        IdentityRisk => "identity_risk",
        LibraryVulnerability => "library_vulnerability",
        Misconfiguration => "misconfiguration",
        Secret => "secret",
        WorkloadActivity => "workload_activity",
        SensitiveData => "sensitive_data",
    }
);

string_enum!(
    /// `severity` and `base_severity`.
    Severity {
        Critical => "critical",
        High => "high",
        Medium => "medium",
        Low => "low",
        Info => "info",
        None => "none",
        Unknown => "unknown",
    }
);

string_enum!(
    /// `status`: the workflow status (note the hyphen in `in-progress`, as the schema spells it).
    Status {
        Open => "open",
        InProgress => "in-progress",
        Muted => "muted",
        Resolved => "resolved",
        AutoClosed => "auto_closed",
    }
);

string_enum!(
    /// `workflow.mute.reason` as the schema stores it (lowercase).
    MuteReason {
        None => "none",
        NoPendingFix => "no_pending_fix",
        HumanError => "human_error",
        NoLongerAcceptedRisk => "no_longer_accepted_risk",
        Other => "other",
        PendingFix => "pending_fix",
        FalsePositive => "false_positive",
        AcceptedRisk => "accepted_risk",
        NoFix => "no_fix",
        Duplicate => "duplicate",
        RiskAccepted => "risk_accepted",
        MutedInCode => "muted_in_code",
    }
);

impl Status {
    /// Closed by remediation or by the system: a mute does not change it.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Resolved | Status::AutoClosed)
    }
}

/// A person (or automation) acting on a finding: `{id, name}` in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub name: String,
}

impl Actor {
    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("id".into(), Value::String(self.id.clone()));
        map.insert("name".into(), Value::String(self.name.clone()));
        Value::Object(map)
    }
}

/// `workflow.mute`, typed (the document keeps any further fields, e.g. `rule_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteRecord {
    pub is_muted: bool,
    /// As stored: the schema's lowercase reason (an inactive record may carry free text).
    pub reason: Option<String>,
    pub description: Option<String>,
    pub expire_at: Option<i64>,
    pub muted_at: Option<i64>,
    pub muted_by: Option<Actor>,
    pub is_muted_by_rule: bool,
}

/// `workflow.triage.assignee`, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssigneeRecord {
    pub user: Actor,
    pub updated_at: Option<i64>,
    pub updated_by: Option<Actor>,
}

fn actor_from(value: Option<&Value>) -> Option<Actor> {
    let value = value?;
    Some(Actor {
        id: value.get("id")?.as_str()?.to_string(),
        name: value
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// A mute or unmute decided through casebridge's API (already validated, see [`mute`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteChange {
    pub is_muted: bool,
    pub reason: MuteReason,
    pub description: Option<String>,
    /// Only when muting; `None` mutes indefinitely.
    pub expire_at: Option<i64>,
}

/// The times at which workflow parts were last set through casebridge's API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiOverrides {
    /// Last mute/unmute through the API (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_at: Option<i64>,
    /// Last assign/unassign through the API (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_at: Option<i64>,
}

/// How a re-ingested finding compares with the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertResult {
    /// It was not stored before.
    Created,
    /// It was stored and something changed.
    Updated,
    /// Nothing changed, or the incoming snapshot is older than the stored one (`last_seen_at`).
    Unchanged,
}

impl UpsertResult {
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertResult::Created => "created",
            UpsertResult::Updated => "updated",
            UpsertResult::Unchanged => "unchanged",
        }
    }
}

/// A validated finding. Build one with [`validate::finding_from_document`] (incoming data) or
/// [`Finding::from_stored`] (the database).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    id: String,
    finding_type: FindingType,
    severity: Severity,
    status: Status,
    source_status: Status,
    title: String,
    resource_id: Option<String>,
    first_seen_at: i64,
    last_seen_at: i64,
    detection_changed_at: i64,
    tags: Vec<String>,
    document: Map<String, Value>,
    overrides: ApiOverrides,
}

/// Workflow parts that clients never set.
pub const COMPUTED_WORKFLOW_KEYS: [&str; 2] = ["integrations", "automations"];

impl Finding {
    /// Rebuilds a stored finding (the document was validated when it was written; it is
    /// validated again so corrupt rows surface as errors, not as wrong answers).
    pub fn from_stored(
        id: &str,
        document: Value,
        tags: Vec<String>,
        source_status: &str,
        overrides: ApiOverrides,
    ) -> Result<Finding, String> {
        let source_status = Status::parse(source_status)
            .ok_or_else(|| format!("finding {id}: unknown source_status {source_status:?}"))?;
        let tags_json = Value::Array(tags.into_iter().map(Value::String).collect());
        let mut finding = validate::finding_from_document(id, document, tags_json)
            .map_err(|errors| format!("finding {id}: {}", validate::summarize(&errors)))?;
        finding.source_status = source_status;
        finding.overrides = overrides;
        finding.refresh_status();
        Ok(finding)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn finding_type(&self) -> FindingType {
        self.finding_type
    }
    pub fn severity(&self) -> Severity {
        self.severity
    }
    pub fn base_severity(&self) -> Option<Severity> {
        self.str_attr("base_severity").and_then(Severity::parse)
    }
    /// The status as of the last change (see [`Finding::apply_mute_expiry`] for "now").
    pub fn status(&self) -> Status {
        self.status
    }
    /// What the scanner last reported (never `muted`).
    pub fn source_status(&self) -> Status {
        self.source_status
    }
    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn description(&self) -> Option<&str> {
        self.str_attr("description")
    }
    pub fn resource_id(&self) -> Option<&str> {
        self.resource_id.as_deref()
    }
    pub fn resource_name(&self) -> Option<&str> {
        self.str_attr("resource_name")
    }
    pub fn resource_type(&self) -> Option<&str> {
        self.str_attr("resource_type")
    }
    pub fn first_seen_at(&self) -> i64 {
        self.first_seen_at
    }
    pub fn last_seen_at(&self) -> i64 {
        self.last_seen_at
    }
    pub fn detection_changed_at(&self) -> i64 {
        self.detection_changed_at
    }
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
    /// The schema attributes object (without computed workflow parts).
    pub fn document(&self) -> &Map<String, Value> {
        &self.document
    }
    pub fn overrides(&self) -> ApiOverrides {
        self.overrides
    }

    fn str_attr(&self, key: &str) -> Option<&str> {
        self.document.get(key).and_then(Value::as_str)
    }

    fn workflow_part(&self, key: &str) -> Option<&Value> {
        self.document.get("workflow").and_then(|w| w.get(key))
    }

    /// `workflow.mute`, if any.
    pub fn mute(&self) -> Option<&Value> {
        self.workflow_part("mute")
    }

    /// `workflow.triage.assignee`, if any.
    pub fn assignee(&self) -> Option<&Value> {
        self.workflow_part("triage").and_then(|t| t.get("assignee"))
    }

    /// `workflow.mute`, typed.
    pub fn mute_record(&self) -> Option<MuteRecord> {
        let mute = self.mute()?;
        let text = |key: &str| mute.get(key).and_then(Value::as_str).map(str::to_string);
        let time = |key: &str| mute.get(key).and_then(Value::as_i64);
        Some(MuteRecord {
            is_muted: mute
                .get("is_muted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            reason: text("reason"),
            description: text("description"),
            expire_at: time("expire_at"),
            muted_at: time("muted_at"),
            muted_by: actor_from(mute.get("muted_by")),
            is_muted_by_rule: mute
                .get("is_muted_by_rule")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// `workflow.triage.assignee`, typed.
    pub fn assignee_record(&self) -> Option<AssigneeRecord> {
        let assignee = self.assignee()?;
        Some(AssigneeRecord {
            user: actor_from(Some(assignee))?,
            updated_at: assignee.get("updated_at").and_then(Value::as_i64),
            updated_by: actor_from(assignee.get("updated_by")),
        })
    }

    /// Whether `workflow.mute.is_muted` is true (regardless of expiry).
    pub fn is_muted(&self) -> bool {
        self.mute()
            .and_then(|m| m.get("is_muted"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `workflow.mute.expire_at` of a muted finding.
    pub fn mute_expire_at(&self) -> Option<i64> {
        if !self.is_muted() {
            return None;
        }
        self.mute()
            .and_then(|m| m.get("expire_at"))
            .and_then(Value::as_i64)
    }

    /// Whether the finding is muted and the mute has not expired at `now`.
    pub fn mute_active_at(&self, now: i64) -> bool {
        self.is_muted() && self.mute_expire_at().is_none_or(|at| at > now)
    }

    /// The `workflow` object, created if absent (validation guarantees it is an object).
    fn workflow_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.document
            .entry("workflow")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
    }

    /// Replaces `workflow.triage.assignee` (`None` removes it, and `triage` if left empty).
    fn set_assignee_record(&mut self, record: Option<Value>) {
        match record {
            Some(record) => {
                let triage = self.workflow_mut().map(|workflow| {
                    workflow
                        .entry("triage")
                        .or_insert_with(|| Value::Object(Map::new()))
                });
                if let Some(triage) = triage.and_then(Value::as_object_mut) {
                    triage.insert("assignee".into(), record);
                }
            }
            None => {
                let Some(workflow) = self
                    .document
                    .get_mut("workflow")
                    .and_then(Value::as_object_mut)
                else {
                    return;
                };
                let now_empty = match workflow.get_mut("triage").and_then(Value::as_object_mut) {
                    Some(triage) => {
                        triage.remove("assignee");
                        triage.is_empty()
                    }
                    None => false,
                };
                if now_empty {
                    workflow.remove("triage");
                }
            }
        }
    }

    /// Recomputes `status` from `source_status` and the mute, and writes it into the document.
    fn refresh_status(&mut self) {
        self.status = if self.is_muted() && !self.source_status.is_closed() {
            Status::Muted
        } else {
            self.source_status
        };
        self.document.insert(
            "status".into(),
            Value::String(self.status.as_str().to_string()),
        );
    }

    /// Turns a mute whose `expire_at` is at or before `now` into an inactive record and reopens
    /// the finding. Returns whether anything changed.
    pub fn apply_mute_expiry(&mut self, now: i64) -> bool {
        if !self.is_muted() || self.mute_active_at(now) {
            return false;
        }
        if let Some(mute) = self
            .workflow_mut()
            .and_then(|w| w.get_mut("mute"))
            .and_then(Value::as_object_mut)
        {
            mute.insert("is_muted".into(), Value::Bool(false));
        }
        self.refresh_status();
        true
    }

    /// Mutes or unmutes through the API: `workflow.mute` becomes a record of this action
    /// (`muted_at`/`muted_by` say when and by whom, for an unmute too).
    pub fn apply_mute(&mut self, change: &MuteChange, actor: &Actor, now: i64) {
        let mut mute = Map::new();
        mute.insert("is_muted".into(), Value::Bool(change.is_muted));
        mute.insert(
            "reason".into(),
            Value::String(change.reason.as_str().to_string()),
        );
        if let Some(description) = &change.description {
            mute.insert("description".into(), Value::String(description.clone()));
        }
        if let Some(expire_at) = change.expire_at.filter(|_| change.is_muted) {
            mute.insert("expire_at".into(), Value::from(expire_at));
        }
        mute.insert("muted_at".into(), Value::from(now));
        mute.insert("muted_by".into(), actor.to_json());
        mute.insert("is_muted_by_rule".into(), Value::Bool(false));
        if let Some(workflow) = self.workflow_mut() {
            workflow.insert("mute".into(), Value::Object(mute));
        }
        self.overrides.mute_at = Some(now);
        self.refresh_status();
    }

    /// Assigns (or, with `None`, unassigns) through the API.
    pub fn apply_assignee(&mut self, assignee: Option<&Actor>, by: &Actor, now: i64) {
        let record = assignee.map(|user| {
            let mut record = Map::new();
            record.insert("id".into(), Value::String(user.id.clone()));
            record.insert("name".into(), Value::String(user.name.clone()));
            record.insert("updated_at".into(), Value::from(now));
            record.insert("updated_by".into(), by.to_json());
            Value::Object(record)
        });
        self.set_assignee_record(record);
        self.overrides.assignee_at = Some(now);
    }

    /// The finding after a re-ingest of `incoming` over `self` (the stored finding, with
    /// expiry already applied), or `None` when the stored finding stays as it is (the incoming
    /// snapshot is older, or carries nothing new).
    pub fn merged_with(&self, incoming: Finding, now: i64) -> Option<Finding> {
        if incoming.last_seen_at < self.last_seen_at {
            return None;
        }
        let mut merged = incoming;
        merged.overrides = self.overrides;
        if self.first_seen_at < merged.first_seen_at {
            merged.first_seen_at = self.first_seen_at;
            merged
                .document
                .insert("first_seen_at".into(), Value::from(self.first_seen_at));
        }
        // Mute: an API action stands until the source sends a newer mute record of its own.
        let stored_mute = self.mute().cloned();
        let incoming_mute = merged.mute().cloned();
        let keep_stored_mute = match (&stored_mute, &incoming_mute) {
            (Some(_), None) => true,
            (Some(_), Some(theirs)) => match self.overrides.mute_at {
                Some(api_at) => record_time(theirs, "muted_at").is_none_or(|t| t <= api_at),
                None => false,
            },
            (None, _) => false,
        };
        if keep_stored_mute {
            if let (Some(mute), Some(workflow)) = (stored_mute, merged.workflow_mut()) {
                workflow.insert("mute".into(), mute);
            }
        } else if incoming_mute.is_some() && self.overrides.mute_at.is_some() {
            merged.overrides.mute_at = None;
        }
        // Assignee: the same rule, with `updated_at`; an API unassign is remembered too.
        let stored_assignee = self.assignee().cloned();
        let incoming_assignee = merged.assignee().cloned();
        let take_incoming_assignee = match (&incoming_assignee, self.overrides.assignee_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(theirs), Some(api_at)) => {
                record_time(theirs, "updated_at").is_some_and(|t| t > api_at)
            }
        };
        if take_incoming_assignee {
            merged.overrides.assignee_at = None;
        } else {
            // The stored state stands, including "unassigned through the API".
            merged.set_assignee_record(stored_assignee);
        }
        merged.refresh_status();
        merged.apply_mute_expiry(now);
        if merged == *self {
            None
        } else {
            Some(merged)
        }
    }
}

fn record_time(record: &Value, key: &str) -> Option<i64> {
    record.get(key).and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding(doc: Value) -> Finding {
        let id = doc["finding_id"].as_str().unwrap().to_string();
        validate::finding_from_document(&id, doc, json!(["team:a"])).unwrap()
    }

    fn base() -> Value {
        json!({
            "finding_id": "f1", "finding_type": "secret", "severity": "high", "status": "open",
            "title": "Leaked key", "first_seen_at": 1000, "last_seen_at": 2000,
            "detection_changed_at": 1500, "workflow": {"mute": {"is_muted": false}}
        })
    }

    fn alice() -> Actor {
        Actor {
            id: "u1".into(),
            name: "Alice".into(),
        }
    }

    fn mute_until(expire_at: Option<i64>) -> MuteChange {
        MuteChange {
            is_muted: true,
            reason: MuteReason::RiskAccepted,
            description: Some("later".into()),
            expire_at,
        }
    }

    #[test]
    fn muting_sets_status_and_the_mute_record() {
        let mut f = finding(base());
        f.apply_mute(&mute_until(Some(10_000)), &alice(), 5_000);
        assert_eq!(f.status(), Status::Muted);
        assert_eq!(f.document()["status"], "muted");
        let mute = f.mute().unwrap();
        assert_eq!(mute["reason"], "risk_accepted");
        assert_eq!(mute["muted_by"]["name"], "Alice");
        assert_eq!(mute["expire_at"], 10_000);
        assert_eq!(f.source_status(), Status::Open);
    }

    #[test]
    fn an_expired_mute_reopens_the_finding() {
        let mut f = finding(base());
        f.apply_mute(&mute_until(Some(10_000)), &alice(), 5_000);
        assert!(!f.apply_mute_expiry(9_999));
        assert_eq!(f.status(), Status::Muted);
        assert!(f.apply_mute_expiry(10_000));
        assert_eq!(f.status(), Status::Open);
        assert_eq!(f.mute().unwrap()["is_muted"], false);
        assert_eq!(f.mute().unwrap()["expire_at"], 10_000, "record kept");
    }

    #[test]
    fn a_permanent_mute_never_expires() {
        let mut f = finding(base());
        f.apply_mute(&mute_until(None), &alice(), 5_000);
        assert!(!f.apply_mute_expiry(i64::MAX));
        assert_eq!(f.status(), Status::Muted);
    }

    #[test]
    fn closed_detections_stay_closed_when_muted() {
        let mut doc = base();
        doc["status"] = json!("resolved");
        let mut f = finding(doc);
        f.apply_mute(&mute_until(None), &alice(), 5_000);
        assert_eq!(f.status(), Status::Resolved);
        assert!(f.is_muted());
    }

    #[test]
    fn unmuting_returns_to_the_source_status() {
        let mut doc = base();
        doc["status"] = json!("in-progress");
        let mut f = finding(doc);
        f.apply_mute(&mute_until(None), &alice(), 5_000);
        f.apply_mute(
            &MuteChange {
                is_muted: false,
                reason: MuteReason::NoPendingFix,
                description: None,
                expire_at: None,
            },
            &alice(),
            6_000,
        );
        assert_eq!(f.status(), Status::InProgress);
        assert_eq!(f.mute().unwrap()["reason"], "no_pending_fix");
    }

    #[test]
    fn reingesting_the_same_snapshot_changes_nothing() {
        let f = finding(base());
        assert!(f.merged_with(finding(base()), 3_000).is_none());
    }

    #[test]
    fn an_older_snapshot_never_overwrites_a_newer_one() {
        let f = finding(base());
        let mut older = base();
        older["last_seen_at"] = json!(1_900);
        older["severity"] = json!("low");
        assert!(f.merged_with(finding(older), 3_000).is_none());
    }

    #[test]
    fn a_newer_snapshot_updates_last_seen_and_keeps_the_earliest_first_seen() {
        let f = finding(base());
        let mut newer = base();
        newer["last_seen_at"] = json!(2_500);
        newer["first_seen_at"] = json!(1_200);
        let merged = f.merged_with(finding(newer), 3_000).unwrap();
        assert_eq!(merged.last_seen_at(), 2_500);
        assert_eq!(merged.first_seen_at(), 1_000);
        assert_eq!(merged.document()["first_seen_at"], 1_000);
    }

    #[test]
    fn a_scanner_resending_its_view_does_not_undo_an_api_mute() {
        let mut f = finding(base());
        f.apply_mute(&mute_until(None), &alice(), 5_000);
        let mut newer = base();
        newer["last_seen_at"] = json!(2_500);
        let merged = f.merged_with(finding(newer), 6_000).unwrap();
        assert_eq!(merged.status(), Status::Muted);
        assert_eq!(merged.mute().unwrap()["muted_by"]["name"], "Alice");
    }

    #[test]
    fn a_newer_mute_record_from_the_source_replaces_an_api_mute() {
        let mut f = finding(base());
        f.apply_mute(&mute_until(None), &alice(), 5_000);
        let mut newer = base();
        newer["last_seen_at"] = json!(2_500);
        newer["workflow"]["mute"] =
            json!({"is_muted": false, "muted_at": 7_000, "reason": "human_error"});
        let merged = f.merged_with(finding(newer), 8_000).unwrap();
        assert_eq!(merged.status(), Status::Open);
        assert_eq!(merged.overrides().mute_at, None);
    }

    #[test]
    fn a_source_side_mute_follows_the_source() {
        let mut muted = base();
        muted["status"] = json!("muted");
        muted["workflow"]["mute"] = json!({"is_muted": true, "reason": "no_fix"});
        let f = finding(muted);
        assert_eq!(f.status(), Status::Muted);
        assert_eq!(f.source_status(), Status::Open);
        let mut unmuted = base();
        unmuted["last_seen_at"] = json!(2_500);
        let merged = f.merged_with(finding(unmuted), 3_000).unwrap();
        assert_eq!(merged.status(), Status::Open);
    }

    #[test]
    fn an_api_unassign_survives_a_reingest_carrying_an_older_assignee() {
        let mut doc = base();
        doc["workflow"]["triage"] =
            json!({"assignee": {"id": "u2", "name": "Bob", "updated_at": 1_000}});
        let mut f = finding(doc.clone());
        f.apply_assignee(None, &alice(), 5_000);
        assert!(f.assignee().is_none());
        doc["last_seen_at"] = json!(2_500);
        let merged = f.merged_with(finding(doc), 6_000).unwrap();
        assert!(merged.assignee().is_none());
    }

    #[test]
    fn mute_and_assignee_records_are_typed() {
        let mut f = finding(base());
        f.apply_mute(&mute_until(Some(10_000)), &alice(), 5_000);
        let bob = Actor {
            id: "u2".into(),
            name: "Bob".into(),
        };
        f.apply_assignee(Some(&bob), &alice(), 6_000);
        assert_eq!(
            f.mute_record().unwrap(),
            MuteRecord {
                is_muted: true,
                reason: Some("risk_accepted".into()),
                description: Some("later".into()),
                expire_at: Some(10_000),
                muted_at: Some(5_000),
                muted_by: Some(alice()),
                is_muted_by_rule: false,
            }
        );
        assert_eq!(
            f.assignee_record().unwrap(),
            AssigneeRecord {
                user: bob,
                updated_at: Some(6_000),
                updated_by: Some(alice()),
            }
        );
    }

    #[test]
    fn assigning_records_who_and_when() {
        let mut f = finding(base());
        let bob = Actor {
            id: "u2".into(),
            name: "Bob".into(),
        };
        f.apply_assignee(Some(&bob), &alice(), 5_000);
        let a = f.assignee().unwrap();
        assert_eq!(a["id"], "u2");
        assert_eq!(a["updated_by"]["id"], "u1");
        assert_eq!(a["updated_at"], 5_000);
    }
}
