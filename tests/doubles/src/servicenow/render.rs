//! How records look on the wire: `sysparm_display_value` (false / true / all),
//! `sysparm_exclude_reference_link`, and `sysparm_fields` (with one-level dot-walking).
//!
//! Invariants: every value is a string (or, for references and `all`, an object of strings);
//! journal fields read back `""` as raw values and as their history when display values are
//! asked for; empty references render as `""`, never as an object.

use serde_json::{json, Map, Value};

use super::state::ServiceNowState;
use super::tables::{ColumnKind, Record, TableDef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisplayMode {
    Value,
    Display,
    All,
}

impl DisplayMode {
    pub fn parse(text: Option<&str>) -> Self {
        match text.map(|t| t.to_ascii_lowercase()) {
            Some(t) if t == "true" => DisplayMode::Display,
            Some(t) if t == "all" => DisplayMode::All,
            _ => DisplayMode::Value,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ReadOptions {
    pub display: DisplayMode,
    pub exclude_reference_link: bool,
    pub fields: Option<Vec<String>>,
}

fn field_json(
    state: &ServiceNowState,
    table: &TableDef,
    record: &Record,
    field: &str,
    options: &ReadOptions,
) -> Option<Value> {
    let owner_table = table;
    let (kind, value) = if field.contains('.') {
        let kind = super::query::column_kind(table, field, &state.tables)?;
        (kind, state.value_of(table, record, field))
    } else {
        let column = table.column(field)?;
        (
            column.kind.clone(),
            record.get(field).cloned().unwrap_or_default(),
        )
    };
    let sys_id = record.get("sys_id").cloned().unwrap_or_default();
    let plain = |display: String| -> Value {
        match options.display {
            DisplayMode::Value => Value::String(value.clone()),
            DisplayMode::Display => Value::String(display),
            DisplayMode::All => json!({"display_value": display, "value": value}),
        }
    };
    Some(match kind {
        ColumnKind::Reference(target) => {
            if value.is_empty() {
                return Some(match options.display {
                    DisplayMode::All => json!({"display_value": "", "value": ""}),
                    _ => Value::String(String::new()),
                });
            }
            let link_table = if target == "task" {
                match state.get("incident", &value) {
                    Some(_) => "incident",
                    None => "sn_si_incident",
                }
            } else {
                target
            };
            let link = format!("{}/api/now/table/{link_table}/{value}", state.base_url);
            let display = state.reference_display(target, &value);
            match (options.display, options.exclude_reference_link) {
                (DisplayMode::Value, true) => Value::String(value),
                (DisplayMode::Value, false) => json!({"link": link, "value": value}),
                (DisplayMode::Display, true) => Value::String(display),
                (DisplayMode::Display, false) => json!({"link": link, "display_value": display}),
                (DisplayMode::All, true) => json!({"display_value": display, "value": value}),
                (DisplayMode::All, false) => {
                    json!({"display_value": display, "value": value, "link": link})
                }
            }
        }
        ColumnKind::Choice => {
            let label = if value.is_empty() {
                String::new()
            } else {
                state.choice_label(owner_table.name, field, &value)
            };
            plain(label)
        }
        ColumnKind::Journal => {
            let history = state.journal_display(owner_table, &sys_id, field);
            match options.display {
                DisplayMode::Value => Value::String(String::new()),
                DisplayMode::Display => Value::String(history),
                DisplayMode::All => json!({"display_value": history, "value": ""}),
            }
        }
        _ => plain(value.clone()),
    })
}

/// One record as a JSON object.
pub fn record_json(
    state: &ServiceNowState,
    table: &TableDef,
    record: &Record,
    options: &ReadOptions,
) -> Value {
    let mut out = Map::new();
    match &options.fields {
        Some(fields) => {
            for field in fields {
                if let Some(value) = field_json(state, table, record, field, options) {
                    out.insert(field.clone(), value);
                }
            }
        }
        None => {
            for column in &table.columns {
                if let Some(value) = field_json(state, table, record, column.name, options) {
                    out.insert(column.name.to_string(), value);
                }
            }
        }
    }
    Value::Object(out)
}
