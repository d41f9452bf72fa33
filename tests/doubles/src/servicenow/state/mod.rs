//! The ServiceNow double's records and the business logic around writes.
//!
//! What a real instance does on save, and what this reproduces: all values stored as strings;
//! auto-numbering (`INC0010001`, `SIR0010001`); `sys_*` bookkeeping (`sys_mod_count` +1 per
//! saved change, `sys_updated_on` at one-second resolution, `sys_updated_by`); priority from
//! impact × urgency; `state` ↔ `incident_state`; resolve/close/cancel side effects; journal
//! fields written to `sys_journal_field` and read back as `""`; the closure data policy (403);
//! one `task_sla` per task, paused/completed/cancelled with the task and breached by the clock;
//! outbound notifications for configured tables.
//!
//! Invariants: a refused write changes nothing; a write that changes nothing (no column and no
//! journal entry) does not bump `sys_mod_count` and sends no notification; reference columns
//! hold sys_ids (names are resolved on write, unknown values are kept as dangling references,
//! as ServiceNow does).

mod sla;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::SnError;
use super::query::{self, EncodedQuery};
use super::render::{self, DisplayMode, ReadOptions};
use super::tables::{
    all_tables, new_sys_id, seed_sys_id, ColumnKind, Record, ServiceNowSeed, TableDef,
};
use crate::common::outbound::OutboundEvent;
use crate::common::time_format::servicenow_timestamp;
use sla::SlaClock;

/// An upload through the Attachment API.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub table_name: String,
    pub table_sys_id: String,
    pub file_name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    values: Record,
}

pub struct ServiceNowState {
    pub tables: Vec<TableDef>,
    pub seed: ServiceNowSeed,
    pub base_url: String,
    pub attachment_max_bytes: usize,
    pub notification_tables: Vec<String>,
    pub enforce_data_policy: bool,
    records: BTreeMap<String, BTreeMap<String, Stored>>,
    attachment_content: BTreeMap<String, Vec<u8>>,
    sla_clocks: BTreeMap<String, SlaClock>,
    seq: u64,
    counters: BTreeMap<String, u64>,
    outbox: Vec<OutboundEvent>,
}

fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(map) => map
            .get("value")
            .map(to_text)
            .unwrap_or_else(|| value.to_string()),
        Value::Array(items) => items.iter().map(to_text).collect::<Vec<_>>().join(","),
    }
}

fn is_sys_id(value: &str) -> bool {
    value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit())
}

impl ServiceNowState {
    pub fn new(
        seed: ServiceNowSeed,
        base_url: String,
        attachment_max_bytes: usize,
        notification_tables: Vec<String>,
        enforce_data_policy: bool,
        now: i64,
    ) -> Self {
        let mut state = ServiceNowState {
            tables: all_tables(),
            seed: seed.clone(),
            base_url,
            attachment_max_bytes,
            notification_tables,
            enforce_data_policy,
            records: BTreeMap::new(),
            attachment_content: BTreeMap::new(),
            sla_clocks: BTreeMap::new(),
            seq: 0,
            counters: BTreeMap::new(),
            outbox: Vec::new(),
        };
        state.load_seed(&seed, now);
        state
    }

