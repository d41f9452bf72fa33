//! ServiceNow encoded queries (`sysparm_query`): parsing and evaluation.
//!
//! Grammar: conditions joined by `^` (AND); a condition starting with `OR` (`^ORfield=x`) is
//! OR-ed with the condition before it (OR binds tighter than AND, as in ServiceNow); `^NQ`
//! starts a new query OR-ed with the previous ones; `ORDERBYfield` / `ORDERBYDESCfield` sort;
//! `^EQ` ends the query. Operators: `=`, `!=`, `>=`, `<=`, `>`, `<`, `LIKE`, `NOT LIKE`,
//! `STARTSWITH`, `ENDSWITH`, `IN`, `NOT IN`, `ISEMPTY`, `ISNOTEMPTY`, `ANYTHING`. Values may be
//! `javascript:gs.dateGenerate('yyyy-MM-dd','HH:mm:ss')`. Fields may dot-walk one reference
//! (`assigned_to.user_name=bob`).
//!
//! Invariants: parts that do not parse, or name a column the table does not have, are dropped
//! silently (ServiceNow's default when `glide.invalid_query.returns_no_rows` is off); evaluation
//! compares numbers numerically, date-times at one-second resolution, and strings
//! case-insensitively.

use super::tables::{ColumnKind, TableDef};

#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Eq,
    NotEq,
    Ge,
    Le,
    Gt,
    Lt,
    Like,
    NotLike,
    StartsWith,
    EndsWith,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
    Anything,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Column name, possibly `reference.column`.
    pub field: String,
    pub op: Operator,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub field: String,
    pub descending: bool,
}

/// A parsed query: OR of groups, each an AND of OR-lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedQuery {
    pub groups: Vec<Vec<Vec<Condition>>>,
    pub order_by: Vec<OrderBy>,
    /// Parts that were ignored (for diagnostics).
    pub ignored: Vec<String>,
}

const OPERATORS: &[(&str, Operator)] = &[
    ("ISNOTEMPTY", Operator::IsNotEmpty),
    ("ISEMPTY", Operator::IsEmpty),
    ("ANYTHING", Operator::Anything),
    ("NOT LIKE", Operator::NotLike),
    ("NOT IN", Operator::NotIn),
    ("STARTSWITH", Operator::StartsWith),
    ("ENDSWITH", Operator::EndsWith),
    ("LIKE", Operator::Like),
    ("IN", Operator::In),
    ("!=", Operator::NotEq),
    (">=", Operator::Ge),
    ("<=", Operator::Le),
    ("=", Operator::Eq),
    (">", Operator::Gt),
    ("<", Operator::Lt),
];

/// A column reachable from `table`, resolving one dot-walk through a reference.
pub fn column_kind(table: &TableDef, field: &str, tables: &[TableDef]) -> Option<ColumnKind> {
    match field.split_once('.') {
        None => table.column(field).map(|c| c.kind.clone()),
        Some((reference, rest)) => match table.column(reference).map(|c| &c.kind) {
            Some(ColumnKind::Reference(target)) => {
                let target_name = if *target == "task" {
                    "incident"
                } else {
                    target
                };
                let target_table = tables.iter().find(|t| t.name == target_name)?;
                target_table.column(rest).map(|c| c.kind.clone())
            }
            _ => None,
        },
    }
}

fn parse_condition(part: &str) -> Option<Condition> {
    let field_end = part
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .unwrap_or(part.len());
    let field = &part[..field_end];
    if field.is_empty() {
        return None;
    }
    let rest = &part[field_end..];
    for (symbol, op) in OPERATORS {
        if let Some(value) = rest.strip_prefix(symbol) {
            let no_value = matches!(
                op,
                Operator::IsEmpty | Operator::IsNotEmpty | Operator::Anything
            );
            if no_value && !value.is_empty() {
                return None;
            }
            return Some(Condition {
                field: field.to_string(),
                op: op.clone(),
                value: decode_value(value),
            });
        }
    }
    None
}

/// Turns `javascript:gs.dateGenerate('2026-01-01','00:00:00')` into `2026-01-01 00:00:00`.
fn decode_value(value: &str) -> String {
    if let Some(args) = value
        .strip_prefix("javascript:gs.dateGenerate(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let parts: Vec<String> = args
            .split(',')
            .map(|a| a.trim().trim_matches('\'').trim_matches('"').to_string())
            .collect();
        if parts.len() == 2 {
            return format!("{} {}", parts[0], parts[1]);
        }
    }
    value.to_string()
}

/// Parses `sysparm_query` for `table`.
pub fn parse(query: &str, table: &TableDef, tables: &[TableDef]) -> EncodedQuery {
    let mut out = EncodedQuery::default();
    let query = query.split("^EQ").next().unwrap_or("");
    for group_text in query.split("^NQ") {
        let mut group: Vec<Vec<Condition>> = Vec::new();
        for raw in group_text.split('^') {
            let part = raw.trim();
            if part.is_empty() || part == "EQ" {
                continue;
            }
            if let Some(field) = part.strip_prefix("ORDERBYDESC") {
                if column_kind(table, field, tables).is_some() {
                    out.order_by.push(OrderBy {
                        field: field.to_string(),
                        descending: true,
                    });
                } else {
                    out.ignored.push(part.to_string());
                }
                continue;
            }
            if let Some(field) = part.strip_prefix("ORDERBY") {
                if column_kind(table, field, tables).is_some() {
                    out.order_by.push(OrderBy {
                        field: field.to_string(),
                        descending: false,
                    });
                } else {
                    out.ignored.push(part.to_string());
                }
                continue;
            }
            let (is_or, body) = match part.strip_prefix("OR") {
                Some(rest) if !group.is_empty() => (true, rest),
                _ => (false, part),
            };
            match parse_condition(body) {
                Some(cond) if column_kind(table, &cond.field, tables).is_some() => {
                    if is_or {
                        if let Some(last) = group.last_mut() {
                            last.push(cond);
                        }
                    } else {
                        group.push(vec![cond]);
                    }
                }
                _ => out.ignored.push(part.to_string()),
            }
        }
        if !group.is_empty() {
            out.groups.push(group);
        }
    }
    out
}