    fn load_seed(&mut self, seed: &ServiceNowSeed, now: i64) {
        let table_names: Vec<(String, String)> = self
            .tables
            .iter()
            .map(|t| (t.name.to_string(), t.label.to_string()))
            .collect();
        for (name, label) in table_names {
            self.seed_row(
                "sys_db_object",
                &seed_sys_id("sys_db_object", &name),
                &[("name", &name), ("label", &label)],
                now,
            );
        }
        for user in &seed.users {
            let (first, last) = user.name.split_once(' ').unwrap_or((&user.name, ""));
            let active = if user.active { "true" } else { "false" };
            self.seed_row(
                "sys_user",
                &seed_sys_id("sys_user", &user.user_name),
                &[
                    ("user_name", &user.user_name),
                    ("name", &user.name),
                    ("first_name", first),
                    ("last_name", last),
                    ("email", &user.email),
                    ("active", active),
                ],
                now,
            );
        }
        for group in &seed.groups {
            self.seed_row(
                "sys_user_group",
                &seed_sys_id("sys_user_group", &group.name),
                &[
                    ("name", &group.name),
                    ("description", &group.description),
                    ("active", "true"),
                ],
                now,
            );
        }
        for server in &seed.servers {
            self.seed_row(
                "cmdb_ci_server",
                &seed_sys_id("cmdb_ci_server", &server.name),
                &[
                    ("name", &server.name),
                    ("ip_address", &server.ip_address),
                    ("fqdn", &server.fqdn),
                    ("os", &server.os),
                    ("operational_status", "1"),
                ],
                now,
            );
        }
        for (i, choice) in seed.choices.iter().enumerate() {
            let key = format!("{}.{}.{}", choice.table, choice.element, choice.value);
            let sequence = i.to_string();
            self.seed_row(
                "sys_choice",
                &seed_sys_id("sys_choice", &key),
                &[
                    ("name", &choice.table),
                    ("element", &choice.element),
                    ("value", &choice.value),
                    ("label", &choice.label),
                    ("sequence", &sequence),
                    ("language", "en"),
                    ("inactive", "false"),
                ],
                now,
            );
        }
    }

    fn seed_row(&mut self, table: &str, sys_id: &str, values: &[(&str, &str)], now: i64) {
        let mut record: Record = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.stamp_new(&mut record, table, sys_id, "system", now);
        self.store(table, record);
    }

    fn stamp_new(&self, record: &mut Record, table: &str, sys_id: &str, actor: &str, now: i64) {
        let ts = servicenow_timestamp(now);
        record.insert("sys_id".into(), sys_id.to_string());
        record.insert("sys_created_on".into(), ts.clone());
        record.insert("sys_created_by".into(), actor.to_string());
        record.insert("sys_updated_on".into(), ts);
        record.insert("sys_updated_by".into(), actor.to_string());
        record.insert("sys_mod_count".into(), "0".into());
        record.insert("sys_class_name".into(), table.to_string());
    }

    fn store(&mut self, table: &str, record: Record) {
        self.seq += 1;
        let sys_id = record.get("sys_id").cloned().unwrap_or_default();
        self.records.entry(table.to_string()).or_default().insert(
            sys_id,
            Stored {
                seq: self.seq,
                values: record,
            },
        );
    }

    pub fn take_outbox(&mut self) -> Vec<OutboundEvent> {
        std::mem::take(&mut self.outbox)
    }

    // ---- lookups ------------------------------------------------------------------------------