/// Compares two stored values given the column kind.
pub fn compare(kind: &ColumnKind, left: &str, right: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match kind {
        ColumnKind::DateTime => {
            let l = crate::common::time_format::parse_servicenow_timestamp(left);
            let r = crate::common::time_format::parse_servicenow_timestamp(right);
            match (l, r) {
                (Some(a), Some(b)) => (a / 1000).cmp(&(b / 1000)),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        ColumnKind::Integer | ColumnKind::Choice => {
            match (left.trim().parse::<f64>(), right.trim().parse::<f64>()) {
                (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                _ => left.to_lowercase().cmp(&right.to_lowercase()),
            }
        }
        _ => left.to_lowercase().cmp(&right.to_lowercase()),
    }
}

/// Evaluates one condition given the record's value for its field.
pub fn matches(cond: &Condition, kind: &ColumnKind, actual: &str) -> bool {
    use std::cmp::Ordering::*;
    let lower = actual.to_lowercase();
    let wanted = cond.value.to_lowercase();
    match cond.op {
        Operator::Eq => {
            compare(kind, actual, &cond.value) == Equal
                && (actual.is_empty() == cond.value.is_empty())
        }
        Operator::NotEq => {
            !(compare(kind, actual, &cond.value) == Equal
                && (actual.is_empty() == cond.value.is_empty()))
        }
        Operator::Ge => !actual.is_empty() && compare(kind, actual, &cond.value) != Less,
        Operator::Le => !actual.is_empty() && compare(kind, actual, &cond.value) != Greater,
        Operator::Gt => !actual.is_empty() && compare(kind, actual, &cond.value) == Greater,
        Operator::Lt => !actual.is_empty() && compare(kind, actual, &cond.value) == Less,
        Operator::Like => lower.contains(&wanted),
        Operator::NotLike => !lower.contains(&wanted),
        Operator::StartsWith => lower.starts_with(&wanted),
        Operator::EndsWith => lower.ends_with(&wanted),
        Operator::In => cond
            .value
            .split(',')
            .any(|v| compare(kind, actual, v.trim()) == Equal),
        Operator::NotIn => !cond
            .value
            .split(',')
            .any(|v| compare(kind, actual, v.trim()) == Equal),
        Operator::IsEmpty => actual.is_empty(),
        Operator::IsNotEmpty => !actual.is_empty(),
        Operator::Anything => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servicenow::tables::all_tables;

    fn incident() -> (TableDef, Vec<TableDef>) {
        let tables = all_tables();
        let incident = tables
            .iter()
            .find(|t| t.name == "incident")
            .cloned()
            .unwrap();
        (incident, tables)
    }

    #[test]
    fn parses_and_or_new_query_and_order() {
        let (t, all) = incident();
        let q = parse(
            "active=true^priority=1^ORpriority=2^NQstate=7^ORDERBYDESCsys_updated_on",
            &t,
            &all,
        );
        assert_eq!(q.groups.len(), 2);
        assert_eq!(q.groups[0].len(), 2);
        assert_eq!(q.groups[0][1].len(), 2);
        assert_eq!(
            q.order_by,
            vec![OrderBy {
                field: "sys_updated_on".into(),
                descending: true
            }]
        );
    }

    #[test]
    fn drops_invalid_parts_silently() {
        let (t, all) = incident();
        let q = parse("no_such_field=1^state=2^garbage^", &t, &all);
        assert_eq!(q.groups[0].len(), 1);
        assert_eq!(q.ignored.len(), 2);
    }

    #[test]
    fn reads_operators_and_date_generate() {
        let (t, all) = incident();
        let q = parse(
            "short_descriptionLIKEsql^numberSTARTSWITHINC^stateIN1,2^close_codeISEMPTY^sys_updated_on>=javascript:gs.dateGenerate('2026-01-01','00:00:00')^assigned_to.user_name=bob",
            &t,
            &all,
        );
        let ops: Vec<Operator> = q.groups[0].iter().map(|c| c[0].op.clone()).collect();
        assert_eq!(
            ops,
            vec![
                Operator::Like,
                Operator::StartsWith,
                Operator::In,
                Operator::IsEmpty,
                Operator::Ge,
                Operator::Eq
            ]
        );
        assert_eq!(q.groups[0][4][0].value, "2026-01-01 00:00:00");
    }

    #[test]
    fn compares_by_kind() {
        assert!(matches(
            &Condition {
                field: "sys_updated_on".into(),
                op: Operator::Ge,
                value: "2026-01-01 00:00:00".into()
            },
            &ColumnKind::DateTime,
            "2026-01-01 00:00:00"
        ));
        assert!(matches(
            &Condition {
                field: "priority".into(),
                op: Operator::Lt,
                value: "10".into()
            },
            &ColumnKind::Choice,
            "2"
        ));
        assert!(!matches(
            &Condition {
                field: "x".into(),
                op: Operator::Eq,
                value: "".into()
            },
            &ColumnKind::Text,
            "a"
        ));
        assert!(matches(
            &Condition {
                field: "x".into(),
                op: Operator::Eq,
                value: "ABC".into()
            },
            &ColumnKind::Text,
            "abc"
        ));
    }
}