    pub fn table(&self, name: &str) -> Result<&TableDef, SnError> {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| SnError::invalid_table(name))
    }

    pub fn get(&self, table: &str, sys_id: &str) -> Option<&Record> {
        self.records.get(table)?.get(sys_id).map(|s| &s.values)
    }

    /// A record referenced from a `task` column (incident or security incident).
    fn get_task(&self, sys_id: &str) -> Option<(&'static str, &Record)> {
        ["incident", "sn_si_incident"]
            .into_iter()
            .find_map(|t| self.get(t, sys_id).map(|r| (t, r)))
    }

    pub fn user_by_name(&self, user_name: &str) -> Option<&Record> {
        self.records
            .get("sys_user")?
            .values()
            .map(|s| &s.values)
            .find(|r| {
                r.get("user_name")
                    .is_some_and(|u| u.eq_ignore_ascii_case(user_name))
            })
    }

    pub fn user_sys_id(&self, user_name: &str) -> Option<String> {
        self.user_by_name(user_name)
            .and_then(|r| r.get("sys_id").cloned())
    }

    /// The value of `field` (possibly `reference.column`) for a record of `table`.
    pub fn value_of(&self, table: &TableDef, record: &Record, field: &str) -> String {
        match field.split_once('.') {
            None => record.get(field).cloned().unwrap_or_default(),
            Some((reference, rest)) => {
                let Some(ColumnKind::Reference(target)) =
                    table.column(reference).map(|c| c.kind.clone())
                else {
                    return String::new();
                };
                let id = record.get(reference).cloned().unwrap_or_default();
                let target_record = if target == "task" {
                    self.get_task(&id).map(|(_, r)| r)
                } else {
                    self.get(target, &id)
                };
                target_record
                    .and_then(|r| r.get(rest))
                    .cloned()
                    .unwrap_or_default()
            }
        }
    }

    /// Display value of a reference (the target's display column) or "" if dangling.
    pub fn reference_display(&self, target: &str, sys_id: &str) -> String {
        if sys_id.is_empty() {
            return String::new();
        }
        if target == "task" {
            return self
                .get_task(sys_id)
                .and_then(|(_, r)| r.get("number"))
                .cloned()
                .unwrap_or_default();
        }
        let display = self
            .tables
            .iter()
            .find(|t| t.name == target)
            .map(|t| t.display_column)
            .unwrap_or("name");
        self.get(target, sys_id)
            .and_then(|r| r.get(display))
            .cloned()
            .unwrap_or_default()
    }

    /// Label of a choice value from `sys_choice` (falls back to the value).
    pub fn choice_label(&self, table: &str, element: &str, value: &str) -> String {
        self.records
            .get("sys_choice")
            .and_then(|rows| {
                rows.values().map(|s| &s.values).find(|r| {
                    r.get("name").map(String::as_str) == Some(table)
                        && r.get("element").map(String::as_str) == Some(element)
                        && r.get("value").map(String::as_str) == Some(value)
                })
            })
            .and_then(|r| r.get("label").cloned())
            .unwrap_or_else(|| value.to_string())
    }

    fn choice_value_for_label(&self, table: &str, element: &str, label: &str) -> Option<String> {
        self.records.get("sys_choice").and_then(|rows| {
            rows.values()
                .map(|s| &s.values)
                .find(|r| {
                    r.get("name").map(String::as_str) == Some(table)
                        && r.get("element").map(String::as_str) == Some(element)
                        && r.get("label")
                            .is_some_and(|l| l.eq_ignore_ascii_case(label))
                })
                .and_then(|r| r.get("value").cloned())
        })
    }

    /// Journal history of one field, newest first, as ServiceNow displays it.
    pub fn journal_display(&self, table: &TableDef, sys_id: &str, element: &str) -> String {
        let label = table.column(element).map(|c| c.label).unwrap_or(element);
        let mut entries: Vec<(&u64, &Record)> = self
            .records
            .get("sys_journal_field")
            .map(|rows| {
                rows.values()
                    .filter(|s| {
                        s.values.get("element_id").map(String::as_str) == Some(sys_id)
                            && s.values.get("element").map(String::as_str) == Some(element)
                    })
                    .map(|s| (&s.seq, &s.values))
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by(|a, b| b.0.cmp(a.0));
        entries
            .iter()
            .map(|(_, r)| {
                let author = r.get("sys_created_by").cloned().unwrap_or_default();
                let display = self
                    .user_by_name(&author)
                    .and_then(|u| u.get("name").cloned())
                    .unwrap_or(author);
                format!(
                    "{} - {} ({})\n{}\n\n",
                    r.get("sys_created_on").cloned().unwrap_or_default(),
                    display,
                    label,
                    r.get("value").cloned().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Records of `table` matching `query`, in the query's order (default: insertion order).
    pub fn list(&self, table: &TableDef, query: &EncodedQuery) -> Vec<&Record> {
        let mut rows: Vec<&Stored> = self
            .records
            .get(table.name)
            .map(|rows| rows.values().collect())
            .unwrap_or_default();
        rows.retain(|stored| {
            query.groups.is_empty()
                || query.groups.iter().any(|group| {
                    group.iter().all(|alternatives| {
                        alternatives.iter().any(|cond| {
                            let kind = query::column_kind(table, &cond.field, &self.tables)
                                .unwrap_or(ColumnKind::Text);
                            query::matches(
                                cond,
                                &kind,
                                &self.value_of(table, &stored.values, &cond.field),
                            )
                        })
                    })
                })
        });
        rows.sort_by(|a, b| {
            for order in &query.order_by {
                let kind = query::column_kind(table, &order.field, &self.tables)
                    .unwrap_or(ColumnKind::Text);
                let ordering = query::compare(
                    &kind,
                    &self.value_of(table, &a.values, &order.field),
                    &self.value_of(table, &b.values, &order.field),
                );
                let ordering = if order.descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering != std::cmp::Ordering::Equal {
                    return ordering;
                }
            }
            a.seq.cmp(&b.seq)
        });
        rows.into_iter().map(|s| &s.values).collect()
    }

    // ---- writes ---------------------------------------------------------------------------------

    /// Resolves a reference write: a sys_id of the target, or a display value / user name.
    fn resolve_reference(&self, target: &str, raw: &str) -> String {
        if raw.is_empty() || is_sys_id(raw) && (target == "task" || self.get(target, raw).is_some())
        {
            return raw.to_string();
        }
        let display = self
            .tables
            .iter()
            .find(|t| t.name == target)
            .map(|t| t.display_column)
            .unwrap_or("name");
        self.records
            .get(target)
            .and_then(|rows| {
                rows.values().map(|s| &s.values).find(|r| {
                    r.get(display).is_some_and(|v| v.eq_ignore_ascii_case(raw))
                        || (target == "sys_user"
                            && r.get("user_name")
                                .is_some_and(|v| v.eq_ignore_ascii_case(raw)))
                })
            })
            .and_then(|r| r.get("sys_id").cloned())
            .unwrap_or_else(|| raw.to_string())
    }

    /// Turns a request body into column changes and journal entries.
    fn parse_input(
        &self,
        table: &TableDef,
        input: &Map<String, Value>,
        input_display: bool,
        inserting: bool,
    ) -> (Record, Vec<(String, String)>) {
        let mut changes = Record::new();
        let mut journal = Vec::new();
        for (name, value) in input {
            let Some(column) = table.column(name) else {
                continue; // unknown fields are ignored, as ServiceNow does
            };
            let text = to_text(value);
            if name.starts_with("sys_") && !(inserting && name == "sys_id" && is_sys_id(&text)) {
                continue;
            }
            match &column.kind {
                ColumnKind::Journal => {
                    if !text.trim().is_empty() {
                        journal.push((name.clone(), text));
                    }
                }
                ColumnKind::Reference(target) => {
                    changes.insert(name.clone(), self.resolve_reference(target, text.trim()));
                }
                ColumnKind::Choice if input_display => {
                    let value = self
                        .choice_value_for_label(table.name, name, &text)
                        .unwrap_or(text);
                    changes.insert(name.clone(), value);
                }
                ColumnKind::Boolean => {
                    let b = matches!(text.to_ascii_lowercase().as_str(), "true" | "1" | "yes");
                    changes.insert(name.clone(), b.to_string());
                }
                _ => {
                    changes.insert(name.clone(), text);
                }
            }
        }
        (changes, journal)
    }

    fn next_number(&mut self, prefix: &str) -> String {
        let counter = self.counters.entry(prefix.to_string()).or_insert(10000);
        *counter += 1;
        format!("{prefix}{:07}", *counter)
    }

    /// Task business rules on the merged record (before the data policy check).
    fn apply_task_rules(
        &self,
        table: &TableDef,
        before: Option<&Record>,
        record: &mut Record,
        changes: &Record,
        actor_sys_id: &str,
        now: i64,
    ) {
        let ts = servicenow_timestamp(now);
        if table.name == "incident" {
            if changes.contains_key("state") {
                let state = record.get("state").cloned().unwrap_or_default();
                record.insert("incident_state".into(), state);
            } else if changes.contains_key("incident_state") {
                let state = record.get("incident_state").cloned().unwrap_or_default();
                record.insert("state".into(), state);
            }
        }
        if before.is_none() || changes.contains_key("impact") || changes.contains_key("urgency") {
            let impact = record.get("impact").and_then(|v| v.parse::<i64>().ok());
            let urgency = record.get("urgency").and_then(|v| v.parse::<i64>().ok());
            if let (Some(i), Some(u)) = (impact, urgency) {
                record.insert("priority".into(), (i + u - 1).clamp(1, 5).to_string());
            }
        }
        let old_state = before
            .and_then(|b| b.get("state"))
            .cloned()
            .unwrap_or_default();
        let state = record.get("state").cloned().unwrap_or_default();
        if state == old_state && before.is_some() {
            return;
        }
        let (resolved, closed, cancelled) = match table.name {
            "incident" => (state == "6", state == "7", state == "8"),
            _ => (false, state == "3", state == "7"),
        };
        let set_if_empty = |record: &mut Record, key: &str, value: &str| {
            if record.get(key).is_none_or(String::is_empty) {
                record.insert(key.to_string(), value.to_string());
            }
        };
        if (resolved || closed) && table.name == "incident" {
            set_if_empty(record, "resolved_at", &ts);
            set_if_empty(record, "resolved_by", actor_sys_id);
        }
        if closed {
            set_if_empty(record, "closed_at", &ts);
            set_if_empty(record, "closed_by", actor_sys_id);
        }
        record.insert("active".into(), (!(closed || cancelled)).to_string());
        if !(resolved || closed || cancelled) {
            for key in ["resolved_at", "resolved_by", "closed_at", "closed_by"] {
                record.insert(key.into(), String::new());
            }
        }
    }

    /// The closure data policy: mandatory fields for resolved/closed (and on-hold) records.
    fn check_data_policy(&self, table: &TableDef, record: &Record) -> Result<(), SnError> {
        if !self.enforce_data_policy || !table.is_task() {
            return Ok(());
        }
        let state = record.get("state").map(String::as_str).unwrap_or("");
        let mut mandatory: Vec<&str> = Vec::new();
        let closing = match table.name {
            "incident" => state == "6" || state == "7",
            _ => state == "3",
        };
        if closing {
            mandatory.extend(["close_code", "close_notes"]);
        }
        if table.name == "incident" && state == "3" {
            mandatory.push("hold_reason");
        }
        let missing: Vec<&str> = mandatory
            .into_iter()
            .filter(|f| record.get(*f).is_none_or(|v| v.trim().is_empty()))
            .map(|f| table.column(f).map(|c| c.label).unwrap_or(f))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(SnError::data_policy(&missing))
        }
    }

    fn write_journal(
        &mut self,
        table: &str,
        sys_id: &str,
        entries: &[(String, String)],
        actor: &str,
        now: i64,
    ) {
        for (element, value) in entries {
            let mut row: Record = [
                ("element".to_string(), element.clone()),
                ("element_id".to_string(), sys_id.to_string()),
                ("name".to_string(), table.to_string()),
                ("value".to_string(), value.clone()),
            ]
            .into_iter()
            .collect();
            self.stamp_new(&mut row, "sys_journal_field", &new_sys_id(), actor, now);
            self.store("sys_journal_field", row);
        }
    }

    fn notify(&mut self, event: &str, table: &TableDef, record: &Record) {
        if !self.notification_tables.iter().any(|t| t == table.name) {
            return;
        }
        let options = ReadOptions {
            display: DisplayMode::Value,
            exclude_reference_link: true,
            fields: None,
        };
        let body = json!({
            "event": event,
            "table": table.name,
            "record": render::record_json(self, table, record, &options),
        });
        self.outbox.push(OutboundEvent {
            event: event.to_string(),
            body,
            secondary: false,
        });
    }

    /// Inserts a record; returns its sys_id.
    pub fn insert(
        &mut self,
        actor: &str,
        table_name: &str,
        input: &Map<String, Value>,
        input_display: bool,
        now: i64,
    ) -> Result<String, SnError> {
        let table = self.table(table_name)?.clone();
        let (changes, journal) = self.parse_input(&table, input, input_display, true);
        let sys_id = changes.get("sys_id").cloned().unwrap_or_else(new_sys_id);
        if self.get(table.name, &sys_id).is_some() {
            return Err(SnError::new(
                StatusCode::FORBIDDEN,
                "Operation Failed",
                Some(format!("Error during insert of {} ({sys_id})", table.name)),
            ));
        }
        let actor_sys_id = self.user_sys_id(actor).unwrap_or_default();
        let mut record: Record = table
            .columns
            .iter()
            .map(|c| (c.name.to_string(), String::new()))
            .collect();
        if table.is_task() {
            let ts = servicenow_timestamp(now);
            record.insert(
                "state".into(),
                if table.name == "incident" {
                    "1".into()
                } else {
                    "10".into()
                },
            );
            record.insert("impact".into(), "3".into());
            record.insert("urgency".into(), "3".into());
            record.insert("active".into(), "true".into());
            record.insert("opened_at".into(), ts);
            record.insert("opened_by".into(), actor_sys_id.clone());
            if table.name == "incident" {
                record.insert("incident_state".into(), "1".into());
            }
        }
        for (k, v) in &changes {
            record.insert(k.clone(), v.clone());
        }
        if let Some(prefix) = table.number_prefix {
            if record.get("number").is_none_or(String::is_empty) {
                let number = self.next_number(prefix);
                record.insert("number".into(), number);
            }
        }
        if table.is_task() {
            self.apply_task_rules(&table, None, &mut record, &changes, &actor_sys_id, now);
        }
        self.check_data_policy(&table, &record)?;
        self.stamp_new(&mut record, table.name, &sys_id, actor, now);
        self.store(table.name, record.clone());
        self.write_journal(table.name, &sys_id, &journal, actor, now);
        if table.is_task() {
            self.start_sla(
                &sys_id,
                record.get("priority").map(String::as_str).unwrap_or("5"),
                actor,
                now,
            );
            self.sync_sla_stage(
                &sys_id,
                record.get("state").map(String::as_str).unwrap_or(""),
                table.name,
                now,
            );
        }
        self.notify("insert", &table, &record);
        Ok(sys_id)
    }

    /// Updates a record (PATCH and PUT behave the same: only given fields change).
    pub fn update(
        &mut self,
        actor: &str,
        table_name: &str,
        sys_id: &str,
        input: &Map<String, Value>,
        input_display: bool,
        now: i64,
    ) -> Result<(), SnError> {
        let table = self.table(table_name)?.clone();
        let before = self
            .get(table.name, sys_id)
            .cloned()
            .ok_or_else(SnError::not_found)?;
        let (changes, journal) = self.parse_input(&table, input, input_display, false);
        let actor_sys_id = self.user_sys_id(actor).unwrap_or_default();
        let mut record = before.clone();
        for (k, v) in &changes {
            record.insert(k.clone(), v.clone());
        }
        if table.is_task() {
            self.apply_task_rules(
                &table,
                Some(&before),
                &mut record,
                &changes,
                &actor_sys_id,
                now,
            );
        }
        let changed = record != before || !journal.is_empty();
        if !changed {
            return Ok(());
        }
        self.check_data_policy(&table, &record)?;
        let count = before
            .get("sys_mod_count")
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        record.insert("sys_mod_count".into(), count.to_string());
        record.insert("sys_updated_on".into(), servicenow_timestamp(now));
        record.insert("sys_updated_by".into(), actor.to_string());
        let seq = self
            .records
            .get(table.name)
            .and_then(|r| r.get(sys_id))
            .map(|s| s.seq)
            .unwrap_or(0);
        if let Some(rows) = self.records.get_mut(table.name) {
            rows.insert(
                sys_id.to_string(),
                Stored {
                    seq,
                    values: record.clone(),
                },
            );
        }
        self.write_journal(table.name, sys_id, &journal, actor, now);
        if table.is_task() {
            let old_priority = before.get("priority").cloned().unwrap_or_default();
            let new_priority = record.get("priority").cloned().unwrap_or_default();
            if old_priority != new_priority {
                self.cancel_slas(sys_id, now);
                self.start_sla(sys_id, &new_priority, actor, now);
            }
            self.sync_sla_stage(
                sys_id,
                record.get("state").map(String::as_str).unwrap_or(""),
                table.name,
                now,
            );
        }
        self.notify("update", &table, &record);
        Ok(())
    }

    pub fn delete(&mut self, table_name: &str, sys_id: &str) -> Result<(), SnError> {
        let table = self.table(table_name)?.clone();
        let removed = self
            .records
            .get_mut(table.name)
            .and_then(|rows| rows.remove(sys_id))
            .ok_or_else(SnError::not_found)?;
        if table.name == "sys_attachment" {
            self.attachment_content.remove(sys_id);
        }
        self.notify("delete", &table, &removed.values);
        Ok(())
    }

    // ---- attachments ----------------------------------------------------------------------------

    pub fn add_attachment(
        &mut self,
        actor: &str,
        file: NewAttachment,
        now: i64,
    ) -> Result<String, SnError> {
        let NewAttachment {
            table_name,
            table_sys_id,
            file_name,
            content_type,
            data,
        } = file;
        let (table_name, table_sys_id) = (table_name.as_str(), table_sys_id.as_str());
        if self.tables.iter().all(|t| t.name != table_name)
            || self.get(table_name, table_sys_id).is_none()
        {
            return Err(SnError::new(
                StatusCode::BAD_REQUEST,
                "Invalid table or sys_id",
                Some(format!("No record {table_sys_id} in table {table_name}")),
            ));
        }
        if data.len() > self.attachment_max_bytes {
            return Err(SnError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Maximum file size exceeded",
                Some(format!(
                    "The attachment is {} bytes; the maximum allowed is {} bytes",
                    data.len(),
                    self.attachment_max_bytes
                )),
            ));
        }
        let sys_id = new_sys_id();
        let size = data.len().to_string();
        let mut row: Record = [
            ("file_name", file_name),
            ("table_name", table_name.to_string()),
            ("table_sys_id", table_sys_id.to_string()),
            ("content_type", content_type),
            ("size_bytes", size.clone()),
            ("size_compressed", size),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.stamp_new(&mut row, "sys_attachment", &sys_id, actor, now);
        self.store("sys_attachment", row);
        self.attachment_content.insert(sys_id.clone(), data);
        Ok(sys_id)
    }

    pub fn attachment_content(&self, sys_id: &str) -> Option<&[u8]> {
        self.attachment_content.get(sys_id).map(Vec::as_slice)
    }

    /// Everything, for inspection: every table's records (journal included).
    pub fn dump(&self) -> Value {
        let mut tables = Map::new();
        for (name, rows) in &self.records {
            let mut ordered: Vec<&Stored> = rows.values().collect();
            ordered.sort_by_key(|s| s.seq);
            tables.insert(
                name.clone(),
                Value::Array(ordered.iter().map(|s| json!(s.values)).collect()),
            );
        }
        Value::Object(tables)
    }
}
